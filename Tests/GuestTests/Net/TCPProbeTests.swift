// A retransmission timeout probes with new data (RFC 8985 §7.3) beside going back to SND.UNA. Regression: an echo through `swiftlet run -p` died on a loaded machine.
// passt 2023-03 updates the ACK it owes the guest when its host socket turns writable while
// the guest's window is shut, without sending it; from then on it believes the ACK sent and
// treats each resent old segment as a duplicate to drop silently. Our window stayed shut (the
// echo waits for send-buffer room), passt had nothing to send, and it reset the connection
// 20 s later. A new segment is something passt has to acknowledge, and its ACK covers the rest.
import Testing
import TestSupport
@testable import Swiftlet

@Suite struct TCPProbeTests {
    /// Four segments out (the initial window), two more waiting, our receive window shut.
    private func stalledFlight() -> (TCPConnection, [UInt8], UInt64) {
        var c = tcpEstablished()
        let data = tcpBytes(6 * TCP_PEER_MSS)
        #expect(c.send(data) == data.count)
        #expect(c.recv(TCP_T0).map(\.repr.sequenceNumber) == (0..<4).map { LISS + 1 + $0 * TCP_PEER_MSS })
        // The peer fills our receive buffer and acknowledges none of our data.
        var now = TCP_T0 + tcpMS
        var sequence = RISS + 1
        while c.receiveQueueCount < TCP_RX_CAPACITY {
            _ = c.exchange(tcpFromPeer(seq: sequence, ack: LISS + 1), tcpBytes(TCP_PEER_MSS), at: now)
            sequence = sequence + TCP_PEER_MSS
            now += tcpMS
        }
        return (c, data, now)
    }

    @Test func firstTimeoutProbesOneOctetPastWhatWasSentEvenWithOurWindowShut() {
        var (c, data, _) = stalledFlight()
        let timeout = c.pollAt()!
        let probe = c.recv(timeout)
        let sent = 4 * TCP_PEER_MSS
        #expect(probe.map(\.repr.sequenceNumber) == [LISS + 1 + sent + 1, LISS + 1], "the probe, then the left edge")
        #expect(probe.first?.repr.sequenceNumber == LISS + 1 + sent + 1, "out of order, so the peer answers at once")
        #expect(probe.first?.payload == Array(data[(sent + 1)..<(sent + 1 + TCP_PEER_MSS)]))
        #expect(probe.first?.repr.window == 0)
        #expect(c.retransmissionTimeout == 400 * tcpMS)  // backed off as for any timeout
        // passt drops the probe and answers with everything it holds: the rest follows in order.
        let after = c.exchange(tcpFromPeer(seq: RISS + 1 + TCP_RX_CAPACITY, ack: LISS + 1 + sent), at: timeout + tcpMS)
        #expect(after.map(\.repr.sequenceNumber) == [LISS + 1 + sent, LISS + 1 + sent + TCP_PEER_MSS])
        #expect(after.flatMap(\.payload) == Array(data[sent...]))
    }

    /// A receiver that keeps the out-of-order probe acknowledges past what was sent in order
    /// once the octet before it arrives: that ACK is accepted, and sending goes on after it.
    @Test func anAckCoveringTheProbeIsAcceptedOnceTheGapIsFilled() {
        var (c, data, _) = stalledFlight()
        let timeout = c.pollAt()!
        #expect(c.recv(timeout).count == 2, "the probe and the left edge")
        let sent = 4 * TCP_PEER_MSS
        let window = RISS + 1 + TCP_RX_CAPACITY
        // A duplicate ACK for the probe, with room for one more segment only.
        let gap = c.exchange(tcpFromPeer(seq: window, ack: LISS + 1 + sent, window: UInt16(TCP_PEER_MSS)), at: timeout + tcpMS)
        #expect(gap.map(\.repr.sequenceNumber) == [LISS + 1 + sent])
        #expect(gap.first?.payload.count == TCP_PEER_MSS)
        // The gap filled, the receiver acknowledges through the probe it kept.
        let probeEnd = sent + 1 + TCP_PEER_MSS
        let rest = c.exchange(tcpFromPeer(seq: window, ack: LISS + 1 + probeEnd), at: timeout + 2 * tcpMS)
        #expect(c.sendUnacknowledged == LISS + 1 + probeEnd)
        #expect(rest.map(\.repr.sequenceNumber) == [LISS + 1 + probeEnd])
        #expect(rest.flatMap(\.payload) == Array(data[probeEnd...]))
    }

