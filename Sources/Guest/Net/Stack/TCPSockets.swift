// TCP on the stack: listeners with bounded accept and half-open queues, streams demultiplexed
// by their endpoints, and fixed per-connection buffers with a cap on connections, so memory
// stays bounded.
//
// Overflow loses nothing a well-behaved client sends (as Linux): when the accept queue is full
// a SYN is dropped, and so is the ACK that would complete a handshake (the connection stays in
// SYN-RECEIVED; the client's retransmission or our SYN-ACK's completes it later). When the
// half-open queue or the connection cap is full, a new SYN replaces the oldest half-open
// connection only if that one has left our SYN-ACK unanswered for an initial RTO (a SYN
// flood's entries; a real client answers within a round trip); otherwise the SYN is dropped
// and the client retransmits it.
//
// A turn polls only the connections with work: those a segment arrived for, those the
// application wrote to, read from, closed or aborted (`TCPWorkList`), and those whose timer is
// due (`TCPLayer.timers`). An idle connection costs a turn nothing. The application can do
// the same: the streams a segment or a timer touched are marked in their `TCPReadySet`.

public struct TCPSettings: Sendable {
    public static let defaultSendBuffer = 32 * 1024
    /// 128 KiB: the window we announce must stay above a host sender's largest segment. Behind
    /// passt, a loopback client sends 64 KiB segments, and passt clamps the client's window to
    /// ours; Linux does not split a segment to fit a smaller window, so below 64 KiB it sends
    /// one window per zero-window-probe timeout (~200 ms): 32 KiB windows gave 160 KB/s.
    public static let defaultReceiveBuffer = 128 * 1024
    public var sendBuffer = TCPSettings.defaultSendBuffer
    public var receiveBuffer = TCPSettings.defaultReceiveBuffer
    /// Connections that hold buffers (every state but TIME-WAIT); SYNs beyond are dropped.
    public var maximumConnections = 1024
    /// Connections kept in TIME-WAIT (as `TCPTimeWait` records); past this the oldest are
    /// forgotten, as Linux does past `tcp_max_tw_buckets`.
    public var maximumTimeWait = 2048
    /// Largest accept and half-open queue a listener may ask for (Linux's somaxconn, 4096).
    /// The guest lowers it to `maximumConnections`: a queued connection holds buffers too.
    public var maximumBacklog = 4096
    /// Whether the heap can give one more connection its buffers now (nil: assume so). The
    /// cap above is computed once; fragmentation and everything else the guest allocates can
    /// leave less room than it assumes, and a SYN must be dropped then, not crash the guest.
    public var heapHasRoomForConnection: (@Sendable () -> Bool)?
    public var connection: TCPConfiguration

    public init(mtu: Int = 1500) {
        connection = TCPConfiguration(mtu: mtu)
        // Like nginx's tcp_nodelay: servers answer in pieces, and Nagle holding the last piece
        // for the peer's delayed ACK costs a 40 ms stall per response.
        connection.nagle = false
    }

    /// Caps the connections so that all their buffers (allocated whole when a connection
    /// opens) fit in `bytes`, and the listen queues likewise (a queued connection holds
    /// buffers too). A flood of connections then meets dropped SYNs, not an exhausted heap.
    public mutating func fitBuffers(in bytes: Int) {
        maximumConnections = max(4, min(maximumConnections, bytes / (sendBuffer + receiveBuffer)))
        maximumBacklog = min(maximumBacklog, maximumConnections)
    }
}

/// One TCP connection as the application sees it.
public final class TCPStream {
    var connection: TCPConnection
    /// Its key in the stack's table.
    let key: TCPFourTuple
    /// In the stack's table (`TCPLayer.add`), until it leaves for good (`TCPLayer.remove`): a poll
    /// asks this instead of hashing the key to see whether the table still holds this stream.
    var isInTable = false
    /// When its SYN arrived (passive opens), for the half-open queue's eviction rule.
    var openedAt: UInt64 = 0
    /// Where it asks to be polled when the application calls it.
    private let work: TCPWorkList
    /// In `work`, waiting for the next poll.
    var hasWork = false
    /// Its connection's `pollAt` when it was last polled: when it next needs a poll.
    var dueAt: UInt64?
    /// The deadline of its live entry in the stack's timers, never later than `dueAt`. A
    /// deadline that moves later (each answer moves the retransmission timer) leaves the entry
    /// in place; it is refiled at `dueAt` when it comes to the front.
    var timerAt: UInt64?
    /// Where TCP marks the stream when a segment arrives for it or a timer fires (nil: nowhere).
    public var readySet: TCPReadySet?
    /// In `readySet`, not yet taken.
    var isMarkedReady = false
    /// Where the application keeps what it knows of this stream in a table of its own (the
    /// HTTP server: its session's slot), so that a stream from `readySet` leads there without
    /// a lookup. TCP never reads it.
    public var slot: Int?

