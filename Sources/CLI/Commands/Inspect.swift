// `swiftlet inspect IMAGE`: what is in an image and where it may run.
import ArgumentParser
import Foundation
import SwiftletABI
import TenderCore

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show an image's ABI, targets, entry, size by section and module, and embedded assets.")

    @Argument(help: "An image built by `swiftlet build`.")
    var image: String

    func run() throws {
        guard let data = FileManager.default.contents(atPath: image) else {
            throw UserError("cannot read \(image); build one with `swiftlet build`")
        }
        let elf: ELFImage
        do { elf = try ELFImage(bytes: [UInt8](data)) } catch { throw UserError("\(image) is not a Swiftlet image: \(error)") }
        print("image:       \(image) (\(formatSize(data.count)) on disk)")
        if let note = elf.abiNote {
            let compatible = note.version == SWIFTLET_ABI_VERSION ? "" : " (this swiftlet speaks ABI \(SWIFTLET_ABI_VERSION): rebuild the image)"
            print("ABI:         version \(note.version)\(compatible)")
            print("targets:     \(TargetNames.describe(note.targets))")
        } else {
            print("ABI:         none (not built by `swiftlet build`)")
        }
        print("entry:       0x\(String(elf.entry, radix: 16))")
        let loaded = elf.segments.reduce(UInt64(0)) { $0 + $1.memsz }
        print("memory:      \(formatSize(Int(loaded))) loaded, needs --mem of at least \(formatSize(Int(elf.minimumMemorySize)))")
        print("\nsegments:")
        for segment in elf.segments {
            print("  0x\(String(segment.vaddr, radix: 16))  \(pad(formatSize(Int(segment.memsz)), 8))  \(segment.flags)")
        }
        print("\nsections:")
        for section in elf.sections where section.size > 0 && !section.name.isEmpty {
            print("  \(pad(section.name, 24)) \(pad(formatSize(Int(section.size)), 8))")
        }
        printAssets(elf)
        let symbols = SymbolTable(image: elf)
        if !symbols.isEmpty {
            print("\ncode by module:")
            for entry in symbols.sizeByModule() {
                print("  \(pad(entry.module, 24)) \(pad(formatSize(Int(entry.bytes)), 8))")
            }
        } else {
            print("\n(no symbols: stripped image, crash reports will show addresses only)")
        }
    }

    /// The embedded static assets, if the image has a table (an untrusted one is checked first).
    private func printAssets(_ elf: ELFImage) {
        let table: ImageAssetTable?
        do { table = try ImageAssetTable.read(from: elf) } catch {
            print("\nassets:      malformed table (\(error)); the guest would misread it")
            return
        }
        guard let table else { return }
        let count = table.entries.count
        print("\nassets:      \(count) file\(count == 1 ? "" : "s"), \(formatSize(Int(clamping: table.totalBytes)))")
        let pathWidth = min(40, table.entries.map(\.path.count).max() ?? 0)
        let typeWidth = min(32, table.entries.map(\.contentType.count).max() ?? 0)
        for entry in table.entries {
            print("  \(pad(entry.pathString, pathWidth))  \(pad(entry.contentTypeString, typeWidth))  "
                + "\(pad(formatSize(Int(clamping: entry.size)), 8))  sha256 \(entry.sha256Hex.prefix(16))")
        }
    }
}
