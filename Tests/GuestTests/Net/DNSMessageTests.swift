// DNS wire format: exact query bytes, responses with compression, CNAME chains and several
// A records, NXDOMAIN, and hostile names (pointer loops, out-of-range pointers, long labels).
import Testing
import TestSupport
@testable import Swiftlet

@Suite struct DNSMessageTests {

    // MARK: - Helpers

    static func wireName(_ text: String) -> [UInt8] {
        var out: [UInt8] = []
        for label in text.split(separator: ".") {
            out.append(UInt8(label.utf8.count))
            out += Array(label.utf8)
        }
        return out + [0]
    }

    static func header(id: UInt16 = 0xBEEF, flags: UInt16 = 0x8180, questions: UInt16 = 1, answers: UInt16) -> [UInt8] {
        [UInt8(id >> 8), UInt8(id & 0xFF), UInt8(flags >> 8), UInt8(flags & 0xFF),
         0, UInt8(questions), 0, UInt8(answers), 0, 0, 0, 0]
    }

    static func record(name: [UInt8], type: UInt16, ttl: UInt32, data: [UInt8]) -> [UInt8] {
        name + [UInt8(type >> 8), UInt8(type & 0xFF), 0, 1,
                UInt8(ttl >> 24), UInt8((ttl >> 16) & 0xFF), UInt8((ttl >> 8) & 0xFF), UInt8(ttl & 0xFF),
                UInt8(data.count >> 8), UInt8(data.count & 0xFF)] + data
    }

    static let question = wireName("example.com") + [0, 1, 0, 1]
    /// A pointer to the question's name at offset 12.
    static let toQuestion: [UInt8] = [0xC0, 0x0C]

    /// example.com A 93.184.216.34 and 93.184.216.35, names compressed.
    static let twoAddresses = header(answers: 2) + question
        + record(name: toQuestion, type: 1, ttl: 300, data: [93, 184, 216, 34])
        + record(name: toQuestion, type: 1, ttl: 120, data: [93, 184, 216, 35])

    /// www.example.com CNAME edge.example.com CNAME cdn.example.net; cdn A 1.2.3.4.
    static let cnameChain: [UInt8] = {
        let qname = wireName("www.example.com")                // at 12; "example.com" at 16
        var bytes = header(answers: 3) + qname + [0, 1, 0, 1]
        let edge: [UInt8] = [4] + Array("edge".utf8) + [0xC0, 16]   // edge + → example.com
        let firstAnswer = bytes.count
        bytes += record(name: [0xC0, 12], type: 5, ttl: 600, data: edge)
        let edgeOffset = firstAnswer + 12                           // rdata of the first answer
        bytes += record(name: [0xC0, UInt8(edgeOffset)], type: 5, ttl: 60, data: wireName("cdn.example.net"))
        let cdnOffset = bytes.count - wireName("cdn.example.net").count
        bytes += record(name: [0xC0, UInt8(cdnOffset)], type: 1, ttl: 3600, data: [1, 2, 3, 4])
        return bytes
    }()

    static func parse(_ bytes: [UInt8]) -> Result<DNSMessage, WireError> {
        do throws(WireError) { return .success(try DNSMessage(parsing: bytes)) } catch { return .failure(error) }
    }

    static func error(_ bytes: [UInt8]) -> WireError? {
        if case .failure(let error) = parse(bytes) { return error }
        return nil
    }

    // MARK: - Queries and names