    /// passt answers an out-of-order segment at most once per value of the low 8 bits of
    /// what it has received, so a probe can go unanswered: the second timeout goes back to
    /// SND.UNA and probes in order (moving those bits on), the third out of order again.
    @Test func laterTimeoutsGoBackToTheLeftEdgeAndAlternateProbes() {
        var (c, data, _) = stalledFlight()
        let sent = 4 * TCP_PEER_MSS
        #expect(c.recv(c.pollAt()!).map(\.repr.sequenceNumber) == [LISS + 1 + sent + 1, LISS + 1])
        let second = c.recv(c.pollAt()!)
        #expect(second.map(\.repr.sequenceNumber) == [LISS + 1 + sent, LISS + 1], "an in-order probe, then the left edge")
        #expect(second.map(\.payload) == [Array(data[sent..<(sent + TCP_PEER_MSS)]), Array(data[0..<TCP_PEER_MSS])])
        #expect(c.congestionWindowBytes == TCP_PEER_MSS)
        let third = c.recv(c.pollAt()!)
        let next = sent + TCP_PEER_MSS
        #expect(third.map(\.repr.sequenceNumber) == [LISS + 1 + next + 1, LISS + 1])
        #expect(third.first?.payload == Array(data[(next + 1)...]))
    }

    @Test func withNothingUnsentTheTimeoutResendsTheLeftEdge() {
        var c = tcpEstablished()
        let data = tcpBytes(3 * TCP_PEER_MSS)
        _ = c.send(data)
        #expect(c.recv(TCP_T0).count == 3)
        let resent = c.recv(c.pollAt()!)
        #expect(resent.map(\.repr.sequenceNumber) == [LISS + 1])
    }

    /// The whole send buffer could go out at once, but its last segment is kept back while
    /// the rest is in flight: the application can add nothing, and the timeout needs new data
    /// to probe with. passt stalled an echo this way when its owed ACK was lost with the
    /// guest's entire 32 KiB send buffer in flight.
    @Test func aFullSendBufferKeepsItsLastSegmentForTheProbe() {
        var c = wideOpen()
        let data = tcpBytes(Self.sendCapacity)
        #expect(c.send(data) == data.count)
        let flight = c.recv(TCP_T0 + tcpMS)
        #expect(flight.count == 15, "all but the last of 16 full-sized segments")
        #expect(c.pollAt() == c.retransmitAt, "nothing more until the timeout")
        let probe = c.recv(c.pollAt()!)
        #expect(probe.map(\.repr.sequenceNumber) == [LISS + 1 + 15 * TCP_PEER_MSS + 1, LISS + 1])
        #expect(probe.first?.payload == Array(data[(15 * TCP_PEER_MSS + 1)...]))
    }

    /// A send buffer of 16 full segments, a peer window and congestion window wider than it.
    private static let sendCapacity = 16 * TCP_PEER_MSS
    private func wideOpen() -> TCPConnection {
        var c = tcpEstablished(tx: Self.sendCapacity)
        _ = c.exchange(tcpFromPeer(seq: RISS + 1, ack: LISS + 1, window: UInt16(2 * Self.sendCapacity)), at: TCP_T0)
        c.congestionWindow = 2 * Self.sendCapacity
        return c
    }

    /// Room freed by an ACK lets the application write, and the kept segment goes out with
    /// what follows it; once the buffer is no longer full nothing is kept back.
    @Test func anAckReleasesTheKeptSegment() {
        var c = wideOpen()
        let data = tcpBytes(Self.sendCapacity)
        _ = c.send(data)
        let flight = c.recv(TCP_T0 + tcpMS)
        let sent = flight.reduce(0) { $0 + $1.payload.count }
        #expect(sent == 15 * TCP_PEER_MSS)
        let after = c.exchange(tcpFromPeer(seq: RISS + 1, ack: LISS + 1 + TCP_PEER_MSS, window: UInt16(2 * Self.sendCapacity)),
                               at: TCP_T0 + 2 * tcpMS)
        #expect(after.map(\.repr.sequenceNumber) == [LISS + 1 + sent], "the buffer has room: the kept segment leaves")
        #expect(after.first?.payload == Array(data[sent...]))
    }

    @Test func aPeerWindowWithNoRoomLeftGetsNoProbe() {
        var c = tcpEstablished()
        // The peer's window shrinks to exactly what is in flight.
        let data = tcpBytes(6 * TCP_PEER_MSS)
        _ = c.send(data)
        #expect(c.recv(TCP_T0).count == 4)
        _ = c.exchange(tcpFromPeer(seq: RISS + 1, ack: LISS + 1, window: UInt16(4 * TCP_PEER_MSS)), at: TCP_T0 + tcpMS)
        let resent = c.recv(c.pollAt()!)
        #expect(resent.map(\.repr.sequenceNumber) == [LISS + 1])
    }
}
