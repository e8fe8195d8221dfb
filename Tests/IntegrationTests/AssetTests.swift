// Static assets end to end: an application with an assets/ folder is built with `swiftlet
// build`, boots, and its guest lists what AssetCatalog.embedded holds (path, type, size, ETag,
// FNV-1a of the bytes), which must match what this test computes from the files; dotfiles are
// left out; `swiftlet inspect` lists the table; --assets naming a missing folder is a clear
// error; the same app without assets builds and reads an empty catalog. Then AssetBundle's
// discovery rules (symlinks, names, content types) without booting anything.
import Foundation
import SwiftletBuild
import TenderCore
import Testing

@Suite struct AssetTests {
    /// The guest: prints one line per embedded asset, then two lookups.
    static let guestSource = #"""
    import Swiftlet

    let catalog = AssetCatalog.embedded
    print("assets: \(catalog.count) valid=\(catalog.isValid ? "yes" : "no") total=\(catalog.totalBytes)")
    var index = 0
    while index < catalog.count {
        let asset = catalog[index]
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in asset.bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        let aligned = UInt(bitPattern: asset.bytes.baseAddress) % 16 == 0
        var sha = ""
        for byte in asset.sha256.prefix(4) { sha += (byte < 16 ? "0" : "") + String(byte, radix: 16) }
        print("asset \(asset.pathString) | \(asset.contentTypeString) | \(asset.bytes.count) | \(asset.etagString) | \(String(hash, radix: 16)) | \(sha) | \(aligned ? "aligned" : "unaligned")")
        index += 1
    }
    if let hit = catalog.asset(forPath: Array("/css/site.css".utf8)) {
        print("lookup /css/site.css: \(hit.bytes.count) bytes")
    } else {
        print("lookup /css/site.css: missing")
    }
    print("lookup /.hidden: \(catalog.asset(forPath: Array("/.hidden".utf8)) == nil ? "missing" : "found")")
    """#

    struct Expected { var path: String; var type: String; var bytes: [UInt8] }

    /// A fresh application folder: Package.swift (as in examples/hello), the guest, and assets.
    static func makeApplication(named name: String, assets: Bool) throws -> (folder: URL, files: [Expected]) {
        let home = try SwiftletHome.locate()
        let folder = Harness.scratch.appendingPathComponent("\(name)-\(UUID().uuidString)")
        let sources = folder.appendingPathComponent("Sources/\(name)")
        try FileManager.default.createDirectory(at: sources, withIntermediateDirectories: true)
        try """
        // swift-tools-version: 6.0
        import PackageDescription

