// The virtio-blk driver against a simulated device over virtio-mmio: negotiation and capacity,
// reads and writes as three-buffer chains straight into the caller's buffer, flush, requests
// refused before the device sees them, and a device that misbehaves or never answers.
import SwiftletABI
import Testing
@testable import Swiftlet

/// A virtio-blk device (type 2) in memory: the simulator's queues with a disk behind them. It
/// serves each request when the driver notifies, as QEMU does, checking the chain's shape.
private final class SimulatedDisk {
    let device: SimulatedVirtioNet
    var bytes: [UInt8]
    var flushes = 0
    /// When false, notifications are taken and nothing is ever answered.
    var answers = true
    /// The status byte to answer with (0: OK, 1: IOERR).
    var status: UInt8 = 0

    init(sectors: Int, features: UInt64 = VirtioFeature.version1 | VirtioBlock.flushFeature) {
        device = SimulatedVirtioNet(features: features, queueMaximum: 16)
        bytes = (0..<sectors * 512).map { UInt8(truncatingIfNeeded: $0 * 7) }
        var capacity = UInt64(sectors).littleEndian
        device.configuration = withUnsafeBytes(of: &capacity) { Array($0) }
        device.onNotify = { [unowned self] queue in if self.answers { self.serve(queue) } }
    }

    func driver() throws(VirtioError) -> VirtioBlock {
        let registers = SimulatedMMIORegisters(device)
        registers.deviceID = VirtioBlock.blockDeviceType
        guard let transport = try VirtioMMIOTransport(probing: registers) else { throw .noDevice }
        return try VirtioBlock(transport: transport, addressing: simulatedAddressing)
    }

    private func serve(_ queue: Int) {
        while let chain = device.takeAvailableChain(queue) {
            let buffers = chain.buffers
            guard buffers.count >= 2, buffers[0].length == 16, buffers[0].flags & 2 == 0,
                  buffers.last!.length == 1, buffers.last!.flags & 2 != 0,
                  let header = device.pointer(buffers[0].address, 16), let statusByte = device.pointer(buffers.last!.address, 1) else {
                device.violations.append("request chain of shape \(buffers.map { ($0.length, $0.flags) })")
                return
            }
            let type = header.load(as: UInt32.self), sector = Int(header.load(fromByteOffset: 8, as: UInt64.self))
            var written: UInt32 = 1
            switch type {
            case 0, 1:
                let data = buffers[1]
                guard buffers.count == 3, data.flags & 2 == (type == 0 ? 2 : 0),
                      sector * 512 + Int(data.length) <= bytes.count, let memory = device.pointer(data.address, Int(data.length)) else {
                    device.violations.append("data buffer \(data) for type \(type) at sector \(sector)")
                    return
                }
                if type == 0 {
                    bytes.withUnsafeBytes { memory.copyMemory(from: $0.baseAddress! + sector * 512, byteCount: Int(data.length)) }
                    written += data.length
                } else {
                    bytes.withUnsafeMutableBytes { ($0.baseAddress! + sector * 512).copyMemory(from: memory, byteCount: Int(data.length)) }
                }
            case 4:
                flushes += 1
            default:
                device.violations.append("request type \(type)")
            }
            statusByte.storeBytes(of: status, as: UInt8.self)
            device.pushUsed(queue, id: UInt32(chain.head), length: written)
        }
    }
}

private func request(offset: UInt64, buffer: UnsafeMutableRawBufferPointer, length: Int? = nil) -> swiftlet_hc_block {
    swiftlet_hc_block(handle: 0, _pad: 0, offset: offset, data: UInt64(UInt(bitPattern: buffer.baseAddress)),
                      length: UInt64(length ?? buffer.count), result: -1, _pad2: 0)
}

private let ok = Int32(bitPattern: SWIFTLET_R_OK.rawValue)
private let invalid = Int32(bitPattern: SWIFTLET_R_EINVAL.rawValue)
private let failed = Int32(bitPattern: SWIFTLET_R_EIO.rawValue)

@Suite struct VirtioBlockTests {
    @Test func negotiatesFlushAndReadsTheCapacity() throws {
        let disk = SimulatedDisk(sectors: 64, features: VirtioFeature.version1 | VirtioBlock.flushFeature | 1 << 2 /* SEG_MAX, not taken */)
        let driver = try disk.driver()
        #expect(driver.features == VirtioFeature.version1 | VirtioBlock.flushFeature)
        #expect(driver.capacity == 64 * 512)
        #expect(!driver.readOnly)
        #expect(disk.device.status & VirtioStatus.driverOK != 0)
        #expect(disk.device.violations.isEmpty, "\(disk.device.violations)")
    }

    @Test func readsAndWritesGoStraightBetweenTheDiskAndTheCallersBuffer() throws {
        let disk = SimulatedDisk(sectors: 64)
        let driver = try disk.driver()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 16)
        defer { buffer.deallocate() }
        var read = request(offset: 1024, buffer: buffer, length: 1536)
        driver.serveTransfer(&read, write: false, keepWaiting: { true })
        #expect(read.result == ok)
        #expect(Array(buffer.prefix(1536)) == Array(disk.bytes[1024..<2560]))

