// Handshakes, data transfer, acknowledgment policy and closing, one segment at a time.
import Testing
import TestSupport
@testable import Swiftlet

@Suite struct TCPHandshakeTests {
    @Test func passiveOpen() {
        var c = tcpListening()
        #expect(c.pollAt() == nil)
        #expect(c.recv(TCP_T0) == [])
        let synAck = c.exchange(tcpFromPeer(seq: RISS, flags: [.syn], options: TCP_PEER_SYN_OPTIONS), at: TCP_T0)
        #expect(synAck == [TCPSeg(tcpToPeer(seq: LISS, ack: RISS + 1, flags: [.syn], window: 8192, options: TCP_OUR_MSS_OPTION))])
        #expect(c.state == .synReceived)
        #expect(c.remote == TCP_REMOTE)
        #expect(c.effectiveSendMSS == TCP_PEER_MSS)
        #expect(c.windowScaleShifts == nil)  // the peer did not offer scaling
        #expect(c.pollAt() == TCP_T0 + tcpSecond)  // SYN-ACK retransmission at the initial RTO
        #expect(c.exchange(tcpFromPeer(seq: RISS + 1, ack: LISS + 1), at: TCP_T0 + 10 * tcpMS) == [])
        #expect(c.state == .established)
        #expect(c.peerWindow == Int(TCP_PEER_WINDOW))
        #expect(c.smoothedRoundTripTime == 10 * tcpMS)  // the handshake gave an RTT sample
        #expect(c.pollAt() == nil)
        #expect(c.isWritable && !c.isReadable)
    }

