// GuestImage reads an image file on demand (ELFFile): the headers, notes and symbol table it
// checks, then the segments straight into guest memory. These tests hold it to three things:
// it sees the same image as a whole-file parse, it never reads sections it does not use (DWARF),
// and a bad or changing file is refused with a clear error.
import Foundation
import SwiftletABI
import Testing
import TestSupport
@testable import TenderCore
import TenderTestSupport

private let base = ELFBuilder.imageBase

@Suite struct GuestImageTests {
    /// Writes `bytes` to a fresh file; the caller removes the folder.
    static func file(_ bytes: [UInt8]) throws -> (path: String, folder: URL) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("guest-image-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let path = folder.appendingPathComponent("image.swiftlet").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return (path, folder)
    }

    static func refusal(_ path: String) -> String? {
        do { _ = try GuestImage(path: path, memorySize: 16 << 20, target: SWIFTLET_TARGET_SPT); return nil } catch {
            return error.description
        }
    }

    /// A standard image with symbols and 4 MB of debug info between its notes and its tables.
    static func imageWithDebugInfo() -> ELFBuilder {
        var builder = ELFBuilder.standard()
        builder.symbols = [.init(name: "$e4main3runyyF", value: base, size: 0x10),
                           .init(name: "helper", value: base + 0x10, size: 0x30)]
        builder.debugInfoSize = 4 << 20
        return builder
    }

    @Test func matchesTheWholeFileParseAndNeverReadsTheDebugInfo() throws {
        let bytes = Self.imageWithDebugInfo().build()
        let (path, folder) = try Self.file(bytes)
        defer { try? FileManager.default.removeItem(at: folder) }

        let image = try GuestImage(path: path, memorySize: 16 << 20, target: SWIFTLET_TARGET_SPT)
        let whole = try ELFImage(bytes: bytes, memorySize: 16 << 20)
        #expect(image.elf.segments == whole.segments)
        #expect(image.elf.entry == whole.entry && image.elf.imageEnd == whole.imageEnd)
        #expect(image.elf.sections == whole.sections)
        #expect(image.elf.sections.contains { $0.name == ".debug_info" && $0.size == 4 << 20 })
        #expect(image.elf.abiNote?.version == whole.abiNote?.version && image.elf.abiNote?.targets == whole.abiNote?.targets)
        #expect(image.symbols?.symbols == whole.symbolTable().symbols)
        #expect(image.symbols?.describe(base + 0x14) == "helper + 0x4")
        // Headers, notes, section headers and the symbol table: a few 64 KB blocks of a 4 MB file.
        let parsed = image.file.bytesRead
        #expect(parsed <= 4 * UInt64(ELFFile.blockSize), "read \(parsed) of \(bytes.count) bytes to parse")

        let guest = TestGuestMemory(size: 4 << 20, fill: 0xAA)
        try image.load(into: guest.memory)
        #expect((0 ..< 0x40).allSatisfy { guest[base + $0] == 0xCC })
        #expect((0 ..< 16).allSatisfy { guest[base + 0x1000 + $0] == UInt8(0x11 + $0) })
        #expect((16 ..< 0x100).allSatisfy { guest[base + 0x1000 + $0] == 0 })
        #expect(guest[base + 0x1100] == 0xAA)
        // Loading read exactly the segments' file bytes, straight into guest memory.
        #expect(image.file.bytesRead == parsed + 0x40 + 16)
    }

    /// A tender needs the symbols only for a crash report: GuestImage keeps the symbol table's
    /// bytes and reads the names when first asked, after the file is closed, with no file read.
    @Test func symbolsAreReadOnFirstUseFromRetainedBytes() throws {
        let bytes = Self.imageWithDebugInfo().build()
        let (path, folder) = try Self.file(bytes)
        defer { try? FileManager.default.removeItem(at: folder) }
        let image = try GuestImage(path: path, memorySize: 16 << 20, target: SWIFTLET_TARGET_SPT)
        let symbols = try #require(image.symbols)
        #expect(!symbols.isRead, "the names are read on first use, not at start-up")
        let guest = TestGuestMemory(size: 4 << 20)
        try image.load(into: guest.memory)     // closes the file
        let readBeforeUse = image.file.bytesRead
        #expect(symbols.describe(base + 0x14) == "helper + 0x4")
        #expect(symbols.isRead)
        #expect(symbols.symbols == (try ELFImage(bytes: bytes, memorySize: 16 << 20)).symbolTable().symbols)
        #expect(image.file.bytesRead == readBeforeUse)
    }

