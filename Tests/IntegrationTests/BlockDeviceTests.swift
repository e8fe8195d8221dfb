// Block devices through the real tenders, under the real seccomp filter: hand-assembled guests
// make block requests the tender must refuse (outside the disk, misaligned, into read-only
// memory or outside guest memory) and halt with the result the tender wrote back, so a clean
// EINVAL is an exit status of 2 and a tender that fell over is anything else. The controls
// make the same calls with good arguments. And a second guest on a disk in use is refused.
import Foundation
import SwiftletABI
import SwiftletBuild
import TenderCore
import TenderTestSupport
import Testing

@Suite struct BlockDeviceIntegrationTests {
    static let capacity: UInt64 = 1 << 20
    static let request = HostileGuest.data + 0x100
    static let buffer = HostileGuest.data + 0x400

    static func disk(_ name: String, _ target: Target) -> String {
        Harness.scratch.appendingPathComponent("block-\(name)-\(target).img").path
    }

    /// A guest that makes `calls` (each a block hypercall with its own request), halting with
    /// the last one's result.
    static func guest(_ calls: [(swiftlet_hypercall, offset: UInt64, data: UInt64, length: UInt64)]) -> HostileGuest {
        var guest = HostileGuest()
        var data = [UInt8](repeating: 0, count: 0x100)
        for (index, call) in calls.enumerated() {
            var request = swiftlet_hc_block(handle: 0, _pad: 0, offset: call.offset, data: call.data, length: call.length, result: -1, _pad2: 0)
            data += withUnsafeBytes(of: &request) { Array($0) }
            let address = Self.request + UInt64(index * MemoryLayout<swiftlet_hc_block>.size)
            guest.hypercall(call.0, address)
        }
        guest.data = data
        guest.haltWithResult(at: Self.request + UInt64(calls.count - 1) * UInt64(MemoryLayout<swiftlet_hc_block>.size) + 32)
        return guest
    }

    static func run(_ guest: HostileGuest, on target: Target, named name: String, disk: String? = nil) throws -> Harness.Outcome {
        let url = Harness.scratch.appendingPathComponent("block-\(name)-\(target).swiftlet")
        try Data(guest.image()).write(to: url)
        return try Harness.run(Harness.tender(target), ["--mem", "8M", "--disk", disk ?? Self.disk(name, target), "--disk-size", "1M", url.path])
    }

    static let attacks: [(name: String, call: swiftlet_hypercall, offset: UInt64, data: UInt64, length: UInt64)] = [
        ("read-past-the-end", SWIFTLET_HC_BLOCK_READ, capacity, buffer, 512),
        ("write-past-the-end", SWIFTLET_HC_BLOCK_WRITE, capacity - 512, buffer, 1024),
        ("read-at-a-wrapping-offset", SWIFTLET_HC_BLOCK_READ, UInt64.max - 511, buffer, 1024),
        ("misaligned-offset", SWIFTLET_HC_BLOCK_READ, 100, buffer, 512),
        ("misaligned-length", SWIFTLET_HC_BLOCK_WRITE, 0, buffer, 100),
        ("read-into-code", SWIFTLET_HC_BLOCK_READ, 0, HostileGuest.text, 512),
        ("read-into-boot-info", SWIFTLET_HC_BLOCK_READ, 0, SWIFTLET_GUEST_BASE + SWIFTLET_BOOTINFO_OFFSET, 512),
        ("read-outside-guest-memory", SWIFTLET_HC_BLOCK_READ, 0, SWIFTLET_GUEST_BASE + (16 << 20), 512),
        ("write-from-the-guard-page", SWIFTLET_HC_BLOCK_WRITE, 0, SWIFTLET_GUEST_BASE, 512),
    ]

    @Test(arguments: runnableTargets, attacks.indices)
    func badBlockRequestsAreRefusedWithAGuestError(target: Target, index: Int) throws {
        let attack = Self.attacks[index]
        try Self.expectRefused(Self.guest([(attack.call, attack.offset, attack.data, attack.length)]), named: attack.name,
                               on: target, with: SWIFTLET_R_EINVAL)
    }

