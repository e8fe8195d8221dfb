// KeyValueStore: a small crash-safe key-value store on a block device. Log-structured, with
// two halves and two superblocks; each half starts with a checkpoint of the whole state
// (format in StoreFormat.swift and Checkpoint.swift).
//
// Invariants (each is what a test in Tests/GuestTests/Storage checks):
// 1. `commit()` returns only after its group and a flush: an acknowledged commit is durable.
// 2. No sector holding an acknowledged record is ever written again within its generation:
//    every group starts on a fresh sector after the last committed one, and a checkpoint
//    writes only the inactive half. So a torn or lost write can only hurt the group being
//    written, which was not acknowledged.
// 3. A group counts only if every record in it carries its CRC, the chain of the record
//    before it (so nothing is missing or stale in between), the half's generation, the
//    expected sequence, and it ends in a commit record. Anything else ends the log: a group
//    is applied whole or not at all.
// 4. A superblock is written only after the half it names is complete and flushed, into the
//    slot the current superblock is not in; the highest valid generation wins on open.
// 5. Group n+1 is written only after group n was flushed. So a readable record of a sequence
//    beyond the first unreadable group proves that group had been acknowledged: that is
//    corruption (reported; the store opens read-only, or `repair` keeps what is readable in a
//    new generation and says what was lost), not a torn tail (silently discarded).
// 6. Data is returned only from records whose checksums verified (values live in RAM after
//    open, copied from verified records, or kept as the verified checkpoint record itself).
// 7. A checkpoint is a whole state some commit produced: it is written only as the first group
//    of a fresh half (so invariants 2 and 4 cover a crash while it is written: until its
//    superblock lands, the previous half is the store), and it is used only if its CRC holds
//    and it parses (counted entries, lengths inside the record, keys strictly ascending).
// 8. When the newest half's checkpoint is unreadable, the store opens the previous
//    generation's half instead, which a checkpoint never overwrites while it is the fallback
//    (the next checkpoint goes into the damaged half): that is an older acknowledged state,
//    and the loss is reported (read-only, or `repair`), never silent.
// 9. A generation's superblock records its log limit (the `checkpointInterval` of the store
//    that wrote its checkpoint), and no commit of that generation ends further than the limit
//    past the checkpoint, whatever interval a later opener asked for: a commit that would
//    pass it writes a new checkpoint instead. So the search for a record beyond a break (invariant 5)
//    stops at the limit instead of reading the rest of the half. Disks from before version 3
//    record no limit, and that search reads to the half's end for them.
// 10. A disk is formatted only if it is blank past its superblocks (or holds just the sector a
//     cut-off creation wrote): blank superblocks over data are damage or a foreign format, and
//     are refused. Beside a generation above 1, a blank slot is a lost sector and is reported.
//     So is a lost newer superblock whose half shows commits after its checkpoint. When a slot
//     is lost or damaged, the next generation skips the number the lost one may have had (its
//     records may still lie in the half written next) and lands in that slot.
//
// 11. Group commit (`commit() async`) changes who writes a group, not what a group is: the
//     callers that joined a group return only after the one write and flush that carried it
//     (invariant 1 holds for each of them), and their changes are applied together or not at
//     all (invariant 3). A caller's changes are in `pending` when it joins, and `pending` is
//     only ever drained by a group that is written and flushed before any task runs again.
//
// Recovery reads the checkpoint with one request and one checksum and replays only the log
// after it; a commit that would make that log longer than the limit (or not fit in the half)
// writes a new checkpoint into the other half instead, so recovery reads the live data plus
// at most the limit of log, whatever the disk's size, and compaction happens while in use.
// Memory: every live key and value is held in RAM (reads never touch the disk): the last
// checkpoint as read (entries plus 4 bytes each for the index), plus the keys changed since it
// in a dictionary (about 100 bytes per key besides its bytes). Writing a checkpoint builds the
// new one beside the old, so the peak is about twice the live data. The live data may not
// exceed one half of the disk (about capacity / 2); a put beyond that is refused with
// `.full`, so RAM use is bounded by the disk size chosen.

public enum StoreError: Error, Equatable, CustomStringConvertible {
    /// The store opened read-only after finding damage (the reason), or was opened read-only.
    case readOnly(String)
    /// The live data would not fit in half the disk.
    case full
    case keyTooLong
    /// The disk failed; the store refuses further changes (reopen it).
    case device(BlockError)
    /// The disk holds no store this code can read (reason).
    case unreadable(String)