    init(_ connection: TCPConnection, key: TCPFourTuple, work: TCPWorkList) {
        self.connection = connection
        self.key = key
        self.work = work
    }

    /// Asks for a poll at the next turn (once, however often it is asked).
    func noteWork() {
        guard !hasWork else { return }
        hasWork = true
        work.streams.append(self)
    }

    public var state: TCPState { connection.state }
    public var local: TCPEndpoint { connection.local }
    public var remote: TCPEndpoint { connection.remote }
    public var error: TCPConnectionError? { connection.error }
    /// Buffered bytes can be read.
    public var isReadable: Bool { connection.isReadable }
    /// The send buffer has room.
    public var isWritable: Bool { connection.isWritable }
    /// The peer closed its side and everything it sent has been read.
    public var isAtEnd: Bool { connection.receivedFIN && !connection.isReadable }
    public var isClosed: Bool { connection.state == .closed }

    // Reading may reopen the window (a window update is due) and writing queues data: either
    // way the connection has work.

    /// Copies up to `buffer.count` received bytes out; 0 when nothing is buffered.
    public func read(into buffer: UnsafeMutableRawBufferPointer) -> Int { noting(connection.receive(into: buffer)) }
    public func read(maximum: Int = 65536) -> [UInt8] {
        let bytes = connection.receive(maximum: maximum)
        if !bytes.isEmpty { noteWork() }
        return bytes
    }
    /// Hands up to `maximum` received bytes to `body` where they lie (no copy), then drops
    /// them; returns how many, 0 when nothing is buffered. `body` must not use this stream.
    public func read(maximum: Int, _ body: (UnsafeRawBufferPointer) -> Void) -> Int {
        noting(connection.receive(maximum: maximum, body))
    }
    /// Queues bytes for sending; returns how many fit in the send buffer.
    public func write(_ bytes: UnsafeRawBufferPointer) -> Int { noting(connection.send(bytes)) }
    public func write(_ bytes: [UInt8]) -> Int { noting(connection.send(bytes)) }
    /// Sends FIN after the queued data.
    public func close() {
        connection.close()
        noteWork()
    }
    /// Sends RST and forgets the connection.
    public func abort() {
        connection.abort()
        noteWork()
    }

    private func noting(_ count: Int) -> Int {
        if count > 0 { noteWork() }
        return count
    }
}

/// The connections to poll at the next turn, shared by the stack and its streams.
final class TCPWorkList {
    var streams: [TCPStream] = []
}

/// Streams whose state may have changed for their application since it last looked: a
/// segment arrived for them (data, a FIN, an acknowledgment that frees send space, a reset) or
/// one of their timers fired (which may have closed them). What the application does itself
/// (read, write, close) marks nothing. An application that gives its streams one set
/// (`TCPStream.readySet`) visits only those, not every stream it holds.
public final class TCPReadySet {
    private var marked: [TCPStream] = []
    /// The list being taken, swapped with `marked` so that neither is allocated anew each time.
    private var taking: [TCPStream] = []

    public init() {}

    public var isEmpty: Bool { marked.isEmpty }

    /// Adds `stream` (once, however often it is marked) for the next `take`.
    public func mark(_ stream: TCPStream) {
        guard !stream.isMarkedReady else { return }
        stream.isMarkedReady = true
        marked.append(stream)
    }

    /// Hands each stream marked since the last call to `body`, in the order marked, and unmarks
    /// it first: a stream `body` marks again comes back at the next call.
    public func take(_ body: (TCPStream) -> Void) {
        swap(&marked, &taking)
        for stream in taking {
            stream.isMarkedReady = false
            body(stream)
        }
        taking.removeAll(keepingCapacity: true)
    }
}

