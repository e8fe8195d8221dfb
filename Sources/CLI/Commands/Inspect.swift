// `swiftlet inspect IMAGE`: what is in an image and where it may run.
import ArgumentParser
import Foundation
import SwiftletABI
import SwiftletBuild
import TenderCore

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show an image's ABI, targets, entry, size by section and module, and embedded assets.")

    @Argument(help: "An image built by `swiftlet build`.")
    var image: String

    @Flag(help: "Where the image's bytes go: a table by module (the app, Swiftlet's TCP/IP, HTTP and core, the Swift runtime, the C parts) and the largest symbols.")
    var size = false

    @Option(help: "With --size: how many of the largest symbols to list.")
    var top = 20

    func run() throws {
        guard let data = FileManager.default.contents(atPath: image) else {
            throw UserError("cannot read \(image); build one with `swiftlet build`")
        }
        let elf: ELFImage
        do { elf = try ELFImage(bytes: [UInt8](data)) } catch { throw UserError("\(image) is not a Swiftlet image: \(error)") }
        if size { return try printSizes(elf, fileSize: data.count) }
        print("image:       \(image) (\(formatSize(data.count)) on disk)")
        if let note = elf.abiNote {
            let compatible = note.version == SWIFTLET_ABI_VERSION ? "" : " (this swiftlet speaks ABI \(SWIFTLET_ABI_VERSION): rebuild the image)"
            print("ABI:         version \(note.version)\(compatible)")
            print("targets:     \(TargetNames.describe(note.targets))")
            for target in Target.allCases {
                let built = note.targets & target.noteBit != 0
                print("  \(pad(target.rawValue, 8)) \(built ? TargetNeeds(target).description : "not in this image (swiftlet build --target \(target.rawValue))")")
            }
            let needs = Target.allCases.filter { note.targets & $0.noteBit != 0 }.map { "\($0.rawValue): \($0.containerNeeds)" }
            if !needs.isEmpty { print("containers:  \(needs.joined(separator: "; ")) (swiftlet package)") }
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

    /// `--size`: every byte of the loaded sections, by module, then the largest symbols.
    private func printSizes(_ elf: ELFImage, fileSize: Int) throws {
        guard top >= 0 else { throw UserError("--top \(top): expected a count of 0 or more") }
        guard !SymbolTable(image: elf).isEmpty else {
            throw UserError("\(image) has no symbol table (built with --strip?): rebuild it without --strip to see sizes by module")
        }
        // The image's own symbols name the application's module; the file name may not.
        let appModule = SizeModules.applicationModule(in: elf) ?? URL(fileURLWithPath: image).deletingPathExtension().lastPathComponent
        let folders = (try? SwiftletHome.locate())?.guestDeclarationFolders ?? [:]
        let modules = SizeModules(appModule: appModule, swiftletFolders: folders)
        let report = ImageSizeReport(image: elf, classify: modules.module(ofSymbol:file:))
        let total = report.sectionBytes.reduce(0, +)
        print("image: \(image) (\(formatSize(fileSize)) on disk, \(formatSize(Int(total))) in memory)")
        if folders.isEmpty { print("(Swiftlet's sources were not found: its symbols are all counted as core)") }
        print("")
        let headings = ["code", "rodata", "data", "bss", "total", "share"]
        let width = max(30, report.modules.map(\.name.count).max() ?? 0) + 2
        print(pad("module", width) + headings.map { leftPad($0, 10) }.joined())
        func row(_ name: String, _ bytes: [UInt64]) -> String {
            let sum = bytes.reduce(0, +)
            let share = total == 0 ? 0 : Double(sum) * 100 / Double(total)
            return pad(name, width) + (bytes + [sum]).map { leftPad(formatBytes($0), 10) }.joined()
                + leftPad(String(format: "%.1f%%", share), 10)
        }
        for module in report.modules { print(row(module.name, module.bytes)) }
        print(String(repeating: "-", count: width + 10 * headings.count))
        print(row("total (= the sections)", report.sectionBytes))
        guard top > 0 else { return }
        print("\nlargest \(min(top, report.symbols.count)) symbols:")
        for symbol in report.symbols.prefix(top) {
            var name = SymbolTable.Symbol(name: symbol.name, address: 0, size: 0).displayName
            if name.count > 70 { name = String(name.prefix(67)) + "..." }
            print(leftPad(formatBytes(symbol.bytes), 10) + "  " + pad(symbol.section, 9) + pad(symbol.module, width) + printable(name))
        }
    }

    /// Exact byte counts with thousands separators: sizes here are meant to be added up.
    private func formatBytes(_ bytes: UInt64) -> String {
        let digits = Array(String(bytes))
        var text = ""
        for (index, digit) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { text.append(",") }
            text.append(digit)
        }
        return text
    }

    private func leftPad(_ text: String, _ width: Int) -> String {
        text.count >= width ? " " + text : String(repeating: " ", count: width - text.count) + text
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

/// What running on a target takes, and whether this machine has it.
struct TargetNeeds: CustomStringConvertible {
    let target: Target

    init(_ target: Target) { self.target = target }

    var description: String {
        switch target {
        case .hvt:
            let kvm = access("/dev/kvm", R_OK | W_OK) == 0
            return "KVM tender: needs /dev/kvm (\(kvm ? "usable here" : "not usable here"))"
        case .spt:
            return "seccomp process tender: needs nothing beyond Linux seccomp"
        case .virtio:
            let qemu = VirtioRun.findProgram("qemu-system-x86_64") != nil
            let kvm = access("/dev/kvm", R_OK | W_OK) == 0
            return "PVH kernel for QEMU (or Firecracker): needs qemu-system-x86_64 (\(qemu ? "installed" : "not installed: apt-get install qemu-system-x86")); "
                + "KVM optional (\(kvm ? "usable here" : "TCG here, slower"))"
        }
    }
}
