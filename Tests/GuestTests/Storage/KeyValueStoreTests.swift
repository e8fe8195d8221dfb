// KeyValueStore on a FaultyDisk: a scripted workload crashed after every single sector write,
// with what survives the crash chosen three ways, with checkpoints written only when a half
// fills and also every few KiB of log (so crashes land inside checkpoint writes too); bit flips
// and garbage sectors; a damaged or malformed checkpoint; recovery bounded by the log after the
// checkpoint and by the log limit its generation recorded; version 1 disks; compaction while in
// use; the full disk; ordered prefix scans; lost superblocks (what Tests/Fuzz/StoreFuzzer.swift
// found).
import Swiftlet
import Testing
import TestSupport

private typealias State = [[UInt8]: [UInt8]]

/// A deterministic workload: transactions of puts and deletes over 16 keys, values up to
/// 1200 bytes (most span several sectors), on a 48 KiB disk, so the log fills and compacts
/// again and again.
private struct Workload {
    enum Change { case put([UInt8], [UInt8]), delete([UInt8]) }
    let transactions: [[Change]]
    static let capacity = 48 << 10

    init(seed: UInt64, count: Int) {
        var random = SplitMix64(seed: seed)
        transactions = (0..<count).map { number in
            (0..<(1 + random.next(below: 3))).map { _ in
                let key = Array("k\(random.next(below: 16))".utf8)
                if random.next(below: 5) == 0 { return .delete(key) }
                let length = random.next(below: 1200)
                return .put(key, (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ number) })
            }
        }
    }

    /// What running it left: every committed state in order (empty first), and the state of
    /// the commit under way when the disk failed, if one was.
    struct Outcome {
        var committed: [State] = [[:]]
        var inFlight: State?
        var finalGroupStart: UInt64 = 0
        var store: KeyValueStore?
    }

    /// With `clients` above 1, the transactions are taken that many at a time, as concurrent
    /// clients whose commits group commit writes together: each client's changes, then one
    /// commit that acknowledges them all (what `commit() async` does for tasks that join).
    func run(on disk: FaultyDisk, checkpointInterval: Int = KeyValueStore.defaultCheckpointInterval, clients: Int = 1) -> Outcome {
        var outcome = Outcome()
        guard let store = try? KeyValueStore(device: disk, checkpointInterval: checkpointInterval) else { return outcome }
        outcome.store = store
        var model = State()
        for first in stride(from: 0, to: transactions.count, by: clients) {
            for change in transactions[first..<min(first + clients, transactions.count)].joined() {
                switch change {
                case .put(let key, let value):
                    if (try? store.put(key, value)) != nil { model[key] = value }
                case .delete(let key):
                    if (try? store.delete(key)) != nil { model[key] = nil }
                }
            }
            outcome.finalGroupStart = store.logEnd
            do {
                try store.commit()
                outcome.committed.append(model)
            } catch {
                outcome.inFlight = model
                return outcome
            }
        }
        return outcome
    }
}

private func contents(_ store: KeyValueStore) -> State {
    var state = State()
    for entry in store.scan() { state[entry.key] = entry.value }
    return state
}

@Suite struct KeyValueStoreTests {
    fileprivate static let workload = Workload(seed: 14, count: 60)
    /// A checkpoint every 3 KiB of log: on the 48 KiB disk most are written before the half fills.
    static let shortInterval = 3 << 10

    /// The clean run: how many sector writes it makes (every crash point below), and that it
    /// compacts several times while in use and ends with the model's state, also after reopening.
    @Test func cleanRunMatchesTheModelAndCompactsWhileInUse() throws {
        let disk = FaultyDisk(capacity: Workload.capacity)
        let outcome = Self.workload.run(on: disk)
        let store = try #require(outcome.store)
        #expect(outcome.inFlight == nil)
        #expect(contents(store) == outcome.committed.last!)
        #expect(store.compactions >= 3, "compactions: \(store.compactions)")
        let reopened = try KeyValueStore(device: FaultyDisk(image: disk.durable))
        #expect(reopened.recovery.problems.isEmpty)
        #expect(contents(reopened) == outcome.committed.last!)
        #expect(disk.sectorWrites > 200)
        let often = FaultyDisk(capacity: Workload.capacity)
        let store2 = try #require(Self.workload.run(on: often, checkpointInterval: Self.shortInterval).store)
        #expect(store2.compactions > store.compactions + 3, "\(store2.compactions) against \(store.compactions)")
        #expect(contents(try KeyValueStore(device: FaultyDisk(image: often.durable))) == outcome.committed.last!)
    }