public final class TCPListener {
    public let port: UInt16
    /// Bound of each queue: connections in SYN-RECEIVED, and established ones not yet accepted.
    public let backlog: Int
    /// SYN-RECEIVED, oldest first.
    var halfOpen: [TCPStream] = []
    /// Established, waiting for `accept()`.
    var ready: [TCPStream] = []
    /// Half-open connections dropped to make room for new SYNs (a SYN flood's footprint).
    public internal(set) var evictedHalfOpen = 0
    /// SYNs dropped because the queues (or the connection cap) were full and no half-open
    /// connection was old enough to evict: the client retransmits.
    public internal(set) var droppedSyns = 0
    /// SYNs and handshake-completing ACKs dropped because the accept queue was full (Linux's
    /// ListenOverflows): the client retransmits.
    public internal(set) var acceptQueueOverflows = 0

    init(port: UInt16, backlog: Int) {
        self.port = port
        self.backlog = backlog
    }

    /// The next established connection, if any.
    public func accept() -> TCPStream? {
        ready.isEmpty ? nil : ready.removeFirst()
    }

    public var hasPendingConnection: Bool { !ready.isEmpty }

    var isAcceptQueueFull: Bool { ready.count >= backlog }
}

/// What tells the stack's connections apart (the local address is the stack's one): the local
/// port, the peer's address and port, packed into one word as the tables' key.
struct TCPFourTuple: TableKey, Equatable {
    let word: UInt64

    init(word: UInt64) { self.word = word }

    init(localPort: UInt16, remoteAddress: IPv4Address, remotePort: UInt16) {
        word = UInt64(localPort) << 48 | UInt64(remotePort) << 32 | UInt64(remoteAddress.value)
    }

    var localPort: UInt16 { UInt16(truncatingIfNeeded: word >> 48) }
    var remotePort: UInt16 { UInt16(truncatingIfNeeded: word >> 32) }
    var remoteAddress: IPv4Address { IPv4Address(UInt32(truncatingIfNeeded: word)) }
}

struct TCPLayer {
    var settings: TCPSettings
    var listeners: KeyedTable<UInt16, TCPListener>
    /// Connections in every state but TIME-WAIT: these hold buffers.
    var streams: KeyedTable<TCPFourTuple, TCPStream>
    /// Connections to poll: a segment arrived for them, or the application called them.
    let work = TCPWorkList()
    /// The list being polled, swapped with `work`'s so that neither is allocated anew each turn.
    var polling: [TCPStream] = []
    /// Each connection's next timer (`TCPStream.timerAt`), earliest first. An entry whose
    /// connection has since filed an earlier one or gone is stale, and skipped; a live one
    /// whose connection's `dueAt` moved later is refiled there when it comes to the front.
    var timers = KeyTimers<TCPFourTuple>()
    /// Connections in FIN-WAIT-2 without a deadline: checked each turn for the application
    /// letting go of them (`orphanReleased`).
    var lingering: KeySet
    /// Connections in TIME-WAIT: a small record each, not polled, only looked up when a
    /// segment arrives; expired oldest first from `timeWaitOrder`. The application's stream
    /// is CLOSED from the moment its connection moves here (as Linux's socket is).
    var timeWait: KeyedTable<TCPFourTuple, TCPTimeWait>
    /// Each connection that entered TIME-WAIT, at the end of its 2 MSL then: oldest first (the
    /// wait is as long for all). An entry whose connection has left the table is skipped.
    var timeWaitOrder = KeyTimers<TCPFourTuple>()
    var resetsSent = 0
    /// Connection polls so far: what a turn costs grows with the connections that have work,
    /// not with those open.
    var connectionsPolled = 0
    var refusedForCapacity = 0
    /// SYNs dropped because the heap could not have held the connection's buffers.
    var refusedForMemory = 0
    var timeWaitForgotten = 0

    /// `hasher` places the keys of its tables (connections, listeners) in their slots.
    init(settings: TCPSettings, hasher: SipHash13) {
        self.settings = settings
        listeners = KeyedTable(hasher: hasher)
        streams = KeyedTable(hasher: hasher)
        lingering = KeySet(hasher: hasher)
        timeWait = KeyedTable(hasher: hasher)
    }