        for index in 0..<4096 { buffer[index] = UInt8(truncatingIfNeeded: index * 13 + 1) }
        // Many requests: the queue's 16 descriptors are reused, three per request.
        for round in 0..<20 {
            var write = request(offset: UInt64(round % 8) * 4096, buffer: buffer)
            driver.serveTransfer(&write, write: true, keepWaiting: { true })
            #expect(write.result == ok)
        }
        #expect(Array(disk.bytes[28672..<32768]) == Array(buffer))
        var flush = swiftlet_hc_block()
        driver.serveFlush(&flush, keepWaiting: { true })
        #expect(flush.result == ok && disk.flushes == 1)
        #expect(driver.queue.inFlight == 0)
        #expect(disk.device.violations.isEmpty, "\(disk.device.violations)")
    }

    @Test(arguments: [
        ("misaligned offset", UInt64(100), 512),
        ("partial block", UInt64(0), 700),
        ("empty", UInt64(0), 0),
        ("past the end", UInt64(63 * 512), 1024),
        ("offset past the end", UInt64(65 * 512), 512),
        ("over SWIFTLET_BLOCK_IO_MAX", UInt64(0), Int(SWIFTLET_BLOCK_IO_MAX) + 512),
    ])
    func requestsOutsideTheRulesAreRefusedBeforeTheDeviceSeesThem(name: String, offset: UInt64, length: Int) throws {
        let disk = SimulatedDisk(sectors: 64)
        let driver = try disk.driver()
        let before = disk.bytes
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(length, 1), alignment: 16)
        defer { buffer.deallocate() }
        for write in [false, true] {
            var refused = request(offset: offset, buffer: buffer, length: length)
            driver.serveTransfer(&refused, write: write, keepWaiting: { true })
            #expect(refused.result == invalid, "\(name)")
        }
        #expect(disk.device.queues[0].notifications == 0, "\(name): the device heard of it")
        #expect(disk.bytes == before)
    }

    @Test func aReadOnlyDeviceRefusesWrites() throws {
        let disk = SimulatedDisk(sectors: 8, features: VirtioFeature.version1 | VirtioBlock.readOnlyFeature)
        let driver = try disk.driver()
        #expect(driver.readOnly)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 512, alignment: 16)
        defer { buffer.deallocate() }
        var write = request(offset: 0, buffer: buffer)
        driver.serveTransfer(&write, write: true, keepWaiting: { true })
        #expect(write.result == failed)
        var read = request(offset: 0, buffer: buffer)
        driver.serveTransfer(&read, write: false, keepWaiting: { true })
        #expect(read.result == ok)
    }

    @Test func anIOErrorStatusIsEIOAndTheDeviceStaysUsable() throws {
        let disk = SimulatedDisk(sectors: 8)
        let driver = try disk.driver()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 512, alignment: 16)
        defer { buffer.deallocate() }
        disk.status = 1
        var first = request(offset: 0, buffer: buffer)
        driver.serveTransfer(&first, write: false, keepWaiting: { true })
        #expect(first.result == failed)
        disk.status = 0
        var second = request(offset: 512, buffer: buffer)
        driver.serveTransfer(&second, write: false, keepWaiting: { true })
        #expect(second.result == ok)
        #expect(driver.failure == nil)
    }

    @Test func aDeviceThatNeverAnswersIsGivenUpAndNotUsedAgain() throws {
        let disk = SimulatedDisk(sectors: 8)
        let driver = try disk.driver()
        disk.answers = false
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 512, alignment: 16)
        defer { buffer.deallocate() }
        var checks = 0
        var stuck = request(offset: 0, buffer: buffer)
        driver.serveTransfer(&stuck, write: false, keepWaiting: { checks += 1; return checks < 1000 })
        #expect(stuck.result == failed && checks == 1000)
        #expect(driver.failure != nil)
        #expect(disk.device.status & VirtioStatus.failed != 0)
        disk.answers = true
        var later = request(offset: 0, buffer: buffer)
        driver.serveTransfer(&later, write: false, keepWaiting: { true })
        #expect(later.result == failed, "a device that kept the buffer is not trusted again")
    }

    @Test func aUsedEntryNamingAChainMemberIsRefused() throws {
        let disk = SimulatedDisk(sectors: 8)
        let driver = try disk.driver()
        disk.answers = false
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 512, alignment: 16)
        defer { buffer.deallocate() }
        disk.device.onNotify = { [unowned disk] queue in
            guard let chain = disk.device.takeAvailableChain(queue) else { return }
            // Names the data buffer's descriptor, not the head.
            let member = (chain.head + 1) % disk.device.queues[0].size
            disk.device.pushUsed(queue, id: UInt32(member), length: 1)
        }
        var read = request(offset: 0, buffer: buffer)
        driver.serveTransfer(&read, write: false, keepWaiting: { true })
        #expect(read.result == failed)
        if case .badUsedEntry = driver.failure {} else { Issue.record("failure: \(String(describing: driver.failure))") }
    }
}
