// A guest network device: serves batched NET_READ / NET_WRITE hypercalls (and, on hvt, the
// rings of NetworkRings) against a backend.
// Every frame descriptor and buffer the guest names is checked against guest memory.
import SwiftletABI

public final class NetworkDevice {
    public let name: String
    public let mac: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8)
    public let mtu: UInt16
    public let backend: NetworkBackend
    public private(set) var framesIn = 0
    public private(set) var framesOut = 0
    public private(set) var framesDropped = 0
    /// `--pcap`: where every frame in and out is also recorded.
    public var capture: PacketCapture?
    /// The guest enabled SWIFTLET_NET_F_OFFLOAD (NET_CONFIGURE): frames carry metadata.
    public private(set) var offloadEnabled = false

    public init(name: String, mac: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8), mtu: UInt16 = 1500, backend: NetworkBackend) {
        self.name = name
        self.mac = mac
        self.mtu = mtu
        self.backend = backend
    }

    /// Largest frame on the wire: MTU plus the Ethernet header.
    public var maximumFrame: Int { Int(mtu) + 14 }

    /// The tender can serve this device through rings (hvt, with an I/O thread: NetworkRings).
    public var offersRings = false

    /// What boot info offers the guest (SWIFTLET_NET_F_*).
    public var features: UInt32 {
        (backend.offersOffload ? SWIFTLET_NET_F_OFFLOAD : 0) | (offersRings ? SWIFTLET_NET_F_RINGS : 0)
    }

    /// NET_CONFIGURE: enables the offered features the guest asks for, all or none (rings are
    /// attached with NET_ATTACH_RINGS instead).
    func configure(features wanted: UInt32) -> swiftlet_result {
        guard wanted & ~(features & SWIFTLET_NET_F_OFFLOAD) == 0 else { return SWIFTLET_R_EINVAL }
        guard wanted & SWIFTLET_NET_F_OFFLOAD != 0, !offloadEnabled else { return SWIFTLET_R_OK }
        guard backend.enableOffload() else { return SWIFTLET_R_EIO }
        offloadEnabled = true
        return SWIFTLET_R_OK
    }

    /// The largest frame the guest may write or be handed, with its metadata taken into account.
    private var maximumOffloadFrame: Int { offloadEnabled ? Int(SWIFTLET_NET_OFFLOAD_FRAME_MAX) : maximumFrame }

    /// Fills up to `request.count` guest buffers with received frames.
    func read(_ request: inout swiftlet_hc_net, memory: GuestMemory) throws(GuestMemoryError) -> swiftlet_result {
        let frames = try descriptors(request, memory: memory)
        var filled: UInt32 = 0
        for index in frames.indices {
            let descriptorAddress = GuestAddress(raw: request.frames + UInt64(index * MemoryLayout<swiftlet_frame>.stride))
            guard let descriptor = try receive(into: frames[index], memory: memory) else { break }
            try memory.store(descriptor, at: descriptorAddress)
            filled += 1
        }
        request.completed = filled
        return filled > 0 ? SWIFTLET_R_OK : SWIFTLET_R_AGAIN
    }

    /// Sends up to `request.count` frames from guest memory.
    func write(_ request: inout swiftlet_hc_net, memory: GuestMemory) throws(GuestMemoryError) -> swiftlet_result {
        let frames = try descriptors(request, memory: memory)
        var sent: UInt32 = 0
        for descriptor in frames {
            guard try send(descriptor, memory: memory) else { return SWIFTLET_R_EINVAL }
            sent += 1
        }
        request.completed = sent
        return SWIFTLET_R_OK
    }

    /// Reads one frame from the backend into the guest buffer `descriptor` names (a copy the
    /// caller made of the guest's descriptor). Returns the descriptor with the frame's length and
    /// metadata, or nil when nothing was waiting.
    func receive(into descriptor: swiftlet_frame, memory: GuestMemory) throws(GuestMemoryError) -> swiftlet_frame? {
        let buffer = try memory.writableBytes(at: GuestAddress(raw: descriptor.data), count: UInt64(descriptor.capacity),
                                              limit: UInt64(SWIFTLET_NET_OFFLOAD_FRAME_MAX))
        var offload = swiftlet_net_offload()
        guard case .frame(let length) = backend.readFrame(into: buffer, offload: &offload) else { return nil }
        capture?.record(UnsafeRawBufferPointer(rebasing: buffer.prefix(length)))
        var filled = descriptor
        filled.length = UInt32(length)
        // Without offload the host sends whole, checksummed frames; a hint is left out.
        filled.offload = offloadEnabled ? offload : swiftlet_net_offload()
        framesIn += 1
        return filled
    }

    /// Sends the frame `descriptor` (the caller's copy) names, if the ABI's rules for a written
    /// frame accept it; false (nothing sent) if they refuse it. A full host queue drops the
    /// frame, as a NIC would, and counts as sent.
    func send(_ descriptor: swiftlet_frame, memory: GuestMemory) throws(GuestMemoryError) -> Bool {
        guard isAcceptable(descriptor) else { return false }
        let frame = try memory.bytes(at: GuestAddress(raw: descriptor.data), count: UInt64(descriptor.length))
        capture?.record(frame)
        if backend.writeFrame(frame, offload: descriptor.offload) { framesOut += 1 } else { framesDropped += 1 }
        return true
    }

    /// Whether NET_WRITE's rules accept the frame's length and metadata.
    func isAcceptable(_ descriptor: swiftlet_frame) -> Bool {
        descriptor.length >= 14 && Int(descriptor.length) <= maximumOffloadFrame
            && OffloadRules.accepts(descriptor.offload, frameLength: Int(descriptor.length),
                                    enabled: offloadEnabled, maximumPlainFrame: maximumFrame)
    }

    private func descriptors(_ request: swiftlet_hc_net, memory: GuestMemory) throws(GuestMemoryError) -> [swiftlet_frame] {
        guard request.count <= SWIFTLET_NET_BATCH_MAX else { throw .tooLarge(address: GuestAddress(raw: request.frames), count: UInt64(request.count), limit: UInt64(SWIFTLET_NET_BATCH_MAX)) }
        let count = Int(request.count)
        let size = UInt64(MemoryLayout<swiftlet_frame>.stride)
        let table = try memory.bytes(at: GuestAddress(raw: request.frames), count: UInt64(count) * size)
        return (0..<count).map { table.baseAddress!.loadUnaligned(fromByteOffset: $0 * Int(size), as: swiftlet_frame.self) }
    }
}

