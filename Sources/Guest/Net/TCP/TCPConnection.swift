// One TCP connection (RFC 9293) as a sans-I/O state machine: segments and `now` go in
// through `process`, segments come out of `poll`, and `pollAt` says when to poll next.
//
// Files: TCPConnection.swift (state, user calls), TCPConnection+Input.swift (arriving
// segments), TCPConnection+Output.swift (poll, timers, congestion control).
//
// Choices worth knowing (see TCPConfiguration for the numbers):
// - Out-of-order data is buffered in the receive ring (up to TCPAssembler.maximumRanges
//   disjoint ranges, within the advertised window) and answered with an immediate ACK.
// - Data on a SYN is not kept; a FIN beyond a gap is remembered and honoured once the gap
//   fills. URG is ignored (the urgent pointer is parsed, never acted on).
// - Retransmission is go-back-N from SND.UNA after an RTO; fast retransmit resends one
//   segment. SACK as a receiver only (RFC 2018 blocks on ACK-only segments; blocks that
//   arrive are parsed, not used). No timestamps (parsed, not negotiated), no ECN.
// - The ISS is an input; so is time (`now`, monotonic ns). No clocks, no I/O inside.

public struct TCPConnection {
    public let configuration: TCPConfiguration
    public internal(set) var state: TCPState = .closed
    public internal(set) var local: TCPEndpoint
    public internal(set) var remote: TCPEndpoint
    /// Set when the connection ended by reset, refusal or timeout.
    public internal(set) var error: TCPConnectionError?
    /// The peer's FIN has arrived (in order): no more data will follow what is buffered.
    public internal(set) var receivedFIN = false

    var tx: TCPRingBuffer
    var rx: TCPRingBuffer
    var assembler = TCPAssembler()
    /// Sequence number of a FIN seen (possibly out of order) but not yet reached.
    var remoteFinSequence: TCPSequenceNumber?

    // Send sequence space (RFC 9293 §3.3.1). `sendMax` is the highest sequence number sent
    // so far (exclusive); `sendNext` is rewound to `sendUnacknowledged` on a timeout.
    var iss = TCPSequenceNumber(0)
    var sendUnacknowledged = TCPSequenceNumber(0)
    var sendNext = TCPSequenceNumber(0)
    var sendMax = TCPSequenceNumber(0)
    var sendWindow = 0
    var maximumSendWindow = 0
    var sendWL1 = TCPSequenceNumber(0)
    var sendWL2 = TCPSequenceNumber(0)
    var sendMSS = TCPConfiguration.defaultPeerMSS
    /// Shift applied to the peer's window field, and to ours (RFC 7323).
    var sendShift = 0
    var receiveShift = 0
    var windowScalingEnabled = false
    /// Both SYNs carried SACK-permitted: our ACKs report out-of-order data (`sackBlocks`).
    var sackEnabled = false
    /// close() was called: a FIN follows the queued data.
    var finQueued = false
    /// close() was called in SYN-RECEIVED: FIN-WAIT-1 as soon as the handshake completes.
    var closeAfterHandshake = false
    var passiveOpen = false

    // Receive sequence space.
    var irs = TCPSequenceNumber(0)
    var receiveNext = TCPSequenceNumber(0)
    /// Right edge of the window last advertised (receiveNext + window).
    var advertisedEdge = TCPSequenceNumber(0)
    var ackNow = false
    /// Out-of-order data arrived: an ACK-only segment with SACK blocks is owed, even when
    /// data segments (which carry no blocks) also go out.
    var sackDue = false
    /// Where the most recent out-of-order segment began: its block goes first (RFC 2018 §4).
    var latestOutOfOrder: TCPSequenceNumber?
    var delayedAckAt: UInt64?
    var unacknowledgedReceived = 0

    // Timers (absolute, ns).
    var retransmitAt: UInt64?
    var retransmissions = 0
    var persistAt: UInt64?
    var persistBackoff = 0
    var keepAliveAt: UInt64?
    var keepAliveProbes = 0
    var timeWaitAt: UInt64?
    /// When an orphaned connection in FIN-WAIT-2 gives up on the peer's FIN (`orphan`).
    var finWait2DeadlineAt: UInt64?
    /// The receive window once TIME-WAIT has given the buffer back.
    var releasedWindow: Int?

