// The modern virtio-pci transport against a simulated function: capability parsing, BAR
// decoding, bus scan, and the same driver moving frames through it.
import Testing
@testable import Swiftlet

private func transport(_ function: SimulatedPCIFunction) throws(VirtioError) -> VirtioPCITransport? {
    try VirtioPCITransport(config: function.configWindow, map: function.map)
}

@Suite struct VirtioPCITests {
    @Test func negotiatesAndMovesFramesThroughTheCapabilities() throws {
        let device = SimulatedVirtioNet()
        let function = SimulatedPCIFunction(device)
        let pci = try #require(try transport(function))
        #expect(pci.deviceType == 1)
        let driver = try VirtioNet(transport: pci, addressing: simulatedAddressing)
        #expect(function.command & 0x6 == 0x6)   // memory decoding and bus mastering on
        #expect(device.status & VirtioStatus.driverOK != 0)
        #expect(driver.mac == MACAddress(0x52, 0x54, 0x00, 0x12, 0x34, 0x56))
        #expect(driver.linkUp)
        #expect(device.deliver([1, 2, 3, 4]))
        var received: [[UInt8]] = []
        try driver.receive { received.append(Array($0)) }
        #expect(received == [[1, 2, 3, 4]])
        _ = try send(driver, [9, 8, 7])
        driver.flush()
        #expect(device.takeTransmitted() == [[9, 8, 7]])
        // The transmit queue's doorbell: queue_notify_off 1 × multiplier 4.
        #expect(function.doorbells.map(\.offset) == [0, 4])
        #expect(function.doorbells.map(\.value) == [0, 1])
        #expect(device.violations.isEmpty, "\(device.violations)")
    }

    @Test func identifiesTransitionalDevicesBySubsystem() throws {
        let function = SimulatedPCIFunction(SimulatedVirtioNet(), deviceID: 0x1000)
        #expect(try transport(function)?.deviceType == 1)
    }

    @Test func ignoresFunctionsThatAreNotVirtio() throws {
        let function = SimulatedPCIFunction(SimulatedVirtioNet())
        function.put16(0x8086, at: 0)
        #expect(try transport(function) == nil)
        function.put16(VirtioPCITransport.vendor, at: 0)
        function.put16(0x1110, at: 2)   // ivshmem
        #expect(try transport(function) == nil)
    }

    @Test func findsTheNetworkFunctionOnBus0() throws {
        let block = SimulatedPCIFunction(SimulatedVirtioNet(), deviceID: 0x1042)
        let other = SimulatedPCIFunction(SimulatedVirtioNet())
        other.put16(0x8086, at: 0)
        let net = SimulatedPCIFunction(SimulatedVirtioNet())
        let absent = SimulatedPCIFunction(SimulatedVirtioNet())
        absent.put16(0xffff, at: 0)
        let slots = [1: other, 2: block, 5: net]
        var looked = 0
        let found = try VirtioPCITransport.find(type: 1, function: { device, function in
            looked += 1
            return (function == 0 ? slots[device] : nil)?.configWindow ?? absent.configWindow
        }, map: { address, length in net.map(address, length) ?? block.map(address, length) })
        #expect(found.deviceType == 1)
        #expect(looked == 6)   // devices 0…5, function 0 each (none is multi-function)
        expectError(.noDevice) {
            _ = try VirtioPCITransport.find(type: 1, function: { _, _ in absent.configWindow }, map: { _, _ in nil })
        }
    }

    @Test func refusesAFunctionWithoutADeviceConfiguration() {
        let function = SimulatedPCIFunction(SimulatedVirtioNet())
        function.config[0x51] = 0x70   // the ISR capability now skips the device one
        expectError(.missingCapability(VirtioPCITransport.CapabilityType.device)) { _ = try transport(function) }
    }

    @Test func refusesCapabilitiesInIOOrUnassignedBARs() {
        let function = SimulatedPCIFunction(SimulatedVirtioNet())
        function.config[0x40 + 4] = 1   // common configuration in the I/O BAR
        expectError(.badCapability(VirtioPCITransport.CapabilityType.common)) { _ = try transport(function) }
        function.config[0x40 + 4] = 4
        function.put32(0xc, at: 0x20)    // BAR4 not assigned by the firmware
        function.put32(0, at: 0x24)
        expectError(.badCapability(VirtioPCITransport.CapabilityType.common)) { _ = try transport(function) }
    }

    @Test func refusesACapabilityOutsideItsBAR() {
        let function = SimulatedPCIFunction(SimulatedVirtioNet())
        function.put32(0x10_0000, at: 0x60 + 8)   // device configuration 1 MiB into a 16 KiB BAR
        expectError(.badCapability(VirtioPCITransport.CapabilityType.device)) { _ = try transport(function) }
    }

    @Test func aLoopingCapabilityListEnds() {
        let function = SimulatedPCIFunction(SimulatedVirtioNet())
        function.config[0x51] = 0x50   // the ISR capability points at itself: notify is never reached
        expectError(.missingCapability(VirtioPCITransport.CapabilityType.notify)) { _ = try transport(function) }
        #expect(VirtioPCITransport.capabilities(function.configWindow).count == 48)   // bounded walk
    }

    @Test func aDoorbellOutsideTheNotifyRegionIsNotRung() throws {
        let device = SimulatedVirtioNet()
        let function = SimulatedPCIFunction(device)
        function.notifyOffsetOfQueue = [0, 0x2000]   // × 4: far beyond the 4 KiB region
        let driver = try VirtioNet(transport: try #require(try transport(function)), addressing: simulatedAddressing)
        _ = try send(driver, [1])
        driver.flush()
        #expect(function.doorbells.map(\.offset) == [0])   // only the receive queue's
    }

    @Test func routesReceiveInterruptsThroughMSIX() throws {
        let device = SimulatedVirtioNet()
        let function = SimulatedPCIFunction(device)
        let pci = try #require(try transport(function))
        #expect(pci.routeInterrupts(ofQueue: 0, toVector: 0x40, map: function.map))
        _ = try VirtioNet(transport: pci, addressing: simulatedAddressing)
        #expect(Array(function.msixTable.prefix(4)) == [0xfee0_0000, 0, 0x40, 0])   // LAPIC 0, vector 0x40, unmasked
        #expect(function.msixControl & 0xc000 == 0x8000)                              // enabled, not masked
        #expect(function.queueVectors == [0, 0xffff])                                 // receive only
        #expect(device.violations.isEmpty, "\(device.violations)")
    }

    @Test func withoutMSIXTheDriverPolls() throws {
        let function = SimulatedPCIFunction(SimulatedVirtioNet())
        function.config[0x71] = 0   // the list ends before the MSI-X capability
        let pci = try #require(try transport(function))
        #expect(!pci.routeInterrupts(ofQueue: 0, toVector: 0x40, map: function.map))
        _ = try VirtioNet(transport: pci, addressing: simulatedAddressing)
        #expect(function.queueVectors == [0xffff, 0xffff])
    }
}
