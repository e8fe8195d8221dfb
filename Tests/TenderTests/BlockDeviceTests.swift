// Block devices on the tender side: `--disk` parsing, opening (created, sized, refused, locked),
// and BLOCK_READ / BLOCK_WRITE / BLOCK_FLUSH served by HypercallHandler against a hostile guest:
// every refused request moves no byte in either direction and leaves the guest running.
#if canImport(Glibc)
import Glibc
#endif
import CTender
import Foundation
import SwiftletABI
import Testing
@testable import TenderCore

/// A scratch directory for disk files, removed at the end.
final class DiskFolder {
    let path: String
    init() {
        path = NSTemporaryDirectory() + "swiftlet-disk-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    func file(_ name: String) -> String { path + "/" + name }
}

private func refusal(_ body: () throws(TenderError) -> Void) -> String? {
    do { try body(); return nil } catch { return error.description }
}

@Suite struct DiskOptionTests {
    @Test func diskAndSizeParse() throws {
        let options = try TenderOptions(arguments: ["--disk", "a.img", "--disk-size", "1M", "--disk", "b.img", "image"])
        #expect(options.disks == [DiskSpec(path: "a.img", size: 1 << 20), DiskSpec(path: "b.img")])
    }

    @Test(arguments: [
        (["--disk-size", "1M", "--disk", "a", "image"], "applies to the --disk FILE before it"),
        (["--disk", "a", "--disk-size", "1000", "image"], "multiple of 512"),
        (["--disk", "a", "--disk-size", "0", "image"], "multiple of 512"),
        (["--disk", "a", "--disk-size", "lots", "image"], "multiple of 512"),
        (["--disk"], "needs a file name"),
    ])
    func badDiskOptionsAreRefused(arguments: [String], says: String) {
        let message = refusal { () throws(TenderError) in _ = try TenderOptions(arguments: arguments) }
        #expect(message?.contains(says) == true, "\(arguments): \(message ?? "accepted")")
    }
}

@Suite struct DiskOpeningTests {
    @Test func aMissingDiskIsCreatedWithTheDefaultOrGivenSize() throws {
        let folder = DiskFolder()
        let standard = try DiskSpec(path: folder.file("new.img")).open(name: "disk0")
        defer { close(standard.fd) }
        #expect(standard.capacity == 64 << 20)
        #expect(try FileManager.default.attributesOfItem(atPath: folder.file("new.img"))[.size] as? UInt64 == 64 << 20)
        let sized = try DiskSpec(path: folder.file("small.img"), size: 1 << 20).open(name: "disk1")
        defer { close(sized.fd) }
        #expect(sized.capacity == 1 << 20)
    }

    @Test func anExistingDiskKeepsItsDataAndGrowsButNeverShrinks() throws {
        let folder = DiskFolder()
        let path = folder.file("data.img")
        try Data(repeating: 0xAB, count: 4096 + 100).write(to: URL(fileURLWithPath: path))
        let kept = try DiskSpec(path: path).open(name: "disk0")
        #expect(kept.capacity == 4096)       // the partial last block is not offered
        close(kept.fd)
        let grown = try DiskSpec(path: path, size: 1 << 20).open(name: "disk0")
        #expect(grown.capacity == 1 << 20)
        close(grown.fd)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)).prefix(4096).allSatisfy { $0 == 0xAB })
        let message = refusal { () throws(TenderError) in _ = try DiskSpec(path: path, size: 8192).open(name: "disk0") }
        #expect(message?.contains("never shrunk") == true, "\(message ?? "accepted")")
    }

    @Test(arguments: [("directory", "/tmp"), ("character device", "/dev/null")])
    func whatIsNotADiskIsRefused(kind: String, path: String) {
        let message = refusal { () throws(TenderError) in _ = try DiskSpec(path: path).open(name: "disk0") }
        #expect(message != nil, "\(kind) \(path) was accepted")
        #expect(message?.contains(path) == true)
    }

    /// The lock is what refuses a second guest on the same disk (here: a second open in this
    /// process, which flock treats like another process); closing the first releases it.
    @Test func aDiskInUseIsRefusedUntilItIsReleased() throws {
        let folder = DiskFolder()
        let first = try DiskSpec(path: folder.file("shared.img"), size: 1 << 20).open(name: "disk0")
        let message = refusal { () throws(TenderError) in _ = try DiskSpec(path: folder.file("shared.img")).open(name: "disk0") }
        #expect(message?.contains("in use by another running guest") == true, "\(message ?? "accepted")")
        close(first.fd)
        let again = try DiskSpec(path: folder.file("shared.img")).open(name: "disk0")
        close(again.fd)
    }

    @Test func aFileTheUserMayNotWriteIsRefused() throws {
        guard getuid() != 0 else {
            print("DiskOpeningTests: running as root, which may write any file: the permission refusal is not exercised here")
            return
        }
        let folder = DiskFolder()
        let path = folder.file("readonly.img")
        try Data(count: 4096).write(to: URL(fileURLWithPath: path))
        chmod(path, 0o400)
        let message = refusal { () throws(TenderError) in _ = try DiskSpec(path: path).open(name: "disk0") }
        #expect(message?.contains("Permission denied") == true, "\(message ?? "accepted")")
    }
}

