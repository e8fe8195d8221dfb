// The virtio-net driver as the virtio binding's network device (the PVHNetworkDevice seam in
// Sources/Guest/PVH/PVHHypercalls.swift): finds the devices (virtio-mmio slots the command line
// announces, else virtio-pci functions on bus 0 through q35's ECAM), routes each one's receive
// interrupt to a vector that wakes the shim's halt, and serves NET_* with the driver.
#if SWIFTLET_GUEST
import SwiftletABI

final class VirtioPVHNetwork: PVHNetworkDevice {
    /// Device interrupts wake the halt on vectors 33...95 (pvh.S); device `index` uses 33 + index.
    static let firstVector: UInt8 = 33
    static let localAPIC: UInt64 = 0xfee0_0000
    static let ioAPICs: [UInt] = [0xfec0_0000, 0xfec1_0000]   // microvm adds the second for its 24 slots
    /// Device MMIO that pvh.S maps at CPL3 (identity, uncached).
    static let mappedDevices: ClosedRange<UInt64> = SWIFTLET_VIRTIO_MMIO_BASE...0xffff_ffff
    static let addressing = DeviceAddressing(offset: SWIFTLET_GUEST_BASE &- SWIFTLET_VIRTIO_PHYS_BASE)

    let driver: VirtioNet
    let description: swiftlet_device
    /// Whether an interrupt wakes the halt when a frame arrives (else the halt's timer does).
    let interruptsRouted: Bool
    /// Receive interrupts are armed: the next frame raises one.
    private var armed = false

    init(driver: VirtioNet, index: Int, interruptsRouted: Bool) {
        self.driver = driver
        self.interruptsRouted = interruptsRouted
        var device = swiftlet_device()
        device.kind = UInt32(SWIFTLET_DEVICE_NET.rawValue)
        device.mtu = UInt16(driver.mtu)
        let mac = driver.mac.bytes
        device.mac = (mac.0, mac.1, mac.2, mac.3, mac.4, mac.5)
        withUnsafeMutableBytes(of: &device.name) { name in
            let text = "virtio\(index)".utf8
            for (offset, byte) in text.prefix(name.count - 1).enumerated() { name[offset] = byte }
        }
        description = device
    }

    /// Input waiting? Asked by POLL before it halts: when there is none, this arms the receive
    /// interrupt (and says yes if a frame slipped in meanwhile), so the halt wakes for it.
    var hasInput: Bool {
        if driver.hasInput {
            if armed { settle() }
            return true
        }
        guard interruptsRouted, driver.failure == nil else { return false }
        if !armed {
            armed = true
            // A level left raised (a configuration change) would hide the next edge.
            driver.finishWaiting()
            if driver.prepareToWait() {
                settle()
                return true
            }
        }
        return false
    }

    private func settle() {
        armed = false
        driver.finishWaiting()
    }

    func write(_ request: inout swiftlet_hc_net) { driver.serveWrite(&request) }
    func read(_ request: inout swiftlet_hc_net) { driver.serveRead(&request) }

    // MARK: Finding devices

    /// The network devices of this machine: virtio-mmio ones the command line announces, else
    /// the virtio-pci functions of bus 0. A device that fails is reported on the console and
    /// left out (the application then finds fewer NICs, and says so itself).
    static func probe(_ announced: [VirtioMMIODescription]) -> [any PVHNetworkDevice] {
        var devices: [any PVHNetworkDevice] = []
        for description in announced.isEmpty ? microvmSlots() : announced {
            guard mappedDevices.contains(description.base), description.size >= 0x100,
                  mappedDevices.contains(description.base + description.size - 1) else {
                report("virtio-mmio: a device at \(hex(description.base)) is outside the device window")
                continue
            }
            let registers = MappedRegisters(base: UInt(description.base), size: Int(description.size))
            do throws(VirtioError) {
                guard let transport = try VirtioMMIOTransport(probing: registers),
                      transport.deviceType == VirtioNet.networkDeviceType else { continue }
                let vector = firstVector + UInt8(devices.count)
                let routed = routeIOAPIC(interrupt: description.interrupt, vector: vector)
                let driver = try VirtioNet(transport: transport, addressing: addressing)
                devices.append(VirtioPVHNetwork(driver: driver, index: devices.count, interruptsRouted: routed))
            } catch {
                report(error.message)
            }
        }
        if devices.isEmpty { devices += probePCI() }
        return devices
    }

