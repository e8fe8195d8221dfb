// A virtio-net device in ordinary memory, for driving the driver in `swift test`: the device
// side of feature negotiation, split virtqueues (with EVENT_IDX), and the register layouts of
// virtio-mmio v2 and of a modern virtio-pci function. It records every notification and
// interrupt it would raise, and can be told to misbehave.
import Testing
@testable import Swiftlet

/// Device addresses are our pointers minus 2^47: every pointer a user process has is below
/// 2^47, so an address the driver forgot to translate is recognised, not dereferenced.
let simulatedAddressing = DeviceAddressing(offset: 1 << 47)

final class SimulatedVirtioNet {
    struct Queue {
        var maximum: UInt16
        var size: UInt16 = 0
        var descriptors: UInt64 = 0
        var driverArea: UInt64 = 0
        var deviceArea: UInt64 = 0
        var ready = false
        var lastAvailable: UInt16 = 0
        var usedIndex: UInt16 = 0
        var notifications = 0
        var interrupts = 0
    }

    var offeredFeatures: UInt64
    /// Features the device insists on: it clears FEATURES_OK unless the driver takes them.
    var insistedFeatures: UInt64 = 0
    var mac: [UInt8] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56]
    var linkUp = true
    var queues: [Queue]
    /// After taking buffers, set avail_event to ask for a notification at the next one (an idle
    /// device does; a busy one leaves it behind and polls).
    var asksForNotifications = true
    var status: UInt8 = 0
    var driverFeatures: UInt64 = 0
    var selectedQueue = 0
    var deviceFeatureSelect: UInt32 = 0
    var driverFeatureSelect: UInt32 = 0
    var interruptStatus: UInt32 = 0
    var configGeneration: UInt32 = 0
    /// Every way the driver broke the protocol, in words; a test expects none.
    var violations: [String] = []
    /// Called when the driver notifies a queue.
    var onNotify: ((Int) -> Void)?

    init(features: UInt64 = VirtioNet.wantedFeatures | VirtioFeature.netMergeableReceiveBuffers | 1 /* CSUM */,
         queueMaximum: UInt16 = 256) {
        offeredFeatures = features
        queues = [Queue(maximum: queueMaximum), Queue(maximum: queueMaximum)]
    }

    var eventIndex: Bool { driverFeatures & VirtioFeature.ringEventIndex != 0 }

    func reset() {
        status = 0
        driverFeatures = 0
        interruptStatus = 0
        for index in queues.indices { queues[index] = Queue(maximum: queues[index].maximum) }
    }

    func writeStatus(_ value: UInt8) {
        if value == 0 { reset(); return }
        var value = value
        if value & VirtioStatus.featuresOK != 0 && status & VirtioStatus.featuresOK == 0 {
            let acceptable = driverFeatures & ~offeredFeatures == 0 && driverFeatures & insistedFeatures == insistedFeatures
            if !acceptable { value &= ~VirtioStatus.featuresOK }
        }
        if value & VirtioStatus.driverOK != 0 && value & VirtioStatus.featuresOK == 0 {
            violations.append("DRIVER_OK without FEATURES_OK")
        }
        status = value
    }

    func notify(_ queue: Int) {
        guard queue < queues.count else { violations.append("notify of queue \(queue)"); return }
        if status & VirtioStatus.driverOK == 0 {
            violations.append("notify before DRIVER_OK")
        }
        queues[queue].notifications += 1
        onNotify?(queue)
    }

    /// The device configuration, when it is not a network device's (a block device's capacity).
    var configuration: [UInt8]?

    func configByte(_ offset: Int) -> UInt8 {
        if let configuration { return offset < configuration.count ? configuration[offset] : 0 }
        switch offset {
        case 0..<6: return mac[offset]
        case 6: return linkUp ? 1 : 0
        default: return 0
        }
    }

    // MARK: Memory, as the device reaches it

    func pointer(_ address: UInt64, _ length: Int) -> UnsafeMutableRawPointer? {
        guard address >= 1 << 63 else {
            violations.append("an untranslated address \(String(address, radix: 16))")
            return nil
        }
        return UnsafeMutableRawPointer(bitPattern: UInt(address &+ simulatedAddressing.offset))
    }

    private func ring(_ queue: Int) -> (available: UnsafeMutableRawPointer, used: UnsafeMutableRawPointer, descriptors: UnsafeMutableRawPointer)? {
        let q = queues[queue]
        guard q.ready, let available = pointer(q.driverArea, 6), let used = pointer(q.deviceArea, 6),
              let descriptors = pointer(q.descriptors, 16) else { return nil }
        return (available, used, descriptors)
    }

    /// The next buffer the driver made available: its descriptor, address, length and flags.
    private func takeAvailable(_ queue: Int) -> (id: UInt16, address: UInt64, length: UInt32, flags: UInt16)? {
        guard let (available, used, descriptors) = ring(queue) else { return nil }
        let size = Int(queues[queue].size)
        let availableIndex = available.load(fromByteOffset: 2, as: UInt16.self)
        guard availableIndex != queues[queue].lastAvailable else { return nil }
        let id = available.load(fromByteOffset: 4 + 2 * Int(queues[queue].lastAvailable % UInt16(size)), as: UInt16.self)
        queues[queue].lastAvailable &+= 1
        if eventIndex && asksForNotifications {
            used.storeBytes(of: queues[queue].lastAvailable, toByteOffset: 4 + 8 * size, as: UInt16.self)
        }
        guard Int(id) < size else { violations.append("available entry names descriptor \(id)"); return nil }
        let descriptor = descriptors + 16 * Int(id)
        return (id, descriptor.load(as: UInt64.self), descriptor.load(fromByteOffset: 8, as: UInt32.self),
                descriptor.load(fromByteOffset: 12, as: UInt16.self))
    }

    /// The next request the driver made available as a whole descriptor chain: its head and
    /// each buffer in chain order (at most the queue's size of them: a loop is a violation).
    func takeAvailableChain(_ queue: Int) -> (head: UInt16, buffers: [(address: UInt64, length: UInt32, flags: UInt16)])? {
        guard let first = takeAvailable(queue), let (_, _, descriptors) = ring(queue) else { return nil }
        var buffers = [(first.address, first.length, first.flags)]
        var flags = first.flags, id = first.id
        while flags & SplitVirtqueue.descriptorNext != 0 {
            guard buffers.count < Int(queues[queue].size) else { violations.append("a descriptor chain loops"); return nil }
            id = (descriptors + 16 * Int(id)).load(fromByteOffset: 14, as: UInt16.self)
            guard id < queues[queue].size else { violations.append("a chain names descriptor \(id)"); return nil }
            let descriptor = descriptors + 16 * Int(id)
            flags = descriptor.load(fromByteOffset: 12, as: UInt16.self)
            buffers.append((descriptor.load(as: UInt64.self), descriptor.load(fromByteOffset: 8, as: UInt32.self), flags))
        }
        return (first.id, buffers)
    }

    /// Puts a used entry in `queue` as is (tests use it to misbehave) and raises the
    /// interrupt the driver asked for, if it did.
    func pushUsed(_ queue: Int, id: UInt32, length: UInt32) {
        guard let (available, used, _) = ring(queue) else { return }
        let size = Int(queues[queue].size)
        let old = queues[queue].usedIndex
        used.storeBytes(of: id, toByteOffset: 4 + 8 * Int(old % UInt16(size)), as: UInt32.self)
        used.storeBytes(of: length, toByteOffset: 8 + 8 * Int(old % UInt16(size)), as: UInt32.self)
        queues[queue].usedIndex = old &+ 1
        used.storeBytes(of: old &+ 1, toByteOffset: 2, as: UInt16.self)
        let wantsInterrupt = eventIndex
            ? SplitVirtqueue.needsEvent(event: available.load(fromByteOffset: 4 + 2 * size, as: UInt16.self), new: old &+ 1, old: old)
            : available.load(as: UInt16.self) & 1 == 0
        if wantsInterrupt {
            queues[queue].interrupts += 1
            interruptStatus |= 1
        }
    }

    /// Moves the used index directly (to play a device that runs away).
    func setUsedIndex(_ queue: Int, _ value: UInt16) {
        guard let (_, used, _) = ring(queue) else { return }
        queues[queue].usedIndex = value
        used.storeBytes(of: value, toByteOffset: 2, as: UInt16.self)
    }

    // MARK: The network side

    /// Receives `frame` from the wire into the next receive buffer; false if none is posted.
    @discardableResult
    func deliver(_ frame: [UInt8]) -> Bool {
        guard let buffer = takeAvailable(VirtioNet.receiveQueue.intValue) else { return false }
        guard buffer.flags & SplitVirtqueue.descriptorWrite != 0 else {
            violations.append("receive buffer \(buffer.id) is not device-writable")
            return false
        }
        let needed = VirtioNet.headerSize + frame.count
        guard Int(buffer.length) >= needed, let memory = pointer(buffer.address, needed) else {
            violations.append("receive buffer \(buffer.id) of \(buffer.length) bytes is too small")
            return false
        }
        memory.initializeMemory(as: UInt8.self, repeating: 0, count: VirtioNet.headerSize)
        memory.storeBytes(of: UInt16(1), toByteOffset: 10, as: UInt16.self)   // num_buffers
        frame.withUnsafeBytes { (memory + VirtioNet.headerSize).copyMemory(from: $0.baseAddress!, byteCount: frame.count) }
        pushUsed(VirtioNet.receiveQueue.intValue, id: UInt32(buffer.id), length: UInt32(needed))
        return true
    }

    /// Takes every frame the driver made available for transmission (header checked and
    /// stripped) and gives the buffers back.
    func takeTransmitted() -> [[UInt8]] {
        var frames: [[UInt8]] = []
        while let buffer = takeAvailable(VirtioNet.transmitQueue.intValue) {
            if buffer.flags & SplitVirtqueue.descriptorWrite != 0 { violations.append("transmit buffer is device-writable") }
            guard buffer.length >= UInt32(VirtioNet.headerSize), let memory = pointer(buffer.address, Int(buffer.length)) else {
                violations.append("transmit buffer of \(buffer.length) bytes")
                continue
            }
            let header = UnsafeRawBufferPointer(start: memory, count: VirtioNet.headerSize)
            if header.contains(where: { $0 != 0 }) { violations.append("transmit header not zero: \(Array(header))") }
            frames.append(Array(UnsafeRawBufferPointer(start: memory + VirtioNet.headerSize,
                                                       count: Int(buffer.length) - VirtioNet.headerSize)))
            pushUsed(VirtioNet.transmitQueue.intValue, id: UInt32(buffer.id), length: 0)
        }
        return frames
    }

    var notifications: (receive: Int, transmit: Int) { (queues[0].notifications, queues[1].notifications) }
}