    /// Opening reads the checkpoint and replays only the log after it, which never grows past
    /// the interval: 400 commits over 300 keys on a 1 MiB disk, a checkpoint every 8 KiB.
    @Test func recoveryReplaysOnlyTheLogAfterTheCheckpoint() throws {
        let disk = FaultyDisk(capacity: 1 << 20)
        let store = try KeyValueStore(device: disk, checkpointInterval: 8 << 10)
        var model = State()
        for number in 0..<400 {
            let key = Array("key\(number * 7 % 300)".utf8), value = Array("value \(number)".utf8)
            try store.put(key, value)
            model[key] = value
            if number % 9 == 0 { try store.delete(Array("key\(number % 300)".utf8)); model[Array("key\(number % 300)".utf8)] = nil }
            try store.commit()
            guard number % 10 == 9 else { continue }
            let reopened = try KeyValueStore(device: FaultyDisk(image: disk.durable), checkpointInterval: 8 << 10)
            #expect(reopened.recovery.tailBytes <= 8 << 10 && reopened.recovery.replayedBytes > reopened.recovery.tailBytes)
            if number % 50 == 49 {
                #expect(contents(reopened) == model && reopened.count == model.count && reopened.recovery.problems.isEmpty)
                #expect(reopened.recovery.checkpointEntries > 0)
                #expect(reopened.liveBytes == store.liveBytes)
            }
        }
        #expect(store.compactions > 10)
    }

    /// A checkpoint that fails its checksum, or one whose checksum holds but whose entries are
    /// out of order (only a forged disk holds that), is never used: the store opens the
    /// previous generation's half (an older acknowledged state), reports what was lost and
    /// refuses writes; with `repair` it keeps that state in a new generation that reopens clean.
    @Test(arguments: [false, true])
    func aDamagedCheckpointFallsBackToThePreviousGeneration(forged: Bool) throws {
        let disk = FaultyDisk(capacity: 64 << 10)
        let store = try KeyValueStore(device: disk)
        var states: [State] = []
        var model = State()
        for round in 0..<3 {
            for number in 0..<20 {
                let key = Array("r\(round)-\(number)".utf8), value = [UInt8](repeating: UInt8(round), count: 100)
                try store.put(key, value)
                model[key] = value
            }
            try store.commit()
            states.append(model)
            try store.compact()
        }
        try store.put("after", "checkpoint")
        try store.commit()
        let start = 1024 + store.activeHalf * ((64 << 10) - 1024) / 2 / 512 * 512
        var image = disk.durable
        if forged {
            // Swap the first two entries (equal sizes), then seal the record again.
            let entry = 6 + 4 + 100   // "r0-0", "r0-1"
            let first = Array(image[start + 36..<start + 36 + entry])
            image.replaceSubrange(start + 36..<start + 36 + entry, with: image[start + 36 + entry..<start + 36 + 2 * entry])
            image.replaceSubrange(start + 36 + entry..<start + 36 + 2 * entry, with: first)
            // Seal it and every record after it again, so checksums and chains all hold.
            var position = start, chain = StoreFormat.seed(generation: store.generation), checkpointLength = 0
            while let header = image.withUnsafeBytes({ RecordHeader.decode(UnsafeRawBufferPointer(rebasing: $0[position...]), maximumRecord: 1 << 20) }),
                  header.generation == UInt32(store.generation) {
                if header.kind == .checkpoint { checkpointLength = header.recordLength }
                chain = image.withUnsafeMutableBytes { raw in
                    RecordHeader.seal(UnsafeMutableRawBufferPointer(rebasing: raw[position..<position + header.recordLength]), kind: header.kind,
                                      keyLength: header.keyLength, chain: chain, generation: store.generation, sequence: header.sequence)
                }
                position += header.recordLength
                if header.kind == .commit { position = start + StoreFormat.padded(position - start) }
            }
            #expect(position == Int(store.logEnd))
            let sealed = image.withUnsafeBytes { raw in
                RecordHeader.decode(UnsafeRawBufferPointer(rebasing: raw[start...]), maximumRecord: 1 << 20)
                    .map { $0.kind == .checkpoint && $0.verify(UnsafeRawBufferPointer(rebasing: raw[start..<start + checkpointLength])) }
            }
            #expect(sealed == true, "the forged checkpoint carries a valid checksum: only parsing can refuse it")
        } else {
            image[start + 2000] ^= 0x10
        }
        let reopened = try KeyValueStore(device: FaultyDisk(image: image))
        // The previous half holds the checkpoint of states[1] and round 2's commit after it.
        #expect(contents(reopened) == states[2], "the previous generation's last state")
        #expect(reopened.recovery.problems.contains { $0.contains("checkpoint") }, "\(reopened.recovery.problems)")
        #expect(throws: StoreError.self) { try reopened.put("x", "y") }
        let repairedDisk = FaultyDisk(image: image)
        let repaired = try KeyValueStore(device: repairedDisk, repair: true)
        #expect(repaired.recovery.repaired && contents(repaired) == states[2])
        try repaired.put("x", "y")
        try repaired.commit()
        let again = try KeyValueStore(device: FaultyDisk(image: repairedDisk.durable))
        #expect(again.recovery.problems.isEmpty && again.get("x") == Array("y".utf8) && again.count == states[2].count + 1)
    }

