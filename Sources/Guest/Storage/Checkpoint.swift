// The checkpoint: the whole live state of a store as one record, so opening loads it with one
// read, one checksum and one walk instead of replaying a record (and two allocations) per key.
// The record (kind 4, no key; see StoreFormat.swift) holds in its value:
//   0 entry count u32, then per entry, in strictly ascending byte order of key:
//   key length u16, value length u32, key, value
// In RAM a checkpoint stays as it was read, the record bytes, with the offset of each entry;
// a lookup is a binary search. Parsing checks every length, the count and the order, so bytes
// that passed the checksum but are malformed (only a forged or fuzzed disk holds such) are
// refused, and no lookup on a parsed checkpoint can trap.

public struct Checkpoint: Sendable {
    /// The checkpoint record: header, entry count, entries.
    private let record: [UInt8]
    /// Where each entry starts in `record`, in key order.
    private let offsets: [UInt32]
    /// Σ (record header + key + value) over the entries: what `liveBytes` counts for them.
    public let liveBytes: Int

    static let entryHeaderSize = 6
    static let entriesStart = StoreFormat.recordHeaderSize + 4

    public var count: Int { offsets.count }

    public static let empty = Checkpoint(record: [], offsets: [], liveBytes: 0)

    fileprivate init(record: [UInt8], offsets: [UInt32], liveBytes: Int) {
        self.record = record
        self.offsets = offsets
        self.liveBytes = liveBytes
    }

    /// Parses `record[0..<recordLength]`, a checkpoint record whose checksum was verified
    /// (bytes after `recordLength` are ignored); nil if its value is not a well-formed list.
    public init?(record: [UInt8], recordLength: Int) {
        guard recordLength >= Self.entriesStart, recordLength <= record.count, recordLength <= Int(UInt32.max) else { return nil }
        var offsets: [UInt32] = []
        var liveBytes = 0
        let parsed: Bool = record.withUnsafeBytes { raw in
            let declared = Int(le32(raw, StoreFormat.recordHeaderSize))
            guard declared <= (recordLength - Self.entriesStart) / Self.entryHeaderSize else { return false }
            offsets.reserveCapacity(declared)
            var position = Self.entriesStart
            var previous: UnsafeRawBufferPointer?
            while position < recordLength {
                guard recordLength - position >= Self.entryHeaderSize else { return false }
                let keyLength = Int(le16(raw, position)), valueLength = Int(le32(raw, position + 2))
                guard keyLength <= StoreFormat.maximumKeyLength,
                      valueLength <= recordLength - position - Self.entryHeaderSize - keyLength else { return false }
                let key = UnsafeRawBufferPointer(rebasing: raw[position + Self.entryHeaderSize..<position + Self.entryHeaderSize + keyLength])
                if let previous, compareBytes(previous, key) >= 0 { return false }
                previous = key
                offsets.append(UInt32(position))
                liveBytes += StoreFormat.recordHeaderSize + keyLength + valueLength
                position += Self.entryHeaderSize + keyLength + valueLength
            }
            return offsets.count == declared
        }
        guard parsed else { return nil }
        self.init(record: record, offsets: offsets, liveBytes: liveBytes)
    }

    // MARK: lookups

    /// The first index whose key is not below `key`, and whether that key is `key`.
    public func search(_ key: [UInt8]) -> (index: Int, found: Bool) {
        record.withUnsafeBytes { raw in
            key.withUnsafeBytes { wanted in
                var low = 0, high = offsets.count
                while low < high {
                    let middle = (low + high) / 2
                    if compareBytes(Self.key(raw, offsets[middle]), wanted) < 0 { low = middle + 1 } else { high = middle }
                }
                return (low, low < offsets.count && compareBytes(Self.key(raw, offsets[low]), wanted) == 0)
            }
        }
    }

    public func value(for key: [UInt8]) -> [UInt8]? {
        let (index, found) = search(key)
        return found ? value(at: index) : nil
    }

    public func key(at index: Int) -> [UInt8] { record.withUnsafeBytes { Array(Self.key($0, offsets[index])) } }

    public func value(at index: Int) -> [UInt8] { record.withUnsafeBytes { Array(Self.value($0, offsets[index])) } }

    public func valueLength(at index: Int) -> Int { record.withUnsafeBytes { Int(le32($0, Int(offsets[index]) + 2)) } }