    public var description: String {
        switch self {
        case .readOnly(let why): "the store is read-only: \(why)"
        case .full: "the store is full (live data may fill half the disk)"
        case .keyTooLong: "key longer than \(StoreFormat.maximumKeyLength) bytes"
        case .device(let error): "disk error: \(error.description)"
        case .unreadable(let why): "no readable store on the disk: \(why)"
        }
    }
}

public struct StoreEntry: Equatable {
    public var key: [UInt8]
    public var value: [UInt8]
}

public final class KeyValueStore {
    /// What opening found, for the application to log.
    public struct Recovery: Equatable {
        /// The disk was blank and a new store was written.
        public var created = false
        /// Problems found (damaged superblock, unreadable records); empty when all was well.
        public var problems: [String] = []
        /// An unacknowledged commit was found torn or incomplete and dropped (not damage).
        public var discardedIncompleteCommit = false
        /// `repair` rewrote what was readable into a new generation.
        public var repaired = false
        /// Sequence number of the last commit on disk.
        public var lastCommit: UInt64 = 0
        /// Bytes of log read: the checkpoint and the groups after it.
        public var replayedBytes: UInt64 = 0
        /// Of those, the groups after the checkpoint (what was replayed record by record).
        public var tailBytes: UInt64 = 0
        /// Entries loaded from the checkpoint.
        public var checkpointEntries = 0
    }

    public let device: any BlockStorage
    public let layout: StoreLayout
    public private(set) var recovery = Recovery()
    /// Why the store refuses changes, if it does.
    public private(set) var readOnlyReason: String?

    /// A change since the checkpoint: a new value, or the checkpoint's entry deleted.
    private enum Change { case put([UInt8]), deleted }

    /// The live state as of the checkpoint at the start of the active half.
    private var checkpoint = Checkpoint.empty
    /// Everything changed since, committed or pending.
    private var changes: [[UInt8]: Change] = [:]
    private var sortedChangedKeys: [[UInt8]]? = nil
    private var pending: [(kind: RecordHeader.Kind, key: [UInt8], value: [UInt8])] = []
    /// Σ (header + key + value) over live entries: the size of a snapshot of them.
    public private(set) var liveBytes = 0
    private var superblock: Superblock
    private var head: UInt64 = 0          // where the next group goes
    private var chainTip: UInt32 = 0      // checksum of the last committed record
    private var committed: UInt64 = 0     // sequence of the last committed group
    private var checkpointEnd: UInt64 = 0 // where the log after the checkpoint starts
    /// Generations at or below this were seen on the disk: a new one must be above it.
    private var generationFloor: UInt64 = 0
    /// Group commit: whether a task's `commit() async` is letting others join its group, and
    /// the callers that joined (resumed with the group's outcome once it is flushed).
    private var gatheringGroup = false
    #if !SWIFTLET_GUEST || SWIFTLET_CONCURRENCY
    private var groupWaiters: [UnsafeContinuation<StoreError?, Never>] = []
    #endif
    /// Commit groups written (each one flush), and the `commit() async` calls that returned
    /// with another caller's group instead of writing their own.
    public private(set) var commitGroups = 0
    public private(set) var joinedCommits = 0
    /// Checkpoints written by this instance (compactions: the half filled, or the log since the
    /// last checkpoint reached `checkpointInterval`, or `compact()`).
    public private(set) var compactions = 0
    /// Bytes of log after a checkpoint that make the next commit write a new one instead
    /// (whole sectors), recorded as the log limit of every checkpoint this store writes.
    public let checkpointInterval: UInt64
    public static let defaultCheckpointInterval = 2 << 20

    /// Live keys.
    public private(set) var count = 0
    /// Where the next commit group will be written, and the half it is in (for tests and tools).
    public var logEnd: UInt64 { head }
    public var activeHalf: Int { superblock.activeHalf }
    public var generation: UInt64 { superblock.generation }