        let package = Package(
            name: "\(name)",
            dependencies: [.package(path: "\(home.root.path)")],
            targets: [
                .executableTarget(name: "\(name)", dependencies: [.product(name: "Swiftlet", package: "Swiftlet")]),
            ]
        )
        """.write(to: folder.appendingPathComponent("Package.swift"), atomically: true, encoding: .utf8)
        try guestSource.write(to: sources.appendingPathComponent("main.swift"), atomically: true, encoding: .utf8)
        guard assets else { return (folder, []) }

        let root = folder.appendingPathComponent("assets")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("css"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: root.appendingPathComponent(".cache"), withIntermediateDirectories: true)
        let html = Array("<!doctype html>\n<title>assets</title>\n<p>Hello from an embedded file.</p>\n".utf8)
        let css = Array("body { font-family: sans-serif; }\n".utf8)
        var generator = SystemRandomNumberGenerator()
        let blob = (0 ..< 100_000).map { _ in UInt8.random(in: 0 ... 255, using: &generator) }
        try Data(html).write(to: root.appendingPathComponent("index.html"))
        try Data(css).write(to: root.appendingPathComponent("css/site.css"))
        try Data(blob).write(to: root.appendingPathComponent("blob.bin"))
        try Data("secret\n".utf8).write(to: root.appendingPathComponent(".hidden"))
        try Data("cached\n".utf8).write(to: root.appendingPathComponent(".cache/skipped.txt"))
        let files = [
            Expected(path: "/index.html", type: "text/html; charset=utf-8", bytes: html),
            Expected(path: "/css/site.css", type: "text/css; charset=utf-8", bytes: css),
            Expected(path: "/blob.bin", type: "application/octet-stream", bytes: blob),
        ].sorted { Array($0.path.utf8).lexicographicallyPrecedes(Array($1.path.utf8)) }
        return (folder, files)
    }

    static func swiftlet(_ arguments: [String]) throws -> Harness.Outcome {
        try Harness.run(Harness.cli, arguments, timeout: 240)
    }

    static func fnv1a(_ bytes: [UInt8]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return String(hash, radix: 16)
    }

    /// SHA-256 by coreutils, independent of the builder's.
    static func sha256(_ bytes: [UInt8]) throws -> String {
        let file = Harness.scratch.appendingPathComponent("sha-\(UUID().uuidString)")
        try Data(bytes).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let outcome = try Harness.run(URL(fileURLWithPath: "/usr/bin/sha256sum"), [file.path])
        return String(outcome.stdout.prefix(64))
    }

    @Test func assetsAreEmbeddedServedAndInspected() throws {
        let (folder, files) = try Self.makeApplication(named: "assetapp", assets: true)
        let built = try Self.swiftlet(["build", folder.path])
        #expect(built.status == 0, "stderr: \(built.stderr)")
        let total = files.reduce(0) { $0 + $1.bytes.count }
        #expect(built.stderr.contains("embedded 3 assets (\(AssetBundle.formatBytes(total))) from assets/"), "stderr: \(built.stderr)")
        let image = folder.appendingPathComponent(".build/swiftlet/assetapp.swiftlet")

        var expected = ["assets: 3 valid=yes total=\(total)"]
        var hashes: [String: String] = [:]
        for file in files {
            let sha = try Self.sha256(file.bytes)
            hashes[file.path] = sha
            expected.append("asset \(file.path) | \(file.type) | \(file.bytes.count) | \"\(sha.prefix(32))\" | \(Self.fnv1a(file.bytes)) | \(sha.prefix(8)) | aligned")
        }
        expected += ["lookup /css/site.css: \(files.first { $0.path == "/css/site.css" }!.bytes.count) bytes",
                     "lookup /.hidden: missing"]
        for target in runnableTargets {
            let ran = try Harness.run(Harness.tender(target), ["--mem", "64M", image.path])
            #expect(ran.status == 0, "\(target) stderr: \(ran.stderr)")
            let lines = ran.stdout.split(separator: "\n").map(String.init)
            #expect(lines == expected, "\(target): guest printed\n\(ran.stdout)")
        }

        let inspected = try Self.swiftlet(["inspect", image.path])
        #expect(inspected.status == 0, "stderr: \(inspected.stderr)")
        #expect(inspected.stdout.contains("assets:      3 files"), "\(inspected.stdout)")
        for file in files {
            let line = inspected.stdout.split(separator: "\n").first { $0.contains(file.path + " ") }
            #expect(line?.contains(file.type) == true, "\(file.path) in:\n\(inspected.stdout)")
            #expect(line?.contains("sha256 \(hashes[file.path]!.prefix(16))") == true, "\(file.path) in:\n\(inspected.stdout)")
        }
        #expect(!inspected.stdout.contains(".hidden"))

        // The table as the file holds it, read the way inspect does.
        let imageBytes = [UInt8](try Data(contentsOf: image))
        let elf = try ELFImage(bytes: imageBytes)
        let table = try #require(try ImageAssetTable.read(from: elf))
        #expect(table.entries.map(\.pathString) == files.map(\.path))
        for (entry, file) in zip(table.entries, files) {
            #expect(table.data(of: entry, in: elf).map(Array.init) == file.bytes)
            #expect(entry.sha256Hex == hashes[file.path])
        }

        // The image is untrusted input to inspect: a damaged table is reported, never trusted.
        let segment = try #require(elf.segments.first { $0.contains(table.address) })
        let tableOffset = Int(segment.offset + (table.address - segment.vaddr))
        func damaged(_ change: (inout [UInt8]) -> Void) throws -> ELFImage {
            var bytes = imageBytes
            change(&bytes)
            return try ELFImage(bytes: bytes)
        }
        func put(_ value: UInt64, at offset: Int, in bytes: inout [UInt8]) {
            for i in 0 ..< 8 { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
        }
        let entry0 = tableOffset + 16, entry1 = entry0 + 96
        let cases: [(String, (inout [UInt8]) -> Void)] = [
            ("wrong magic", { $0[tableOffset] ^= 0xFF }),
            ("impossible count", { put(.max, at: tableOffset + 8, in: &$0) }),
            ("not inside the image", { put(1 << 40, at: tableOffset + 8, in: &$0) }),
            ("asset 0's path", { put(0, at: entry0, in: &$0) }),
            ("asset 1's data", { put(.max - 4, at: entry1 + 48, in: &$0) }),
            ("ETag is 1048576 bytes long", { put(1 << 20, at: entry0 + 40, in: &$0) }),
            ("out of order or repeated", { $0.replaceSubrange(entry1 ..< entry1 + 16, with: $0[entry0 ..< entry0 + 16]) }),
        ]
        for (reason, change) in cases {
            let error = #expect(throws: AssetTableError.self, "\(reason)") { try ImageAssetTable.read(from: try damaged(change)) }
            #expect(error?.description.contains(reason) == true, "\(reason): \(String(describing: error))")
        }
        let broken = folder.appendingPathComponent("broken.swiftlet")
        var bytes = imageBytes
        put(1 << 40, at: tableOffset + 8, in: &bytes)
        try Data(bytes).write(to: broken)
        let inspectedBroken = try Self.swiftlet(["inspect", broken.path])
        #expect(inspectedBroken.status == 0, "stderr: \(inspectedBroken.stderr)")
        #expect(inspectedBroken.stdout.contains("assets:      malformed table"), "\(inspectedBroken.stdout)")
    }

    @Test func strippedImagesStillListTheirAssets() throws {
        let (folder, files) = try Self.makeApplication(named: "assetstrip", assets: true)
        let image = folder.appendingPathComponent("stripped.swiftlet")
        let built = try Self.swiftlet(["build", folder.path, "--strip", "-o", image.path])
        #expect(built.status == 0, "stderr: \(built.stderr)")
        let elf = try ELFImage(bytes: [UInt8](Data(contentsOf: image)))
        let table = try #require(try ImageAssetTable.read(from: elf))
        #expect(table.entries.map(\.pathString) == files.map(\.path))
    }

    @Test func withoutAssetsTheCatalogIsEmpty() throws {
        let (folder, _) = try Self.makeApplication(named: "noassets", assets: false)
        let built = try Self.swiftlet(["build", folder.path])
        #expect(built.status == 0, "stderr: \(built.stderr)")
        #expect(!built.stderr.contains("embedded"))
        let image = folder.appendingPathComponent(".build/swiftlet/noassets.swiftlet")
        let elf = try ELFImage(bytes: [UInt8](Data(contentsOf: image)))
        #expect(try ImageAssetTable.read(from: elf) == nil)
        for target in runnableTargets {
            let ran = try Harness.run(Harness.tender(target), [image.path])
            #expect(ran.status == 0, "\(target) stderr: \(ran.stderr)")
            #expect(ran.stdout.contains("assets: 0 valid=yes total=0"), "\(target): \(ran.stdout)")
            #expect(ran.stdout.contains("lookup /css/site.css: missing"))
        }
        let inspected = try Self.swiftlet(["inspect", image.path])
        #expect(inspected.status == 0)
        #expect(!inspected.stdout.contains("assets:"))
    }

    @Test func theAssetsFlagOverridesTheConventionAndMustExist() throws {
        let (folder, _) = try Self.makeApplication(named: "assetflag", assets: true)
        let missing = folder.appendingPathComponent("no-such-folder").path
        for command in ["build", "run"] {
            let outcome = try Self.swiftlet([command, "--assets", missing, folder.path])
            #expect(outcome.status != 0)
            #expect(outcome.stderr.contains("the assets folder \(missing) (given with --assets) does not exist"),
                    "\(command) stderr: \(outcome.stderr)")
        }

        // A flag pointing elsewhere replaces assets/.
        let other = folder.appendingPathComponent("public")
        try FileManager.default.createDirectory(at: other, withIntermediateDirectories: true)
        try Data("{}".utf8).write(to: other.appendingPathComponent("data.json"))
        let image = folder.appendingPathComponent("flag.swiftlet")
        let built = try Self.swiftlet(["build", "--assets", other.path, "-o", image.path, folder.path])
        #expect(built.status == 0, "stderr: \(built.stderr)")
        #expect(built.stderr.contains("embedded 1 asset (2 B) from public/"), "stderr: \(built.stderr)")
        let ran = try Harness.run(Harness.tender(.spt), [image.path])
        #expect(ran.stdout.contains("asset /data.json | application/json | 2 | "), "\(ran.stdout)")
        #expect(!ran.stdout.contains("/index.html"))
    }
}

/// Discovery and generation, without compiling anything.
@Suite struct AssetBundleTests {
    static func folder() throws -> URL {
        let url = Harness.scratch.appendingPathComponent("bundle-\(UUID().uuidString)/assets")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static func write(_ text: String, _ path: String, in folder: URL) throws {
        let url = folder.appendingPathComponent(path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: url)
    }

    @Test func findsRegularFilesSortedSkippingDotfiles() throws {
        let root = try Self.folder()
        for path in ["b.txt", "a/z.js", "a.css", ".env", ".git/config", "a/.DS_Store", "A.HTML"] {
            try Self.write(path, path, in: root)
        }
        let bundle = try AssetBundle(folder: root)
        #expect(bundle.files.map(\.urlPath) == ["/A.HTML", "/a.css", "/a/z.js", "/b.txt"])
        #expect(bundle.files.map(\.contentType) == ["text/html; charset=utf-8", "text/css; charset=utf-8",
                                                     "text/javascript; charset=utf-8", "text/plain; charset=utf-8"])
        let file = try #require(bundle.files.first)
        #expect(file.size == 6)
        let sha = try AssetTests.sha256(Array("A.HTML".utf8))
        #expect(file.sha256.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined() == sha)
        #expect(file.etag == "\"" + sha.prefix(32) + "\"")
        #expect(bundle.totalBytes == 6 + 5 + 6 + 5)
    }

    @Test func contentTypes() {
        let table = [
            "x.html": "text/html; charset=utf-8", "x.htm": "text/html; charset=utf-8", "x.CSS": "text/css; charset=utf-8",
            "x.mjs": "text/javascript; charset=utf-8", "x.json": "application/json", "x.svg": "image/svg+xml",
            "x.png": "image/png", "x.jpeg": "image/jpeg", "x.jpg": "image/jpeg", "x.gif": "image/gif",
            "x.webp": "image/webp", "favicon.ico": "image/x-icon", "x.woff": "font/woff", "x.woff2": "font/woff2",
            "x.wasm": "application/wasm", "x.xml": "application/xml", "x.pdf": "application/pdf",
            "x.mp4": "video/mp4", "x.webm": "video/webm", "x.tar.gz": "application/octet-stream",
            "README": "application/octet-stream", "dir.html/file": "application/octet-stream",
            ".htaccess": "application/octet-stream", "x.": "application/octet-stream",
        ]
        for (name, type) in table { #expect(AssetBundle.contentType(forPath: name) == type, "\(name)") }
    }

    @Test func symlinksInsideAreFollowedOutsideRefused() throws {
        let root = try Self.folder()
        try Self.write("real", "real/file.txt", in: root)
        try FileManager.default.createSymbolicLink(atPath: root.appendingPathComponent("alias.txt").path,
                                                   withDestinationPath: "real/file.txt")
        try FileManager.default.createSymbolicLink(atPath: root.appendingPathComponent("mirror").path,
                                                   withDestinationPath: "real")
        let bundle = try AssetBundle(folder: root)
        #expect(bundle.files.map(\.urlPath) == ["/alias.txt", "/mirror/file.txt", "/real/file.txt"])

        let outside = root.deletingLastPathComponent().appendingPathComponent("outside.txt")
        try Data("secret".utf8).write(to: outside)
        try FileManager.default.createSymbolicLink(atPath: root.appendingPathComponent("leak.txt").path,
                                                   withDestinationPath: "../outside.txt")
        let error = #expect(throws: BuildError.self) { try AssetBundle(folder: root) }
        #expect(error?.description.contains("asset leak.txt is a symbolic link to outside the assets folder") == true, "\(String(describing: error))")
    }

    @Test func aLinkToAnEnclosingFolderIsALoop() throws {
        let root = try Self.folder()
        try Self.write("x", "sub/x.txt", in: root)
        try FileManager.default.createSymbolicLink(atPath: root.appendingPathComponent("sub/up").path,
                                                   withDestinationPath: "..")
        let error = #expect(throws: BuildError.self) { try AssetBundle(folder: root) }
        #expect(error?.description.contains("sub/up") == true && error?.description.contains("loop") == true, "\(String(describing: error))")
    }

    @Test(arguments: ["with space.txt", "100%.txt", "what?.txt", "a#b.txt", "caf\u{e9}.txt", "tab\there.txt"])
    func namesThatNeedURLEncodingAreRefused(_ name: String) throws {
        let root = try Self.folder()
        try Self.write("x", name, in: root)
        let error = #expect(throws: BuildError.self) { try AssetBundle(folder: root) }
        #expect(error?.description.contains("asset \(name) cannot be served as it is named") == true, "\(String(describing: error))")
    }

    @Test func assemblyNamesNoPathAndListsEveryEntry() throws {
        let root = try Self.folder()
        try Self.write("<p>\"quoted\"</p>", "index.html", in: root)
        try Self.write("", "empty.txt", in: root)
        let bundle = try AssetBundle(folder: root)
        let text = bundle.assemblySource()
        #expect(text.contains(".globl swiftlet_asset_table"))
        #expect(text.contains(".quad 0x3154455353414c53"))
        #expect(text.contains(".quad 2\n"))
        #expect(text.contains(".incbin \"asset-0.bin\""))
        #expect(text.contains(".incbin \"asset-1.bin\""))
        #expect(!text.contains(root.path), "no file system path may appear in the assembly")
        #expect(!text.contains(".ascii"))
    }
}
