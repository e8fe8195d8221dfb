// Retransmission (RFC 6298), fast retransmit / NewReno (RFC 5681, 6582), persist and
// keep-alive probes.
import Testing
import TestSupport
@testable import Swiftlet

@Suite struct TCPRetransmissionTests {
    @Test func rtoBacksOffExponentiallyAndKarnIgnoresRetransmittedSamples() {
        var c = tcpEstablished()
        #expect(c.retransmissionTimeout == 200 * tcpMS)  // handshake sample of 0 → the 200 tcpMS floor
        _ = c.send(tcpBytes(100))
        let original = c.recv(TCP_T0)
        #expect(original.count == 1)
        #expect(c.pollAt() == TCP_T0 + 200 * tcpMS)
        #expect(c.recv(TCP_T0 + 199 * tcpMS) == [])
        #expect(c.recv(TCP_T0 + 200 * tcpMS) == original)
        #expect(c.retransmissionTimeout == 400 * tcpMS)
        #expect(c.congestionWindowBytes == TCP_PEER_MSS)  // loss window (RFC 5681 §3.1)
        #expect(c.slowStartThresholdBytes == 2 * TCP_PEER_MSS)
        #expect(c.pollAt() == TCP_T0 + 600 * tcpMS)
        #expect(c.recv(TCP_T0 + 600 * tcpMS) == original)
        #expect(c.pollAt() == TCP_T0 + 1400 * tcpMS)
        // The ACK arrives: Karn's algorithm takes no sample, the backed-off RTO stays.
        #expect(c.exchange(tcpFromPeer(seq: RISS + 1, ack: LISS + 101), at: TCP_T0 + 1500 * tcpMS) == [])
        #expect(c.smoothedRoundTripTime == 0)
        #expect(c.retransmissionTimeout == 800 * tcpMS)
        #expect(c.pollAt() == nil)
        // A fresh segment gives a valid sample and a fresh RTO.
        _ = c.send(tcpBytes(50))
        _ = c.recv(TCP_T0 + 1500 * tcpMS)
        _ = c.exchange(tcpFromPeer(seq: RISS + 1, ack: LISS + 151), at: TCP_T0 + 1550 * tcpMS)
        #expect(c.smoothedRoundTripTime == 6_250_000)
        #expect(c.roundTripTimeVariance == 12_500_000)
        #expect(c.retransmissionTimeout == 200 * tcpMS)
    }

    @Test func rttEstimatorFollowsRFC6298() {
        var c = tcpClosedConnection()
        c.connect(local: TCP_LOCAL, remote: TCP_REMOTE, iss: LISS, now: TCP_T0)
        _ = c.recv(TCP_T0)
        _ = c.exchange(tcpFromPeer(seq: RISS, ack: LISS + 1, flags: [.syn], options: TCP_PEER_SYN_OPTIONS), at: TCP_T0 + 100 * tcpMS)
        #expect(c.smoothedRoundTripTime == 100 * tcpMS)  // SRTT = R
        #expect(c.roundTripTimeVariance == 50 * tcpMS)   // RTTVAR = R/2
        #expect(c.retransmissionTimeout == 300 * tcpMS)  // SRTT + 4·RTTVAR
        _ = c.send(tcpBytes(10))
        _ = c.recv(TCP_T0 + 100 * tcpMS)
        _ = c.exchange(tcpFromPeer(seq: RISS + 1, ack: LISS + 11), at: TCP_T0 + 160 * tcpMS)
        #expect(c.roundTripTimeVariance == 47_500_000)  // ¾·50 + ¼·|100 − 60|
        #expect(c.smoothedRoundTripTime == 95 * tcpMS)     // ⅞·100 + ⅛·60
        #expect(c.retransmissionTimeout == 285 * tcpMS)
    }