    /// Opens the store on `device`, writing a new one if the disk is blank (all zeros, or a
    /// creation cut off before its superblock; blank superblocks over data are refused). With `repair`,
    /// damage found on open is cut away (what was readable is kept, the rest reported in
    /// `recovery.problems`) instead of opening read-only. `checkpointInterval` bounds the log
    /// replayed on the next open (bytes, rounded up to whole sectors). Until this store writes
    /// its first checkpoint, its commits keep to the limit the disk's checkpoint recorded.
    public init(device: any BlockStorage, repair: Bool = false,
                checkpointInterval: Int = KeyValueStore.defaultCheckpointInterval) throws(StoreError) {
        self.device = device
        self.checkpointInterval = UInt64(StoreFormat.padded(max(1, min(checkpointInterval, Int(Superblock.maximumLogLimit)))))
        guard device.blockSize > 0, StoreFormat.sector % device.blockSize == 0 else {
            throw .unreadable("block size \(device.blockSize) does not divide \(StoreFormat.sector)")
        }
        var sectors = [UInt8](repeating: 0, count: 2 * StoreFormat.sector)
        do { try device.read(&sectors, at: 0) } catch { throw .device(error) }
        let slots = sectors.withUnsafeBytes { raw in
            [Superblock.decode(UnsafeRawBufferPointer(rebasing: raw[0..<512])),
             Superblock.decode(UnsafeRawBufferPointer(rebasing: raw[512..<1024]))]
        }
        var valid: [Superblock] = []
        var problems: [String] = []
        for (slot, decoded) in slots.enumerated() {
            switch decoded {
            case .valid(let block) where block.generation % 2 != UInt64(slot):
                problems.append("superblock slot \(slot) is damaged (it holds generation \(block.generation), which belongs in the other)")
            case .valid(let block): valid.append(block)
            case .damaged(let why): problems.append("superblock slot \(slot) is damaged (\(why))")
            case .blank: break
            }
        }
        valid.sort { $0.generation > $1.generation }
        let best = valid.first
        // Generation g lies in slot g % 2, and g - 1 was written into the other slot before it:
        // beside a generation above 1, a blank slot is a lost sector, and it may have held the newest.
        if let best, best.generation > 1, let blank = slots.firstIndex(of: .blank) {
            problems.append("superblock slot \(blank) is blank, but generation \(best.generation) means it was written")
        }
        if best == nil && problems.isEmpty {
            guard let layout = StoreLayout(capacity: device.capacity) else {
                throw .unreadable("the disk (\(device.capacity) bytes) is too small for a store")
            }
            // Blank superblocks over a written log are damage (or another format: ext4 leaves
            // its first KiB zero), never a blank disk: formatting would destroy what is there.
            if let offset = try Self.firstWrittenByte(device) {
                throw .unreadable("both superblocks are blank, but the disk holds data (at byte \(offset)); not formatting over it")
            }
            self.layout = layout
            superblock = Superblock(generation: 0, activeHalf: 1, capacity: layout.capacity, baseSequence: 0)
            try writeSnapshot()   // generation 1 in half 0: an empty snapshot
            recovery.created = true
            return
        }
        guard let chosen = best else { throw .unreadable(problems.joined(separator: "; ")) }
        guard chosen.capacity <= device.capacity, let layout = StoreLayout(capacity: chosen.capacity) else {
            throw .unreadable("the superblock describes a \(chosen.capacity)-byte disk; this one has \(device.capacity)")
        }
        self.layout = layout
        superblock = chosen
        generationFloor = chosen.generation
        if !problems.isEmpty {
            problems.append("using generation \(chosen.generation), the newest readable; a newer one may have been lost")
            // The lost slot may have held generation + 1, whose records still fill the other
            // half: the next generation written there (on repair) must not share its number.
            // Skipping to + 3 also puts its superblock into the lost slot, rewriting it.
            generationFloor = chosen.generation + 2
        }
        let replayed = try replay(problems: &problems)
        // Only a slot that is not valid can have lost generation + 1 (which overwrites the one before).
        if replayed, valid.count < 2, try newerGenerationWasLost() {
            problems.append("generation \(chosen.generation + 1)'s superblock is lost (its half holds commits made after it was written): commits after \(committed) are lost")
            generationFloor = chosen.generation + 2
        }
        if !replayed, valid.count == 2, valid[1].capacity == chosen.capacity,
           valid[1].activeHalf != chosen.activeHalf {
            superblock = valid[1]
            reset()
            var older: [String] = []
            _ = try replay(problems: &older)
            problems.append("opened generation \(valid[1].generation), the one before, instead: commits after \(committed) are lost")
            problems += older
        }
        recovery.problems = problems
        recovery.lastCommit = committed
        if !problems.isEmpty {
            if repair {
                try writeSnapshot()
                recovery.repaired = true
            } else {
                readOnlyReason = "damage found on open (\(problems.joined(separator: "; "))); reopen with repair to keep what is readable"
            }
        }
    }

    // MARK: reading

    public func get(_ key: [UInt8]) -> [UInt8]? {
        if !changes.isEmpty, let change = changes[key] {
            if case .put(let value) = change { return value }
            return nil
        }
        return checkpoint.value(for: key)
    }

