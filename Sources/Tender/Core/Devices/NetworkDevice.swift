// A guest network device: serves batched NET_READ / NET_WRITE hypercalls against a backend.
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

    public init(name: String, mac: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8), mtu: UInt16 = 1500, backend: NetworkBackend) {
        self.name = name
        self.mac = mac
        self.mtu = mtu
        self.backend = backend
    }

    /// Largest frame on the wire: MTU plus the Ethernet header.
    public var maximumFrame: Int { Int(mtu) + 14 }

    /// Fills up to `request.count` guest buffers with received frames.
    func read(_ request: inout swiftlet_hc_net, memory: GuestMemory) throws(GuestMemoryError) -> swiftlet_result {
        let frames = try descriptors(request, memory: memory)
        var filled: UInt32 = 0
        for index in frames.indices {
            let descriptorAddress = GuestAddress(raw: request.frames + UInt64(index * MemoryLayout<swiftlet_frame>.size))
            var descriptor = frames[index]
            let buffer = try memory.writableBytes(at: GuestAddress(raw: descriptor.data), count: UInt64(descriptor.capacity),
                                          limit: UInt64(StreamBackend.maximumFrame))
            guard case .frame(let length) = backend.readFrame(into: buffer) else { break }
            capture?.record(UnsafeRawBufferPointer(rebasing: buffer.prefix(length)))
            descriptor.length = UInt32(length)
            try memory.store(descriptor, at: descriptorAddress)
            filled += 1
        }
        framesIn += Int(filled)
        request.completed = filled
        return filled > 0 ? SWIFTLET_R_OK : SWIFTLET_R_AGAIN
    }

    /// Sends up to `request.count` frames from guest memory.
    func write(_ request: inout swiftlet_hc_net, memory: GuestMemory) throws(GuestMemoryError) -> swiftlet_result {
        let frames = try descriptors(request, memory: memory)
        var sent: UInt32 = 0
        for descriptor in frames {
            guard descriptor.length >= 14, Int(descriptor.length) <= maximumFrame else { return SWIFTLET_R_EINVAL }
            let frame = try memory.bytes(at: GuestAddress(raw: descriptor.data), count: UInt64(descriptor.length))
            capture?.record(frame)
            if backend.writeFrame(frame) { framesOut += 1 } else { framesDropped += 1 }
            sent += 1
        }
        request.completed = sent
        return SWIFTLET_R_OK
    }

    private func descriptors(_ request: swiftlet_hc_net, memory: GuestMemory) throws(GuestMemoryError) -> [swiftlet_frame] {
        guard request.count <= SWIFTLET_NET_BATCH_MAX else { throw .tooLarge(address: GuestAddress(raw: request.frames), count: UInt64(request.count), limit: UInt64(SWIFTLET_NET_BATCH_MAX)) }
        let count = Int(request.count)
        let size = UInt64(MemoryLayout<swiftlet_frame>.size)
        let table = try memory.bytes(at: GuestAddress(raw: request.frames), count: UInt64(count) * size)
        return (0..<count).map { table.baseAddress!.loadUnaligned(fromByteOffset: $0 * Int(size), as: swiftlet_frame.self) }
    }
}
