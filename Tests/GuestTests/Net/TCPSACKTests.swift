// Selective acknowledgments as a receiver (RFC 2018): negotiated in the SYNs, and out-of-order
// data reported in SACK blocks on ACK-only segments. Found by bench/lossy_soak.py: without them a
// Linux sender on a lossy link recovered each hole by timeouts, and its RTO backed off past 30 s.
import Testing
import TestSupport
@testable import Swiftlet

@Suite struct TCPSACKTests {
    private static let peerSYNWithSACK = TCPOptions(maximumSegmentSize: UInt16(TCP_PEER_MSS), sackPermitted: true)

    /// Established with a peer whose SYN offered SACK.
    private func established(_ configuration: TCPConfiguration = tcpTestConfiguration()) -> TCPConnection {
        var c = tcpListening(configuration)
        let synAck = c.exchange(tcpFromPeer(seq: RISS, flags: [.syn], options: Self.peerSYNWithSACK), at: TCP_T0)
        #expect(synAck.count == 1)
        #expect(c.exchange(tcpFromPeer(seq: RISS + 1, ack: LISS + 1), at: TCP_T0) == [])
        #expect(c.state == .established)
        return c
    }

    private func blocks(_ ranges: [(Int, Int)]) -> TCPSACKBlocks {
        var blocks = TCPSACKBlocks()
        for (start, end) in ranges { blocks.append(TCPSACKBlock(start: RISS + 1 + start, end: RISS + 1 + end)) }
        return blocks
    }

    @Test func synAckOffersSACKOnlyWhenThePeerDid() {
        var offered = tcpListening()
        let withSACK = offered.exchange(tcpFromPeer(seq: RISS, flags: [.syn], options: Self.peerSYNWithSACK), at: TCP_T0)
        #expect(withSACK.first?.repr.options.sackPermitted == true)
        var plain = tcpListening()
        let withoutSACK = plain.exchange(tcpFromPeer(seq: RISS, flags: [.syn], options: TCP_PEER_SYN_OPTIONS), at: TCP_T0)
        #expect(withoutSACK.first?.repr.options.sackPermitted == false)
        var off = TCPConfiguration(mtu: 1500)
        off.selectiveAcknowledgments = false
        var refused = tcpListening(off)
        let synAck = refused.exchange(tcpFromPeer(seq: RISS, flags: [.syn], options: Self.peerSYNWithSACK), at: TCP_T0)
        #expect(synAck.first?.repr.options.sackPermitted == false)
    }

    @Test func activeOpenOffersSACKAndUsesItOnlyIfTheSynAckAgrees() {
        var c = tcpClosedConnection()
        c.connect(local: TCP_LOCAL, remote: TCP_REMOTE, iss: LISS, now: TCP_T0)
        #expect(c.recv(TCP_T0).first?.repr.options.sackPermitted == true)
        _ = c.exchange(tcpFromPeer(seq: RISS, ack: LISS + 1, flags: [.syn], options: TCP_PEER_SYN_OPTIONS), at: TCP_T0)
        #expect(c.state == .established)
        // The SYN-ACK offered no SACK: out-of-order data gets a plain duplicate ACK.
        let answer = c.exchange(tcpFromPeer(seq: RISS + 1 + 1000, ack: LISS + 1), tcpBytes(500), at: TCP_T0 + tcpMS)
        #expect(answer.map(\.repr) == [tcpToPeer(seq: LISS + 1, ack: RISS + 1, window: 8192)])
    }