    mutating func add(_ stream: TCPStream) {
        streams[stream.key] = stream
        stream.isInTable = true
    }

    mutating func remove(_ stream: TCPStream) {
        streams[stream.key] = nil
        stream.isInTable = false
    }

    var connectionCount: Int { streams.count + timeWait.count }
    var activeConnectionCount: Int { streams.count }
    var timeWaitCount: Int { timeWait.count }

    /// Hands a connection that reached TIME-WAIT over to the table; the stream keeps only
    /// what the application has not read yet.
    mutating func enterTimeWait(_ key: TCPFourTuple, _ stream: TCPStream) {
        let remains = stream.connection.timeWaitRemains
        timeWait[key] = remains
        timeWaitOrder.insert(key, deadline: remains.expiresAt)
        stream.connection.enterClosed()
    }

    /// Forgets TIME-WAIT connections whose 2 MSL ran out, and the oldest beyond the limit.
    mutating func expireTimeWait(now: UInt64) {
        while let oldest = timeWaitOrder.next {
            if let remains = timeWait[oldest.key] {
                let expired = remains.expiresAt <= now
                let overLimit = timeWait.count > settings.maximumTimeWait
                guard expired || overLimit else { break }
                if !expired { timeWaitForgotten += 1 }
                timeWait[oldest.key] = nil
            }
            _ = timeWaitOrder.popDue(at: oldest.deadline)
        }
    }

    /// When the oldest TIME-WAIT connection expires.
    var timeWaitPollAt: UInt64? {
        guard let oldest = timeWaitOrder.next else { return nil }
        return timeWait[oldest.key]?.expiresAt ?? 0
    }
}

extension NetworkStack {
    /// TCP connections that hold buffers (every state but TIME-WAIT, listeners' queues
    /// included), and those in TIME-WAIT: what a soak watches to tell a leak from load.
    public var tcpConnectionCounts: (active: Int, timeWait: Int) {
        (tcp.activeConnectionCount, tcp.timeWaitCount)
    }

    // MARK: Application side

    public func listenTCP(port: UInt16, backlog: Int = 64) throws(SocketError) -> TCPListener {
        guard tcp.listeners[port] == nil else { throw .portInUse }
        let listener = TCPListener(port: port, backlog: min(max(backlog, 1), max(tcp.settings.maximumBacklog, 1)))
        tcp.listeners[port] = listener
        return listener
    }

    public func closeListener(_ listener: TCPListener) {
        tcp.listeners[listener.port] = nil
        for stream in listener.halfOpen + listener.ready { stream.abort() }
    }

    /// Opens a connection to `remote`; poll the stack and watch `state` for `.established`.
    public func connectTCP(to remote: TCPEndpoint, now: UInt64) throws(SocketError) -> TCPStream {
        guard let address else { throw .noAddress }
        guard tcp.activeConnectionCount < tcp.settings.maximumConnections else { throw .tooManyConnections }
        var port: UInt16 = 0
        for _ in 0..<64 {
            let candidate = random.ephemeralPort()
            let key = TCPFourTuple(localPort: candidate, remoteAddress: remote.address, remotePort: remote.port)
            if tcp.streams[key] == nil && tcp.timeWait[key] == nil {
                port = candidate
                break
            }
        }
        guard port != 0 else { throw .portInUse }
        var connection = TCPConnection(configuration: tcp.settings.connection,
                                       sendCapacity: tcp.settings.sendBuffer, receiveCapacity: tcp.settings.receiveBuffer)
        connection.connect(local: TCPEndpoint(address: address, port: port), remote: remote,
                           iss: random.initialSequenceNumber(), now: now)
        let key = TCPFourTuple(localPort: port, remoteAddress: remote.address, remotePort: remote.port)
        let stream = TCPStream(connection, key: key, work: tcp.work)
        tcp.add(stream)
        stream.noteWork()  // the SYN
        return stream
    }

    // MARK: Input

