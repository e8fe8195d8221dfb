// Neighbour resolution for IPv4 over Ethernet: a bounded cache of answers with timeouts, and a
// bounded queue of packets waiting for an answer (so the first packet to a new peer is not lost).

public struct ARPCache {
    public struct Configuration: Sendable {
        public var capacity = 64
        public var entryLifetime: UInt64 = 60_000_000_000      // RFC 1122: "about a minute"
        public var retryInterval: UInt64 = 1_000_000_000
        public var maximumRequests = 3
        public var queuedPacketsPerAddress = 4
        public init() {}
    }

    enum Entry {
        case resolved(MACAddress, expires: UInt64)
        case pending(requestsSent: Int, nextRequest: UInt64, queue: [[UInt8]])
    }

    public let configuration: Configuration
    private var entries: KeyedTable<IPv4Address, Entry>
    public private(set) var droppedPackets = 0

    public init(configuration: Configuration = Configuration()) {
        var random = NetworkRandom.platform
        self.init(configuration: configuration, hasher: random.tableHasher())
    }

    /// `hasher` places the addresses in the table's slots (the stack's, from its generator).
    init(configuration: Configuration = Configuration(), hasher: SipHash13) {
        self.configuration = configuration
        entries = KeyedTable(hasher: hasher)
    }

    public func lookup(_ address: IPv4Address, now: UInt64) -> MACAddress? {
        guard case .resolved(let mac, let expires)? = entries[address], expires > now else { return nil }
        return mac
    }

    /// Records an answer (or any ARP packet's sender, RFC 826's "merge" step); returns the
    /// packets that were waiting for it, to be sent now.
    public mutating func learn(_ address: IPv4Address, is mac: MACAddress, now: UInt64) -> [[UInt8]] {
        var waiting: [[UInt8]] = []
        if case .pending(_, _, let queue)? = entries[address] { waiting = queue }
        makeRoom(now: now, keeping: address)
        entries[address] = .resolved(mac, expires: now &+ configuration.entryLifetime)
        return waiting
    }

    /// Holds `packet` (an IPv4 packet without Ethernet header) for `address`. Returns true
    /// when an ARP request should be sent now.
    public mutating func enqueue(_ packet: [UInt8], for address: IPv4Address, now: UInt64) -> Bool {
        switch entries[address] {
        case .pending(let sent, let next, var queue)?:
            if queue.count < configuration.queuedPacketsPerAddress { queue.append(packet) } else { droppedPackets += 1 }
            entries[address] = .pending(requestsSent: sent, nextRequest: next, queue: queue)
            return false
        default:
            makeRoom(now: now, keeping: address)
            entries[address] = .pending(requestsSent: 1, nextRequest: now &+ configuration.retryInterval, queue: [packet])
            return true
        }
    }

    /// Addresses whose request must be sent again now; unanswered ones give up and drop
    /// their queue.
    public mutating func due(now: UInt64) -> [IPv4Address] {
        var retry: [IPv4Address] = []
        for (address, entry) in entries {
            switch entry {
            case .pending(let sent, let next, let queue) where next <= now:
                if sent >= configuration.maximumRequests {
                    droppedPackets += queue.count
                    entries[address] = nil
                } else {
                    entries[address] = .pending(requestsSent: sent + 1, nextRequest: now &+ configuration.retryInterval, queue: queue)
                    retry.append(address)
                }
            case .resolved(_, let expires) where expires <= now:
                entries[address] = nil
            default:
                break
            }
        }
        return retry
    }

    /// The next time `due` has something to do.
    public func pollAt() -> UInt64? {
        var soonest: UInt64?
        for case (_, .pending(_, let next, _)) in entries { soonest = earliest(soonest, next) }
        return soonest
    }

    public var count: Int { entries.count }

    /// Keeps the table bounded: drops the resolved entry that expires first or, when every entry
    /// is pending, the first in slot order with its queue. One pass over the table.
    private mutating func makeRoom(now: UInt64, keeping address: IPv4Address) {
        guard entries[address] == nil, entries.count >= configuration.capacity else { return }
        var victim: (address: IPv4Address, expires: UInt64)?
        var firstPending: (address: IPv4Address, queued: Int)?
        for (candidate, entry) in entries {
            switch entry {
            case .resolved(_, let expires):
                if victim == nil || expires < victim!.expires { victim = (candidate, expires) }
            case .pending(_, _, let queue):
                if firstPending == nil { firstPending = (candidate, queue.count) }
            }
        }
        if let victim {
            entries[victim.address] = nil
        } else if let firstPending {
            droppedPackets += firstPending.queued
            entries[firstPending.address] = nil
        }
    }
}

extension IPv4Address: TableKey {
    var word: UInt64 { UInt64(value) }
    init(word: UInt64) { self.init(UInt32(truncatingIfNeeded: word)) }
}