    /// Entries whose key starts with `prefix`, in ascending byte order of key.
    public func scan(prefix: [UInt8] = [], limit: Int = Int.max) -> [StoreEntry] {
        var result: [StoreEntry] = []
        forEachLiveEntry(prefix: prefix) { entry in
            switch entry {
            case .checkpoint(let index):
                result.append(StoreEntry(key: checkpoint.key(at: index), value: checkpoint.value(at: index)))
            case .changed(let key, let value):
                result.append(StoreEntry(key: key, value: value))
            }
            return result.count < limit
        }
        return result
    }

    // MARK: changing (visible at once to reads; durable at `commit()`)

    public func put(_ key: [UInt8], _ value: [UInt8]) throws(StoreError) {
        try checkWritable()
        guard key.count <= StoreFormat.maximumKeyLength else { throw .keyTooLong }
        let oldLength = valueLength(of: key)
        let old = oldLength.map { StoreFormat.recordHeaderSize + key.count + $0 } ?? 0
        let new = StoreFormat.recordHeaderSize + key.count + value.count
        // A checkpoint of the live data must fit in a half, and in a record (u32 length).
        let limit = Int(min(layout.halfSize, UInt64(UInt32.max)))
        guard liveBytes - old + new + StoreFormat.recordHeaderSize + StoreFormat.sector <= limit else { throw .full }
        record(.put(value), for: key)
        if oldLength == nil { count += 1 }
        liveBytes += new - old
        pending.append((.put, key, value))
    }

    public func delete(_ key: [UInt8]) throws(StoreError) {
        try checkWritable()
        guard let old = valueLength(of: key) else { return }
        record(.deleted, for: key)
        count -= 1
        liveBytes -= StoreFormat.recordHeaderSize + key.count + old
        pending.append((.delete, key, []))
    }

    /// Makes every change since the last commit durable, as one atomic group; returns once it
    /// is on stable storage. (Tasks: `commit() async` lets concurrent callers share the group.)
    public func commit() throws(StoreError) {
        try commitPending()
    }

    /// Writes `pending` as one group and flushes (or a checkpoint holding it).
    private func commitPending() throws(StoreError) {
        try checkWritable()
        guard !pending.isEmpty else { return }
        var group: [UInt8] = []
        var chain = chainTip
        let sequence = committed + 1
        for change in pending {
            chain = RecordHeader.append(kind: change.kind, key: change.key, value: change.value, chain: chain,
                                        generation: superblock.generation, sequence: sequence, to: &group)
        }
        chain = RecordHeader.append(kind: .commit, key: [], value: [], chain: chain,
                                    generation: superblock.generation, sequence: sequence, to: &group)
        group.append(contentsOf: repeatElement(0, count: StoreFormat.padded(group.count) - group.count))
        if head + UInt64(group.count) > layout.start(ofHalf: superblock.activeHalf) + layout.halfSize
            || head + UInt64(group.count) - checkpointEnd > logLimit {
            try writeSnapshot()   // the checkpoint holds the pending changes too
            commitGroups += 1
            return
        }
        try guarded { () throws(BlockError) in
            try device.writeDurably(group, at: head)
        }
        commitGroups += 1
        head += UInt64(group.count)
        chainTip = chain
        committed = sequence
        pending.removeAll(keepingCapacity: true)
    }

    #if !SWIFTLET_GUEST || SWIFTLET_CONCURRENCY
    // MARK: group commit

    /// `commit()` for concurrent tasks (group commit): the first caller with changes lets every
    /// other ready task run before it writes; those that call commit() meanwhile join its group
    /// instead of writing their own. The group (their changes and everything else pending) is
    /// written and flushed once, as one atomic group, and each caller returns only after that
    /// flush, with its outcome. So N clients committing at once cost one flush, not N.
    public func commit() async throws(StoreError) {
        try checkWritable()
        if gatheringGroup {
            let failure = await withUnsafeContinuation { (continuation: UnsafeContinuation<StoreError?, Never>) in
                groupWaiters.append(continuation)
            }
            if let failure { throw failure }
            return
        }
        // Nothing pending: every change made so far is in a group that was flushed already.
        guard !pending.isEmpty else { return }
        gatheringGroup = true
        await Self.letOtherTasksRun()
        gatheringGroup = false
        let joined = groupWaiters
        groupWaiters.removeAll()
        var failure: StoreError?
        do throws(StoreError) { try commitPending() } catch { failure = error }
        if failure == nil { joinedCommits += joined.count }
        for waiter in joined { waiter.resume(returning: failure) }
        if let failure { throw failure }
    }

    private static func letOtherTasksRun() async {
        #if SWIFTLET_GUEST
        await EventLoop.yield()
        #else
        await Task.yield()
        #endif
    }
    #endif

