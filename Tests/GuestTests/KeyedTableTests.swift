// The network stack's hash tables (Runtime/KeyedTable.swift) and their keyed hash: SipHash-1-3
// against the reference vector; insertion, replacement, removal, tombstones, growth and
// churn; values following their keys through rebuilds; and keys chosen to collide, which pile
// into one run under the key they were chosen for and spread under any other.
import Testing
@testable import Swiftlet

@Suite struct KeyedTableTests {
    static let hasher = SipHash13(k0: 0x0123_4567_89AB_CDEF, k1: 0xFEDC_BA98_7654_3210)
    static let otherHasher = SipHash13(k0: 0x0123_4567_89AB_CDEF, k1: 0xFEDC_BA98_7654_3211)

    /// How far past its home slot `word` sits (0: in it).
    static func displacement(of word: UInt64, in set: KeySet, hasher: SipHash13 = hasher) -> Int {
        let mask = set.capacity - 1
        let home = Int(truncatingIfNeeded: hasher.hash(word)) & mask
        return (set.slot(of: word)! - home) & mask
    }

    /// `count` distinct words whose home is slot 0 of `capacity` slots under `hasher`: what a
    /// peer who knew the secret key would send.
    static func colliding(_ count: Int, capacity: Int, under hasher: SipHash13) -> [UInt64] {
        var words: [UInt64] = []
        var candidate: UInt64 = 0
        while words.count < count {
            // A connection to port 80 from 10.0.0.2, from each source port in turn.
            let word = TCPFourTuple(localPort: 80, remoteAddress: IPv4Address(10, 0, 0, 2), remotePort: UInt16(candidate)).word
            if Int(truncatingIfNeeded: hasher.hash(word)) & (capacity - 1) == 0 { words.append(word) }
            candidate += 1
        }
        return words
    }

    @Test func sipHash13MatchesTheReferenceVector() {
        // The reference implementation's vector 8: key 00 01 ... 0f, message 00 01 ... 07
        // (the Swift standard library's test suite lists SipHash-1-3's).
        let sip = SipHash13(k0: 0x0706_0504_0302_0100, k1: 0x0F0E_0D0C_0B0A_0908)
        #expect(sip.hash(0x0706_0504_0302_0100) == 0x3690_9511_8D29_9A8E)
        #expect(sip.hash(0x0706_0504_0302_0101) != 0x3690_9511_8D29_9A8E)
        #expect(SipHash13(k0: 0x0706_0504_0302_0100, k1: 0x0F0E_0D0C_0B0A_0909).hash(0x0706_0504_0302_0100) != 0x3690_9511_8D29_9A8E)
    }

    @Test func setInsertsFindsAndRemoves() {
        var set = KeySet(hasher: Self.hasher)
        #expect(set.isEmpty && set.capacity == 0 && !set.contains(0))
        let inserted = [set.insert(0), set.insert(.max), set.insert(0)]
        #expect(inserted == [true, true, false], "the second 0 was there already")
        #expect(set.count == 2 && set.contains(0) && set.contains(.max) && !set.contains(1))
        set.remove(1)  // not there: nothing happens
        #expect(set.count == 2)
        set.remove(0)
        #expect(set.count == 1 && !set.contains(0) && set.contains(.max))
        set.remove(.max)
        #expect(set.isEmpty && !set.contains(.max))
        let again = set.insert(0)
        #expect(again && set.count == 1)
    }

    @Test func setGrowsKeepingEveryWordAndAQuarterOfItsSlotsFree() {
        var set = KeySet(hasher: Self.hasher)
        for word in 0..<UInt64(1000) {
            let inserted = set.insert(word &* 0x9E37_79B9_7F4A_7C15)
            #expect(inserted)
            #expect(set.count * 4 <= set.capacity * 3)
            #expect(set.capacity.nonzeroBitCount == 1)
        }
        #expect(set.count == 1000 && set.capacity == 2048)
        for word in 0..<UInt64(1000) {
            #expect(set.contains(word &* 0x9E37_79B9_7F4A_7C15))
            #expect(!set.contains(word &* 0x9E37_79B9_7F4A_7C15 &+ 1))
        }
        #expect(Set(set).count == 1000, "iteration gives each word once")
    }