/// HypercallHandler with one network-less guest and one 64 KiB disk (handle 0).
@Suite struct BlockHypercallTests {
    static let capacity: UInt64 = 64 << 10
    static let text = SWIFTLET_GUEST_BASE + 0x100000 ..< SWIFTLET_GUEST_BASE + 0x108000
    static let data = SWIFTLET_GUEST_BASE + 0x108000 ..< SWIFTLET_GUEST_BASE + 0x110000

    final class Fixture {
        let folder = DiskFolder()
        let guest: HypercallFixture
        let disk: BlockDevice
        let handler: HypercallHandler
        let request = BlockHypercallTests.data.lowerBound
        let buffer = BlockHypercallTests.data.lowerBound + 0x1000

        init() throws {
            guest = try HypercallFixture()
            disk = try DiskSpec(path: folder.file("disk.img"), size: BlockHypercallTests.capacity).open(name: "disk0")
            let access = GuestAccess(memorySize: UInt64(HypercallFixture.memorySize), writableSegments: [BlockHypercallTests.data],
                                     heap: BlockHypercallTests.data.upperBound ..< guest.end)
            handler = HypercallHandler(memory: guest.memory.restricted(to: access), consoleFD: guest.writeFD, blocks: [disk])
        }
        deinit { close(disk.fd) }

        /// Runs one block hypercall; the outcome and the result the guest reads back.
        func call(_ number: swiftlet_hypercall, handle: UInt32 = 0, offset: UInt64, data: UInt64, length: UInt64) -> (HypercallHandler.Outcome, swiftlet_result) {
            guest.put(swiftlet_hc_block(handle: handle, _pad: 0, offset: offset, data: data, length: length, result: -1, _pad2: 0), at: request)
            let outcome = handler.handle(number: number.rawValue, argument: GuestAddress(raw: request))
            return (outcome, swiftlet_result(rawValue: UInt32(bitPattern: guest.get(swiftlet_hc_block.self, at: request).result)))
        }

        func fileBytes() -> [UInt8] {
            var bytes = [UInt8](repeating: 0, count: Int(BlockHypercallTests.capacity))
            _ = bytes.withUnsafeMutableBytes { pread(disk.fd, $0.baseAddress, $0.count, 0) }
            return bytes
        }
    }

