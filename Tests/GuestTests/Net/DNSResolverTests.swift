// The stub resolver with a fake clock: retransmission, failover, matching, the cache.
import Testing
import TestSupport
@testable import Swiftlet

@Suite struct DNSResolverTests {

    static let second: UInt64 = 1_000_000_000
    static let primary = IPv4Address(10, 0, 2, 3)
    static let secondary = IPv4Address(8, 8, 8, 8)

    static func makeResolver(capacity: Int = 16) -> DNSResolver {
        var rng = SplitMix64(seed: 11)
        return DNSResolver(servers: [primary, secondary], random: &rng, cacheCapacity: capacity)
    }

    static func send(_ resolver: inout DNSResolver, now: UInt64) throws -> (DNSResolver.Output, DNSMessage) {
        let output = resolver.poll(now: now)
        let sent = try #require(output)
        return (sent, try DNSMessage(parsing: sent.payload))
    }

    /// A response to `query` with one A record per address.
    static func answer(_ query: DNSMessage, rcode: UInt8 = 0, ttl: UInt32 = 300,
                       addresses: [IPv4Address] = [IPv4Address(93, 184, 216, 34)],
                       id: UInt16? = nil, name: String? = nil) -> [UInt8] {
        let questionName = name.map { DNSMessageTests.wireName($0) }
            ?? DNSMessageTests.wireName(query.questions[0].name.description)
        var bytes = DNSMessageTests.header(id: id ?? query.id, flags: 0x8180 | UInt16(rcode),
                                           answers: UInt16(rcode == 0 ? addresses.count : 0))
        bytes += questionName + [0, 1, 0, 1]
        if rcode == 0 {
            for address in addresses {
                let v = address.value
                bytes += DNSMessageTests.record(name: [0xC0, 12], type: 1, ttl: ttl,
                                                data: [UInt8(v >> 24), UInt8((v >> 16) & 255), UInt8((v >> 8) & 255), UInt8(v & 255)])
            }
        }
        return bytes
    }

    @Test func resolvesAndIgnoresMismatches() throws {
        var resolver = Self.makeResolver()
        #expect(resolver.start("example.com", now: 0) == nil)
        #expect(resolver.pollAt() == 0)
        let (output, query) = try Self.send(&resolver, now: 0)
        #expect(output.server == Self.primary)
        #expect(query.questions[0].name == (try DNSName("example.com")))
        #expect(query.recursionDesired)

        #expect(resolver.receive(Self.answer(query, id: query.id &+ 1), now: 1) == nil)
        #expect(resolver.receive(Self.answer(query, name: "example.org"), now: 1) == nil)
        #expect(resolver.receive([0, 1, 2], now: 1) == nil)
        #expect(resolver.isBusy)

        let result = resolver.receive(Self.answer(query, addresses: [IPv4Address(1, 1, 1, 1), IPv4Address(1, 0, 0, 1)]), now: 2)
        #expect(result == .resolved([IPv4Address(1, 1, 1, 1), IPv4Address(1, 0, 0, 1)], ttl: 300))
        #expect(resolver.result == result)
        #expect(!resolver.isBusy)
        #expect(resolver.pollAt() == nil)
    }

