// TCP on the stack: listeners with bounded accept and half-open queues (SYN floods evict the
// oldest half-open connection instead of growing), streams demultiplexed by their endpoints,
// and fixed per-connection buffers with a cap on connections, so memory stays bounded.

public struct TCPSettings: Sendable {
    public var sendBuffer = 32 * 1024
    public var receiveBuffer = 32 * 1024
    /// Connections that hold buffers (every state but TIME-WAIT); SYNs beyond are dropped.
    public var maximumConnections = 1024
    /// Connections kept in TIME-WAIT (without buffers); past this the oldest are forgotten,
    /// as Linux does past `tcp_max_tw_buckets`.
    public var maximumTimeWait = 2048
    public var connection: TCPConfiguration

    public init(mtu: Int = 1500) {
        connection = TCPConfiguration(mtu: mtu)
        // Like nginx's tcp_nodelay: servers answer in pieces, and Nagle holding the last piece
        // for the peer's delayed ACK costs a 40 ms stall per response.
        connection.nagle = false
    }
}

/// One TCP connection as the application sees it.
public final class TCPStream {
    var connection: TCPConnection

    init(_ connection: TCPConnection) { self.connection = connection }

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

    /// Copies up to `buffer.count` received bytes out; 0 when nothing is buffered.
    public func read(into buffer: UnsafeMutableRawBufferPointer) -> Int { connection.receive(into: buffer) }
    public func read(maximum: Int = 65536) -> [UInt8] { connection.receive(maximum: maximum) }
    /// Queues bytes for sending; returns how many fit in the send buffer.
    public func write(_ bytes: UnsafeRawBufferPointer) -> Int { connection.send(bytes) }
    public func write(_ bytes: [UInt8]) -> Int { connection.send(bytes) }
    /// Sends FIN after the queued data.
    public func close() { connection.close() }
    /// Sends RST and forgets the connection.
    public func abort() { connection.abort() }
}

public final class TCPListener {
    public let port: UInt16
    public let backlog: Int
    var halfOpen: [TCPStream] = []
    var ready: [TCPStream] = []
    /// Half-open connections dropped to make room for new SYNs (a SYN flood's footprint).
    public internal(set) var evictedHalfOpen = 0

    init(port: UInt16, backlog: Int) {
        self.port = port
        self.backlog = backlog
    }

    /// The next established connection, if any.
    public func accept() -> TCPStream? {
        ready.isEmpty ? nil : ready.removeFirst()
    }

    public var hasPendingConnection: Bool { !ready.isEmpty }
}

struct TCPFourTuple: Hashable {
    var localPort: UInt16
    var remoteAddress: IPv4Address
    var remotePort: UInt16
}

struct TCPLayer {
    var settings: TCPSettings
    var listeners: [UInt16: TCPListener] = [:]
    /// Connections in every state but TIME-WAIT: these hold buffers and are polled each turn.
    var streams: [TCPFourTuple: TCPStream] = [:]
    /// Connections in TIME-WAIT: no buffers, not polled, only looked up when a segment
    /// arrives; expired oldest first from `timeWaitOrder`.
    var timeWait: [TCPFourTuple: TCPStream] = [:]
    var timeWaitOrder: [TCPFourTuple] = []
    var timeWaitOrderStart = 0
    var resetsSent = 0
    var refusedForCapacity = 0
    var timeWaitForgotten = 0

    init(settings: TCPSettings) { self.settings = settings }

    var connectionCount: Int { streams.count + timeWait.count }
    var activeConnectionCount: Int { streams.count }
    var timeWaitCount: Int { timeWait.count }

    mutating func enterTimeWait(_ key: TCPFourTuple, _ stream: TCPStream) {
        timeWait[key] = stream
        timeWaitOrder.append(key)
    }

    /// Forgets TIME-WAIT connections whose 2 MSL ran out, and the oldest beyond the limit.
    mutating func expireTimeWait(now: UInt64) {
        while timeWaitOrderStart < timeWaitOrder.count {
            let key = timeWaitOrder[timeWaitOrderStart]
            if let stream = timeWait[key] {
                let expired = (stream.connection.timeWaitAt ?? now) <= now
                let overLimit = timeWait.count > settings.maximumTimeWait
                guard expired || overLimit else { break }
                if !expired { timeWaitForgotten += 1 }
                stream.connection.enterClosed()
                timeWait[key] = nil
            }
            timeWaitOrderStart += 1
        }
        if timeWaitOrderStart > 64 && timeWaitOrderStart * 2 > timeWaitOrder.count {
            timeWaitOrder.removeFirst(timeWaitOrderStart)
            timeWaitOrderStart = 0
        }
    }

    /// When the oldest TIME-WAIT connection expires.
    var timeWaitPollAt: UInt64? {
        guard timeWaitOrderStart < timeWaitOrder.count else { return nil }
        return timeWait[timeWaitOrder[timeWaitOrderStart]]?.connection.timeWaitAt ?? 0
    }
}

extension NetworkStack {
    // MARK: Application side

