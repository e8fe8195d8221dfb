// virtio-pci, modern interface (virtio 1.x §4.1): the function's vendor capabilities say which
// BAR regions hold the common configuration, the notification doorbells, the interrupt status
// and the device configuration. Configuration space is read through ECAM (memory-mapped), so
// the driver needs no port I/O, which CPL3 cannot do on KVM-PVM hosts.

public final class VirtioPCITransport: VirtioTransport {
    enum ConfigSpace {
        static let vendorID = 0x00
        static let deviceID = 0x02
        static let command = 0x04
        static let status = 0x06
        static let headerType = 0x0e
        static let firstBAR = 0x10
        static let subsystemID = 0x2e
        static let capabilitiesPointer = 0x34
        static let commandMemory: UInt16 = 1 << 1
        static let commandBusMaster: UInt16 = 1 << 2
        static let statusCapabilities: UInt16 = 1 << 4
        static let vendorCapability: UInt8 = 0x09
        static let msixCapability: UInt8 = 0x11
    }
    public enum CapabilityType {
        public static let common: UInt8 = 1
        public static let notify: UInt8 = 2
        public static let isr: UInt8 = 3
        public static let device: UInt8 = 4
    }
    enum Common {
        static let deviceFeatureSelect = 0x00
        static let deviceFeature = 0x04
        static let driverFeatureSelect = 0x08
        static let driverFeature = 0x0c
        static let queueCount = 0x12
        static let deviceStatus = 0x14
        static let configGeneration = 0x15
        static let configVector = 0x10
        static let queueSelect = 0x16
        static let queueSize = 0x18
        static let queueVector = 0x1a
        static let queueEnable = 0x1c
        static let queueNotifyOffset = 0x1e
        static let queueDescriptors = 0x20
        static let queueDriver = 0x28
        static let queueDevice = 0x30
        static let size = 0x38
        static let noVector: UInt16 = 0xffff
    }
    public static let vendor: UInt16 = 0x1af4
    /// QEMU q35's ECAM (PCIe MMCONFIG) window, as its MCFG table and the MCH's PCIEXBAR say.
    public static let q35ECAMBase: UInt = 0xb000_0000

    /// A region of a BAR, where a capability points.
    public struct Region: Sendable {
        public let bar: Int
        public let offset: UInt32
        public let length: UInt32
    }

    public let deviceType: UInt32
    private let config: any VirtioRegisterWindow
    private let common: any VirtioRegisterWindow
    private let notifyWindow: any VirtioRegisterWindow
    private let notifyMultiplier: UInt32
    private let notifyLength: UInt32
    private let isr: any VirtioRegisterWindow
    private let deviceConfig: any VirtioRegisterWindow
    /// Notify offset of each queue enabled so far (read when it was set up).
    private var notifyOffsets: [UInt32] = []
    /// The queue whose interrupts go to MSI-X table entry 0, once routed.
    private var interruptQueue: UInt16?

    /// Checks whether `config` (a function's configuration space) is a modern virtio device;
    /// nil if it is not virtio at all. `map` gives a window on `length` bytes at a physical
    /// address, or nil if it cannot (then the capability is unusable).
    public init?(config: any VirtioRegisterWindow,
                 map: (_ physicalAddress: UInt64, _ length: Int) -> (any VirtioRegisterWindow)?) throws(VirtioError) {
        guard config.load16(at: ConfigSpace.vendorID) == Self.vendor else { return nil }
        let device = config.load16(at: ConfigSpace.deviceID)
        switch device {
        case 0x1040...0x107f: deviceType = UInt32(device - 0x1040)
        case 0x1000...0x103f: deviceType = UInt32(config.load16(at: ConfigSpace.subsystemID))   // transitional
        default: return nil
        }
        self.config = config
        let capabilities = Self.capabilities(config)
        func window(_ type: UInt8, minimumLength: Int) throws(VirtioError) -> any VirtioRegisterWindow {
            guard let region = capabilities.first(where: { $0.type == type })?.region else { throw .missingCapability(type) }
            guard Int(region.length) >= minimumLength,
                  let barAddress = Self.memoryBAR(config, region.bar),
                  let window = map(barAddress &+ UInt64(region.offset), Int(region.length)) else {
                throw .badCapability(type)
            }
            return window
        }
        common = try window(CapabilityType.common, minimumLength: Common.size)
        notifyWindow = try window(CapabilityType.notify, minimumLength: 2)
        let notify = capabilities.first { $0.type == CapabilityType.notify }
        notifyMultiplier = notify?.notifyMultiplier ?? 0
        notifyLength = notify?.region.length ?? 0
        isr = try window(CapabilityType.isr, minimumLength: 1)
        deviceConfig = try window(CapabilityType.device, minimumLength: 8)
        // Memory decoding, and bus mastering so the device may reach the queues (DMA).
        let command = config.load16(at: ConfigSpace.command)
        config.store16(command | ConfigSpace.commandMemory | ConfigSpace.commandBusMaster, at: ConfigSpace.command)
    }