    @Test func activeOpen() {
        var c = tcpClosedConnection()
        c.connect(local: TCP_LOCAL, remote: TCP_REMOTE, iss: LISS, now: TCP_T0)
        #expect(c.pollAt() == 0)
        let syn = c.recv(TCP_T0)
        #expect(syn == [TCPSeg(tcpToPeer(seq: LISS, flags: [.syn], window: 8192,
                                    options: TCPOptions(maximumSegmentSize: 1460, windowScale: 0, sackPermitted: true)))])
        #expect(c.state == .synSent)
        let ack = c.exchange(tcpFromPeer(seq: RISS, ack: LISS + 1, flags: [.syn], options: TCP_PEER_SYN_OPTIONS), at: TCP_T0 + 5 * tcpMS)
        #expect(ack == [TCPSeg(tcpToPeer(seq: LISS + 1, ack: RISS + 1))])
        #expect(c.state == .established)
        #expect(c.smoothedRoundTripTime == 5 * tcpMS)
        #expect(c.windowScaleShifts == nil)
    }

    @Test func windowScalingNegotiatedWhenBothOffer() {
        var c = tcpClosedConnection(rx: 1 << 20)
        c.connect(local: TCP_LOCAL, remote: TCP_REMOTE, iss: LISS, now: TCP_T0)
        let syn = c.recv(TCP_T0)
        // 1 MiB needs a shift of 5 to fit the 16-bit field; SYN windows are never scaled, and
        // ours is free >> shift, so a peer that scales it anyway stays within the buffer.
        #expect(syn.first?.repr.options == TCPOptions(maximumSegmentSize: 1460, windowScale: 5, sackPermitted: true))
        #expect(syn.first?.repr.window == UInt16((1 << 20) >> 5))
        let ack = c.exchange(tcpFromPeer(seq: RISS, ack: LISS + 1, flags: [.syn], window: 1000,
                                      options: TCPOptions(maximumSegmentSize: 1200, windowScale: 3)), at: TCP_T0)
        #expect(c.windowScaleShifts! == (3, 5))
        #expect(c.effectiveSendMSS == 1200)
        #expect(c.peerWindow == 1000)  // the SYN-ACK's window is not scaled
        #expect(ack.first?.repr.window == UInt16((1 << 20) >> 5))
        c.deliver(tcpFromPeer(seq: RISS + 1, ack: LISS + 1, window: 1000), at: TCP_T0)
        #expect(c.peerWindow == 8000)
    }

    @Test func windowScalingNeedsBothSides() {
        // We offer, the peer does not: no scaling either way.
        var active = tcpClosedConnection(rx: 1 << 20)
        active.connect(local: TCP_LOCAL, remote: TCP_REMOTE, iss: LISS, now: TCP_T0)
        _ = active.recv(TCP_T0)
        active.deliver(tcpFromPeer(seq: RISS, ack: LISS + 1, flags: [.syn], options: TCP_PEER_SYN_OPTIONS), at: TCP_T0)
        #expect(active.windowScaleShifts == nil)
        let ack = active.recv(TCP_T0)
        #expect(ack.first?.repr.window == 0xFFFF)  // clamped, unscaled
        // The peer offers, we are configured not to: the SYN-ACK carries no scale.
        var configuration = tcpTestConfiguration()
        configuration.windowScaling = false
        var passive = tcpListening(configuration)
        let synAck = passive.exchange(tcpFromPeer(seq: RISS, flags: [.syn],
                                               options: TCPOptions(maximumSegmentSize: 1000, windowScale: 7)), at: TCP_T0)
        #expect(synAck.first?.repr.options == TCP_OUR_MSS_OPTION)
        #expect(passive.windowScaleShifts == nil)
        // Passive side with scaling on: the SYN-ACK answers with our shift; excess shifts clamp to 14.
        var scaled = tcpListening(rx: 1 << 20)
        let reply = scaled.exchange(tcpFromPeer(seq: RISS, flags: [.syn],
                                             options: TCPOptions(maximumSegmentSize: 1000, windowScale: 20)), at: TCP_T0)
        #expect(reply.first?.repr.options == TCPOptions(maximumSegmentSize: 1460, windowScale: 5))
        #expect(scaled.windowScaleShifts! == (14, 5))
    }

    @Test func peerWithoutMSSOptionGets536() {
        var c = tcpListening()
        _ = c.exchange(tcpFromPeer(seq: RISS, flags: [.syn]), at: TCP_T0)
        #expect(c.effectiveSendMSS == 536)
        // Our MSS bounds a larger peer MSS.
        var d = tcpListening(TCPConfiguration(mtu: 576))
        _ = d.exchange(tcpFromPeer(seq: RISS, flags: [.syn], options: TCPOptions(maximumSegmentSize: 9000)), at: TCP_T0)
        #expect(d.effectiveSendMSS == 536)
    }

    @Test func simultaneousOpen() {
        var c = tcpSynSent()
        // The peer's SYN crosses ours: SYN-RECEIVED, and our SYN goes out again with an ACK.
        let synAck = c.exchange(tcpFromPeer(seq: RISS, flags: [.syn], options: TCPOptions(maximumSegmentSize: 1000, windowScale: 2)), at: TCP_T0)
        #expect(c.state == .synReceived)
        #expect(synAck == [TCPSeg(tcpToPeer(seq: LISS, ack: RISS + 1, flags: [.syn], window: 8192,
                                       options: TCPOptions(maximumSegmentSize: 1460, windowScale: 0)))])
        // The peer's SYN-ACK completes it.
        #expect(c.exchange(tcpFromPeer(seq: RISS, ack: LISS + 1, flags: [.syn]), at: TCP_T0) == [])
        #expect(c.state == .established)
        #expect(c.windowScaleShifts! == (2, 0))
    }

    @Test func simultaneousOpenBetweenTwoConnections() {
        let a = TCPEndpoint(address: IPv4Address(10, 0, 0, 1), port: 1111)
        let b = TCPEndpoint(address: IPv4Address(10, 0, 0, 2), port: 2222)
        var left = tcpClosedConnection()
        var right = tcpClosedConnection()
        left.connect(local: a, remote: b, iss: TCPSequenceNumber(100), now: TCP_T0)
        right.connect(local: b, remote: a, iss: TCPSequenceNumber(300), now: TCP_T0)
        for _ in 0..<3 {
            let fromLeft = left.recv(TCP_T0)
            let fromRight = right.recv(TCP_T0)
            for seg in fromLeft { seg.payload.withUnsafeBytes { right.process(seg.repr, payload: $0, now: TCP_T0) } }
            for seg in fromRight { seg.payload.withUnsafeBytes { left.process(seg.repr, payload: $0, now: TCP_T0) } }
        }
        #expect(left.state == .established)
        #expect(right.state == .established)
        #expect(left.receiveNextSequence == TCPSequenceNumber(301))
        #expect(right.receiveNextSequence == TCPSequenceNumber(101))
    }

    @Test func lostSynAckIsResentOnDuplicateSyn() {
        var c = tcpSynReceived()
        let again = c.exchange(tcpFromPeer(seq: RISS, flags: [.syn], options: TCP_PEER_SYN_OPTIONS), at: TCP_T0 + tcpMS)
        #expect(again == [TCPSeg(tcpToPeer(seq: LISS, ack: RISS + 1, flags: [.syn], window: 8192, options: TCP_OUR_MSS_OPTION))])
        #expect(c.state == .synReceived)
    }

    @Test func synRetransmittedWithBackoff() {
        var c = tcpSynSent()
        #expect(c.pollAt() == TCP_T0 + tcpSecond)
        #expect(c.recv(TCP_T0 + tcpSecond - 1) == [])
        let first = c.recv(TCP_T0 + tcpSecond)
        #expect(first.map(\.repr.flags) == [[.syn]])
        #expect(c.pollAt() == TCP_T0 + 3 * tcpSecond)
        #expect(c.recv(TCP_T0 + 3 * tcpSecond).map(\.repr.sequenceNumber) == [LISS])
        #expect(c.pollAt() == TCP_T0 + 7 * tcpSecond)
        // Karn: the SYN-ACK after a retransmission gives no RTT sample.
        _ = c.exchange(tcpFromPeer(seq: RISS, ack: LISS + 1, flags: [.syn], options: TCP_PEER_SYN_OPTIONS), at: TCP_T0 + 7 * tcpSecond)
        #expect(c.state == .established)
        #expect(c.smoothedRoundTripTime == nil)
    }

    @Test func dataQueuedBeforeTheHandshakeFollowsIt() {
        var c = tcpClosedConnection()
        c.connect(local: TCP_LOCAL, remote: TCP_REMOTE, iss: LISS, now: TCP_T0)
        #expect(!c.isWritable)
        #expect(c.send(tcpBytes(100)) == 100)
        #expect(c.recv(TCP_T0).map(\.payload.count) == [0])  // the SYN carries no data
        let out = c.exchange(tcpFromPeer(seq: RISS, ack: LISS + 1, flags: [.syn], options: TCP_PEER_SYN_OPTIONS), at: TCP_T0 + tcpMS)
        // The first data segment also acknowledges the SYN-ACK.
        #expect(out == [TCPSeg(tcpToPeer(seq: LISS + 1, ack: RISS + 1, flags: [.psh]), tcpBytes(100))])
    }

    @Test func closeBeforeHandshakeCompletes() {
        var sent = tcpSynSent()
        sent.close()
        #expect(sent.state == .closed)
        #expect(sent.recv(TCP_T0) == [])
        var listener = tcpListening()
        listener.close()
        #expect(listener.state == .closed)
        // In SYN-RECEIVED the FIN waits for the handshake.
        var received = tcpSynReceived()
        received.close()
        #expect(received.state == .synReceived)
        let fin = received.exchange(tcpFromPeer(seq: RISS + 1, ack: LISS + 1), at: TCP_T0)
        #expect(received.state == .finWait1)
        #expect(fin == [TCPSeg(tcpToPeer(seq: LISS + 1, ack: RISS + 1, flags: [.fin, .psh]))])
    }
}

