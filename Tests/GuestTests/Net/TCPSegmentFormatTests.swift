import Testing
import TestSupport
@testable import Swiftlet

private let src = IPv4Address(10, 0, 2, 15)
private let dst = IPv4Address(10, 0, 2, 2)

/// Emits `repr` + `payload` into a fresh array.
private func bytes(of repr: TCPSegmentRepr, payload: [UInt8] = []) throws -> [UInt8] {
    var out = [UInt8](repeating: 0, count: repr.headerLength + payload.count)
    let written = try out.withUnsafeMutableBytes { buffer in
        try payload.withUnsafeBytes { payloadBuffer in
            try repr.emit(into: buffer, payload: payloadBuffer, source: src, destination: dst)
        }
    }
    #expect(written == out.count)
    return out
}

private func parse(_ data: [UInt8], verify: Bool = true) -> Result<(TCPSegmentRepr, [UInt8]), WireError> {
    data.withUnsafeBytes { buffer in
        do throws(WireError) {
            let (repr, payload) = try TCPSegmentRepr.parse(buffer, source: src, destination: dst, verifyChecksum: verify)
            return .success((repr, Array(payload)))
        } catch {
            return .failure(error)
        }
    }
}

private func parseError(_ data: [UInt8], verify: Bool = true) -> WireError? {
    if case .failure(let error) = parse(data, verify: verify) { return error }
    return nil
}

/// A 20-byte header followed by `options` (padded by the caller to a multiple of 4).
private func rawSegment(options: [UInt8], payload: [UInt8] = []) -> [UInt8] {
    precondition(options.count % 4 == 0)
    var header: [UInt8] = [0x12, 0x34, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 2,
                           UInt8((20 + options.count) / 4) << 4, 0x12, 0x20, 0x00, 0, 0, 0, 0]
    header += options
    header += payload
    let sum = header.withUnsafeBytes { TCPSegmentRepr.checksum(source: src, destination: dst, segment: $0) }
    header[16] = UInt8(sum >> 8)
    header[17] = UInt8(sum & 0xFF)
    return header
}

private let sampleRepr = TCPSegmentRepr(
    sourcePort: 49152, destinationPort: 80, sequenceNumber: TCPSequenceNumber(0x0102_0304),
    acknowledgmentNumber: TCPSequenceNumber(0xA0B0_C0D0), flags: [.ack, .psh], window: 0x1234, urgentPointer: 0)

@Suite struct TCPSequenceNumberTests {
    @Test func wrappingComparison() {
        let a = TCPSequenceNumber(0xFFFF_FFF0)
        let b = a + 0x20
        #expect(b.rawValue == 0x10)
        #expect(a < b)
        #expect(!(b < a))
        #expect(b - a == 0x20)
        #expect(a - b == -0x20)
        #expect(b - 0x20 == a)
        #expect(TCPSequenceNumber(5) + (-10) == TCPSequenceNumber(0xFFFF_FFFB))
        #expect(TCPSequenceNumber.later(a, b) == b)
        #expect(TCPSequenceNumber(0x10).isIn(a, b + 1))
        #expect(!b.isIn(a, b))
        var c = a
        c += 1 << 32  // wraps to itself
        #expect(c == a)
    }

    @Test func halfSpaceBoundary() {
        let zero = TCPSequenceNumber(0)
        #expect(zero < zero + Int(Int32.max))
        #expect(zero + Int(Int32.max) + 1 < zero)  // 2^31 apart: "before"
    }
}

@Suite struct TCPSegmentFormatTests {
    @Test func roundTripWithoutOptions() throws {
        let payload: [UInt8] = Array("hello".utf8)
        let data = try bytes(of: sampleRepr, payload: payload)
        #expect(data.count == 25)
        #expect(data[0] == 0xC0 && data[1] == 0x00 && data[2] == 0 && data[3] == 80)
        #expect(data[12] == 0x50 && data[13] == 0x18)
        let (repr, parsedPayload) = try parse(data).get()
        #expect(repr == sampleRepr)
        #expect(parsedPayload == payload)
        #expect(repr.ack == TCPSequenceNumber(0xA0B0_C0D0))
        #expect(repr.sequenceLength(payloadCount: 5) == 5)
    }

    @Test func roundTripWithAllOptions() throws {
        var repr = sampleRepr
        repr.flags = [.syn, .ack, .ece, .cwr, .urg, .fin, .rst]
        repr.urgentPointer = 7
        repr.options = TCPOptions(maximumSegmentSize: 1460, windowScale: 7, sackPermitted: true,
                                  timestamps: TCPTimestamps(value: 0xDEAD_BEEF, echoReply: 42))
        #expect(repr.headerLength == 44)
        let data = try bytes(of: repr, payload: [1, 2, 3])
        #expect(data[12] >> 4 == 11)
        let (parsed, payload) = try parse(data).get()
        #expect(parsed == repr)
        #expect(payload == [1, 2, 3])
        #expect(parsed.sequenceLength(payloadCount: 3) == 5)
    }

