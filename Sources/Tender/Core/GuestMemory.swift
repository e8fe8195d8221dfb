// GuestMemory: the one checked door between a tender and guest memory.
//
// Guest addresses are plain integers (GuestAddress); they are never dereferenced directly.
// Every read goes through `bytes(at:count:limit:)` and every write through
// `writableBytes(at:count:limit:)`, which check the range against
// [SWIFTLET_GUEST_BASE, SWIFTLET_GUEST_BASE + size) with overflow-checked arithmetic and, once
// the guest runs (`restricted(to:)`), against what the guest itself may read or write: the
// tender never writes into the guest's code or read-only boot info on its behalf, and never
// touches the guard page. Nothing here traps on any address or count a guest can supply.
import CTender
import SwiftletABI

/// A guest address: an integer in the guest's address space, never a host pointer.
public struct GuestAddress: Comparable, Hashable, Sendable, CustomStringConvertible {
    public var raw: UInt64

    @inlinable public init(raw: UInt64) { self.raw = raw }
    @inlinable public init(_ raw: UInt64) { self.raw = raw }

    /// SWIFTLET_GUEST_BASE, the lowest guest address.
    public static let guestBase = GuestAddress(raw: SWIFTLET_GUEST_BASE)

    @inlinable public static func < (lhs: GuestAddress, rhs: GuestAddress) -> Bool { lhs.raw < rhs.raw }

    /// `self + delta`, or nil if that wraps around UInt64.
    @inlinable public func adding(_ delta: UInt64) -> GuestAddress? {
        let (sum, overflow) = raw.addingReportingOverflow(delta)
        return overflow ? nil : GuestAddress(raw: sum)
    }

    public var description: String { hex(raw) }
}

/// Why a guest memory access was refused. Every case carries what was asked for.
public enum GuestMemoryError: Error, Equatable, CustomStringConvertible {
    /// The range starts below SWIFTLET_GUEST_BASE.
    case belowBase(address: GuestAddress, count: UInt64)
    /// The range ends past SWIFTLET_GUEST_BASE + memory size.
    case beyondEnd(address: GuestAddress, count: UInt64, memorySize: UInt64)
    /// address + count does not fit in 64 bits.
    case overflow(address: GuestAddress, count: UInt64)
    /// count is larger than the caller's limit (e.g. SWIFTLET_CONSOLE_MAX).
    case tooLarge(address: GuestAddress, count: UInt64, limit: UInt64)
    /// A memory size that cannot be represented (zero, negative, or too large).
    case invalidSize(size: Int)
    /// mmap of the guest memory failed.
    case mapFailed(size: Int, errno: Int32)
    /// The range is guest memory the guest may not read (the guard page below its stack).
    case notReadable(address: GuestAddress, count: UInt64)
    /// An output range the guest may not write itself: code, read-only data, boot info.
    case notWritable(address: GuestAddress, count: UInt64)

    public var description: String {
        switch self {
        case let .belowBase(address, count):
            return "guest range \(address)+\(hex(count)) starts below the guest base \(hex(SWIFTLET_GUEST_BASE))"
        case let .beyondEnd(address, count, memorySize):
            let end = SWIFTLET_GUEST_BASE &+ memorySize
            return "guest range \(address)+\(hex(count)) extends past the end of guest memory (\(hex(end)), size \(hex(memorySize)))"
        case let .overflow(address, count):
            return "guest range \(address)+\(hex(count)) wraps around the 64-bit address space"
        case let .tooLarge(address, count, limit):
            return "guest range \(address)+\(hex(count)) is larger than the limit of \(hex(limit)) bytes"
        case let .invalidSize(size):
            return "invalid guest memory size \(size)"
        case let .notReadable(address, count):
            return "guest range \(address)+\(hex(count)) is not readable by the guest (guard page)"
        case let .notWritable(address, count):
            return "guest range \(address)+\(hex(count)) is not writable by the guest (code, read-only data or boot info); the tender writes only where the guest may"
        case let .mapFailed(size, code):
            return "could not map \(hex(UInt64(truncatingIfNeeded: size))) bytes of guest memory: \(memoryErrnoString(code))"
        }
    }
}

/// Guest memory: a host buffer standing for guest addresses [GUEST_BASE, GUEST_BASE + size).
public struct GuestMemory: @unchecked Sendable {
    /// Host address of guest address SWIFTLET_GUEST_BASE.
    public let base: UnsafeMutableRawPointer
    /// Bytes of guest memory.
    public let size: Int
    /// Whether `init(size:)` mapped the memory (and `unmap()` may release it).
    public let ownsMapping: Bool
    /// What the guest may touch, once it runs; nil while the tender loads it (all of memory).
    public private(set) var access: GuestAccess?

