// The tenders' one sort (Core/StableSort.swift): ordered as `sorted(by:)` orders, and stable,
// which SymbolTable relies on to keep the first symbol at an address.
@testable import TenderCore
import Testing

struct StableSortTests {
    @Test func ordersAsTheStandardLibrary() {
        var generator = SystemRandomNumberGenerator()
        for count in [0, 1, 2, 19, 20, 21, 200] {
            let values = (0 ..< count).map { _ in UInt64.random(in: 0 ..< 50, using: &generator) }
            #expect(values.stablySorted(by: <) == values.sorted(by: <))
            #expect(values.stablySorted(by: >) == values.sorted(by: >))
        }
    }

    @Test func keepsEqualElementsInTheirOrder() {
        // (key, position): equal keys must stay in position order, across insertion-sort runs
        // and merges (the standard library sorts runs of 20 and merges them).
        let pairs = (0 ..< 300).map { (key: ($0 * 7) % 5, position: $0) }
        let sorted = pairs.stablySorted { $0.key < $1.key }
        #expect(sorted.map(\.key) == pairs.map(\.key).sorted())
        for (a, b) in zip(sorted, sorted.dropFirst()) where a.key == b.key {
            #expect(a.position < b.position)
        }
    }

    @Test func positionsAreAPermutation() {
        let keys: [UInt64] = [5, 1, 4, 1, 5, 9, 2, 6]
        let order = stableOrder(keys.count) { keys[$0] < keys[$1] }
        #expect(order == [1, 3, 6, 2, 0, 4, 7, 5])
    }
}