    @Test func rtoIsCappedAtTheMaximum() {
        var configuration = tcpTestConfiguration()
        configuration.maximumRTO = 1 * tcpSecond
        var c = tcpEstablished(configuration)
        _ = c.send(tcpBytes(1))
        var now = TCP_T0
        _ = c.recv(now)
        for _ in 0..<6 {
            now = c.pollAt()!
            #expect(c.recv(now).count == 1)
        }
        #expect(c.retransmissionTimeout == 1 * tcpSecond)
    }

    @Test func connectionGivesUpAfterTooManyTimeouts() {
        var configuration = tcpTestConfiguration()
        configuration.maximumRetransmissions = 3
        var c = tcpEstablished(configuration)
        _ = c.send(tcpBytes(10))
        _ = c.recv(TCP_T0)
        for at in [200, 600, 1400] as [UInt64] {
            #expect(c.pollAt() == TCP_T0 + at * tcpMS)
            #expect(c.recv(TCP_T0 + at * tcpMS).count == 1)
        }
        #expect(c.pollAt() == TCP_T0 + 3000 * tcpMS)
        let last = c.recv(TCP_T0 + 3000 * tcpMS)
        #expect(last == [TCPSeg(tcpToPeer(seq: LISS + 11, flags: [.rst], window: 0))])
        #expect(c.state == .closed)
        #expect(c.error == .timedOut)
        #expect(c.pollAt() == nil)
    }

    @Test func synGivesUpAfterTooManyTimeouts() {
        var configuration = tcpTestConfiguration()
        configuration.maximumRetransmissions = 2
        var c = tcpSynSent(configuration)
        #expect(c.recv(c.pollAt()!).count == 1)
        #expect(c.recv(c.pollAt()!).count == 1)
        #expect(c.recv(c.pollAt()!) == [])  // no RST: nothing was synchronized
        #expect(c.state == .closed && c.error == .timedOut)
    }

    @Test func timeoutResendsEverythingOutstandingGoBackN() {
        var c = tcpEstablished()
        let data = tcpBytes(3000)
        _ = c.send(data)
        #expect(c.recv(TCP_T0).count == 3)
        // Only the first segment is acknowledged; the rest times out.
        _ = c.exchange(tcpFromPeer(seq: RISS + 1, ack: LISS + 1001), at: TCP_T0 + tcpMS)
        let resent = c.recv(c.pollAt()!)
        #expect(resent == [TCPSeg(tcpToPeer(seq: LISS + 1001, ack: RISS + 1, flags: [.psh]), Array(data[1000..<2000]))])
        // Slow start from one segment: each ACK releases the next.
        let next = c.exchange(tcpFromPeer(seq: RISS + 1, ack: LISS + 2001), at: c.pollAt()! )
        #expect(next.map(\.repr.sequenceNumber) == [LISS + 2001])
    }
}

@Suite struct TCPFastRetransmitTests {
    private func fourSegmentsOutstanding() -> (TCPConnection, [UInt8]) {
        var c = tcpEstablished()
        let data = tcpBytes(4000)
        _ = c.send(data)
        #expect(c.recv(TCP_T0).count == 4)
        return (c, data)
    }

    private func dupAck(_ c: inout TCPConnection, _ ack: TCPSequenceNumber, at now: UInt64 = TCP_T0 + tcpMS) -> [TCPSeg] {
        c.exchange(tcpFromPeer(seq: RISS + 1, ack: ack), at: now)
    }

    @Test func threeDuplicateAcksTriggerFastRetransmit() {
        var (c, data) = fourSegmentsOutstanding()
        #expect(dupAck(&c, LISS + 1) == [])
        #expect(dupAck(&c, LISS + 1) == [])
        let retransmit = dupAck(&c, LISS + 1)
        #expect(retransmit == [TCPSeg(tcpToPeer(seq: LISS + 1, ack: RISS + 1, flags: [.psh]), Array(data[0..<1000]))])
        #expect(c.isInFastRecovery)
        #expect(c.slowStartThresholdBytes == 2000)          // max(FlightSize/2, 2·SMSS)
        #expect(c.congestionWindowBytes == 5000)            // ssthresh + 3·SMSS
        #expect(dupAck(&c, LISS + 1) == [])
        #expect(c.congestionWindowBytes == 6000)            // inflation per further dup ACK
        // Full acknowledgment: deflate and leave recovery.
        #expect(dupAck(&c, LISS + 4001) == [])
        #expect(!c.isInFastRecovery)
        #expect(c.congestionWindowBytes == 2000)
        #expect(c.pollAt() == nil)
    }

