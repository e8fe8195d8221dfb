// RST and SYN handling in every state (RFC 9293 §3.10.7, RFC 5961).
import Testing
import TestSupport
@testable import Swiftlet

private let synchronizedStates: [TCPState] = [.established, .finWait1, .finWait2, .closeWait, .closing, .lastAck, .timeWait]

@Suite struct TCPResetTests {
    @Test(arguments: synchronizedStates)
    func acceptableResetCloses(state: TCPState) {
        var c = tcpConnection(in: state)
        let out = c.exchange(tcpFromPeer(seq: tcpPeerNext(in: state), flags: [.rst]), at: TCP_T0 + tcpMS)
        #expect(out == [])
        #expect(c.state == .closed)
        let expectsError = [.established, .finWait1, .finWait2, .closeWait].contains(state)
        #expect(c.error == (expectsError ? .reset : nil))
        #expect(c.pollAt() == nil)
    }

    @Test(arguments: synchronizedStates)
    func inWindowResetDrawsChallengeAck(state: TCPState) {
        var c = tcpConnection(in: state)
        let next = c.sendNextSequence
        let out = c.exchange(tcpFromPeer(seq: tcpPeerNext(in: state) + 100, flags: [.rst]), at: TCP_T0 + tcpMS)
        #expect(out == [TCPSeg(tcpToPeer(seq: next, ack: tcpPeerNext(in: state)))])
        #expect(c.state == state)
    }

    @Test(arguments: synchronizedStates)
    func outOfWindowResetIsIgnored(state: TCPState) {
        var c = tcpConnection(in: state)
        #expect(c.exchange(tcpFromPeer(seq: tcpPeerNext(in: state) + 100_000, flags: [.rst]), at: TCP_T0 + tcpMS) == [])
        #expect(c.exchange(tcpFromPeer(seq: tcpPeerNext(in: state) - 1, flags: [.rst]), at: TCP_T0 + tcpMS) == [])
        #expect(c.state == state)
    }

    @Test(arguments: synchronizedStates)
    func synInSynchronizedStateDrawsChallengeAck(state: TCPState) {
        var c = tcpConnection(in: state)
        let next = c.sendNextSequence
        let out = c.exchange(tcpFromPeer(seq: tcpPeerNext(in: state) + 10, flags: [.syn]), at: TCP_T0 + tcpMS)
        #expect(out == [TCPSeg(tcpToPeer(seq: next, ack: tcpPeerNext(in: state)))])
        #expect(c.state == state)
    }

    @Test func resetInPassiveSynReceivedReturnsToListen() {
        var c = tcpSynReceived()
        #expect(c.exchange(tcpFromPeer(seq: RISS + 1, flags: [.rst]), at: TCP_T0) == [])
        #expect(c.state == .listen)
        #expect(c.pollAt() == nil)
        // It can accept a new connection afterwards.
        _ = c.exchange(tcpFromPeer(seq: RISS + 500, flags: [.syn], options: TCP_PEER_SYN_OPTIONS), at: TCP_T0)
        #expect(c.state == .synReceived)
    }

    @Test func resetInActiveSynReceivedCloses() {
        var c = tcpSynSent()
        _ = c.exchange(tcpFromPeer(seq: RISS, flags: [.syn]), at: TCP_T0)
        #expect(c.state == .synReceived)
        _ = c.exchange(tcpFromPeer(seq: RISS + 1, flags: [.rst]), at: TCP_T0)
        #expect(c.state == .closed && c.error == .reset)
    }

    @Test func badAckInSynReceivedIsReset() {
        var c = tcpSynReceived()
        let out = c.exchange(tcpFromPeer(seq: RISS + 1, ack: LISS + 50), at: TCP_T0)
        #expect(out == [TCPSeg(tcpToPeer(seq: LISS + 50, flags: [.rst], window: 0))])
        #expect(c.state == .synReceived)
    }

    @Test func resetInSynSentNeedsAnAcceptableAck() {
        // RST without ACK: ignored.
        var c = tcpSynSent()
        #expect(c.exchange(tcpFromPeer(seq: RISS, flags: [.rst]), at: TCP_T0) == [])
        #expect(c.state == .synSent)
        // RST with an unacceptable ACK: ignored, and never answered.
        #expect(c.exchange(tcpFromPeer(seq: RISS, ack: LISS + 7, flags: [.rst]), at: TCP_T0) == [])
        #expect(c.exchange(tcpFromPeer(seq: RISS, ack: LISS, flags: [.rst]), at: TCP_T0) == [])
        #expect(c.state == .synSent)
        // RST with an acceptable ACK: connection refused.
        #expect(c.exchange(tcpFromPeer(seq: RISS, ack: LISS + 1, flags: [.rst]), at: TCP_T0) == [])
        #expect(c.state == .closed)
        #expect(c.error == .refused)
    }

    @Test func unacceptableAckInSynSentIsAnsweredWithReset() {
        var c = tcpSynSent()
        let out = c.exchange(tcpFromPeer(seq: RISS, ack: LISS + 1000, flags: [.syn]), at: TCP_T0)
        #expect(out == [TCPSeg(tcpToPeer(seq: LISS + 1000, flags: [.rst], window: 0))])
        #expect(c.state == .synSent)
    }

    @Test func listenIgnoresResetAndResetsAcks() {
        var c = tcpListening()
        #expect(c.exchange(tcpFromPeer(seq: RISS, flags: [.rst]), at: TCP_T0) == [])
        let out = c.exchange(tcpFromPeer(seq: RISS, ack: TCPSequenceNumber(42)), at: TCP_T0)
        #expect(out == [TCPSeg(tcpToPeer(seq: TCPSequenceNumber(42), flags: [.rst], window: 0))])
        #expect(c.state == .listen)
        // A segment with neither SYN, RST nor ACK is dropped silently.
        #expect(c.exchange(tcpFromPeer(seq: RISS), tcpBytes(3), at: TCP_T0) == [])
        #expect(c.state == .listen)
    }

    @Test func abortSendsResetWhenSynchronized() {
        var c = tcpEstablished()
        _ = c.send(tcpBytes(100))
        c.abort()
        #expect(c.state == .closed)
        #expect(c.sendQueueCount == 0)
        #expect(c.recv(TCP_T0) == [TCPSeg(tcpToPeer(seq: LISS + 1, flags: [.rst], window: 0))])
        #expect(c.pollAt() == nil)
        var l = tcpListening()
        l.abort()
        #expect(l.state == .closed)
        #expect(l.recv(TCP_T0) == [])
        var s = tcpSynSent()
        s.abort()
        #expect(s.recv(TCP_T0) == [])
    }
}