    @Test func queryBytesForExampleCom() throws {
        let bytes = DNSMessage.query(id: 0x1234, name: try DNSName("example.com"))
        #expect(bytes == [
            0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x07, 0x65, 0x78, 0x61, 0x6D, 0x70, 0x6C, 0x65, 0x03, 0x63, 0x6F, 0x6D, 0x00,
            0x00, 0x01, 0x00, 0x01,
        ])
        let parsed = try Self.parse(bytes).get()
        #expect(!parsed.isResponse && parsed.recursionDesired && parsed.id == 0x1234)
        #expect(parsed.questions == [DNSQuestion(name: try DNSName("example.com"), type: 1, recordClass: 1)])
    }

    @Test func namesAreValidatedAndCaseInsensitive() throws {
        #expect(try DNSName("Example.COM.") == DNSName("example.com"))
        #expect(try DNSName("example.com").description == "example.com")
        let long = String(repeating: "a", count: 63)
        _ = try DNSName(long + ".com")
        #expect(throws: WireError.malformed("DNS label")) { try DNSName(long + "a.com") }
        #expect(throws: WireError.malformed("DNS label")) { try DNSName("a..com") }
        #expect(throws: WireError.malformed("DNS label")) { try DNSName("") }
        #expect(throws: WireError.malformed("DNS label")) { try DNSName(".") }
        let label = String(repeating: "b", count: 49)
        let name253 = Array(repeating: label, count: 5).joined(separator: ".") + ".abc"   // 253 bytes
        #expect(name253.utf8.count == 253)
        #expect(try DNSName(name253).wireLength == 255)
        #expect(throws: WireError.malformed("DNS name over 255 octets")) { try DNSName(name253 + "d") }
    }

    // MARK: - Responses

    @Test func parsesMultipleCompressedARecords() throws {
        let message = try Self.parse(Self.twoAddresses).get()
        #expect(message.isResponse && message.recursionAvailable && message.responseCode == 0)
        #expect(message.id == 0xBEEF)
        #expect(message.answers.count == 2)
        #expect(message.answers[0].name == (try DNSName("example.com")))
        #expect(message.answers[0].data == .a(IPv4Address(93, 184, 216, 34)))
        let result = try #require(message.addresses(for: try DNSName("example.com")))
        #expect(result.addresses == [IPv4Address(93, 184, 216, 34), IPv4Address(93, 184, 216, 35)])
        #expect(result.ttl == 120)
    }

    @Test func followsCNAMEChain() throws {
        let message = try Self.parse(Self.cnameChain).get()
        #expect(message.answers.count == 3)
        #expect(message.answers[0].data == .cname(try DNSName("edge.example.com")))
        #expect(message.answers[1].name == (try DNSName("edge.example.com")))
        #expect(message.answers[2].name == (try DNSName("cdn.example.net")))
        let result = try #require(message.addresses(for: try DNSName("WWW.example.com")))
        #expect(result.addresses == [IPv4Address(1, 2, 3, 4)])
        #expect(result.ttl == 60)
        #expect(message.addresses(for: try DNSName("other.example.com")) == nil)
    }

    @Test func cnameLoopFindsNothing() throws {
        // a.com CNAME b.com, b.com CNAME a.com.
        let bytes = Self.header(answers: 2) + Self.wireName("a.com") + [0, 1, 0, 1]
            + Self.record(name: Self.wireName("a.com"), type: 5, ttl: 1, data: Self.wireName("b.com"))
            + Self.record(name: Self.wireName("b.com"), type: 5, ttl: 1, data: Self.wireName("a.com"))
        let message = try Self.parse(bytes).get()
        #expect(message.addresses(for: try DNSName("a.com")) == nil)
    }

    @Test func parsesNXDOMAIN() throws {
        let message = try Self.parse(Self.header(flags: 0x8183, answers: 0) + Self.question).get()
        #expect(message.responseCode == DNSResponseCode.nameError)
        #expect(message.answers.isEmpty)
    }

    @Test func skipsOtherRecordTypes() throws {
        let bytes = Self.header(answers: 2) + Self.question
            + Self.record(name: Self.toQuestion, type: 28, ttl: 5, data: [UInt8](repeating: 0, count: 16))
            + Self.record(name: Self.toQuestion, type: 1, ttl: 5, data: [10, 0, 0, 1])
        let message = try Self.parse(bytes).get()
        #expect(message.answers[0].data == .other)
        #expect(message.addresses(for: try DNSName("example.com"))?.addresses == [IPv4Address(10, 0, 0, 1)])
    }

    // MARK: - Hostile input

    @Test func rejectsPointerLoopsAndBadPointers() {
        // Answer name pointing at itself.
        let selfPointer = Self.header(answers: 1) + Self.question
        let loop = selfPointer + Self.record(name: [0xC0, UInt8(selfPointer.count)], type: 1, ttl: 1, data: [1, 2, 3, 4])
        #expect(Self.error(loop) == .malformed("DNS pointer loop"))
        // Forward pointer.
        let forward = selfPointer + Self.record(name: [0xC0, 0xFF], type: 1, ttl: 1, data: [1, 2, 3, 4])
            + [UInt8](repeating: 0, count: 300)
        #expect(Self.error(forward) == .malformed("DNS pointer loop"))
        // Pointer past the end.
        let outside = selfPointer + Self.record(name: [0xC3, 0xFF], type: 1, ttl: 1, data: [1, 2, 3, 4])
        #expect(Self.error(outside) == .malformed("DNS pointer past the end"))
        // Question name that is only a pointer to itself.
        #expect(Self.error(Self.header(answers: 0) + [0xC0, 12, 0, 1, 0, 1]) == .malformed("DNS pointer loop"))
        // Reserved label types.
        #expect(Self.error(Self.header(answers: 0) + [0x40, 0, 0, 1, 0, 1]) == .malformed("DNS label type"))
        #expect(Self.error(Self.header(answers: 0) + [0x80, 0, 0, 1, 0, 1]) == .malformed("DNS label type"))
    }

    @Test func boundsPointerHops() {
        // A root byte, then a chain of pointers, each to the one before.
        var bytes: [UInt8] = [0]
        for index in 0..<40 { bytes += [0xC0, UInt8(index == 0 ? 0 : 1 + 2 * (index - 1))] }
        func read(at start: Int) -> Result<DNSName, WireError> {
            bytes.withUnsafeBytes { buffer in
                var offset = start
                do throws(WireError) { return .success(try DNSMessage.readName(buffer, at: &offset)) } catch { return .failure(error) }
            }
        }
        // Exactly the limit of hops succeeds; one more is refused.
        let atLimit = read(at: 1 + 2 * (DNSMessage.maximumPointerHops - 1))
        #expect((try? atLimit.get())?.text.isEmpty == true)
        let tooDeep = read(at: 1 + 2 * DNSMessage.maximumPointerHops)
        if case .failure(let error) = tooDeep { #expect(error == .malformed("DNS pointer loop")) } else { Issue.record("accepted") }
    }

    @Test func rejectsLongNamesBuiltWithPointers() {
        // Names up to 255 bytes on the wire are accepted; 4 labels of 63 bytes (257) are not.
        let label: [UInt8] = [63] + [UInt8](repeating: 0x61, count: 63)
        let name = label + label + label + [61] + [UInt8](repeating: 0x62, count: 61) + [0]
        #expect(name.count == 255)
        var bytes = Self.header(answers: 0) + name + [0, 1, 0, 1]
        #expect(Self.error(bytes) == nil)
        bytes = Self.header(answers: 0) + label + label + label + label + [0, 0, 1, 0, 1]
        #expect(Self.error(bytes) == .malformed("DNS name over 255 octets"))
        // Label 64 is a reserved label type (0x40).
        #expect(Self.error(Self.header(answers: 0) + [64] + [UInt8](repeating: 0x61, count: 64) + [0, 0, 1, 0, 1]) == .malformed("DNS label type"))
    }

    @Test func rejectsBadARecordLength() {
        let bytes = Self.header(answers: 1) + Self.question
            + Self.record(name: Self.toQuestion, type: 1, ttl: 1, data: [1, 2, 3])
        #expect(Self.error(bytes) == .malformed("DNS record data"))
    }

    @Test func everyTruncationFails() {
        for message in [Self.twoAddresses, Self.cnameChain] {
            for length in 0..<message.count {
                #expect(Self.error(Array(message[0..<length])) != nil, "length \(length)")
            }
            #expect(Self.error(message) == nil)
        }
    }

    @Test func randomBuffersNeverTrap() {
        var rng = SplitMix64(seed: 0xD115)
        var accepted = 0
        for round in 0..<20_000 {
            var bytes: [UInt8]
            if round % 2 == 0 {
                bytes = (0..<rng.next(below: 200)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                if bytes.count > 12 { bytes[4] = 0; bytes[6] = 0; bytes[5] &= 3; bytes[7] &= 3 }
            } else {
                bytes = round % 4 == 1 ? Self.cnameChain : Self.twoAddresses
                for _ in 0..<(1 + rng.next(below: 3)) {
                    bytes[rng.next(below: bytes.count)] = UInt8(truncatingIfNeeded: rng.next())
                }
            }
            if case .success(let message) = Self.parse(bytes) {
                accepted += 1
                for question in message.questions { _ = message.addresses(for: question.name) }
            }
        }
        #expect(accepted > 0)
    }
}