    @Test func knownChecksum() throws {
        // A SYN from 192.168.0.1:1024 to 192.168.0.2:80, checksum worked out by hand
        // (ones'-complement sum of pseudo-header and header).
        let repr = TCPSegmentRepr(sourcePort: 1024, destinationPort: 80, sequenceNumber: TCPSequenceNumber(1),
                                  flags: [.syn], window: 8192)
        var out = [UInt8](repeating: 0, count: 20)
        try out.withUnsafeMutableBytes { buffer in
            _ = try repr.emit(into: buffer, payload: UnsafeRawBufferPointer(start: nil, count: 0),
                              source: IPv4Address(192, 168, 0, 1), destination: IPv4Address(192, 168, 0, 2))
        }
        // pseudo: c0a8+0001+c0a8+0002+0006+0014 ; header: 0400+0050+0000+0001+0000+0000+5002+2000
        var sum: UInt32 = 0xC0A8 + 0x0001 + 0xC0A8 + 0x0002 + 0x0006 + 0x0014
        sum += 0x0400 + 0x0050 + 0x0001 + 0x5002 + 0x2000
        while sum >> 16 != 0 { sum = (sum & 0xFFFF) + (sum >> 16) }
        let expected = ~UInt16(sum)
        #expect(UInt16(out[16]) << 8 | UInt16(out[17]) == expected)
        let verified = out.withUnsafeBytes {
            try? TCPSegmentView(checking: $0).verifyChecksum(source: IPv4Address(192, 168, 0, 1),
                                                             destination: IPv4Address(192, 168, 0, 2))
        }
        #expect(verified == true)
    }

    @Test func checksumDetectsEveryBitFlip() throws {
        let data = try bytes(of: sampleRepr, payload: Array("payload!".utf8))
        for index in data.indices {
            for bit in 0..<8 {
                var corrupted = data
                corrupted[index] ^= UInt8(1) << UInt8(bit)
                if index == 12 { continue }  // data-offset changes may fail earlier; checked below
                #expect(parseError(corrupted) == .badChecksum, "byte \(index) bit \(bit)")
            }
        }
        // Wrong pseudo-header addresses fail too.
        let wrongSource = data.withUnsafeBytes {
            try? TCPSegmentView(checking: $0).verifyChecksum(source: dst, destination: src)
        }
        #expect(wrongSource == true)  // swapping addresses keeps the sum (commutative)
        let wrongHost = data.withUnsafeBytes {
            try? TCPSegmentView(checking: $0).verifyChecksum(source: IPv4Address(10, 0, 2, 16), destination: dst)
        }
        #expect(wrongHost == false)
        // Checksum verification can be skipped (offload).
        var corrupted = data
        corrupted[16] ^= 0xFF
        #expect(parseError(corrupted, verify: false) == nil)
    }

    @Test func dataOffsetRules() {
        var data = rawSegment(options: [])
        for words in 0..<5 {
            data[12] = UInt8(words) << 4
            #expect(parseError(data, verify: false) == .malformed("TCP data offset"))
        }
        data[12] = 6 << 4  // 24 octets of header in a 20-octet buffer
        #expect(parseError(data, verify: false) == .truncated)
        data[12] = 15 << 4
        #expect(parseError(data, verify: false) == .truncated)
    }

    @Test func everyTruncationIsRejected() throws {
        var repr = sampleRepr
        repr.options = TCPOptions(maximumSegmentSize: 536, windowScale: 2)
        let data = try bytes(of: repr, payload: [9, 8, 7])
        for length in 0..<repr.headerLength {
            let error = parseError(Array(data[0..<length]))
            #expect(error == .truncated, "length \(length)")
        }
        // Cutting payload keeps a valid header but breaks the checksum.
        for length in repr.headerLength..<data.count {
            #expect(parseError(Array(data[0..<length])) == .badChecksum)
            #expect(parseError(Array(data[0..<length]), verify: false) == nil)
        }
    }

    @Test func optionsEndOfListAndNoOperation() throws {
        // NOP, NOP, MSS 1000, EOL then garbage after EOL is ignored.
        let data = rawSegment(options: [1, 1, 2, 4, 0x03, 0xE8, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])
        let (repr, _) = try parse(data).get()
        #expect(repr.options == TCPOptions(maximumSegmentSize: 1000))
    }