    /// Runs an attacking guest on a fresh disk: it halts with `status`, the tender's answer;
    /// the tender does not crash and the disk stays blank.
    static func expectRefused(_ guest: HostileGuest, named name: String, on target: Target, with status: swiftlet_result,
                              sourceLocation: SourceLocation = #_sourceLocation) throws {
        let diskPath = disk(name, target)
        try? FileManager.default.removeItem(atPath: diskPath)
        let result = try run(guest, on: target, named: name)
        #expect(result.status == Int32(status.rawValue), "\(name): status \(result.status), signal \(String(describing: result.signal)), stderr: \(result.stderr)",
                sourceLocation: sourceLocation)
        #expect(!result.stderr.contains("crashed"), "\(result.stderr)", sourceLocation: sourceLocation)
        let disk = try Data(contentsOf: URL(fileURLWithPath: diskPath))
        #expect(disk.count == Int(capacity) && disk.allSatisfy { $0 == 0 }, "\(name): the disk changed", sourceLocation: sourceLocation)
    }

    /// The control: a write, a flush and a read back of the guest's own data page are served
    /// (status 0), and the bytes are on the disk file.
    @Test(arguments: runnableTargets)
    func goodRequestsAreServed(target: Target) throws {
        let diskPath = Self.disk("good", target)
        try? FileManager.default.removeItem(atPath: diskPath)
        let guest = Self.guest([(SWIFTLET_HC_BLOCK_WRITE, 4096, HostileGuest.data, 512),
                                (SWIFTLET_HC_BLOCK_FLUSH, 0, 0, 0),
                                (SWIFTLET_HC_BLOCK_READ, 4096, Self.buffer, 512)])
        let result = try Self.run(guest, on: target, named: "good")
        #expect(result.status == 0, "status \(result.status), stderr: \(result.stderr)")
        let disk = try Data(contentsOf: URL(fileURLWithPath: diskPath))
        #expect(disk.count == Int(Self.capacity))
        // The guest's data page starts with 0x100 zero bytes, then the first request (offset 4096).
        #expect(disk[4096 + 0x100 + 8] == 0x00 && disk[4096 + 0x100 + 9] == 0x10, "the request's offset field was not written to the disk")
    }

    // MARK: BLOCK_BATCH

    static let batchRequest = HostileGuest.data + 0x100
    static let batchArray = HostileGuest.data + 0x200
    static let batchBuffer = HostileGuest.data + 0x800

    static func op(_ op: swiftlet_block_op, _ offset: UInt64 = 0, _ data: UInt64 = 0, _ length: UInt64 = 0) -> swiftlet_block_request {
        swiftlet_block_request(op: op.rawValue, result: -1, offset: offset, data: data, length: length)
    }

    /// A guest that makes one BLOCK_BATCH of `requests` (`count` of them, the array at `array`)
    /// and halts with the batch's result, or with request `haltWith`'s.
    static func batchGuest(_ requests: [swiftlet_block_request], count: UInt32? = nil, array: UInt64 = batchArray,
                           haltWith: Int? = nil) -> HostileGuest {
        var guest = HostileGuest()
        var data = [UInt8](repeating: 0, count: Int(batchArray - HostileGuest.data))
        var batch = swiftlet_hc_block_batch(handle: 0, count: count ?? UInt32(requests.count), requests: array, completed: 0, result: -1)
        data.replaceSubrange(0x100..<0x100 + MemoryLayout<swiftlet_hc_block_batch>.size, with: withUnsafeBytes(of: &batch) { Array($0) })
        for var request in requests { data += withUnsafeBytes(of: &request) { Array($0) } }
        guest.data = data
        guest.hypercall(SWIFTLET_HC_BLOCK_BATCH, batchRequest)
        let stride = UInt64(MemoryLayout<swiftlet_block_request>.stride)
        guest.haltWithResult(at: haltWith.map { batchArray + UInt64($0) * stride + 4 }
                                 ?? batchRequest + UInt64(MemoryLayout<swiftlet_hc_block_batch>.offset(of: \.result)!))
        return guest
    }

    static let goodWrite = op(SWIFTLET_BLOCK_OP_WRITE, 4096, HostileGuest.data, 512)
    static var batchAttacks: [(name: String, guest: HostileGuest, status: swiftlet_result)] { [
        ("batch-over-the-cap", batchGuest(Array(repeating: goodWrite, count: Int(SWIFTLET_BLOCK_BATCH_MAX) + 1)), SWIFTLET_R_EINVAL),
        ("batch-array-outside-guest-memory", batchGuest([goodWrite], count: 1, array: SWIFTLET_GUEST_BASE + (16 << 20)), SWIFTLET_R_EINVAL),
        ("batch-array-in-code", batchGuest([goodWrite], count: 1, array: HostileGuest.text), SWIFTLET_R_EINVAL),
        ("batch-with-a-read-into-code", batchGuest([goodWrite, op(SWIFTLET_BLOCK_OP_READ, 0, HostileGuest.text, 512), op(SWIFTLET_BLOCK_OP_FLUSH)]), SWIFTLET_R_EINVAL),
        ("batch-with-a-read-into-boot-info", batchGuest([goodWrite, op(SWIFTLET_BLOCK_OP_FLUSH), op(SWIFTLET_BLOCK_OP_READ, 0, SWIFTLET_GUEST_BASE + SWIFTLET_BOOTINFO_OFFSET, 512)]), SWIFTLET_R_EINVAL),
        ("batch-with-one-past-the-end", batchGuest([goodWrite, op(SWIFTLET_BLOCK_OP_WRITE, capacity, HostileGuest.data, 512)]), SWIFTLET_R_EINVAL),
        // The good write beside a bad request is not attempted: SKIPPED, and the disk stays blank.
        ("batch-good-request-beside-a-bad-one", batchGuest([goodWrite, op(SWIFTLET_BLOCK_OP_WRITE, 100, HostileGuest.data, 512)], haltWith: 0), SWIFTLET_R_SKIPPED),
    ] }

    @Test(arguments: runnableTargets, batchAttacks.indices)
    func badBatchesAreRefusedWholeWithAGuestError(target: Target, index: Int) throws {
        let attack = Self.batchAttacks[index]
        try Self.expectRefused(attack.guest, named: attack.name, on: target, with: attack.status)
    }

    /// The control: write, flush and read back in one batch are served (status 0), the read
    /// ran after the write (the request it read back halts with OK), and the bytes are on disk.
    @Test(arguments: runnableTargets)
    func goodBatchesAreServedInOrder(target: Target) throws {
        let diskPath = Self.disk("good-batch", target)
        try? FileManager.default.removeItem(atPath: diskPath)
        let guest = Self.batchGuest([Self.goodWrite, Self.op(SWIFTLET_BLOCK_OP_FLUSH), Self.op(SWIFTLET_BLOCK_OP_READ, 4096, Self.batchBuffer, 512)])
        let result = try Self.run(guest, on: target, named: "good-batch")
        #expect(result.status == 0, "status \(result.status), stderr: \(result.stderr)")
        let disk = try Data(contentsOf: URL(fileURLWithPath: diskPath))
        // The data page starts with 0x100 zero bytes, then the batch (count 3 at byte 4).
        #expect(disk.count == Int(Self.capacity) && disk[4096 + 0x104] == 3, "the batch's bytes were not written to the disk")
    }

    /// A guest holds the disk; a second tender on the same file is refused before it starts.
    @Test(arguments: runnableTargets)
    func aSecondGuestOnADiskInUseIsRefused(target: Target) throws {
        let diskPath = Self.disk("shared", target)
        var spinner = HostileGuest()
        spinner.spin()
        let url = Harness.scratch.appendingPathComponent("block-spin-\(target).swiftlet")
        try Data(spinner.image()).write(to: url)
        let first = Process()
        first.executableURL = Harness.tender(target)
        first.arguments = ["--mem", "8M", "--disk", diskPath, url.path]
        first.standardOutput = FileHandle.nullDevice
        first.standardError = FileHandle.nullDevice
        try first.run()
        defer { kill(first.processIdentifier, SIGKILL); first.waitUntilExit() }
        // Wait until the first tender holds the lock (it takes it before the guest starts).
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline, !((try? String(contentsOfFile: "/proc/locks", encoding: .utf8)) ?? "").contains(" \(first.processIdentifier) ") {
            Thread.sleep(forTimeInterval: 0.02)
        }
        let second = try Self.run(HostileGuest(), on: target, named: "second", disk: diskPath)
        #expect(second.status == 125, "stderr: \(second.stderr)")
        #expect(second.stderr.contains("in use by another running guest"), "stderr: \(second.stderr)")
        #expect(first.isRunning, "the first guest should still be running")
    }
}

