// A network device whose wire is memory: frames put in `inbound` are received, frames the
// stack sends collect in `outbound` at once. For driving the stack in tests and fuzzers on a
// host. With no host to wait for, an exchange only counts the turn and its deadline.

public final class MemoryLink: FrameDevice {
    public let mac: MACAddress
    public let mtu: Int
    public let segmentationLimit: Int
    public var inbound: [[UInt8]] = []
    /// Received frames whose checksums the "host" vouches for (an offloading link).
    public var inboundChecksumTrusted = false
    public private(set) var outbound: [[UInt8]] = []
    /// The offload request of each frame in `outbound`, in order.
    public private(set) var outboundOffloads: [TransmitOffload] = []
    /// The deadline of each `exchange` so far, in order.
    public private(set) var exchanges: [UInt64?] = []

    /// `segmentationLimit` > 0 makes a link with segmentation and checksum offload.
    public init(mac: MACAddress, mtu: Int = 1500, segmentationLimit: Int = 0) {
        self.mac = mac
        self.mtu = mtu
        self.segmentationLimit = segmentationLimit
    }

    @discardableResult
    public func receive(_ body: (ReceivedFrame) -> Void) -> Int {
        let frames = inbound
        inbound = []
        for frame in frames { frame.withUnsafeBytes { body(ReceivedFrame($0, checksumTrusted: inboundChecksumTrusted)) } }
        return frames.count
    }

    public func transmit(capacity: Int, offload: TransmitOffload, _ body: (UnsafeMutableRawBufferPointer) -> Int) {
        let limit = offload.segmentSize > 0 ? segmentationLimit : mtu + 14
        precondition(offload.isNone || segmentationLimit > 0, "offload asked of a link without it")
        guard capacity <= limit else { return }
        var buffer = [UInt8](repeating: 0, count: limit)
        let length = buffer.withUnsafeMutableBytes(body)
        precondition(length <= limit, "a frame longer than the buffer it was built in")
        guard length > 0 else { return }
        outbound.append(Array(buffer.prefix(length)))
        outboundOffloads.append(offload)
    }

    @discardableResult
    public func exchange(until deadline: UInt64?) -> Bool {
        exchanges.append(deadline)
        return !inbound.isEmpty
    }

    /// The frames sent since the last call.
    public func take() -> [[UInt8]] {
        defer { outbound = []; outboundOffloads = [] }
        return outbound
    }
}