    @Test func unknownOptionsAreSkipped() throws {
        // Unknown kind 30 length 6, SACK block (kind 5 length 10), then window scale 3.
        let options: [UInt8] = [30, 6, 1, 2, 3, 4, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2, 3, 3, 9, 0]
        let (repr, _) = try parse(rawSegment(options: options)).get()
        var blocks = TCPSACKBlocks()
        blocks.append(TCPSACKBlock(start: TCPSequenceNumber(1), end: TCPSequenceNumber(2)))
        #expect(repr.options == TCPOptions(windowScale: 9, sackBlocks: blocks))
    }

    @Test func malformedOptionLengths() {
        let cases: [[UInt8]] = [
            [2, 4, 5, 0xB4, 99],                       // MSS ok... then kind 99 without length
            [2, 0, 0, 0],                              // length 0
            [2, 1, 0, 0],                              // length 1
            [30, 9, 0, 0],                             // past the end
            [2, 3, 0, 0],                              // MSS with length 3
            [3, 4, 1, 0],                              // window scale with length 4
            [4, 3, 0, 0],                              // SACK-permitted with length 3
            [8, 8, 0, 0, 0, 0, 0, 0],                  // timestamps with length 8
            [5, 6, 0, 0],                              // SACK with a partial block
            [1, 1, 1, 2],                              // NOPs then MSS missing its length
        ]
        for options in cases {
            var padded = options
            while padded.count % 4 != 0 { padded.append(0) }
            #expect(parseError(rawSegment(options: padded)) == .malformed("TCP option length"), "\(options)")
        }
    }

    @Test func optionParserOnEveryPrefix() throws {
        let full: [UInt8] = [2, 4, 5, 0xB4, 1, 3, 3, 7, 1, 1, 4, 2, 1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]
        for length in 0...full.count {
            let prefix = Array(full[0..<length])
            let result: TCPOptions? = prefix.withUnsafeBytes { buffer in
                do throws(WireError) { return try TCPOptions.parse(buffer) } catch { return nil }
            }
            // Accepted exactly when the prefix ends on an option boundary.
            let boundaries: Set<Int> = [0, 4, 5, 8, 9, 10, 12, 13, 14, 24]
            #expect((result != nil) == boundaries.contains(length), "prefix \(length)")
        }
    }

    @Test func emitRejectsSmallBuffer() {
        var out = [UInt8](repeating: 0, count: 22)
        let failed = out.withUnsafeMutableBytes { buffer in
            [UInt8](repeating: 1, count: 3).withUnsafeBytes { payload in
                do throws(WireError) {
                    _ = try sampleRepr.emit(into: buffer, payload: payload, source: src, destination: dst)
                    return false
                } catch { return error == .bufferTooSmall }
            }
        }
        #expect(failed)
    }

    @Test func viewAccessors() throws {
        let data = try bytes(of: sampleRepr, payload: [0xAA])
        try data.withUnsafeBytes { buffer in
            let view = try TCPSegmentView(checking: buffer)
            #expect(view.sourcePort == 49152)
            #expect(view.destinationPort == 80)
            #expect(view.sequenceNumber == TCPSequenceNumber(0x0102_0304))
            #expect(view.acknowledgmentNumber == TCPSequenceNumber(0xA0B0_C0D0))
            #expect(view.headerLength == 20)
            #expect(view.flags == [.ack, .psh])
            #expect(view.window == 0x1234)
            #expect(view.urgentPointer == 0)
            #expect(view.optionBytes.count == 0)
            #expect(Array(view.payload) == [0xAA])
        }
    }

    @Test func randomBuffersNeverTrap() {
        var rng = SplitMix64(seed: 0x7C9_5EED)
        var accepted = 0
        for round in 0..<20_000 {
            let count = rng.next(below: 80)
            var data = (0..<count).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            if round % 2 == 0 && count >= 20 {
                // Make the header plausible so the option parser is exercised.
                data[12] = UInt8(5 + rng.next(below: min(11, (count - 20) / 4 + 1))) << 4
                let sum = data.withUnsafeBytes { buffer -> UInt16 in
                    var copy = Array(buffer)
                    copy[16] = 0; copy[17] = 0
                    return copy.withUnsafeBytes { TCPSegmentRepr.checksum(source: src, destination: dst, segment: $0) }
                }
                data[16] = UInt8(sum >> 8); data[17] = UInt8(sum & 0xFF)
            }
            if case .success(let (repr, payload)) = parse(data) {
                accepted += 1
                // Whatever parses re-emits and parses to the same header.
                if let again = try? bytes(of: repr, payload: payload), case .success(let (reparsed, _)) = parse(again) {
                    #expect(reparsed == repr)
                } else {
                    Issue.record("re-emit failed")
                }
            }
        }
        #expect(accepted > 1000)
    }
}
