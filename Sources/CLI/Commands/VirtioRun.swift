// `swiftlet run --target virtio`: QEMU boots the image as a PVH kernel. This CLI stays QEMU's
// parent (it does not exec it, as the launcher execs a tender) because it reads the console:
// the guest's crash line becomes the tenders' symbolized report, and QEMU's exit status the
// guest's. The network comes attached by the launcher (Launch.execVirtio): passt's socket as
// `--net fd:N`, which QEMU gets as its fd 3, or a tap.
import Foundation
import SwiftletABI
import SwiftletBuild
import TenderCore

enum VirtioRun {
    static let name = "swiftlet-virtio"
    /// Where QEMU finds the network socket (its `-netdev socket,fd=` names this number).
    static let qemuNetworkFD: Int32 = 3

    /// Where QEMU's filter-dump writes the capture (a pipe to us, see `CaptureRelay`).
    static let qemuCaptureFD: Int32 = 4

    static func run(image: String, machine: QEMUCommand.Machine, memory: String, arguments: [String],
                    network: QEMUCommand.Network?, capture: PacketCapture? = nil, disks: [DiskSpec] = [], verbose: Bool) -> Never {
        func refuse(_ message: String) -> Never {
            say(message)
            exit(SWIFTLET_EXIT_TENDER_ERROR)
        }
        guard let qemu = findProgram("qemu-system-x86_64") else {
            refuse("QEMU is not installed; install it with `\(geteuid() == 0 ? "" : "sudo ")apt-get install -y qemu-system-x86`")
        }
        let bytes: UInt64
        do { bytes = try OptionValue.memorySize(memory) } catch { refuse(error.message) }
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
        // Opened, sized and locked as a tender does it, and held by this process until QEMU
        // ends: a second guest on the same disk is refused.
        var opened: [BlockDevice] = []
        for (index, disk) in disks.enumerated() {
            do { opened.append(try disk.open(name: "disk\(index)")) } catch { refuse("\(error)") }
        }
        command.disks = opened.map(\.path)
        var inherited: Int32?
        if case .socket(let fd) = network {
            inherited = fd
            command.network = .socket(fd: qemuNetworkFD)
        } else {
            command.network = network
        }
        var relay: CaptureRelay?
        if let capture {
            guard let started = CaptureRelay(capture) else { refuse("cannot create a pipe for --pcap: \(String(cString: strerror(errno)))") }
            relay = started
            command.captureFile = "/dev/fd/\(qemuCaptureFD)"
        }
        let words: [String]
        do { words = try command.arguments() } catch { refuse(error.description) }
        if verbose {
            say("running: \(QEMUCommand.shellLine(words))")
            if inherited != nil { say("(fd \(qemuNetworkFD) is passt's end of a socketpair: by hand, run passt and use -netdev stream,id=net0,server=off,addr.type=unix,addr.path=PASST_SOCKET)") }
        }

        let qemuProcess: QEMUProcess
        var passed = inherited.map { [(fd: $0, as: qemuNetworkFD)] } ?? []
        if let relay { passed.append((fd: relay.writeEnd, as: qemuCaptureFD)) }
        do { qemuProcess = try QEMUProcess(words, inherit: passed) } catch {
            refuse("cannot start \(qemu): \(error)")
        }
        relay?.start()
        // QEMU holds the socket now: passt must see it close when QEMU ends, not when we do.
        if let inherited { close(inherited) }

        var console = VirtioConsole()
        let reader = FileHandle(fileDescriptor: qemuProcess.output, closeOnDealloc: true)
        while true {
            let data = reader.availableData
            if data.isEmpty { break }
            write(console.feed(Array(data)))
        }
        write(console.finish())
        let status = qemuProcess.wait()
        withExtendedLifetime(opened) {}   // the disks' locks last as long as QEMU
        relay?.finish()

        let symbols = (try? ELFImage(bytes: Array(Data(contentsOf: URL(fileURLWithPath: image))))).map { SymbolTable(image: $0) }
        if let crash = console.crash {
            TenderExit.writeStandardError("\(name): " + CrashReport(crash: crash.crash, frames: crash.frames, symbols: symbols).text)
            exit(SWIFTLET_EXIT_CRASH)
        }
        if let signal = qemuProcess.forwardedSignal { exit(128 + signal) }
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

    static func isStreamSocket(_ fd: Int32) -> Bool {
        var status = stat()
        var type: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        return fstat(fd, &status) == 0 && status.st_mode & S_IFMT == S_IFSOCK
            && getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length) == 0 && type == Int32(SOCK_STREAM.rawValue)
    }
}

