// A libFuzzer harness over KeyValueStore's on-disk format (Sources/Guest/Storage): the
// superblock, record header and checkpoint parsers and the whole open/recovery path, on
// disks the real store wrote and the input then damages.
//
// At start-up the harness writes four real stores on 16 KiB in-memory disks (a checkpoint
// every 1.5 KiB of log, so they compact while written) and remembers every state each
// acknowledged: `fresh` (two commits), `busy` (40 commits over 12 keys, many compactions),
// `torn` (busy, then a commit cut off after two of its sectors, as a killed tender leaves it)
// and `v1` (a format-version-1 disk). An input is:
//   base:u8 (index mod 4), then operations until the input ends:
//   0 write    offset:u16le length:u8 bytes   (bytes written over the image at offset mod its size)
//   1 flip     offset:u16le bit:u8            (one bit)
//   2 reseal   offset:u16le                   (recompute the checksum of the record whose header is
//                                              there, or of the superblock in that sector: a forgery
//                                              that passes the CRC, so the parsers behind it are reached)
//   3 zero     sector:u8 count:u8             (sectors lost or never written)
// The operation is the low two bits of its byte.
//
// The damaged image is opened twice, without and with `repair`. Invariants (a violation traps):
// - opening never traps; a refusal is `.unreadable`, never for an undamaged image;
// - every returned key/value pair is one the workload wrote, or lies in a put record or a
//   checkpoint entry whose CRC-32C verifies in the image (data whose checksum failed is never
//   returned); scan, get and count agree, keys strictly ascending;
// - unless the input forged a checksum (a CRC-valid record or superblock the base did not have),
//   the state opened is exactly one some acknowledged commit produced (or the commit under way
//   in `torn`); with no problems reported it is the latest, or an older one only when every
//   commit after it lost sectors it wrote (indistinguishable from those commits being torn);
// - a disk whose log holds verified records of acknowledged commits is never formatted as new;
// - opening without repair writes nothing (unless it creates a store); when problems are
//   reported it refuses writes; with repair it accepts one, and that commit reopens clean with
//   the state kept; both opens find the same state.
//
// Run: FUZZER=store Tests/Fuzz/run.sh [seconds]; seeds: python3 Tests/Fuzz/make_store_corpus.py.
// STORE_FUZZER_TRACE=1 prints what each open found.
import Glibc

private typealias State = [[UInt8]: [UInt8]]

private struct Pair: Hashable {
    var key: [UInt8]
    var value: [UInt8]
}

private func fail(_ message: String) -> Never {
    fatalError("StoreFuzzer invariant: \(message)")
}

/// A RAM disk of 512-byte sectors. With `sectorBudget`, the write that would pass it stores
/// only the sectors left and fails, and everything after it fails: a tender killed mid-write.
private final class MemoryDisk: BlockStorage {
    let blockSize = 512
    var bytes: [UInt8]
    var capacity: UInt64 { UInt64(bytes.count) }
    var sectorBudget: Int?
    private(set) var sectorWrites = 0
    /// For each sector, the commit (numbered as the workload made them) that wrote it last.
    private(set) var sectorOwner: [Int]
    var currentCommit = 0

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
        sectorOwner = [Int](repeating: -1, count: bytes.count / 512)
    }

    func read(at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws(BlockError) {
        try check(offset, buffer.count)
        bytes.withUnsafeBytes { raw in buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[Int(offset)..<Int(offset) + buffer.count])) }
    }

    func write(at offset: UInt64, from buffer: UnsafeRawBufferPointer) throws(BlockError) {
        try check(offset, buffer.count)
        for sector in 0..<buffer.count / blockSize {
            if let sectorBudget, sectorWrites >= sectorBudget { throw .deviceFailed }
            let at = Int(offset) + sector * blockSize
            bytes.replaceSubrange(at..<at + blockSize, with: buffer[sector * blockSize..<(sector + 1) * blockSize])
            sectorWrites += 1
            sectorOwner[at / blockSize] = currentCommit
        }
    }

    func flush() throws(BlockError) {
        if let sectorBudget, sectorWrites >= sectorBudget { throw .deviceFailed }
    }

    private func check(_ offset: UInt64, _ count: Int) throws(BlockError) {
        guard offset % 512 == 0, count % 512 == 0, offset + UInt64(count) <= capacity else { throw .refused }
    }
}