    struct Capability {
        let type: UInt8
        let region: Region
        let notifyMultiplier: UInt32
    }

    /// The function's capabilities as (offset in configuration space, ID), in list order;
    /// bounded, so a looping list ends.
    static func capabilityList(_ config: any VirtioRegisterWindow) -> [(pointer: Int, id: UInt8)] {
        guard config.load16(at: ConfigSpace.status) & ConfigSpace.statusCapabilities != 0 else { return [] }
        var list: [(pointer: Int, id: UInt8)] = []
        var pointer = Int(config.load8(at: ConfigSpace.capabilitiesPointer) & 0xfc)
        while pointer >= 0x40 && pointer <= 0xfc - 16 && list.count < 48 {
            list.append((pointer, config.load8(at: pointer)))
            pointer = Int(config.load8(at: pointer + 1) & 0xfc)
        }
        return list
    }

    /// The function's virtio vendor capabilities, in list order.
    static func capabilities(_ config: any VirtioRegisterWindow) -> [Capability] {
        capabilityList(config).compactMap { pointer, id in
            let length = config.load8(at: pointer + 2)
            guard id == ConfigSpace.vendorCapability && length >= 16 else { return nil }
            let type = config.load8(at: pointer + 3)
            let bar = Int(config.load8(at: pointer + 4))
            guard bar < 6 else { return nil }
            let region = Region(bar: bar, offset: config.load32(at: pointer + 8), length: config.load32(at: pointer + 12))
            let multiplier = type == CapabilityType.notify && length >= 20 ? config.load32(at: pointer + 16) : 0
            return Capability(type: type, region: region, notifyMultiplier: multiplier)
        }
    }

    // MARK: Interrupts

    /// Routes `queue`'s interrupts to `vector` on the boot CPU's local APIC through MSI-X
    /// table entry 0 (message address 0xfee00000: APIC ID 0, fixed delivery; data: the vector).
    /// MSI-X messages are edges, so nothing needs acknowledging at the device. Call before the
    /// driver sets up its queues. False when the function has no MSI-X table we can reach.
    public func routeInterrupts(ofQueue queue: UInt16, toVector vector: UInt8,
                                map: (_ physicalAddress: UInt64, _ length: Int) -> (any VirtioRegisterWindow)?) -> Bool {
        guard let pointer = Self.capabilityList(config).first(where: { $0.id == ConfigSpace.msixCapability })?.pointer else {
            return false
        }
        let tableLocation = config.load32(at: pointer + 4)
        guard let bar = Self.memoryBAR(config, Int(tableLocation & 7)),
              let table = map(bar &+ UInt64(tableLocation & ~7), 16) else { return false }
        table.store32(0xfee0_0000, at: 0)
        table.store32(0, at: 4)
        table.store32(UInt32(vector), at: 8)
        table.store32(0, at: 12)                                  // unmasked
        let control = config.load16(at: pointer + 2)
        config.store16(control & ~(1 << 14) | 1 << 15, at: pointer + 2)   // enabled, function unmasked
        interruptQueue = queue
        return true
    }

