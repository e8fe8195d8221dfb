// The DHCP client state machine driven with a fake clock: the full exchange, NAK, backoff,
// renewal at T1, rebinding at T2, expiry, and replies that must be ignored.
import Testing
import TestSupport
@testable import Swiftlet

@Suite struct DHCPClientTests {

    static let second: UInt64 = 1_000_000_000
    static let mac = MACAddress(0x52, 0x54, 0x00, 0x12, 0x34, 0x56)
    static let server = IPv4Address(10, 0, 2, 2)
    static let offered = IPv4Address(10, 0, 2, 15)
    static let dns = IPv4Address(10, 0, 2, 3)

    // MARK: - Helpers

    static func makeClient(seed: UInt64 = 7) -> DHCPClient {
        var rng = SplitMix64(seed: seed)
        return DHCPClient(mac: mac, random: &rng)
    }

    static func parse(_ output: DHCPClient.Output?) throws -> DHCPMessage {
        let output = try #require(output)
        return try output.payload.withUnsafeBytes { buffer throws(WireError) in try DHCPMessage(parsing: buffer) }
    }

    static func send(_ client: inout DHCPClient, now: UInt64) throws -> DHCPClient.Output {
        let output = client.poll(now: now)
        return try #require(output)
    }

    static func idle(_ client: inout DHCPClient, now: UInt64) -> Bool { client.poll(now: now) == nil }

    /// A server reply for the client's current transaction.
    static func reply(_ type: DHCPMessageType, to client: DHCPClient, leaseSeconds: UInt32 = 3600,
                      address: IPv4Address = offered, server: IPv4Address = server,
                      xid: UInt32? = nil, chaddr: MACAddress = mac,
                      t1: UInt32? = nil, t2: UInt32? = nil) -> [UInt8] {
        var message = DHCPMessage(operation: .reply, transactionID: xid ?? client.xid,
                                  clientHardwareAddress: chaddr, messageType: type)
        message.serverIdentifier = server
        if type != .nak {
            message.yourAddress = address
            message.leaseTime = leaseSeconds
            message.renewalTime = t1
            message.rebindingTime = t2
            message.subnetMask = IPv4Address(255, 255, 255, 0)
            message.routers = [server]
            message.dnsServers = [dns]
        }
        return message.bytes()
    }

    /// Runs DISCOVER → OFFER → REQUEST → ACK: the REQUEST goes out at `requestAt`.
    static func bound(leaseSeconds: UInt32 = 3600, requestAt: UInt64 = 1 * second) throws -> DHCPClient {
        var client = makeClient()
        _ = client.poll(now: 0)
        client.receive(reply(.offer, to: client, leaseSeconds: leaseSeconds), now: requestAt)
        _ = try Self.send(&client, now: requestAt)
        client.receive(reply(.ack, to: client, leaseSeconds: leaseSeconds), now: requestAt + second / 10)
        #expect(client.state == .bound)
        return client
    }

    // MARK: - The exchange

