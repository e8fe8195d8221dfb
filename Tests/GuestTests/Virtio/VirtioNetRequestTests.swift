// NET_WRITE and NET_READ as the virtio binding serves them with the driver: the ABI's request
// structs and frame tables in, frames on the simulated wire out, and the reverse.
import Testing
import SwiftletABI
@testable import Swiftlet

/// Frame buffers and the table that names them, as the library OS lays them out.
private final class FrameTable {
    let buffers: UnsafeMutableRawPointer
    let table: UnsafeMutablePointer<swiftlet_frame>
    let count: Int

    init(count: Int, capacity: Int = 2048) {
        self.count = count
        buffers = .allocate(byteCount: count * 2048, alignment: 64)
        table = .allocate(capacity: count)
        for index in 0..<count {
            table[index] = swiftlet_frame(data: UInt64(UInt(bitPattern: buffers + index * 2048)), length: 0, capacity: UInt32(capacity), offload: .init())
        }
    }
    deinit {
        buffers.deallocate()
        table.deallocate()
    }

    func fill(_ frames: [[UInt8]]) {
        for (index, frame) in frames.enumerated() {
            frame.withUnsafeBytes { (buffers + index * 2048).copyMemory(from: $0.baseAddress!, byteCount: frame.count) }
            table[index].length = UInt32(frame.count)
        }
    }

    func frame(_ index: Int) -> [UInt8] {
        Array(UnsafeRawBufferPointer(start: buffers + index * 2048, count: Int(table[index].length)))
    }

    func request(count: Int? = nil) -> swiftlet_hc_net {
        swiftlet_hc_net(handle: 0, count: UInt32(count ?? self.count), frames: UInt64(UInt(bitPattern: table)), completed: 0, result: -1)
    }
}

private func ethernetFrame(_ number: Int, length: Int = 60) -> [UInt8] {
    (0..<length).map { UInt8(truncatingIfNeeded: number &* 7 &+ $0) }
}

private func makeDriver(_ device: SimulatedVirtioNet) throws -> VirtioNet {
    try VirtioNet(transport: try #require(try VirtioMMIOTransport(probing: SimulatedMMIORegisters(device))),
                  addressing: simulatedAddressing)
}

@Suite struct VirtioNetRequestTests {
    @Test func writeSendsABatchWithOneNotification() throws {
        let device = SimulatedVirtioNet()
        let driver = try makeDriver(device)
        let table = FrameTable(count: 64)
        let frames = (0..<64).map { ethernetFrame($0, length: 60 + $0 * 20) }
        table.fill(frames)
        var request = table.request()
        driver.serveWrite(&request)
        #expect(request.result == Int32(SWIFTLET_R_OK.rawValue))
        #expect(request.completed == 64)
        #expect(device.takeTransmitted() == frames)
        #expect(device.notifications.transmit == 1)
    }

    @Test func writeRefusesFramesOutsideEthernetSizesAndOversizedBatches() throws {
        let device = SimulatedVirtioNet()
        let driver = try makeDriver(device)
        let table = FrameTable(count: 3)
        table.fill([ethernetFrame(0), [1, 2, 3], ethernetFrame(2)])
        var request = table.request()
        driver.serveWrite(&request)
        #expect(request.result == Int32(SWIFTLET_R_EINVAL.rawValue))
        #expect(request.completed == 1)                                // the good frame before it went
        #expect(device.takeTransmitted() == [ethernetFrame(0)])
        table.fill([ethernetFrame(0, length: 1515)])
        request = table.request(count: 1)
        driver.serveWrite(&request)
        #expect(request.result == Int32(SWIFTLET_R_EINVAL.rawValue))
        request = table.request(count: Int(SWIFTLET_NET_BATCH_MAX) + 1)
        driver.serveWrite(&request)
        #expect(request.result == Int32(SWIFTLET_R_EINVAL.rawValue) && request.completed == 0)
    }

    @Test func writeDropsWhatAStalledDeviceHasNoRoomFor() throws {
        let device = SimulatedVirtioNet(queueMaximum: 16)
        let driver = try makeDriver(device)
        let table = FrameTable(count: 20)
        table.fill((0..<20).map { ethernetFrame($0) })
        var request = table.request()
        driver.serveWrite(&request)   // the device takes nothing: 16 fit, 4 are dropped after the wait
        #expect(request.result == Int32(SWIFTLET_R_OK.rawValue))
        #expect(request.completed == 20)
        #expect(driver.framesDropped == 4)
        #expect(device.takeTransmitted() == (0..<16).map { ethernetFrame($0) })
    }

    @Test func writeWaitsForADeviceThatCatchesUp() throws {
        let device = SimulatedVirtioNet(queueMaximum: 16)
        let driver = try makeDriver(device)
        var sent: [[UInt8]] = []
        device.asksForNotifications = true
        device.onNotify = { queue in if queue == 1 { sent += device.takeTransmitted() } }
        let table = FrameTable(count: 40)
        table.fill((0..<40).map { ethernetFrame($0) })
        var request = table.request()
        driver.serveWrite(&request)
        sent += device.takeTransmitted()
        #expect(request.completed == 40 && driver.framesDropped == 0)
        #expect(sent == (0..<40).map { ethernetFrame($0) })
    }

    @Test func readFillsTheTableInOrder() throws {
        let device = SimulatedVirtioNet()
        let driver = try makeDriver(device)
        let table = FrameTable(count: 8)
        var request = table.request()
        driver.serveRead(&request)
        #expect(request.result == Int32(SWIFTLET_R_AGAIN.rawValue) && request.completed == 0)
        for number in 0..<10 { device.deliver(ethernetFrame(number, length: 100 + number)) }
        request = table.request()
        driver.serveRead(&request)
        #expect(request.result == Int32(SWIFTLET_R_OK.rawValue))
        #expect(request.completed == 8)
        #expect((0..<8).map { table.frame($0) } == (0..<8).map { ethernetFrame($0, length: 100 + $0) })
        request = table.request()
        driver.serveRead(&request)
        #expect(request.completed == 2)
        #expect(table.frame(1) == ethernetFrame(9, length: 109))
    }

    @Test func readDropsAFrameLongerThanItsBuffer() throws {
        let device = SimulatedVirtioNet()
        let driver = try makeDriver(device)
        let table = FrameTable(count: 2, capacity: 200)
        device.deliver(ethernetFrame(0, length: 300))
        device.deliver(ethernetFrame(1, length: 150))
        var request = table.request()
        driver.serveRead(&request)
        #expect(request.completed == 1)
        #expect(table.frame(0) == ethernetFrame(1, length: 150))
        #expect(driver.framesDropped == 1)
    }

    @Test func aBrokenDeviceAnswersEIO() throws {
        let device = SimulatedVirtioNet()
        let driver = try makeDriver(device)
        device.pushUsed(0, id: 4000, length: 64)
        let table = FrameTable(count: 4)
        var request = table.request()
        driver.serveRead(&request)
        #expect(request.result == Int32(SWIFTLET_R_EIO.rawValue) && request.completed == 0)
        table.fill([ethernetFrame(0)])
        request = table.request(count: 1)
        driver.serveWrite(&request)
        #expect(request.result == Int32(SWIFTLET_R_EIO.rawValue) && request.completed == 0)
    }
}
