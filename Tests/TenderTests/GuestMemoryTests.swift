import Foundation
import SwiftletABI
import Testing
@testable import TenderCore
import TenderTestSupport

@Suite struct GuestMemoryTests {
    static let base = SWIFTLET_GUEST_BASE
    let buffer = TestGuestMemory(size: 0x10000, fill: 0)
    var memory: GuestMemory { buffer.memory }

    func refusal(_ address: UInt64, _ count: UInt64, limit: UInt64? = nil) -> GuestMemoryError? {
        do { _ = try memory.bytes(at: GuestAddress(raw: address), count: count, limit: limit); return nil } catch {
            return error
        }
    }

    @Test func bounds() {
        #expect(memory.start == GuestAddress(raw: Self.base))
        #expect(memory.end == GuestAddress(raw: Self.base + 0x10000))
        #expect(refusal(Self.base, 0x10000) == nil)
        #expect(refusal(Self.base + 0xFFFF, 1) == nil)
    }

    @Test func belowBase() {
        #expect(refusal(Self.base - 1, 1) == .belowBase(address: GuestAddress(raw: Self.base - 1), count: 1))
        #expect(refusal(0, 0) == .belowBase(address: GuestAddress(raw: 0), count: 0))
        // Straddling the base from below is still below.
        #expect(refusal(Self.base - 4, 8) != nil)
    }

    @Test func beyondEnd() {
        let end = Self.base + 0x10000
        #expect(refusal(end - 4, 8) == .beyondEnd(address: GuestAddress(raw: end - 4), count: 8, memorySize: 0x10000))
        #expect(refusal(end, 1) != nil)
        #expect(refusal(end + 1, 0) != nil)
        #expect(refusal(Self.base, 0x10001) != nil)
        #expect(refusal(UInt64.max, 0) != nil)
    }

    @Test func overflow() {
        #expect(refusal(UInt64.max - 1, 4) == .overflow(address: GuestAddress(raw: UInt64.max - 1), count: 4))
        #expect(refusal(Self.base, UInt64.max) == .overflow(address: GuestAddress(raw: Self.base), count: UInt64.max))
        #expect(refusal(Self.base + 8, UInt64.max - Self.base) != nil)
    }

    @Test func zeroLengthAtEndIsAllowed() throws {
        let buffer = try memory.bytes(at: memory.end, count: 0)
        #expect(buffer.count == 0)
        #expect(refusal(Self.base, 0) == nil)
    }