    // RTT estimation (RFC 6298).
    var smoothedRTT: UInt64?
    var rttVariance: UInt64 = 0
    var rto: UInt64
    var rttSample: (sequence: TCPSequenceNumber, sentAt: UInt64)?

    // Congestion control (RFC 5681, RFC 6582).
    var congestionWindow = 0
    var slowStartThreshold = Int(Int32.max)
    var duplicateAcks = 0
    var recover = TCPSequenceNumber(0)
    var inFastRecovery = false
    var fastRetransmitPending = false
    /// A probe with new data owed after a retransmission timeout (`newDataProbe`).
    var pendingProbe: (sequence: TCPSequenceNumber, length: Int)?
    /// The end of the last probe sent one octet past SND.NXT (`newDataProbe`): the peer may
    /// acknowledge up to here once the octet in between arrives.
    var probedEdge: TCPSequenceNumber?

    /// A control segment (RST) owed to the peer, sent by the next poll.
    var pendingControl: TCPSegmentRepr?

    /// A closed connection with send and receive buffers of the given capacities.
    public init(configuration: TCPConfiguration = TCPConfiguration(), sendCapacity: Int, receiveCapacity: Int) {
        self.configuration = configuration
        tx = TCPRingBuffer(capacity: sendCapacity)
        rx = TCPRingBuffer(capacity: receiveCapacity)
        local = TCPEndpoint(address: .any, port: 0)
        remote = TCPEndpoint(address: .any, port: 0)
        rto = configuration.initialRTO
    }

    // MARK: - Observation

    /// Buffered received octets can be read.
    public var isReadable: Bool { !rx.isEmpty }
    /// `send` would accept at least one octet now.
    public var isWritable: Bool {
        (state == .established || state == .closeWait) && !finQueued && tx.freeSpace > 0
    }
    public var receiveQueueCount: Int { rx.count }
    /// Octets queued to send, unacknowledged ones included.
    public var sendQueueCount: Int { tx.count }
    public var sendCapacity: Int { tx.capacity }
    public var receiveCapacity: Int { rx.capacity }
    public var initialSendSequence: TCPSequenceNumber { iss }
    public var sendUnacknowledgedSequence: TCPSequenceNumber { sendUnacknowledged }
    public var sendNextSequence: TCPSequenceNumber { sendNext }
    public var receiveNextSequence: TCPSequenceNumber { receiveNext }
    /// The peer's window in octets (scaled).
    public var peerWindow: Int { sendWindow }
    public var effectiveSendMSS: Int { sendMSS }
    /// The most payload one segment handed to the device carries: the MSS, or with segmentation
    /// offload as many whole MSS as the device takes (the host cuts it into MSS-sized segments).
    public var sendBurst: Int {
        guard let limit = configuration.segmentationOffloadLimit,
              sendMSS >= configuration.segmentationMinimumMSS else { return sendMSS }
        return max(sendMSS, limit / sendMSS * sendMSS)
    }
    public var congestionWindowBytes: Int { congestionWindow }
    public var slowStartThresholdBytes: Int { slowStartThreshold }
    public var isInFastRecovery: Bool { inFastRecovery }
    public var retransmissionTimeout: UInt64 { rto }
    public var smoothedRoundTripTime: UInt64? { smoothedRTT }
    public var roundTripTimeVariance: UInt64 { rttVariance }
    public var windowScaleShifts: (send: Int, receive: Int)? {
        windowScalingEnabled ? (sendShift, receiveShift) : nil
    }

    // MARK: - User calls

    /// Active open: SYN-SENT; the SYN goes out at the next poll.
    public mutating func connect(local: TCPEndpoint, remote: TCPEndpoint, iss: TCPSequenceNumber, now: UInt64) {
        resetConnection()
        self.local = local
        self.remote = remote
        setInitialSequence(iss)
        passiveOpen = false
        state = .synSent
        _ = now
    }