@Suite struct TCPDataTests {
    @Test func dataFromPeerIsDelayedAcked() {
        var c = tcpEstablished()
        let data = tcpBytes(100)
        #expect(c.exchange(tcpFromPeer(seq: RISS + 1, ack: LISS + 1, flags: [.psh]), data, at: TCP_T0) == [])
        #expect(c.isReadable)
        #expect(c.pollAt() == TCP_T0 + 40 * tcpMS)
        #expect(c.recv(TCP_T0 + 39 * tcpMS) == [])
        #expect(c.recv(TCP_T0 + 40 * tcpMS) == [TCPSeg(tcpToPeer(seq: LISS + 1, ack: RISS + 101, window: 8092))])
        #expect(c.readAll() == data)
        #expect(!c.isReadable)
    }

    @Test func everySecondFullSegmentIsAckedAtOnce() {
        var c = tcpEstablished()
        #expect(c.exchange(tcpFromPeer(seq: RISS + 1, ack: LISS + 1), tcpBytes(1000), at: TCP_T0) == [])
        let ack = c.exchange(tcpFromPeer(seq: RISS + 1001, ack: LISS + 1), tcpBytes(1000), at: TCP_T0)
        #expect(ack == [TCPSeg(tcpToPeer(seq: LISS + 1, ack: RISS + 2001, window: 6192))])
        #expect(c.pollAt() == nil)
    }