    /// The entry at `index` as stored (header, key, value): a writer copies it unchanged.
    func withEntry<R>(at index: Int, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        record.withUnsafeBytes { raw in
            let at = Int(offsets[index])
            let length = Self.entryHeaderSize + Int(le16(raw, at)) + Int(le32(raw, at + 2))
            return body(UnsafeRawBufferPointer(rebasing: raw[at..<at + length]))
        }
    }

    /// Whether the key at `index` starts with `prefix`.
    public func key(at index: Int, startsWith prefix: [UInt8]) -> Bool {
        record.withUnsafeBytes { raw in Self.key(raw, offsets[index]).starts(with: prefix) }
    }

    /// Byte order of the key at `index` against `key`: negative, zero or positive.
    public func compareKey(at index: Int, with key: [UInt8]) -> Int {
        record.withUnsafeBytes { raw in key.withUnsafeBytes { compareBytes(Self.key(raw, offsets[index]), $0) } }
    }

    private static func key(_ raw: UnsafeRawBufferPointer, _ offset: UInt32) -> UnsafeRawBufferPointer {
        let at = Int(offset)
        return UnsafeRawBufferPointer(rebasing: raw[at + entryHeaderSize..<at + entryHeaderSize + Int(le16(raw, at))])
    }

    private static func value(_ raw: UnsafeRawBufferPointer, _ offset: UInt32) -> UnsafeRawBufferPointer {
        let at = Int(offset), keyEnd = at + entryHeaderSize + Int(le16(raw, at))
        return UnsafeRawBufferPointer(rebasing: raw[keyEnd..<keyEnd + Int(le32(raw, at + 2))])
    }
}

/// Builds a checkpoint record, entries appended in ascending key order.
public struct CheckpointWriter {
    private var record = [UInt8](repeating: 0, count: Checkpoint.entriesStart)
    private var offsets: [UInt32] = []
    private var liveBytes = 0

    public init(capacity: Int = 0) { record.reserveCapacity(capacity) }

    public mutating func append(key: [UInt8], value: [UInt8]) {
        offsets.append(UInt32(record.count))
        liveBytes += StoreFormat.recordHeaderSize + key.count + value.count
        var header: (UInt16, UInt32) = (UInt16(key.count).littleEndian, UInt32(value.count).littleEndian)
        withUnsafeBytes(of: &header.0) { record.append(contentsOf: $0) }
        withUnsafeBytes(of: &header.1) { record.append(contentsOf: $0) }
        record.append(contentsOf: key)
        record.append(contentsOf: value)
    }

    /// Appends entry `index` of `checkpoint` as it is stored there.
    public mutating func append(entryAt index: Int, of checkpoint: Checkpoint) {
        offsets.append(UInt32(record.count))
        checkpoint.withEntry(at: index) { entry in
            liveBytes += StoreFormat.recordHeaderSize + entry.count - Checkpoint.entryHeaderSize
            record.append(contentsOf: entry)
        }
    }

    /// Seals the record: its bytes (exactly the record, unpadded), its checksum, and the
    /// checkpoint it holds, to keep in RAM.
    public mutating func finish(chain: UInt32, generation: UInt64, sequence: UInt64) -> (bytes: [UInt8], checksum: UInt32, checkpoint: Checkpoint) {
        let count = UInt32(offsets.count)
        let checksum = record.withUnsafeMutableBytes { raw in
            put32(count, raw, StoreFormat.recordHeaderSize)
            return RecordHeader.seal(raw, kind: .checkpoint, keyLength: 0, chain: chain, generation: generation, sequence: sequence)
        }
        return (record, checksum, Checkpoint(record: record, offsets: offsets, liveBytes: liveBytes))
    }
}

/// Byte-wise order of two byte strings (a proper prefix comes first): negative, zero or positive.
@inline(__always) func compareBytes(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int {
    let common = min(a.count, b.count)
    var index = 0
    while index + 8 <= common {
        let x = a.loadUnaligned(fromByteOffset: index, as: UInt64.self).bigEndian
        let y = b.loadUnaligned(fromByteOffset: index, as: UInt64.self).bigEndian
        if x != y { return x < y ? -1 : 1 }
        index += 8
    }
    while index < common {
        if a[index] != b[index] { return a[index] < b[index] ? -1 : 1 }
        index += 1
    }
    return a.count == b.count ? 0 : (a.count < b.count ? -1 : 1)
}
