// A modern virtio-pci function in front of the simulated device: configuration space with the
// four vendor capabilities (as QEMU lays them out: all in one 64-bit memory BAR), and that BAR.
@testable import Swiftlet

final class SimulatedPCIFunction {
    static let barAddress: UInt64 = 0xfe00_0000
    static let commonOffset = 0x0000
    static let isrOffset = 0x1000
    static let deviceOffset = 0x2000
    static let notifyOffset = 0x3000
    static let notifyMultiplier: UInt32 = 4
    static let msixTableAddress: UInt64 = 0xfebc_0000

    let device: SimulatedVirtioNet
    var config = [UInt8](repeating: 0, count: 4096)
    var notifyOffsetOfQueue: [UInt16] = [0, 1]
    /// Doorbell writes, as (offset into the notify region, value).
    var doorbells: [(offset: Int, value: UInt16)] = []
    /// MSI-X table entries (address low, address high, data, control) and each queue's vector.
    var msixTable = [UInt32](repeating: 0, count: 8)
    var queueVectors: [UInt16] = [0xffff, 0xffff]

    init(_ device: SimulatedVirtioNet, deviceID: UInt16 = 0x1041) {
        self.device = device
        put16(VirtioPCITransport.vendor, at: 0x00)
        put16(deviceID, at: 0x02)
        put16(1 << 4, at: 0x06)                                   // capability list
        put32(0xc001, at: 0x14)                                   // BAR1: I/O ports
        put32(UInt32(Self.barAddress) | 0xc, at: 0x20)            // BAR4: 64-bit prefetchable memory
        put32(UInt32(Self.barAddress >> 32), at: 0x24)
        put16(1, at: 0x2e)                                        // subsystem: network
        config[0x34] = 0x40
        addCapability(at: 0x40, next: 0x50, type: 1, bar: 4, offset: Self.commonOffset, length: 0x38)
        addCapability(at: 0x50, next: 0x60, type: 3, bar: 4, offset: Self.isrOffset, length: 1)
        addCapability(at: 0x60, next: 0x70, type: 4, bar: 4, offset: Self.deviceOffset, length: 0x100)
        addCapability(at: 0x70, next: 0x98, type: 2, bar: 4, offset: Self.notifyOffset, length: 0x1000, multiplier: Self.notifyMultiplier)
        put32(UInt32(Self.msixTableAddress), at: 0x18)           // BAR2: 32-bit memory, the MSI-X table
        config[0x98] = 0x11                                       // MSI-X: 2 entries, table in BAR2 at 0
        put16(1, at: 0x9a)
        put32(2, at: 0x9c)
    }

    var msixControl: UInt16 { UInt16(config[0x9a]) | UInt16(config[0x9b]) << 8 }

    func addCapability(at pointer: Int, next: UInt8, type: UInt8, bar: UInt8, offset: Int, length: UInt32, multiplier: UInt32? = nil) {
        config[pointer] = 0x09
        config[pointer + 1] = next
        config[pointer + 2] = multiplier == nil ? 16 : 20
        config[pointer + 3] = type
        config[pointer + 4] = bar
        put32(UInt32(offset), at: pointer + 8)
        put32(length, at: pointer + 12)
        if let multiplier { put32(multiplier, at: pointer + 16) }
    }

    func put16(_ value: UInt16, at offset: Int) {
        config[offset] = UInt8(truncatingIfNeeded: value)
        config[offset + 1] = UInt8(truncatingIfNeeded: value >> 8)
    }
    func put32(_ value: UInt32, at offset: Int) {
        put16(UInt16(truncatingIfNeeded: value), at: offset)
        put16(UInt16(truncatingIfNeeded: value >> 16), at: offset + 2)
    }
    var command: UInt16 { UInt16(config[4]) | UInt16(config[5]) << 8 }

    /// The function's configuration space, as ECAM shows it.
    lazy var configWindow: ConfigWindow = ConfigWindow(self)

    /// What `map` gives the transport: a window on the BAR, or nil outside it.
    func map(_ address: UInt64, _ length: Int) -> (any VirtioRegisterWindow)? {
        if address == Self.msixTableAddress && length <= 32 { return MSIXTableWindow(self) }
        guard address >= Self.barAddress, address + UInt64(length) <= Self.barAddress + 0x4000 else { return nil }
        return BarWindow(self, offset: Int(address - Self.barAddress))
    }

    final class ConfigWindow: VirtioRegisterWindow {
        unowned let function: SimulatedPCIFunction
        init(_ function: SimulatedPCIFunction) { self.function = function }
        func load8(at offset: Int) -> UInt8 { function.config[offset] }
        func load16(at offset: Int) -> UInt16 { UInt16(load8(at: offset)) | UInt16(load8(at: offset + 1)) << 8 }
        func load32(at offset: Int) -> UInt32 { UInt32(load16(at: offset)) | UInt32(load16(at: offset + 2)) << 16 }
        func store8(_ value: UInt8, at offset: Int) { function.config[offset] = value }
        func store16(_ value: UInt16, at offset: Int) {
            guard offset == 0x04 || offset == 0x9a else { function.device.violations.append("config write at \(offset)"); return }
            function.put16(value, at: offset)
        }
        func store32(_ value: UInt32, at offset: Int) { function.device.violations.append("config write at \(offset)") }
    }

    /// The memory BAR from `offset` on: common configuration, ISR, device configuration, doorbells.
    final class BarWindow: VirtioRegisterWindow {
        unowned let function: SimulatedPCIFunction
        let offset: Int
        init(_ function: SimulatedPCIFunction, offset: Int) {
            self.function = function
            self.offset = offset
        }
        var device: SimulatedVirtioNet { function.device }
        typealias C = VirtioPCITransport.Common