    @Test func limit() {
        #expect(refusal(Self.base, 0x101, limit: 0x100)
            == .tooLarge(address: GuestAddress(raw: Self.base), count: 0x101, limit: 0x100))
        #expect(refusal(Self.base, 0x100, limit: 0x100) == nil)
    }

    @Test func loadStoreUnaligned() throws {
        let address = GuestAddress(raw: Self.base + 0x101) // odd address
        try memory.store(UInt64(0x1122_3344_5566_7788), at: address)
        #expect(try memory.load(UInt64.self, at: address) == 0x1122_3344_5566_7788)
        #expect(buffer[Self.base + 0x101] == 0x88)
        #expect(try memory.load(UInt8.self, at: GuestAddress(raw: Self.base + 0x109)) == 0)
        #expect(try memory.load(UInt8.self, at: GuestAddress(raw: Self.base + 0x108)) == 0x11)
        // A struct from the ABI header.
        try memory.store(swiftlet_hc_time(nanoseconds: 42), at: GuestAddress(raw: Self.base + 0x203))
        #expect(try memory.load(swiftlet_hc_time.self, at: GuestAddress(raw: Self.base + 0x203)).nanoseconds == 42)
        // The last 8 bytes are reachable, one more is not.
        try memory.store(UInt64.max, at: GuestAddress(raw: Self.base + 0x10000 - 8))
        #expect(throws: GuestMemoryError.self) { try memory.store(UInt64.max, at: GuestAddress(raw: Self.base + 0x10000 - 7)) }
        #expect(throws: GuestMemoryError.self) { try memory.load(UInt16.self, at: GuestAddress(raw: UInt64.max)) }
    }

    @Test func copyInOutAndFill() throws {
        let bytes: [UInt8] = [1, 2, 3, 4, 5]
        try bytes.withUnsafeBytes { raw in
            try memory.copyIn(raw, at: GuestAddress(raw: Self.base + 0x10))
        }
        #expect(try memory.copyOut(at: GuestAddress(raw: Self.base + 0x10), count: 5) == bytes)
        try memory.fill(at: GuestAddress(raw: Self.base + 0x11), count: 3, with: 0xEE)
        #expect(try memory.copyOut(at: GuestAddress(raw: Self.base + 0x10), count: 5) == [1, 0xEE, 0xEE, 0xEE, 5])
        #expect(throws: GuestMemoryError.self) { try memory.copyOut(at: GuestAddress(raw: Self.base), count: 16, limit: 8) }
        #expect(throws: GuestMemoryError.self) {
            try bytes.withUnsafeBytes { raw in
                try memory.copyIn(raw, at: GuestAddress(raw: Self.base + 0x10000 - 4))
            }
        }
        // Refused writes leave memory alone.
        #expect(buffer[Self.base + 0x10000 - 4] == 0)
    }

    @Test func mappedMemory() throws {
        let mapped = try GuestMemory(size: 1 << 20)
        defer { mapped.unmap() }
        #expect(mapped.ownsMapping)
        #expect(UInt(bitPattern: mapped.base) % UInt(GuestMemory.hugePageSize) == 0, "huge pages need a 2 MiB-aligned mapping")
        #expect(try mapped.load(UInt64.self, at: GuestAddress(raw: Self.base + 0x8_0000)) == 0)
        try mapped.store(UInt32(7), at: GuestAddress(raw: Self.base + (1 << 20) - 4))
        #expect(try mapped.load(UInt32.self, at: GuestAddress(raw: Self.base + (1 << 20) - 4)) == 7)
        #expect(throws: GuestMemoryError.invalidSize(size: 0)) { try GuestMemory(size: 0) }
        #expect(throws: GuestMemoryError.invalidSize(size: -1)) { try GuestMemory(size: -1) }
    }

    /// Only the whole 2 MiB chunks inside the range are advised (the kernel marks that part of
    /// the mapping `hg` in smaps); a range holding no whole chunk asks for nothing.
    @Test func hugePagesCoverWholeChunksInsideTheRangeOnly() throws {
        let mapped = try GuestMemory(size: 16 << 20)
        defer { mapped.unmap() }
        let mib = UInt64(1 << 20)
        #expect(mapped.adviseHugePages(Self.base + 5 * mib ..< Self.base + 6 * mib))
        #expect(try #require(Self.hugePageRanges(of: mapped)).isEmpty)
        guard mapped.adviseHugePages(Self.base + 3 * mib ..< Self.base + 11 * mib) else { return }   // no THP in this kernel
        let start = UInt64(UInt(bitPattern: mapped.base))
        #expect(Self.hugePageRanges(of: mapped) == [start + 4 * mib ..< start + 10 * mib])
    }

    /// The ranges of `memory`'s host mapping that /proc/self/smaps shows with the `hg` flag
    /// (read whole through a handle: `String(contentsOfFile:)` stops after the first 4 KiB).
    static func hugePageRanges(of memory: GuestMemory) -> [Range<UInt64>]? {
        guard let data = FileHandle(forReadingAtPath: "/proc/self/smaps")?.readDataToEndOfFile(), !data.isEmpty else { return nil }
        let smaps = String(decoding: data, as: UTF8.self)
        let low = UInt64(UInt(bitPattern: memory.base)), high = low + UInt64(memory.size)
        var ranges: [Range<UInt64>] = [], current: Range<UInt64>?
        for line in smaps.split(separator: "\n") {
            let fields = line.split(separator: " ")
            if let bounds = fields.first?.split(separator: "-"), bounds.count == 2,
               let from = UInt64(bounds[0], radix: 16), let to = UInt64(bounds[1], radix: 16) {
                current = from ..< to
            } else if fields.first == "VmFlags:", fields.contains("hg"), let range = current, range.lowerBound >= low, range.upperBound <= high {
                ranges.append(range)
            }
        }
        return ranges
    }

    @Test func messages() {
        let below = GuestMemoryError.belowBase(address: GuestAddress(raw: 0x1234), count: 8).description
        #expect(below.contains("0x1234") && below.contains("below"))
        let beyond = GuestMemoryError.beyondEnd(address: GuestAddress(raw: 0x1_0000_fffc), count: 8, memorySize: 0x10000)
        #expect(beyond.description.contains("0x10000fffc") && beyond.description.contains("past the end"))
        #expect(GuestMemoryError.overflow(address: GuestAddress(raw: UInt64.max), count: 2).description.contains("wraps"))
        #expect(GuestAddress(raw: 0x100100000).description == "0x100100000")
        #expect(GuestAddress(raw: 5).adding(UInt64.max) == nil)
        #expect(GuestAddress(raw: 5).adding(3) == GuestAddress(raw: 8))
    }
}