    @Test func writeFlushAndReadBack() throws {
        let f = try Fixture()
        let pattern = (0..<1024).map { UInt8(truncatingIfNeeded: $0 * 13) }
        f.guest.putBytes(pattern, at: f.buffer)
        #expect(f.call(SWIFTLET_HC_BLOCK_WRITE, offset: 512 * 3, data: f.buffer, length: 1024) == (.resume, SWIFTLET_R_OK))
        #expect(f.call(SWIFTLET_HC_BLOCK_FLUSH, offset: 0, data: 0, length: 0) == (.resume, SWIFTLET_R_OK))
        #expect(Array(f.fileBytes()[1536..<2560]) == pattern)
        f.guest.putBytes([UInt8](repeating: 0, count: 1024), at: f.buffer + 0x2000)
        #expect(f.call(SWIFTLET_HC_BLOCK_READ, offset: 512 * 3, data: f.buffer + 0x2000, length: 1024) == (.resume, SWIFTLET_R_OK))
        #expect(f.guest.hostBytes(at: f.buffer + 0x2000, count: 1024) == pattern)
        // The last block exactly, and the largest request allowed (capacity is below it here).
        #expect(f.call(SWIFTLET_HC_BLOCK_READ, offset: Self.capacity - 512, data: f.buffer, length: 512).1 == SWIFTLET_R_OK)
        #expect(f.call(SWIFTLET_HC_BLOCK_READ, offset: 0, data: f.buffer, length: Self.capacity).1 == SWIFTLET_R_OK)
    }

    /// Each bad request: EINVAL, the guest resumes, the disk and guest memory are untouched.
    @Test(arguments: [
        ("misaligned offset", UInt64(100), UInt64(512), false),
        ("misaligned length", 0, 700, false),
        ("zero length", 0, 0, false),
        ("past the end", capacity - 512, 1024, false),
        ("offset past the end", capacity, 512, false),
        ("offset that wraps", UInt64.max - 511, 1024, false),
        ("longer than SWIFTLET_BLOCK_IO_MAX", 0, UInt64(SWIFTLET_BLOCK_IO_MAX) + 512, false),
        ("huge length", 0, UInt64.max - 511, false),
        ("buffer outside guest memory", 0, 512, true),
    ])
    func badRequestsAreRefusedCleanly(name: String, offset: UInt64, length: UInt64, outsideMemory: Bool) throws {
        let f = try Fixture()
        let disk = f.fileBytes()
        let data = outsideMemory ? f.guest.end - 256 : f.buffer
        let memory = f.guest.hostBytes(at: f.buffer, count: 4096)
        for number in [SWIFTLET_HC_BLOCK_READ, SWIFTLET_HC_BLOCK_WRITE] {
            let (outcome, code) = f.call(number, offset: offset, data: data, length: length)
            #expect(outcome == .resume, "\(name)")
            #expect(code == SWIFTLET_R_EINVAL, "\(name): \(code)")
        }
        #expect(f.fileBytes() == disk, "\(name): the disk changed")
        #expect(f.guest.hostBytes(at: f.buffer, count: 4096) == memory, "\(name): guest memory changed")
        #expect(f.disk.requestsRefused == 2)
    }

    /// A read aimed at the guest's code, its boot info or the guard page would make the tender
    /// write where the guest itself may not: refused, nothing written. A write from code is fine
    /// (the guest may read its code), from the guard page not.
    @Test func readsIntoReadOnlyMemoryAreRefused() throws {
        let f = try Fixture()
        for (name, target) in [("code", Self.text.lowerBound), ("boot info", SWIFTLET_GUEST_BASE + SWIFTLET_BOOTINFO_OFFSET),
                               ("guard page", SWIFTLET_GUEST_BASE)] {
            let before = f.guest.hostBytes(at: target, count: 512)
            #expect(f.call(SWIFTLET_HC_BLOCK_READ, offset: 0, data: target, length: 512) == (.resume, SWIFTLET_R_EINVAL), "\(name)")
            #expect(f.guest.hostBytes(at: target, count: 512) == before, "\(name) was written")
        }
        #expect(f.call(SWIFTLET_HC_BLOCK_WRITE, offset: 0, data: Self.text.lowerBound, length: 512).1 == SWIFTLET_R_OK)
        #expect(f.call(SWIFTLET_HC_BLOCK_WRITE, offset: 0, data: SWIFTLET_GUEST_BASE, length: 512).1 == SWIFTLET_R_EINVAL)
    }