    /// Maps `size` bytes of fresh, zeroed anonymous memory (hvt: guest-physical memory),
    /// starting on a 2 MiB boundary so that `adviseHugePages` can give it huge pages.
    public init(size: Int) throws(GuestMemoryError) {
        guard size > 0, UInt64(size) <= UInt64.max - SWIFTLET_GUEST_BASE,
              size <= Int.max - GuestMemory.hugePageSize else {
            throw .invalidSize(size: size)
        }
        // Reserve one huge page more than asked, then give back the slack on either side.
        let reserved = size + GuestMemory.hugePageSize
        let pointer = mmap(nil, reserved, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
        guard let pointer, pointer != UnsafeMutableRawPointer(bitPattern: -1) else {
            throw .mapFailed(size: size, errno: SystemError.last)
        }
        let aligned = pointer.alignedUp(toMultipleOf: GuestMemory.hugePageSize)
        if aligned > pointer { _ = munmap(pointer, aligned - pointer) }
        let slackAfter = reserved - (aligned - pointer) - size
        if slackAfter > 0 { _ = munmap(aligned + size, slackAfter) }
        self.base = aligned
        self.size = size
        self.ownsMapping = true
    }

    /// The size of an x86-64 large page, the unit `adviseHugePages` works in.
    public static let hugePageSize = 2 << 20

    /// Asks the kernel to back the whole 2 MiB-aligned chunks of guest range `range` with
    /// transparent huge pages: a page fault there then fills 2 MiB at once, and on hvt KVM
    /// maps the chunk with one large page, so the guest's first touch of it costs one exit
    /// instead of one per 4 KiB page. A chunk is only resident once something touches it,
    /// but then all of it: use it where a guest keeps bulk data, not for every guest's
    /// memory. A hint: false if the kernel refused (no THP), which changes nothing else.
    @discardableResult
    public func adviseHugePages(_ range: Range<UInt64>) -> Bool {
        let huge = UInt64(GuestMemory.hugePageSize)
        let low = max(range.lowerBound, start.raw), high = min(range.upperBound, end.raw)
        guard low < high else { return true }
        // Offsets into the mapping: whole chunks only.
        let first = (low - SWIFTLET_GUEST_BASE + huge - 1) / huge * huge
        let last = (high - SWIFTLET_GUEST_BASE) / huge * huge
        guard first < last else { return true }
        guard UInt(bitPattern: base) % UInt(huge) == 0 else { return false }
        return madvise(base + Int(first), Int(last - first), MADV_HUGEPAGE) == 0
    }

    /// Wraps memory the caller already owns (spt maps it at GUEST_BASE itself; tests use a
    /// heap buffer). The caller keeps it alive and releases it.
    public init(base: UnsafeMutableRawPointer, size: Int) {
        self.base = base
        self.size = max(0, size)
        self.ownsMapping = false
    }

    /// Releases memory mapped by `init(size:)`. No access may follow. No-op otherwise.
    public func unmap() {
        if ownsMapping { _ = munmap(base, size) }
    }

    /// The lowest guest address (SWIFTLET_GUEST_BASE).
    public var start: GuestAddress { .guestBase }
    /// One past the highest guest address.
    public var end: GuestAddress { GuestAddress(raw: SWIFTLET_GUEST_BASE &+ UInt64(size)) }

    /// Offset into the host buffer of [address, address + count), checked.
    public func offset(of address: GuestAddress, count: UInt64,
                       limit: UInt64? = nil) throws(GuestMemoryError) -> Int {
        if let limit, count > limit {
            throw .tooLarge(address: address, count: count, limit: limit)
        }
        guard address.raw >= SWIFTLET_GUEST_BASE else {
            throw .belowBase(address: address, count: count)
        }
        let (endAddress, wrapped) = address.raw.addingReportingOverflow(count)
        guard !wrapped else { throw .overflow(address: address, count: count) }
        let memorySize = UInt64(size)
        let offset = address.raw - SWIFTLET_GUEST_BASE
        // endAddress - GUEST_BASE cannot underflow: endAddress >= address >= GUEST_BASE.
        guard offset <= memorySize, endAddress - SWIFTLET_GUEST_BASE <= memorySize else {
            throw .beyondEnd(address: address, count: count, memorySize: memorySize)
        }
        return Int(offset) // offset <= size <= Int.max
    }

    /// This memory as the guest's hypercalls see it: reads inside `access.readable`, writes
    /// inside `access.writable` only.
    public func restricted(to access: GuestAccess) -> GuestMemory {
        var view = self
        view.access = access
        return view
    }

    /// This view with nothing below `address` writable. spt serves a hypercall on the guest's
    /// stack: below the guest's stack pointer lie the tender's own frames, which no request may
    /// have overwritten (a NET_READ buffer there smashed a return address).
    public func unwritable(below address: UInt64) -> GuestMemory {
        guard let access else { return self }
        var view = self
        view.access = GuestAccess(readable: access.readable,
                                  writable: GuestRanges(access.writable.ranges.map { max($0.lowerBound, min(address, $0.upperBound)) ..< $0.upperBound }))
        return view
    }

    /// Whether [address, address + count) lies wholly inside guest memory.
    public func contains(_ address: GuestAddress, count: UInt64) -> Bool {
        do { _ = try offset(of: address, count: count); return true } catch { return false }
    }

    /// The host bytes behind guest range [address, address + count), to read. A zero-length
    /// range is accepted anywhere in [start, end], including exactly at `end`.
    /// - Parameter limit: if given, ranges longer than `limit` are refused.
    public func bytes(at address: GuestAddress, count: UInt64,
                      limit: UInt64? = nil) throws(GuestMemoryError) -> UnsafeRawBufferPointer {
        let offset = try offset(of: address, count: count, limit: limit)
        if let access, count > 0, !access.readable.contains(address.raw, count: count) {
            throw .notReadable(address: address, count: count)
        }
        return UnsafeRawBufferPointer(start: base + offset, count: Int(count))
    }

    /// The host bytes behind guest range [address, address + count), to write: the one door
    /// for everything the tender puts into guest memory.
    public func writableBytes(at address: GuestAddress, count: UInt64,
                              limit: UInt64? = nil) throws(GuestMemoryError) -> UnsafeMutableRawBufferPointer {
        let offset = try offset(of: address, count: count, limit: limit)
        if let access, count > 0, !access.writable.contains(address.raw, count: count) {
            throw .notWritable(address: address, count: count)
        }
        return UnsafeMutableRawBufferPointer(start: base + offset, count: Int(count))
    }

    /// Reads a `T` at `address` (any alignment).
    public func load<T: BitwiseCopyable>(_ type: T.Type, at address: GuestAddress) throws(GuestMemoryError) -> T {
        let buffer = try bytes(at: address, count: UInt64(MemoryLayout<T>.size))
        return buffer.baseAddress!.loadUnaligned(as: T.self)
    }

    /// Writes `value` at `address` (any alignment).
    public func store<T: BitwiseCopyable>(_ value: T, at address: GuestAddress) throws(GuestMemoryError) {
        let buffer = try writableBytes(at: address, count: UInt64(MemoryLayout<T>.size))
        buffer.baseAddress!.storeBytes(of: value, as: T.self)
    }

    /// Copies host bytes into guest memory at `address`.
    public func copyIn(_ source: UnsafeRawBufferPointer, at address: GuestAddress) throws(GuestMemoryError) {
        let destination = try writableBytes(at: address, count: UInt64(source.count))
        if source.count > 0 { destination.baseAddress!.copyMemory(from: source.baseAddress!, byteCount: source.count) }
    }

    /// Copies guest bytes [address, address + count) out into a new array.
    public func copyOut(at address: GuestAddress, count: UInt64,
                        limit: UInt64? = nil) throws(GuestMemoryError) -> [UInt8] {
        let source = try bytes(at: address, count: count, limit: limit)
        return Array(UnsafeRawBufferPointer(source))
    }

    /// Sets guest bytes [address, address + count) to `value`.
    public func fill(at address: GuestAddress, count: UInt64, with value: UInt8 = 0) throws(GuestMemoryError) {
        let destination = try writableBytes(at: address, count: count)
        if destination.count > 0 { memset(destination.baseAddress!, Int32(value), destination.count) }
    }
}

/// What a running guest may read and write, as sorted, disjoint guest address ranges.
public struct GuestAccess: Equatable, Sendable {
    public var readable: GuestRanges
    public var writable: GuestRanges

