// Regressions for the echo stall behind a lossy link (5% loss, Linux client): after an RTO
// rewound sendNext, our pure ACKs carried the rewound sequence number, below what the peer
// had already received; Linux (like RFC 9293 §3.10.7.4) drops such segments as old
// duplicates without looking at their ACK field, so our window updates and ACKs never
// arrived. At the same time the peer's pure ACKs, sent at its SND.NXT which sat exactly at
// the right edge of our window, were rejected by us. Each side ignored the other's ACKs and
// both kept retransmitting data the other already had.
import Testing
import TestSupport
@testable import Swiftlet

@Suite struct TCPStallRegressionTests {
    /// After a timeout, go-back-N resends from SND.UNA, but an ACK-only segment must carry the
    /// highest sequence number sent (RFC 9293's SND.NXT), or a peer that already received
    /// that data discards it.
    @Test func pureAckAfterTimeoutCarriesHighestSequenceSent() {
        var c = tcpEstablished()
        #expect(c.send(tcpBytes(3 * TCP_PEER_MSS)) == 3 * TCP_PEER_MSS)
        let first = c.recv(TCP_T0)
        #expect(first.count == 3)
        // The RTO fires: only the first segment goes out again (cwnd = 1 MSS).
        let rtoAt = c.pollAt()!
        let resent = c.recv(rtoAt)
        #expect(resent.count == 1)
        #expect(resent.first?.repr.sequenceNumber == LISS + 1)
        // Out-of-order data from the peer (its ACKs were lost) draws an immediate ACK.
        let ack = c.exchange(tcpFromPeer(seq: RISS + 1 + 100, ack: LISS + 1), tcpBytes(100), at: rtoAt + tcpMS)
        #expect(ack.count == 1)
        #expect(ack.first?.payload == [])
        #expect(ack.first?.repr.sequenceNumber == LISS + 1 + 3 * TCP_PEER_MSS)
        #expect(ack.first?.repr.acknowledgmentNumber == RISS + 1)
    }

    /// A Linux-like strict peer that has received everything we sent drops a segment whose
    /// sequence number lies below its RCV.NXT: our ACKs must stay acceptable to it.
    @Test func windowUpdateAfterTimeoutIsAcceptableToThePeer() {
        var c = tcpEstablished(rx: 4000)
        #expect(c.send(tcpBytes(2 * TCP_PEER_MSS)) == 2 * TCP_PEER_MSS)
        #expect(c.recv(TCP_T0).count == 2)
        let peerReceiveNext = LISS + 1 + 2 * TCP_PEER_MSS  // the peer got both
        let rtoAt = c.pollAt()!
        #expect(c.recv(rtoAt).count == 1)  // its ACK was lost: we resend the first
        // The peer fills our receive buffer; the application reads it all; the window update
        // that follows must not look like an old duplicate to the peer.
        var now = rtoAt + tcpMS
        var sequence = RISS + 1
        for _ in 0..<4 {
            _ = c.exchange(tcpFromPeer(seq: sequence, ack: LISS + 1), tcpBytes(TCP_PEER_MSS), at: now)
            sequence = sequence + TCP_PEER_MSS
            now += tcpMS
        }
        #expect(c.receiveQueueCount == 4000)
        #expect(c.readAll().count == 4000)
        let update = c.recv(now)
        #expect(update.count == 1)
        if let segment = update.first {
            #expect(segment.payload == [])
            #expect(segment.repr.acknowledgmentNumber == sequence)
            #expect(segment.repr.sequenceNumber >= peerReceiveNext)
        }
    }

    /// A peer that sent right up to the edge of our window puts that edge in its pure ACKs'
    /// sequence field; the ACK must still be processed (Linux and BSD accept it).
    @Test func pureAckAtTheRightEdgeOfTheWindowIsProcessed() {
        var c = tcpEstablished()
        #expect(c.send(tcpBytes(TCP_PEER_MSS)) == TCP_PEER_MSS)
        #expect(c.recv(TCP_T0).count == 1)
        // The peer sent a full window (8192 octets) whose first segment was lost; its ACK
        // carries SEG.SEQ = RCV.NXT + RCV.WND.
        let edge = RISS + 1 + TCP_RX_CAPACITY
        let out = c.exchange(tcpFromPeer(seq: edge, ack: LISS + 1 + TCP_PEER_MSS), at: TCP_T0 + 10 * tcpMS)
        #expect(out == [])
        #expect(c.sendUnacknowledgedSequence == LISS + 1 + TCP_PEER_MSS)
        #expect(c.sendQueueCount == 0)
        #expect(c.pollAt() == nil)
    }