    @Test func unknownHandlesHaveNoDevice() throws {
        let f = try Fixture()
        for handle in [UInt32(1), 7, 8, UInt32.max] {
            for number in [SWIFTLET_HC_BLOCK_READ, SWIFTLET_HC_BLOCK_WRITE, SWIFTLET_HC_BLOCK_FLUSH] {
                #expect(f.call(number, handle: handle, offset: 0, data: f.buffer, length: 512) == (.resume, SWIFTLET_R_ENODEV))
            }
        }
    }

    /// The allow-list: pread64/pwrite64/fdatasync on the disk's descriptor only, lengths below
    /// 2 MiB, offsets below the capacity rounded up to a power of two.
    @Test func theFilterPinsTheDiskDescriptorAndBoundsTheRequest() throws {
        let disk = TenderDisk(fd: 5, capacity: 48 << 20)   // bound: 64 MiB
        let policy = SeccompPolicy.spt(consoleFDs: [1, 2], deviceFDs: [], disks: [disk])
        let program = try policy.compile()
        func decide(_ nr: Int32, _ args: UInt64...) throws -> SeccompAction {
            let data = SeccompData(nr: nr, args: args)
            let reference = policy.evaluate(data)
            #expect(try program.evaluate(data) == reference, "compiled filter and policy disagree")
            return reference
        }
        for nr in [SYS_pread64, SYS_pwrite64] {
            #expect(try decide(Int32(nr), 5, 0x1000, 512, 0) == .allow)
            #expect(try decide(Int32(nr), 5, 0x1000, UInt64(SWIFTLET_BLOCK_IO_MAX), (64 << 20) - (1 << 20)) == .allow)
            #expect(try decide(Int32(nr), 6, 0x1000, 512, 0) == .killProcess)         // another descriptor
            #expect(try decide(Int32(nr), 1, 0x1000, 512, 0) == .killProcess)         // the console
            #expect(try decide(Int32(nr), 5, 0x1000, 2 << 20, 0) == .killProcess)     // too long
            #expect(try decide(Int32(nr), 5, 0x1000, 512, 64 << 20) == .killProcess)  // beyond the bound
            #expect(try decide(Int32(nr), 5, 0x1000, 512, UInt64.max) == .killProcess)
        }
        #expect(try decide(Int32(SYS_fdatasync), 5) == .allow)
        #expect(try decide(Int32(SYS_fdatasync), 1) == .killProcess)
        #expect(SeccompPolicy.spt(consoleFDs: [1, 2], deviceFDs: []).rules.allSatisfy { !["pread64", "pwrite64", "fdatasync"].contains($0.name) })
    }
}

/// BLOCK_BATCH against a hostile guest: the batch is checked whole before any request runs
/// (one bad request refuses all, the others SKIPPED), the array itself must be guest-writable
/// and at most SWIFTLET_BLOCK_BATCH_MAX long, and the requests run in order until one fails.
@Suite struct BlockBatchHypercallTests {
    typealias Fixture = BlockHypercallTests.Fixture
    static let capacity = BlockHypercallTests.capacity

    static func request(_ op: swiftlet_block_op, offset: UInt64 = 0, data: UInt64 = 0, length: UInt64 = 0) -> swiftlet_block_request {
        swiftlet_block_request(op: op.rawValue, result: -1, offset: offset, data: data, length: length)
    }

    /// Where the batch's array goes (in the fixture's writable data, after the request struct).
    static func arrayAddress(_ f: Fixture) -> UInt64 { f.request + 0x100 }

    /// Puts `requests` at `array` (default: the data page) and makes the hypercall; the outcome,
    /// the batch as the guest reads it back, and the requests' results.
    static func batch(_ f: Fixture, _ requests: [swiftlet_block_request], handle: UInt32 = 0, count: UInt32? = nil,
                      array: UInt64? = nil) -> (HypercallHandler.Outcome, swiftlet_hc_block_batch, [swiftlet_result]) {
        let at = array ?? arrayAddress(f)
        let stride = UInt64(MemoryLayout<swiftlet_block_request>.stride)
        if at >= f.guest.start && at + stride * UInt64(requests.count) <= f.guest.end {
            for (index, request) in requests.enumerated() { f.guest.put(request, at: at + UInt64(index) * stride) }
        }
        f.guest.put(swiftlet_hc_block_batch(handle: handle, count: count ?? UInt32(requests.count), requests: at, completed: 99, result: -1), at: f.request)
        let outcome = f.handler.handle(number: SWIFTLET_HC_BLOCK_BATCH.rawValue, argument: GuestAddress(raw: f.request))
        let results = at >= f.guest.start && at + stride * UInt64(requests.count) <= f.guest.end
            ? requests.indices.map { swiftlet_result(rawValue: UInt32(bitPattern: f.guest.get(swiftlet_block_request.self, at: at + UInt64($0) * stride).result)) }
            : []
        return (outcome, f.guest.get(swiftlet_hc_block_batch.self, at: f.request), results)
    }