    @Test func fullExchangeReachesBound() throws {
        var client = Self.makeClient()
        #expect(client.state == .initial)
        #expect(client.pollAt() == 0)

        let discoverOutput = try Self.send(&client, now: 0)
        #expect(discoverOutput.destination == .broadcast)
        #expect(discoverOutput.source == .any)
        let discover = try Self.parse(discoverOutput)
        #expect(discover.messageType == .discover)
        #expect(discover.operation == .request)
        #expect(discover.transactionID == client.xid)
        #expect(discover.clientHardwareAddress == Self.mac)
        #expect(discover.broadcast)
        #expect(discover.parameterRequestList.contains(DHCPOptionCode.dnsServers))
        #expect(client.state == .selecting)

        client.receive(Self.reply(.offer, to: client), now: Self.second / 2)
        #expect(client.state == .requesting)
        #expect(client.pollAt() == Self.second / 2)
        let requestOutput = try Self.send(&client, now: Self.second / 2)
        #expect(requestOutput.destination == .broadcast)
        #expect(requestOutput.source == .any)
        let request = try Self.parse(requestOutput)
        #expect(request.messageType == .request)
        #expect(request.transactionID == discover.transactionID)
        #expect(request.requestedAddress == Self.offered)
        #expect(request.serverIdentifier == Self.server)
        #expect(request.clientAddress == .any)

        // A second OFFER from another server is ignored once REQUESTING.
        client.receive(Self.reply(.offer, to: client, address: IPv4Address(10, 0, 2, 99),
                                  server: IPv4Address(10, 0, 2, 1)), now: Self.second)
        client.receive(Self.reply(.ack, to: client, leaseSeconds: 3600), now: Self.second)
        #expect(client.state == .bound)
        let lease = try #require(client.lease)
        let start = Self.second / 2
        #expect(lease.address == Self.offered)
        #expect(lease.prefixLength == 24)
        #expect(lease.subnet == IPv4Subnet(address: Self.offered, prefixLength: 24))
        #expect(lease.router == Self.server)
        #expect(lease.dnsServers == [Self.dns])
        #expect(lease.serverIdentifier == Self.server)
        #expect(lease.leaseSeconds == 3600)
        #expect(lease.acquiredAt == start)
        #expect(lease.renewAt == start + 1800 * Self.second)
        #expect(lease.rebindAt == start + 3150 * Self.second)
        #expect(lease.expiresAt == start + 3600 * Self.second)
        #expect(client.nextEvent() == .bound(lease))
        #expect(client.nextEvent() == nil)
        #expect(client.pollAt() == lease.renewAt)
        #expect(Self.idle(&client, now: lease.renewAt - 1))
    }

    @Test func serverSuppliedRenewalTimesAreUsed() throws {
        var client = Self.makeClient()
        _ = client.poll(now: 0)
        client.receive(Self.reply(.offer, to: client), now: 0)
        _ = client.poll(now: 0)
        client.receive(Self.reply(.ack, to: client, leaseSeconds: 1000, t1: 100, t2: 200), now: 0)
        let lease = try #require(client.lease)
        #expect(lease.renewAt == 100 * Self.second)
        #expect(lease.rebindAt == 200 * Self.second)
        #expect(lease.expiresAt == 1000 * Self.second)
    }

    @Test func infiniteLeaseNeverRenews() throws {
        let client = try Self.bound(leaseSeconds: .max)
        let lease = try #require(client.lease)
        #expect(lease.expiresAt == .max)
        #expect(lease.renewAt == .max)
    }

    @Test func nakWhileRequestingRestarts() throws {
        var client = Self.makeClient()
        let first = try Self.parse(client.poll(now: 0))
        client.receive(Self.reply(.offer, to: client), now: 0)
        _ = client.poll(now: 0)
        client.receive(Self.reply(.nak, to: client), now: Self.second)
        #expect(client.state == .initial)
        #expect(client.lease == nil)
        let again = try Self.parse(client.poll(now: Self.second))
        #expect(again.messageType == .discover)
        #expect(again.transactionID != first.transactionID)
        #expect(client.state == .selecting)
        #expect(client.nextEvent() == nil)      // nothing was bound, so nothing was lost
    }

    // MARK: - Retransmission

