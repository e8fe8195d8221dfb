// Everything a virtio device (or its absence) can do wrong, as one error with a console message.
// A device that breaks the protocol is not trusted again: the driver stops using it.

public enum VirtioError: Error, Equatable, Sendable {
    /// No virtio-net device where we looked (every slot, bus 0 of PCI).
    case noDevice
    /// A virtio-mmio slot answered with a magic value other than "virt".
    case badMagic(UInt32)
    /// A virtio-mmio version other than 2 (1 is the legacy interface QEMU uses unless told
    /// `-global virtio-mmio.force-legacy=false`).
    case unsupportedVersion(UInt32)
    /// A device of another type than the driver serves (1: network, 2: block).
    case wrongDeviceType(UInt32)
    /// A PCI function without a capability the modern interface needs (COMMON_CFG = 1 …).
    case missingCapability(UInt8)
    /// A capability pointing outside its BAR, at an unassigned BAR, or at an I/O BAR.
    case badCapability(UInt8)
    /// The device does not offer features we cannot work without (VERSION_1).
    case missingFeatures(UInt64)
    /// The device cleared FEATURES_OK: it refused the subset we asked for.
    case featuresRefused(UInt64)
    /// A queue the device says is missing (size 0) or has a size that is not a power of two.
    case badQueueSize(queue: UInt16, size: UInt16)
    /// The device reported DEVICE_NEEDS_RESET, or its status does not read back.
    case deviceFailed(status: UInt8)
    /// A used-ring entry naming a descriptor that is not in flight, or a length beyond it.
    case badUsedEntry(queue: UInt16, descriptor: UInt32, length: UInt32)
    /// The used index ran further ahead of us than the queue has entries.
    case usedIndexRunaway(queue: UInt16, used: UInt16, seen: UInt16)
    /// A received buffer shorter than the virtio-net header, or a frame spread over buffers.
    case badReceive(length: UInt32, buffers: UInt16)
    /// The device configuration kept changing while we read it.
    case configUnstable

    /// One line for the console.
    public var message: String {
        switch self {
        case .noDevice: return "virtio: no virtio-net device found"
        case .badMagic(let value): return "virtio-mmio: bad magic value \(hex(value))"
        case .unsupportedVersion(let version):
            return "virtio-mmio: version \(version) is not supported (need 2; QEMU: -global virtio-mmio.force-legacy=false)"
        case .wrongDeviceType(let type): return "virtio: device type \(type) is not the kind this driver serves"
        case .missingCapability(let type): return "virtio-pci: no capability of type \(type)"
        case .badCapability(let type): return "virtio-pci: capability of type \(type) is outside a usable memory BAR"
        case .missingFeatures(let bits): return "virtio: the device lacks required features \(hex(bits))"
        case .featuresRefused(let bits): return "virtio: the device refused the features \(hex(bits))"
        case .badQueueSize(let queue, let size):
            return "virtio: queue \(queue) has size \(size) (must be a power of two, not 0)"
        case .deviceFailed(let status): return "virtio: the device failed (status \(hex(UInt32(status))))"
        case .badUsedEntry(let queue, let descriptor, let length):
            return "virtio: queue \(queue) returned descriptor \(descriptor) (length \(length)) that is not in flight or is longer than its buffer"
        case .usedIndexRunaway(let queue, let used, let seen):
            return "virtio: queue \(queue) used index \(used) is more than a queue ahead of \(seen)"
        case .badReceive(let length, let buffers):
            return "virtio-net: received buffer of \(length) bytes in \(buffers) buffers"
        case .configUnstable: return "virtio: device configuration kept changing"
        }
    }
}

private func hex(_ value: some BinaryInteger) -> String { "0x" + String(value, radix: 16) }