    @Test func delayedAcksCanBeDisabled() {
        var configuration = tcpTestConfiguration()
        configuration.delayedAckTimeout = nil
        var c = tcpEstablished(configuration)
        let ack = c.exchange(tcpFromPeer(seq: RISS + 1, ack: LISS + 1), tcpBytes(10), at: TCP_T0)
        #expect(ack == [TCPSeg(tcpToPeer(seq: LISS + 1, ack: RISS + 11, window: 8182))])
    }

    @Test func dataToPeerInMSSSegments() {
        var c = tcpEstablished()
        let data = tcpBytes(2500)
        #expect(c.send(data) == 2500)
        #expect(c.pollAt() == 0)
        let out = c.recv(TCP_T0)
        #expect(out == [
            TCPSeg(tcpToPeer(seq: LISS + 1, ack: RISS + 1, flags: [.psh]), Array(data[0..<1000])),
            TCPSeg(tcpToPeer(seq: LISS + 1001, ack: RISS + 1, flags: [.psh]), Array(data[1000..<2000])),
        ])
        // Nagle holds the 500-octet tail until the outstanding data is acknowledged.
        #expect(c.pollAt() == TCP_T0 + c.retransmissionTimeout)
        let tail = c.exchange(tcpFromPeer(seq: RISS + 1, ack: LISS + 2001), at: TCP_T0 + 20 * tcpMS)
        #expect(tail == [TCPSeg(tcpToPeer(seq: LISS + 2001, ack: RISS + 1, flags: [.psh]), Array(data[2000..<2500]))])
        #expect(c.exchange(tcpFromPeer(seq: RISS + 1, ack: LISS + 2501), at: TCP_T0 + 40 * tcpMS) == [])
        #expect(c.sendQueueCount == 0)
        #expect(c.pollAt() == nil)  // nothing in flight: no timer
    }

    @Test func sendIsBoundedByTheBuffer() {
        var c = tcpEstablished()
        #expect(c.send(tcpBytes(TCP_TX_CAPACITY + 100)) == TCP_TX_CAPACITY)
        #expect(!c.isWritable)
        #expect(c.send([1]) == 0)
        // The initial congestion window (4 × 1000 for a 1000-octet MSS) limits the burst.
        #expect(c.recv(TCP_T0).count == 4)
        #expect(c.congestionWindowBytes == 4000)
        // An ACK of two segments grows cwnd by one MSS per ACK in slow start (RFC 5681).
        let more = c.exchange(tcpFromPeer(seq: RISS + 1, ack: LISS + 2001), at: TCP_T0 + tcpMS)
        #expect(c.congestionWindowBytes == 5000)
        #expect(more.map(\.repr.sequenceNumber) == [LISS + 4001, LISS + 5001, LISS + 6001])
        #expect(c.isWritable)
    }

    @Test func bothDirectionsPiggyback() {
        var c = tcpEstablished()
        _ = c.send(tcpBytes(10, seed: 1))
        _ = c.recv(TCP_T0)
        // Peer data that also acknowledges ours; our reply data carries the ACK.
        c.deliver(tcpFromPeer(seq: RISS + 1, ack: LISS + 11), tcpBytes(20, seed: 2), at: TCP_T0 + tcpMS)
        _ = c.send(tcpBytes(5, seed: 3))
        let out = c.recv(TCP_T0 + tcpMS)
        #expect(out == [TCPSeg(tcpToPeer(seq: LISS + 11, ack: RISS + 21, flags: [.psh], window: 8172), tcpBytes(5, seed: 3))])
        #expect(c.readAll() == tcpBytes(20, seed: 2))
    }

    @Test func outOfOrderSegmentIsBufferedAndAcked() {
        var c = tcpEstablished()
        let data = tcpBytes(3000)
        // Second segment first: buffered, duplicate ACK at once.
        let dup = c.exchange(tcpFromPeer(seq: RISS + 1001, ack: LISS + 1), Array(data[1000..<2000]), at: TCP_T0)
        #expect(dup == [TCPSeg(tcpToPeer(seq: LISS + 1, ack: RISS + 1, window: 8192))])
        #expect(!c.isReadable)
        // Third, also out of order.
        #expect(c.exchange(tcpFromPeer(seq: RISS + 2001, ack: LISS + 1), Array(data[2000..<3000]), at: TCP_T0).count == 1)
        // The first fills the hole: everything is acknowledged at once.
        let ack = c.exchange(tcpFromPeer(seq: RISS + 1, ack: LISS + 1), Array(data[0..<1000]), at: TCP_T0)
        #expect(ack == [TCPSeg(tcpToPeer(seq: LISS + 1, ack: RISS + 3001, window: 5192))])
        #expect(c.readAll() == data)
    }

    @Test func outOfOrderFINWaitsForTheGap() {
        var c = tcpEstablished()
        _ = c.exchange(tcpFromPeer(seq: RISS + 11, ack: LISS + 1, flags: [.fin]), tcpBytes(10, seed: 5), at: TCP_T0)
        #expect(c.state == .established && !c.receivedFIN)
        let ack = c.exchange(tcpFromPeer(seq: RISS + 1, ack: LISS + 1), tcpBytes(10, seed: 4), at: TCP_T0)
        #expect(ack == [TCPSeg(tcpToPeer(seq: LISS + 1, ack: RISS + 22, window: 8172))])
        #expect(c.state == .closeWait && c.receivedFIN)
        #expect(c.readAll() == tcpBytes(10, seed: 4) + tcpBytes(10, seed: 5))
    }

    @Test func duplicateSegmentIsReAcked() {
        var c = tcpEstablished()
        _ = c.exchange(tcpFromPeer(seq: RISS + 1, ack: LISS + 1), tcpBytes(100), at: TCP_T0)
        _ = c.recv(TCP_T0 + 40 * tcpMS)
        let again = c.exchange(tcpFromPeer(seq: RISS + 1, ack: LISS + 1), tcpBytes(100), at: TCP_T0 + 50 * tcpMS)
        #expect(again == [TCPSeg(tcpToPeer(seq: LISS + 1, ack: RISS + 101, window: 8092))])
        #expect(c.readAll() == tcpBytes(100))  // not delivered twice
    }

    @Test func partiallyDuplicateSegmentIsTrimmed() {
        var c = tcpEstablished()
        let data = tcpBytes(200)
        _ = c.exchange(tcpFromPeer(seq: RISS + 1, ack: LISS + 1), Array(data[0..<100]), at: TCP_T0)
        _ = c.exchange(tcpFromPeer(seq: RISS + 51, ack: LISS + 1), Array(data[50..<200]), at: TCP_T0)
        #expect(c.receiveNextSequence == RISS + 201)
        #expect(c.readAll() == data)
    }

    @Test func segmentOutsideWindowIsAckedAndDropped() {
        var c = tcpEstablished()
        let ahead = c.exchange(tcpFromPeer(seq: RISS + 1 + 8192, ack: LISS + 1), tcpBytes(10), at: TCP_T0)
        #expect(ahead == [TCPSeg(tcpToPeer(seq: LISS + 1, ack: RISS + 1))])
        let behind = c.exchange(tcpFromPeer(seq: RISS - 100, ack: LISS + 1), tcpBytes(10), at: TCP_T0)
        #expect(behind == [TCPSeg(tcpToPeer(seq: LISS + 1, ack: RISS + 1))])
        #expect(c.state == .established)
        #expect(!c.isReadable)
        #expect(c.receiveNextSequence == RISS + 1)
    }

    @Test func ackOfUnsentDataIsAnsweredAndDropped() {
        var c = tcpEstablished()
        let out = c.exchange(tcpFromPeer(seq: RISS + 1, ack: LISS + 500), tcpBytes(10), at: TCP_T0)
        #expect(out == [TCPSeg(tcpToPeer(seq: LISS + 1, ack: RISS + 1))])
        #expect(!c.isReadable)
    }

    @Test func dataBeyondTheReceiveWindowIsTrimmed() {
        var c = tcpEstablished(rx: 1000)
        let ack = c.exchange(tcpFromPeer(seq: RISS + 1, ack: LISS + 1), tcpBytes(1500), at: TCP_T0)
        #expect(ack == [TCPSeg(tcpToPeer(seq: LISS + 1, ack: RISS + 1001, window: 0))])
        #expect(c.readAll() == Array(tcpBytes(1500)[0..<1000]))
    }

    @Test func zeroReceiveWindowThenWindowUpdate() {
        var c = tcpEstablished(rx: 2000)
        _ = c.exchange(tcpFromPeer(seq: RISS + 1, ack: LISS + 1), tcpBytes(1000), at: TCP_T0)
        let full = c.exchange(tcpFromPeer(seq: RISS + 1001, ack: LISS + 1), tcpBytes(1000), at: TCP_T0)
        #expect(full == [TCPSeg(tcpToPeer(seq: LISS + 1, ack: RISS + 2001, window: 0))])
        // A zero-window probe is answered with the (still zero) window; its octet is dropped.
        let probe = c.exchange(tcpFromPeer(seq: RISS + 2001, ack: LISS + 1), [0xEE], at: TCP_T0 + 200 * tcpMS)
        #expect(probe == [TCPSeg(tcpToPeer(seq: LISS + 1, ack: RISS + 2001, window: 0))])
        // Reading opens the window: a window update goes out without waiting.
        // Receiver SWS avoidance: 500 octets (< min(buffer/2, MSS)) are not worth announcing.
        #expect(c.receive(maximum: 500).count == 500)
        #expect(c.pollAt() == nil)
        #expect(c.receive(maximum: 500).count == 500)
        #expect(c.pollAt() == 0)
        #expect(c.recv(TCP_T0 + 300 * tcpMS) == [TCPSeg(tcpToPeer(seq: LISS + 1, ack: RISS + 2001, window: 1000))])
        #expect(c.pollAt() == nil)
    }

    @Test func nagleHoldsSmallSegmentWhileDataIsUnacknowledged() {
        var c = tcpEstablished()
        _ = c.send(tcpBytes(10))
        #expect(c.recv(TCP_T0).count == 1)
        _ = c.send(tcpBytes(10, seed: 9))
        #expect(c.recv(TCP_T0) == [])
        #expect(c.pollAt() == TCP_T0 + c.retransmissionTimeout)  // only the RTO timer
        // A full segment's worth is not held.
        var full = c
        _ = full.send(tcpBytes(990))
        #expect(full.recv(TCP_T0).map(\.payload.count) == [1000])
        // The ACK releases the small one.
        let released = c.exchange(tcpFromPeer(seq: RISS + 1, ack: LISS + 11), at: TCP_T0 + tcpMS)
        #expect(released == [TCPSeg(tcpToPeer(seq: LISS + 11, ack: RISS + 1, flags: [.psh]), tcpBytes(10, seed: 9))])
    }

    @Test func nagleCanBeDisabled() {
        var configuration = tcpTestConfiguration()
        configuration.nagle = false
        var c = tcpEstablished(configuration)
        _ = c.send(tcpBytes(10))
        _ = c.recv(TCP_T0)
        _ = c.send(tcpBytes(10))
        #expect(c.recv(TCP_T0).map(\.repr.sequenceNumber) == [LISS + 11])
    }

    @Test func sendWindowLimitsData() {
        var c = tcpEstablished()
        c.deliver(tcpFromPeer(seq: RISS + 1, ack: LISS + 1, window: 600), at: TCP_T0)
        _ = c.send(tcpBytes(1000))
        // 600 octets fit; with nothing outstanding the window-limited piece goes out.
        #expect(c.recv(TCP_T0).map(\.payload.count) == [600])
        #expect(c.recv(TCP_T0) == [])
        let rest = c.exchange(tcpFromPeer(seq: RISS + 1, ack: LISS + 601, window: 600), at: TCP_T0 + tcpMS)
        #expect(rest.map(\.payload.count) == [400])
    }
}