    @Test func aRemovedWordInsideARunLeavesATombstoneThatKeepsTheRestFound() {
        var set = KeySet(hasher: Self.hasher)
        set.insert(12345)  // slots exist: 8 of them
        set.remove(12345)
        #expect(set.capacity == 8 && set.tombstones == 0, "the last word of its run leaves no tombstone")
        let run = Self.colliding(4, capacity: 8, under: Self.hasher)
        for word in run { set.insert(word) }
        #expect(set.capacity == 8)
        #expect(run.map { Self.displacement(of: $0, in: set) } == [0, 1, 2, 3], "one run from slot 0")

        set.remove(run[1])
        #expect(set.tombstones == 1 && !set.contains(run[1]))
        #expect(set.contains(run[2]) && set.contains(run[3]), "found past the tombstone")

        // A new word whose home is slot 0 takes the tombstone's slot.
        let next = Self.colliding(5, capacity: 8, under: Self.hasher)[4]
        set.insert(next)
        #expect(set.tombstones == 0 && Self.displacement(of: next, in: set) == 1)
        set.insert(run[1])
        #expect(Self.displacement(of: run[1], in: set) == 4)

        // Removing from the end of the run clears the tombstones just before it too.
        set.remove(run[2])
        set.remove(run[3])
        #expect(set.tombstones == 2)
        set.remove(run[1])
        #expect(set.tombstones == 0, "the run now ends at slot 1")
        #expect(set.contains(run[0]) && set.contains(next) && set.count == 2)
    }