/// Once the guest runs, the tender writes only where the guest itself may write and reads only
/// what the guest may read: a hypercall cannot make the tender write into code or boot info.
@Suite struct GuestAccessTests {
    static let base = SWIFTLET_GUEST_BASE
    static let text = ELFImage.imageBase ..< ELFImage.imageBase + 0x4000
    static let data = ELFImage.imageBase + 0x4000 ..< ELFImage.imageBase + 0x5800
    static let heap = ELFImage.imageBase + 0x6000 ..< base + 0x20_0000
    let buffer = TestGuestMemory(size: 0x20_0000, fill: 0)
    var memory: GuestMemory {
        buffer.memory.restricted(to: GuestAccess(memorySize: 0x20_0000, writableSegments: [Self.data], heap: Self.heap))
    }

    func writeRefusal(_ address: UInt64, _ count: UInt64) -> GuestMemoryError? {
        do { _ = try memory.writableBytes(at: GuestAddress(raw: address), count: count); return nil } catch { return error }
    }

    @Test func writesGoOnlyToStackDataAndHeap() {
        let stack = Self.base + SWIFTLET_STACK_BOTTOM, bootInfo = Self.base + SWIFTLET_BOOTINFO_OFFSET
        for (address, count) in [(stack, UInt64(8)), (Self.base + SWIFTLET_STACK_TOP - 8, 8), (Self.data.lowerBound, 0x1800),
                                 (Self.heap.lowerBound, 16), (Self.heap.upperBound - 1, 1)] {
            #expect(writeRefusal(address, count) == nil, "\(hex(address))+\(count)")
        }
        for (address, count) in [(Self.text.lowerBound, UInt64(1)), (Self.text.upperBound - 4, 8),      // code, and code into data
                                 (bootInfo, 8), (Self.base + SWIFTLET_STACK_TOP - 4, 8),               // boot info, stack into boot info
                                 (Self.data.upperBound - 4, 8),                                       // data into the gap before the heap
                                 (Self.base, 8), (Self.base + 0x800, 0x1000)] {                        // the guard page
            #expect(writeRefusal(address, count) == .notWritable(address: GuestAddress(raw: address), count: count),
                    "\(hex(address))+\(count)")
        }
        // Outside memory is still refused as such, and nothing wraps.
        #expect(writeRefusal(Self.base + 0x20_0000, 1) == .beyondEnd(address: GuestAddress(raw: Self.base + 0x20_0000), count: 1, memorySize: 0x20_0000))
        #expect(writeRefusal(UInt64.max - 3, 8) != nil)
    }

    @Test func everyWritingAccessorUsesTheCheck() {
        let text = GuestAddress(raw: Self.text.lowerBound)
        #expect(throws: GuestMemoryError.notWritable(address: text, count: 8)) { try memory.store(UInt64(1), at: text) }
        #expect(throws: GuestMemoryError.notWritable(address: text, count: 4)) { try memory.fill(at: text, count: 4, with: 0x90) }
        let code: [UInt8] = [0x0F, 0x05]
        #expect(throws: GuestMemoryError.notWritable(address: text, count: 2)) {
            try code.withUnsafeBytes { try memory.copyIn($0, at: text) }
        }
        #expect(buffer[Self.text.lowerBound] == 0)
        // Reading code is fine (a console write may come from .rodata or .text).
        #expect(throws: Never.self) { try memory.load(UInt64.self, at: text) }
    }

    @Test func theGuardPageIsNotRead() {
        let guard_ = GuestAddress(raw: Self.base + 0x10)
        #expect(throws: GuestMemoryError.notReadable(address: guard_, count: 8)) { try memory.load(UInt64.self, at: guard_) }
        #expect(throws: GuestMemoryError.notReadable(address: GuestAddress(raw: Self.base + SWIFTLET_STACK_BOTTOM - 4), count: 8)) {
            try memory.load(UInt64.self, at: GuestAddress(raw: Self.base + SWIFTLET_STACK_BOTTOM - 4))
        }
    }

    @Test func theLoaderStillWritesEverywhere() throws {
        try buffer.memory.store(UInt32(0xC3C3_C3C3), at: GuestAddress(raw: Self.text.lowerBound))
        try buffer.memory.store(UInt32(7), at: GuestAddress(raw: Self.base + SWIFTLET_BOOTINFO_OFFSET))
        #expect(buffer[Self.text.lowerBound] == 0xC3)
    }

    @Test func rangesMergeAndNeverWrap() {
        let ranges = GuestRanges([10 ..< 20, 0 ..< 5, 18 ..< 30, 5 ..< 5, 40 ..< 50])
        #expect(ranges.ranges == [0 ..< 5, 10 ..< 30, 40 ..< 50])
        #expect(ranges.contains(10, count: 20) && !ranges.contains(4, count: 2) && !ranges.contains(29, count: 2))
        #expect(!GuestRanges([0 ..< UInt64.max]).contains(UInt64.max - 1, count: 4))
    }
}
