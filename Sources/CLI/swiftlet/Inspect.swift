// `swiftlet inspect IMAGE`: what is in an image and where it may run.
import ArgumentParser
import Foundation
import SwiftletABI
import TenderCore

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show an image's ABI, targets, entry and size by section and module.")

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

    private func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }
}
