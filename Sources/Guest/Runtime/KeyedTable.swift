// Hash tables for keys that fit in 64 bits (a TCP connection's ports and peer address, an IPv4
// address, a port): the network stack's tables, whose keys come off the wire. Open addressing
// with linear probing, slots placed by SipHash-1-3 under a secret key (as the standard
// library's Dictionary places them under its per-process seed), so a peer cannot choose keys
// that share one run of slots. `KeySet` does all the probing and is not generic; a
// `KeyedTable` adds only an array of values, so each value type costs a little code where each
// Dictionary type cost its own copy of the hashing and resizing (~2 KB each in examples/web).

/// A key of a `KeyedTable`: a value that packs into one 64-bit word and back.
protocol TableKey {
    var word: UInt64 { get }
    init(word: UInt64)
}

/// A set of 64-bit words. A removed word leaves a tombstone, so the words after it in its run
/// stay reachable, unless the run ends there; tombstones are dropped when the slots are
/// rebuilt, which happens before used slots and tombstones would fill three quarters of them.
/// A word keeps its slot until the next rebuild (`slot(of:)` is a handle until an insertion).
struct KeySet {
    private static let empty: UInt8 = 0
    private static let used: UInt8 = 1
    private static let removed: UInt8 = 2

    private var words: [UInt64] = []
    private var marks: [UInt8] = []
    private(set) var count = 0
    private(set) var tombstones = 0
    private let hasher: SipHash13

    init(hasher: SipHash13) { self.hasher = hasher }

    var isEmpty: Bool { count == 0 }
    /// Slots, a power of two (0 until the first insertion).
    var capacity: Int { words.count }

    func contains(_ word: UInt64) -> Bool { slot(of: word) != nil }

    /// The slot holding `word`, if any.
    func slot(of word: UInt64) -> Int? {
        guard !words.isEmpty else { return nil }
        let mask = words.count - 1
        var slot = Int(truncatingIfNeeded: hasher.hash(word)) & mask
        while marks[slot] != Self.empty {
            if marks[slot] == Self.used && words[slot] == word { return slot }
            slot = (slot + 1) & mask
        }
        return nil
    }

    /// Adds `word`; returns whether it was not there yet.
    @discardableResult
    mutating func insert(_ word: UInt64) -> Bool {
        if let capacity = capacityForInserting { rebuild(capacity: capacity) { _, _ in } }
        return claim(word).inserted
    }

    mutating func remove(_ word: UInt64) {
        if let slot = slot(of: word) { vacate(slot) }
    }

    /// The capacity to rebuild with before one more word may be claimed (nil: there is room):
    /// room for twice the words there will be.
    var capacityForInserting: Int? {
        guard (count + tombstones + 1) * 4 > words.count * 3 else { return nil }
        var capacity = 8
        while capacity < 2 * (count + 1) { capacity *= 2 }
        return capacity
    }

    /// The slot of `word`: its own if present, else a free one (the first tombstone on its
    /// way, if any) that now holds it. Needs room (`capacityForInserting` nil).
    mutating func claim(_ word: UInt64) -> (slot: Int, inserted: Bool) {
        let mask = words.count - 1
        var slot = Int(truncatingIfNeeded: hasher.hash(word)) & mask
        var tombstone: Int?
        while marks[slot] != Self.empty {
            if marks[slot] == Self.used {
                if words[slot] == word { return (slot, false) }
            } else if tombstone == nil {
                tombstone = slot
            }
            slot = (slot + 1) & mask
        }
        if let tombstone {
            slot = tombstone
            tombstones -= 1
        }
        words[slot] = word
        marks[slot] = Self.used
        count += 1
        return (slot, true)
    }

    /// Removes the word in `slot`, which must hold one.
    mutating func vacate(_ slot: Int) {
        let mask = words.count - 1
        count -= 1
        guard marks[(slot + 1) & mask] == Self.empty else {
            marks[slot] = Self.removed
            tombstones += 1
            return
        }
        // The run ends here: no word needs this slot, nor the tombstones just before it.
        marks[slot] = Self.empty
        var previous = (slot - 1) & mask
        while marks[previous] == Self.removed {
            marks[previous] = Self.empty
            tombstones -= 1
            previous = (previous - 1) & mask
        }
    }