    func receiveTCP(_ packet: IPv4Packet, ip: IPv4Repr, checksumTrusted: Bool = false, now: UInt64) {
        guard let (segment, payload) = try? TCPSegmentRepr.parse(packet.payload, source: ip.source, destination: ip.destination,
                                                                 verifyChecksum: !checksumTrusted) else {
            statistics.malformed += 1
            return
        }
        let key = TCPFourTuple(localPort: segment.destinationPort, remoteAddress: ip.source, remotePort: segment.sourcePort)
        let opening = segment.flags.contains(.syn) && !segment.flags.contains(.ack) && !segment.flags.contains(.rst)
        if let stream = tcp.streams[key] {
            if stream.connection.state == .synReceived && stream.connection.passiveOpen,
               let listener = tcp.listeners[key.localPort] {
                receiveHalfOpen(stream, listener, segment, payload: payload, now: now, from: ip.source)
            } else {
                stream.connection.process(segment, payload: payload, now: now, from: ip.source)
            }
            stream.noteWork()
            stream.readySet?.mark(stream)
            return
        }
        if let remains = tcp.timeWait[key] {
            // RFC 1122 §4.2.2.13: a SYN beyond what the old connection used may start a new
            // one on a pair still in TIME-WAIT (clients reuse ports faster than 2 MSL).
            let reopens = opening && remains.receiveNext < segment.sequenceNumber
                && tcp.listeners[segment.destinationPort] != nil
            if !reopens {
                var connection = TCPConnection(timeWait: remains, local: TCPEndpoint(address: ip.destination, port: key.localPort),
                                               remote: TCPEndpoint(address: ip.source, port: key.remotePort),
                                               configuration: tcp.settings.connection)
                connection.process(segment, payload: payload, now: now, from: ip.source)
                transmitDue(&connection, now: now)
                // A retransmitted FIN restarts the wait (its place in the expiry order stays).
                tcp.timeWait[key] = connection.state == .timeWait ? connection.timeWaitRemains : nil
                return
            }
            tcp.timeWait[key] = nil
        }
        if opening, let listener = tcp.listeners[segment.destinationPort], let address {
            guard makeRoomForSYN(listener, now: now) else { return }  // silently: the client retransmits
            var connection = TCPConnection(configuration: tcp.settings.connection,
                                           sendCapacity: tcp.settings.sendBuffer, receiveCapacity: tcp.settings.receiveBuffer)
            connection.listen(local: TCPEndpoint(address: address, port: segment.destinationPort), iss: random.initialSequenceNumber())
            connection.process(segment, payload: payload, now: now, from: ip.source)
            let stream = TCPStream(connection, key: key, work: tcp.work)
            stream.openedAt = now
            tcp.add(stream)
            stream.noteWork()
            listener.halfOpen.append(stream)
            return
        }
        // A segment for no connection gets a reset the sender accepts (RFC 9293 §3.10.7.1).
        if let reset = TCPSegmentRepr.reset(answering: segment, payloadCount: payload.count) {
            tcp.resetsSent += 1
            transmitTCP(reset, payload: .empty, to: ip.source, now: now)
        }
    }

    /// Whether a new SYN for `listener` may have a connection (evicting a stale half-open one
    /// if that is what it takes).
    private func makeRoomForSYN(_ listener: TCPListener, now: UInt64) -> Bool {
        if listener.isAcceptQueueFull {
            listener.acceptQueueOverflows += 1
            return false
        }
        if let heapHasRoom = tcp.settings.heapHasRoomForConnection, !heapHasRoom() {
            tcp.refusedForMemory += 1
            listener.droppedSyns += 1
            return false
        }
        let atCap = tcp.activeConnectionCount >= tcp.settings.maximumConnections
        guard atCap || listener.halfOpen.count >= listener.backlog else { return true }
        // A real client answers our SYN-ACK within a round trip; one that has not within the
        // initial RTO (when the SYN-ACK goes out again) is most likely a flood's spoofed SYN.
        guard let oldest = listener.halfOpen.first,
              now &- oldest.openedAt >= tcp.settings.connection.initialRTO else {
            if atCap { tcp.refusedForCapacity += 1 }
            listener.droppedSyns += 1
            return false
        }
        listener.halfOpen.removeFirst()
        listener.evictedHalfOpen += 1
        forget(oldest)
        return true
    }