extension SplitMix64 {
    mutating func next(below bound: Int) -> Int { Int(next() % UInt64(bound)) }
}

/// A store the real code wrote, and what its workload acknowledged.
private struct Base {
    var image: [UInt8]
    /// Every acknowledged state, oldest (empty) first.
    var committed: [State] = [[:]]
    /// The state of the commit cut off mid-write, if one was.
    var inFlight: State?
    /// For each sector, the commit that wrote it last (committed[n] is the state after commit n):
    /// a commit whose sectors are damaged may look torn, or never written.
    var sectorOwner: [Int] = []
    var written: Set<Pair> = []
    /// Every CRC-valid structure in the image: what an input must not add unless it forges one.
    var structures: Set<Structure> = []

    static let capacity = 16 << 10
    static let checkpointInterval = 1536

    /// `commits` transactions over 12 keys (values up to 700 bytes); with `tearLastAfter`, one
    /// more commit of a 1500-byte value that the disk cuts off after that many sectors.
    static func written(commits: Int, seed: UInt64, tearLastAfter: Int? = nil) -> Base {
        let disk = MemoryDisk([UInt8](repeating: 0, count: capacity))
        guard let store = try? KeyValueStore(device: disk, checkpointInterval: checkpointInterval) else { fail("cannot create a store") }
        var base = Base(image: [])
        var random = SplitMix64(seed: seed)
        var model = State()
        func put(_ key: [UInt8], _ value: [UInt8]) {
            guard (try? store.put(key, value)) != nil else { fail("workload put refused") }
            model[key] = value
            base.written.insert(Pair(key: key, value: value))
        }
        for number in 0..<commits {
            for _ in 0..<(1 + random.next(below: 3)) {
                let key = Array("key\(random.next(below: 12))".utf8)
                if random.next(below: 5) == 0 {
                    guard (try? store.delete(key)) != nil else { fail("workload delete refused") }
                    model[key] = nil
                } else {
                    put(key, (0..<random.next(below: 700)).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ number) })
                }
            }
            disk.currentCommit = number + 1
            guard (try? store.commit()) != nil else { fail("workload commit failed") }
            base.committed.append(model)
        }
        if let tearLastAfter {
            disk.currentCommit = commits + 1
            disk.sectorBudget = disk.sectorWrites + tearLastAfter
            put(Array("key-torn".utf8), [UInt8](repeating: 0x5A, count: 1500))
            guard (try? store.commit()) == nil else { fail("the torn commit was acknowledged") }
            base.inFlight = model
        }
        base.image = disk.bytes
        base.sectorOwner = disk.sectorOwner
        base.structures = crcValidStructures(base.image)
        return base
    }

    /// A format-version-1 disk (snapshots as put records) with two commits, as that code wrote it.
    static func versionOne() -> Base {
        var image = [UInt8](repeating: 0, count: capacity)
        image.withUnsafeMutableBytes { raw in
            let sector = UnsafeMutableRawBufferPointer(rebasing: raw[512..<1024])
            Superblock(generation: 1, activeHalf: 0, capacity: UInt64(capacity), baseSequence: 1).encode(into: sector)
            put32(1, sector, 4)
            put32(CRC32C.checksum(UnsafeRawBufferPointer(rebasing: sector[0..<508])), sector, 508)
        }
        var log: [UInt8] = []
        var chain = StoreFormat.seed(generation: 1)
        let (a, b) = (Pair(key: Array("a".utf8), value: Array("one".utf8)), Pair(key: Array("b".utf8), value: Array("two".utf8)))
        chain = RecordHeader.append(kind: .put, key: a.key, value: a.value, chain: chain, generation: 1, sequence: 1, to: &log)
        chain = RecordHeader.append(kind: .put, key: b.key, value: b.value, chain: chain, generation: 1, sequence: 1, to: &log)
        chain = RecordHeader.append(kind: .commit, key: [], value: [], chain: chain, generation: 1, sequence: 1, to: &log)
        log += repeatElement(0, count: StoreFormat.padded(log.count) - log.count)
        let second = log.count
        chain = RecordHeader.append(kind: .delete, key: a.key, value: [], chain: chain, generation: 1, sequence: 2, to: &log)
        chain = RecordHeader.append(kind: .commit, key: [], value: [], chain: chain, generation: 1, sequence: 2, to: &log)
        image.replaceSubrange(1024..<1024 + log.count, with: log)
        var base = Base(image: image)
        base.committed = [[:], [a.key: a.value, b.key: b.value], [b.key: b.value]]
        base.sectorOwner = (0..<capacity / 512).map { $0 == 1 || $0 == 2 ? 1 : $0 == 2 + second / 512 ? 2 : -1 }
        base.written = [a, b]
        base.structures = crcValidStructures(image)
        return base
    }
}

