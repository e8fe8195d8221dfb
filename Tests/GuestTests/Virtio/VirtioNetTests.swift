// The virtio-net driver against a simulated device over virtio-mmio: negotiation, queue
// set-up, frames each way, many in flight, index wrap-around, notification suppression, and a
// device that misbehaves.
import Testing
@testable import Swiftlet

private func makeDriver(_ device: SimulatedVirtioNet = SimulatedVirtioNet(), queueSize: UInt16 = 128) throws(VirtioError) -> VirtioNet {
    guard let transport = try VirtioMMIOTransport(probing: SimulatedMMIORegisters(device)) else { throw .noDevice }
    return try VirtioNet(transport: transport, addressing: simulatedAddressing, queueSize: queueSize)
}

/// A frame whose bytes say which frame it is.
private func frame(_ number: Int, length: Int = 60) -> [UInt8] {
    var bytes = [UInt8](repeating: UInt8(truncatingIfNeeded: number &+ length), count: length)
    for index in 0..<min(4, length) { bytes[index] = UInt8(truncatingIfNeeded: number >> (8 * index)) }
    return bytes
}

private func receiveAll(_ driver: VirtioNet) throws(VirtioError) -> [[UInt8]] {
    var frames: [[UInt8]] = []
    try driver.receive { frames.append(Array($0)) }
    return frames
}

@Suite struct VirtioNegotiationTests {
    @Test func acceptsVersion1MACStatusAndEventIndexButNoOffloads() throws {
        let device = SimulatedVirtioNet()
        let driver = try makeDriver(device)
        #expect(driver.features == VirtioFeature.version1 | VirtioFeature.netMAC | VirtioFeature.netStatus | VirtioFeature.ringEventIndex)
        #expect(device.driverFeatures == driver.features)   // no CSUM, no MRG_RXBUF although offered
        #expect(device.status == VirtioStatus.acknowledge | VirtioStatus.driver | VirtioStatus.featuresOK | VirtioStatus.driverOK)
        #expect(driver.mac == MACAddress(0x52, 0x54, 0x00, 0x12, 0x34, 0x56))
        #expect(device.queues.map(\.size) == [128, 128])
        #expect(device.queues.allSatisfy { $0.ready })
        #expect(device.violations.isEmpty, "\(device.violations)")
    }

    @Test func reportsLinkStatus() throws {
        let device = SimulatedVirtioNet()
        let driver = try makeDriver(device)
        #expect(driver.linkUp)
        device.linkUp = false
        #expect(!driver.linkUp)
    }

    @Test func refusesADeviceWithoutVersion1() {
        let device = SimulatedVirtioNet(features: VirtioFeature.netMAC | VirtioFeature.ringEventIndex)
        expectError(.missingFeatures(VirtioFeature.version1)) { _ = try makeDriver(device) }
        #expect(device.status & VirtioStatus.failed != 0)
        #expect(device.status & VirtioStatus.driverOK == 0)
    }

    @Test func reportsFeaturesTheDeviceRefused() {
        let device = SimulatedVirtioNet(features: VirtioNet.wantedFeatures | VirtioFeature.accessPlatform)
        device.insistedFeatures = VirtioFeature.accessPlatform
        expectError(.featuresRefused(VirtioNet.wantedFeatures)) { _ = try makeDriver(device) }
        #expect(device.status & VirtioStatus.failed != 0)
    }

    @Test func makesUpALocalMACWhenTheDeviceHasNone() throws {
        let device = SimulatedVirtioNet(features: VirtioFeature.version1)
        let driver = try makeDriver(device)
        #expect(driver.mac.bytes.0 & 0x03 == 0x02)   // locally administered, unicast
        #expect(driver.linkUp)                        // no STATUS feature: assumed up
        #expect(driver.features == VirtioFeature.version1)
    }

    @Test func refusesQueueSizesOfZeroOrNotAPowerOfTwo() {
        expectError(.badQueueSize(queue: 0, size: 0)) { _ = try makeDriver(SimulatedVirtioNet(queueMaximum: 0)) }
        expectError(.badQueueSize(queue: 0, size: 100)) { _ = try makeDriver(SimulatedVirtioNet(queueMaximum: 100)) }
        let memory = UnsafeMutableRawPointer.allocate(byteCount: 1 << 16, alignment: 16)
        defer { memory.deallocate() }
        for size: UInt16 in [0, 3, 96, 65535] {
            expectError(.badQueueSize(queue: 5, size: size)) {
                _ = try SplitVirtqueue(number: 5, size: size, memory: memory, addressing: simulatedAddressing, eventIndex: true)
            }
        }
    }