    public func listenTCP(port: UInt16, backlog: Int = 64) throws(SocketError) -> TCPListener {
        guard tcp.listeners[port] == nil else { throw .portInUse }
        let listener = TCPListener(port: port, backlog: max(backlog, 1))
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
            let candidate = UInt16(49152 + Int(randomUInt32() % 16384))
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
                           iss: TCPSequenceNumber(randomUInt32()), now: now)
        let stream = TCPStream(connection)
        tcp.streams[TCPFourTuple(localPort: port, remoteAddress: remote.address, remotePort: remote.port)] = stream
        return stream
    }

    // MARK: Input

    func receiveTCP(_ packet: IPv4Packet, ip: IPv4Repr, now: UInt64) {
        guard let (segment, payload) = try? TCPSegmentRepr.parse(packet.payload, source: ip.source, destination: ip.destination) else {
            statistics.malformed += 1
            return
        }
        let key = TCPFourTuple(localPort: segment.destinationPort, remoteAddress: ip.source, remotePort: segment.sourcePort)
        let opening = segment.flags.contains(.syn) && !segment.flags.contains(.ack) && !segment.flags.contains(.rst)
        if let stream = tcp.streams[key] {
            stream.connection.process(segment, payload: payload, now: now, from: ip.source)
            return
        }
        if let stream = tcp.timeWait[key] {
            // RFC 1122 §4.2.2.13: a SYN beyond what the old connection used may start a new
            // one on a pair still in TIME-WAIT (clients reuse ports faster than 2 MSL).
            let reopens = opening && stream.connection.receiveNext < segment.sequenceNumber
                && tcp.listeners[segment.destinationPort] != nil
            if !reopens {
                stream.connection.process(segment, payload: payload, now: now, from: ip.source)
                stream.connection.poll(now: now) { segment, payload in
                    self.transmitTCP(segment, payload: payload, to: ip.source, now: now)
                }
                if stream.connection.state != .timeWait { tcp.timeWait[key] = nil }
                return
            }
            tcp.timeWait[key] = nil
        }
        if opening, let listener = tcp.listeners[segment.destinationPort], let address {
            guard tcp.activeConnectionCount < tcp.settings.maximumConnections else {
                tcp.refusedForCapacity += 1
                return  // silently: the client's SYN retransmission tries again later
            }
            if listener.halfOpen.count + listener.ready.count >= listener.backlog {
                guard let oldest = listener.halfOpen.first else { return }  // accept queue full
                listener.halfOpen.removeFirst()
                listener.evictedHalfOpen += 1
                forget(oldest)
            }
            var connection = TCPConnection(configuration: tcp.settings.connection,
                                           sendCapacity: tcp.settings.sendBuffer, receiveCapacity: tcp.settings.receiveBuffer)
            connection.listen(local: TCPEndpoint(address: address, port: segment.destinationPort), iss: TCPSequenceNumber(randomUInt32()))
            connection.process(segment, payload: payload, now: now, from: ip.source)
            let stream = TCPStream(connection)
            tcp.streams[key] = stream
            listener.halfOpen.append(stream)
            return
        }
        // A segment for no connection gets a reset the sender accepts (RFC 9293 §3.10.7.1).
        if let reset = TCPSegmentRepr.reset(answering: segment, payloadCount: payload.count) {
            tcp.resetsSent += 1
            transmitTCP(reset, payload: UnsafeRawBufferPointer(start: nil, count: 0), to: ip.source, now: now)
        }
    }

    // MARK: Timers and output

    func pollTCP(now: UInt64) {
        var finished: [TCPFourTuple] = []
        var timingOut: [TCPFourTuple] = []
        for (key, stream) in tcp.streams {
            let remote = key.remoteAddress
            stream.connection.poll(now: now) { segment, payload in
                self.transmitTCP(segment, payload: payload, to: remote, now: now)
            }
            switch stream.connection.state {
            case .closed: finished.append(key)
            case .timeWait: timingOut.append(key)
            default: break
            }
        }
        for key in finished {
            if let stream = tcp.streams.removeValue(forKey: key) { removeFromListeners(stream) }
        }
        for key in timingOut {
            if let stream = tcp.streams.removeValue(forKey: key) { tcp.enterTimeWait(key, stream) }
        }
        tcp.expireTimeWait(now: now)
        for listener in tcp.listeners.values {
            var index = 0
            while index < listener.halfOpen.count {
                let stream = listener.halfOpen[index]
                if stream.connection.state != .synReceived && stream.connection.state != .listen {
                    listener.halfOpen.remove(at: index)
                    if stream.connection.state != .closed { listener.ready.append(stream) }
                } else {
                    index += 1
                }
            }
        }
    }

    func tcpPollAt() -> UInt64? {
        var soonest = tcp.timeWaitPollAt
        for stream in tcp.streams.values { soonest = earliest(soonest, stream.connection.pollAt()) }
        return soonest
    }

    private func transmitTCP(_ segment: TCPSegmentRepr, payload: UnsafeRawBufferPointer, to remote: IPv4Address, now: UInt64) {
        guard let source = address else { return }
        let length = segment.headerLength + payload.count
        sendIPv4(to: remote, proto: .tcp, payloadLength: length, now: now) { buffer in
            _ = try? segment.emit(into: buffer, payload: payload, source: source, destination: remote)
        }
    }

    private func forget(_ stream: TCPStream) {
        stream.connection.abort()
        tcp.streams[TCPFourTuple(localPort: stream.local.port, remoteAddress: stream.remote.address, remotePort: stream.remote.port)] = nil
    }

    private func removeFromListeners(_ stream: TCPStream) {
        guard let listener = tcp.listeners[stream.local.port] else { return }
        listener.halfOpen.removeAll { $0 === stream }
        listener.ready.removeAll { $0 === stream }
    }

    func randomUInt32() -> UInt32 {
        var value: UInt32 = 0
        withUnsafeMutableBytes(of: &value) { randomBytes($0) }
        return value
    }
}
