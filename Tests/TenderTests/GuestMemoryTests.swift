import SwiftletABI
import Testing
@testable import TenderCore

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
        #expect(try mapped.load(UInt64.self, at: GuestAddress(raw: Self.base + 0x8_0000)) == 0)
        try mapped.store(UInt32(7), at: GuestAddress(raw: Self.base + (1 << 20) - 4))
        #expect(try mapped.load(UInt32.self, at: GuestAddress(raw: Self.base + (1 << 20) - 4)) == 7)
        #expect(throws: GuestMemoryError.invalidSize(size: 0)) { try GuestMemory(size: 0) }
        #expect(throws: GuestMemoryError.invalidSize(size: -1)) { try GuestMemory(size: -1) }
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