extension UInt16 {
    var intValue: Int { Int(self) }
}

// MARK: - virtio-mmio v2 registers

final class SimulatedMMIORegisters: VirtioRegisterWindow {
    let device: SimulatedVirtioNet
    var magic = VirtioMMIOTransport.magicValue
    var version: UInt32 = 2
    var deviceID: UInt32 = 1
    typealias R = VirtioMMIOTransport.Register

    init(_ device: SimulatedVirtioNet) { self.device = device }

    func load32(at offset: Int) -> UInt32 {
        let queue = device.selectedQueue < device.queues.count ? device.queues[device.selectedQueue] : nil
        switch offset {
        case R.magic: return magic
        case R.version: return version
        case R.deviceID: return deviceID
        case 0x00c: return 0x554d4551   // "QEMU"
        case R.deviceFeatures:
            return device.deviceFeatureSelect == 0 ? UInt32(truncatingIfNeeded: device.offeredFeatures)
                : device.deviceFeatureSelect == 1 ? UInt32(truncatingIfNeeded: device.offeredFeatures >> 32) : 0
        case R.queueSizeMaximum: return UInt32(queue?.maximum ?? 0)
        case R.queueReady: return queue?.ready == true ? 1 : 0
        case R.interruptStatus: return device.interruptStatus
        case R.status: return UInt32(device.status)
        case R.configGeneration: return device.configGeneration
        default:
            device.violations.append("read of MMIO register \(String(offset, radix: 16))")
            return 0
        }
    }