@Suite struct TCPCloseTests {
    @Test func activeCloseThroughTimeWait() {
        var c = tcpEstablished()
        _ = c.send(tcpBytes(10))
        c.close()
        #expect(!c.isWritable)
        #expect(c.send([1]) == 0)
        // The FIN rides on the last data segment.
        let out = c.recv(TCP_T0)
        #expect(out == [TCPSeg(tcpToPeer(seq: LISS + 1, ack: RISS + 1, flags: [.fin, .psh]), tcpBytes(10))])
        #expect(c.state == .finWait1)
        #expect(c.exchange(tcpFromPeer(seq: RISS + 1, ack: LISS + 12), at: TCP_T0 + tcpMS) == [])
        #expect(c.state == .finWait2)
        #expect(c.pollAt() == nil)
        // Data can still arrive in FIN-WAIT-2.
        _ = c.exchange(tcpFromPeer(seq: RISS + 1, ack: LISS + 12), tcpBytes(5), at: TCP_T0 + 2 * tcpMS)
        let ack = c.exchange(tcpFromPeer(seq: RISS + 6, ack: LISS + 12, flags: [.fin]), at: TCP_T0 + 3 * tcpMS)
        #expect(ack == [TCPSeg(tcpToPeer(seq: LISS + 12, ack: RISS + 7, window: 8187))])
        #expect(c.state == .timeWait)
        #expect(c.pollAt() == TCP_T0 + 3 * tcpMS + 60 * tcpSecond)
        #expect(c.recv(TCP_T0 + 3 * tcpMS + 60 * tcpSecond - 1) == [])
        #expect(c.state == .timeWait)
        #expect(c.recv(TCP_T0 + 3 * tcpMS + 60 * tcpSecond) == [])
        #expect(c.state == .closed)
        #expect(c.error == nil)
        #expect(c.readAll() == tcpBytes(5))
    }