    @Test func discoverBacksOffExponentiallyWithJitter() throws {
        var client = Self.makeClient(seed: 99)
        var now: UInt64 = 0
        let xid = try Self.parse(client.poll(now: now)).transactionID
        var jitters: Set<UInt64> = []
        for base: UInt64 in [4, 8, 16, 32, 64, 64, 64] {
            let next = try #require(client.pollAt())
            let interval = next - now
            #expect(interval >= (base - 1) * Self.second && interval <= (base + 1) * Self.second,
                    "interval \(interval) for base \(base)")
            jitters.insert(interval % Self.second)
            #expect(Self.idle(&client, now: next - 1))
            now = next
            let again = try Self.parse(client.poll(now: now))
            #expect(again.messageType == .discover)
            #expect(again.transactionID == xid)
            #expect(again.seconds == UInt16(now / Self.second))
        }
        #expect(jitters.count > 1)
    }

    @Test func unansweredRequestsFallBackToDiscover() throws {
        var client = Self.makeClient()
        _ = client.poll(now: 0)
        client.receive(Self.reply(.offer, to: client), now: 0)
        var now: UInt64 = 0
        var requests = 0
        while requests < 10 {
            let message = try Self.parse(client.poll(now: now))
            if message.messageType == .discover { break }
            #expect(message.messageType == .request)
            requests += 1
            now = try #require(client.pollAt())
        }
        #expect(requests == DHCPClient.maximumRequestAttempts)
        #expect(client.state == .selecting)
    }

    // MARK: - Renewing, rebinding, expiry

    @Test func renewsAtT1WithUnicastRequest() throws {
        var client = try Self.bound()
        let bound = try #require(client.lease)
        _ = client.nextEvent()
        let t1 = bound.renewAt
        #expect(Self.idle(&client, now: t1 - 1))
        let output = try Self.send(&client, now: t1)
        #expect(client.state == .renewing)
        #expect(output.destination == Self.server)
        #expect(output.source == Self.offered)
        let request = try Self.parse(output)
        #expect(request.messageType == .request)
        #expect(request.clientAddress == Self.offered)
        #expect(request.requestedAddress == nil)
        #expect(request.serverIdentifier == nil)
        #expect(!request.broadcast)
        #expect(request.transactionID == client.xid)

        // RFC 2131 §4.4.5: retransmit after half the time left until T2 (at least 60 s).
        let half = (bound.rebindAt - t1) / 2
        #expect(client.pollAt() == t1 + half)

        client.receive(Self.reply(.ack, to: client), now: t1 + Self.second)
        #expect(client.state == .bound)
        let renewed = try #require(client.lease)
        #expect(renewed.acquiredAt == t1)
        #expect(renewed.expiresAt == t1 + 3600 * Self.second)
        #expect(client.nextEvent() == .renewed(renewed))
    }

    @Test func rebindsAtT2WithBroadcastThenExpires() throws {
        var client = try Self.bound()
        let lease = try #require(client.lease)
        _ = client.nextEvent()
        _ = try Self.send(&client, now: lease.renewAt)
        // Unanswered renewals until T2.
        var now = lease.renewAt
        var renewals = 1
        while true {
            let next = try #require(client.pollAt())
            if next >= lease.rebindAt { break }
            #expect(next - now >= 60 * Self.second)
            now = next
            let output = try Self.send(&client, now: now)
            #expect(output.destination == Self.server)
            renewals += 1
        }
        #expect(renewals >= 2)
        let rebind = try Self.send(&client, now: lease.rebindAt)
        #expect(client.state == .rebinding)
        #expect(rebind.destination == .broadcast)
        #expect(rebind.source == Self.offered)
        let message = try Self.parse(rebind)
        #expect(message.clientAddress == Self.offered)
        #expect(message.serverIdentifier == nil)
        #expect(client.pollAt()! <= lease.expiresAt)

        // Nobody answers: at expiry the lease is lost and discovery starts again.
        #expect(Self.idle(&client, now: lease.expiresAt - 1) || client.state == .rebinding)
        let discover = try Self.parse(client.poll(now: lease.expiresAt))
        #expect(discover.messageType == .discover)
        #expect(client.state == .selecting)
        #expect(client.lease == nil)
        #expect(client.nextEvent() == .lost)
    }

    @Test func rebindingAckFromAnotherServerRenews() throws {
        var client = try Self.bound()
        let lease = try #require(client.lease)
        _ = client.nextEvent()
        _ = client.poll(now: lease.rebindAt)          // straight past T1 to T2
        #expect(client.state == .rebinding)
        let other = IPv4Address(10, 0, 2, 4)
        client.receive(Self.reply(.ack, to: client, server: other), now: lease.rebindAt + 1)
        #expect(client.state == .bound)
        #expect(client.lease?.serverIdentifier == other)
        #expect(client.lease?.acquiredAt == lease.rebindAt)
        if case .renewed = client.nextEvent() {} else { Issue.record("expected .renewed") }
    }

    @Test func nakWhileRenewingLosesLease() throws {
        var client = try Self.bound()
        let lease = try #require(client.lease)
        _ = client.nextEvent()
        _ = client.poll(now: lease.renewAt)
        client.receive(Self.reply(.nak, to: client), now: lease.renewAt + 1)
        #expect(client.state == .initial)
        #expect(client.lease == nil)
        #expect(client.nextEvent() == .lost)
        let restarted = try Self.parse(client.poll(now: lease.renewAt + 2))
        #expect(restarted.messageType == .discover)
    }

    @Test func sleepingPastExpiryLosesLeaseOnNextPoll() throws {
        var client = try Self.bound()
        let lease = try #require(client.lease)
        _ = client.nextEvent()
        let discover = try Self.parse(client.poll(now: lease.expiresAt + 5 * Self.second))
        #expect(discover.messageType == .discover)
        #expect(client.nextEvent() == .lost)
    }

    // MARK: - Ignored replies

    @Test func ignoresWrongTransactionHardwareOrState() throws {
        var client = Self.makeClient()
        _ = client.poll(now: 0)
        client.receive(Self.reply(.offer, to: client, xid: client.xid &+ 1), now: 0)
        #expect(client.state == .selecting)
        client.receive(Self.reply(.offer, to: client, chaddr: MACAddress(2, 0, 0, 0, 0, 1)), now: 0)
        #expect(client.state == .selecting)
        client.receive(Self.reply(.ack, to: client), now: 0)       // ACK without REQUEST
        #expect(client.state == .selecting)
        client.receive(Self.reply(.offer, to: client, address: .any), now: 0)
        #expect(client.state == .selecting)
        client.receive([1, 2, 3], now: 0)
        #expect(client.state == .selecting)
        // A BOOTREQUEST echo of our own DISCOVER is not a reply.
        var echo = DHCPMessage(operation: .request, transactionID: client.xid,
                               clientHardwareAddress: Self.mac, messageType: .offer)
        echo.yourAddress = Self.offered
        echo.serverIdentifier = Self.server
        client.receive(echo.bytes(), now: 0)
        #expect(client.state == .selecting)

        client.receive(Self.reply(.offer, to: client), now: 0)
        #expect(client.state == .requesting)
        _ = client.poll(now: 0)
        client.receive(Self.reply(.ack, to: client, xid: client.xid &+ 1), now: 0)
        client.receive(Self.reply(.nak, to: client, server: IPv4Address(10, 0, 2, 9)), now: 0)
        client.receive(Self.reply(.ack, to: client, address: IPv4Address(10, 0, 2, 77)), now: 0)
        #expect(client.state == .requesting)
        client.receive(Self.reply(.ack, to: client), now: 0)
        #expect(client.state == .bound)
    }

    @Test func randomRepliesNeverTrap() {
        var rng = SplitMix64(seed: 5)
        var client = Self.makeClient()
        var now: UInt64 = 0
        for round in 0..<5_000 {
            now += UInt64(rng.next(below: 10)) * Self.second
            _ = client.poll(now: now)
            var bytes = round % 3 == 0
                ? Self.reply(.offer, to: client)
                : Self.reply(round % 2 == 0 ? .ack : .nak, to: client, leaseSeconds: UInt32(rng.next(below: 100)))
            for _ in 0..<rng.next(below: 3) {
                bytes[rng.next(below: bytes.count)] = UInt8(truncatingIfNeeded: rng.next())
            }
            client.receive(bytes, now: now)
            _ = client.nextEvent()
        }
    }
}
