// `--core DIR`: the file a crash leaves. It must be created before confinement (the filter
// allows no open), but a guest that does not crash should leave nothing behind, and the
// confined tender cannot unlink. So reserving the file splits the tender in two: the child
// goes on to run the guest (it inherits the open file and may only `write` to it), and the
// parent, never confined and running no guest code, waits for it, removes the file if it
// stayed empty, and ends the way the child ended.
import CTender
import SwiftletABI

public final class CoreFile {
    public let path: String
    public let fd: Int32
    /// The image, for the `gdb IMAGE CORE` hint and the core's program name.
    public let imagePath: String
    /// The pid the user saw (the keeper's), named in the file; the confined child may not ask.
    public let pid: Int32

    /// The child that runs the guest, for the parent's signal forwarding.
    nonisolated(unsafe) private static var child: pid_t = 0

    /// Creates DIR/core.NAME.PID and splits the process (see the top of the file); returns in
    /// the child only. Refused, before any guest runs, if DIR is not a writable folder.
    public static func reserve(directory: String, imagePath: String) throws(TenderError) -> CoreFile {
        var status = stat()
        guard stat(directory, &status) == 0 else { throw .system("--core \(directory)", errno: SystemError.last) }
        guard status.st_mode & mode_t(S_IFMT) == mode_t(S_IFDIR) else { throw .usage("--core \(directory) is not a directory") }
        var name = Self.programName(imagePath)
        if let stem = name.bytes(before: ".swiftlet") { name = String(stem) }
        let keeper = getpid()
        let path = "\(directory)/core.\(name).\(keeper)"
        let fd = ctender_open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw .system("cannot create the core file \(path)", errno: SystemError.last) }

        let pid = fork()
        guard pid >= 0 else {
            let error = SystemError.last
            unlink(path)
            throw .system("cannot start the core file's keeper process", errno: error)
        }
        if pid > 0 { superviseAndExit(child: pid, path: path, fd: fd) }
        return CoreFile(path: path, fd: fd, imagePath: imagePath, pid: keeper)
    }

    private init(path: String, fd: Int32, imagePath: String, pid: Int32) {
        self.path = path
        self.fd = fd
        self.imagePath = imagePath
        self.pid = pid
    }

    /// The parent: holds nothing but stderr and the file, forwards termination requests,
    /// and mirrors the child's ending (its status, or the signal that killed it).
    private static func superviseAndExit(child: pid_t, path: String, fd: Int32) -> Never {
        Self.child = child
        let keep: [Int32] = [2, fd]
        _ = keep.withUnsafeBufferPointer { ctender_close_all_except($0.baseAddress, Int32($0.count)) }
        // What would stop the tender stops the guest; we then end the way it ended. (Ctrl-C
        // reaches the child twice, from the terminal and from here: it ends all the same.)
        for forwarded in [SIGINT, SIGTERM, SIGHUP, SIGQUIT] {
            signal(forwarded) { received in kill(CoreFile.child, received) }
        }
        var status: Int32 = 0
        while waitpid(child, &status, 0) < 0 {
            if SystemError.last != EINTR { _exit(125) }
        }
        var file = stat()
        if fstat(fd, &file) == 0 && file.st_size == 0 { unlink(path) }
        if status & 0x7f == 0 { _exit((status >> 8) & 0xff) }
        let killedBy = status & 0x7f
        ctender_signal_default(killedBy)
        var unblock = sigset_t()
        sigemptyset(&unblock)
        sigaddset(&unblock, killedBy)
        sigprocmask(SIG_UNBLOCK, &unblock, nil)
        kill(getpid(), killedBy)
        _exit(128 + killedBy)
    }

    /// Writes the core of a crashed guest: `memory` is all of its RAM (at GUEST_BASE), the
    /// guard page excepted. Returns the line the crash report ends with.
    public func write(_ crash: GuestCrash, memory: GuestMemory, segments: [ELFImage.Segment], arguments: [String]) -> String {
        guard let registers = crash.allRegisters else {
            return "no core written: the tender has no register state for this crash\n"
        }
        let regions = segments.map { segment -> (range: Range<UInt64>, flags: UInt32) in
            var flags = ELFCoreLayout.pfR
            if segment.flags.contains(.write) { flags |= ELFCoreLayout.pfW }
            if segment.flags.contains(.execute) { flags |= ELFCoreLayout.pfX }
            return (segment.vaddr ..< segment.vaddr + segment.memsz, flags)
        }
        let ram = UnsafeRawBufferPointer(start: memory.base, count: memory.size)
        let base = memory.start.raw
        let runs = ELFCoreLayout.runs(of: ram, base: base, from: base + SWIFTLET_STACK_BOTTOM, regions: regions)
        let name = Self.programName(imagePath)
        let layout = ELFCoreLayout(state: CoreState(registers: registers, signal: crash.signalNumber, pid: pid,
                                                    programName: name, arguments: arguments.joined(separator: " ")),
                                   runs: runs)
        var written: UInt64 = 0
        let header = layout.headerBytes
        guard header.withUnsafeBytes({ writeAll($0, written: &written) }) else { return failure() }
        for run in layout.runs {
            let padding = Int(run.fileOffset - written)
            if padding > 0 {
                let zeros = [UInt8](repeating: 0, count: padding)
                guard zeros.withUnsafeBytes({ writeAll($0, written: &written) }) else { return failure() }
            }
            let start = Int(run.address - base)
            guard writeAll(UnsafeRawBufferPointer(rebasing: ram[start ..< start + Int(run.count)]), written: &written) else {
                return failure()
            }
        }
        return "core written: \(path) (\(written) bytes; open it with: gdb \(imagePath) \(path))\n"
    }

    /// The image file's name: the last piece of its path.
    private static func programName(_ imagePath: String) -> String {
        imagePath.bytesSplit(UInt8(ascii: "/")).last.map(String.init) ?? "guest"
    }

    private func failure() -> String { "writing the core file \(path) failed: \(SystemError.describe(SystemError.last))\n" }

    private func writeAll(_ bytes: UnsafeRawBufferPointer, written: inout UInt64) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let count = CTender.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if count < 0 && SystemError.last == EINTR { continue }
            guard count > 0 else { return false }
            offset += count
            written += UInt64(count)
        }
        return true
    }
}