/// BlockDevice's batched calls in a concurrency guest (Tests/Guests/async-disk-guest): a 4 MiB
/// async write and read each cost one BLOCK_BATCH exit, with a ticker task running before it;
/// two tasks writing at once share one exit; submit queues without an exit and one poll sends
/// both submissions; a misaligned request is refused at submit; a submission the tender refuses
/// fails alone, and the good one beside it is sent again.
@Suite struct AsyncBlockDeviceTests {
    @Test(arguments: runnableTargets)
    func asyncTransfersAreBatchedAndLetOtherTasksRun(target: Target) throws {
        let image = try Harness.image(of: "Tests/Guests/async-disk-guest", named: "async-disk-guest")
        let disk = Harness.scratch.appendingPathComponent("async-disk-\(target).img").path
        let result = try Harness.run(Harness.tender(target), ["--mem", "32M", "--disk", disk, "--disk-size", "8M", image.path], timeout: 120)
        #expect(result.status == 0, "\(target): \(result.stdout)\n\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").filter { $0.hasPrefix("async-disk-guest: ") }
        #expect(lines.count == 4, "\(target): \(result.stdout)")
        guard lines.count == 4 else { return }
        #expect(lines[0].hasSuffix("data intact"), "\(target): \(lines[0])")
        let counts = lines[0].split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .punctuationCharacters)) }
        // bytes, write exits, read exits, ticks during the write, ticks during the read
        #expect(counts.count == 5 && counts[1] == 1 && counts[2] == 1 && counts[3] >= 1 && counts[4] >= 1, "\(target): \(lines[0])")
        #expect(lines[1] == "async-disk-guest: two writers, 1 exits", "\(target): \(lines[1])")
        #expect(lines[2] == "async-disk-guest: poll-style queued 3, pending true, sent 3 in 1 exit, done true, misaligned request refused (not whole blocks inside the disk, or a buffer the guest may not use)",
                "\(target): \(lines[2])")
        #expect(lines[3] == "async-disk-guest: beside a refused read the good write was requeued and done in 2 exits, the read refused",
                "\(target): \(lines[3])")
    }
}

