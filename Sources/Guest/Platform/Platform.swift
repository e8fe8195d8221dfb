// The platform services the library OS is written against: one implementation over the
// Swiftlet ABI for the guest, one over Glibc so the same library runs (and is tested) on a host.
#if SWIFTLET_GUEST
import SwiftletABI
#elseif canImport(Glibc)
import Glibc
#endif

/// Fills `buffer` with cryptographically strong random bytes (the guest's ChaCha20 stream
/// seeded by the tender, or the host's generator).
func randomBytes(_ buffer: UnsafeMutableRawBufferPointer) {
    #if SWIFTLET_GUEST
    Runtime.random.fill(buffer)
    #else
    var generator = SystemRandomNumberGenerator()
    for index in buffer.indices { buffer[index] = UInt8.random(in: 0...255, using: &generator) }
    #endif
}

enum Platform {
    static func consoleWrite(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        #if SWIFTLET_GUEST
        var offset = 0
        while offset < bytes.count {
            let chunk = min(bytes.count - offset, Int(SWIFTLET_CONSOLE_MAX))
            var request = swiftlet_hc_console(
                data: UInt64(UInt(bitPattern: base + offset)), length: UInt64(chunk), result: 0, _pad: 0)
            Hypercall.call(SWIFTLET_HC_CONSOLE, &request)
            offset += chunk
        }
        #else
        _ = write(1, base, bytes.count)
        #endif
    }

    static func wallClockNanoseconds() -> Int64 {
        #if SWIFTLET_GUEST
        var request = swiftlet_hc_time(nanoseconds: 0)
        Hypercall.call(SWIFTLET_HC_WALLTIME, &request)
        return Int64(bitPattern: request.nanoseconds)
        #else
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
        #endif
    }

    static func monotonicNanoseconds() -> UInt64 {
        #if SWIFTLET_GUEST
        if let clock = Runtime.tscClock {
            return clock.nanoseconds(at: swiftlet_rdtsc())
        }
        return hostMonotonicNanoseconds() &- Runtime.monotonicOrigin
        #else
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
        #endif
    }

    #if SWIFTLET_GUEST
    /// The host's monotonic clock, from an arbitrary origin (used where the TSC is not).
    static func hostMonotonicNanoseconds() -> UInt64 {
        var request = swiftlet_hc_time(nanoseconds: 0)
        Hypercall.call(SWIFTLET_HC_MONOTONIC, &request)
        return request.nanoseconds
    }
    #endif

    #if SWIFTLET_GUEST
    /// Sleeps until a device has input or `deadline` (monotonic ns, in this guest's
    /// uptime) passes, or a shutdown request arrives; returns the handles with input as a bit set.
    static func poll(until deadline: UInt64?) -> UInt64 {
        var request = swiftlet_hc_poll(timeout: timeout(until: deadline), ready_set: 0)
        Hypercall.call(SWIFTLET_HC_POLL, &request)
        Shutdown.note(readySet: request.ready_set)
        return request.ready_set & ~SWIFTLET_POLL_SHUTDOWN
    }

    /// A POLL timeout (relative ns) for an uptime deadline; nil waits as long as allowed.
    static func timeout(until deadline: UInt64?) -> UInt64 {
        guard let deadline else { return UInt64.max }
        let now = monotonicNanoseconds()
        return deadline <= now ? 0 : deadline - now
    }
    #endif

    static func halt(status: Int32) -> Never {
        #if SWIFTLET_GUEST
        var request = swiftlet_hc_halt(status: status, _pad: 0, crash: 0)
        Hypercall.call(SWIFTLET_HC_HALT, &request)
        while true {}
        #else
        Glibc.exit(status)
        #endif
    }
}