    /// Passive open: LISTEN on `local`; `iss` is used for the SYN-ACK.
    public mutating func listen(local: TCPEndpoint, iss: TCPSequenceNumber) {
        resetConnection()
        self.local = local
        remote = TCPEndpoint(address: .any, port: 0)
        setInitialSequence(iss)
        passiveOpen = true
        state = .listen
    }

    /// Queues as many of `bytes` as fit in the send buffer; returns how many. Data queued in
    /// SYN-SENT or SYN-RECEIVED goes out once the connection is established.
    public mutating func send(_ bytes: UnsafeRawBufferPointer) -> Int {
        switch state {
        case .synSent, .synReceived, .established, .closeWait:
            guard !finQueued, !closeAfterHandshake else { return 0 }
            return tx.enqueue(bytes)
        default:
            return 0
        }
    }

    public mutating func send(_ bytes: [UInt8]) -> Int {
        bytes.withUnsafeBytes { send($0) }
    }

    /// Moves up to `buffer.count` received octets into `buffer`; returns how many.
    public mutating func receive(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        let count = rx.dequeue(into: buffer)
        // TIME-WAIT kept the buffer only for the data still unread: once read, give it back
        // (else up to `maximumTimeWait` of them stay allocated for 2 MSL each).
        if state == .timeWait && rx.isEmpty && rx.capacity > 0 { releaseReceiveBuffer() }
        return count
    }

    /// Hands the oldest received octets (at most `maximum`) to `body` in place, without a copy,
    /// and drops them; returns how many. 0 when nothing is buffered.
    public mutating func receive(maximum: Int, _ body: (UnsafeRawBufferPointer) -> Void) -> Int {
        let count = rx.dequeue(maximum: maximum, body)
        if state == .timeWait && rx.isEmpty && rx.capacity > 0 { releaseReceiveBuffer() }
        return count
    }