    static func code(_ batch: swiftlet_hc_block_batch) -> swiftlet_result { swiftlet_result(rawValue: UInt32(bitPattern: batch.result)) }

    @Test func writesFlushAndReadsRunInOrderInOneCall() throws {
        let f = try Fixture()
        let first = (0..<1024).map { UInt8(truncatingIfNeeded: $0 * 7) }
        let second = (0..<512).map { UInt8(truncatingIfNeeded: $0 * 11 + 1) }
        f.guest.putBytes(first, at: f.buffer)
        f.guest.putBytes(second, at: f.buffer + 0x1000)
        // The read of block 0 comes after the second write to it: order is kept.
        let (outcome, batch, results) = Self.batch(f, [
            Self.request(SWIFTLET_BLOCK_OP_WRITE, offset: 0, data: f.buffer, length: 1024),
            Self.request(SWIFTLET_BLOCK_OP_WRITE, offset: 0, data: f.buffer + 0x1000, length: 512),
            Self.request(SWIFTLET_BLOCK_OP_FLUSH),
            Self.request(SWIFTLET_BLOCK_OP_READ, offset: 0, data: f.buffer + 0x2000, length: 1024),
            Self.request(SWIFTLET_BLOCK_OP_READ, offset: Self.capacity - 512, data: f.buffer + 0x3000, length: 512),
        ])
        #expect(outcome == .resume)
        #expect(Self.code(batch) == SWIFTLET_R_OK && batch.completed == 5)
        #expect(results == Array(repeating: SWIFTLET_R_OK, count: 5))
        #expect(f.guest.hostBytes(at: f.buffer + 0x2000, count: 1024) == second + first[512...])
        #expect(Array(f.fileBytes()[0..<1024]) == second + first[512...])
    }

    /// The largest batch is served; one more request is refused before anything is looked at.
    @Test func theCountIsCapped() throws {
        let f = try Fixture()
        let max = Int(SWIFTLET_BLOCK_BATCH_MAX)
        let reads = (0..<max).map { Self.request(SWIFTLET_BLOCK_OP_READ, offset: UInt64($0) * 512, data: f.buffer, length: 512) }
        let (_, served, _) = Self.batch(f, reads)
        #expect(Self.code(served) == SWIFTLET_R_OK && served.completed == UInt32(max))
        for count in [UInt32(0), SWIFTLET_BLOCK_BATCH_MAX + 1, UInt32.max] {
            let writes = (0..<max + 1).map { Self.request(SWIFTLET_BLOCK_OP_WRITE, offset: UInt64($0) * 512, data: f.buffer, length: 512) }
            f.guest.putBytes([UInt8](repeating: 0x5A, count: 512), at: f.buffer)
            let (outcome, batch, results) = Self.batch(f, writes, count: count)
            #expect(outcome == .resume, "count \(count)")
            #expect(Self.code(batch) == SWIFTLET_R_EINVAL && batch.completed == 0, "count \(count)")
            #expect(results.allSatisfy { $0.rawValue == UInt32(bitPattern: -1) }, "count \(count): the array was written")
            #expect(f.fileBytes().allSatisfy { $0 == 0 }, "count \(count): the disk changed")
        }
    }

