// Fixed-capacity storage for one TCP connection: a byte ring and an out-of-order assembler.

/// A byte ring of fixed capacity. Storage is allocated once at init; nothing grows later.
/// Offsets are logical: 0 is the oldest byte held. Bytes past `count` (up to `capacity`)
/// may be written ahead of time and later made visible with `commit` — the receive side
/// uses this to hold out-of-order data.
public struct TCPRingBuffer {
    private var storage: [UInt8]
    private var head = 0
    public private(set) var count = 0

    public init(capacity: Int) {
        storage = [UInt8](repeating: 0, count: max(capacity, 0))
    }

    public var capacity: Int { storage.count }
    public var freeSpace: Int { storage.count - count }
    public var isEmpty: Bool { count == 0 }
    public var isFull: Bool { count == storage.count }

    /// Physical index of logical offset `offset` (0 ≤ offset < capacity).
    @inline(__always) private func physical(_ offset: Int) -> Int {
        let index = head + offset
        return index >= storage.count ? index - storage.count : index
    }

    /// Copies `bytes` to logical offset `count + offset` without making them visible;
    /// clipped to the free space. Returns the octets written.
    @discardableResult
    public mutating func writeUnallocated(offset: Int, from bytes: UnsafeRawBufferPointer) -> Int {
        guard offset >= 0, offset < freeSpace, let source = bytes.baseAddress else { return 0 }
        let total = min(bytes.count, freeSpace - offset)
        let capacity = storage.count
        let start = physical(count + offset)
        storage.withUnsafeMutableBytes { raw in
            guard let base = raw.baseAddress else { return }
            let first = min(total, capacity - start)
            (base + start).copyMemory(from: source, byteCount: first)
            if total > first { base.copyMemory(from: source + first, byteCount: total - first) }
        }
        return total
    }

    /// Makes `length` unallocated octets visible (clipped to the free space).
    public mutating func commit(_ length: Int) {
        count += min(max(length, 0), freeSpace)
    }

    /// Appends as much of `bytes` as fits; returns the octets accepted.
    @discardableResult
    public mutating func enqueue(_ bytes: UnsafeRawBufferPointer) -> Int {
        let written = writeUnallocated(offset: 0, from: bytes)
        commit(written)
        return written
    }

    /// Copies up to `target.count` octets starting at logical `offset` without removing them.
    @discardableResult
    public func read(at offset: Int, into target: UnsafeMutableRawBufferPointer) -> Int {
        guard offset >= 0, offset < count, let destination = target.baseAddress else { return 0 }
        let total = min(target.count, count - offset)
        let capacity = storage.count
        let start = physical(offset)
        storage.withUnsafeBytes { raw in
            guard let base = raw.baseAddress else { return }
            let first = min(total, capacity - start)
            destination.copyMemory(from: base + start, byteCount: first)
            if total > first { (destination + first).copyMemory(from: base, byteCount: total - first) }
        }
        return total
    }

    /// Calls `body` with up to `length` octets from logical `offset` in place (clipped to what
    /// is held): one piece, or two where they wrap around the end of the storage.
    public func withBytes<Result>(at offset: Int, count length: Int, _ body: (TCPPayload) -> Result) -> Result {
        let total = offset >= 0 && offset < count ? min(max(length, 0), count - offset) : 0
        let start = total > 0 ? physical(offset) : 0
        return storage.withUnsafeBytes { raw in
            let first = min(total, raw.count - start)
            return body(TCPPayload(UnsafeRawBufferPointer(rebasing: raw[start..<(start + first)]),
                                   UnsafeRawBufferPointer(rebasing: raw[0..<(total - first)])))
        }
    }

    /// Calls `body` with the oldest octets in place, at most `maximum` and only as far as the
    /// storage's end (the rest comes next time), then drops them; returns how many.
    public mutating func dequeue(maximum: Int, _ body: (UnsafeRawBufferPointer) -> Void) -> Int {
        let length = min(max(maximum, 0), count, storage.count - head)
        guard length > 0 else { return 0 }
        storage.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[head..<(head + length)])) }
        return discard(length)
    }

    /// Drops up to `length` of the oldest octets; returns how many were dropped.
    @discardableResult
    public mutating func discard(_ length: Int) -> Int {
        let dropped = min(max(length, 0), count)
        guard dropped > 0 else { return 0 }
        head = physical(dropped)
        count -= dropped
        return dropped
    }

    /// Drops everything, visible or written ahead.
    public mutating func clear() {
        head = 0
        count = 0
    }

    /// Removes up to `target.count` of the oldest octets into `target`.
    public mutating func dequeue(into target: UnsafeMutableRawBufferPointer) -> Int {
        discard(read(at: 0, into: target))
    }
}

/// Out-of-order ranges held beyond the in-order point, as offsets relative to it. Bounded:
/// at most `maximumRanges` disjoint ranges; a segment that would need more is dropped
/// (and so will be retransmitted).
public struct TCPAssembler: Equatable {
    public struct Range: Equatable {
        public var start: Int
        public var end: Int
    }

    public static let maximumRanges = 8
    public private(set) var ranges: [Range] = []

    public init() { ranges.reserveCapacity(TCPAssembler.maximumRanges + 1) }

    public var isEmpty: Bool { ranges.isEmpty }

    /// True when `start..<end` can be recorded without exceeding the range limit.
    public func canAdd(start: Int, end: Int) -> Bool {
        guard ranges.count >= TCPAssembler.maximumRanges else { return true }
        for range in ranges where start <= range.end && end >= range.start { return true }
        return false
    }

    /// Records `start..<end`, merging with touching or overlapping ranges. Returns false
    /// (recording nothing) when that would exceed the limit. Works in place: the storage
    /// reserved at init is never outgrown.
    @discardableResult
    public mutating func add(start: Int, end: Int) -> Bool {
        guard start < end else { return true }
        guard canAdd(start: start, end: end) else { return false }
        var first = 0
        while first < ranges.count && ranges[first].end < start { first += 1 }
        var last = first
        var merged = Range(start: start, end: end)
        while last < ranges.count && ranges[last].start <= end {
            merged.start = min(merged.start, ranges[last].start)
            merged.end = max(merged.end, ranges[last].end)
            last += 1
        }
        if last > first {
            ranges[first] = merged
            ranges.removeSubrange((first + 1)..<last)
        } else {
            ranges.insert(merged, at: first)
        }
        return true
    }

    /// When a range starts at offset 0, removes it, shifts the others down and returns its
    /// length; otherwise returns 0.
    public mutating func takeFront() -> Int {
        guard let first = ranges.first, first.start <= 0 else { return 0 }
        let length = first.end
        ranges.removeFirst()
        for index in ranges.indices {
            ranges[index].start -= length
            ranges[index].end -= length
        }
        return length
    }

    public mutating func removeAll() { ranges.removeAll(keepingCapacity: true) }
}