    /// A disk written by format version 1 (snapshots as put records) opens, and keeps working.
    @Test func aVersionOneDiskOpens() throws {
        let capacity = 64 << 10
        let layout = try #require(StoreLayout(capacity: UInt64(capacity)))
        var image = [UInt8](repeating: 0, count: capacity)
        var sector = [UInt8](repeating: 0, count: 512)
        sector.withUnsafeMutableBytes { raw in
            Superblock(generation: 1, activeHalf: 0, capacity: UInt64(capacity), baseSequence: 1).encode(into: raw)
            raw[4] = 1
            let checksum = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[0..<508]))
            for index in 0..<4 { raw[508 + index] = UInt8(truncatingIfNeeded: checksum >> (8 * UInt32(index))) }
        }
        image.replaceSubrange(512..<1024, with: sector)
        var log: [UInt8] = []
        var chain = StoreFormat.seed(generation: 1)
        chain = RecordHeader.append(kind: .put, key: Array("a".utf8), value: Array("1".utf8), chain: chain, generation: 1, sequence: 1, to: &log)
        chain = RecordHeader.append(kind: .put, key: Array("b".utf8), value: Array("2".utf8), chain: chain, generation: 1, sequence: 1, to: &log)
        chain = RecordHeader.append(kind: .commit, key: [], value: [], chain: chain, generation: 1, sequence: 1, to: &log)
        log += repeatElement(0, count: StoreFormat.padded(log.count) - log.count)
        chain = RecordHeader.append(kind: .delete, key: Array("a".utf8), value: [], chain: chain, generation: 1, sequence: 2, to: &log)
        chain = RecordHeader.append(kind: .commit, key: [], value: [], chain: chain, generation: 1, sequence: 2, to: &log)
        let start = Int(layout.start(ofHalf: 0))
        image.replaceSubrange(start..<start + log.count, with: log)
        let disk = FaultyDisk(image: image)
        let store = try KeyValueStore(device: disk)
        #expect(store.recovery.problems.isEmpty)
        #expect(contents(store) == [Array("b".utf8): Array("2".utf8)] && store.count == 1)
        try store.put("c", "3")
        try store.compact()
        let reopened = try KeyValueStore(device: FaultyDisk(image: disk.durable))
        #expect(contents(reopened) == [Array("b".utf8): Array("2".utf8), Array("c".utf8): Array("3".utf8)])
        #expect(reopened.recovery.checkpointEntries == 2)
    }

    /// For every N: the disk dies after N sector writes; whatever survives (in order — torn
    /// writes —, nothing unflushed, or random subsets of unflushed sectors in any order), the
    /// reopened store holds exactly the last acknowledged commit or the one under way, reports
    /// no damage, and keeps working: a new commit survives the next reopen.
    /// With the short checkpoint interval, crash points fall inside checkpoint writes made
    /// because the log grew (not only because the half filled).
    @Test(arguments: [0, 1, 2, 3], [KeyValueStore.defaultCheckpointInterval, shortInterval])
    func everyCrashPointKeepsEveryAcknowledgedCommit(survivalIndex: Int, checkpointInterval: Int) throws {
        let failures = Self.crashEveryWrite(survivalIndex: survivalIndex, checkpointInterval: checkpointInterval, clients: 1)
        #expect(failures.isEmpty, "\(failures)")
    }

    /// The same with group commit: four clients' transactions per commit group. After a crash
    /// the store holds every group that was acknowledged and none of the group under way, or
    /// all of it: never some clients of a group without the others.
    @Test(arguments: [0, 1, 2, 3])
    func everyCrashPointKeepsEveryAcknowledgedGroupCommit(survivalIndex: Int) throws {
        let failures = Self.crashEveryWrite(survivalIndex: survivalIndex, checkpointInterval: Self.shortInterval, clients: 4)
        #expect(failures.isEmpty, "\(failures)")
    }

    /// The clean group-commit run: one flush per group of four clients, and one more per
    /// checkpoint (a checkpoint's superblock is flushed after it; the first is the creation's).
    @Test func groupCommitFlushesOncePerGroup() throws {
        let disk = FaultyDisk(capacity: Workload.capacity)
        let outcome = Self.workload.run(on: disk, clients: 4)
        let store = try #require(outcome.store)
        #expect(outcome.committed.count == 1 + 15 && contents(store) == outcome.committed.last!)
        #expect(store.commitGroups == 15)
        #expect(disk.flushes == store.commitGroups + store.compactions + 1, "\(disk.flushes) flushes, \(store.compactions) compactions")
    }

    /// Runs the workload crashed after every sector write; what went wrong.
    static func crashEveryWrite(survivalIndex: Int, checkpointInterval: Int, clients: Int) -> [String] {
        let total = { let d = FaultyDisk(capacity: Workload.capacity); _ = Self.workload.run(on: d, checkpointInterval: checkpointInterval, clients: clients); return d.sectorWrites }()
        var failures: [String] = []
        for crashAfter in 0...total {
            let disk = FaultyDisk(capacity: Workload.capacity)
            disk.crashAfter = crashAfter
            let outcome = Self.workload.run(on: disk, checkpointInterval: checkpointInterval, clients: clients)
            let survival: FaultyDisk.Survival = [.inOrder, .noneUnflushed, .reordered(seed: UInt64(crashAfter)),
                                                 .reordered(seed: UInt64(crashAfter) &* 31 &+ 7)][survivalIndex]
            let after = FaultyDisk(image: disk.image(after: survival))
            do {
                let store = try KeyValueStore(device: after, checkpointInterval: checkpointInterval)
                let state = contents(store)
                if store.count != state.count { failures.append("N=\(crashAfter): count \(store.count), \(state.count) entries") }
                if !store.recovery.problems.isEmpty { failures.append("N=\(crashAfter): problems \(store.recovery.problems)") }
                if state != outcome.committed.last! && state != outcome.inFlight {
                    failures.append("N=\(crashAfter): state is neither the last acknowledged commit nor the one under way")
                }
                try store.put("after-crash", "\(crashAfter)")
                try store.commit()
                let again = try KeyValueStore(device: FaultyDisk(image: after.durable))
                var expected = state
                expected[Array("after-crash".utf8)] = Array("\(crashAfter)".utf8)
                if contents(again) != expected || !again.recovery.problems.isEmpty {
                    failures.append("N=\(crashAfter): a commit after recovery did not survive the next reopen")
                }
            } catch {
                failures.append("N=\(crashAfter): reopening failed: \(error)")
            }
            if failures.count > 5 { break }
        }
        return failures
    }

    /// Damage to a written disk: one flipped bit, or a sector of random bytes, anywhere in the
    /// superblocks or the live log (and some anywhere at all). The store never returns data no
    /// commit wrote: what it opens with is exactly some acknowledged state. Damage is reported
    /// (the store then refuses writes) unless the state is the latest — or, for damage inside
    /// the newest commit, which is indistinguishable from that commit being torn, the one before.
    /// With `repair`, it opens writable and keeps working.
    @Test(arguments: [false, true])
    func damageIsDetectedAndNeverReturnedAsData(wholeSectors: Bool) throws {
        let disk = FaultyDisk(capacity: Workload.capacity)
        let outcome = Self.workload.run(on: disk)
        let store = try #require(outcome.store)
        let layoutStart = 1024 + UInt64(store.activeHalf) * ((UInt64(Workload.capacity) - 1024) / 2 / 512 * 512)
        let liveEnd = Int(store.logEnd)
        let latest = outcome.committed.last!, previous = outcome.committed[outcome.committed.count - 2]
        var random = SplitMix64(seed: wholeSectors ? 99 : 98)
        var failures: [String] = []
        var detected = 0
        for trial in 0..<300 {
            var image = disk.durable
            let position: Int
            switch trial % 3 {
            case 0: position = random.next(below: 1024)
            case 1: position = Int(layoutStart) + random.next(below: liveEnd - Int(layoutStart))
            default: position = random.next(below: image.count)
            }
            if wholeSectors {
                let sector = position / 512 * 512
                for index in sector..<sector + 512 { image[index] = UInt8(truncatingIfNeeded: random.next()) }
            } else {
                image[position] ^= 1 << UInt8(random.next(below: 8))
            }
            for repair in [false, true] {
                let damaged = FaultyDisk(image: image)
                guard let reopened = try? KeyValueStore(device: damaged, repair: repair) else { detected += 1; continue }
                let state = contents(reopened)
                let problems = reopened.recovery.problems
                let inFinalGroup = position >= Int(outcome.finalGroupStart) && position < liveEnd
                if !outcome.committed.contains(state) {
                    failures.append("trial \(trial) at \(position): returned a state no commit made")
                } else if problems.isEmpty && state != latest && !(inFinalGroup && state == previous) {
                    failures.append("trial \(trial) at \(position): lost commits without reporting damage")
                }
                if !problems.isEmpty {
                    detected += 1
                    if repair {
                        do {
                            try reopened.put("after-repair", "yes")
                            try reopened.commit()
                            let again = try KeyValueStore(device: FaultyDisk(image: damaged.durable))
                            if !again.recovery.problems.isEmpty || again.get("after-repair") != Array("yes".utf8) {
                                failures.append("trial \(trial): after repair the store did not reopen clean")
                            }
                        } catch { failures.append("trial \(trial): repaired store refused a write: \(error)") }
                    } else if (try? reopened.put("x", "y")) != nil {
                        failures.append("trial \(trial): a damaged store accepted a write without repair")
                    }
                }
            }
            if failures.count > 5 { break }
        }
        #expect(failures.isEmpty, "\(failures)")
        #expect(detected > 50, "only \(detected) damaged images were detected")
    }

    /// Invariant 9: the log limit is the generation's. A store opened with a longer interval
    /// keeps to the one the disk's checkpoint recorded until it writes a checkpoint of its own
    /// (which records its interval), and damage inside the log is still proved by a later
    /// commit, while opening reads no further than the limit: on a 16 MiB disk, not the 8 MiB
    /// of the rest of the half.
    @Test func theLogKeepsToTheLimitItsCheckpointRecorded() throws {
        let disk = FaultyDisk(capacity: 16 << 20)
        let first = try KeyValueStore(device: disk, checkpointInterval: 4 << 10)
        try first.put("seed", "1")
        try first.compact()
        let store = try KeyValueStore(device: disk, checkpointInterval: 64 << 10)
        var model = State()
        model[Array("seed".utf8)] = Array("1".utf8)
        for number in 0..<20 {   // each commit one 512-byte group
            let key = Array("key\(number)".utf8), value = [UInt8](repeating: UInt8(number), count: 400)
            try store.put(key, value)
            try store.commit()
            model[key] = value
        }
        #expect(store.compactions == 1, "the 9th commit would pass the recorded 4 KiB: one checkpoint, then the 64 KiB limit")
        let reader = ReadTracker(FaultyDisk(image: disk.durable))
        let reopened = try KeyValueStore(device: reader, checkpointInterval: 4 << 10)
        #expect(contents(reopened) == model && reopened.recovery.problems.isEmpty)
        #expect(reopened.recovery.tailBytes == 11 * 512, "the log kept to 64 KiB, not to this opener's 4 KiB")
        let halfStart = reopened.layout.start(ofHalf: reopened.activeHalf)
        #expect(reader.highestOffsetRead <= halfStart + (1 << 20), "read up to \(reader.highestOffsetRead - halfStart) into the half")

        var damaged = disk.durable
        let firstGroup = Int(halfStart + reopened.recovery.replayedBytes - reopened.recovery.tailBytes)
        damaged[firstGroup + 100] ^= 0x04
        let afterDamage = try KeyValueStore(device: FaultyDisk(image: damaged))
        #expect(afterDamage.recovery.problems.contains { $0.contains("log breaks") }, "\(afterDamage.recovery.problems)")
        #expect(throws: StoreError.self) { try afterDamage.put("x", "y") }
    }

    @Test func scanReturnsKeysWithThePrefixInByteOrder() throws {
        let store = try KeyValueStore(device: FaultyDisk(capacity: 64 << 10))
        for key in ["note/10", "note/2", "b", "note/1", "notes", "note/", "a"] { try store.put(key, key) }
        try store.delete("note/2")
        #expect(store.scan(prefix: "note/").map { String(decoding: $0.key, as: UTF8.self) } == ["note/", "note/1", "note/10"])
        #expect(store.scan(prefix: "note/", limit: 2).count == 2)
        #expect(store.scan().map { String(decoding: $0.key, as: UTF8.self) } == ["a", "b", "note/", "note/1", "note/10", "notes"])
        #expect(store.scan(prefix: "zz").isEmpty)
    }

    /// Live data is bounded by half the disk: the put that would pass it is refused and
    /// changes nothing; after deleting, puts fit again and everything commits.
    @Test func aFullStoreRefusesThePutAndKeepsWorking() throws {
        let disk = FaultyDisk(capacity: 32 << 10)
        let store = try KeyValueStore(device: disk)
        var stored = 0
        while true {
            do { try store.put("key\(stored)", [UInt8](repeating: 7, count: 1000)) } catch {
                #expect(error == .full)
                break
            }
            stored += 1
            try store.commit()
        }
        #expect(stored > 5 && stored < 16)
        #expect(store.get("key\(stored)") == nil)
        try store.delete("key0")
        try store.put("late", [1, 2, 3])
        try store.commit()
        let reopened = try KeyValueStore(device: FaultyDisk(image: disk.durable))
        #expect(reopened.count == stored)
        #expect(reopened.get("late") == [1, 2, 3])
    }

    /// A disk that holds something else (or garbage) is never formatted over.
    @Test func aDiskWithForeignDataIsRefusedNotFormatted() throws {
        var image = [UInt8](repeating: 0, count: 64 << 10)
        for index in 0..<600 { image[index] = UInt8(truncatingIfNeeded: index) }
        let disk = FaultyDisk(image: image)
        #expect(throws: StoreError.self) { try KeyValueStore(device: disk) }
        #expect(disk.sectorWrites == 0)
    }

    /// Found by StoreFuzzer: blank superblocks are not a blank disk. A store whose superblock
    /// sectors were both lost, and a foreign format that leaves its first KiB zero (as ext4
    /// does), are refused and left untouched; a creation cut off before its superblock (only
    /// its first log sector written) still creates the store.
    @Test func blankSuperblocksOverDataAreRefusedNotFormatted() throws {
        let disk = FaultyDisk(capacity: 64 << 10)
        let store = try KeyValueStore(device: disk)
        try store.put("kept", "yes")
        try store.commit()
        var lost = disk.durable
        lost.replaceSubrange(0..<1024, with: repeatElement(0, count: 1024))
        var foreign = [UInt8](repeating: 0, count: 64 << 10)
        for index in 1024..<2048 { foreign[index] = UInt8(truncatingIfNeeded: index * 31) }
        for image in [lost, foreign] {
            let damaged = FaultyDisk(image: image)
            #expect(throws: StoreError.self) { try KeyValueStore(device: damaged) }
            #expect(throws: StoreError.self) { try KeyValueStore(device: damaged, repair: true) }
            #expect(damaged.sectorWrites == 0)
        }
        let cutOff = FaultyDisk(capacity: 64 << 10)
        cutOff.crashAfter = 1
        #expect(throws: StoreError.self) { try KeyValueStore(device: cutOff) }
        let created = try KeyValueStore(device: FaultyDisk(image: cutOff.image(after: .inOrder)))
        #expect(created.recovery.created && created.count == 0)
    }

    /// Found by StoreFuzzer: when the newest superblock is lost (damaged, or blank beside a
    /// later generation), opening reports it, and repair writes a generation the lost one
    /// cannot have had: the lost generation's commits, still in the half repair writes to, are
    /// not taken for acknowledged commits missing from the repaired log on the next open.
    @Test(arguments: [false, true])
    func aLostNewestSuperblockIsReportedAndRepairedCleanly(blank: Bool) throws {
        let disk = FaultyDisk(capacity: 64 << 10)
        let store = try KeyValueStore(device: disk)
        try store.put("a", "1")
        try store.compact()                      // generation 2, half 1
        try store.put("b", "2")
        try store.commit()
        try store.compact()                      // generation 3 (slot 1), half 0
        for number in 0..<6 {
            try store.put("c\(number)", [UInt8](repeating: UInt8(number), count: 300))
            try store.commit()
        }
        #expect(store.generation == 3)
        var image = disk.durable
        if blank { image.replaceSubrange(512..<1024, with: repeatElement(0, count: 512)) } else { image[600] ^= 4 }
        let reopened = try KeyValueStore(device: FaultyDisk(image: image))
        #expect(!reopened.recovery.problems.isEmpty && reopened.generation == 2)
        #expect(contents(reopened) == [Array("a".utf8): Array("1".utf8), Array("b".utf8): Array("2".utf8)])
        #expect(throws: StoreError.self) { try reopened.put("x", "y") }
        let repairedDisk = FaultyDisk(image: image)
        let repaired = try KeyValueStore(device: repairedDisk, repair: true)
        #expect(repaired.recovery.repaired && repaired.generation > 3)
        try repaired.put("x", "y")
        try repaired.commit()
        let again = try KeyValueStore(device: FaultyDisk(image: repairedDisk.durable))
        #expect(again.recovery.problems.isEmpty, "\(again.recovery.problems)")
        #expect(contents(again) == [Array("a".utf8): Array("1".utf8), Array("b".utf8): Array("2".utf8), Array("x".utf8): Array("y".utf8)])
    }

    /// Found by StoreFuzzer: generation 2's superblock lost (slot 0 blank beside generation 1)
    /// after a commit was made in its half is reported: that commit proves the superblock had
    /// landed. A compaction cut off before its superblock (only its checkpoint in the other
    /// half) opens clean. A superblock in the slot of the other parity is damage.
    @Test func aLostSecondGenerationAndAMisplacedSuperblockAreReported() throws {
        let disk = FaultyDisk(capacity: 64 << 10)
        let store = try KeyValueStore(device: disk)
        try store.put("a", "1")
        try store.commit()
        try store.compact()                      // generation 2: slot 0, half 1
        let checkpointOnly = disk.durable
        try store.put("b", "2")
        try store.commit()
        var lost = disk.durable
        lost.replaceSubrange(0..<512, with: repeatElement(0, count: 512))
        let reopened = try KeyValueStore(device: FaultyDisk(image: lost))
        #expect(reopened.generation == 1 && reopened.recovery.problems.contains { $0.contains("generation 2's superblock is lost") },
                "\(reopened.recovery.problems)")
        #expect(throws: StoreError.self) { try reopened.put("x", "y") }
        var cutOff = checkpointOnly
        cutOff.replaceSubrange(0..<512, with: repeatElement(0, count: 512))
        let clean = try KeyValueStore(device: FaultyDisk(image: cutOff))
        #expect(clean.recovery.problems.isEmpty && clean.get("a") == Array("1".utf8) && clean.generation == 1)
        var misplaced = disk.durable
        misplaced.replaceSubrange(512..<1024, with: misplaced[0..<512])   // generation 2 in slot 1 too
        let confused = try KeyValueStore(device: FaultyDisk(image: misplaced))
        #expect(confused.recovery.problems.contains { $0.contains("belongs in the other") }, "\(confused.recovery.problems)")
    }

    /// A store written on a 64 KiB disk opens unchanged on the same image grown to 1 MiB (the
    /// superblock's capacity keeps the layout).
    @Test func aGrownDiskKeepsItsLayout() throws {
        let disk = FaultyDisk(capacity: 64 << 10)
        let store = try KeyValueStore(device: disk)
        try store.put("k", "v")
        try store.commit()
        let grown = FaultyDisk(image: disk.durable + [UInt8](repeating: 0, count: (1 << 20) - (64 << 10)))
        let reopened = try KeyValueStore(device: grown)
        #expect(reopened.get("k") == Array("v".utf8))
        #expect(reopened.recovery.problems.isEmpty)
    }
}

