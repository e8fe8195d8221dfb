// DHCP wire format: hand-built RFC 2131 messages parse to the expected fields, emitted
// messages round-trip, malformed and truncated buffers fail with an error and never trap.
import Testing
import TestSupport
@testable import Swiftlet

@Suite struct DHCPMessageTests {

    // MARK: - Hand-built messages (RFC 2131 §2 layout, RFC 2132 options)

    static let mac: [UInt8] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56]
    static let xid: UInt32 = 0x3903_F326

    /// op, htype, hlen, hops, xid, secs, flags, ciaddr, yiaddr, siaddr, giaddr, chaddr(16),
    /// sname(64), file(128), magic cookie, then `options` as given.
    static func message(op: UInt8, flags: UInt16 = 0, ciaddr: [UInt8] = [0, 0, 0, 0],
                        yiaddr: [UInt8] = [0, 0, 0, 0], siaddr: [UInt8] = [0, 0, 0, 0],
                        options: [UInt8]) -> [UInt8] {
        var bytes: [UInt8] = [op, 1, 6, 0]
        bytes += [0x39, 0x03, 0xF3, 0x26]                      // xid
        bytes += [0x00, 0x00, UInt8(flags >> 8), UInt8(flags & 0xFF)]
        bytes += ciaddr + yiaddr + siaddr + [0, 0, 0, 0]
        bytes += mac + [UInt8](repeating: 0, count: 10)
        bytes += [UInt8](repeating: 0, count: 64 + 128)
        bytes += [99, 130, 83, 99]
        return bytes + options
    }

    static let discover = message(op: 1, flags: 0x8000, options: [
        53, 1, 1,
        61, 7, 1, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56,
        55, 4, 1, 3, 6, 51,
        255,
    ])

    static let offer = message(op: 2, yiaddr: [10, 0, 2, 15], siaddr: [10, 0, 2, 2], options: [
        53, 1, 2,
        54, 4, 10, 0, 2, 2,
        51, 4, 0x00, 0x01, 0x51, 0x80,          // 86400 s
        1, 4, 255, 255, 255, 0,
        3, 4, 10, 0, 2, 2,
        6, 8, 10, 0, 2, 3, 8, 8, 8, 8,
        255,
    ])

    static let request = message(op: 1, flags: 0x8000, options: [
        53, 1, 3,
        50, 4, 10, 0, 2, 15,
        54, 4, 10, 0, 2, 2,
        55, 3, 1, 3, 6,
        255,
    ])

    static let ack = message(op: 2, yiaddr: [10, 0, 2, 15], siaddr: [10, 0, 2, 2], options: [
        53, 1, 5,
        54, 4, 10, 0, 2, 2,
        51, 4, 0x00, 0x00, 0x0E, 0x10,          // 3600 s
        58, 4, 0x00, 0x00, 0x07, 0x08,          // 1800 s
        59, 4, 0x00, 0x00, 0x0C, 0x4E,          // 3150 s
        1, 4, 255, 255, 0, 0,
        3, 4, 10, 0, 2, 2,
        6, 4, 10, 0, 2, 3,
        0, 0, 0,                                  // pads
        255,
        0, 0, 0, 0,                               // trailing padding
    ])

    static func parse(_ bytes: [UInt8]) -> Result<DHCPMessage, WireError> {
        bytes.withUnsafeBytes { buffer in
            do throws(WireError) { return .success(try DHCPMessage(parsing: buffer)) } catch { return .failure(error) }
        }
    }

    static func error(_ bytes: [UInt8]) -> WireError? {
        if case .failure(let error) = parse(bytes) { return error }
        return nil
    }

    // MARK: - Parsing

    @Test func parsesDiscover() throws {
        let message = try Self.parse(Self.discover).get()
        #expect(message.operation == .request)
        #expect(message.transactionID == Self.xid)
        #expect(message.broadcast)
        #expect(message.clientHardwareAddress == MACAddress(0x52, 0x54, 0x00, 0x12, 0x34, 0x56))
        #expect(message.messageType == .discover)
        #expect(message.clientIdentifier == [1] + Self.mac)
        #expect(message.parameterRequestList == [1, 3, 6, 51])
        #expect(message.yourAddress == .any)
        #expect(message.serverIdentifier == nil)
    }

    @Test func parsesOffer() throws {
        let message = try Self.parse(Self.offer).get()
        #expect(message.operation == .reply)
        #expect(message.messageType == .offer)
        #expect(!message.broadcast)
        #expect(message.yourAddress == IPv4Address(10, 0, 2, 15))
        #expect(message.serverAddress == IPv4Address(10, 0, 2, 2))
        #expect(message.serverIdentifier == IPv4Address(10, 0, 2, 2))
        #expect(message.leaseTime == 86400)
        #expect(message.subnetMask == IPv4Address(255, 255, 255, 0))
        #expect(message.routers == [IPv4Address(10, 0, 2, 2)])
        #expect(message.dnsServers == [IPv4Address(10, 0, 2, 3), IPv4Address(8, 8, 8, 8)])
    }

    @Test func parsesRequest() throws {
        let message = try Self.parse(Self.request).get()
        #expect(message.messageType == .request)
        #expect(message.requestedAddress == IPv4Address(10, 0, 2, 15))
        #expect(message.serverIdentifier == IPv4Address(10, 0, 2, 2))
        #expect(message.parameterRequestList == [1, 3, 6])
    }

    @Test func parsesAckWithPadsAndRenewalTimes() throws {
        let message = try Self.parse(Self.ack).get()
        #expect(message.messageType == .ack)
        #expect(message.leaseTime == 3600)
        #expect(message.renewalTime == 1800)
        #expect(message.rebindingTime == 3150)
        #expect(message.subnetMask == IPv4Address(255, 255, 0, 0))
    }

    @Test func skipsUnknownOptionsAndIgnoresOverload() throws {
        let bytes = Self.message(op: 2, options: [53, 1, 6, 52, 1, 3, 12, 3, 0x61, 0x62, 0x63, 255])
        let message = try Self.parse(bytes).get()
        #expect(message.messageType == .nak)
    }

    // MARK: - Emitting

    @Test func roundTripsEveryHandBuiltMessage() throws {
        for bytes in [Self.discover, Self.offer, Self.request, Self.ack] {
            let message = try Self.parse(bytes).get()
            let emitted = message.bytes()
            #expect(emitted.count == max(message.bufferLength, 300))
            #expect(try Self.parse(emitted).get() == message)
        }
    }

    @Test func emitsDiscoverBytes() {
        var message = DHCPMessage(operation: .request, transactionID: Self.xid,
                                  clientHardwareAddress: MACAddress(0x52, 0x54, 0x00, 0x12, 0x34, 0x56),
                                  messageType: .discover)
        message.broadcast = true
        message.clientIdentifier = [1] + Self.mac
        message.parameterRequestList = [1, 3, 6, 51]
        let bytes = message.bytes()
        #expect(bytes.count == 300)
        // The emitter writes the same options in the same order as the hand-built DISCOVER.
        #expect(Array(bytes[0..<Self.discover.count]) == Self.discover)
        #expect(bytes[Self.discover.count...].allSatisfy { $0 == 0 })
    }

    @Test func emitCapsLongLists() throws {
        var message = DHCPMessage(operation: .reply, transactionID: 1, clientHardwareAddress: .zero, messageType: .ack)
        message.dnsServers = (0..<100).map { IPv4Address(UInt32($0)) }
        message.parameterRequestList = [UInt8](repeating: 1, count: 300)
        let parsed = try Self.parse(message.bytes()).get()
        #expect(parsed.dnsServers.count == 63)
        #expect(parsed.parameterRequestList.count == 255)
    }

    // MARK: - Malformed input

    @Test func rejectsMalformedHeaders() {
        var badOp = Self.offer; badOp[0] = 3
        var badHardware = Self.offer; badHardware[2] = 16
        var badCookie = Self.offer; badCookie[239] = 0x64
        #expect(Self.error(badOp) == .malformed("DHCP op"))
        #expect(Self.error(badHardware) == .unsupported("DHCP hardware type"))
        #expect(Self.error(badCookie) == .malformed("DHCP magic cookie"))
        #expect(Self.error([]) == .truncated)
        #expect(Self.error(Array(Self.offer[0..<239])) == .truncated)
    }

    @Test func rejectsMalformedOptions() {
        #expect(Self.error(Self.message(op: 2, options: [53, 1, 2])) == .malformed("DHCP options without end"))
        #expect(Self.error(Self.message(op: 2, options: [53, 1, 9, 255])) == .malformed("DHCP message type"))
        #expect(Self.error(Self.message(op: 2, options: [53, 2, 2, 2, 255])) == .malformed("DHCP option length"))
        #expect(Self.error(Self.message(op: 2, options: [51, 3, 0, 0, 1, 255])) == .malformed("DHCP option length"))
        #expect(Self.error(Self.message(op: 2, options: [6, 6, 1, 2, 3, 4, 5, 6, 255])) == .malformed("DHCP option length"))
        #expect(Self.error(Self.message(op: 2, options: [3, 0, 255])) == .malformed("DHCP option length"))
        #expect(Self.error(Self.message(op: 2, options: [61, 1, 1, 255])) == .malformed("DHCP option length"))
        #expect(Self.error(Self.message(op: 2, options: [12, 200, 1, 255])) == .truncated)
        #expect(Self.error(Self.message(op: 2, options: [12])) == .truncated)
    }

    @Test func everyTruncationOfAnOfferFails() {
        for length in 0..<Self.offer.count {
            #expect(Self.error(Array(Self.offer[0..<length])) != nil, "length \(length)")
        }
        #expect(Self.error(Self.offer) == nil)
    }

    @Test func randomBuffersNeverTrap() {
        var rng = SplitMix64(seed: 0xD4C9)
        var accepted = 0
        for round in 0..<20_000 {
            var bytes: [UInt8]
            if round % 2 == 0 {
                bytes = (0..<rng.next(below: 400)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                if bytes.count >= 240 && round % 4 == 0 {
                    bytes[1] = 1; bytes[2] = 6; bytes[0] = 2
                    bytes[236] = 99; bytes[237] = 130; bytes[238] = 83; bytes[239] = 99
                }
            } else {
                // Mutate a valid message: flip a few option bytes, maybe cut the end.
                bytes = Self.ack
                for _ in 0..<(1 + rng.next(below: 4)) {
                    bytes[240 + rng.next(below: bytes.count - 240)] = UInt8(truncatingIfNeeded: rng.next())
                }
                if rng.next(below: 2) == 0 { bytes = Array(bytes[0..<rng.next(below: bytes.count)]) }
            }
            if case .success(let message) = Self.parse(bytes) {
                accepted += 1
                _ = Self.parse(message.bytes())        // re-emitting anything accepted is safe too
            }
        }
        #expect(accepted > 0)
    }
}
