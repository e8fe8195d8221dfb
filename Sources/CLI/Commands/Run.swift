// `swiftlet run IMAGE|PATH [--target hvt|spt|virtio] [--machine microvm|q35] [--mem SIZE] [-p HOST:GUEST]... [--net tap:NAME] [--grace-period SECONDS] [--assets DIR] [--pcap FILE [--pcap-limit SIZE]] [--core DIR] [--disk FILE [--disk-size SIZE]] [--gdb [HOST:]PORT] [--verbose] [-- ARGS...]`
//
// The launcher (Sources/CLI/Launcher) runs an image without coming here; this command parses
// the same options with ArgumentParser for help and errors, and builds applications.
import ArgumentParser
import Foundation
import SwiftletBuild
import TenderCore

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run an image (or build and run an application) in a tender.",
        discussion: """
            Without --target: hvt when /dev/kvm is usable and the image allows it, spt otherwise \
            (said in one line). Tenders are release builds, built on first use in a checkout. \
            Exit status: the guest's; 255 if it crashed; 125 if swiftlet or the tender refused to start it.
            """)

    @Argument(help: "An image built by `swiftlet build`, or an application to build first.")
    var image: String

    @Option(help: "hvt (KVM), spt (seccomp process) or virtio (QEMU boots the image as a PVH kernel); default: what the image and the machine allow.")
    var target: Target?

    @Option(help: "With --target virtio: QEMU's machine, microvm (default) or q35.")
    var machine: QEMUCommand.Machine?

    @Option(help: "Guest memory, e.g. 64M or 1G.")
    var mem: String = "32M"

    @Option(name: [.customShort("p"), .customLong("publish")],
            help: ArgumentHelp("Make guest port GUEST reachable at 127.0.0.1:HOST (HOST:GUEST, or HOST:GUEST/udp). Uses passt.",
                               valueName: "HOST:GUEST"))
    var publish: [String] = []

    @Option(help: ArgumentHelp("Network: passt (user-mode, default when -p is given), tap:NAME (an existing tap interface), or none.",
                               valueName: "passt|tap:NAME|none"))
    var net: String?

    @Option(help: ArgumentHelp("Seconds a guest that handles shutdown (an HTTPServer) has to finish after SIGTERM or Ctrl-C before it is ended; a second signal ends it at once. 0 to 3600, default 10.",
                               valueName: "SECONDS"))
    var gracePeriod: String?

    @Option(help: "When building: folder of static files to embed (default: PATH/assets, if it exists).")
    var assets: String?

    @Option(help: ArgumentHelp("Record every network frame in and out of the guest into FILE (pcap, for tcpdump -r or Wireshark).",
                               valueName: "FILE"))
    var pcap: String?

    @Option(name: .customLong("pcap-limit"),
            help: ArgumentHelp("Stop recording before the --pcap file would exceed SIZE (e.g. 16M; default 64M).", valueName: "SIZE"))
    var pcapLimit: String?

    @Option(help: ArgumentHelp("If the guest crashes, write an ELF core file of its memory and registers into DIR (for gdb IMAGE CORE).",
                               valueName: "DIR"))
    var core: String?

    @Option(help: ArgumentHelp("Attach FILE as a block device (a disk image, created if missing, or a block device); locked while the guest runs, so a second guest on it is refused. Repeatable.",
                               valueName: "FILE"))
    var disk: [String] = []

    @Option(name: .customLong("disk-size"),
            help: ArgumentHelp("Size of a --disk created now (default 64M), or the size an existing image grows to (never shrunk).", valueName: "SIZE"))
    var diskSize: String?

    @Option(help: ArgumentHelp("Start the guest stopped and serve the GDB remote protocol at HOST:PORT (default host 127.0.0.1): `gdb IMAGE -ex 'target remote :PORT'`. An application is built with --debug.",
                               valueName: "[HOST:]PORT"))
    var gdb: String?

    @Flag(help: "Show the tender's command line, and the toolchain's output instead of logging it.")
    var verbose = false

    @Argument(parsing: .postTerminator, help: "Arguments for the guest, after --.")
    var arguments: [String] = []

    /// Reached for an application (the launcher checked the host before handing it over):
    /// build it, then hand the image back to the launcher, which runs it.
    func run() throws {
        do { _ = try OptionValue.memorySize(mem) } catch { throw UserError(error.message) }
        if let gdb {
            do { _ = try GDBListenAddress(parsing: gdb) } catch { throw UserError("\(error)") }
            if target == .virtio { throw UserError("--gdb applies to the hvt and spt tenders; for --target virtio, QEMU has its own gdb stub") }
        }
        if let gracePeriod {
            do { _ = try OptionValue.gracePeriod(gracePeriod) } catch { throw UserError(error.message) }
        }
        var imagePath = image
        if !Self.isELF(image) {
            let targets = target == .virtio ? [Target.virtio] : Target.tenders
            let output = target == .virtio ? try Build.defaultImage(for: Application(path: image, assets: assets)).path.replacingOccurrences(of: ".swiftlet", with: ".virtio") : nil
            imagePath = try Build.build(path: image, targets: targets, output: output, debug: gdb != nil, assets: assets).image.path
        } else if assets != nil {
            throw UserError("--assets applies when building an application; \(image) is already an image (rebuild it with `swiftlet build --assets DIR`)")
        }
        let virtio = target == .virtio || (target == nil && VirtioRun.isVirtioOnly(imagePath))
        if diskSize != nil && disk.isEmpty { throw UserError("--disk-size applies with --disk FILE") }
        if virtio && core != nil {
            throw UserError("--core is the tenders' (hvt, spt): QEMU's memory is not theirs to write; under QEMU use its -s for gdb")
        }
        if virtio, case .attached(let network) = try virtioNetwork() {
            VirtioRun.run(image: imagePath, machine: machine ?? .microvm, memory: mem, arguments: arguments,
                          network: network, capture: try virtioCapture(network: network), disks: try virtioDisks(), verbose: verbose)
        }
        if machine != nil && !virtio { throw UserError("--machine applies to --target virtio (QEMU); \(imagePath) runs on a tender") }
        var words = ["run", "--mem", mem]
        if let target { words += ["--target", target.rawValue] }
        if let machine { words += ["--machine", machine.rawValue] }
        for forward in publish { words += ["-p", forward] }
        if let net { words += ["--net", net] }
        if let pcap { words += ["--pcap", pcap] }
        if let pcapLimit { words += ["--pcap-limit", pcapLimit] }
        if let core { words += ["--core", core] }
        for file in disk { words += ["--disk", file] }
        if let diskSize { words += ["--disk-size", diskSize] }
        if let gdb { words += ["--gdb", gdb] }
        if let gracePeriod { words += ["--grace-period", gracePeriod] }
        if verbose { words.append("--verbose") }
        try LauncherHandoff.exec(words + [imagePath, "--"] + arguments)
    }

    /// `--pcap` for QEMU: the file is opened here, before QEMU starts, so a bad path is
    /// refused first; `network` must be attached.
    /// `--disk` for QEMU, checked here; VirtioRun opens them.
    private func virtioDisks() throws -> [DiskSpec] {
        let size: UInt64?
        do { size = try diskSize.map { text throws(OptionValueError) in try OptionValue.diskSize(text) } } catch { throw UserError(error.message) }
        return disk.map { DiskSpec(path: $0, size: size) }
    }

    private func virtioCapture(network: QEMUCommand.Network?) throws -> PacketCapture? {
        guard let pcap else {
            if pcapLimit != nil { throw UserError("--pcap-limit applies with --pcap FILE") }
            return nil
        }
        guard network != nil else { throw UserError("--pcap \(pcap): the guest has no network device to record (add -p or --net)") }
        var limit = PacketCapture.defaultLimit
        if let pcapLimit {
            do { limit = try OptionValue.pcapLimit(pcapLimit) } catch { throw UserError(error.message) }
        }
        do { return try PacketCapture(path: pcap, limit: limit) } catch { throw UserError("\(error)") }
    }

    private enum VirtioNetwork {
        /// None, passt's socket (`--net fd:N`) or a tap the launcher checked.
        case attached(QEMUCommand.Network?)
        /// `-p` or `--net`: the launcher starts passt and checks taps for every target, then
        /// hands the run back here.
        case byTheLauncher
    }

    private func virtioNetwork() throws -> VirtioNetwork {
        let handedOver = ProcessInfo.processInfo.environment[LauncherHandoff.handOverVariable] != nil
        switch net {
        case nil where publish.isEmpty, "none"?:
            guard publish.isEmpty else { throw ValidationError("-p needs a network; it cannot go with --net none") }
            return .attached(nil)
        case let value? where value.hasPrefix("fd:"):
            guard let fd = Int32(value.dropFirst(3)), VirtioRun.isStreamSocket(fd) else {
                throw ValidationError("--net \(value): expected fd:N with N an open stream socket (passt's, as the launcher passes it)")
            }
            return .attached(.socket(fd: fd))
        case let value? where value.hasPrefix("tap:") && handedOver:
            return .attached(.tap(String(value.dropFirst(4))))
        default:
            if handedOver { throw UserError("--net \(net ?? "passt") reached the full CLI without its network attached") }
            return .byTheLauncher
        }
    }

    static func isELF(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
              let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        return handle.readData(ofLength: 4) == Data([0x7F, 0x45, 0x4C, 0x46])
    }
}

extension Target: ExpressibleByArgument {}
extension QEMUCommand.Machine: ExpressibleByArgument {}