    @Test func retriesThenFailsOverThenTimesOut() throws {
        var resolver = Self.makeResolver()
        resolver.start("example.com", now: 0)
        var sends: [(UInt64, IPv4Address, UInt16)] = []
        var now: UInt64 = 0
        while let next = resolver.pollAt() {
            now = next
            let output = resolver.poll(now: now)
            guard let output else { break }
            sends.append((now, output.server, try DNSMessage(parsing: output.payload).id))
            let idle = resolver.poll(now: now + 1)
            #expect(idle == nil)
        }
        #expect(sends.map(\.0) == [0, 1, 3, 7, 8, 10].map { $0 * Self.second })
        #expect(sends.map(\.1) == [Self.primary, Self.primary, Self.primary,
                                   Self.secondary, Self.secondary, Self.secondary])
        #expect(Set(sends.prefix(3).map(\.2)).count == 1)      // retries keep the id
        #expect(now == 14 * Self.second)
        #expect(resolver.result == .failed(.timeout))
    }

    @Test func lateReplyAfterRetransmissionStillMatches() throws {
        var resolver = Self.makeResolver()
        resolver.start("example.com", now: 0)
        let (_, query) = try Self.send(&resolver, now: 0)
        _ = try Self.send(&resolver, now: Self.second)
        #expect(resolver.receive(Self.answer(query), now: Self.second + 5) != nil)
    }

    @Test func serverFailureMovesToNextServer() throws {
        var resolver = Self.makeResolver()
        resolver.start("example.com", now: 0)
        let (_, first) = try Self.send(&resolver, now: 0)
        #expect(resolver.receive(Self.answer(first, rcode: DNSResponseCode.serverFailure), now: 10) == nil)
        #expect(resolver.pollAt() == 10)
        let (output, second) = try Self.send(&resolver, now: 10)
        #expect(output.server == Self.secondary)
        // A late answer from the first server no longer matches.
        #expect(resolver.receive(Self.answer(first), now: 11) == nil || first.id == second.id)
        let result = resolver.receive(Self.answer(second, rcode: DNSResponseCode.refused), now: 12)
        #expect(result == .failed(.serverFailure(responseCode: DNSResponseCode.refused)))
    }

    @Test func nxdomainAndEmptyAnswersFail() throws {
        var resolver = Self.makeResolver()
        resolver.start("nope.example", now: 0)
        let (_, query) = try Self.send(&resolver, now: 0)
        #expect(resolver.receive(Self.answer(query, rcode: DNSResponseCode.nameError), now: 1) == .failed(.nameError))

        resolver.start("empty.example", now: 2)
        let (_, empty) = try Self.send(&resolver, now: 2)
        #expect(resolver.receive(Self.answer(empty, addresses: []), now: 3) == .failed(.noAddresses))
        #expect(resolver.cacheCount == 0)
    }

    @Test func invalidNameOrNoServersFailAtOnce() {
        var resolver = Self.makeResolver()
        #expect(resolver.start("a..b", now: 0) == .failed(.invalidName))
        var rng = SplitMix64(seed: 1)
        var lonely = DNSResolver(servers: [], random: &rng)
        #expect(lonely.start("example.com", now: 0) == .failed(.noServers))
    }

    @Test func cacheHitsUntilTTLExpires() throws {
        var resolver = Self.makeResolver()
        resolver.start("example.com", now: 0)
        let (_, query) = try Self.send(&resolver, now: 0)
        resolver.receive(Self.answer(query, ttl: 60), now: Self.second)

        let hit = resolver.start("EXAMPLE.com", now: 31 * Self.second)
        #expect(hit == .resolved([IPv4Address(93, 184, 216, 34)], ttl: 30))
        #expect(resolver.pollAt() == nil)

        #expect(resolver.start("example.com", now: 61 * Self.second) == nil)
        #expect(resolver.pollAt() == 61 * Self.second)
    }

    @Test func cacheIsBounded() throws {
        var resolver = Self.makeResolver(capacity: 2)
        for (index, name) in ["a.example", "b.example", "c.example"].enumerated() {
            let now = UInt64(index) * Self.second
            resolver.start(name, now: now)
            let (_, query) = try Self.send(&resolver, now: now)
            resolver.receive(Self.answer(query, ttl: 100 + UInt32(index)), now: now)
        }
        #expect(resolver.cacheCount == 2)
        #expect(resolver.start("a.example", now: 3 * Self.second) == nil)      // evicted first
        #expect(resolver.start("c.example", now: 3 * Self.second) != nil)
    }

    @Test func zeroTTLIsNotCached() throws {
        var resolver = Self.makeResolver()
        resolver.start("example.com", now: 0)
        let (_, query) = try Self.send(&resolver, now: 0)
        #expect(resolver.receive(Self.answer(query, ttl: 0), now: 0) == .resolved([IPv4Address(93, 184, 216, 34)], ttl: 0))
        #expect(resolver.cacheCount == 0)
    }
}