/// The format's parsers on arbitrary bytes: never trap, and accept only what they should.
@Suite struct StoreFormatTests {
    @Test func randomBytesNeverTrapTheParsers() {
        var random = SplitMix64(seed: 7)
        var accepted = 0
        for _ in 0..<20_000 {
            let bytes = (0..<512).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            bytes.withUnsafeBytes { raw in
                if case .valid = Superblock.decode(raw) { accepted += 1 }
                if let header = RecordHeader.decode(raw, maximumRecord: 512), header.recordLength <= 512,
                   header.verify(UnsafeRawBufferPointer(rebasing: raw[0..<header.recordLength])) {
                    accepted += 1
                }
            }
        }
        #expect(accepted == 0)
    }

    /// The checkpoint parser on random and on mutated valid records: never traps; whatever it
    /// accepts answers lookups within its bounds, in strictly ascending key order.
    @Test func checkpointParserNeverTrapsAndKeepsItsOrder() {
        var random = SplitMix64(seed: 21)
        var writer = CheckpointWriter()
        for number in 0..<40 { writer.append(key: Array("key\(number + 10)".utf8), value: [UInt8](repeating: 1, count: number)) }
        let valid = writer.finish(chain: 0, generation: 1, sequence: 1).bytes
        var parsed = 0
        for trial in 0..<20_000 {
            var bytes = valid
            if trial % 2 == 0 {
                bytes = (0..<random.next(below: 600)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
                if bytes.count > 36 && trial % 4 == 0 { bytes[32] = UInt8(random.next(below: 4)); bytes[33...35] = [0, 0, 0] }
            } else {
                for _ in 0..<(1 + random.next(below: 3)) { bytes[random.next(below: bytes.count)] = UInt8(truncatingIfNeeded: random.next()) }
            }
            guard let checkpoint = Checkpoint(record: bytes, recordLength: random.next(below: 3) == 0 ? random.next(below: bytes.count + 1) : bytes.count) else { continue }
            parsed += 1
            for index in 0..<checkpoint.count {
                _ = checkpoint.value(at: index)
                if index > 0 {
                    #expect(checkpoint.compareKey(at: index, with: checkpoint.key(at: index - 1)) > 0)
                }
                #expect(checkpoint.search(checkpoint.key(at: index)) == (index, true))
            }
        }
        #expect(parsed > 100, "parsed \(parsed)")
        let checkpoint = Checkpoint(record: valid, recordLength: valid.count)
        #expect(checkpoint?.count == 40 && checkpoint?.value(for: Array("key49".utf8)) == [UInt8](repeating: 1, count: 39))
        #expect(checkpoint?.value(for: Array("key5".utf8)) == nil && checkpoint?.search(Array("key5".utf8)).index == 40)
    }

    @Test func superblockRoundTripsAndEveryFlippedBitIsCaught() {
        let block = Superblock(generation: 0x1_0000_0003, activeHalf: 1, capacity: 64 << 20, baseSequence: 42, logLimit: 2 << 20)
        var sector = [UInt8](repeating: 0, count: 512)
        sector.withUnsafeMutableBytes { block.encode(into: $0) }
        #expect(sector.withUnsafeBytes { Superblock.decode($0) } == .valid(block))
        #expect(block.logLimit == 2 << 20 && sector[20...23] == [0, 16, 0, 0], "the limit is stored in sectors")
        // A version 2 superblock's bytes 20..<24 were reserved: it records no limit.
        var older = sector
        older[4] = 2
        older.withUnsafeMutableBytes { raw in
            let checksum = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[0..<508]))
            for index in 0..<4 { raw[508 + index] = UInt8(truncatingIfNeeded: checksum >> (8 * UInt32(index))) }
        }
        var unlimited = block
        unlimited.logLimit = 0
        #expect(older.withUnsafeBytes { Superblock.decode($0) } == .valid(unlimited))
        for bit in 0..<(512 * 8) {
            var flipped = sector
            flipped[bit / 8] ^= 1 << UInt8(bit % 8)
            let decoded = flipped.withUnsafeBytes { Superblock.decode($0) }
            #expect(decoded != .valid(block) && decoded != .blank, "bit \(bit)")
        }
    }

    @Test func crc32cMatchesTheStandardCheckValue() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        let text = Array("The quick brown fox jumps over the lazy dog".utf8)
        #expect(CRC32C.checksum(Array(text[20...]), continuing: CRC32C.checksum(Array(text[..<20]))) == CRC32C.checksum(text))
    }
}
