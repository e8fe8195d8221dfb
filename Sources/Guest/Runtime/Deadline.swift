// Deadlines in nanoseconds of uptime, shared by the event loop and the protocol timers.

/// `now + delay` in nanoseconds, saturating rather than wrapping: a huge delay (an infinite
/// DHCP lease, a DNS TTL near 2³²) means "never", not a deadline in the past.
@inline(__always)
func saturatingDeadline(after delay: UInt64, from now: UInt64) -> UInt64 {
    let (sum, overflow) = now.addingReportingOverflow(delay)
    return overflow ? .max : sum
}