    @Test func notDuplicateWhenWindowChangesOrDataArrives() {
        var (c, _) = fourSegmentsOutstanding()
        _ = c.exchange(tcpFromPeer(seq: RISS + 1, ack: LISS + 1, window: 9000), at: TCP_T0)
        _ = c.exchange(tcpFromPeer(seq: RISS + 1, ack: LISS + 1, window: 9000), tcpBytes(5), at: TCP_T0)
        _ = c.exchange(tcpFromPeer(seq: RISS + 6, ack: LISS + 1, window: 9000), at: TCP_T0)
        _ = c.exchange(tcpFromPeer(seq: RISS + 6, ack: LISS + 1, window: 9000), at: TCP_T0)
        #expect(!c.isInFastRecovery)  // only two true duplicates so far
        let third = c.exchange(tcpFromPeer(seq: RISS + 6, ack: LISS + 1, window: 9000), at: TCP_T0)
        #expect(c.isInFastRecovery)
        #expect(third.map(\.repr.sequenceNumber) == [LISS + 1])
    }

    @Test func newRenoPartialAckRetransmitsNextHole() {
        var (c, data) = fourSegmentsOutstanding()
        for _ in 0..<3 { _ = dupAck(&c, LISS + 1) }
        #expect(c.isInFastRecovery)
        // Segments 1 and 3 were lost: the partial ACK points at the next hole.
        let next = dupAck(&c, LISS + 2001, at: TCP_T0 + 2 * tcpMS)
        #expect(next == [TCPSeg(tcpToPeer(seq: LISS + 2001, ack: RISS + 1, flags: [.psh]), Array(data[2000..<3000]))])
        #expect(c.isInFastRecovery)
        #expect(c.congestionWindowBytes == 4000)  // 5000 − 2000 acked + 1000
        #expect(c.pollAt() == TCP_T0 + 2 * tcpMS + c.retransmissionTimeout)  // timer restarted
        _ = dupAck(&c, LISS + 4001, at: TCP_T0 + 3 * tcpMS)
        #expect(!c.isInFastRecovery)
    }

    @Test func noSecondFastRetransmitForTheSameWindow() {
        var (c, _) = fourSegmentsOutstanding()
        for _ in 0..<3 { _ = dupAck(&c, LISS + 1) }
        // A timeout abandons recovery; the following dup ACKs (below `recover`) must not
        // start another fast retransmit (RFC 6582 §3.2 step 2).
        _ = c.recv(c.pollAt()!)
        #expect(!c.isInFastRecovery)
        _ = dupAck(&c, LISS + 1001, at: TCP_T0 + tcpSecond)
        for _ in 0..<3 { _ = dupAck(&c, LISS + 1001, at: TCP_T0 + tcpSecond) }
        #expect(!c.isInFastRecovery)
    }
}

