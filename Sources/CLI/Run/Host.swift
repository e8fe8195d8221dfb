// The few questions the run path asks the host (files, programs on PATH, child processes),
// answered with libc alone: the launcher is Embedded Swift, with no runtime to start.
import CRunShim

public enum Host {
    /// This process's arguments, its own path first.
    public static var arguments: [String] {
        let argv = run_shim_argv()!
        return (0..<Int(run_shim_argc())).map { String(cString: argv[$0]!) }
    }

    public static func environment(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }

    public static var isRoot: Bool { geteuid() == 0 }

    public static var errorText: String { String(cString: strerror(run_shim_errno())) }

    public enum FileKind { case missing, regular, directory, other }

    public static func kind(of path: String) -> FileKind {
        var status = stat()
        guard stat(path, &status) == 0 else { return .missing }
        switch status.st_mode & mode_t(S_IFMT) {
        case mode_t(S_IFREG): return .regular
        case mode_t(S_IFDIR): return .directory
        default: return .other
        }
    }

    /// When the file was last modified, in nanoseconds since the epoch; nil if it is missing.
    public static func modificationTime(of path: String) -> Int64? {
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        return Int64(status.st_mtim.tv_sec) * 1_000_000_000 + Int64(status.st_mtim.tv_nsec)
    }

    /// Sets a file's modification time to now.
    public static func touch(_ path: String) {
        _ = utimensat(AT_FDCWD, path, nil, 0)
    }

    public static func isExecutable(_ path: String) -> Bool {
        kind(of: path) == .regular && access(path, X_OK) == 0
    }

    /// Where PATH finds `name`; sbin folders are searched too, as a non-root PATH may lack them.
    public static func findProgram(_ name: String) -> String? {
        let path = environment("PATH") ?? "/usr/local/bin:/usr/bin:/bin"
        let folders = path.split(separator: ":").map { String($0) } + ["/usr/local/sbin", "/usr/sbin", "/sbin"]
        for folder in folders where isExecutable("\(folder)/\(name)") { return "\(folder)/\(name)" }
        return nil
    }

    /// This executable's path, links resolved.
    public static var executablePath: String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard count > 0 else { return arguments.first ?? "swiftlet" }
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public static func folder(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// The files under `folder` (recursively, symbolic links not followed) whose names end in
    /// `suffix`; [] for a folder that cannot be read.
    public static func files(under folder: String, endingIn suffix: String) -> [String] {
        guard let directory = opendir(folder) else { return [] }
        defer { closedir(directory) }
        var found: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: &entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard name != ".", name != ".." else { continue }
            let path = "\(folder)/\(name)"
            switch entry.pointee.d_type {
            case UInt8(DT_DIR): found += files(under: path, endingIn: suffix)
            case UInt8(DT_REG) where name.hasSuffix(suffix): found.append(path)
            default: break
            }
        }
        return found
    }

    /// A file's bytes, if it can be read and is at most `limit` bytes long.
    public static func contents(ofFile path: String, limit: Int) -> [UInt8]? {
        let fd = run_shim_open(path, O_RDONLY | O_CLOEXEC, 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while bytes.count <= limit {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && run_shim_errno() == EINTR { continue }
            guard count >= 0 else { return nil }
            if count == 0 { return bytes }
            bytes += chunk[..<count]
        }
        return nil
    }

    /// The first `count` bytes of a file (fewer if it is shorter); nil if it cannot be read.
    public static func prefix(ofFile path: String, count: Int) -> [UInt8]? {
        let fd = run_shim_open(path, O_RDONLY | O_CLOEXEC, 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: count)
        let done = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress, count) }
        return done < 0 ? nil : Array(bytes[..<done])
    }

    /// A C argv/envp: strings, then a null pointer (leaked on purpose: exec or a short-lived spawn follows).
    public static func cStrings(_ strings: [String]) -> [UnsafeMutablePointer<CChar>?] {
        strings.map { strdup($0) } + [nil]
    }

    /// Runs a program to completion with stdin from /dev/null, and stdout and stderr into `log`
    /// (appended), or into `pipe` (read back and returned as `output`), or else both to our
    /// stderr (stdout belongs to the guest). `status` is -1 if it did not start.
    public static func run(_ program: String, _ arguments: [String], log: String? = nil,
                           captureOutput: Bool = false) -> (status: Int32, output: String) {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        var pipeFDs: [Int32] = [-1, -1]
        if captureOutput {
            guard pipe(&pipeFDs) == 0 else { return (-1, "") }
            _ = run_shim_set_cloexec(pipeFDs[0], 1)
            _ = run_shim_set_cloexec(pipeFDs[1], 1)
            posix_spawn_file_actions_adddup2(&actions, pipeFDs[1], 1)
            posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        } else if let log {
            posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o644)
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        } else {
            posix_spawn_file_actions_adddup2(&actions, 2, 1)
        }
        var pid: pid_t = 0
        let argv = cStrings([program] + arguments)
        let started = posix_spawn(&pid, program, &actions, nil, argv, run_shim_environ()) == 0
        var output: [UInt8] = []
        if captureOutput {
            close(pipeFDs[1])
            var chunk = [UInt8](repeating: 0, count: 4096)
            while started {
                let count = chunk.withUnsafeMutableBytes { read(pipeFDs[0], $0.baseAddress, $0.count) }
                if count < 0 && run_shim_errno() == EINTR { continue }
                guard count > 0 else { break }
                output += chunk[..<count]
            }
            close(pipeFDs[0])
        }
        guard started else { return (-1, "") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && run_shim_errno() == EINTR {}
        let exited = status & 0x7f == 0
        return (exited ? (status >> 8) & 0xff : 128 + (status & 0x7f), String(decoding: output, as: UTF8.self))
    }

    /// The last `lines` lines of a text file, for an error that points at a log.
    public static func tail(ofFile path: String, lines: Int) -> String {
        guard let bytes = contents(ofFile: path, limit: 64 << 20) else { return "" }
        let text = String(decoding: bytes.suffix(8192), as: UTF8.self)
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines + 1).joined(separator: "\n")
    }

    /// Where swiftlet keeps logs: $XDG_CACHE_HOME/swiftlet or ~/.cache/swiftlet (made if missing).
    public static var cacheFolder: String {
        let base = environment("XDG_CACHE_HOME") ?? (environment("HOME").map { "\($0)/.cache" } ?? "/tmp")
        let folder = "\(base)/swiftlet"
        _ = mkdir(base, 0o755)
        _ = mkdir(folder, 0o755)
        return folder
    }
}
