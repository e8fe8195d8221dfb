// Per-connection TCP settings, endpoints, states and errors. Times are nanoseconds.

/// An IPv4 address and TCP port.
public struct TCPEndpoint: Hashable, Sendable {
    public var address: IPv4Address
    public var port: UInt16
    public init(address: IPv4Address, port: UInt16) { self.address = address; self.port = port }
}

/// The RFC 9293 connection states (§3.3.2).
public enum TCPState: Hashable, Sendable {
    case closed, listen, synSent, synReceived, established
    case finWait1, finWait2, closeWait, closing, lastAck, timeWait

    /// States in which the connection has exchanged SYNs (an RST must carry a sequence
    /// number the peer accepts).
    public var isSynchronized: Bool {
        switch self {
        case .closed, .listen, .synSent: false
        default: true
        }
    }
}

/// Why a connection ended without an orderly close.
public enum TCPConnectionError: Error, Hashable, Sendable {
    /// The peer answered our SYN with an acceptable RST.
    case refused
    /// The peer sent an acceptable RST on a synchronized connection.
    case reset
    /// Retransmissions (or keep-alive probes) went unanswered too many times.
    case timedOut
}

public struct TCPConfiguration: Sendable {
    public static let millisecond: UInt64 = 1_000_000
    public static let second: UInt64 = 1_000_000_000

    /// Our MSS (what we announce and the most we send), normally MTU − 40.
    public var maximumSegmentSize: Int
    /// Segmentation offload (TSO): the most payload one segment handed to the device may carry;
    /// nil sends segments of at most one MSS.
    public var segmentationOffloadLimit: Int?
    /// The smallest MSS the device cuts segments to; a connection with a smaller one sends one
    /// MSS per segment.
    public var segmentationMinimumMSS = 536
    /// Offer window scaling (RFC 7323); used only when the peer offers it too.
    public var windowScaling = true
    /// Offer selective acknowledgments (RFC 2018); used only when the peer offers them too.
    /// As a receiver only: out-of-order data is reported in SACK blocks, so a lossy path costs
    /// the peer one retransmission per hole instead of timeouts; SACK blocks that arrive are
    /// parsed and not used (our sender stays go-back-N).
    public var selectiveAcknowledgments = true
    /// Nagle's algorithm (RFC 9293 §3.7.4): hold a small segment while data is unacknowledged.
    public var nagle = true
    /// Delayed ACKs (RFC 9293 §3.8.6.3, RFC 5681 §4.2): acknowledge every second full-sized
    /// segment at once, otherwise after this delay (default 40 ms, as Linux's minimum).
    /// `nil` acknowledges every segment immediately.
    public var delayedAckTimeout: UInt64? = 40 * millisecond
    /// Keep-alive (RFC 9293 §3.8.4): off (`nil`) by default; when set, a probe is sent after
    /// this much idle time and again every interval until something arrives.
    public var keepAliveInterval: UInt64? = nil
    /// Unanswered keep-alive probes after which the connection is dropped.
    public var keepAliveProbeLimit = 9
    /// How long a connection the application has let go of waits in FIN-WAIT-2 for the
    /// peer's FIN (Linux's `tcp_fin_timeout`, 60 s): a peer that never closes would otherwise
    /// hold the connection's buffers for good. `nil` waits forever (RFC 9293 sets no limit).
    public var orphanFinWait2Timeout: UInt64? = 60 * second
    /// Maximum segment lifetime; TIME-WAIT lasts 2 × MSL (default 30 s, so 60 s).
    public var maximumSegmentLifetime: UInt64 = 30 * second
    /// RTO bounds (RFC 6298). The RFC's minimum is 1 s; we use 200 ms, as Linux does,
    /// because a unikernel's RTTs are short and a 1 s floor stalls recovery needlessly.
    public var minimumRTO: UInt64 = 200 * millisecond
    public var maximumRTO: UInt64 = 60 * second
    /// RTO before the first RTT sample (RFC 6298 §2.1).
    public var initialRTO: UInt64 = 1 * second
    /// Clock granularity G of RFC 6298 §2.
    public var clockGranularity: UInt64 = 1 * millisecond
    /// Consecutive retransmission timeouts after which the connection is dropped.
    public var maximumRetransmissions = 12

    public init(maximumSegmentSize: Int = 1460) {
        self.maximumSegmentSize = max(maximumSegmentSize, 1)
    }

    /// Derives the MSS from an IPv4 MTU (20 octets IP header + 20 octets TCP header).
    public init(mtu: Int) { self.init(maximumSegmentSize: mtu - 40) }

    /// The MSS assumed for a peer that sends no MSS option (RFC 9293 §3.7.1).
    public static let defaultPeerMSS = 536
}
