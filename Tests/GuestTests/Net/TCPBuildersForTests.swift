// Shared helpers for the TCP connection tests: endpoints, segment builders, and builders
// that put a connection into any RFC 9293 state. (Named *Tests.swift to sit beside them.)
import Testing
import TestSupport
@testable import Swiftlet

let tcpMS: UInt64 = 1_000_000
let tcpSecond: UInt64 = 1_000_000_000
/// Start of every test's timeline (not zero, so "0 = now" from pollAt is distinguishable).
let TCP_T0: UInt64 = 1_000 * tcpSecond

let TCP_LOCAL = TCPEndpoint(address: IPv4Address(10, 0, 0, 1), port: 80)
let TCP_REMOTE = TCPEndpoint(address: IPv4Address(10, 0, 0, 2), port: 49500)
/// Our ISS sits just below the wrap so sequence arithmetic crosses zero in most tests.
let LISS = TCPSequenceNumber(0xFFFF_FFF0)
let RISS = TCPSequenceNumber(0x0001_0000)
let TCP_PEER_MSS = 1000
let TCP_PEER_WINDOW: UInt16 = 8192
let TCP_RX_CAPACITY = 8192
let TCP_TX_CAPACITY = 16384

/// One segment as emitted, payload copied out.
struct TCPSeg: Equatable, CustomStringConvertible {
    var repr: TCPSegmentRepr
    var payload: [UInt8]

    init(_ repr: TCPSegmentRepr, _ payload: [UInt8] = []) {
        self.repr = repr
        self.payload = payload
    }

    var description: String {
        var flags = ""
        for (flag, name) in [(TCPFlags.syn, "S"), (.fin, "F"), (.rst, "R"), (.psh, "P"), (.ack, ".")]
        where repr.flags.contains(flag) { flags += name }
        return "[\(flags) seq=\(repr.sequenceNumber.rawValue) ack=\(repr.acknowledgmentNumber.rawValue) "
            + "win=\(repr.window) len=\(payload.count) opts=\(repr.options)]"
    }
}

/// A segment from the peer (TCP_REMOTE → TCP_LOCAL).
func tcpFromPeer(seq: TCPSequenceNumber, ack: TCPSequenceNumber? = nil, flags: TCPFlags = [],
              window: UInt16 = TCP_PEER_WINDOW, options: TCPOptions = .none) -> TCPSegmentRepr {
    TCPSegmentRepr(sourcePort: TCP_REMOTE.port, destinationPort: TCP_LOCAL.port, sequenceNumber: seq,
                   acknowledgmentNumber: ack ?? TCPSequenceNumber(0),
                   flags: ack != nil ? flags.union(.ack) : flags, window: window, options: options)
}

/// A segment we expect to send (TCP_LOCAL → TCP_REMOTE).
func tcpToPeer(seq: TCPSequenceNumber, ack: TCPSequenceNumber? = nil, flags: TCPFlags = [],
            window: UInt16 = UInt16(TCP_RX_CAPACITY), options: TCPOptions = .none) -> TCPSegmentRepr {
    TCPSegmentRepr(sourcePort: TCP_LOCAL.port, destinationPort: TCP_REMOTE.port, sequenceNumber: seq,
                   acknowledgmentNumber: ack ?? TCPSequenceNumber(0),
                   flags: ack != nil ? flags.union(.ack) : flags, window: window, options: options)
}

func tcpBytes(_ count: Int, seed: UInt8 = 0) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ Int(seed)) }
}

extension TCPConnection {
    /// Polls at `now` and returns everything emitted.
    mutating func recv(_ now: UInt64) -> [TCPSeg] {
        var out: [TCPSeg] = []
        poll(now: now) { repr, payload in out.append(TCPSeg(repr, payload.bytes)) }
        return out
    }

    /// Delivers one segment from the peer at `now`.
    mutating func deliver(_ repr: TCPSegmentRepr, _ payload: [UInt8] = [], at now: UInt64) {
        payload.withUnsafeBytes { process(repr, payload: $0, now: now, from: TCP_REMOTE.address) }
    }

    /// Delivers a segment and returns what the next poll at the same time emits.
    mutating func exchange(_ repr: TCPSegmentRepr, _ payload: [UInt8] = [], at now: UInt64) -> [TCPSeg] {
        deliver(repr, payload, at: now)
        return recv(now)
    }

    mutating func readAll() -> [UInt8] { receive(maximum: Int.max) }
}

let TCP_PEER_SYN_OPTIONS = TCPOptions(maximumSegmentSize: UInt16(TCP_PEER_MSS))
let TCP_OUR_MSS_OPTION = TCPOptions(maximumSegmentSize: 1460)

func tcpTestConfiguration() -> TCPConfiguration { TCPConfiguration(mtu: 1500) }

func tcpClosedConnection(_ configuration: TCPConfiguration = tcpTestConfiguration(), rx: Int = TCP_RX_CAPACITY,
                      tx: Int = TCP_TX_CAPACITY) -> TCPConnection {
    TCPConnection(configuration: configuration, sendCapacity: tx, receiveCapacity: rx)
}