/// The ABI's rules for the offload metadata of a frame the guest writes (swiftlet_abi.h,
/// "Network offload"): the host kernel would act on every field, so each is checked here.
enum OffloadRules {
    static func accepts(_ offload: swiftlet_net_offload, frameLength: Int, enabled: Bool, maximumPlainFrame: Int) -> Bool {
        guard enabled else { return isZero(offload) }
        let flags = UInt32(offload.flags)
        guard flags & ~SWIFTLET_NET_OFFLOAD_NEEDS_CSUM == 0, Int(offload.header_length) <= frameLength else { return false }
        if flags & SWIFTLET_NET_OFFLOAD_NEEDS_CSUM != 0 {
            // The 16-bit sum is stored at csum_start + csum_offset, inside the frame, past Ethernet's header.
            guard offload.csum_start >= 14,
                  Int(offload.csum_start) + Int(offload.csum_offset) + 2 <= frameLength else { return false }
        } else if offload.csum_start != 0 || offload.csum_offset != 0 {
            return false
        }
        switch UInt32(offload.gso_type) {
        case SWIFTLET_NET_GSO_NONE:
            return offload.gso_size == 0 && frameLength <= maximumPlainFrame
        case SWIFTLET_NET_GSO_TCPV4:
            return flags & SWIFTLET_NET_OFFLOAD_NEEDS_CSUM != 0 && UInt32(offload.gso_size) >= SWIFTLET_NET_GSO_SIZE_MIN
                && Int(offload.gso_size) < frameLength
        default:
            return false
        }
    }

    private static func isZero(_ offload: swiftlet_net_offload) -> Bool {
        offload.flags == 0 && offload.gso_type == 0 && offload.header_length == 0 && offload.gso_size == 0
            && offload.csum_start == 0 && offload.csum_offset == 0
    }
}