    /// Places every word afresh in `capacity` slots (a power of two, more than the words),
    /// without tombstones; tells `moved` each word's old and new slot.
    mutating func rebuild(capacity: Int, _ moved: (_ from: Int, _ to: Int) -> Void) {
        let oldWords = words
        let oldMarks = marks
        words = [UInt64](repeating: 0, count: capacity)
        marks = [UInt8](repeating: Self.empty, count: capacity)
        count = 0
        tombstones = 0
        for old in oldWords.indices where oldMarks[old] == Self.used {
            moved(old, claim(oldWords[old]).slot)
        }
    }

    /// The first slot at or after `slot` that holds a word (nil: none).
    func occupiedSlot(from slot: Int) -> Int? {
        var slot = slot
        while slot < marks.count {
            if marks[slot] == Self.used { return slot }
            slot += 1
        }
        return nil
    }

    func word(at slot: Int) -> UInt64 { words[slot] }
}

extension KeySet: Sequence {
    /// The words in slot order (which the secret key decides). Iterates the set as it was
    /// when iteration began, like the standard library's collections.
    struct Iterator: IteratorProtocol {
        fileprivate let set: KeySet
        fileprivate var slot = 0

        mutating func next() -> UInt64? {
            guard let found = set.occupiedSlot(from: slot) else { return nil }
            slot = found + 1
            return set.word(at: found)
        }
    }

    func makeIterator() -> Iterator { Iterator(set: self) }
}

/// A dictionary over a `KeySet`: each value sits in its key's slot.
struct KeyedTable<Key: TableKey, Value> {
    private var keys: KeySet
    private var values: [Value?] = []

    init(hasher: SipHash13) { keys = KeySet(hasher: hasher) }

    var count: Int { keys.count }
    var isEmpty: Bool { keys.isEmpty }

    subscript(key: Key) -> Value? {
        get { keys.slot(of: key.word).flatMap { values[$0] } }
        set {
            if let newValue { updateValue(newValue, forKey: key) } else { removeValue(forKey: key) }
        }
    }

    mutating func updateValue(_ value: Value, forKey key: Key) {
        if let capacity = keys.capacityForInserting {
            var moved = [Value?](repeating: nil, count: capacity)
            let old = values
            keys.rebuild(capacity: capacity) { from, to in moved[to] = old[from] }
            values = moved
        }
        values[keys.claim(key.word).slot] = value
    }

    mutating func removeValue(forKey key: Key) {
        guard let slot = keys.slot(of: key.word) else { return }
        keys.vacate(slot)
        values[slot] = nil
    }
}

extension KeyedTable where Value: AnyObject {
    /// Whether the table holds the only reference to the object under `key`.
    mutating func holdsOnlyReference(forKey key: Key) -> Bool {
        guard let slot = keys.slot(of: key.word) else { return false }
        return isKnownUniquelyReferenced(&values[slot]!)
    }
}

extension KeyedTable: Sequence {
    /// The entries in slot order, as the table was when iteration began.
    struct Iterator: IteratorProtocol {
        fileprivate let table: KeyedTable
        fileprivate var slot = 0

        mutating func next() -> (key: Key, value: Value)? {
            guard let found = table.keys.occupiedSlot(from: slot) else { return nil }
            slot = found + 1
            return (Key(word: table.keys.word(at: found)), table.values[found]!)
        }
    }

    func makeIterator() -> Iterator { Iterator(table: self) }
}

extension UInt16: TableKey {
    var word: UInt64 { UInt64(self) }
    init(word: UInt64) { self.init(truncatingIfNeeded: word) }
}

/// An index (the HTTP server's slots) as a key.
extension Int: TableKey {
    var word: UInt64 { UInt64(truncatingIfNeeded: self) }
    init(word: UInt64) { self.init(truncatingIfNeeded: word) }
}

/// A `TimerHeap` of keys, filed as their words: TCP's connections and the HTTP server's slots
/// share one copy of the heap's code (each element type costs its own, ~1.5 KB).
struct KeyTimers<Key: TableKey> {
    private var heap = TimerHeap<UInt64>()

    var count: Int { heap.count }

    /// The earliest timer, left in place.
    var next: (deadline: UInt64, key: Key)? { heap.next.map { ($0.deadline, Key(word: $0.element)) } }

    mutating func insert(_ key: Key, deadline: UInt64) { heap.insert(key.word, deadline: deadline) }

    /// Removes and returns the earliest timer's key if its deadline is at or before `now`.
    mutating func popDue(at now: UInt64) -> Key? { heap.popDue(at: now).map { Key(word: $0) } }

    /// Moves the earliest timer to `deadline` (`TimerHeap.refileNext`).
    mutating func refileNext(at deadline: UInt64) { heap.refileNext(at: deadline) }
}
