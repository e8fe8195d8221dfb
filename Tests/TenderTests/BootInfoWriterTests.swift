// BootInfoWriter: the boot info page and argument block the guest reads at entry.
import SwiftletABI
import TenderTestSupport
import Testing
@testable import TenderCore

/// Guest memory in a heap buffer, filled with a marker so untouched bytes can be recognised.
private final class BootMemory {
    static let marker: UInt8 = 0xC7
    private let host: TestGuestMemory
    var pointer: UnsafeMutableRawPointer { host.pointer }
    var memory: GuestMemory { host.memory }
    let size: Int

    init(size: Int = 4 << 20) {
        self.size = size
        host = TestGuestMemory(size: size, fill: Self.marker)
    }

    func bytes(at address: UInt64, count: Int) -> [UInt8] {
        Array(UnsafeRawBufferPointer(start: pointer + Int(address - SWIFTLET_GUEST_BASE), count: count))
    }

    /// Offsets of bytes outside [start, end) (guest addresses) that no longer hold the marker.
    func changedOutside(_ start: UInt64, _ end: UInt64) -> [Int] {
        let all = UnsafeRawBufferPointer(start: pointer, count: size)
        let low = Int(start - SWIFTLET_GUEST_BASE), high = Int(end - SWIFTLET_GUEST_BASE)
        var changed: [Int] = []
        for (offset, byte) in all.enumerated() where (offset < low || offset >= high) && byte != Self.marker {
            changed.append(offset)
            if changed.count > 16 { break }
        }
        return changed
    }

    var untouched: Bool {
        UnsafeRawBufferPointer(start: pointer, count: size).allSatisfy { $0 == Self.marker }
    }
}

private func seed(_ info: swiftlet_boot_info) -> [UInt8] {
    withUnsafeBytes(of: info.random_seed) { Array($0) }
}

@Suite struct BootInfoWriterTests {
    static let imageEnd = SWIFTLET_GUEST_BASE + 0x10_8123 // mid-page: the heap starts on the next page
    static let bootStart = SWIFTLET_GUEST_BASE + SWIFTLET_BOOTINFO_OFFSET
    static let bootEnd = bootStart + SWIFTLET_BOOTINFO_SIZE