    @Test func timeWaitReAcksRetransmittedFINAndRestartsTimer() {
        var c = tcpTimeWait()
        #expect(c.pollAt() == TCP_T0 + 60 * tcpSecond)
        let again = c.exchange(tcpFromPeer(seq: RISS + 1, ack: LISS + 2, flags: [.fin]), at: TCP_T0 + 10 * tcpSecond)
        #expect(again == [TCPSeg(tcpToPeer(seq: LISS + 2, ack: RISS + 2))])
        #expect(c.pollAt() == TCP_T0 + 70 * tcpSecond)
    }

    @Test func mslIsConfigurable() {
        var configuration = tcpTestConfiguration()
        configuration.maximumSegmentLifetime = 2 * tcpSecond
        var c = tcpEstablished(configuration)
        c.close()
        _ = c.recv(TCP_T0)
        _ = c.exchange(tcpFromPeer(seq: RISS + 1, ack: LISS + 2, flags: [.fin]), at: TCP_T0)
        #expect(c.state == .timeWait)
        #expect(c.pollAt() == TCP_T0 + 4 * tcpSecond)
    }

    @Test func passiveClose() {
        var c = tcpCloseWait()
        #expect(c.receivedFIN)
        #expect(c.isWritable)
        _ = c.send(tcpBytes(3))
        c.close()
        let fin = c.recv(TCP_T0)
        #expect(fin == [TCPSeg(tcpToPeer(seq: LISS + 1, ack: RISS + 2, flags: [.fin, .psh]), tcpBytes(3))])
        #expect(c.state == .lastAck)
        #expect(c.exchange(tcpFromPeer(seq: RISS + 2, ack: LISS + 5), at: TCP_T0) == [])
        #expect(c.state == .closed)
        #expect(c.error == nil)
        #expect(c.pollAt() == nil)
    }