    /// Rewrites the live data into the other half (committing pending changes with it).
    public func compact() throws(StoreError) {
        try checkWritable()
        try writeSnapshot()
    }

    // MARK: strings

    public func get(_ key: String) -> [UInt8]? { get(Array(key.utf8)) }
    public func put(_ key: String, _ value: [UInt8]) throws(StoreError) { try put(Array(key.utf8), value) }
    public func put(_ key: String, _ value: String) throws(StoreError) { try put(Array(key.utf8), Array(value.utf8)) }
    public func delete(_ key: String) throws(StoreError) { try delete(Array(key.utf8)) }
    public func scan(prefix: String, limit: Int = Int.max) -> [StoreEntry] { scan(prefix: Array(prefix.utf8), limit: limit) }

    // MARK: internals

    private func checkWritable() throws(StoreError) {
        if let readOnlyReason { throw .readOnly(readOnlyReason) }
    }

    /// Runs disk I/O for a change; a failure leaves memory ahead of the disk, so the store
    /// refuses everything after it.
    private func guarded(_ body: () throws(BlockError) -> Void) throws(StoreError) {
        do { try body() } catch {
            readOnlyReason = "the disk failed (\(error.description)); reopen the store"
            throw .device(error)
        }
    }

    /// The length of the live value of `key`, if it has one.
    private func valueLength(of key: [UInt8]) -> Int? {
        if !changes.isEmpty, let change = changes[key] {
            if case .put(let value) = change { return value.count }
            return nil
        }
        let (index, found) = checkpoint.search(key)
        return found ? checkpoint.valueLength(at: index) : nil
    }

    /// Records a change in RAM (the caller accounts for `count` and `liveBytes`).
    private func record(_ change: Change, for key: [UInt8]) {
        if case .deleted = change, !checkpoint.search(key).found {
            if changes.removeValue(forKey: key) != nil { sortedChangedKeys = nil }
        } else if changes.updateValue(change, forKey: key) == nil {
            sortedChangedKeys = nil
        }
    }

    private enum LiveEntry { case checkpoint(Int), changed([UInt8], [UInt8]) }

    /// Calls `body` with every live entry whose key starts with `prefix`, in key order (the
    /// checkpoint's entries merged with the changes since), until it returns false.
    private func forEachLiveEntry(prefix: [UInt8] = [], _ body: (LiveEntry) -> Bool) {
        if sortedChangedKeys == nil {
            sortedChangedKeys = changes.keys.sorted { a, b in
                a.withUnsafeBytes { x in b.withUnsafeBytes { y in compareBytes(x, y) < 0 } }
            }
        }
        let changed = sortedChangedKeys!
        var fromCheckpoint = checkpoint.search(prefix).index
        var low = 0, high = changed.count
        while low < high {
            let middle = (low + high) / 2
            if changed[middle].withUnsafeBytes({ x in prefix.withUnsafeBytes { compareBytes(x, $0) < 0 } }) { low = middle + 1 } else { high = middle }
        }
        var fromChanges = low
        while true {
            let inCheckpoint = fromCheckpoint < checkpoint.count && checkpoint.key(at: fromCheckpoint, startsWith: prefix)
            let inChanges = fromChanges < changed.count && changed[fromChanges].starts(with: prefix)
            guard inCheckpoint || inChanges else { return }
            let order = !inChanges ? -1 : !inCheckpoint ? 1 : checkpoint.compareKey(at: fromCheckpoint, with: changed[fromChanges])
            if order < 0 {
                guard body(.checkpoint(fromCheckpoint)) else { return }
                fromCheckpoint += 1
                continue
            }
            if order == 0 { fromCheckpoint += 1 }   // changed since the checkpoint
            let key = changed[fromChanges]
            fromChanges += 1
            if case .put(let value) = changes[key]! {
                guard body(.changed(key, value)) else { return }
            }
        }
    }

    /// How far past the active half's checkpoint its log may grow (invariant 9): the limit its
    /// superblock recorded, or for older disks, which recorded none, this store's interval.
    private var logLimit: UInt64 { superblock.logLimit > 0 ? superblock.logLimit : checkpointInterval }

    /// Forgets the state in RAM (before replaying another half).
    private func reset() {
        checkpoint = .empty
        changes = [:]
        sortedChangedKeys = nil
        committed = 0
        chainTip = 0
    }

