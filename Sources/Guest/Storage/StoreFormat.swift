// The on-disk format of KeyValueStore, version 3. Older disks open unchanged: version 1 wrote
// its snapshots as put records, which replay still reads; versions 1 and 2 record no log limit
// (their superblocks hold 0 there), so opening them searches the rest of the half (see
// KeyValueStore's invariant 9). Little-endian throughout; S = 512 bytes.
//
//   [0, S)        superblock slot 0 ┐ the slot of generation g is g % 2: a new generation never
//   [S, 2S)       superblock slot 1 ┘ overwrites the superblock that points at the live half
//   [2S, 2S+H)    half 0 ┐ each a log; the superblock with the highest valid generation names
//   [2S+H, 2S+2H) half 1 ┘ the active one (H = (capacity - 2S) / 2, rounded down to S)
//
// Superblock (one sector, written whole):
//   0 magic "SWKV"  4 version (3)  8 generation u64  16 active half u32
//   20 log limit u32: sectors of log the generation's commits may add after its checkpoint
//   24 capacity u64 (the layout was computed from it)  32 base sequence u64  ... 508 CRC-32C of [0, 508)
//
// Log: commit groups, each starting on a sector boundary and padded with zeros to the next:
//   record* commit, every record = 32-byte header, key, value:
//   0 CRC-32C of [4, end)  4 chain (CRC of the previous record in this half's log; the first
//   record's chain is the half's seed, derived from the generation)  8 generation (low 32 bits)
//   12 kind (1 put, 2 delete, 3 commit, 4 checkpoint)  13 reserved  14 key length u16
//   16 value length u32  20 reserved u32  24 sequence u64 (the commit the record belongs to)
//
// The first group of a half is the checkpoint compaction wrote (sequence = the superblock's
// base sequence): one checkpoint record (no key; its value, the whole live state sorted by
// key, is laid out in Checkpoint.swift) and a commit record. The superblock names the half, so
// it names the checkpoint: opening reads it with one request and one checksum, then replays
// only the groups after it. Every later group's sequence is one more than the one before.
// A checkpoint record anywhere but at the start of a half ends the log there. Nothing here
// does I/O: these are the format's checked parsers and encoders, fuzzed in StoreFormatTests and,
// through the whole open path on damaged real stores, in Tests/Fuzz/StoreFuzzer.swift.

public enum StoreFormat {
    public static let sector = 512
    public static let magic: UInt32 = 0x564B_5753   // "SWKV"
    public static let version: UInt32 = 3
    /// Versions this code opens (1 wrote its snapshots as put records, which replay still reads;
    /// 1 and 2 record no log limit). Version 2 code refuses version 3 disks, whose limit it
    /// would not keep to.
    public static let readableVersions: ClosedRange<UInt32> = 1...3
    public static let recordHeaderSize = 32
    public static let maximumKeyLength = 1024
    public static let superblockArea = UInt64(2 * sector)

    /// The chain value of a half's first record: ties the log to its generation, so records an
    /// older generation left in the same half never continue a newer log.
    public static func seed(generation: UInt64) -> UInt32 {
        withUnsafeBytes(of: (generation ^ 0x5357_4B56_5345_4544).littleEndian) { CRC32C.checksum($0) }
    }

    /// Sector-rounded `count`.
    @inline(__always) public static func padded(_ count: Int) -> Int { (count + sector - 1) / sector * sector }
}

/// Where the two halves lie on a disk of a given capacity.
public struct StoreLayout: Equatable, Sendable {
    public let capacity: UInt64
    public let halfSize: UInt64

    public init?(capacity: UInt64) {
        let usable = capacity >= StoreFormat.superblockArea ? capacity - StoreFormat.superblockArea : 0
        let half = usable / 2 / UInt64(StoreFormat.sector) * UInt64(StoreFormat.sector)
        guard half >= 8 * UInt64(StoreFormat.sector) else { return nil }
        self.capacity = capacity
        self.halfSize = half
    }

