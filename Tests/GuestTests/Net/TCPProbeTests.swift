// The first retransmission timeout of a flight probes with new data (RFC 8985 §7.3) before it
// goes back to SND.UNA. Regression: an echo through `swiftlet run -p` died on a loaded machine.
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

    @Test func firstTimeoutSendsOneNewSegmentEvenWithOurWindowShut() {
        var (c, data, _) = stalledFlight()
        let timeout = c.pollAt()!
        let probe = c.recv(timeout)
        #expect(probe.count == 1)
        #expect(probe.first?.repr.sequenceNumber == LISS + 1 + 4 * TCP_PEER_MSS)
        #expect(probe.first?.payload == Array(data[4 * TCP_PEER_MSS..<5 * TCP_PEER_MSS]))
        #expect(probe.first?.repr.window == 0)
        #expect(c.retransmissionTimeout == 400 * tcpMS)  // backed off as for any timeout
        // The peer's ACK for the probe covers the whole flight: the last segment follows.
        let after = c.exchange(tcpFromPeer(seq: RISS + 1 + TCP_RX_CAPACITY, ack: LISS + 1 + 5 * TCP_PEER_MSS), at: timeout + tcpMS)
        #expect(after.map(\.repr.sequenceNumber) == [LISS + 1 + 5 * TCP_PEER_MSS])
        #expect(after.first?.payload == Array(data[(5 * TCP_PEER_MSS)...]))
    }

    @Test func secondTimeoutGoesBackToTheLeftEdge() {
        var (c, data, _) = stalledFlight()
        #expect(c.recv(c.pollAt()!).count == 1)  // the probe
        let resent = c.recv(c.pollAt()!)
        #expect(resent.map(\.repr.sequenceNumber) == [LISS + 1])
        #expect(resent.first?.payload == Array(data[0..<TCP_PEER_MSS]))
        #expect(c.congestionWindowBytes == TCP_PEER_MSS)
    }

    @Test func withNothingUnsentTheTimeoutResendsTheLeftEdge() {
        var c = tcpEstablished()
        let data = tcpBytes(3 * TCP_PEER_MSS)
        _ = c.send(data)
        #expect(c.recv(TCP_T0).count == 3)
        let resent = c.recv(c.pollAt()!)
        #expect(resent.map(\.repr.sequenceNumber) == [LISS + 1])
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