    /// Writes a checkpoint of every live entry (pending changes included) as the first group
    /// of the inactive half under the next generation, flushes, then writes and flushes that
    /// generation's superblock.
    private func writeSnapshot() throws(StoreError) {
        let generation = max(superblock.generation, generationFloor) + 1
        let half = 1 - superblock.activeHalf
        let start = layout.start(ofHalf: half)
        let sequence = committed + 1
        var writer = CheckpointWriter(capacity: Checkpoint.entriesStart + liveBytes)
        forEachLiveEntry { entry in
            switch entry {
            case .checkpoint(let index): writer.append(entryAt: index, of: checkpoint)
            case .changed(let key, let value): writer.append(key: key, value: value)
            }
            return true
        }
        let (sealed, whole, tail, chain) = Self.checkpointGroup(&writer, generation: generation, sequence: sequence)
        guard UInt64(whole + tail.count) <= layout.halfSize else { throw .full }
        let next = Superblock(generation: generation, activeHalf: half, capacity: layout.capacity, baseSequence: sequence,
                              logLimit: checkpointInterval)
        var sector = [UInt8](repeating: 0, count: StoreFormat.sector)
        sector.withUnsafeMutableBytes { next.encode(into: $0) }
        try guarded { () throws(BlockError) in
            if whole > 0 { try device.write(sealed.bytes, count: whole, at: start) }
            try device.write(tail, at: start + UInt64(whole))
            try device.flush()
            try device.write(sector, at: UInt64(generation % 2) * UInt64(StoreFormat.sector))
            try device.flush()
        }
        superblock = next
        generationFloor = generation
        head = start + UInt64(whole + tail.count)
        checkpointEnd = head
        chainTip = chain
        committed = sequence
        checkpoint = sealed.checkpoint
        changes = [:]
        sortedChangedKeys = nil
        pending.removeAll(keepingCapacity: true)
        compactions += 1
    }

    /// Seals a checkpoint as the first group of a half: the record (whole sectors of it are
    /// written straight from it), the sectors after them (its rest, the commit record, zeros),
    /// and the checksum the group ends with.
    private static func checkpointGroup(_ writer: inout CheckpointWriter, generation: UInt64, sequence: UInt64)
        -> (sealed: (bytes: [UInt8], checksum: UInt32, checkpoint: Checkpoint), whole: Int, tail: [UInt8], chain: UInt32) {
        let sealed = writer.finish(chain: StoreFormat.seed(generation: generation), generation: generation, sequence: sequence)
        let whole = sealed.bytes.count / StoreFormat.sector * StoreFormat.sector
        var tail = Array(sealed.bytes[whole...])
        let chain = RecordHeader.append(kind: .commit, key: [], value: [], chain: sealed.checksum,
                                        generation: generation, sequence: sequence, to: &tail)
        tail.append(contentsOf: repeatElement(0, count: StoreFormat.padded(tail.count) - tail.count))
        return (sealed, whole, tail, chain)
    }

    /// The one sector creating a store writes before its superblock (generation 1's empty
    /// checkpoint and its commit, at the start of half 0): a crash in between leaves it alone.
    private static let creationSector: [UInt8] = {
        var writer = CheckpointWriter()
        return checkpointGroup(&writer, generation: 1, sequence: 1).tail
    }()

    /// The first nonzero byte past the superblocks, other than an unfinished creation's sector,
    /// if there is one. Reads the whole disk (a MiB per request): only done when both
    /// superblocks are blank, i.e. when a store is about to be created.
    private static func firstWrittenByte(_ device: any BlockStorage) throws(StoreError) -> UInt64? {
        let end = device.capacity / UInt64(StoreFormat.sector) * UInt64(StoreFormat.sector)
        var buffer: [UInt8] = []
        var offset = StoreFormat.superblockArea
        while offset < end {
            let length = Int(min(UInt64(HalfReader.windowSize), end - offset))
            if buffer.count != length { buffer = [UInt8](repeating: 0, count: length) }
            do { try device.read(&buffer, at: offset) } catch { throw .device(error) }
            var skip = 0..<0
            if offset == StoreFormat.superblockArea, buffer.starts(with: creationSector) { skip = 0..<creationSector.count }
            if let index = buffer.indices.first(where: { buffer[$0] != 0 && !skip.contains($0) }) { return offset + UInt64(index) }
            offset += UInt64(length)
        }
        return nil
    }

