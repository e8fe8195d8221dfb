// AssetCatalog over a synthetic asset table laid out in memory exactly as the builder lays it
// out in an image (96-byte entries with real addresses): lookups hit and miss where they
// should (first, last, middle, a path that is a prefix of another, empty), and a table with
// the wrong magic reads as empty.
import Testing
@testable import Swiftlet

/// An asset table in heap memory, in the image layout (see EmbeddedAssets.swift). Everything
/// the entries point at lives as long as this object.
final class SyntheticAssetTable {
    struct File {
        var path: String
        var contentType: String
        var etag: String
        var sha256: [UInt8]
        var bytes: [UInt8]
    }

    private var blocks: [UnsafeMutableRawPointer] = []
    let table: UnsafeMutableRawPointer

    /// `files` are written in the order given (callers sort them, as the builder does).
    init(_ files: [File], magic: UInt64 = AssetCatalog.magic) {
        table = UnsafeMutableRawPointer.allocate(byteCount: 16 + 96 * max(1, files.count), alignment: 8)
        blocks.append(table)
        table.storeBytes(of: magic.littleEndian, toByteOffset: 0, as: UInt64.self)
        table.storeBytes(of: UInt64(files.count).littleEndian, toByteOffset: 8, as: UInt64.self)
        for (index, file) in files.enumerated() {
            let entry = table + 16 + 96 * index
            let pieces = [Array(file.path.utf8), Array(file.contentType.utf8), Array(file.etag.utf8), file.bytes]
            for (slot, piece) in pieces.enumerated() {
                let block = UnsafeMutableRawPointer.allocate(byteCount: max(1, piece.count), alignment: 16)
                blocks.append(block)
                piece.withUnsafeBytes { block.copyMemory(from: $0.baseAddress ?? UnsafeRawPointer(block), byteCount: piece.count) }
                entry.storeBytes(of: UInt64(UInt(bitPattern: block)), toByteOffset: slot * 16, as: UInt64.self)
                entry.storeBytes(of: UInt64(piece.count), toByteOffset: slot * 16 + 8, as: UInt64.self)
            }
            for byte in 0 ..< 32 { entry.storeBytes(of: file.sha256[byte], toByteOffset: 64 + byte, as: UInt8.self) }
        }
    }

    deinit { for block in blocks { block.deallocate() } }

    var catalog: AssetCatalog { AssetCatalog(tableAddress: UnsafeRawPointer(table)) }
}