    /// The address of memory BAR `index` (64-bit BARs span two registers); nil for an I/O BAR,
    /// an unassigned one, or a 64-bit BAR in the last register.
    static func memoryBAR(_ config: any VirtioRegisterWindow, _ index: Int) -> UInt64? {
        guard index < 6 else { return nil }
        let low = config.load32(at: ConfigSpace.firstBAR + 4 * index)
        guard low & 1 == 0 else { return nil }
        var address = UInt64(low & ~0xf)
        if (low >> 1) & 3 == 2 {
            guard index < 5 else { return nil }
            address |= UInt64(config.load32(at: ConfigSpace.firstBAR + 4 * (index + 1))) << 32
        }
        return address == 0 ? nil : address
    }

    /// The first virtio device of `type` among the functions of bus 0 (ECAM: `function(bus
    /// offset)` gives the 4 KiB configuration window of device/function `offset >> 12`).
    public static func find(type: UInt32, function: (_ device: Int, _ function: Int) -> any VirtioRegisterWindow,
                            map: (UInt64, Int) -> (any VirtioRegisterWindow)?) throws(VirtioError) -> VirtioPCITransport {
        for device in 0..<32 {
            for index in 0..<8 {
                let config = function(device, index)
                guard config.load16(at: ConfigSpace.vendorID) != 0xffff else {
                    if index == 0 { break } else { continue }
                }
                if let transport = try VirtioPCITransport(config: config, map: map), transport.deviceType == type {
                    return transport
                }
                if index == 0 && config.load8(at: ConfigSpace.headerType) & 0x80 == 0 { break }   // single function
            }
        }
        throw .noDevice
    }

    public var status: UInt8 { common.load8(at: Common.deviceStatus) }
    public func setStatus(_ status: UInt8) { common.store8(status, at: Common.deviceStatus) }
    public func reset() {
        common.store8(0, at: Common.deviceStatus)
        // The reset is done when the status reads 0 again (bounded: a device that never
        // finishes shows up as a failed negotiation, not a hang).
        var spins = 0
        while common.load8(at: Common.deviceStatus) != 0 && spins < 1_000_000 { spins += 1 }
        notifyOffsets = []
    }

    public func deviceFeatures() -> UInt64 {
        common.loadFeatures(at: Common.deviceFeature, select: Common.deviceFeatureSelect)
    }

    public func setDriverFeatures(_ features: UInt64) {
        common.storeFeatures(features, at: Common.driverFeature, select: Common.driverFeatureSelect)
    }

    public func maximumQueueSize(_ queue: UInt16) -> UInt16 {
        guard queue < common.load16(at: Common.queueCount) else { return 0 }
        common.store16(queue, at: Common.queueSelect)
        guard common.load16(at: Common.queueEnable) == 0 else { return 0 }
        return common.load16(at: Common.queueSize)
    }

    public func enableQueue(_ queue: UInt16, size: UInt16, descriptors: UInt64, driverArea: UInt64, deviceArea: UInt64) {
        common.store16(queue, at: Common.queueSelect)
        common.store16(size, at: Common.queueSize)
        common.store64(descriptors, at: Common.queueDescriptors)
        common.store64(driverArea, at: Common.queueDriver)
        common.store64(deviceArea, at: Common.queueDevice)
        if let interruptQueue {
            common.store16(queue == interruptQueue ? 0 : Common.noVector, at: Common.queueVector)
        }
        let offset = UInt32(common.load16(at: Common.queueNotifyOffset)) &* notifyMultiplier
        while notifyOffsets.count <= Int(queue) { notifyOffsets.append(UInt32.max) }
        notifyOffsets[Int(queue)] = offset
        common.store16(1, at: Common.queueEnable)
    }

    public func notify(queue: UInt16) {
        guard Int(queue) < notifyOffsets.count else { return }
        let offset = notifyOffsets[Int(queue)]
        // A doorbell the device placed outside its own notify region is not rung.
        guard offset != UInt32.max, UInt64(offset) + 2 <= UInt64(notifyLength) else { return }
        notifyWindow.store16(queue, at: Int(offset))
    }

    /// Reading the ISR clears it; with MSI-X it is not used, and the read (a VM exit) is skipped.
    public func acknowledgeInterrupt() -> UInt32 { interruptQueue == nil ? UInt32(isr.load8(at: 0)) : 0 }
    public func configGeneration() -> UInt32 { UInt32(common.load8(at: Common.configGeneration)) }
    public func readConfig8(at offset: Int) -> UInt8 { deviceConfig.load8(at: offset) }
}