        func load8(at register: Int) -> UInt8 {
            let at = offset + register
            switch at {
            case SimulatedPCIFunction.isrOffset:
                defer { device.interruptStatus = 0 }
                return UInt8(truncatingIfNeeded: device.interruptStatus)
            case SimulatedPCIFunction.deviceOffset..<(SimulatedPCIFunction.deviceOffset + 0x100):
                return device.configByte(at - SimulatedPCIFunction.deviceOffset)
            case C.deviceStatus: return device.status
            case C.configGeneration: return UInt8(truncatingIfNeeded: device.configGeneration)
            default: device.violations.append("8-bit BAR read at \(at)"); return 0
            }
        }
        func load16(at register: Int) -> UInt16 {
            let at = offset + register
            let selected = device.selectedQueue
            let queue = selected < device.queues.count ? device.queues[selected] : nil
            switch at {
            case C.queueCount: return UInt16(device.queues.count)
            case C.queueSelect: return UInt16(selected)
            case C.queueSize: return queue.map { $0.ready || $0.size != 0 ? $0.size : $0.maximum } ?? 0
            case C.queueEnable: return queue?.ready == true ? 1 : 0
            case C.queueNotifyOffset: return selected < function.notifyOffsetOfQueue.count ? function.notifyOffsetOfQueue[selected] : 0
            default: device.violations.append("16-bit BAR read at \(at)"); return 0
            }
        }
        func load32(at register: Int) -> UInt32 {
            let at = offset + register
            switch at {
            case C.deviceFeature:
                return device.deviceFeatureSelect == 0 ? UInt32(truncatingIfNeeded: device.offeredFeatures)
                    : device.deviceFeatureSelect == 1 ? UInt32(truncatingIfNeeded: device.offeredFeatures >> 32) : 0
            default: device.violations.append("32-bit BAR read at \(at)"); return 0
            }
        }
        func store8(_ value: UInt8, at register: Int) {
            let at = offset + register
            guard at == C.deviceStatus else { device.violations.append("8-bit BAR write at \(at)"); return }
            device.writeStatus(value)
        }
        func store16(_ value: UInt16, at register: Int) {
            let at = offset + register
            if at >= SimulatedPCIFunction.notifyOffset {
                function.doorbells.append((at - SimulatedPCIFunction.notifyOffset, value))
                let queue = function.notifyOffsetOfQueue.firstIndex { Int($0) * Int(SimulatedPCIFunction.notifyMultiplier) == at - SimulatedPCIFunction.notifyOffset }
                device.notify(queue ?? Int(value) + 100)
                return
            }
            switch at {
            case C.queueSelect: device.selectedQueue = Int(value)
            case C.queueSize: withQueue { $0.size = value }
            case C.queueEnable: withQueue { $0.ready = value == 1 }
            case C.queueVector:
                if device.queues[device.selectedQueue].ready { device.violations.append("vector set on an enabled queue") }
                function.queueVectors[device.selectedQueue] = value
            default: device.violations.append("16-bit BAR write at \(at)")
            }
        }
        func store32(_ value: UInt32, at register: Int) {
            let at = offset + register
            func low(_ old: UInt64) -> UInt64 { old & ~0xffff_ffff | UInt64(value) }
            func high(_ old: UInt64) -> UInt64 { old & 0xffff_ffff | UInt64(value) << 32 }
            switch at {
            case C.deviceFeatureSelect: device.deviceFeatureSelect = value
            case C.driverFeatureSelect: device.driverFeatureSelect = value
            case C.driverFeature:
                device.driverFeatures = device.driverFeatureSelect == 0 ? low(device.driverFeatures) : high(device.driverFeatures)
            case C.queueDescriptors: withQueue { $0.descriptors = low($0.descriptors) }
            case C.queueDescriptors + 4: withQueue { $0.descriptors = high($0.descriptors) }
            case C.queueDriver: withQueue { $0.driverArea = low($0.driverArea) }
            case C.queueDriver + 4: withQueue { $0.driverArea = high($0.driverArea) }
            case C.queueDevice: withQueue { $0.deviceArea = low($0.deviceArea) }
            case C.queueDevice + 4: withQueue { $0.deviceArea = high($0.deviceArea) }
            default: device.violations.append("32-bit BAR write at \(at)")
            }
        }
        private func withQueue(_ body: (inout SimulatedVirtioNet.Queue) -> Void) {
            let selected = device.selectedQueue
            guard selected < device.queues.count else { device.violations.append("set-up of queue \(selected)"); return }
            if device.queues[selected].ready { device.violations.append("queue \(selected) changed while enabled") }
            body(&device.queues[selected])
        }
    }

    final class MSIXTableWindow: VirtioRegisterWindow {
        unowned let function: SimulatedPCIFunction
        init(_ function: SimulatedPCIFunction) { self.function = function }
        func store32(_ value: UInt32, at offset: Int) { function.msixTable[offset / 4] = value }
        func load32(at offset: Int) -> UInt32 { function.msixTable[offset / 4] }
        func load8(at offset: Int) -> UInt8 { 0 }
        func load16(at offset: Int) -> UInt16 { 0 }
        func store8(_ value: UInt8, at offset: Int) { function.device.violations.append("8-bit MSI-X write") }
        func store16(_ value: UInt16, at offset: Int) { function.device.violations.append("16-bit MSI-X write") }
    }
}
