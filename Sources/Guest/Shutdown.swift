// Requests to stop from outside: SIGTERM or Ctrl-C to the tender (`podman stop`, Kubernetes
// ending a pod). A guest that never watches for them is ended by the signal at once, as any
// process is. One that does (`Shutdown.watch()`, `Shutdown.onRequest { }`; HTTPServer.run
// does it) is told instead, through its poll, and has the grace period to finish
// (`swiftlet run --grace-period SECONDS`, 10 by default); a second signal, or the end of the
// grace period, ends it at once.
#if SWIFTLET_GUEST
import SwiftletABI

public enum Shutdown {
    nonisolated(unsafe) private static var gracePeriod: UInt64?
    nonisolated(unsafe) private static var requested = false
    nonisolated(unsafe) private static var handlersRun = false
    nonisolated(unsafe) private static var handlers: [() -> Void] = []

    /// Asks the tender to report shutdown requests instead of ending the guest. Returns the
    /// grace period in nanoseconds; 0 where a request cannot be watched (the virtio target,
    /// `--grace-period 0`): the signal still ends the guest at once.
    @discardableResult
    public static func watch() -> UInt64 {
        if let gracePeriod { return gracePeriod }
        var request = swiftlet_hc_shutdown_watch(grace_period: 0)
        Hypercall.call(SWIFTLET_HC_SHUTDOWN_WATCH, &request)
        gracePeriod = request.grace_period
        return request.grace_period
    }

    /// A shutdown was requested: finish what is under way, then exit.
    public static var isRequested: Bool { requested }

    /// Watches for shutdown, and calls `handler` once when a request arrives, between turns
    /// of the run loop (`NetworkStack.run`, the async event loop). An application with a loop
    /// of its own checks `isRequested` instead.
    public static func onRequest(_ handler: @escaping () -> Void) {
        watch()
        handlers.append(handler)
    }

    /// Notes a request in a ready set from POLL or NET_EXCHANGE.
    @inline(__always)
    static func note(readySet: UInt64) {
        if readySet & SWIFTLET_POLL_SHUTDOWN != 0 { requested = true }
    }

    /// Runs the handlers once a request was noted; the run loops call this every turn.
    @inline(__always)
    static func runHandlersIfRequested() {
        guard requested && !handlersRun else { return }
        handlersRun = true
        for handler in handlers { handler() }
    }
}
#endif