    /// The array outside guest memory, straddling its end, or where the guest may not write
    /// (its code, boot info, the guard page): refused, nothing run, nothing written there.
    @Test func anArrayTheGuestMayNotWriteIsRefused() throws {
        let f = try Fixture()
        let stride = UInt64(MemoryLayout<swiftlet_block_request>.stride)
        let write = Self.request(SWIFTLET_BLOCK_OP_WRITE, offset: 0, data: f.buffer, length: 512)
        f.guest.putBytes([UInt8](repeating: 0x5A, count: 512), at: f.buffer)
        for (name, array) in [("outside guest memory", f.guest.end + 0x1000), ("straddling the end", f.guest.end - stride),
                              ("wrapping", UInt64.max - 8), ("in code", BlockHypercallTests.text.lowerBound),
                              ("in boot info", SWIFTLET_GUEST_BASE + SWIFTLET_BOOTINFO_OFFSET), ("in the guard page", SWIFTLET_GUEST_BASE)] {
            let before = array >= f.guest.start && array < f.guest.end ? f.guest.hostBytes(at: array, count: Int(min(2 * stride, f.guest.end - array))) : []
            let (outcome, batch, _) = Self.batch(f, [], count: 2, array: array)
            #expect(outcome == .resume, "\(name)")
            #expect(Self.code(batch) == SWIFTLET_R_EINVAL && batch.completed == 0, "\(name)")
            if !before.isEmpty { #expect(f.guest.hostBytes(at: array, count: before.count) == before, "\(name): written") }
        }
        // The same write from a writable array is served: the refusals were about the array.
        let (_, batch, _) = Self.batch(f, [write, write])
        #expect(Self.code(batch) == SWIFTLET_R_OK)
        #expect(f.disk.requestsRefused == 6)
    }

    /// One bad request anywhere among good ones: the whole batch is refused before any I/O:
    /// the batch EINVAL, completed 0, the bad request EINVAL, every other SKIPPED, the disk and
    /// the good reads' buffers untouched.
    @Test(arguments: [
        ("misaligned offset", BlockBatchHypercallTests.request(SWIFTLET_BLOCK_OP_WRITE, offset: 100, data: BlockHypercallTests.data.lowerBound + 0x1000, length: 512)),
        ("past the end", BlockBatchHypercallTests.request(SWIFTLET_BLOCK_OP_READ, offset: capacity, data: BlockHypercallTests.data.lowerBound + 0x1000, length: 512)),
        ("too long", BlockBatchHypercallTests.request(SWIFTLET_BLOCK_OP_READ, offset: 0, data: BlockHypercallTests.data.lowerBound + 0x1000, length: UInt64(SWIFTLET_BLOCK_IO_MAX) + 512)),
        ("read into code", BlockBatchHypercallTests.request(SWIFTLET_BLOCK_OP_READ, offset: 0, data: BlockHypercallTests.text.lowerBound, length: 512)),
        ("read into boot info", BlockBatchHypercallTests.request(SWIFTLET_BLOCK_OP_READ, offset: 0, data: SWIFTLET_GUEST_BASE + SWIFTLET_BOOTINFO_OFFSET, length: 512)),
        ("write from the guard page", BlockBatchHypercallTests.request(SWIFTLET_BLOCK_OP_WRITE, offset: 0, data: SWIFTLET_GUEST_BASE, length: 512)),
        ("buffer outside guest memory", BlockBatchHypercallTests.request(SWIFTLET_BLOCK_OP_READ, offset: 0, data: SWIFTLET_GUEST_BASE + UInt64(HypercallFixture.memorySize), length: 512)),
        ("unknown op", swiftlet_block_request(op: 7, result: -1, offset: 0, data: BlockHypercallTests.data.lowerBound + 0x1000, length: 512)),
    ])
    func oneBadRequestRefusesTheWholeBatch(name: String, bad: swiftlet_block_request) throws {
        for position in 0..<3 {
            let f = try Fixture()
            f.guest.putBytes([UInt8](repeating: 0x5A, count: 512), at: f.buffer)
            let codeBefore = f.guest.hostBytes(at: BlockHypercallTests.text.lowerBound, count: 512)
            let readTarget = f.buffer + 0x2000
            let readBefore = f.guest.hostBytes(at: readTarget, count: 512)
            var requests = [Self.request(SWIFTLET_BLOCK_OP_WRITE, offset: 512, data: f.buffer, length: 512),
                            Self.request(SWIFTLET_BLOCK_OP_FLUSH),
                            Self.request(SWIFTLET_BLOCK_OP_READ, offset: 512, data: readTarget, length: 512)]
            requests.insert(bad, at: position)
            let (outcome, batch, results) = Self.batch(f, requests)
            #expect(outcome == .resume, "\(name) at \(position)")
            #expect(Self.code(batch) == SWIFTLET_R_EINVAL && batch.completed == 0, "\(name) at \(position)")
            var expected = Array(repeating: SWIFTLET_R_SKIPPED, count: 4)
            expected[position] = SWIFTLET_R_EINVAL
            #expect(results == expected, "\(name) at \(position): \(results)")
            #expect(f.fileBytes().allSatisfy { $0 == 0 }, "\(name) at \(position): the disk changed")
            #expect(f.guest.hostBytes(at: readTarget, count: 512) == readBefore, "\(name) at \(position): a read ran")
            #expect(f.guest.hostBytes(at: BlockHypercallTests.text.lowerBound, count: 512) == codeBefore, "\(name): code written")
            #expect(f.disk.requestsRefused == 1)
        }
    }

    @Test func anUnknownHandleHasNoDeviceAndTheArrayIsLeftAlone() throws {
        let f = try Fixture()
        for handle in [UInt32(1), 8, UInt32.max] {
            let (outcome, batch, results) = Self.batch(f, [Self.request(SWIFTLET_BLOCK_OP_FLUSH)], handle: handle)
            #expect(outcome == .resume)
            #expect(Self.code(batch) == SWIFTLET_R_ENODEV && batch.completed == 0)
            #expect(results.map(\.rawValue) == [UInt32(bitPattern: -1)])
        }
    }

    /// A request the host fails (a write to a disk opened read-only: EBADF) ends the batch:
    /// the ones before it are done, it is EIO, the ones after are SKIPPED (the flush after a
    /// failed write does not report success).
    @Test func aFailingRequestSkipsTheRest() throws {
        let f = try Fixture()
        let readOnly = open(f.disk.path, O_RDONLY | O_CLOEXEC)
        defer { close(readOnly) }
        let disk = BlockDevice(name: "ro", path: f.disk.path, fd: readOnly, capacity: Self.capacity)
        let handler = HypercallHandler(memory: f.handler.memory, consoleFD: f.guest.writeFD, blocks: [disk])
        let requests = [Self.request(SWIFTLET_BLOCK_OP_READ, offset: 0, data: f.buffer, length: 512),
                        Self.request(SWIFTLET_BLOCK_OP_WRITE, offset: 0, data: f.buffer, length: 512),
                        Self.request(SWIFTLET_BLOCK_OP_FLUSH),
                        Self.request(SWIFTLET_BLOCK_OP_READ, offset: 512, data: f.buffer, length: 512)]
        let array = Self.arrayAddress(f)
        let stride = UInt64(MemoryLayout<swiftlet_block_request>.stride)
        for (index, request) in requests.enumerated() { f.guest.put(request, at: array + UInt64(index) * stride) }
        f.guest.put(swiftlet_hc_block_batch(handle: 0, count: 4, requests: array, completed: 0, result: -1), at: f.request)
        #expect(handler.handle(number: SWIFTLET_HC_BLOCK_BATCH.rawValue, argument: GuestAddress(raw: f.request)) == .resume)
        let batch = f.guest.get(swiftlet_hc_block_batch.self, at: f.request)
        #expect(Self.code(batch) == SWIFTLET_R_EIO && batch.completed == 1)
        let results = (0..<4).map { swiftlet_result(rawValue: UInt32(bitPattern: f.guest.get(swiftlet_block_request.self, at: array + UInt64($0) * stride).result)) }
        #expect(results == [SWIFTLET_R_OK, SWIFTLET_R_EIO, SWIFTLET_R_SKIPPED, SWIFTLET_R_SKIPPED])
    }
}
