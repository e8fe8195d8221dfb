// A network device whose wire is memory: frames put in `inbound` are received, frames the
// stack sends collect in `outbound`. For driving the stack in tests and fuzzers on a host.

public final class MemoryLink: FrameDevice {
    public let mac: MACAddress
    public let mtu: Int
    public var inbound: [[UInt8]] = []
    public private(set) var outbound: [[UInt8]] = []
    private var queued: [[UInt8]] = []

    public init(mac: MACAddress, mtu: Int = 1500) {
        self.mac = mac
        self.mtu = mtu
    }

    @discardableResult
    public func receive(_ body: (UnsafeRawBufferPointer) -> Void) -> Int {
        let frames = inbound
        inbound = []
        for frame in frames { frame.withUnsafeBytes(body) }
        return frames.count
    }

    public func transmit(_ body: (UnsafeMutableRawBufferPointer) -> Int) {
        var buffer = [UInt8](repeating: 0, count: mtu + 14)
        let length = buffer.withUnsafeMutableBytes(body)
        precondition(length <= mtu + 14, "a frame longer than the buffer it was built in")
        if length > 0 { queued.append(Array(buffer.prefix(length))) }
    }

    public func flush() {
        outbound += queued
        queued = []
    }

    /// The frames sent since the last call.
    public func take() -> [[UInt8]] {
        defer { outbound = [] }
        return outbound
    }
}
