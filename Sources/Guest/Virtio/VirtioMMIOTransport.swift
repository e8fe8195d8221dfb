// virtio-mmio, version 2 (virtio 1.x §4.2.2): one register window per device. QEMU's microvm
// machine puts its slots at 0xfeb00000 + 0x200 * i; Firecracker places them itself and passes
// them on the kernel command line (virtio_mmio.device=4K@ADDRESS:IRQ).

public final class VirtioMMIOTransport: VirtioTransport {
    enum Register {
        static let magic = 0x000
        static let version = 0x004
        static let deviceID = 0x008
        static let deviceFeatures = 0x010
        static let deviceFeaturesSelect = 0x014
        static let driverFeatures = 0x020
        static let driverFeaturesSelect = 0x024
        static let queueSelect = 0x030
        static let queueSizeMaximum = 0x034
        static let queueSize = 0x038
        static let queueReady = 0x044
        static let queueNotify = 0x050
        static let interruptStatus = 0x060
        static let interruptAcknowledge = 0x064
        static let status = 0x070
        static let queueDescriptors = 0x080
        static let queueDriver = 0x090
        static let queueDevice = 0x0a0
        static let configGeneration = 0x0fc
        static let config = 0x100
    }
    public static let magicValue: UInt32 = 0x7472_6976   // "virt"
    public static let windowSize = 0x200
    /// QEMU microvm's virtio-mmio slots.
    public static let microvmBase: UInt = 0xfeb0_0000
    public static let microvmSlots = 24

    public let registers: any VirtioRegisterWindow
    public let deviceType: UInt32

    /// Checks that `registers` hold a version-2 virtio-mmio device; nil for an empty slot
    /// (device ID 0), an error for anything that is not virtio-mmio version 2.
    public init?(probing registers: any VirtioRegisterWindow) throws(VirtioError) {
        let magic = registers.load32(at: Register.magic)
        guard magic == Self.magicValue else { throw .badMagic(magic) }
        let version = registers.load32(at: Register.version)
        let type = registers.load32(at: Register.deviceID)
        if type == 0 { return nil }
        guard version == 2 else { throw .unsupportedVersion(version) }
        self.registers = registers
        deviceType = type
    }

    /// The first device of `type` among `slots` (each slot's window from `window`), skipping
    /// empty slots. Slots that are not virtio-mmio at all are skipped too; a slot holding the
    /// right type in the wrong version is an error (the user can fix the VMM's options).
    public static func find(type: UInt32, slots: Int, window: (Int) -> any VirtioRegisterWindow) throws(VirtioError) -> VirtioMMIOTransport {
        for slot in 0..<slots {
            let registers = window(slot)
            guard registers.load32(at: Register.magic) == magicValue,
                  registers.load32(at: Register.deviceID) == type else { continue }
            if let transport = try VirtioMMIOTransport(probing: registers) { return transport }
        }
        throw .noDevice
    }

    public var status: UInt8 { UInt8(truncatingIfNeeded: registers.load32(at: Register.status)) }
    public func setStatus(_ status: UInt8) { registers.store32(UInt32(status), at: Register.status) }
    public func reset() { registers.store32(0, at: Register.status) }

    public func deviceFeatures() -> UInt64 {
        registers.loadFeatures(at: Register.deviceFeatures, select: Register.deviceFeaturesSelect)
    }

    public func setDriverFeatures(_ features: UInt64) {
        registers.storeFeatures(features, at: Register.driverFeatures, select: Register.driverFeaturesSelect)
    }

    public func maximumQueueSize(_ queue: UInt16) -> UInt16 {
        registers.store32(UInt32(queue), at: Register.queueSelect)
        guard registers.load32(at: Register.queueReady) == 0 else { return 0 }   // already in use
        return UInt16(clamping: registers.load32(at: Register.queueSizeMaximum))
    }

    public func enableQueue(_ queue: UInt16, size: UInt16, descriptors: UInt64, driverArea: UInt64, deviceArea: UInt64) {
        registers.store32(UInt32(queue), at: Register.queueSelect)
        registers.store32(UInt32(size), at: Register.queueSize)
        registers.store64(descriptors, at: Register.queueDescriptors)
        registers.store64(driverArea, at: Register.queueDriver)
        registers.store64(deviceArea, at: Register.queueDevice)
        registers.store32(1, at: Register.queueReady)
    }

    public func notify(queue: UInt16) { registers.store32(UInt32(queue), at: Register.queueNotify) }

    public func acknowledgeInterrupt() -> UInt32 {
        let pending = registers.load32(at: Register.interruptStatus)
        if pending != 0 { registers.store32(pending, at: Register.interruptAcknowledge) }
        return pending
    }

    public func configGeneration() -> UInt32 { registers.load32(at: Register.configGeneration) }
    public func readConfig8(at offset: Int) -> UInt8 { registers.load8(at: Register.config + offset) }
}
