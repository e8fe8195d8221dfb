// `swiftlet run --target virtio`: QEMU boots the image as a PVH kernel. This CLI stays QEMU's
// parent (it does not exec it, as the launcher execs a tender) because it reads the console:
// the guest's crash line becomes the tenders' symbolized report, and QEMU's exit status the
// guest's. Networking (-p, --net) waits for the virtio-net driver (issue 10): refused here.
import Foundation
import SwiftletABI
import SwiftletBuild
import TenderCore

enum VirtioRun {
    static let name = "swiftlet-virtio"

    static func run(image: String, machine: QEMUCommand.Machine, memory: String, arguments: [String],
                    network: Bool, verbose: Bool) -> Never {
        func refuse(_ message: String) -> Never {
            say(message)
            exit(SWIFTLET_EXIT_TENDER_ERROR)
        }
        if network {
            refuse("--target virtio has no network yet (the virtio-net driver is not wired in); run without -p and --net")
        }
        guard let qemu = findProgram("qemu-system-x86_64") else {
            refuse("QEMU is not installed; install it with `\(geteuid() == 0 ? "" : "sudo ")apt-get install -y qemu-system-x86`")
        }
        let bytes: UInt64
        do { bytes = try TenderOptions.parseMemorySize(memory) } catch { refuse("\(error)") }
        // SWIFTLET_VIRTIO_ACCEL=tcg asks for TCG where KVM is usable too (tests run both).
        let kvm: Bool
        switch ProcessInfo.processInfo.environment["SWIFTLET_VIRTIO_ACCEL"] {
        case "tcg": kvm = false
        case nil, "", "kvm":
            kvm = access("/dev/kvm", R_OK | W_OK) == 0
            if !kvm { say("/dev/kvm is not usable here; QEMU emulates the CPU (TCG), which is slower") }
        case let other?: refuse("SWIFTLET_VIRTIO_ACCEL=\(other): expected kvm or tcg")
        }
        var command = QEMUCommand(image: image, memoryBytes: bytes, kvm: kvm)
        command.qemu = qemu
        command.machine = machine
        command.guestArguments = arguments
        let words: [String]
        do { words = try command.arguments() } catch { refuse(error.description) }
        if verbose { say("running: \(QEMUCommand.shellLine(words))") }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: qemu)
        process.arguments = Array(words.dropFirst())
        let pipe = Pipe()
        process.standardOutput = pipe
        do { try process.run() } catch { refuse("cannot start \(qemu): \(error.localizedDescription)") }
        // Ctrl-C reaches QEMU too (same process group); we wait for it to go.
        signal(SIGINT, SIG_IGN)

        var console = VirtioConsole()
        let reader = pipe.fileHandleForReading
        while true {
            let data = reader.availableData
            if data.isEmpty { break }
            write(console.feed(Array(data)))
        }
        write(console.finish())
        process.waitUntilExit()

        let symbols = (try? ELFImage(bytes: Array(Data(contentsOf: URL(fileURLWithPath: image))))).map { SymbolTable(image: $0) }
        if let crash = console.crash {
            TenderExit.writeStandardError("\(name): " + CrashReport(crash: crash.crash, frames: crash.frames, symbols: symbols).text)
            exit(SWIFTLET_EXIT_CRASH)
        }
        let status = process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
        switch VirtioExit(qemuStatus: status, statusLine: console.exitStatus) {
        case .guest(let status): exit(status)
        case .crashed:
            TenderExit.writeStandardError("\(name): guest crashed (no report reached the console)\n")
            exit(SWIFTLET_EXIT_CRASH)
        case .unknownStatus:
            refuse("the guest exited with a status QEMU's isa-debug-exit cannot carry, and did not say which")
        case .qemuFailed(let status):
            refuse("QEMU exited with status \(status) before the guest halted (run with --verbose to see its command)")
        }
    }

    private static func write(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        FileHandle.standardOutput.write(Data(bytes))
    }

    static func findProgram(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for folder in path.split(separator: ":") + ["/usr/bin"] {
            let candidate = "\(folder)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Whether an image's note allows only the virtio target (so it needs no --target).
    static func isVirtioOnly(_ image: String) -> Bool {
        guard let data = try? Data(contentsOf: URL(fileURLWithPath: image)),
              let note = (try? ELFImage(bytes: Array(data)))?.abiNote else { return false }
        return note.targets == SWIFTLET_TARGET_VIRTIO
    }
}