    /// Whether the next generation's superblock was written and lost: the other half starts
    /// with that generation's checkpoint and holds a verified record of a later commit, and
    /// commits follow a checkpoint only once its superblock is durable. (Its checkpoint alone
    /// is a compaction cut off before the superblock: nothing acknowledged is missing.)
    private func newerGenerationWasLost() throws(StoreError) -> Bool {
        let start = layout.start(ofHalf: 1 - superblock.activeHalf)
        let next = superblock.generation + 1
        var reader = HalfReader(device: device, end: start + layout.halfSize)
        guard let header = try reader.header(at: start, maximumRecord: Int(layout.halfSize)), header.kind == .checkpoint,
              header.generation == UInt32(truncatingIfNeeded: next), header.chain == StoreFormat.seed(generation: next)
        else { return false }
        return try reader.laterSequence(than: header.sequence, generation: header.generation, from: start,
                                        before: start + layout.halfSize) != nil
    }

    /// Rebuilds the state from the active half: its checkpoint, then the groups after it.
    /// Appends damage it proves to `problems`; returns false if the half's first group (its
    /// checkpoint) is unreadable.
    private func replay(problems: inout [String]) throws(StoreError) -> Bool {
        let start = layout.start(ofHalf: superblock.activeHalf)
        let end = start + layout.halfSize
        var reader = HalfReader(device: device, end: end)
        let generation = UInt32(truncatingIfNeeded: superblock.generation)
        var chain = StoreFormat.seed(generation: superblock.generation)
        var expected = superblock.baseSequence
        var position = start
        var groupStart = start
        var group: [(kind: RecordHeader.Kind, key: [UInt8], value: [UInt8])] = []
        var loaded: Checkpoint?
        var applied = false
        checkpointEnd = start
        log: while position + UInt64(StoreFormat.recordHeaderSize) <= end {
            guard let header = try reader.header(at: position, maximumRecord: Int(layout.halfSize)),
                  header.generation == generation, header.chain == chain, header.sequence == expected,
                  position + UInt64(header.recordLength) <= end
            else { break }
            switch header.kind {
            case .checkpoint:
                // Only as the first record of the half.
                guard position == start, let checkpoint = try reader.checkpoint(header, at: position) else { break log }
                loaded = checkpoint
            case .put, .delete:
                // Nothing but the commit follows a checkpoint in its group.
                guard loaded == nil || applied, let record = try reader.verifiedRecord(header, at: position) else { break log }
                group.append((header.kind, record.key, record.value))
            case .commit:
                guard try reader.verifiedRecord(header, at: position) != nil else { break log }
            }
            chain = header.checksum
            position += UInt64(header.recordLength)
            guard header.kind == .commit else { continue }
            if let loaded, !applied {
                checkpoint = loaded
                recovery.checkpointEntries = loaded.count
            }
            changes.reserveCapacity(changes.count + group.count)
            for change in group {
                record(change.kind == .put ? .put(change.value) : .deleted, for: change.key)
            }
            group.removeAll(keepingCapacity: true)
            committed = expected
            expected += 1
            position = start + UInt64(StoreFormat.padded(Int(position - start)))
            groupStart = position
            chainTip = chain
            if !applied { checkpointEnd = position }
            applied = true
        }
        head = groupStart
        recovery.replayedBytes = groupStart - start
        recovery.tailBytes = groupStart - checkpointEnd
        if !applied {
            committed = superblock.baseSequence
            chainTip = StoreFormat.seed(generation: superblock.generation)
            problems.append("the checkpoint at the start of generation \(superblock.generation)'s log is unreadable")
        } else if let later = try reader.laterSequence(than: expected, generation: generation, from: groupStart,
                                                        before: superblock.logLimit > 0 ? checkpointEnd + superblock.logLimit : end) {
            problems.append("the log breaks at offset \(groupStart) (commit \(expected)), but commit \(later.sequence) at offset \(later.offset) was written after it: commits after \(committed) are lost")
        } else if groupStart < end, try reader.header(at: groupStart, maximumRecord: Int(layout.halfSize)).map({ $0.generation == generation && $0.sequence == expected }) == true {
            recovery.discardedIncompleteCommit = true
        }
        recount()
        return applied
    }

    /// Sets `count` and `liveBytes` from the checkpoint and the changes since.
    private func recount() {
        count = checkpoint.count
        liveBytes = checkpoint.liveBytes
        for (key, change) in changes {
            let (index, found) = checkpoint.search(key)
            if found {
                count -= 1
                liveBytes -= StoreFormat.recordHeaderSize + key.count + checkpoint.valueLength(at: index)
            }
            if case .put(let value) = change {
                count += 1
                liveBytes += StoreFormat.recordHeaderSize + key.count + value.count
            }
        }
    }
}

/// Reads one half of the disk through a window (one device read per MiB), for replay.
struct HalfReader {
    let device: any BlockStorage
    let end: UInt64
    private var window: [UInt8] = []
    private var windowStart: UInt64 = 0
    static let windowSize = 1 << 20