@Suite struct EmbeddedAssetsTests {
    static func file(_ path: String, _ contentType: String = "text/plain; charset=utf-8", size: Int = 3) -> SyntheticAssetTable.File {
        let bytes = (0 ..< size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ path.utf8.count) }
        let sha = (0 ..< 32).map { UInt8(truncatingIfNeeded: $0 + path.utf8.count) }
        return .init(path: path, contentType: contentType, etag: "\"etag-\(path)\"", sha256: sha, bytes: bytes)
    }

    /// Sorted by path bytes, as the builder writes them ("/a" < "/a/b" < "/a.css" would be
    /// wrong: "/" is 0x2F and "." 0x2E, so "/a.css" < "/a/b").
    static let files: [SyntheticAssetTable.File] = [
        file("/a", size: 1),
        file("/a.css", "text/css; charset=utf-8", size: 10),
        file("/a/b", size: 0),
        file("/css/site.css", "text/css; charset=utf-8", size: 100),
        file("/index.html", "text/html; charset=utf-8", size: 2000),
        file("/index.htmlx", size: 4),
        file("/z/last.bin", "application/octet-stream", size: 7),
    ]

    @Test func theFixtureIsSortedByPathBytes() {
        for (a, b) in zip(Self.files, Self.files.dropFirst()) {
            #expect(Array(a.path.utf8).lexicographicallyPrecedes(Array(b.path.utf8)), "\(a.path) before \(b.path)")
        }
    }

    @Test func readsEveryEntryInOrder() {
        let table = SyntheticAssetTable(Self.files)
        let catalog = table.catalog
        #expect(catalog.isValid)
        #expect(catalog.count == Self.files.count)
        #expect(catalog.totalBytes == Self.files.reduce(0) { $0 + $1.bytes.count })
        for (index, file) in Self.files.enumerated() {
            let asset = catalog[index]
            #expect(asset.pathString == file.path)
            #expect(Array(asset.contentType) == Array(file.contentType.utf8))
            #expect(Array(asset.etag) == Array(file.etag.utf8))
            #expect(Array(asset.sha256) == file.sha256)
            #expect(Array(asset.bytes) == file.bytes)
        }
    }

    @Test(arguments: files.map(\.path))
    func findsEveryPath(_ path: String) throws {
        let table = SyntheticAssetTable(Self.files)
        let asset = try #require(table.catalog.asset(forPath: Array(path.utf8)))
        #expect(asset.pathString == path)
        let expected = try #require(Self.files.first { $0.path == path })
        #expect(Array(asset.bytes) == expected.bytes)
        // The raw-buffer overload finds the same entry without allocating.
        let again = Array(path.utf8).withUnsafeBytes { table.catalog.asset(forPath: $0) }
        #expect(again?.bytes.baseAddress == asset.bytes.baseAddress)
    }

    @Test(arguments: ["", "/", "/b", "/a/", "/a/bc", "/css", "/css/site.cs", "/index.htm", "/index.html ",
                      "/INDEX.HTML", "/z/last.bin/", "/zz", "index.html", "\u{0}"])
    func missesWhatIsNotThere(_ path: String) {
        let table = SyntheticAssetTable(Self.files)
        #expect(table.catalog.asset(forPath: Array(path.utf8)) == nil, "\(path)")
    }

    @Test func aSingleEntryAndAnEmptyTable() throws {
        let one = SyntheticAssetTable([Self.file("/only.txt")])
        #expect(try #require(one.catalog.asset(forPath: Array("/only.txt".utf8))).pathString == "/only.txt")
        #expect(one.catalog.asset(forPath: Array("/only.tx".utf8)) == nil)
        #expect(one.catalog.asset(forPath: Array("/only.txtx".utf8)) == nil)

        let none = SyntheticAssetTable([])
        #expect(none.catalog.isValid)
        #expect(none.catalog.isEmpty)
        #expect(none.catalog.asset(forPath: Array("/".utf8)) == nil)
        #expect(none.catalog.totalBytes == 0)
    }

    @Test func noTableIsAnEmptyValidCatalog() {
        let catalog = AssetCatalog(tableAddress: nil)
        #expect(catalog.isValid)
        #expect(catalog.count == 0)
        #expect(catalog.totalBytes == 0)
        #expect(catalog.asset(forPath: Array("/index.html".utf8)) == nil)
    }

    @Test func wrongMagicIsAnEmptyInvalidCatalog() {
        let table = SyntheticAssetTable(Self.files, magic: 0x3254_4553_5341_4C53) // "SLASSET2"
        let catalog = table.catalog
        #expect(!catalog.isValid)
        #expect(catalog.count == 0)
        #expect(catalog.asset(forPath: Array("/index.html".utf8)) == nil)
    }

    @Test func magicSpellsSLASSET1() {
        let bytes = withUnsafeBytes(of: AssetCatalog.magic.littleEndian) { Array($0) }
        #expect(bytes == Array("SLASSET1".utf8))
    }

    @Test func byteOrderComparison() {
        func order(_ a: String, _ b: String) -> Int {
            Array(a.utf8).withUnsafeBytes { x in Array(b.utf8).withUnsafeBytes { y in AssetCatalog.compare(x, y) } }
        }
        #expect(order("/a", "/a") == 0)
        #expect(order("/a", "/ab") < 0)
        #expect(order("/ab", "/a") > 0)
        #expect(order("", "/") < 0)
        #expect(order("/a.css", "/a/b") < 0)
        #expect(order("/\u{e9}", "/z") > 0) // UTF-8 bytes: é is C3 A9, after "z" (7A)
    }
}
