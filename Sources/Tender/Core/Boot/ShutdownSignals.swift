// SIGTERM and SIGINT as a request the guest sees, for guests that ask (SHUTDOWN_WATCH): the
// signal handling itself is in the C shim (shutdown.c, which says how it stays inside the
// seccomp filter); this is the tender's view of it, for the hypercalls and the allow-list.
import CTender
import SwiftletABI

public final class ShutdownSignals {
    /// What the allow-list must let the signal handlers do (TenderPolicies).
    public struct Policy: Equatable {
        /// The write end of the wake-up pipe.
        public var wakeFD: Int32
        /// kill(2) is allowed towards this process only.
        public var ownPID: Int32
        /// alarm(2) is allowed with this argument only (none when 0).
        public var gracePeriodSeconds: UInt32

        public init(wakeFD: Int32, ownPID: Int32, gracePeriodSeconds: UInt32) {
            self.wakeFD = wakeFD
            self.ownPID = ownPID
            self.gracePeriodSeconds = gracePeriodSeconds
        }
    }

    public let gracePeriodSeconds: UInt32
    /// Readable once a request arrived: the poll watches it until then, so the request wakes
    /// a sleeping guest at once.
    public let wakeReadFD: Int32
    public let wakeWriteFD: Int32
    private let requestedSignal: () -> Int32
    private let startWatching: () -> Void
    /// The request has woken the guest's poll once; from then on it is only reported.
    private var announced = false

    /// `requestedSignal` and `startWatching` stand in for the signal handlers (tests).
    public init(gracePeriodSeconds: UInt32, wakeReadFD: Int32, wakeWriteFD: Int32,
                requestedSignal: @escaping () -> Int32, startWatching: @escaping () -> Void) {
        self.gracePeriodSeconds = gracePeriodSeconds
        self.wakeReadFD = wakeReadFD
        self.wakeWriteFD = wakeWriteFD
        self.requestedSignal = requestedSignal
        self.startWatching = startWatching
    }

    /// Installs the handlers for this process (before confinement).
    public static func install(gracePeriodSeconds: UInt32) throws(TenderError) -> ShutdownSignals {
        var fds: [Int32] = [-1, -1]
        let result = ctender_shutdown_install(gracePeriodSeconds, &fds)
        guard result == 0 else { throw .system("cannot install the shutdown signal handlers", errno: -result) }
        return ShutdownSignals(gracePeriodSeconds: gracePeriodSeconds, wakeReadFD: fds[0], wakeWriteFD: fds[1],
                               requestedSignal: { ctender_shutdown_requested() },
                               startWatching: { ctender_shutdown_watch() })
    }

    public var descriptors: [Int32] { [wakeReadFD, wakeWriteFD] }

    public var policy: Policy {
        Policy(wakeFD: wakeWriteFD, ownPID: ctender_shutdown_own_pid(), gracePeriodSeconds: gracePeriodSeconds)
    }

    public var isRequested: Bool { requestedSignal() != 0 }

    /// SHUTDOWN_WATCH: returns the grace period in nanoseconds (0: the signal still ends the guest).
    func watch() -> UInt64 {
        startWatching()
        return UInt64(gracePeriodSeconds) * 1_000_000_000
    }

    /// For one POLL: whether it must return at once (a request not yet announced), and the
    /// descriptor to watch while it sleeps (-1 once a request arrived).
    func beforePoll() -> (returnAtOnce: Bool, watchFD: Int32) {
        guard isRequested else { return (false, wakeReadFD) }
        if announced { return (false, -1) }
        announced = true
        return (true, -1)
    }

    /// The ready-set bits for a POLL that has returned.
    func afterPoll() -> UInt64 {
        guard isRequested else { return 0 }
        announced = true
        return SWIFTLET_POLL_SHUTDOWN
    }
}
