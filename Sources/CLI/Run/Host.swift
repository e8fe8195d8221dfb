// The few questions the run path asks the host (files, programs on PATH, child processes),
// answered with Glibc alone: the launcher must not load Foundation.
#if canImport(Glibc)
import Glibc
#endif

public enum Host {
    public static func environment(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }

    public static var isRoot: Bool { geteuid() == 0 }

    public enum FileKind { case missing, regular, directory, other }

    public static func kind(of path: String) -> FileKind {
        var status = stat()
        guard stat(path, &status) == 0 else { return .missing }
        switch status.st_mode & S_IFMT {
        case S_IFREG: return .regular
        case S_IFDIR: return .directory
        default: return .other
        }
    }

    public static func isExecutable(_ path: String) -> Bool {
        kind(of: path) == .regular && access(path, X_OK) == 0
    }

    /// Where PATH finds `name`; sbin folders are searched too, as a non-root PATH may lack them.
    public static func findProgram(_ name: String) -> String? {
        let path = environment("PATH") ?? "/usr/local/bin:/usr/bin:/bin"
        let folders = path.split(separator: ":").map(String.init) + ["/usr/local/sbin", "/usr/sbin", "/sbin"]
        return folders.lazy.map { "\($0)/\(name)" }.first(where: isExecutable)
    }

    /// This executable's path, links resolved.
    public static var executablePath: String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard count > 0 else { return CommandLine.arguments[0] }
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public static func folder(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// The first `count` bytes of a file (fewer if it is shorter); nil if it cannot be read.
    public static func prefix(ofFile path: String, count: Int) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: count)
        let read = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, count) }
        return read < 0 ? nil : Array(bytes[..<read])
    }

    /// A C argv/envp: strings, then a null pointer (leaked on purpose: exec or a short-lived spawn follows).
    public static func cStrings(_ strings: [String]) -> [UnsafeMutablePointer<CChar>?] {
        strings.map { strdup($0) } + [nil]
    }

    /// Runs a program to completion with stdin from /dev/null and stdout/stderr into `log` (a
    /// file, appended) or, without one, both to our stderr (stdout belongs to the guest).
    /// Returns its exit status (-1 if it did not start).
    public static func run(_ program: String, _ arguments: [String], log: String?) -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        if let log {
            posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o644)
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        } else {
            posix_spawn_file_actions_adddup2(&actions, 2, 1)
        }
        var pid: pid_t = 0
        let argv = cStrings([program] + arguments)
        guard posix_spawn(&pid, program, &actions, nil, argv, environ) == 0 else { return -1 }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let exited = status & 0x7f == 0
        return exited ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }

    /// The last `lines` lines of a text file, for an error that points at a log.
    public static func tail(ofFile path: String, lines: Int) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return "" }
        defer { close(fd) }
        let size = lseek(fd, 0, SEEK_END)
        let start = max(0, size - 8192)
        lseek(fd, start, SEEK_SET)
        var bytes = [UInt8](repeating: 0, count: Int(size - start))
        let count = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        let text = String(decoding: bytes.prefix(max(0, count)), as: UTF8.self)
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines + 1).joined(separator: "\n")
    }

    /// Where swiftlet keeps logs and caches: $XDG_CACHE_HOME/swiftlet or ~/.cache/swiftlet (made if missing).
    public static var cacheFolder: String {
        let base = environment("XDG_CACHE_HOME") ?? (environment("HOME").map { "\($0)/.cache" } ?? "/tmp")
        let folder = "\(base)/swiftlet"
        _ = mkdir(base, 0o755)
        _ = mkdir(folder, 0o755)
        return folder
    }
}
