// How a virtio driver reaches device registers: one small protocol, so the same transport code
// runs against mapped MMIO in the guest and against a simulated device in `swift test`.
/// A window of device registers (virtio-mmio slot, a PCI function's configuration space, a
/// region of a BAR), addressed by byte offset. Accesses have side effects: never cache them.
public protocol VirtioRegisterWindow: AnyObject {
    func load8(at offset: Int) -> UInt8
    func load16(at offset: Int) -> UInt16
    func load32(at offset: Int) -> UInt32
    func store8(_ value: UInt8, at offset: Int)
    func store16(_ value: UInt16, at offset: Int)
    func store32(_ value: UInt32, at offset: Int)
}

extension VirtioRegisterWindow {
    /// A 64-bit register as two 32-bit accesses, low half first (both transports allow this).
    func store64(_ value: UInt64, at offset: Int) {
        store32(UInt32(truncatingIfNeeded: value), at: offset)
        store32(UInt32(truncatingIfNeeded: value >> 32), at: offset + 4)
    }

    /// A 64-bit feature word behind a select register, as both transports lay it out (virtio
    /// 1.x §4.1.4.3, §4.2.2): select 0 shows bits 0-31 at `offset`, select 1 bits 32-63.
    func loadFeatures(at offset: Int, select: Int) -> UInt64 {
        store32(0, at: select)
        let low = load32(at: offset)
        store32(1, at: select)
        let high = load32(at: offset)
        return UInt64(high) << 32 | UInt64(low)
    }

    func storeFeatures(_ features: UInt64, at offset: Int, select: Int) {
        store32(0, at: select)
        store32(UInt32(truncatingIfNeeded: features), at: offset)
        store32(1, at: select)
        store32(UInt32(truncatingIfNeeded: features >> 32), at: offset)
    }
}

/// Registers mapped into our address space (the virtio target maps guest-physical
/// [2 GiB, 4 GiB) uncached and user-accessible, so these accesses need no ring transition).
public final class MappedRegisters: VirtioRegisterWindow {
    public let base: UInt
    public let size: Int

    public init(base: UInt, size: Int) {
        self.base = base
        self.size = size
    }

    @inline(__always)
    private func address(_ offset: Int, _ width: Int) -> UInt {
        precondition(offset >= 0 && offset + width <= size, "register access outside its window")
        return base + UInt(offset)
    }

    public func load8(at offset: Int) -> UInt8 { DeviceMemory.load(UInt8.self, at: address(offset, 1)) }
    public func load16(at offset: Int) -> UInt16 { DeviceMemory.load(UInt16.self, at: address(offset, 2)) }
    public func load32(at offset: Int) -> UInt32 { DeviceMemory.load(UInt32.self, at: address(offset, 4)) }
    public func store8(_ value: UInt8, at offset: Int) { DeviceMemory.store(value, at: address(offset, 1)) }
    public func store16(_ value: UInt16, at offset: Int) { DeviceMemory.store(value, at: address(offset, 2)) }
    public func store32(_ value: UInt32, at offset: Int) { DeviceMemory.store(value, at: address(offset, 4)) }
}

/// Guest memory as the device sees it: our pointers minus a fixed offset (the virtio target maps
/// guest-physical PHYS_BASE + x at GUEST_BASE + x). Tests use a non-zero offset too, so a
/// driver that hands the device a pointer untranslated fails there.
public struct DeviceAddressing: Sendable {
    /// Our address minus the device's address for the same byte.
    public let offset: UInt64

    public init(offset: UInt64) { self.offset = offset }

    public func deviceAddress(of pointer: UnsafeRawPointer) -> UInt64 {
        UInt64(UInt(bitPattern: pointer)) &- offset
    }
}
