// The guest side of a Swiftlet network device. One hypercall per turn of the network loop
// (NET_EXCHANGE) sends the frames built in the turn, sleeps until input or a deadline, and reads
// a batch of frames, since a VM exit costs tens of microseconds on the hosts we target. Where the
// tender offers offload (a tap), frames carry swiftlet_net_offload metadata: the stack sends TCP
// segments of up to 64 KB that the host cuts and checksums, and receives the host's merged ones.
// Where the tender offers rings (hvt with a CPU for its I/O thread), frames move through
// GuestNICRings instead, with no exit per batch.
#if SWIFTLET_GUEST
import SwiftletABI

public final class GuestNIC: FrameDevice {
    public let handle: UInt32
    public let name: String
    public let mac: MACAddress
    public let mtu: Int
    public let segmentationLimit: Int

    static let batch = Int(SWIFTLET_NET_BATCH_MAX)
    /// Receive buffers: a batch of MTU-sized ones, or fewer that each hold a merged segment.
    private let receiveSlotCount: Int
    private let receiveSlotSize: Int
    private let receiveSlots: UnsafeMutableRawPointer
    /// Frames to send are packed one after another here; a frame that would not fit sends the
    /// batch first.
    private let transmitArena: UnsafeMutableRawPointer
    private let transmitArenaSize: Int
    private var transmitArenaUsed = 0
    private let receiveTable: UnsafeMutablePointer<swiftlet_frame>
    private let transmitTable: UnsafeMutablePointer<swiftlet_frame>
    private var queued = 0
    /// Frames the last exchange read into the receive slots, not yet handed over.
    private var received = 0
    public private(set) var framesReceived = 0
    public private(set) var framesSent = 0
    private let rings: GuestNICRings?

    /// Offload's buffers (about 3 MiB) are taken only from a heap at least this large.
    static let offloadHeapMinimum = 12 << 20
    static let offloadReceiveSlots = 32
    static let offloadTransmitArena = 1 << 20

    init(_ device: swiftlet_device) {
        handle = device.handle
        var bytes = device.name
        name = withUnsafeBytes(of: &bytes) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        mac = MACAddress(device.mac.0, device.mac.1, device.mac.2, device.mac.3, device.mac.4, device.mac.5)
        mtu = Int(device.mtu)
        let offload = device.net_features & SWIFTLET_NET_F_OFFLOAD != 0
            && Runtime.heap.statistics.bytesFree >= Self.offloadHeapMinimum
            && Self.configure(handle: device.handle, features: SWIFTLET_NET_F_OFFLOAD)
        let largest = offload ? Int(SWIFTLET_NET_OFFLOAD_FRAME_MAX) : mtu + 14
        segmentationLimit = offload ? largest : 0
        rings = device.net_features & SWIFTLET_NET_F_RINGS != 0
            ? GuestNICRings(handle: device.handle, size: UInt32(offload ? Self.offloadReceiveSlots : Self.batch), largest: largest,
                            transmitBytes: offload ? Self.offloadTransmitArena : Self.batch * ((largest + 63) & ~63))
            : nil
        // The rings bring their own buffers.
        receiveSlotCount = rings != nil ? 0 : offload ? Self.offloadReceiveSlots : Self.batch
        receiveSlotSize = (largest + 63) & ~63  // the stride; each buffer's capacity is `largest`
        transmitArenaSize = rings != nil ? 0 : offload ? Self.offloadTransmitArena : Self.batch * receiveSlotSize
        receiveSlots = .allocate(byteCount: receiveSlotCount * receiveSlotSize, alignment: 64)
        transmitArena = .allocate(byteCount: transmitArenaSize, alignment: 64)
        receiveTable = .allocate(capacity: receiveSlotCount)
        transmitTable = .allocate(capacity: Self.batch)
        for index in 0..<receiveSlotCount {
            receiveTable[index] = swiftlet_frame(
                data: UInt64(UInt(bitPattern: receiveSlots + index * receiveSlotSize)), length: 0,
                capacity: UInt32(largest), offload: .init())
        }
    }

    /// NET_CONFIGURE: whether the tender enabled `features`.
    private static func configure(handle: UInt32, features: UInt32) -> Bool {
        var request = swiftlet_hc_net_configure(handle: handle, features: features, result: -1, _pad: 0)
        Hypercall.call(SWIFTLET_HC_NET_CONFIGURE, &request)
        return request.result == Int32(SWIFTLET_R_OK.rawValue)
    }

    /// The network devices the tender attached, in handle order.
    public static let all: [GuestNIC] = {
        Boot.devices { device in device.kind == UInt32(SWIFTLET_DEVICE_NET.rawValue) ? GuestNIC(device) : nil }
    }()