    public func start(ofHalf half: Int) -> UInt64 { StoreFormat.superblockArea + UInt64(half) * halfSize }
}

public struct Superblock: Equatable, Sendable {
    public var generation: UInt64
    public var activeHalf: Int
    public var capacity: UInt64
    public var baseSequence: UInt64
    /// Bytes of log (whole sectors) that commits may add after this generation's checkpoint;
    /// 0 on disks before version 3, which recorded none.
    public var logLimit: UInt64

    public init(generation: UInt64, activeHalf: Int, capacity: UInt64, baseSequence: UInt64, logLimit: UInt64 = 0) {
        self.generation = generation
        self.activeHalf = activeHalf
        self.capacity = capacity
        self.baseSequence = baseSequence
        self.logLimit = logLimit / UInt64(StoreFormat.sector) * UInt64(StoreFormat.sector)
    }

    /// The largest `logLimit` the superblock can record.
    public static let maximumLogLimit = UInt64(UInt32.max) * UInt64(StoreFormat.sector)

    public enum Decoded: Equatable {
        case valid(Superblock)
        /// Every byte zero: never written.
        case blank
        /// Written, but the magic, version, CRC or a field is wrong.
        case damaged(String)
    }

    public static func decode(_ sector: UnsafeRawBufferPointer) -> Decoded {
        guard sector.count >= StoreFormat.sector else { return .damaged("short superblock") }
        if sector.prefix(StoreFormat.sector).allSatisfy({ $0 == 0 }) { return .blank }
        guard le32(sector, 0) == StoreFormat.magic else { return .damaged("bad magic") }
        guard CRC32C.checksum(UnsafeRawBufferPointer(rebasing: sector[0..<508])) == le32(sector, 508) else {
            return .damaged("checksum mismatch")
        }
        guard StoreFormat.readableVersions.contains(le32(sector, 4)) else {
            return .damaged("format version \(le32(sector, 4)) is not one this code reads (\(StoreFormat.readableVersions))")
        }
        let half = le32(sector, 16)
        guard half <= 1 else { return .damaged("active half \(half)") }
        return .valid(Superblock(generation: le64(sector, 8), activeHalf: Int(half), capacity: le64(sector, 24), baseSequence: le64(sector, 32),
                                 logLimit: le32(sector, 4) >= 3 ? UInt64(le32(sector, 20)) * UInt64(StoreFormat.sector) : 0))
    }

    public func encode(into sector: UnsafeMutableRawBufferPointer) {
        for index in 0..<StoreFormat.sector { sector[index] = 0 }
        put32(StoreFormat.magic, sector, 0)
        put32(StoreFormat.version, sector, 4)
        put64(generation, sector, 8)
        put32(UInt32(activeHalf), sector, 16)
        put32(UInt32(min(logLimit, Superblock.maximumLogLimit) / UInt64(StoreFormat.sector)), sector, 20)
        put64(capacity, sector, 24)
        put64(baseSequence, sector, 32)
        put32(CRC32C.checksum(UnsafeRawBufferPointer(rebasing: sector[0..<508])), sector, 508)
    }
}

public struct RecordHeader: Equatable, Sendable {
    public enum Kind: UInt8, Sendable { case put = 1, delete = 2, commit = 3, checkpoint = 4 }

    public var checksum: UInt32
    public var chain: UInt32
    public var generation: UInt32
    public var kind: Kind
    public var keyLength: Int
    public var valueLength: Int
    public var sequence: UInt64

    /// Header plus key plus value.
    public var recordLength: Int { StoreFormat.recordHeaderSize + keyLength + valueLength }