    /// A segment for a passively opened connection in SYN-RECEIVED. The ACK that would complete
    /// the handshake is dropped while the accept queue is full; once it completes, the
    /// connection moves to the accept queue at once (so only SYN-RECEIVED ones are ever evicted).
    private func receiveHalfOpen(_ stream: TCPStream, _ listener: TCPListener, _ segment: TCPSegmentRepr,
                                 payload: UnsafeRawBufferPointer, now: UInt64, from source: IPv4Address) {
        let flags = segment.flags
        if listener.isAcceptQueueFull && flags.contains(.ack) && !flags.contains(.rst) && !flags.contains(.syn) {
            listener.acceptQueueOverflows += 1
            return
        }
        stream.connection.process(segment, payload: payload, now: now, from: source)
        switch stream.connection.state {
        case .synReceived:
            return
        case .listen, .closed:
            // Reset by the client (back to LISTEN, RFC 9293 §3.10.7.4): nothing left to accept.
            listener.halfOpen.removeAll { $0 === stream }
            stream.connection.enterClosed()
            tcp.remove(stream)
        default:
            listener.halfOpen.removeAll { $0 === stream }
            listener.ready.append(stream)
        }
    }

    // MARK: Timers and output

    /// Polls the connections with work: input, calls from the application, a due timer.
    func pollTCP(now: UInt64) {
        orphanReleased(now: now)
        while let due = tcp.timers.next, due.deadline <= now {
            _ = tcp.timers.popDue(at: now)
            guard let stream = tcp.streams[due.key], stream.timerAt == due.deadline else { continue }
            stream.timerAt = nil
            guard let dueAt = stream.dueAt else { continue }  // the timer was stopped
            guard dueAt <= now else {
                fileTimer(stream, at: dueAt)  // it moved later
                continue
            }
            stream.noteWork()
            stream.readySet?.mark(stream)
        }
        let work = tcp.work
        swap(&tcp.polling, &work.streams)
        for stream in tcp.polling {
            stream.hasWork = false
            // A stream the table no longer holds (closed, or in TIME-WAIT) has nothing to send.
            if stream.isInTable { poll(stream, now: now) }
        }
        tcp.polling.removeAll(keepingCapacity: true)
        tcp.expireTimeWait(now: now)
    }

    private func poll(_ stream: TCPStream, now: UInt64) {
        tcp.connectionsPolled += 1
        let key = stream.key
        transmitDue(&stream.connection, now: now)
        switch stream.connection.state {
        case .closed:
            tcp.remove(stream)
            removeFromListeners(stream)
            return
        case .timeWait:
            tcp.remove(stream)
            tcp.enterTimeWait(key, stream)
            return
        case .finWait2 where stream.connection.finWait2DeadlineAt == nil:
            tcp.lingering.insert(key.word)
        default:
            break
        }
        let at = stream.connection.pollAt()
        stream.dueAt = at
        // A live entry no later than `at` stays (refiled when it comes to the front): an
        // answer that moves the retransmission deadline later costs the heap nothing.
        guard let at, stream.timerAt.map({ at < $0 }) ?? true else { return }
        fileTimer(stream, at: at)
    }

    private func fileTimer(_ stream: TCPStream, at deadline: UInt64) {
        stream.timerAt = deadline
        tcp.timers.insert(stream.key, deadline: deadline)
        // Stale entries (timers moved earlier before they came due) are dropped once they outnumber the live ones.
        if tcp.timers.count > 2 * tcp.streams.count + 64 {
            var timers = KeyTimers<TCPFourTuple>()
            for (key, stream) in tcp.streams { if let at = stream.timerAt { timers.insert(key, deadline: at) } }
            tcp.timers = timers
        }
    }

    /// Lingering connections (FIN-WAIT-2, no deadline) that only the stack still holds: the
    /// application let go after closing, so they end if the peer never closes (`orphan`).
    private func orphanReleased(now: UInt64) {
        guard !tcp.lingering.isEmpty else { return }
        for word in tcp.lingering {
            let key = TCPFourTuple(word: word)
            let lingers = tcp.streams[key].map { $0.connection.state == .finWait2 && $0.connection.finWait2DeadlineAt == nil }
            guard lingers == true else { tcp.lingering.remove(word); continue }
            // Held by the table alone: not by the application (nor by this turn's work list).
            guard tcp.streams.holdsOnlyReference(forKey: key) else { continue }
            tcp.lingering.remove(word)
            tcp.streams[key]!.connection.orphan(now: now)
            tcp.streams[key]!.noteWork()  // polled below, which sets its timer for the deadline
        }
    }