    /// Behind passt: our window is shut (the application is not reading because its own
    /// sends are unacknowledged) and the peer's SND.NXT lies beyond our RCV.NXT (it sent data
    /// we could not take). Its pure ACKs carry that SND.NXT; their ACK field must still count,
    /// or neither side moves again (passt never resends an ACK it believes it sent).
    @Test func aZeroWindowStillTakesTheACKOfAPeerThatRanAhead() {
        var c = tcpEstablished()
        #expect(c.send(tcpBytes(TCP_PEER_MSS)) == TCP_PEER_MSS)
        #expect(c.recv(TCP_T0).count == 1)
        var sequence = RISS + 1
        for _ in 0..<(TCP_RX_CAPACITY / 1024) {
            _ = c.exchange(tcpFromPeer(seq: sequence, ack: LISS + 1), tcpBytes(1024), at: TCP_T0 + tcpMS)
            sequence = sequence + 1024
        }
        #expect(c.receiveQueueCount == TCP_RX_CAPACITY)
        let ahead = sequence + 4096  // data we never got (or could not take)
        let reply = c.exchange(tcpFromPeer(seq: ahead, ack: LISS + 1 + TCP_PEER_MSS), at: TCP_T0 + 2 * tcpMS)
        #expect(c.sendUnacknowledgedSequence == LISS + 1 + TCP_PEER_MSS, "the ACK was ignored")
        #expect(c.sendQueueCount == 0)
        #expect(reply.map(\.repr) == [tcpToPeer(seq: LISS + 1 + TCP_PEER_MSS, ack: sequence, window: 0)],
                "an ACK tells the peer where our RCV.NXT really is")

        // Still refused: data beyond the shut window, and an ACK from farther than our buffer.
        var d = c
        _ = d.exchange(tcpFromPeer(seq: ahead, ack: LISS + 1 + TCP_PEER_MSS), tcpBytes(10), at: TCP_T0 + 3 * tcpMS)
        #expect(d.receiveQueueCount == TCP_RX_CAPACITY && d.receiveNextSequence == sequence)
        var e = tcpEstablished()
        #expect(e.send(tcpBytes(TCP_PEER_MSS)) == TCP_PEER_MSS)
        _ = e.recv(TCP_T0)
        var next = RISS + 1
        for _ in 0..<(TCP_RX_CAPACITY / 1024) {
            _ = e.exchange(tcpFromPeer(seq: next, ack: LISS + 1), tcpBytes(1024), at: TCP_T0 + tcpMS)
            next = next + 1024
        }
        _ = e.exchange(tcpFromPeer(seq: next + (TCP_RX_CAPACITY + 1), ack: LISS + 1 + TCP_PEER_MSS), at: TCP_T0 + 2 * tcpMS)
        #expect(e.sendUnacknowledgedSequence == LISS + 1, "an ACK from beyond the buffer's reach is not taken")
    }

    /// passt (2023-03) applies the window scale to a retransmitted SYN-ACK's window (which
    /// is never scaled); announced as free >> shift, even that reading stays in the buffer.
    @Test func theSYNACKWindowStaysInTheBufferEvenIfReadAsScaled() {
        var c = tcpListening(rx: 128 * 1024)
        let out = c.exchange(tcpFromPeer(seq: RISS, flags: [.syn], options: TCPOptions(maximumSegmentSize: 1000, windowScale: 7)),
                             at: TCP_T0)
        let synAck = out.first?.repr
        #expect(synAck?.options.windowScale == 2)
        #expect(synAck?.window == UInt16(128 * 1024 >> 2))
        let resent = c.recv(c.pollAt()!)
        #expect(resent.first?.repr.flags == [.syn, .ack])
        #expect(Int(resent.first?.repr.window ?? .max) << 2 <= 128 * 1024)
    }
}