    @Test func outOfOrderDataIsReportedAtOnceInABlock() {
        var c = established()
        let answer = c.exchange(tcpFromPeer(seq: RISS + 1 + 1000, ack: LISS + 1), tcpBytes(500), at: TCP_T0 + tcpMS)
        #expect(answer.map(\.repr) == [tcpToPeer(seq: LISS + 1, ack: RISS + 1, window: 8192,
                                                 options: TCPOptions(sackBlocks: blocks([(1000, 1500)])))])
    }

    /// The block holding the latest segment comes first, the rest in sequence order (RFC 2018 §4).
    @Test func theLatestBlockComesFirst() {
        var c = established()
        _ = c.exchange(tcpFromPeer(seq: RISS + 1 + 1000, ack: LISS + 1), tcpBytes(500), at: TCP_T0 + tcpMS)
        _ = c.exchange(tcpFromPeer(seq: RISS + 1 + 4000, ack: LISS + 1), tcpBytes(500), at: TCP_T0 + 2 * tcpMS)
        let third = c.exchange(tcpFromPeer(seq: RISS + 1 + 2500, ack: LISS + 1), tcpBytes(500), at: TCP_T0 + 3 * tcpMS)
        #expect(third.map(\.repr.options.sackBlocks) == [blocks([(2500, 3000), (1000, 1500), (4000, 4500)])])
        // A segment extending a block keeps that block first.
        let fourth = c.exchange(tcpFromPeer(seq: RISS + 1 + 1500, ack: LISS + 1), tcpBytes(500), at: TCP_T0 + 4 * tcpMS)
        #expect(fourth.map(\.repr.options.sackBlocks) == [blocks([(1000, 2000), (2500, 3000), (4000, 4500)])])
    }

    @Test func atMostFourBlocksFitAndFillingTheHoleEndsThem() {
        var c = established()
        for (index, start) in [1000, 2000, 3000, 4000, 5000].enumerated() {
            _ = c.exchange(tcpFromPeer(seq: RISS + 1 + start, ack: LISS + 1), tcpBytes(500), at: TCP_T0 + UInt64(index + 1) * tcpMS)
        }
        let five = c.exchange(tcpFromPeer(seq: RISS + 1 + 6000, ack: LISS + 1), tcpBytes(500), at: TCP_T0 + 10 * tcpMS)
        #expect(five.map(\.repr.options.sackBlocks) == [blocks([(6000, 6500), (1000, 1500), (2000, 2500), (3000, 3500)])])
        #expect(five.first?.repr.headerLength == 20 + 36)
        // In order up to the first hole: the ACK moves on and reports the rest, the latest
        // out-of-order block still first.
        let filled = c.exchange(tcpFromPeer(seq: RISS + 1, ack: LISS + 1), tcpBytes(1000), at: TCP_T0 + 11 * tcpMS)
        #expect(filled.map(\.repr.acknowledgmentNumber) == [RISS + 1 + 1500])
        #expect(filled.map(\.repr.options.sackBlocks) == [blocks([(6000, 6500), (2000, 2500), (3000, 3500), (4000, 4500)])])
        // Every hole filled: a plain ACK.
        var now = TCP_T0 + 12 * tcpMS
        var last: [TCPSeg] = []
        for start in [1500, 2500, 3500, 4500, 5500] {
            last = c.exchange(tcpFromPeer(seq: RISS + 1 + start, ack: LISS + 1), tcpBytes(500), at: now)
            now += tcpMS
        }
        #expect(last.map(\.repr.acknowledgmentNumber) == [RISS + 1 + 6500])
        #expect(last.allSatisfy { $0.repr.options.sackBlocks.isEmpty })
    }

    /// Data going out carries the ACK but no blocks (a full segment has no room for them): an
    /// ACK-only segment with the blocks follows it.
    @Test func blocksRideOnlyOnACKOnlySegments() {
        var c = established()
        #expect(c.send(tcpBytes(2 * TCP_PEER_MSS)) == 2 * TCP_PEER_MSS)
        let out = c.exchange(tcpFromPeer(seq: RISS + 1 + 1000, ack: LISS + 1), tcpBytes(500), at: TCP_T0 + tcpMS)
        #expect(out.map(\.payload.count) == [TCP_PEER_MSS, TCP_PEER_MSS, 0])
        #expect(out.prefix(2).allSatisfy { $0.repr.options == .none })
        #expect(out.last?.repr.options.sackBlocks == blocks([(1000, 1500)]))
        #expect(out.last?.repr.sequenceNumber == LISS + 1 + 2 * TCP_PEER_MSS, "the ACK-only segment carries SND.NXT")
    }

    @Test func sackOptionRoundTripsOnTheWire() throws {
        let repr = tcpToPeer(seq: LISS + 1, ack: RISS + 1, options: TCPOptions(sackBlocks: blocks([(1000, 1500), (4000, 4500)])))
        var buffer = [UInt8](repeating: 0, count: 64)
        let written = try buffer.withUnsafeMutableBytes { bytes in
            try repr.emit(into: bytes, payload: UnsafeRawBufferPointer(start: nil, count: 0),
                          source: TCP_LOCAL.address, destination: TCP_REMOTE.address)
        }
        #expect(written == 20 + 20)
        #expect(Array(buffer[20..<24]) == [1, 1, 5, 18])
        let parsed = try buffer.withUnsafeBytes { bytes in
            try TCPSegmentRepr.parse(UnsafeRawBufferPointer(rebasing: bytes[0..<written]),
                                     source: TCP_LOCAL.address, destination: TCP_REMOTE.address)
        }
        #expect(parsed.repr == repr)
    }

    @Test(arguments: [[5, 2], [5, 9, 0, 0, 0, 0, 0, 0, 0], [5, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0]])
    func malformedSACKOptionsAreRefused(option: [UInt8]) {
        let padded = option + [UInt8](repeating: 0, count: (4 - option.count % 4) % 4)
        #expect(throws: WireError.self) { try padded.withUnsafeBytes { try TCPOptions.parse($0) } }
    }
}