func tcpListening(_ configuration: TCPConfiguration = tcpTestConfiguration(), rx: Int = TCP_RX_CAPACITY,
                  tx: Int = TCP_TX_CAPACITY) -> TCPConnection {
    var connection = tcpClosedConnection(configuration, rx: rx, tx: tx)
    connection.listen(local: TCP_LOCAL, iss: LISS)
    return connection
}

func tcpSynReceived(_ configuration: TCPConfiguration = tcpTestConfiguration(), rx: Int = TCP_RX_CAPACITY,
                    tx: Int = TCP_TX_CAPACITY) -> TCPConnection {
    var connection = tcpListening(configuration, rx: rx, tx: tx)
    let out = connection.exchange(tcpFromPeer(seq: RISS, flags: [.syn], options: TCP_PEER_SYN_OPTIONS), at: TCP_T0)
    #expect(out.count == 1)
    #expect(connection.state == .synReceived)
    return connection
}

func tcpEstablished(_ configuration: TCPConfiguration = tcpTestConfiguration(), rx: Int = TCP_RX_CAPACITY,
                    tx: Int = TCP_TX_CAPACITY) -> TCPConnection {
    var connection = tcpSynReceived(configuration, rx: rx, tx: tx)
    #expect(connection.exchange(tcpFromPeer(seq: RISS + 1, ack: LISS + 1), at: TCP_T0) == [])
    #expect(connection.state == .established)
    return connection
}

func tcpSynSent(_ configuration: TCPConfiguration = tcpTestConfiguration()) -> TCPConnection {
    var connection = tcpClosedConnection(configuration)
    connection.connect(local: TCP_LOCAL, remote: TCP_REMOTE, iss: LISS, now: TCP_T0)
    #expect(connection.recv(TCP_T0).count == 1)
    #expect(connection.state == .synSent)
    return connection
}

/// FIN (seq LISS+1) sent, unacknowledged.
func tcpFinWait1() -> TCPConnection {
    var connection = tcpEstablished()
    connection.close()
    let out = connection.recv(TCP_T0)
    #expect(out.map(\.repr) == [tcpToPeer(seq: LISS + 1, ack: RISS + 1, flags: [.fin, .psh])])
    #expect(connection.state == .finWait1)
    return connection
}

func tcpFinWait2() -> TCPConnection {
    var connection = tcpFinWait1()
    #expect(connection.exchange(tcpFromPeer(seq: RISS + 1, ack: LISS + 2), at: TCP_T0) == [])
    #expect(connection.state == .finWait2)
    return connection
}

/// The peer's FIN (seq RISS+1) received and acknowledged.
func tcpCloseWait() -> TCPConnection {
    var connection = tcpEstablished()
    let out = connection.exchange(tcpFromPeer(seq: RISS + 1, ack: LISS + 1, flags: [.fin]), at: TCP_T0)
    #expect(out.map(\.repr) == [tcpToPeer(seq: LISS + 1, ack: RISS + 2)])
    #expect(connection.state == .closeWait)
    return connection
}

func tcpLastAck() -> TCPConnection {
    var connection = tcpCloseWait()
    connection.close()
    #expect(connection.recv(TCP_T0).map(\.repr) == [tcpToPeer(seq: LISS + 1, ack: RISS + 2, flags: [.fin, .psh])])
    #expect(connection.state == .lastAck)
    return connection
}

func tcpClosing() -> TCPConnection {
    var connection = tcpFinWait1()
    let out = connection.exchange(tcpFromPeer(seq: RISS + 1, ack: LISS + 1, flags: [.fin]), at: TCP_T0)
    #expect(out.map(\.repr) == [tcpToPeer(seq: LISS + 2, ack: RISS + 2)])
    #expect(connection.state == .closing)
    return connection
}

func tcpTimeWait() -> TCPConnection {
    var connection = tcpFinWait2()
    let out = connection.exchange(tcpFromPeer(seq: RISS + 1, ack: LISS + 2, flags: [.fin]), at: TCP_T0)
    #expect(out.map(\.repr) == [tcpToPeer(seq: LISS + 2, ack: RISS + 2)])
    #expect(connection.state == .timeWait)
    return connection
}

/// Builds a connection in `state` (all builders above, by name).
func tcpConnection(in state: TCPState) -> TCPConnection {
    switch state {
    case .closed: tcpClosedConnection()
    case .listen: tcpListening()
    case .synSent: tcpSynSent()
    case .synReceived: tcpSynReceived()
    case .established: tcpEstablished()
    case .finWait1: tcpFinWait1()
    case .finWait2: tcpFinWait2()
    case .closeWait: tcpCloseWait()
    case .closing: tcpClosing()
    case .lastAck: tcpLastAck()
    case .timeWait: tcpTimeWait()
    }
}

/// receiveNext for each builder's state.
func tcpPeerNext(in state: TCPState) -> TCPSequenceNumber {
    switch state {
    case .closeWait, .closing, .lastAck, .timeWait: RISS + 2
    default: RISS + 1
    }
}