    @Test func simultaneousCloseThroughClosing() {
        var c = tcpClosing()
        #expect(c.pollAt() == TCP_T0 + c.retransmissionTimeout)  // our FIN is still unacknowledged
        #expect(c.exchange(tcpFromPeer(seq: RISS + 2, ack: LISS + 2), at: TCP_T0) == [])
        #expect(c.state == .timeWait)
        #expect(c.recv(TCP_T0 + 60 * tcpSecond) == [])
        #expect(c.state == .closed)
    }

    @Test func finAndAckTogetherGoStraightToTimeWait() {
        var c = tcpFinWait1()
        let ack = c.exchange(tcpFromPeer(seq: RISS + 1, ack: LISS + 2, flags: [.fin]), at: TCP_T0)
        #expect(ack == [TCPSeg(tcpToPeer(seq: LISS + 2, ack: RISS + 2))])
        #expect(c.state == .timeWait)
    }

    @Test func finIsRetransmitted() {
        var c = tcpFinWait1()
        let rto = c.retransmissionTimeout
        #expect(c.recv(TCP_T0 + rto) == [TCPSeg(tcpToPeer(seq: LISS + 1, ack: RISS + 1, flags: [.fin, .psh]))])
        #expect(c.state == .finWait1)
    }

    @Test func lastAckRetransmitsFINUntilAcked() {
        var c = tcpLastAck()
        let rto = c.retransmissionTimeout
        #expect(c.recv(TCP_T0 + rto) == [TCPSeg(tcpToPeer(seq: LISS + 1, ack: RISS + 2, flags: [.fin, .psh]))])
        _ = c.exchange(tcpFromPeer(seq: RISS + 2, ack: LISS + 2), at: TCP_T0 + rto + tcpMS)
        #expect(c.state == .closed)
    }