    @Test func churnAtASteadyCountNeitherGrowsTheTableNorLosesWords() {
        var set = KeySet(hasher: Self.hasher)
        var live: [UInt64] = Array(0..<100)
        for word in live { set.insert(word) }
        let capacity = set.capacity
        var next: UInt64 = 100
        for round in 0..<10_000 {
            // Connections come and go: the oldest leaves, a new one arrives.
            set.remove(live.removeFirst())
            set.insert(next)
            live.append(next)
            next += 1
            #expect(set.count == 100)
            #expect((set.count + set.tombstones) * 4 <= set.capacity * 3)
            if round % 1000 == 0 { #expect(live.allSatisfy(set.contains)) }
        }
        #expect(set.capacity == capacity, "rebuilds drop tombstones without growing")
        #expect(live.allSatisfy(set.contains))
        #expect(!set.contains(0) && !set.contains(next))
    }

    @Test func keysChosenToCollideUnderOneSecretSpreadUnderAnother() {
        // A peer who knew the key could make every connection share one run: 40 of them then
        // cost up to 40 probes a lookup.
        let attack = Self.colliding(40, capacity: 64, under: Self.hasher)
        var known = KeySet(hasher: Self.hasher)
        for word in attack { known.insert(word) }
        #expect(known.capacity == 64)
        #expect(attack.map { Self.displacement(of: $0, in: known) }.max() == 39)

        // Under the secret it does not know, the same keys land anywhere.
        var secret = KeySet(hasher: Self.otherHasher)
        for word in attack { secret.insert(word) }
        let displacements = attack.map { Self.displacement(of: $0, in: secret, hasher: Self.otherHasher) }
        #expect(displacements.max()! <= 8, "\(displacements)")
        #expect(attack.allSatisfy(secret.contains))
    }

    @Test func tableValuesFollowTheirKeysThroughGrowthAndRemoval() {
        var table = KeyedTable<UInt16, Int>(hasher: Self.hasher)
        #expect(table[80] == nil && table.isEmpty && Array(table).isEmpty)
        for port in 0..<UInt16(600) { table[port] = Int(port) * 3 }
        #expect(table.count == 600)
        #expect((0..<UInt16(600)).allSatisfy { table[$0] == Int($0) * 3 })
        table[7] = -1  // replaces
        #expect(table[7] == -1 && table.count == 600)
        for port in stride(from: UInt16(0), to: 600, by: 2) { table[port] = nil }
        table.removeValue(forKey: 1000)  // not there
        #expect(table.count == 300)
        #expect((0..<UInt16(600)).allSatisfy { table[$0] == ($0 % 2 == 0 ? nil : $0 == 7 ? -1 : Int($0) * 3) })
        let entries = table.map { ($0.key, $0.value) }
        #expect(entries.count == 300 && Set(entries.map(\.0)) == Set(stride(from: UInt16(1), to: 600, by: 2)))
        #expect(entries.allSatisfy { $0.1 == ($0.0 == 7 ? -1 : Int($0.0) * 3) })
    }

    @Test func iterationSeesTheTableAsItWasWhenItBegan() {
        var table = KeyedTable<IPv4Address, String>(hasher: Self.hasher)
        for last in 1...20 as ClosedRange<UInt8> { table[IPv4Address(10, 0, 0, last)] = "host \(last)" }
        var visited = 0
        for (address, name) in table {
            visited += 1
            #expect(name == "host \(address.value & 0xFF)")
            table[address] = nil
            table[IPv4Address(10, 0, 1, UInt8(address.value & 0xFF))] = name
        }
        #expect(visited == 20 && table.count == 20)
        #expect(table.allSatisfy { $0.key.value >> 8 == 0x0A00_01 })
    }

    @Test func theTableKnowsWhetherItHoldsTheOnlyReference() {
        final class Box {}
        var table = KeyedTable<UInt16, Box>(hasher: Self.hasher)
        var held: Box? = Box()
        table[1] = held
        let shared = table.holdsOnlyReference(forKey: 1)
        held = nil
        let alone = table.holdsOnlyReference(forKey: 1)
        let missing = table.holdsOnlyReference(forKey: 2)
        #expect(!shared && alone && !missing)
    }

    @Test func tcpKeysPackAndUnpack() {
        let key = TCPFourTuple(localPort: 443, remoteAddress: IPv4Address(192, 168, 1, 20), remotePort: 65535)
        #expect(key.localPort == 443 && key.remotePort == 65535 && key.remoteAddress == IPv4Address(192, 168, 1, 20))
        #expect(TCPFourTuple(word: key.word) == key)
        #expect(key != TCPFourTuple(localPort: 443, remoteAddress: IPv4Address(192, 168, 1, 20), remotePort: 65534))
    }

    @Test func keyTimersHandBackTheirKeysWholeByDeadlineThenInsertionOrder() {
        var timers = KeyTimers<TCPFourTuple>()
        // The top bits (a local port above 32767) survive the trip through the heap's words.
        let high = TCPFourTuple(localPort: 65535, remoteAddress: IPv4Address(255, 255, 255, 254), remotePort: 65535)
        let low = TCPFourTuple(localPort: 80, remoteAddress: IPv4Address(10, 0, 0, 2), remotePort: 40000)
        let other = TCPFourTuple(localPort: 80, remoteAddress: IPv4Address(10, 0, 0, 3), remotePort: 40000)
        timers.insert(high, deadline: 20)
        timers.insert(low, deadline: 10)
        timers.insert(other, deadline: 20)
        #expect(timers.count == 3 && timers.next?.key == low && timers.next?.deadline == 10)
        #expect(timers.popDue(at: 9) == nil)
        #expect(timers.popDue(at: 10) == low)
        #expect(timers.popDue(at: 30) == high && timers.popDue(at: 30) == other, "equal deadlines: first filed, first out")
        #expect(timers.next == nil && timers.popDue(at: .max) == nil)
        var slots = KeyTimers<Int>()
        slots.insert(7, deadline: 1)
        slots.insert(8, deadline: 2)
        slots.refileNext(at: 3)
        #expect(slots.next?.key == 8 && slots.popDue(at: 2) == 8 && slots.popDue(at: 2) == nil)
        #expect(slots.next?.deadline == 3 && slots.popDue(at: 3) == 7)
    }

    @Test func aSeededStackDerivesItsTableKeyWithoutTakingADraw() {
        var seeded = NetworkRandom.seeded(7)
        let first = seeded.tableHasher()
        var reference = SplitMix64(seed: 7)
        #expect(seeded.next() == reference.next(), "the stream the wire sees is untouched")
        var again = NetworkRandom.seeded(7)
        var other = NetworkRandom.seeded(8)
        let (same, different) = (again.tableHasher(), other.tableHasher())
        #expect(same.hash(42) == first.hash(42) && different.hash(42) != first.hash(42))
        var platform = NetworkRandom.platform
        let (one, two) = (platform.tableHasher(), platform.tableHasher())
        #expect(one.hash(42) != two.hash(42))
    }
}
