// The guest side of a Swiftlet network device. One hypercall moves a whole batch of frames in
// either direction, since a VM exit costs tens of microseconds on the hosts we target.
#if SWIFTLET_GUEST
import SwiftletABI

public final class GuestNIC: FrameDevice {
    public let handle: UInt32
    public let name: String
    public let mac: MACAddress
    public let mtu: Int

    static let batch = Int(SWIFTLET_NET_BATCH_MAX)
    static let slotSize = 2048
    private let receiveSlots: UnsafeMutableRawPointer
    private let transmitSlots: UnsafeMutableRawPointer
    private let receiveTable: UnsafeMutablePointer<swiftlet_frame>
    private let transmitTable: UnsafeMutablePointer<swiftlet_frame>
    private var queued = 0
    /// Frames the last exchange already read into the receive slots, not yet handed over.
    private var prefetched = 0
    /// The last exchange emptied the host's queue: no NET_READ needed until the next wait.
    private var drained = false
    public private(set) var framesReceived = 0
    public private(set) var framesSent = 0

    init(_ device: swiftlet_device) {
        handle = device.handle
        var bytes = device.name
        name = withUnsafeBytes(of: &bytes) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        mac = MACAddress(device.mac.0, device.mac.1, device.mac.2, device.mac.3, device.mac.4, device.mac.5)
        mtu = Int(device.mtu)
        receiveSlots = .allocate(byteCount: Self.batch * Self.slotSize, alignment: 64)
        transmitSlots = .allocate(byteCount: Self.batch * Self.slotSize, alignment: 64)
        receiveTable = .allocate(capacity: Self.batch)
        transmitTable = .allocate(capacity: Self.batch)
        for index in 0..<Self.batch {
            receiveTable[index] = swiftlet_frame(
                data: UInt64(UInt(bitPattern: receiveSlots + index * Self.slotSize)), length: 0, capacity: UInt32(Self.slotSize))
        }
    }

    /// The network devices the tender attached, in handle order.
    public static let all: [GuestNIC] = {
        Boot.devices.compactMap { device in device.kind == UInt32(SWIFTLET_DEVICE_NET.rawValue) ? GuestNIC(device) : nil }
    }()

    /// Sleeps until any device has input or `deadline` (uptime ns) passes; nil waits for input.
    /// Returns the handles with input as a bit set.
    @discardableResult
    public static func waitForInput(until deadline: UInt64?) -> UInt64 {
        Platform.poll(until: deadline)
    }

    @discardableResult
    public func receive(_ body: (UnsafeRawBufferPointer) -> Void) -> Int {
        if prefetched > 0 {
            let count = prefetched
            prefetched = 0
            deliver(count, body)
            return count
        }
        if drained {
            drained = false
            return 0
        }
        for index in 0..<Self.batch { receiveTable[index].length = 0 }
        var request = readRequest
        Hypercall.call(SWIFTLET_HC_NET_READ, &request)
        let count = min(Int(request.completed), Self.batch)
        deliver(count, body)
        return count
    }

    /// Sends the queued frames, sleeps until input or `deadline`, and reads what arrived:
    /// one hypercall (NET_EXCHANGE) for what would otherwise be three VM exits.
    public func flushAndWait(until deadline: UInt64?) {
        for index in 0..<Self.batch { receiveTable[index].length = 0 }
        var request = swiftlet_hc_net_exchange(
            write: swiftlet_hc_net(handle: handle, count: UInt32(queued),
                                   frames: UInt64(UInt(bitPattern: transmitTable)), completed: 0, result: 0),
            read: readRequest, timeout: Platform.timeout(until: deadline), ready_set: 0)
        Hypercall.call(SWIFTLET_HC_NET_EXCHANGE, &request)
        Shutdown.note(readySet: request.ready_set)
        framesSent += queued
        queued = 0
        prefetched = min(Int(request.read.completed), Self.batch)
        // A full batch may have left more behind; anything less emptied the host's queue.
        drained = prefetched < Self.batch
    }

    private var readRequest: swiftlet_hc_net {
        swiftlet_hc_net(handle: handle, count: UInt32(Self.batch),
                        frames: UInt64(UInt(bitPattern: receiveTable)), completed: 0, result: 0)
    }

    private func deliver(_ count: Int, _ body: (UnsafeRawBufferPointer) -> Void) {
        for index in 0..<count {
            let length = min(Int(receiveTable[index].length), Self.slotSize)
            body(UnsafeRawBufferPointer(start: receiveSlots + index * Self.slotSize, count: length))
        }
        framesReceived += count
    }

    public func transmit(_ body: (UnsafeMutableRawBufferPointer) -> Int) {
        if queued == Self.batch { flush() }
        let slot = transmitSlots + queued * Self.slotSize
        let length = body(UnsafeMutableRawBufferPointer(start: slot, count: min(mtu + 14, Self.slotSize)))
        guard length > 0 else { return }
        transmitTable[queued] = swiftlet_frame(data: UInt64(UInt(bitPattern: slot)), length: UInt32(length), capacity: 0)
        queued += 1
    }

    public func flush() {
        guard queued > 0 else { return }
        var request = swiftlet_hc_net(handle: handle, count: UInt32(queued),
                                      frames: UInt64(UInt(bitPattern: transmitTable)), completed: 0, result: 0)
        Hypercall.call(SWIFTLET_HC_NET_WRITE, &request)
        framesSent += queued
        queued = 0
    }
}
#endif