/// QEMU as our child, spawned directly rather than through Foundation's Process, which closes
/// every descriptor but the standard three: QEMU must inherit the network socket. Its stdout
/// (the guest's console) comes through a pipe. SIGTERM and SIGHUP sent to us are passed on,
/// so QEMU (and with it passt) never outlives this CLI; Ctrl-C reaches QEMU by itself (same
/// process group) and we wait for it. QEMU starts with default signal handling and nothing
/// blocked, whatever our parent left blocked (a test runner's threads block SIGTERM).
final class QEMUProcess {
    let pid: pid_t
    /// The read end of QEMU's stdout.
    let output: Int32

    /// The signal we passed on to QEMU, if any.
    var forwardedSignal: Int32? { passedOn == 0 ? nil : passedOn }

    struct SpawnError: Error, CustomStringConvertible {
        let description: String
    }

    /// `inherit`: open descriptors QEMU gets at other numbers (the network socket, the capture pipe).
    init(_ words: [String], inherit: [(fd: Int32, as: Int32)]) throws {
        var pipeFDs: [Int32] = [-1, -1]
        guard pipe(&pipeFDs) == 0 else { throw SpawnError(description: String(cString: strerror(errno))) }
        for fd in pipeFDs { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, pipeFDs[1], 1)
        for passed in inherit { posix_spawn_file_actions_adddup2(&actions, passed.fd, passed.as) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var handled = sigset_t(), nothing = sigset_t()
        sigemptyset(&handled)
        sigemptyset(&nothing)
        for number in [SIGINT, SIGTERM, SIGHUP, SIGPIPE] { sigaddset(&handled, number) }
        posix_spawnattr_setsigdefault(&attributes, &handled)
        posix_spawnattr_setsigmask(&attributes, &nothing)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        signal(SIGINT, SIG_IGN)
        for number in [SIGTERM, SIGHUP] { signal(number, passOn) }
        var forwarded = sigset_t()
        sigemptyset(&forwarded)
        for number in [SIGTERM, SIGHUP] { sigaddset(&forwarded, number) }
        pthread_sigmask(SIG_UNBLOCK, &forwarded, nil)

        let argv = words.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var child: pid_t = 0
        let result = posix_spawn(&child, words[0], &actions, &attributes, argv, environ)
        close(pipeFDs[1])
        guard result == 0 else {
            close(pipeFDs[0])
            throw SpawnError(description: String(cString: strerror(result)))
        }
        pid = child
        output = pipeFDs[0]
        qemuChild = child
        // A signal that came before QEMU existed is passed on now.
        if passedOn != 0 { kill(child, passedOn) }
    }

    /// QEMU's exit status (128 + the signal that ended it).
    func wait() -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return status & 0x7F == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
    }
}

// For the signal handler, which can only reach globals (kill is async-signal-safe).
nonisolated(unsafe) private var qemuChild: pid_t = 0
nonisolated(unsafe) private var passedOn: Int32 = 0
private func passOn(_ number: Int32) {
    passedOn = number
    if qemuChild > 0 { kill(qemuChild, number) }
}

/// `--pcap` on the virtio target: QEMU's filter-dump writes its pcap stream into a pipe, and a
/// thread here turns it into records of the same PacketCapture the tenders use, so the file
/// has the same format and the same `--pcap-limit` (QEMU's own has no size bound).
final class CaptureRelay: @unchecked Sendable {
    let capture: PacketCapture
    let readEnd: Int32
    let writeEnd: Int32
    private let done = DispatchSemaphore(value: 0)

    init?(_ capture: PacketCapture) {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { return nil }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        self.capture = capture
        readEnd = fds[0]
        writeEnd = fds[1]
    }

    /// Once QEMU holds the write end: read until QEMU closes it.
    func start() {
        close(writeEnd)
        Thread.detachNewThread { [self] in
            var reader = PcapStreamReader()
            var chunk = [UInt8](repeating: 0, count: 65_536)
            while true {
                let count = read(readEnd, &chunk, chunk.count)
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { break }
                let complete = reader.failure != nil
                for frame in reader.feed(Array(chunk[..<count])) {
                    frame.bytes.withUnsafeBytes { capture.record($0, seconds: frame.seconds, nanoseconds: frame.nanoseconds) }
                }
                // Keep draining the pipe after a failure: QEMU would die of SIGPIPE otherwise.
                if let failure = reader.failure, !complete {
                    TenderExit.writeStandardError("swiftlet: QEMU's capture stream is not pcap (\(failure)); --pcap records nothing more\n")
                }
            }
            close(readEnd)
            done.signal()
        }
    }

    /// After QEMU exited: wait (briefly) for the last frames to be written.
    func finish() {
        _ = done.wait(timeout: .now() + 5)
        close(capture.fd)
    }
}