    @Test func retainedRangesAnswerOnlyInsideARange() throws {
        let source = ELFMemoryBytes(Array(0 ..< 200))
        let retained = try #require(ELFRetainedRanges(source, ranges: [(offset: 10, length: 20), (offset: 100, length: 50)]))
        #expect(retained.count == 200)
        var seen: [UInt8] = []
        #expect(retained.withBytes(offset: 12, length: 4) { seen = Array($0) } && seen == [12, 13, 14, 15])
        #expect(retained.withBytes(offset: 100, length: 50) { seen = Array($0) } && seen == Array(100 ..< 150))
        #expect(!retained.withBytes(offset: 25, length: 10) { _ in }, "straddles a range's end")
        #expect(!retained.withBytes(offset: 40, length: 1) { _ in }, "between ranges")
        #expect(!retained.withBytes(offset: UInt64.max - 2, length: 8) { _ in }, "overflowing offset")
        #expect(ELFRetainedRanges(source, ranges: [(offset: 190, length: 20)]) == nil, "a range the source cannot read")
    }

    @Test func aSegmentPastTheEndOfTheFileIsRefused() throws {
        var builder = ELFBuilder.standard()
        builder.debugInfoSize = 1 << 20
        var (bytes, layout) = builder.buildWithLayout()
        bytes.patch(UInt64(bytes.count), at: layout.programHeader(1) + 32)     // p_filesz of data: past the end
        bytes.patch(UInt64(bytes.count) + 0x100, at: layout.programHeader(1) + 40)
        let (path, folder) = try Self.file(bytes)
        defer { try? FileManager.default.removeItem(at: folder) }
        let message = try #require(Self.refusal(path))
        #expect(message.contains("is not a loadable Swiftlet image: segment 1 extends past the end of the file"), "\(message)")

        // Cut short inside the program headers.
        let (short, shortFolder) = try Self.file(Array(ELFBuilder.standard().build().prefix(ELF.headerSize + 10)))
        defer { try? FileManager.default.removeItem(at: shortFolder) }
        let shortMessage = try #require(Self.refusal(short))
        #expect(shortMessage.contains("program header table"), "\(shortMessage)")
    }

    @Test func aFileThatShrinksAfterTheCheckFailsToLoadWithAReason() throws {
        let bytes = Self.imageWithDebugInfo().build()
        let (path, folder) = try Self.file(bytes)
        defer { try? FileManager.default.removeItem(at: folder) }
        let image = try GuestImage(path: path, memorySize: 16 << 20, target: SWIFTLET_TARGET_SPT)
        #expect(truncate(path, off_t(ELF.headerSize)) == 0)
        let guest = TestGuestMemory(size: 4 << 20)
        let error = #expect(throws: ELFError.self) { try image.load(into: guest.memory) }
        #expect(error == .segmentUnreadable(segment: 0, offset: image.elf.segments[0].offset, size: 0x40))
        #expect(error?.description.contains("the file changed or cannot be read") == true)
    }

    @Test func notARegularFileOrTooLargeIsRefused() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("guest-image-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        #expect(Self.refusal(folder.path) == "\(folder.path) is not a regular file")
        #expect(Self.refusal(folder.appendingPathComponent("missing").path)?.contains("cannot open image") == true)

        let huge = folder.appendingPathComponent("huge.swiftlet").path       // sparse: costs no disk
        #expect(FileManager.default.createFile(atPath: huge, contents: Data(ELFBuilder.standard().build())))
        #expect(truncate(huge, off_t(GuestImage.maximumFileSize + 1)) == 0)
        #expect(Self.refusal(huge)?.contains("images over \(GuestImage.maximumFileSize) bytes are refused") == true)
    }
}