    /// QEMU microvm with ACPI (its default) announces its virtio-mmio slots in ACPI tables, not
    /// on the command line: its 24 slots at 0xfeb00000 + 0x200 * i, on GSI 24 + i of its second
    /// IOAPIC (without one, 8 slots on GSI 5 + i). Slots holding a device, if "virt" is there.
    static func microvmSlots() -> [VirtioMMIODescription] {
        let base = UInt64(VirtioMMIOTransport.microvmBase)
        let first = MappedRegisters(base: UInt(base), size: VirtioMMIOTransport.windowSize)
        guard first.load32(at: 0) == VirtioMMIOTransport.magicValue else { return [] }
        let secondIOAPIC = ioAPICPins(ioAPICs[1]) != nil
        let (slots, firstInterrupt): (Int, UInt32) = secondIOAPIC ? (24, 24) : (8, 5)
        return (0..<slots).compactMap { slot in
            let address = base + UInt64(slot * VirtioMMIOTransport.windowSize)
            let registers = MappedRegisters(base: UInt(address), size: VirtioMMIOTransport.windowSize)
            guard registers.load32(at: 0) == VirtioMMIOTransport.magicValue, registers.load32(at: 8) != 0 else { return nil }
            return VirtioMMIODescription(base: address, size: UInt64(VirtioMMIOTransport.windowSize),
                                         interrupt: firstInterrupt + UInt32(slot))
        }
    }

    /// How many pins the IOAPIC at `base` has; nil if none answers there.
    static func ioAPICPins(_ base: UInt) -> UInt32? {
        let ioapic = MappedRegisters(base: base, size: 0x20)
        ioapic.store32(1, at: 0)                                // IOAPICVER
        let version = ioapic.load32(at: 0x10)
        guard version != 0xffff_ffff && version != 0 else { return nil }
        return (version >> 16 & 0xff) + 1
    }

    /// q35's ECAM: bus 0's functions, 4 KiB each. A machine without it (microvm) reads all ones
    /// or zeroes at the host bridge's place, and is left alone.
    static func probePCI() -> [any PVHNetworkDevice] {
        let base = VirtioPCITransport.q35ECAMBase
        func function(_ device: Int, _ function: Int) -> any VirtioRegisterWindow {
            MappedRegisters(base: base + UInt(device << 15 | function << 12), size: 4096)
        }
        let hostBridge = function(0, 0).load16(at: 0)
        guard hostBridge != 0xffff && hostBridge != 0 else { return [] }
        let map = { (address: UInt64, length: Int) -> (any VirtioRegisterWindow)? in
            guard length > 0, mappedDevices.contains(address), mappedDevices.contains(address + UInt64(length) - 1) else { return nil }
            return MappedRegisters(base: UInt(address), size: length)
        }
        do throws(VirtioError) {
            let transport = try VirtioPCITransport.find(type: VirtioNet.networkDeviceType, function: function, map: map)
            let routed = transport.routeInterrupts(ofQueue: VirtioNet.receiveQueue, toVector: firstVector, map: map)
            let driver = try VirtioNet(transport: transport, addressing: addressing)
            return [VirtioPVHNetwork(driver: driver, index: 0, interruptsRouted: routed)]
        } catch {
            if error != .noDevice { report(error.message) }
            return []
        }
    }

    /// Sends GSI `interrupt` to `vector` on the boot CPU: edge-triggered, active high, APIC ID 0,
    /// through whichever IOAPIC has that pin (each says how many it has). False if none has it.
    static func routeIOAPIC(interrupt: UInt32, vector: UInt8) -> Bool {
        var first: UInt32 = 0
        for base in ioAPICs {
            guard let pins = ioAPICPins(base) else { return false }
            if interrupt < first + pins {
                let ioapic = MappedRegisters(base: base, size: 0x20)
                let entry = 0x10 + 2 * (interrupt - first)
                ioapic.store32(entry + 1, at: 0)
                ioapic.store32(0, at: 0x10)                     // destination: APIC ID 0
                ioapic.store32(entry, at: 0)
                ioapic.store32(UInt32(vector), at: 0x10)        // fixed, physical, high, edge, unmasked
                return true
            }
            first += pins
        }
        return false
    }

    private static func report(_ message: String) {
        var line = message
        line += "\n"
        line.withUTF8 { PVHShim.write(UnsafeRawBufferPointer($0)) }
    }

    private static func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }
}
#endif