// MARK: the independent checksum oracle

/// A CRC-valid superblock or record: where it lies and the checksum it carries.
private struct Structure: Hashable {
    var offset: Int
    var checksum: UInt32
    var length: Int
}

/// Every valid superblock and every record (at any byte offset) whose header is plausible and
/// whose CRC-32C verifies. Slow (a scan of the image); run for each base once, and for an
/// input only when a check fails, to tell a store bug from a checksum the input forged.
private func crcValidStructures(_ image: [UInt8]) -> Set<Structure> {
    image.withUnsafeBytes { raw in
        var found: Set<Structure> = []
        for slot in 0..<2 {
            let sector = UnsafeRawBufferPointer(rebasing: raw[slot * 512..<(slot + 1) * 512])
            if case .valid = Superblock.decode(sector) { found.insert(Structure(offset: slot * 512, checksum: le32(sector, 508), length: 512)) }
        }
        for offset in 0..<max(0, raw.count - StoreFormat.recordHeaderSize) {
            if let record = verifiedRecord(raw, at: offset) { found.insert(Structure(offset: offset, checksum: le32(raw, offset), length: record.recordLength)) }
        }
        return found
    }
}

/// The record whose header starts at `offset`, if its kind is one and its CRC verifies.
private func verifiedRecord(_ raw: UnsafeRawBufferPointer, at offset: Int) -> RecordHeader? {
    guard (1...4).contains(raw[offset + 12]) else { return nil }
    let keyLength = Int(le16(raw, offset + 14)), valueLength = Int(le32(raw, offset + 16))
    guard keyLength <= raw.count, valueLength <= raw.count, offset + 32 + keyLength + valueLength <= raw.count else { return nil }
    let end = offset + 32 + keyLength + valueLength
    guard CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[offset + 4..<end])) == le32(raw, offset),
          let header = RecordHeader.decode(UnsafeRawBufferPointer(rebasing: raw[offset..<offset + 32]), maximumRecord: raw.count)
    else { return nil }
    return header
}

/// Whether `pair` lies in the image as a put record or as an entry of a checkpoint record,
/// either with a CRC-32C that verifies.
private func liesInVerifiedRecord(_ pair: Pair, _ image: [UInt8]) -> Bool {
    let needle = pair.key + pair.value
    return image.withUnsafeBytes { raw in
        guard needle.count <= raw.count else { return false }
        for at in 0...(raw.count - needle.count) where raw[at..<at + needle.count].elementsEqual(needle) {
            if at >= 32, let header = verifiedRecord(raw, at: at - 32), header.kind == .put,
               header.keyLength == pair.key.count, header.valueLength == pair.value.count { return true }
            guard at >= 6, Int(le16(raw, at - 6)) == pair.key.count, Int(le32(raw, at - 4)) == pair.value.count else { continue }
            var start = (at - 6) / 512 * 512
            while start >= 0 {
                if let header = verifiedRecord(raw, at: start), header.kind == .checkpoint, start + header.recordLength >= at + needle.count {
                    return true
                }
                start -= 512
            }
        }
        return false
    }
}

// MARK: the input

private let bases = [Base.written(commits: 2, seed: 1), Base.written(commits: 40, seed: 2),
                     Base.written(commits: 30, seed: 3, tearLastAfter: 2), Base.versionOne()]
