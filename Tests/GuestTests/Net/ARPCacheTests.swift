// The ARP cache's bound (Stack/ARPCache.swift): which entry a full cache gives up for a new
// address, and what happens to the packets queued on it.
import Testing
@testable import Swiftlet

@Suite struct ARPCacheTests {
    static func cache(capacity: Int) -> ARPCache {
        var configuration = ARPCache.Configuration()
        configuration.capacity = capacity
        return ARPCache(configuration: configuration, hasher: SipHash13(k0: 1, k1: 2))
    }

    static func address(_ last: UInt8) -> IPv4Address { IPv4Address(10, 0, 0, last) }
    static func mac(_ last: UInt8) -> MACAddress { MACAddress(2, 0, 0, 0, 0, last) }

    @Test func aFullCacheDropsTheResolvedEntryThatExpiresFirst() {
        var cache = Self.cache(capacity: 3)
        // Learned at 30, 10, 20: the one learned at 10 expires first.
        _ = cache.learn(Self.address(1), is: Self.mac(1), now: 30)
        _ = cache.learn(Self.address(2), is: Self.mac(2), now: 10)
        _ = cache.learn(Self.address(3), is: Self.mac(3), now: 20)
        // A pending entry is not given up while a resolved one can be.
        let requested = cache.enqueue([1], for: Self.address(4), now: 40)
        #expect(requested)
        #expect(cache.count == 3)
        #expect(cache.lookup(Self.address(2), now: 40) == nil)
        #expect(cache.lookup(Self.address(1), now: 40) == Self.mac(1))
        #expect(cache.lookup(Self.address(3), now: 40) == Self.mac(3))
        _ = cache.learn(Self.address(5), is: Self.mac(5), now: 50)
        #expect(cache.count == 3)
        #expect(cache.lookup(Self.address(3), now: 50) == nil)
        #expect(cache.lookup(Self.address(1), now: 50) == Self.mac(1))
        let waiting = cache.learn(Self.address(4), is: Self.mac(4), now: 60)
        #expect(waiting == [[1]], "the pending entry kept its queue")
        #expect(cache.droppedPackets == 0)
    }

    @Test func aCacheFullOfPendingEntriesDropsOneWithItsQueue() {
        var cache = Self.cache(capacity: 2)
        let requests = [cache.enqueue([1], for: Self.address(1), now: 0), cache.enqueue([2], for: Self.address(1), now: 0),
                        cache.enqueue([3], for: Self.address(2), now: 0), cache.enqueue([4], for: Self.address(3), now: 0)]
        #expect(requests == [true, false, true, true])
        #expect(cache.count == 2)
        // Whichever of 1 and 2 went, its queue is counted as dropped; the other keeps its own.
        let dropped = cache.droppedPackets
        #expect(dropped == 2 || dropped == 1)
        let waiting = cache.learn(Self.address(1), is: Self.mac(1), now: 1)
        #expect(waiting == (dropped == 2 ? [] : [[1], [2]]))
    }

    @Test func anAddressAlreadyCachedTakesNoRoom() {
        var cache = Self.cache(capacity: 1)
        _ = cache.learn(Self.address(1), is: Self.mac(1), now: 0)
        _ = cache.learn(Self.address(1), is: Self.mac(9), now: 5)
        #expect(cache.count == 1)
        #expect(cache.lookup(Self.address(1), now: 5) == Self.mac(9))
    }
}