    func tcpPollAt() -> UInt64? {
        if !tcp.work.streams.isEmpty { return 0 }
        // Stale entries at the front, and live ones whose connection's deadline moved, would
        // wake the loop for nothing: the first are dropped, the others refiled.
        while let next = tcp.timers.next {
            guard let stream = tcp.streams[next.key], stream.timerAt == next.deadline else {
                _ = tcp.timers.popDue(at: next.deadline)  // stale
                continue
            }
            guard let dueAt = stream.dueAt else {
                _ = tcp.timers.popDue(at: next.deadline)  // the timer was stopped
                stream.timerAt = nil
                continue
            }
            if dueAt == next.deadline { break }
            stream.timerAt = dueAt
            tcp.timers.refileNext(at: dueAt)
        }
        return earliest(tcp.timeWaitPollAt, tcp.timers.next?.deadline)
    }

    /// Sends what `connection` has due. The only call of `TCPConnection.poll`: the optimizer
    /// specializes `poll` for each closure it is given, and each copy is ~6 KB of code.
    private func transmitDue(_ connection: inout TCPConnection, now: UInt64) {
        let remote = connection.remote.address
        let segmentSize = connection.effectiveSendMSS
        // Unretained: the stack outlives the call. Captured strongly, it was retained for every
        // call site of `emit` in `poll` and released after it (ten pairs per poll, two polls per
        // request), and the closure's context kept `poll` from being inlined here.
        unowned(unsafe) let stack = self
        connection.poll(now: now) { segment, payload in
            stack.transmitTCP(segment, payload: payload, to: remote, segmentSize: segmentSize, now: now)
        }
    }

    /// Sends a segment. With offload the device completes the checksum and cuts a payload
    /// longer than `segmentSize` (the connection's MSS) into segments of that size; a segment
    /// that must wait for ARP is cut here instead, since the ARP queue holds plain packets.
    private func transmitTCP(_ segment: TCPSegmentRepr, payload: TCPPayload, to remote: IPv4Address,
                             segmentSize: Int = 0, now: UInt64) {
        guard let source = address else { return }
        let length = segment.headerLength + payload.count
        guard device.segmentationLimit > 0, resolves(remote, now: now) else {
            guard segmentSize > 0, payload.count > segmentSize else {
                sendIPv4(to: remote, proto: .tcp, payloadLength: length, now: now) { buffer in
                    _ = try? segment.emit(into: buffer, payload: payload, source: source, destination: remote)
                }
                return
            }
            var offset = 0
            while offset < payload.count {
                let end = min(offset + segmentSize, payload.count)
                var piece = segment
                piece.sequenceNumber = segment.sequenceNumber + offset
                if end < payload.count { piece.flags.remove(.finPush) }
                transmitTCP(piece, payload: payload.slice(offset..<end), to: remote, now: now)
                offset = end
            }
            return
        }
        let ipHeader = EthernetFrame.headerLength + IPv4Repr.headerLength
        let offload = TransmitOffload(checksumStart: ipHeader, checksumOffset: TCPField.checksum,
                                      segmentSize: payload.count > segmentSize && segmentSize > 0 ? segmentSize : 0,
                                      headerLength: ipHeader + segment.headerLength)
        sendIPv4(to: remote, proto: .tcp, payloadLength: length, now: now, offload: offload) { buffer in
            _ = try? segment.emit(into: buffer, payload: payload, source: source, destination: remote, partialChecksum: true)
        }
    }

    private func forget(_ stream: TCPStream) {
        stream.connection.abort()
        tcp.remove(stream)
    }

    private func removeFromListeners(_ stream: TCPStream) {
        guard let listener = tcp.listeners[stream.local.port] else { return }
        listener.halfOpen.removeAll { $0 === stream }
        listener.ready.removeAll { $0 === stream }
    }
}