    func store32(_ value: UInt32, at offset: Int) {
        let selected = device.selectedQueue
        func setQueue(_ body: (inout SimulatedVirtioNet.Queue) -> Void) {
            guard selected < device.queues.count else { device.violations.append("set-up of queue \(selected)"); return }
            if device.queues[selected].ready { device.violations.append("queue \(selected) changed while ready") }
            body(&device.queues[selected])
        }
        switch offset {
        case R.deviceFeaturesSelect: device.deviceFeatureSelect = value
        case R.driverFeaturesSelect: device.driverFeatureSelect = value
        case R.driverFeatures:
            if device.driverFeatureSelect == 0 {
                device.driverFeatures = device.driverFeatures & ~0xffff_ffff | UInt64(value)
            } else if device.driverFeatureSelect == 1 {
                device.driverFeatures = device.driverFeatures & 0xffff_ffff | UInt64(value) << 32
            }
        case R.queueSelect: device.selectedQueue = Int(value)
        case R.queueSize:
            setQueue { queue in
                if value == 0 || value > UInt32(queue.maximum) || value & (value - 1) != 0 {
                    self.device.violations.append("queue size \(value)")
                }
                queue.size = UInt16(truncatingIfNeeded: value)
            }
        case R.queueDescriptors: setQueue { $0.descriptors = $0.descriptors & ~0xffff_ffff | UInt64(value) }
        case R.queueDescriptors + 4: setQueue { $0.descriptors = $0.descriptors & 0xffff_ffff | UInt64(value) << 32 }
        case R.queueDriver: setQueue { $0.driverArea = $0.driverArea & ~0xffff_ffff | UInt64(value) }
        case R.queueDriver + 4: setQueue { $0.driverArea = $0.driverArea & 0xffff_ffff | UInt64(value) << 32 }
        case R.queueDevice: setQueue { $0.deviceArea = $0.deviceArea & ~0xffff_ffff | UInt64(value) }
        case R.queueDevice + 4: setQueue { $0.deviceArea = $0.deviceArea & 0xffff_ffff | UInt64(value) << 32 }
        case R.queueReady: setQueue { $0.ready = value == 1 }
        case R.queueNotify: device.notify(Int(value))
        case R.interruptAcknowledge: device.interruptStatus &= ~value
        case R.status: device.writeStatus(UInt8(truncatingIfNeeded: value))
        default: device.violations.append("write of MMIO register \(String(offset, radix: 16))")
        }
    }

    func load8(at offset: Int) -> UInt8 {
        guard offset >= R.config else { device.violations.append("8-bit read at \(offset)"); return 0 }
        return device.configByte(offset - R.config)
    }
    func load16(at offset: Int) -> UInt16 {
        guard offset >= R.config else { device.violations.append("16-bit read at \(offset)"); return 0 }
        return UInt16(device.configByte(offset - R.config)) | UInt16(device.configByte(offset - R.config + 1)) << 8
    }
    func store8(_ value: UInt8, at offset: Int) { device.violations.append("8-bit write at \(offset)") }
    func store16(_ value: UInt16, at offset: Int) { device.violations.append("16-bit write at \(offset)") }
}

/// Sends `frame` through `driver` (copied into a transmit buffer, not yet flushed).
func send(_ driver: VirtioNet, _ frame: [UInt8]) throws -> Bool {
    try frame.withUnsafeBytes { try driver.send($0) }
}

/// Runs `body` and expects it to throw exactly `expected`.
func expectError(_ expected: VirtioError, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("expected \(expected.message)", sourceLocation: sourceLocation)
    } catch let error as VirtioError {
        #expect(error == expected, "\(error.message)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("unexpected \(error)", sourceLocation: sourceLocation)
    }
}