/// Group commit in a guest (Tests/Guests/group-commit-guest): eight tasks committing at once
/// share flushes (at most one group per four commits here, where one per commit is what
/// committing alone costs), and every acknowledged commit is on the disk when it is reopened.
@Suite struct GroupCommitTests {
    @Test(arguments: runnableTargets)
    func concurrentCommitsShareAFlushAndAllSurvive(target: Target) throws {
        let image = try Harness.image(of: "Tests/Guests/group-commit-guest", named: "group-commit-guest")
        let disk = Harness.scratch.appendingPathComponent("group-commit-\(target).img").path
        try? FileManager.default.removeItem(atPath: disk)
        let result = try Harness.run(Harness.tender(target), ["--mem", "32M", "--disk", disk, "--disk-size", "4M", image.path], timeout: 120)
        #expect(result.status == 0, "\(target): \(result.stdout)\n\(result.stderr)")
        let line = result.stdout.split(separator: "\n").first { $0.hasPrefix("group-commit-guest: ") } ?? ""
        let numbers = line.split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .punctuationCharacters)) }
        // commits, failed, groups, joined, found, acknowledged
        #expect(numbers.count == 6, "\(target): \(result.stdout)")
        guard numbers.count == 6 else { return }
        #expect(numbers[0] == 200 && numbers[1] == 0 && numbers[5] == 200 && numbers[4] == 200, "\(target): \(line)")
        #expect(numbers[2] <= 50 && numbers[2] + numbers[3] == 200, "\(target): group commit did not group: \(line)")
    }
}