    /// Parses a header; nil if the bytes cannot be one (kind, lengths beyond `maximumRecord`).
    /// Says nothing about the checksum: see `verify`.
    public static func decode(_ bytes: UnsafeRawBufferPointer, maximumRecord: Int) -> RecordHeader? {
        guard bytes.count >= StoreFormat.recordHeaderSize, let kind = Kind(rawValue: bytes[12]) else { return nil }
        let keyLength = Int(le16(bytes, 14))
        let valueLength = Int(le32(bytes, 16))
        guard keyLength <= StoreFormat.maximumKeyLength, valueLength <= maximumRecord,
              StoreFormat.recordHeaderSize + keyLength + valueLength <= maximumRecord else { return nil }
        if kind == .commit && (keyLength != 0 || valueLength != 0) { return nil }
        if kind == .delete && valueLength != 0 { return nil }
        if kind == .checkpoint && keyLength != 0 { return nil }
        return RecordHeader(checksum: le32(bytes, 0), chain: le32(bytes, 4), generation: le32(bytes, 8), kind: kind,
                            keyLength: keyLength, valueLength: valueLength, sequence: le64(bytes, 24))
    }

    /// Whether `record` (this header's whole record) carries the checksum it claims.
    public func verify(_ record: UnsafeRawBufferPointer) -> Bool {
        record.count == recordLength
            && CRC32C.checksum(UnsafeRawBufferPointer(rebasing: record[4...])) == checksum
    }

    /// Appends a record (header, key, value) to `log`, checksummed; returns its checksum.
    @discardableResult
    public static func append(kind: Kind, key: [UInt8], value: [UInt8], chain: UInt32, generation: UInt64,
                              sequence: UInt64, to log: inout [UInt8]) -> UInt32 {
        let start = log.count
        log.append(contentsOf: repeatElement(0, count: StoreFormat.recordHeaderSize))
        log.append(contentsOf: key)
        log.append(contentsOf: value)
        return log.withUnsafeMutableBytes { all in
            seal(UnsafeMutableRawBufferPointer(rebasing: all[start...]), kind: kind, keyLength: key.count,
                 chain: chain, generation: generation, sequence: sequence)
        }
    }

    /// Fills in the header of `record` (header, key of `keyLength` bytes, value: the rest), the
    /// checksum last; returns the checksum.
    @discardableResult
    public static func seal(_ record: UnsafeMutableRawBufferPointer, kind: Kind, keyLength: Int, chain: UInt32,
                            generation: UInt64, sequence: UInt64) -> UInt32 {
        put32(chain, record, 4)
        put32(UInt32(truncatingIfNeeded: generation), record, 8)
        record[12] = kind.rawValue
        put16(UInt16(keyLength), record, 14)
        put32(UInt32(record.count - StoreFormat.recordHeaderSize - keyLength), record, 16)
        put64(sequence, record, 24)
        let checksum = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: record[4...]))
        put32(checksum, record, 0)
        return checksum
    }
}

@inline(__always) func le16(_ b: UnsafeRawBufferPointer, _ at: Int) -> UInt16 { UInt16(b[at]) | UInt16(b[at + 1]) << 8 }
@inline(__always) func le32(_ b: UnsafeRawBufferPointer, _ at: Int) -> UInt32 {
    UInt32(b[at]) | UInt32(b[at + 1]) << 8 | UInt32(b[at + 2]) << 16 | UInt32(b[at + 3]) << 24
}
@inline(__always) func le64(_ b: UnsafeRawBufferPointer, _ at: Int) -> UInt64 { UInt64(le32(b, at)) | UInt64(le32(b, at + 4)) << 32 }
@inline(__always) func put16(_ v: UInt16, _ b: UnsafeMutableRawBufferPointer, _ at: Int) {
    b[at] = UInt8(truncatingIfNeeded: v); b[at + 1] = UInt8(truncatingIfNeeded: v >> 8)
}
@inline(__always) func put32(_ v: UInt32, _ b: UnsafeMutableRawBufferPointer, _ at: Int) {
    for i in 0..<4 { b[at + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(i))) }
}
@inline(__always) func put64(_ v: UInt64, _ b: UnsafeMutableRawBufferPointer, _ at: Int) {
    put32(UInt32(truncatingIfNeeded: v), b, at); put32(UInt32(truncatingIfNeeded: v >> 32), b, at + 4)
}
