// passt, the user-mode network behind `-p HOST:GUEST`: it owns the host ports, speaks DHCP and
// ARP to the guest, and carries its frames over a socketpair (a 4-byte length, then the frame).
// It exits when the tender's end closes. Everything about starting it is in this file.
import CRunShim

public enum Passt {
    public static let guestAddress = "10.0.2.15", prefix = "24", gateway = "10.0.2.2"
    public static let debianPackage = "passt"

    /// What the tender gets: its end of the socketpair and any arguments for the guest.
    public struct Attachment {
        public var tenderFD: Int32
        /// Prepended to the guest's own arguments (none today: the guest asks passt's DHCP).
        public var guestArguments: [String]
    }

    public static var executable: String? { Host.findProgram("passt") }

    /// Starts passt on one end of a socketpair. With `verbose`, passt's complaints reach stderr.
    public static func start(_ passt: String, forwards: [PortForward], verbose: Bool) throws(Refusal) -> Attachment {
        // Both ends close-on-exec: passt gets its end as fd 3 (a dup, so inherited), and the
        // tender's end is made inheritable only after passt has started. If passt kept the
        // tender's end open, it would never see the tender exit.
        var fds: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
            throw Refusal("cannot create a socketpair for passt: \(Host.errorText)")
        }
        // This passt drops the frames it cannot write at once, and never resends an ACK it
        // believes sent: give its end room for several windows of frames (the default 208 KiB
        // holds less than one 128 KiB window with its per-frame overhead). FORCE passes
        // wmem_max when we may; otherwise SO_SNDBUF takes what wmem_max allows.
        var room: Int32 = 4 << 20
        if setsockopt(fds[1], SOL_SOCKET, SO_SNDBUFFORCE, &room, socklen_t(MemoryLayout<Int32>.size)) != 0 {
            _ = setsockopt(fds[1], SOL_SOCKET, SO_SNDBUF, &room, socklen_t(MemoryLayout<Int32>.size))
        }
        var arguments = [passt, "--foreground", "--quiet", "--fd", "3",
                         "--address", guestAddress, "--netmask", prefix, "--gateway", gateway]
        for forward in forwards {
            arguments += [forward.proto == "udp" ? "--udp-ports" : "--tcp-ports", "\(forward.hostPort):\(forward.guestPort)"]
        }
        if forwards.allSatisfy({ $0.proto != "udp" }) { arguments += ["--udp-ports", "none"] }
        if forwards.allSatisfy({ $0.proto != "tcp" }) { arguments += ["--tcp-ports", "none"] }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        if !verbose { posix_spawn_file_actions_adddup2(&actions, 1, 2) }
        posix_spawn_file_actions_adddup2(&actions, fds[1], 3)
        // A process group of its own: Ctrl-C at a terminal signals the foreground group, and
        // must reach only the tender (whose guest may drain its connections, through passt).
        // passt ends when the tender's end of the socketpair closes, however the tender ends.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)
        var pid: pid_t = 0
        let environment: [String] = []
        let result = posix_spawn(&pid, passt, &actions, &attributes, Host.cStrings(arguments), Host.cStrings(environment))
        posix_spawn_file_actions_destroy(&actions)
        posix_spawnattr_destroy(&attributes)
        close(fds[1])
        guard result == 0 else { throw Refusal("cannot start \(passt): \(String(cString: strerror(result)))") }
        _ = run_shim_set_cloexec(fds[0], 0)
        return Attachment(tenderFD: fds[0], guestArguments: [])
    }
}