    /// Sleeps until any device has input or `deadline` (uptime ns) passes; nil waits for input.
    /// Returns the handles with input as a bit set.
    @discardableResult
    public static func waitForInput(until deadline: UInt64?) -> UInt64 {
        Platform.poll(until: deadline)
    }

    @discardableResult
    public func receive(_ body: (ReceivedFrame) -> Void) -> Int {
        if let rings {
            let count = rings.receive(body)
            framesReceived += count
            return count
        }
        let count = received
        received = 0
        deliver(count, body)
        return count
    }

    /// Sends the queued frames, sleeps until input or `deadline`, and reads what arrived: one
    /// hypercall (NET_EXCHANGE) for what would otherwise be three VM exits. Frames not handed
    /// over yet keep their slots: then nothing is read, and the exchange does not sleep.
    @discardableResult
    public func exchange(until deadline: UInt64?) -> Bool {
        if let rings { return rings.exchange(until: deadline) }
        let reading = received == 0
        var read = readRequest
        if reading { resetReceiveTable() } else { read.count = 0 }
        var request = swiftlet_hc_net_exchange(
            write: writeRequest, read: read, timeout: reading ? Platform.timeout(until: deadline) : 0, ready_set: 0)
        Hypercall.call(SWIFTLET_HC_NET_EXCHANGE, &request)
        Shutdown.note(readySet: request.ready_set)
        sent()
        if reading { received = min(Int(request.read.completed), receiveSlotCount) }
        return received > 0
    }

    private func resetReceiveTable() {
        for index in 0..<receiveSlotCount {
            receiveTable[index].length = 0
            receiveTable[index].offload = swiftlet_net_offload()
        }
    }

    private var readRequest: swiftlet_hc_net {
        swiftlet_hc_net(handle: handle, count: UInt32(receiveSlotCount),
                        frames: UInt64(UInt(bitPattern: receiveTable)), completed: 0, result: 0)
    }

    private var writeRequest: swiftlet_hc_net {
        swiftlet_hc_net(handle: handle, count: UInt32(queued),
                        frames: UInt64(UInt(bitPattern: transmitTable)), completed: 0, result: 0)
    }

    private func deliver(_ count: Int, _ body: (ReceivedFrame) -> Void) {
        let trusted = UInt8(SWIFTLET_NET_OFFLOAD_NEEDS_CSUM | SWIFTLET_NET_OFFLOAD_DATA_VALID)
        for index in 0..<count {
            let descriptor = receiveTable[index]
            let length = min(Int(descriptor.length), Int(descriptor.capacity))
            body(ReceivedFrame(UnsafeRawBufferPointer(start: receiveSlots + index * receiveSlotSize, count: length),
                               checksumTrusted: descriptor.offload.flags & trusted != 0))
        }
        framesReceived += count
    }

    public func transmit(capacity: Int, offload: TransmitOffload, _ body: (UnsafeMutableRawBufferPointer) -> Int) {
        let limit = offload.segmentSize > 0 ? segmentationLimit : mtu + 14
        guard capacity <= limit, offload.isNone || segmentationLimit > 0 else { return }
        if let rings {
            rings.transmit(capacity: capacity, limit: limit, offload: Self.metadata(offload)) { buffer in
                let length = body(buffer)
                if length > 0 { framesSent += 1 }
                return length
            }
            return
        }
        if queued == Self.batch || transmitArenaSize - transmitArenaUsed < capacity { writeQueued() }
        let slot = transmitArena + transmitArenaUsed
        let length = body(UnsafeMutableRawBufferPointer(start: slot, count: min(limit, transmitArenaSize - transmitArenaUsed)))
        guard length > 0 else { return }
        transmitTable[queued] = swiftlet_frame(data: UInt64(UInt(bitPattern: slot)), length: UInt32(length), capacity: 0,
                                               offload: Self.metadata(offload))
        transmitArenaUsed += (length + 63) & ~63
        queued += 1
    }

    private static func metadata(_ offload: TransmitOffload) -> swiftlet_net_offload {
        guard !offload.isNone else { return swiftlet_net_offload() }
        return swiftlet_net_offload(
            flags: UInt8(SWIFTLET_NET_OFFLOAD_NEEDS_CSUM),
            gso_type: UInt8(offload.segmentSize > 0 ? SWIFTLET_NET_GSO_TCPV4 : SWIFTLET_NET_GSO_NONE),
            header_length: UInt16(offload.headerLength), gso_size: UInt16(offload.segmentSize),
            csum_start: UInt16(offload.checksumStart), csum_offset: UInt16(offload.checksumOffset))
    }

    /// NET_WRITE of the queued frames, when a turn builds more than one batch.
    private func writeQueued() {
        guard queued > 0 else { return }
        var request = writeRequest
        Hypercall.call(SWIFTLET_HC_NET_WRITE, &request)
        sent()
    }

    private func sent() {
        framesSent += queued
        queued = 0
        transmitArenaUsed = 0
    }
}
#endif