    @Test func layout() {
        let layout = BootLayout(memorySize: 4 << 20, imageEnd: Self.imageEnd)
        #expect(layout.bootInfo.raw == Self.bootStart)
        #expect(layout.heapStart.raw == SWIFTLET_GUEST_BASE + 0x10_9000)
        #expect(layout.heapEnd.raw == SWIFTLET_GUEST_BASE + (4 << 20))
        #expect(layout.stackTop.raw == SWIFTLET_GUEST_BASE + SWIFTLET_STACK_TOP)
        #expect(layout.bulkHeap.isEmpty, "4 MiB: no heap past the first 2 MiB but the last chunk")
        let large = BootLayout(memorySize: 256 << 20, imageEnd: Self.imageEnd)
        #expect(large.bulkHeap == SWIFTLET_GUEST_BASE + 0x10_9000 + (2 << 20) ..< SWIFTLET_GUEST_BASE + (254 << 20))
        // An image ending on a page boundary: the heap starts right there.
        #expect(BootLayout(memorySize: 4 << 20, imageEnd: SWIFTLET_GUEST_BASE + 0x10_8000).heapStart.raw
                == SWIFTLET_GUEST_BASE + 0x10_8000)
    }

    @Test func writesBootInfoAndArguments() throws {
        let m = BootMemory()
        let layout = BootLayout(memorySize: UInt64(m.size), imageEnd: Self.imageEnd)
        var writer = BootInfoWriter(target: SWIFTLET_TARGET_SPT)
        writer.tscHz = 2_500_000_000
        writer.hypercallEntry = 0x7F00_1234_5678
        try writer.write(into: m.memory, layout: layout, arguments: ["img", "a", "héllo"])

        let info = try m.memory.load(swiftlet_boot_info.self, at: layout.bootInfo)
        #expect(info.magic == SWIFTLET_BOOT_MAGIC)
        #expect(info.abi_version == SWIFTLET_ABI_VERSION)
        #expect(info.target == SWIFTLET_TARGET_SPT)
        #expect(info.flags == 0)
        #expect(info.mem_size == UInt64(m.size))
        #expect(info.heap_start == SWIFTLET_GUEST_BASE + 0x10_9000)
        #expect(info.heap_end == SWIFTLET_GUEST_BASE + UInt64(m.size))
        #expect(info.heap_start <= info.heap_end)
        #expect(info.tsc_hz == 2_500_000_000)
        #expect(info.hypercall_entry == 0x7F00_1234_5678)
        #expect(info.device_count == 0)
        #expect(info.reserved == 0)
        #expect(info.argc == 3)

        // The block: argc NUL-terminated UTF-8 strings back to back, after the struct, inside
        // the read-only boot info area.
        let expected: [UInt8] = Array("img".utf8) + [0] + Array("a".utf8) + [0] + [0x68, 0xC3, 0xA9, 0x6C, 0x6C, 0x6F, 0]
        #expect(info.argv_block_len == UInt32(expected.count))
        #expect(info.argv_block >= Self.bootStart + UInt64(MemoryLayout<swiftlet_boot_info>.size))
        #expect(info.argv_block + UInt64(info.argv_block_len) <= Self.bootEnd)
        #expect(m.bytes(at: info.argv_block, count: expected.count) == expected)

        // Nothing outside the boot info area was written.
        #expect(m.changedOutside(Self.bootStart, Self.bootEnd).isEmpty)
    }

    @Test func randomSeedIsFreshEveryBoot() throws {
        let m = BootMemory()
        let layout = BootLayout(memorySize: UInt64(m.size), imageEnd: Self.imageEnd)
        let writer = BootInfoWriter(target: SWIFTLET_TARGET_HVT)
        try writer.write(into: m.memory, layout: layout, arguments: ["img"])
        let first = seed(try m.memory.load(swiftlet_boot_info.self, at: layout.bootInfo))
        try writer.write(into: m.memory, layout: layout, arguments: ["img"])
        let second = seed(try m.memory.load(swiftlet_boot_info.self, at: layout.bootInfo))
        #expect(first.count == 32)
        #expect(first.contains { $0 != 0 })
        #expect(second.contains { $0 != 0 })
        #expect(first != second)
        #expect(!first.allSatisfy { $0 == BootMemory.marker }) // really written, not left over
    }

    @Test func noArguments() throws {
        let m = BootMemory()
        let layout = BootLayout(memorySize: UInt64(m.size), imageEnd: Self.imageEnd)
        try BootInfoWriter(target: SWIFTLET_TARGET_HVT).write(into: m.memory, layout: layout, arguments: [])
        let info = try m.memory.load(swiftlet_boot_info.self, at: layout.bootInfo)
        #expect(info.argc == 0)
        #expect(info.argv_block_len == 0)
        #expect(info.magic == SWIFTLET_BOOT_MAGIC)
    }

    /// Bytes of argument block that fit after the struct in the boot info area.
    static var room: Int {
        Int(SWIFTLET_BOOTINFO_SIZE) - ((MemoryLayout<swiftlet_boot_info>.size + 63) & ~63)
    }

    @Test func argumentsThatExactlyFill() throws {
        let m = BootMemory()
        let layout = BootLayout(memorySize: UInt64(m.size), imageEnd: Self.imageEnd)
        // "img\0" + one long argument + NUL == room.
        let long = String(repeating: "x", count: Self.room - 4 - 1)
        try BootInfoWriter(target: SWIFTLET_TARGET_HVT).write(into: m.memory, layout: layout, arguments: ["img", long])
        let info = try m.memory.load(swiftlet_boot_info.self, at: layout.bootInfo)
        #expect(Int(info.argv_block_len) == Self.room)
        #expect(info.argv_block + UInt64(info.argv_block_len) == Self.bootEnd)
        #expect(m.bytes(at: Self.bootEnd - 2, count: 2) == [0x78, 0])
        #expect(m.changedOutside(Self.bootStart, Self.bootEnd).isEmpty)
    }

    @Test(arguments: [1, 100, 1 << 20])
    func argumentsTooLongAreRefused(extra: Int) throws {
        let m = BootMemory()
        let layout = BootLayout(memorySize: UInt64(m.size), imageEnd: Self.imageEnd)
        let long = String(repeating: "y", count: Self.room - 4 - 1 + extra)
        var thrown: TenderError?
        do {
            try BootInfoWriter(target: SWIFTLET_TARGET_HVT).write(into: m.memory, layout: layout, arguments: ["img", long])
        } catch {
            thrown = error
        }
        let error = try #require(thrown)
        #expect(!"\(error)".isEmpty)
        #expect(m.changedOutside(Self.bootStart, Self.bootEnd).isEmpty)
        #expect(m.untouched) // refused before anything was written
    }

    @Test func manyShortArgumentsTooLong() throws {
        let m = BootMemory()
        let layout = BootLayout(memorySize: UInt64(m.size), imageEnd: Self.imageEnd)
        let arguments = ["img"] + Array(repeating: "", count: Self.room) // 4 + room NULs
        #expect(throws: TenderError.self) {
            try BootInfoWriter(target: SWIFTLET_TARGET_HVT).write(into: m.memory, layout: layout, arguments: arguments)
        }
        #expect(m.changedOutside(Self.bootStart, Self.bootEnd).isEmpty)
    }

    @Test func memoryTooSmallForBootInfoThrows() throws {
        // 64 KiB of memory ends before the boot info area: a TenderError, not a trap.
        let m = BootMemory(size: 0x10000)
        let layout = BootLayout(memorySize: UInt64(m.size), imageEnd: Self.imageEnd)
        #expect(throws: TenderError.self) {
            try BootInfoWriter(target: SWIFTLET_TARGET_HVT).write(into: m.memory, layout: layout, arguments: ["img"])
        }
        #expect(m.untouched)
    }
}
