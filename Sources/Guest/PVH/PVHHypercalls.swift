// The virtio target's hypercall dispatcher: boot info's `hypercall_entry` on virtio, so the
// library OS calls it exactly as it calls the spt tender's host function. It runs at CPL3 in
// the image and serves each hypercall with the machine (PVHMachine, PVHShim) and its devices.
//
// The seam with the virtio-net driver (Sources/Guest/Virtio, helper vnet), agreed here:
//   - The driver provides a class conforming to `PVHNetworkDevice` and a probe
//     `PVHDevices.probeNetwork: ([VirtioMMIODescription]) -> [any PVHNetworkDevice]` is set
//     to it (one line in PVHBoot.start). Just before `main`, with the heap up, the binding
//     calls the probe with the virtio-mmio devices the command line announces (QEMU microvm
//     and Firecracker add `virtio_mmio.device=` words; PCI devices the driver finds itself
//     through ECAM), gives each device its handle (its index) and lists it in boot info's
//     devices[].
//   - NET_WRITE / NET_READ / NET_EXCHANGE are passed to the device with the request exactly as
//     the ABI defines it (swiftlet_abi.h): the device fills `completed` and `result`.
//     Frame addresses are guest addresses; a device's DMA address for guest address A is
//     A - SWIFTLET_GUEST_BASE + SWIFTLET_VIRTIO_PHYS_BASE (`PVHDevices.physicalAddress`).
//   - POLL asks each device `hasInput`; while none has any, it halts in the shim until the
//     timeout or an interrupt. Device MMIO (virtio-mmio, PCI ECAM and BARs, LAPIC, IOAPIC) in
//     guest-physical [2 GiB, 4 GiB) is mapped at the same address for CPL3, uncached, so the
//     driver needs no shim call on its hot path; an interrupt it routes (IOAPIC or MSI-X, vector
//     33...95) wakes the halt and is acknowledged by the shim.
#if SWIFTLET_GUEST
import SwiftletABI

protocol PVHNetworkDevice: AnyObject {
    /// kind SWIFTLET_DEVICE_NET, name, MAC, MTU (the binding sets `handle`).
    var description: swiftlet_device { get }
    var hasInput: Bool { get }
    func write(_ request: inout swiftlet_hc_net)
    func read(_ request: inout swiftlet_hc_net)
}

enum PVHDevices {
    nonisolated(unsafe) static var probeNetwork: (([VirtioMMIODescription]) -> [any PVHNetworkDevice])? = nil
    nonisolated(unsafe) static var network: [any PVHNetworkDevice] = []
    /// virtio-blk disks, listed after the network devices (handle = network.count + index).
    nonisolated(unsafe) static var blocks: [VirtioBlock] = []

    static var readySet: UInt64 {
        var ready: UInt64 = 0
        for (handle, device) in network.enumerated() where handle < 64 && device.hasInput { ready |= 1 << UInt64(handle) }
        return ready
    }

    static func physicalAddress(_ guestAddress: UInt64) -> UInt64 {
        guestAddress - SWIFTLET_GUEST_BASE + SWIFTLET_VIRTIO_PHYS_BASE
    }

    static func networkDevice(_ handle: UInt32) -> (any PVHNetworkDevice)? {
        Int(handle) < network.count ? network[Int(handle)] : nil
    }
}

@_cdecl("swiftlet_pvh_hypercall")
func swiftletPVHHypercall(_ number: UInt32, _ argument: UInt64) {
    guard let pointer = UnsafeMutableRawPointer(bitPattern: UInt(argument)) else {
        PVHCrash.badHypercall(number)
    }
    switch swiftlet_hypercall(rawValue: number) {
    case SWIFTLET_HC_WALLTIME:
        pointer.assumingMemoryBound(to: swiftlet_hc_time.self).pointee.nanoseconds = PVHMachine.wallClockNanoseconds()
    case SWIFTLET_HC_MONOTONIC:
        pointer.assumingMemoryBound(to: swiftlet_hc_time.self).pointee.nanoseconds = PVHMachine.monotonicNanoseconds()
    case SWIFTLET_HC_CONSOLE:
        let request = pointer.assumingMemoryBound(to: swiftlet_hc_console.self)
        guard request.pointee.length <= UInt64(SWIFTLET_CONSOLE_MAX) else {
            request.pointee.result = Int32(SWIFTLET_R_EINVAL.rawValue)
            return
        }
        PVHShim.write(UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: UInt(request.pointee.data)),
                                             count: Int(request.pointee.length)))
        request.pointee.result = Int32(SWIFTLET_R_OK.rawValue)
    case SWIFTLET_HC_POLL:
        let request = pointer.assumingMemoryBound(to: swiftlet_hc_poll.self)
        request.pointee.ready_set = PVHMachine.poll(timeout: request.pointee.timeout)
    case SWIFTLET_HC_NET_WRITE:
        serve(&pointer.assumingMemoryBound(to: swiftlet_hc_net.self).pointee) { $0.write(&$1) }
    case SWIFTLET_HC_NET_READ:
        serve(&pointer.assumingMemoryBound(to: swiftlet_hc_net.self).pointee) { $0.read(&$1) }
    case SWIFTLET_HC_NET_EXCHANGE:
        let request = pointer.assumingMemoryBound(to: swiftlet_hc_net_exchange.self)
        if request.pointee.write.count > 0 {
            serve(&request.pointee.write) { $0.write(&$1) }
        } else {
            request.pointee.write.completed = 0
            request.pointee.write.result = Int32(SWIFTLET_R_OK.rawValue)
        }
        request.pointee.ready_set = PVHMachine.poll(timeout: request.pointee.timeout)
        let handle = request.pointee.read.handle
        if handle < 64 && request.pointee.ready_set & (1 << UInt64(handle)) != 0 {
            serve(&request.pointee.read) { $0.read(&$1) }
        } else {
            request.pointee.read.completed = 0
            request.pointee.read.result = Int32((PVHDevices.networkDevice(handle) == nil ? SWIFTLET_R_ENODEV : SWIFTLET_R_AGAIN).rawValue)
        }
    case SWIFTLET_HC_BLOCK_READ, SWIFTLET_HC_BLOCK_WRITE, SWIFTLET_HC_BLOCK_FLUSH:
        VirtioPVHBlock.serve(&pointer.assumingMemoryBound(to: swiftlet_hc_block.self).pointee, number: swiftlet_hypercall(rawValue: number))
    case SWIFTLET_HC_BLOCK_BATCH:
        VirtioPVHBlock.serve(&pointer.assumingMemoryBound(to: swiftlet_hc_block_batch.self).pointee)
    case SWIFTLET_HC_SHUTDOWN_WATCH:
        // No tender here to turn a signal into a request: QEMU ends the VM on SIGTERM.
        pointer.assumingMemoryBound(to: swiftlet_hc_shutdown_watch.self).pointee.grace_period = 0
    case SWIFTLET_HC_HALT:
        let request = pointer.assumingMemoryBound(to: swiftlet_hc_halt.self).pointee
        if let record = UnsafePointer<swiftlet_crash_record>(bitPattern: UInt(request.crash)) {
            PVHCrash.reported(record.pointee)
        }
        PVHMachine.exit(status: request.status)
    default:
        PVHCrash.badHypercall(number)
    }
}

private func serve(_ request: inout swiftlet_hc_net, _ body: (any PVHNetworkDevice, inout swiftlet_hc_net) -> Void) {
    guard let device = PVHDevices.networkDevice(request.handle) else {
        request.completed = 0
        request.result = Int32(SWIFTLET_R_ENODEV.rawValue)
        return
    }
    body(device, &request)
}
#endif