    public init(readable: GuestRanges, writable: GuestRanges) {
        self.readable = readable
        self.writable = writable
    }

    /// The layout both tenders give a guest: everything above the guard page is readable; its
    /// stack, its writable segments and its heap are writable; its code, read-only data and
    /// boot info are not.
    public init(memorySize: UInt64, writableSegments: [Range<UInt64>], heap: Range<UInt64>) {
        let base = SWIFTLET_GUEST_BASE
        let stack = base + SWIFTLET_STACK_BOTTOM ..< base + SWIFTLET_STACK_TOP
        readable = GuestRanges([base + SWIFTLET_STACK_BOTTOM ..< base + memorySize])
        writable = GuestRanges([stack, heap] + writableSegments)
    }
}

/// Sorted, merged address ranges with an overflow-safe containment test.
public struct GuestRanges: Equatable, Sendable {
    public private(set) var ranges: [Range<UInt64>]

    public init(_ ranges: [Range<UInt64>]) {
        var merged: [Range<UInt64>] = []
        for range in ranges.filter({ !$0.isEmpty }).stablySorted(by: { $0.lowerBound < $1.lowerBound }) {
            if let last = merged.last, range.lowerBound <= last.upperBound {
                merged[merged.count - 1] = last.lowerBound ..< max(last.upperBound, range.upperBound)
            } else {
                merged.append(range)
            }
        }
        self.ranges = merged
    }

    /// Whether [address, address + count) lies inside one range (count > 0).
    public func contains(_ address: UInt64, count: UInt64) -> Bool {
        let (end, wrapped) = address.addingReportingOverflow(count)
        guard !wrapped else { return false }
        return ranges.contains { $0.lowerBound <= address && end <= $0.upperBound }
    }
}

private func memoryErrnoString(_ code: Int32) -> String {
    SystemError.describe(code) + " (errno \(code))"
}
