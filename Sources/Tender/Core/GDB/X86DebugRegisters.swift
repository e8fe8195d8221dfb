// Hardware watchpoints (`Z2` write, `Z4` access) as x86 debug registers: four address
// registers DR0–DR3, each watching 1, 2, 4 or 8 aligned bytes, enabled and shaped by DR7; after
// a hit, DR6's B0–B3 say which fired. The session keeps this value and hands it to the tender:
// spt loads it into the guest process (PTRACE_POKEUSER); hvt cannot (KVM-PVM loads no debug
// registers for the guest) and checks write watchpoints by stepping. x86 has no read-only
// watch, so `Z3` stays unsupported, as in gdbserver.

/// One watched region, as the client asked for it.
public struct GDBWatchpoint: Hashable, Sendable {
    public enum Kind: UInt8, Sendable {
        case write = 2, access = 4
    }
    public var kind: Kind
    public var address: UInt64
    public var length: UInt64

    public init(kind: Kind, address: UInt64, length: UInt64) {
        self.kind = kind; self.address = address; self.length = length
    }
}

public struct X86DebugRegisters: Equatable, Sendable {
    public static let slotCount = 4
    /// The longest region one watchpoint may cover (it is split into aligned pieces).
    public static let maximumLength: UInt64 = 32

    /// An aligned piece of a watchpoint, in one address register.
    public struct Slot: Equatable, Sendable {
        public var watchpoint: GDBWatchpoint
        public var address: UInt64
        public var length: UInt64
    }

    public private(set) var slots: [Slot?] = Array(repeating: nil, count: slotCount)

    public init() {}

    public var isEmpty: Bool { slots.allSatisfy { $0 == nil } }

    /// Takes free address registers for `watchpoint`'s aligned pieces; false (nothing
    /// changed) when too few are free or the region is empty, too long or wraps around.
    public mutating func insert(_ watchpoint: GDBWatchpoint) -> Bool {
        if slots.contains(where: { $0?.watchpoint == watchpoint }) { return true }
        guard let pieces = Self.alignedPieces(address: watchpoint.address, length: watchpoint.length) else { return false }
        let free = slots.indices.filter { slots[$0] == nil }
        guard pieces.count <= free.count else { return false }
        for (index, piece) in zip(free, pieces) {
            slots[index] = Slot(watchpoint: watchpoint, address: piece.address, length: piece.length)
        }
        return true
    }

    public mutating func remove(_ watchpoint: GDBWatchpoint) {
        for index in slots.indices where slots[index]?.watchpoint == watchpoint { slots[index] = nil }
    }

    /// The inserted watchpoints, each once, in register order.
    public var watchpoints: [GDBWatchpoint] {
        var seen = Set<GDBWatchpoint>()
        return slots.compactMap { $0?.watchpoint }.filter { seen.insert($0).inserted }
    }

    /// DR0–DR3 (zero where unused).
    public var addresses: [UInt64] { slots.map { $0?.address ?? 0 } }

    /// DR7: per used register, its local-enable bit, R/W (01 write, 11 read or write) and LEN
    /// (00 one byte, 01 two, 11 four, 10 eight).
    public var control: UInt64 {
        var value: UInt64 = 0
        for (index, slot) in slots.enumerated() {
            guard let slot else { continue }
            let access: UInt64 = slot.watchpoint.kind == .write ? 0b01 : 0b11
            let size: UInt64 = switch slot.length { case 1: 0b00; case 2: 0b01; case 8: 0b10; default: 0b11 }
            value |= 1 << (2 * UInt64(index))
            value |= (access | size << 2) << (16 + 4 * UInt64(index))
        }
        return value
    }

    /// The watchpoint whose register's status bit (B0–B3) is set in DR6, if any.
    public func hit(status: UInt64) -> GDBWatchpoint? {
        slots.indices.lazy.compactMap { status & (1 << UInt64($0)) != 0 ? self.slots[$0]?.watchpoint : nil }.first
    }

    /// DR6's status bits B0–B3: a tender clears them after reporting a hit (the CPU never does).
    public static let statusHitBits: UInt64 = 0xF

    /// [address, address + length) as naturally aligned 1/2/4/8-byte pieces, largest first.
    static func alignedPieces(address: UInt64, length: UInt64) -> [(address: UInt64, length: UInt64)]? {
        guard length > 0, length <= maximumLength, address <= UInt64.max - length else { return nil }
        var pieces: [(address: UInt64, length: UInt64)] = []
        var at = address, left = length
        while left > 0 {
            var size: UInt64 = 8
            while size > 1 && (at % size != 0 || size > left) { size /= 2 }
            pieces.append((at, size))
            at += size
            left -= size
        }
        return pieces
    }
}
