// A stub resolver for A records, sans I/O: `start` a lookup, send what `poll(now:)` returns
// to UDP port 53 of its server, hand replies to `receive`, read `result`. Each server is
// tried with timeouts of 1 s, 2 s and 4 s before the next; answers are cached up to their
// TTL in a small bounded cache. One lookup is in flight at a time.

public struct DNSResolver: Sendable {
    public enum Failure: Error, Equatable, Sendable {
        /// NXDOMAIN: the name does not exist.
        case nameError
        /// The name exists but has no A record (or the answers lead nowhere).
        case noAddresses
        /// Every server answered SERVFAIL, REFUSED or another error code.
        case serverFailure(responseCode: UInt8)
        /// No server answered in time.
        case timeout
        /// The name is not a valid domain name.
        case invalidName
        /// No servers are configured.
        case noServers
    }

    public enum Result: Equatable, Sendable {
        case resolved([IPv4Address], ttl: UInt32)
        case failed(Failure)
    }

    /// One UDP datagram to send to `server`, port 53.
    public struct Output: Equatable, Sendable {
        public var payload: [UInt8]
        public var server: IPv4Address
    }

    public static let serverPort: UInt16 = 53
    static let second: UInt64 = 1_000_000_000
    /// Timeouts for successive attempts at one server.
    public static let attemptTimeouts: [UInt64] = [1 * second, 2 * second, 4 * second]

    public var servers: [IPv4Address]
    public let cacheCapacity: Int
    /// The outcome of the last lookup; nil while one is in flight or before the first.
    public private(set) var result: Result?

    /// Seeded once from the generator given to `init`, so it stays a plain value.
    private var random: SplitMix64
    private var pending: Pending?
    private var cache: [CacheEntry] = []

    private struct Pending: Sendable {
        var name: DNSName
        var id: UInt16
        var serverIndex = 0
        var attempt = 0
        /// When to send next.
        var deadline: UInt64
        var sent = false
        var lastFailureCode: UInt8? = nil
    }

    private struct CacheEntry: Sendable {
        var name: DNSName
        var addresses: [IPv4Address]
        var ttl: UInt32
        var storedAt: UInt64
        var expiresAt: UInt64
    }

    public init(servers: [IPv4Address], random: inout some RandomNumberGenerator, cacheCapacity: Int = 16) {
        self.servers = servers
        self.cacheCapacity = max(cacheCapacity, 0)
        self.random = SplitMix64(seed: random.next())
    }

    public var isBusy: Bool { pending != nil }

    // MARK: Driving

    /// Starts resolving `name` (replacing any lookup in flight). A cache hit or an invalid
    /// name finishes at once: the result is returned and also kept in `result`.
    @discardableResult
    public mutating func start(_ name: String, now: UInt64) -> Result? {
        pending = nil
        result = nil
        let parsed: DNSName
        do throws(WireError) { parsed = try DNSName(name) } catch { return finish(.failed(.invalidName)) }
        if let hit = cached(parsed, now: now) { return finish(hit) }
        guard !servers.isEmpty else { return finish(.failed(.noServers)) }
        pending = Pending(name: parsed, id: random.nextID(), deadline: now)
        return nil
    }

    /// When `poll(now:)` next has work; nil when idle.
    public func pollAt() -> UInt64? { pending?.deadline }

    /// Returns a query to send when one is due, moving to the next server or failing
    /// after the last timeout.
    public mutating func poll(now: UInt64) -> Output? {
        guard var lookup = pending, now >= lookup.deadline else { return nil }
        if lookup.sent {
            lookup.attempt += 1
            if lookup.attempt >= Self.attemptTimeouts.count {
                lookup.attempt = 0
                lookup.serverIndex += 1
                lookup.id = random.nextID()
            }
        }
        guard lookup.serverIndex < servers.count else {
            finish(.failed(lookup.lastFailureCode.map { .serverFailure(responseCode: $0) } ?? .timeout))
            return nil
        }
        lookup.sent = true
        lookup.deadline = saturatingDeadline(after: Self.attemptTimeouts[lookup.attempt], from: now)
        pending = lookup
        return Output(payload: DNSMessage.query(id: lookup.id, name: lookup.name),
                      server: servers[lookup.serverIndex])
    }

    /// Takes a UDP payload received from port 53. Replies whose id or question does not
    /// match the lookup in flight, and malformed ones, are ignored. Returns the result when
    /// this reply finished the lookup.
    @discardableResult
    public mutating func receive(_ payload: UnsafeRawBufferPointer, now: UInt64) -> Result? {
        guard var lookup = pending, lookup.sent,
              let message = try? DNSMessage(parsing: payload),
              message.isResponse, message.id == lookup.id, message.questions.count == 1,
              message.questions[0].name == lookup.name,
              message.questions[0].type == DNSRecordType.a
        else { return nil }

        switch message.responseCode {
        case DNSResponseCode.noError:
            guard let (addresses, ttl) = message.addresses(for: lookup.name) else {
                return finish(.failed(.noAddresses))
            }
            store(lookup.name, addresses: addresses, ttl: ttl, now: now)
            return finish(.resolved(addresses, ttl: ttl))
        case DNSResponseCode.nameError:
            return finish(.failed(.nameError))
        default:
            // SERVFAIL, REFUSED and the like: try the next server straight away.
            lookup.lastFailureCode = message.responseCode
            lookup.serverIndex += 1
            lookup.attempt = 0
            lookup.sent = false
            lookup.deadline = now
            lookup.id = random.nextID()
            if lookup.serverIndex >= servers.count {
                return finish(.failed(.serverFailure(responseCode: message.responseCode)))
            }
            pending = lookup
            return nil
        }
    }

    @discardableResult
    public mutating func receive(_ payload: [UInt8], now: UInt64) -> Result? {
        payload.withUnsafeBytes { receive($0, now: now) }
    }

    @discardableResult
    private mutating func finish(_ outcome: Result) -> Result {
        pending = nil
        result = outcome
        return outcome
    }

    // MARK: Cache

    /// Number of cached names (expired ones included until they are evicted).
    public var cacheCount: Int { cache.count }

    private func cached(_ name: DNSName, now: UInt64) -> Result? {
        for entry in cache where entry.name == name && now < entry.expiresAt {
            let elapsed = UInt32(min((now - entry.storedAt) / Self.second, UInt64(entry.ttl)))
            return .resolved(entry.addresses, ttl: entry.ttl - elapsed)
        }
        return nil
    }

    private mutating func store(_ name: DNSName, addresses: [IPv4Address], ttl: UInt32, now: UInt64) {
        // RFC 2181 §8: a TTL with the top bit set is treated as zero.
        guard cacheCapacity > 0, ttl > 0, ttl < 0x8000_0000 else { return }
        cache.removeAll { $0.name == name || $0.expiresAt <= now }
        if cache.count >= cacheCapacity {
            var soonest = 0
            for index in cache.indices where cache[index].expiresAt < cache[soonest].expiresAt {
                soonest = index
            }
            cache.remove(at: soonest)
        }
        cache.append(CacheEntry(name: name, addresses: addresses, ttl: ttl, storedAt: now,
                                expiresAt: saturatingDeadline(after: UInt64(ttl) * Self.second, from: now)))
    }
}

private extension SplitMix64 {
    /// A query id: the top 16 bits of the next draw.
    mutating func nextID() -> UInt16 { UInt16(truncatingIfNeeded: next() >> 48) }
}