private let trace = getenv("STORE_FUZZER_TRACE") != nil

private func damage(_ image: inout [UInt8], with input: ArraySlice<UInt8>) {
    var at = input.startIndex
    func byte() -> Int? {
        guard at < input.endIndex else { return nil }
        defer { at += 1 }
        return Int(input[at])
    }
    func offset() -> Int? {
        guard let low = byte(), let high = byte() else { return nil }
        return (low | high << 8) % image.count
    }
    while let operation = byte() {
        switch operation & 3 {
        case 0:
            guard let start = offset(), let length = byte() else { return }
            for index in 0..<length {
                guard let value = byte() else { return }
                image[(start + index) % image.count] = UInt8(value)
            }
        case 1:
            guard let position = offset(), let bit = byte() else { return }
            image[position] ^= 1 << UInt8(bit & 7)
        case 2:
            guard let position = offset() else { return }
            reseal(&image, at: position)
        default:
            guard let sector = byte(), let count = byte() else { return }
            let sectors = image.count / 512
            for index in 0..<count % 8 { let s = (sector + index) % sectors; image.replaceSubrange(s * 512..<(s + 1) * 512, with: repeatElement(0, count: 512)) }
        }
    }
}

/// Recomputes a checksum so that damage passes it: the superblock's when `position` is in the
/// first two sectors, else that of the record whose header starts at `position`.
private func reseal(_ image: inout [UInt8], at position: Int) {
    image.withUnsafeMutableBytes { raw in
        if position < 1024 {
            let sector = UnsafeMutableRawBufferPointer(rebasing: raw[position / 512 * 512..<(position / 512 + 1) * 512])
            put32(CRC32C.checksum(UnsafeRawBufferPointer(rebasing: sector[0..<508])), sector, 508)
            return
        }
        guard position + 32 <= raw.count,
              let header = RecordHeader.decode(UnsafeRawBufferPointer(rebasing: raw[position..<position + 32]), maximumRecord: raw.count),
              position + header.recordLength <= raw.count else { return }
        let record = UnsafeMutableRawBufferPointer(rebasing: raw[position..<position + header.recordLength])
        put32(CRC32C.checksum(UnsafeRawBufferPointer(rebasing: record[4...])), record, 0)
    }
}

// MARK: the checks

private func contents(_ store: KeyValueStore) -> (state: State, entries: [StoreEntry]) {
    let entries = store.scan()
    var state = State()
    for (index, entry) in entries.enumerated() {
        if index > 0 {
            let ordered = entries[index - 1].key.withUnsafeBytes { a in entry.key.withUnsafeBytes { b in compareBytes(a, b) < 0 } }
            if !ordered { fail("scan is not in strictly ascending key order") }
        }
        if store.get(entry.key) != entry.value { fail("get disagrees with scan") }
        state[entry.key] = entry.value
    }
    if store.count != entries.count { fail("count \(store.count) but scan found \(entries.count)") }
    return (state, entries)
}

/// Whether the image holds a CRC-valid structure its base did not: the input forged a checksum,
/// and the store rightly trusts what it says.
private func forged(_ image: [UInt8], _ base: Base) -> Bool {
    !crcValidStructures(image).isSubset(of: base.structures)
}

/// Verified records of commits a new store would not have written: a generation-1 empty
/// checkpoint and its commit are all that creating a store leaves before its superblock lands.
private func holdsAcknowledgedData(_ image: [UInt8]) -> Bool {
    image.withUnsafeBytes { raw in
        crcValidStructures(image).contains { structure in
            guard structure.offset >= 1024, let header = verifiedRecord(raw, at: structure.offset) else { return structure.offset < 1024 }
            return header.sequence > 1 || header.kind == .put || header.kind == .delete
                || (header.kind == .checkpoint && header.valueLength > 4)
        }
    }
}

