// The virtio-blk driver as the virtio binding's block devices: found where the network devices
// are found (virtio-mmio slots, else virtio-pci functions of bus 0), listed in boot info after
// the network devices (handle = networks + index, as the tenders number disks), and serving
// BLOCK_* synchronously: a request is waited for by polling the used ring, for at most
// `requestTimeout` (QEMU may take long on a busy host; a device silent that long is dead).
#if SWIFTLET_GUEST
import SwiftletABI

enum VirtioPVHBlock {
    static let requestTimeout: UInt64 = 30_000_000_000

    /// The block devices of this machine, in slot (or PCI) order. One that fails is reported on
    /// the console and left out.
    static func probe(_ announced: [VirtioMMIODescription]) -> [VirtioBlock] {
        var devices: [VirtioBlock] = []
        for description in announced.isEmpty ? VirtioPVHNetwork.microvmSlots() : announced {
            guard VirtioPVHNetwork.mappedDevices.contains(description.base), description.size >= 0x100,
                  VirtioPVHNetwork.mappedDevices.contains(description.base + description.size - 1) else { continue }
            let registers = MappedRegisters(base: UInt(description.base), size: Int(description.size))
            do throws(VirtioError) {
                guard let transport = try VirtioMMIOTransport(probing: registers),
                      transport.deviceType == VirtioBlock.blockDeviceType else { continue }
                devices.append(try VirtioBlock(transport: transport, addressing: VirtioPVHNetwork.addressing))
            } catch {
                report(error.message)
            }
        }
        if devices.isEmpty, let device = probePCI() { devices.append(device) }
        return devices
    }

    private static func probePCI() -> VirtioBlock? {
        let base = VirtioPCITransport.q35ECAMBase
        let function = { (device: Int, function: Int) -> any VirtioRegisterWindow in
            MappedRegisters(base: base + UInt(device << 15 | function << 12), size: 4096)
        }
        let hostBridge = function(0, 0).load16(at: 0)
        guard hostBridge != 0xffff && hostBridge != 0 else { return nil }
        let map = { (address: UInt64, length: Int) -> (any VirtioRegisterWindow)? in
            guard length > 0, VirtioPVHNetwork.mappedDevices.contains(address),
                  VirtioPVHNetwork.mappedDevices.contains(address + UInt64(length) - 1) else { return nil }
            return MappedRegisters(base: UInt(address), size: length)
        }
        do throws(VirtioError) {
            let transport = try VirtioPCITransport.find(type: VirtioBlock.blockDeviceType, function: function, map: map)
            return try VirtioBlock(transport: transport, addressing: VirtioPVHNetwork.addressing)
        } catch {
            if error != .noDevice { report(error.message) }
            return nil
        }
    }

    /// Boot info's entry for disk `index`, named as the tenders name theirs.
    static func description(of device: VirtioBlock, index: Int) -> swiftlet_device {
        var entry = swiftlet_device()
        entry.kind = UInt32(SWIFTLET_DEVICE_BLOCK.rawValue)
        entry.block_size = UInt32(VirtioBlock.sectorSize)
        entry.capacity = device.capacity
        withUnsafeMutableBytes(of: &entry.name) { name in
            for (offset, byte) in "disk\(index)".utf8.prefix(name.count - 1).enumerated() { name[offset] = byte }
        }
        return entry
    }

    /// BLOCK_READ, BLOCK_WRITE or BLOCK_FLUSH on the disk the request names.
    static func serve(_ request: inout swiftlet_hc_block, number: swiftlet_hypercall) {
        let index = Int(request.handle) - PVHDevices.network.count
        guard index >= 0, index < PVHDevices.blocks.count else {
            return request.result = Int32(bitPattern: SWIFTLET_R_ENODEV.rawValue)
        }
        let device = PVHDevices.blocks[index]
        let deadline = PVHMachine.monotonicNanoseconds() &+ requestTimeout
        let keepWaiting = { PVHMachine.monotonicNanoseconds() < deadline }
        switch number {
        case SWIFTLET_HC_BLOCK_READ: device.serveTransfer(&request, write: false, keepWaiting: keepWaiting)
        case SWIFTLET_HC_BLOCK_WRITE: device.serveTransfer(&request, write: true, keepWaiting: keepWaiting)
        default: device.serveFlush(&request, keepWaiting: keepWaiting)
        }
        if let failure = device.failure, request.result == Int32(bitPattern: SWIFTLET_R_EIO.rawValue) {
            report("virtio-blk disk\(index): \(failure.message)")
        }
    }

    /// BLOCK_BATCH: the tenders' rules (swiftlet_abi.h) on top of the single requests: every
    /// request checked before any runs, then each in order until one fails. The device takes
    /// one chain at a time, so this saves the guest's calls, not the device's round trips.
    static func serve(_ batch: inout swiftlet_hc_block_batch) {
        batch.completed = 0
        let index = Int(batch.handle) - PVHDevices.network.count
        guard index >= 0, index < PVHDevices.blocks.count else {
            return batch.result = Int32(bitPattern: SWIFTLET_R_ENODEV.rawValue)
        }
        guard batch.count >= 1, batch.count <= SWIFTLET_BLOCK_BATCH_MAX,
              let base = UnsafeMutablePointer<swiftlet_block_request>(bitPattern: UInt(batch.requests)) else {
            return batch.result = Int32(bitPattern: SWIFTLET_R_EINVAL.rawValue)
        }
        let requests = UnsafeMutableBufferPointer(start: base, count: Int(batch.count))
        let device = PVHDevices.blocks[index]
        let refused = requests.map { request in
            switch request.op {
            case SWIFTLET_BLOCK_OP_READ.rawValue, SWIFTLET_BLOCK_OP_WRITE.rawValue:
                return !device.accepts(offset: request.offset, length: request.length, data: request.data)
            default:
                return request.op != SWIFTLET_BLOCK_OP_FLUSH.rawValue
            }
        }
        if refused.contains(true) {
            for (position, isRefused) in refused.enumerated() {
                requests[position].result = Int32(bitPattern: (isRefused ? SWIFTLET_R_EINVAL : SWIFTLET_R_SKIPPED).rawValue)
            }
            return batch.result = Int32(bitPattern: SWIFTLET_R_EINVAL.rawValue)
        }
        var outcome = Int32(bitPattern: SWIFTLET_R_OK.rawValue)
        for position in requests.indices {
            guard outcome == Int32(bitPattern: SWIFTLET_R_OK.rawValue) else {
                requests[position].result = Int32(bitPattern: SWIFTLET_R_SKIPPED.rawValue)
                continue
            }
            let request = requests[position]
            var single = swiftlet_hc_block(handle: batch.handle, _pad: 0, offset: request.offset, data: request.data,
                                           length: request.length, result: 0, _pad2: 0)
            let number = request.op == SWIFTLET_BLOCK_OP_READ.rawValue ? SWIFTLET_HC_BLOCK_READ
                : request.op == SWIFTLET_BLOCK_OP_WRITE.rawValue ? SWIFTLET_HC_BLOCK_WRITE : SWIFTLET_HC_BLOCK_FLUSH
            serve(&single, number: number)
            requests[position].result = single.result
            if single.result == Int32(bitPattern: SWIFTLET_R_OK.rawValue) { batch.completed += 1 } else { outcome = single.result }
        }
        batch.result = outcome
    }

    private static func report(_ message: String) {
        var line = message
        line += "\n"
        line.withUTF8 { PVHShim.write(UnsafeRawBufferPointer($0)) }
    }
}
#endif