    /// Reads up to `maximum` received octets.
    public mutating func receive(maximum: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: max(0, min(maximum, rx.count)))
        let count = bytes.withUnsafeMutableBytes { receive(into: $0) }
        bytes.removeLast(bytes.count - count)
        return bytes
    }

    /// Orderly close: a FIN follows the queued data (RFC 9293 §3.10.4).
    public mutating func close() {
        switch state {
        case .closed:
            break
        case .listen, .synSent:
            enterClosed()
        case .synReceived:
            closeAfterHandshake = true
        case .established:
            finQueued = true
            state = .finWait1
        case .closeWait:
            finQueued = true
            state = .lastAck
        case .finWait1, .finWait2, .closing, .lastAck, .timeWait:
            break
        }
    }

    /// The application holds this connection no more. In FIN-WAIT-2 (our FIN acknowledged,
    /// the peer's not yet sent) it then ends, silently as Linux's orphans do, if the peer has
    /// not closed within `orphanFinWait2Timeout`; a half-closed connection the application
    /// still reads from waits as long as the peer likes.
    public mutating func orphan(now: UInt64) {
        guard state == .finWait2, finWait2DeadlineAt == nil, let timeout = configuration.orphanFinWait2Timeout else { return }
        finWait2DeadlineAt = now &+ timeout
    }

    /// Abort (RFC 9293 §3.10.5): a synchronized connection sends RST; everything queued is
    /// dropped and the connection is CLOSED at once.
    public mutating func abort() {
        switch state {
        case .synReceived, .established, .finWait1, .finWait2, .closeWait, .closing, .lastAck:
            pendingControl = segment(sequence: sendMax, flags: .rst, ack: false, window: 0)
        default:
            break
        }
        enterClosed()
        tx.clear()
    }

    // MARK: - Shared helpers

    mutating func setInitialSequence(_ iss: TCPSequenceNumber) {
        self.iss = iss
        sendUnacknowledged = iss
        sendNext = iss
        sendMax = iss
        recover = iss
    }

    /// Forgets everything about a previous connection (the buffers keep their capacity).
    mutating func resetConnection() {
        let configuration = self.configuration
        self = TCPConnection(configuration: configuration, sendCapacity: tx.capacity, receiveCapacity: rx.capacity)
    }

    /// CLOSED: stops every timer. Received data stays readable.
    mutating func enterClosed() {
        state = .closed
        retransmitAt = nil
        persistAt = nil
        keepAliveAt = nil
        timeWaitAt = nil
        finWait2DeadlineAt = nil
        delayedAckAt = nil
        ackNow = false
        fastRetransmitPending = false
        finQueued = false
        closeAfterHandshake = false
    }

    /// Back to LISTEN after a reset of a passively opened SYN-RECEIVED connection.
    mutating func returnToListen() {
        let local = self.local
        let iss = self.iss
        let pending = pendingControl
        listen(local: local, iss: iss)
        pendingControl = pending
    }

    mutating func enterTimeWait(now: UInt64) {
        state = .timeWait
        retransmitAt = nil
        persistAt = nil
        keepAliveAt = nil
        timeWaitAt = now &+ 2 &* configuration.maximumSegmentLifetime
        // Nothing more will be sent or accepted: give back the buffers (a server that closes
        // first holds a connection in TIME-WAIT per client for a minute). Unread data stays.
        tx = TCPRingBuffer(capacity: 0)
        if rx.isEmpty { releaseReceiveBuffer() }
        assembler = TCPAssembler()
        latestOutOfOrder = nil
        sackDue = false
    }

    /// What TIME-WAIT still needs of this connection (which must be in TIME-WAIT).
    public var timeWaitRemains: TCPTimeWait {
        TCPTimeWait(receiveNext: receiveNext, sendNext: sendMax, window: UInt32(clamping: receiveWindow),
                    receiveShift: UInt8(receiveShift), expiresAt: timeWaitAt ?? 0)
    }

    /// A connection in TIME-WAIT rebuilt from its remains, to process a segment that arrives
    /// for it (and send what that calls for); its buffers are empty.
    public init(timeWait remains: TCPTimeWait, local: TCPEndpoint, remote: TCPEndpoint, configuration: TCPConfiguration) {
        self.init(configuration: configuration, sendCapacity: 0, receiveCapacity: 0)
        self.local = local
        self.remote = remote
        setInitialSequence(remains.sendNext)
        receiveNext = remains.receiveNext
        releasedWindow = Int(remains.window)
        receiveShift = Int(remains.receiveShift)
        advertisedEdge = receiveNext + Int(remains.window)
        receivedFIN = true
        timeWaitAt = remains.expiresAt
        state = .timeWait
    }

    private mutating func releaseReceiveBuffer() {
        releasedWindow = rx.freeSpace  // still announced in the ACKs TIME-WAIT sends
        rx = TCPRingBuffer(capacity: 0)
    }

    /// Called when the handshake completes in either direction.
    mutating func enterEstablished(now: UInt64) {
        state = .established
        retransmissions = 0
        if let interval = configuration.keepAliveInterval { keepAliveAt = now &+ interval }
        if closeAfterHandshake {
            closeAfterHandshake = false
            finQueued = true
            state = .finWait1
        }
    }

    /// The shift we offer: the smallest that lets the 16-bit field cover the buffer.
    var offeredShift: Int {
        var shift = 0
        while shift < 14 && rx.capacity >> shift > 0xFFFF { shift += 1 }
        return shift
    }

    /// Adopts the peer's SYN options (MSS, window scale) and sets the initial window.
    mutating func negotiate(_ options: TCPOptions, weOfferedScale: Bool) {
        let peerMSS = options.maximumSegmentSize.map { Int($0) } ?? TCPConfiguration.defaultPeerMSS
        sendMSS = max(1, min(peerMSS, configuration.maximumSegmentSize))
        sackEnabled = configuration.selectiveAcknowledgments && options.sackPermitted
        if weOfferedScale, let shift = options.windowScale {
            windowScalingEnabled = true
            sendShift = min(Int(shift), 14)
            receiveShift = offeredShift
        } else {
            windowScalingEnabled = false
            sendShift = 0
            receiveShift = 0
        }
        // RFC 5681 §3.1 initial window.
        if sendMSS > 2190 {
            congestionWindow = 2 * sendMSS
        } else if sendMSS > 1095 {
            congestionWindow = 3 * sendMSS
        } else {
            congestionWindow = 4 * sendMSS
        }
        slowStartThreshold = Int(Int32.max)
    }

    /// The window field for an outgoing segment. SYN windows are never scaled (RFC 7323), but
    /// ours is announced as if it were (free >> the shift we offer): a peer that applies the
    /// scale to a retransmitted SYN-ACK (passt 2023-03 does) then still stays within the buffer.
    func windowField(syn: Bool) -> UInt16 {
        let free = receiveWindow
        return UInt16(min(free >> (syn ? synShift : receiveShift), 0xFFFF))
    }

    /// The shift a SYN of ours offers (0 when it offers none).
    var synShift: Int {
        switch state {
        case .synSent: configuration.windowScaling ? offeredShift : 0
        default: windowScalingEnabled ? receiveShift : 0
        }
    }

    /// The window that field announces, in octets.
    func announcedWindow(syn: Bool) -> Int {
        syn ? Int(windowField(syn: true)) : Int(windowField(syn: false)) << receiveShift
    }

    /// Room in the receive buffer: RCV.WND.
    var receiveWindow: Int { releasedWindow ?? rx.freeSpace }

    /// A segment from us to the peer.
    func segment(sequence: TCPSequenceNumber, flags: TCPFlags, ack: Bool, window: UInt16,
                 options: TCPOptions = .none) -> TCPSegmentRepr {
        TCPSegmentRepr(sourcePort: local.port, destinationPort: remote.port, sequenceNumber: sequence,
                       acknowledgmentNumber: ack ? receiveNext : TCPSequenceNumber(0),
                       flags: ack ? flags.union(.ack) : flags, window: window, options: options)
    }

    /// The out-of-order data we hold, as SACK blocks: the block with the latest segment
    /// first, then the others in sequence order, as many as fit (RFC 2018 §4). Empty without
    /// SACK or holes.
    var sackBlocks: TCPSACKBlocks {
        var blocks = TCPSACKBlocks()
        guard sackEnabled, !assembler.isEmpty else { return blocks }
        let latest = latestOutOfOrder.map { $0 - receiveNext } ?? -1
        let ranges = assembler.ranges
        func block(_ range: TCPAssembler.Range) -> TCPSACKBlock {
            TCPSACKBlock(start: receiveNext + range.start, end: receiveNext + range.end)
        }
        let first = ranges.firstIndex { $0.start <= latest && latest < $0.end }
        if let first { blocks.append(block(ranges[first])) }
        for index in ranges.indices where index != first {
            guard blocks.append(block(ranges[index])) else { break }
        }
        return blocks
    }

    /// States in which queued data (and our FIN) may be (re)transmitted.
    var isDataState: Bool {
        switch state {
        case .established, .closeWait, .finWait1, .closing, .lastAck: true
        default: false
        }
    }
}

/// A connection in TIME-WAIT as the stack keeps it: just what RFC 9293 §3.10.7.4 needs to
/// acknowledge a retransmitted FIN, restart the 2 MSL wait, and tell an old duplicate from a
/// new SYN. A few dozen bytes where the whole connection is several hundred: a server that
/// closes first keeps one per client for a minute (up to `TCPSettings.maximumTimeWait`), and
/// that table must not weigh on the heap more when clients come faster (Linux keeps small
/// timewait sockets for the same reason). The endpoints are the table's key.
public struct TCPTimeWait: Sendable, Equatable {
    /// RCV.NXT (past the peer's FIN) and SND.NXT (past ours).
    public let receiveNext: TCPSequenceNumber
    public let sendNext: TCPSequenceNumber
    /// The window our ACKs announce, in octets, and the shift that scales it.
    let window: UInt32
    let receiveShift: UInt8
    /// When the 2 MSL wait ends.
    public let expiresAt: UInt64
}