    @Test func closedConnectionAnswersWithReset() {
        var c = tcpClosedConnection()
        c.listen(local: TCP_LOCAL, iss: LISS)
        c.close()
        let withAck = c.exchange(tcpFromPeer(seq: RISS, ack: TCPSequenceNumber(777)), tcpBytes(5), at: TCP_T0)
        #expect(withAck == [TCPSeg(TCPSegmentRepr(sourcePort: TCP_LOCAL.port, destinationPort: TCP_REMOTE.port,
                                               sequenceNumber: TCPSequenceNumber(777), flags: [.rst], window: 0))])
        let withoutAck = c.exchange(tcpFromPeer(seq: RISS, flags: [.syn]), tcpBytes(5), at: TCP_T0)
        #expect(withoutAck == [TCPSeg(TCPSegmentRepr(sourcePort: TCP_LOCAL.port, destinationPort: TCP_REMOTE.port,
                                                  sequenceNumber: TCPSequenceNumber(0), acknowledgmentNumber: RISS + 6,
                                                  flags: [.rst, .ack], window: 0))])
        #expect(c.exchange(tcpFromPeer(seq: RISS, flags: [.rst]), at: TCP_T0) == [])
    }

    @Test func segmentsForOtherPortsAreIgnored() {
        var c = tcpEstablished()
        var other = tcpFromPeer(seq: RISS + 1, ack: LISS + 1, flags: [.rst])
        other.sourcePort = 1
        #expect(c.exchange(other, at: TCP_T0) == [])
        other.sourcePort = TCP_REMOTE.port
        other.destinationPort = 81
        #expect(c.exchange(other, at: TCP_T0) == [])
        #expect(c.state == .established)
    }
}