    @Test func usesASmallerQueueWhenTheDeviceAllowsOnlyThat() throws {
        let device = SimulatedVirtioNet(queueMaximum: 16)
        let driver = try makeDriver(device)
        #expect(device.queues.map(\.size) == [16, 16])
        #expect(driver.receiveQueue.inFlight == 16)   // every receive buffer posted
    }

    @Test func mmioProbeRefusesWhatIsNotVersion2Virtio() throws {
        let device = SimulatedVirtioNet()
        let registers = SimulatedMMIORegisters(device)
        registers.magic = 0x1234_5678
        expectError(.badMagic(0x1234_5678)) { _ = try VirtioMMIOTransport(probing: registers) }
        registers.magic = VirtioMMIOTransport.magicValue
        registers.version = 1
        expectError(.unsupportedVersion(1)) { _ = try VirtioMMIOTransport(probing: registers) }
        registers.version = 2
        registers.deviceID = 0
        let empty = try VirtioMMIOTransport(probing: registers)
        #expect(empty == nil)   // an empty slot
        registers.deviceID = 2
        expectError(.wrongDeviceType(2)) {
            _ = try VirtioNet(transport: VirtioMMIOTransport(probing: registers)!, addressing: simulatedAddressing)
        }
    }

    @Test func findsTheNetworkDeviceAmongSlots() throws {
        let slots = (0..<4).map { _ in SimulatedMMIORegisters(SimulatedVirtioNet()) }
        slots[0].deviceID = 0            // empty
        slots[1].deviceID = 2            // a block device
        slots[2].magic = 0xffff_ffff     // nothing there
        let transport = try VirtioMMIOTransport.find(type: 1, slots: 4) { slots[$0] }
        #expect(transport.registers === slots[3])
        slots[3].deviceID = 0
        expectError(.noDevice) { _ = try VirtioMMIOTransport.find(type: 1, slots: 4) { slots[$0] } }
    }
}

@Suite struct VirtioNetDataTests {
    @Test func oneFrameEachWay() throws {
        let device = SimulatedVirtioNet()
        let driver = try makeDriver(device)
        #expect(try receiveAll(driver).isEmpty)
        #expect(device.deliver(frame(1, length: 1514)))
        #expect(driver.hasInput)
        #expect(try receiveAll(driver) == [frame(1, length: 1514)])
        #expect(!driver.hasInput)
        #expect(try driver.send(UnsafeRawBufferPointer(start: nil, count: 0)) == false)   // empty: refused
        #expect(try send(driver, frame(2)))
        #expect(device.takeTransmitted().isEmpty)   // not before the flush
        driver.flush()
        #expect(device.takeTransmitted() == [frame(2)])
        #expect(driver.framesReceived == 1 && driver.framesSent == 1)
        #expect(device.violations.isEmpty, "\(device.violations)")
    }

    @Test func refusesFramesLongerThanTheMTU() throws {
        let driver = try makeDriver()
        #expect(try send(driver, [UInt8](repeating: 1, count: 1515)) == false)
        #expect(try driver.transmit { _ in 1515 } == false)
        #expect(driver.transmitQueue.inFlight == 0)
    }