    init(device: any BlockStorage, end: UInt64) {
        self.device = device
        self.end = end
    }

    /// Makes [offset, offset + count) available in the window; false if it passes `end`.
    private mutating func load(_ offset: UInt64, _ count: Int) throws(StoreError) -> Bool {
        guard offset + UInt64(count) <= end else { return false }
        if offset >= windowStart && offset + UInt64(count) <= windowStart + UInt64(window.count) { return true }
        let alignedStart = offset / UInt64(StoreFormat.sector) * UInt64(StoreFormat.sector)
        let wanted = max(Self.windowSize, StoreFormat.padded(Int(offset - alignedStart) + count))
        let length = Int(min(UInt64(wanted), end - alignedStart))
        if window.count != length { window = [UInt8](repeating: 0, count: length) }
        windowStart = alignedStart
        do { try device.read(&window, at: alignedStart) } catch { throw .device(error) }
        return true
    }

    mutating func header(at offset: UInt64, maximumRecord: Int) throws(StoreError) -> RecordHeader? {
        guard try load(offset, StoreFormat.recordHeaderSize) else { return nil }
        let at = Int(offset - windowStart)
        return window.withUnsafeBytes { RecordHeader.decode(UnsafeRawBufferPointer(rebasing: $0[at..<at + StoreFormat.recordHeaderSize]), maximumRecord: maximumRecord) }
    }

    /// The record's key and value, if its checksum holds.
    mutating func verifiedRecord(_ header: RecordHeader, at offset: UInt64) throws(StoreError) -> (key: [UInt8], value: [UInt8])? {
        guard try load(offset, header.recordLength) else { return nil }
        let at = Int(offset - windowStart)
        return window.withUnsafeBytes { raw in
            let record = UnsafeRawBufferPointer(rebasing: raw[at..<at + header.recordLength])
            guard header.verify(record) else { return nil }
            let keyEnd = StoreFormat.recordHeaderSize + header.keyLength
            // Rebased: a Slice would be copied a byte at a time, a buffer is one memcpy.
            return (Array(UnsafeRawBufferPointer(rebasing: record[StoreFormat.recordHeaderSize..<keyEnd])),
                    Array(UnsafeRawBufferPointer(rebasing: record[keyEnd...])))
        }
    }

    /// The checkpoint record at `offset` (a sector boundary), read with one request into a
    /// buffer of its own that the checkpoint keeps; nil unless its checksum holds and it parses.
    func checkpoint(_ header: RecordHeader, at offset: UInt64) throws(StoreError) -> Checkpoint? {
        let length = Int(min(UInt64(StoreFormat.padded(header.recordLength)), end - offset))
        guard offset % UInt64(StoreFormat.sector) == 0, length >= header.recordLength else { return nil }
        // Not zero-filled first: the device writes every byte (on hvt, a guest page the guest
        // has not touched yet costs an exit whoever touches it; the tender filling it is cheaper).
        var failure: BlockError?
        let record = [UInt8](unsafeUninitializedCapacity: length) { buffer, initialized in
            do throws(BlockError) { try device.read(at: offset, into: UnsafeMutableRawBufferPointer(buffer)) } catch {
                failure = error
                buffer.initialize(repeating: 0)
            }
            initialized = length
        }
        if let failure { throw .device(failure) }
        let verified = record.withUnsafeBytes { header.verify(UnsafeRawBufferPointer(rebasing: $0[0..<header.recordLength])) }
        return verified ? Checkpoint(record: record, recordLength: header.recordLength) : nil
    }

    /// A verified record of `generation` with a sequence above `sequence`, lying on a sector
    /// boundary at or after `from` and wholly before `limit` (where the generation's log must
    /// end): proof that a commit was acknowledged beyond where the log broke.
    mutating func laterSequence(than sequence: UInt64, generation: UInt32, from: UInt64, before limit: UInt64) throws(StoreError) -> (sequence: UInt64, offset: UInt64)? {
        let end = min(limit, self.end)
        guard from < end else { return nil }
        var offset = from
        while offset + UInt64(StoreFormat.recordHeaderSize) <= end {
            if let header = try header(at: offset, maximumRecord: Int(end - from)),
               header.generation == generation, header.sequence > sequence,
               offset + UInt64(header.recordLength) <= end,
               try verifiedRecord(header, at: offset) != nil {
                return (header.sequence, offset)
            }
            offset += UInt64(StoreFormat.sector)
        }
        return nil
    }
}
