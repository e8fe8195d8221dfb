// What the network stack needs from a network device: batches of received frames in, frames
// out. The guest's NIC (over hypercalls) and the tests' in-memory link both provide it.

public protocol FrameDevice: AnyObject {
    var mac: MACAddress { get }
    var mtu: Int { get }
    /// Calls `body` for each frame received since the last call (at most one batch).
    /// Returns the number of frames handed over.
    @discardableResult
    func receive(_ body: (UnsafeRawBufferPointer) -> Void) -> Int
    /// Builds one frame in place: `body` writes into the buffer (MTU + 14 bytes) and returns
    /// the frame's length, or 0 to send nothing.
    func transmit(_ body: (UnsafeMutableRawBufferPointer) -> Int)
    /// Hands queued frames to the host.
    func flush()
    /// Hands queued frames to the host, then sleeps until input arrives or `deadline`
    /// (uptime ns; nil: no deadline) passes. The end of every turn of a network loop.
    func flushAndWait(until deadline: UInt64?)
}

extension FrameDevice {
    /// Devices that cannot sleep (in-memory links) only flush.
    public func flushAndWait(until deadline: UInt64?) { flush() }
}