@Suite struct TCPPersistTests {
    @Test func senderStopsOnZeroWindowProbesAndResumes() {
        var c = tcpEstablished()
        c.deliver(tcpFromPeer(seq: RISS + 1, ack: LISS + 1, window: 2000), at: TCP_T0)
        let data = tcpBytes(3000)
        _ = c.send(data)
        #expect(c.recv(TCP_T0).map(\.payload.count) == [1000, 1000])
        // The receiver's window fills: everything acknowledged, window 0.
        #expect(c.exchange(tcpFromPeer(seq: RISS + 1, ack: LISS + 2001, window: 0), at: TCP_T0 + 10 * tcpMS) == [])
        #expect(c.recv(TCP_T0 + 10 * tcpMS) == [])
        let firstProbe = TCP_T0 + 10 * tcpMS + c.retransmissionTimeout
        #expect(c.pollAt() == firstProbe)
        let probe = c.recv(firstProbe)
        #expect(probe == [TCPSeg(tcpToPeer(seq: LISS + 2001, ack: RISS + 1), [data[2000]])])
        // Still zero: the probe's octet is not acknowledged; the next probe backs off.
        #expect(c.exchange(tcpFromPeer(seq: RISS + 1, ack: LISS + 2001, window: 0), at: firstProbe + tcpMS) == [])
        let secondProbe = firstProbe + 2 * c.retransmissionTimeout
        #expect(c.pollAt() == secondProbe)
        #expect(c.recv(secondProbe) == probe)
        #expect(c.pollAt() == secondProbe + 4 * c.retransmissionTimeout)
        #expect(!c.isInFastRecovery)  // probe answers are not duplicate ACKs
        // The window opens: the rest goes out at once.
        let rest = c.exchange(tcpFromPeer(seq: RISS + 1, ack: LISS + 2001, window: 4000), at: secondProbe + tcpMS)
        #expect(rest == [TCPSeg(tcpToPeer(seq: LISS + 2001, ack: RISS + 1, flags: [.psh]), Array(data[2000..<3000]))])
    }

    @Test func acceptedProbeOctetIsAcknowledged() {
        var c = tcpEstablished()
        c.deliver(tcpFromPeer(seq: RISS + 1, ack: LISS + 1, window: 0), at: TCP_T0)
        _ = c.send(tcpBytes(10))
        #expect(c.recv(TCP_T0) == [])
        _ = c.recv(c.pollAt()!)
        // The receiver took the probe octet and opened its window.
        let rest = c.exchange(tcpFromPeer(seq: RISS + 1, ack: LISS + 2, window: 100), at: TCP_T0 + tcpSecond)
        #expect(rest == [TCPSeg(tcpToPeer(seq: LISS + 2, ack: RISS + 1, flags: [.psh]), Array(tcpBytes(10)[1...]))])
    }
}

@Suite struct TCPKeepAliveTests {
    @Test func offByDefault() {
        let c = tcpEstablished()
        #expect(c.pollAt() == nil)
    }

    @Test func probeAfterIdleThenGiveUp() {
        var configuration = tcpTestConfiguration()
        configuration.keepAliveInterval = 10 * tcpSecond
        configuration.keepAliveProbeLimit = 2
        var c = tcpEstablished(configuration)
        #expect(c.pollAt() == TCP_T0 + 10 * tcpSecond)
        let probe = c.recv(TCP_T0 + 10 * tcpSecond)
        #expect(probe == [TCPSeg(tcpToPeer(seq: LISS, ack: RISS + 1))])  // SEG.SEQ = SND.NXT − 1
        #expect(c.pollAt() == TCP_T0 + 20 * tcpSecond)
        // The peer answers: the idle timer restarts from its answer.
        _ = c.exchange(tcpFromPeer(seq: RISS + 1, ack: LISS + 1), at: TCP_T0 + 10 * tcpSecond + tcpMS)
        #expect(c.pollAt() == TCP_T0 + 20 * tcpSecond + tcpMS)
        #expect(c.recv(TCP_T0 + 20 * tcpSecond + tcpMS).count == 1)
        #expect(c.recv(TCP_T0 + 30 * tcpSecond + tcpMS).count == 1)
        let reset = c.recv(TCP_T0 + 40 * tcpSecond + tcpMS)
        #expect(reset == [TCPSeg(tcpToPeer(seq: LISS + 1, flags: [.rst], window: 0))])
        #expect(c.state == .closed && c.error == .timedOut)
    }

    @Test func keepAliveProbeIsAnsweredByThePeerSide() {
        var c = tcpEstablished()
        let answer = c.exchange(tcpFromPeer(seq: RISS, ack: LISS + 1), at: TCP_T0)
        #expect(answer == [TCPSeg(tcpToPeer(seq: LISS + 1, ack: RISS + 1))])
    }
}