    @Test func sixtyFourFramesInFlightEachWay() throws {
        let device = SimulatedVirtioNet(queueMaximum: 64)
        let driver = try makeDriver(device)
        for number in 0..<64 { #expect(try send(driver, frame(number))) }
        #expect(driver.transmitQueue.inFlight == 64)
        #expect(try send(driver, frame(64)) == false)   // all in flight
        driver.flush()
        #expect(device.takeTransmitted() == (0..<64).map { frame($0) })
        #expect(try send(driver, frame(64)))   // buffers came back
        #expect(driver.transmitQueue.inFlight == 1)

        for number in 0..<64 { #expect(device.deliver(frame(number, length: 100 + number))) }
        #expect(!device.deliver(frame(64)))   // every receive buffer is full
        #expect(try receiveAll(driver) == (0..<64).map { frame($0, length: 100 + $0) })
        #expect(device.deliver(frame(64)))    // and they were posted again
        #expect(device.violations.isEmpty, "\(device.violations)")
    }

    @Test func indicesWrapPast65535() throws {
        let device = SimulatedVirtioNet(queueMaximum: 128)
        let driver = try makeDriver(device)
        let total = 70_000
        var next = 0
        var received = 0, transmitted = 0
        while next < total {
            let batch = min(100, total - next)
            var posted = 0
            for number in next..<(next + batch) where device.deliver(frame(number, length: 64)) {
                if try send(driver, frame(number)) { posted += 1 }
            }
            #expect(posted == batch)
            for (offset, bytes) in try receiveAll(driver).enumerated() where bytes == frame(next + offset, length: 64) { received += 1 }
            driver.flush()
            for (offset, bytes) in device.takeTransmitted().enumerated() where bytes == frame(next + offset) { transmitted += 1 }
            next += batch
        }
        #expect(received == total && transmitted == total)
        #expect(driver.receiveQueue.lastUsed == UInt16(total % 65536))
        #expect(device.queues[1].usedIndex == UInt16(total % 65536))
        #expect(device.violations.isEmpty, "\(device.violations)")
    }
}

@Suite struct VirtioNotificationTests {
    @Test func aBusyDeviceIsNotifiedOnceForManyFlushes() throws {
        let device = SimulatedVirtioNet()
        device.asksForNotifications = false   // busy: polls, never moves avail_event
        let driver = try makeDriver(device)
        for number in 0..<64 {
            _ = try send(driver, frame(number))
            driver.flush()
        }
        #expect(device.notifications.transmit == 1)   // avail_event 0 was passed once
        #expect(device.takeTransmitted().count == 64)
    }

    @Test func anIdleDeviceIsNotifiedOncePerBatch() throws {
        let device = SimulatedVirtioNet()
        let driver = try makeDriver(device)
        device.onNotify = { queue in if queue == 1 { _ = device.takeTransmitted() } }
        for batch in 0..<10 {
            for number in 0..<20 { _ = try send(driver, frame(batch * 20 + number)) }
            driver.flush()
        }
        #expect(device.notifications.transmit == 10)
        #expect(driver.framesSent == 200)
    }

    @Test func withoutEventIndexEveryFlushNotifies() throws {
        let device = SimulatedVirtioNet(features: VirtioFeature.version1 | VirtioFeature.netMAC)
        let driver = try makeDriver(device)
        for number in 0..<64 {
            _ = try send(driver, frame(number))
            driver.flush()
        }
        #expect(device.notifications.transmit == 64)
    }

    @Test func receiveBuffersGoBackWithoutNotifyingUntilTheDeviceRanOut() throws {
        let device = SimulatedVirtioNet(queueMaximum: 32)
        let driver = try makeDriver(device)
        #expect(device.notifications.receive == 1)   // the initial buffers, at DRIVER_OK
        for number in 0..<20 { device.deliver(frame(number)) }
        #expect(try receiveAll(driver).count == 20)
        #expect(device.notifications.receive == 1)   // the device still had 12 buffers
        for number in 0..<32 { device.deliver(frame(number)) }
        #expect(!device.deliver(frame(99)))          // out of buffers: it asked to hear of the next
        #expect(try receiveAll(driver).count == 32)
        #expect(device.notifications.receive == 2)
    }

    @Test func interruptsOnlyWhileWaitingAndOncePerWait() throws {
        let device = SimulatedVirtioNet()
        let driver = try makeDriver(device)
        for number in 0..<10 { device.deliver(frame(number)) }
        #expect(device.queues[0].interrupts == 0)      // polling: no interrupts
        #expect(driver.prepareToWait())                // frames wait: do not sleep
        _ = try receiveAll(driver)
        #expect(!driver.prepareToWait())
        device.deliver(frame(10))
        device.deliver(frame(11))
        #expect(device.queues[0].interrupts == 1)      // the first frame woke us; the second did not
        #expect(driver.finishWaiting() & 1 == 1)
        device.deliver(frame(12))
        #expect(device.queues[0].interrupts == 1)
        #expect(try receiveAll(driver).count == 3)
        for number in 0..<5 {
            _ = try send(driver, frame(number))
            driver.flush()
            _ = device.takeTransmitted()
        }
        #expect(device.queues[1].interrupts == 0)      // transmit completions never interrupt
    }

    @Test func withoutEventIndexInterruptsFollowTheFlag() throws {
        let device = SimulatedVirtioNet(features: VirtioFeature.version1)
        let driver = try makeDriver(device)
        device.deliver(frame(0))
        #expect(device.queues[0].interrupts == 0)
        _ = try receiveAll(driver)
        #expect(!driver.prepareToWait())
        device.deliver(frame(1))
        device.deliver(frame(2))
        #expect(device.queues[0].interrupts == 2)
        driver.finishWaiting()
        device.deliver(frame(3))
        #expect(device.queues[0].interrupts == 2)
    }
}

@Suite struct VirtioMisbehavingDeviceTests {
    /// A driver with one frame sent (descriptor in flight on the transmit queue).
    private func driverWithTraffic() throws -> (VirtioNet, SimulatedVirtioNet) {
        let device = SimulatedVirtioNet(queueMaximum: 8)
        let driver = try makeDriver(device)
        _ = try send(driver, frame(0))
        driver.flush()
        return (driver, device)
    }

    private func expectStopped(_ driver: VirtioNet, _ device: SimulatedVirtioNet, by expected: VirtioError) {
        #expect(driver.failure == expected)
        #expect(device.status & VirtioStatus.failed != 0)
        expectError(expected) { _ = try receiveAll(driver) }          // and it stays stopped
        expectError(expected) { _ = try send(driver, frame(1)) }
        #expect(!driver.hasInput)
    }

    @Test func refusesAUsedEntryBeyondTheQueue() throws {
        let (driver, device) = try driverWithTraffic()
        device.pushUsed(0, id: 8, length: 100)
        expectError(.badUsedEntry(queue: 0, descriptor: 8, length: 100)) { _ = try receiveAll(driver) }
        expectStopped(driver, device, by: .badUsedEntry(queue: 0, descriptor: 8, length: 100))
    }

    @Test func refusesADescriptorNotInFlight() throws {
        let (driver, device) = try driverWithTraffic()
        device.pushUsed(1, id: 5, length: 0)   // only descriptor 0 was sent
        expectError(.badUsedEntry(queue: 1, descriptor: 5, length: 0)) { try driver.reclaimTransmitBuffers() }
        expectStopped(driver, device, by: .badUsedEntry(queue: 1, descriptor: 5, length: 0))
    }

    @Test func refusesADescriptorReturnedTwice() throws {
        let (driver, device) = try driverWithTraffic()
        #expect(device.takeTransmitted().count == 1)
        try driver.reclaimTransmitBuffers()
        device.pushUsed(1, id: 0, length: 0)
        expectError(.badUsedEntry(queue: 1, descriptor: 0, length: 0)) { try driver.reclaimTransmitBuffers() }
    }

    @Test func refusesALengthBeyondTheBuffer() throws {
        let (driver, device) = try driverWithTraffic()
        device.pushUsed(0, id: 3, length: UInt32(VirtioNet.bufferSize + 1))
        expectError(.badUsedEntry(queue: 0, descriptor: 3, length: UInt32(VirtioNet.bufferSize + 1))) { _ = try receiveAll(driver) }
        #expect(driver.framesReceived == 0)
    }

    @Test func refusesABufferShorterThanTheHeader() throws {
        let (driver, device) = try driverWithTraffic()
        device.pushUsed(0, id: 2, length: 11)
        expectError(.badReceive(length: 11, buffers: 1)) { _ = try receiveAll(driver) }
        expectStopped(driver, device, by: .badReceive(length: 11, buffers: 1))
    }

    @Test func refusesAUsedIndexThatRanAway() throws {
        let (driver, device) = try driverWithTraffic()
        device.setUsedIndex(0, 9)   // 9 entries in a queue of 8
        expectError(.usedIndexRunaway(queue: 0, used: 9, seen: 0)) { _ = try receiveAll(driver) }
        expectStopped(driver, device, by: .usedIndexRunaway(queue: 0, used: 9, seen: 0))
    }

    @Test func aGoodFrameBeforeABadEntryIsStillDelivered() throws {
        let (driver, device) = try driverWithTraffic()
        device.deliver(frame(7))
        device.pushUsed(0, id: 200, length: 20)
        var frames: [[UInt8]] = []
        expectError(.badUsedEntry(queue: 0, descriptor: 200, length: 20)) { try driver.receive { frames.append(Array($0)) } }
        #expect(frames == [frame(7)])
    }
}