private func check(_ image: [UInt8], _ base: Base, repair: Bool) -> State? {
    let disk = MemoryDisk(image)
    let store: KeyValueStore
    do {
        store = try KeyValueStore(device: disk, repair: repair, checkpointInterval: Base.checkpointInterval)
    } catch {
        if trace { fputs("repair=\(repair): refused: \(error)\n", stderr) }
        guard case .unreadable = error else { fail("opening failed with \(error), not as unreadable") }
        if image == base.image { fail("an undamaged store was refused: \(error)") }
        return nil
    }
    let recovery = store.recovery
    if trace { fputs("repair=\(repair): created=\(recovery.created) problems=\(recovery.problems) count=\(store.count)\n", stderr) }
    let (state, entries) = contents(store)
    for entry in entries where !base.written.contains(Pair(key: entry.key, value: entry.value)) {
        if !liesInVerifiedRecord(Pair(key: entry.key, value: entry.value), image) {
            fail("returned a value for key \(entry.key) that no CRC-verified record holds")
        }
    }
    if recovery.created {
        if !state.isEmpty { fail("a new store is not empty") }
        if holdsAcknowledgedData(image) { fail("formatted a disk whose log holds verified records of acknowledged commits") }
    } else if !base.committed.contains(state) && state != base.inFlight {
        if !forged(image, base) { fail("opened a state no commit made (no checksum was forged)") }
        return state
    } else if recovery.problems.isEmpty {
        // Silently older is allowed only when every commit after that state lost a sector.
        var damaged = Set<Int>()
        for sector in 0..<image.count / 512 where image[sector * 512..<(sector + 1) * 512] != base.image[sector * 512..<(sector + 1) * 512] {
            damaged.insert(base.sectorOwner[sector])
        }
        let newest = base.committed.lastIndex(of: state) ?? base.committed.count - 1
        if state != base.inFlight && !(newest + 1..<base.committed.count).allSatisfy(damaged.contains) && !forged(image, base) {
            fail("lost acknowledged commits without reporting a problem (opened the state of commit \(newest) of \(base.committed.count - 1))")
        }
    }
    if image == base.image && (!recovery.problems.isEmpty || recovery.created) {
        fail("an undamaged store reported \(recovery.problems)")
    }
    if !repair && !recovery.created && disk.sectorWrites != 0 { fail("opening without repair wrote to the disk") }
    guard !recovery.problems.isEmpty || repair else { return state }
    if !repair {
        do throws(StoreError) {
            try store.put("fuzz", "x")
            fail("a store that reported problems accepted a write without repair")
        } catch {
            guard case .readOnly = error else { fail("a damaged store refused a write with \(error), not as read-only") }
        }
        return state
    }
    if !recovery.problems.isEmpty && !recovery.repaired { fail("repair reported problems but did not repair") }
    do throws(StoreError) {
        try store.put("fuzz", "after")
        try store.commit()
    } catch {
        if error == .full { return state }
        fail("the store opened with repair refused a write: \(error)")
    }
    guard let again = try? KeyValueStore(device: MemoryDisk(disk.bytes), checkpointInterval: Base.checkpointInterval) else {
        fail("a repaired store did not reopen")
    }
    var expected = state
    expected[Array("fuzz".utf8)] = Array("after".utf8)
    if (!again.recovery.problems.isEmpty || contents(again).state != expected) && !forged(image, base) {
        fail("after repair and a commit the store did not reopen clean with its state: \(again.recovery.problems)")
    }
    return state
}

@_cdecl("__asan_default_options")
public func asanDefaultOptions() -> UnsafePointer<CChar> {
    UnsafeRawPointer(("detect_leaks=0" as StaticString).utf8Start).assumingMemoryBound(to: CChar.self)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size >= 1 else { return 0 }
    let input = UnsafeBufferPointer(start: data, count: size)
    let base = bases[Int(input[0]) % bases.count]
    var image = base.image
    damage(&image, with: Array(input[1...])[...])
    if trace {
        for slot in 0..<2 { image.withUnsafeBytes { fputs("slot \(slot): \(Superblock.decode(UnsafeRawBufferPointer(rebasing: $0[slot * 512..<slot * 512 + 512])))\n", stderr) } }
    }
    let plain = check(image, base, repair: false)
    let repaired = check(image, base, repair: true)
    if let plain, let repaired, plain != repaired { fail("opening with repair found another state than opening without") }
    return 0
}
