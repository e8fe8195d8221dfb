// The tenders' one sort. Each element type given to the standard library's `sort(by:)` links
// its own copy of its merge sort (~3 KB in a tender: segments, symbols, address ranges, seccomp
// values); these sort positions (Int) instead, so that copy is linked once, for Int.

/// The positions 0 ..< count, stably ordered by `areInIncreasingOrder` (which compares two
/// positions). Not inlined, so every caller shares the one Int sort.
@inline(never)
func stableOrder(_ count: Int, by areInIncreasingOrder: (Int, Int) -> Bool) -> [Int] {
    var order = Array(0 ..< count)
    order.sort(by: areInIncreasingOrder)   // the standard library's sort is stable
    return order
}

extension Array {
    /// The elements stably sorted by `areInIncreasingOrder`, as `sorted(by:)` would, through
    /// `stableOrder`.
    func stablySorted(by areInIncreasingOrder: (Element, Element) -> Bool) -> [Element] {
        stableOrder(count) { areInIncreasingOrder(self[$0], self[$1]) }.map { self[$0] }
    }
}
