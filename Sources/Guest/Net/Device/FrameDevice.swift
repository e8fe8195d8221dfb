// What the network stack needs from a network device: batches of received frames in, frames
// out. The guest's NIC (over hypercalls) and the tests' in-memory link both provide it.

public protocol FrameDevice: AnyObject {
    var mac: MACAddress { get }
    var mtu: Int { get }
    /// With segmentation offload, the largest TCP/IPv4 frame the device takes (the host cuts it
    /// into MSS-sized segments and completes its checksum); 0 without offload.
    var segmentationLimit: Int { get }
    /// Calls `body` for each frame the device has taken in and not yet handed over (at most
    /// one batch). Returns the number of frames handed over. Never waits for the host.
    @discardableResult
    func receive(_ body: (ReceivedFrame) -> Void) -> Int
    /// Builds one frame in place: `body` writes into the buffer (at least `capacity` bytes, at
    /// most MTU + 14 unless `offload` asks for segmentation) and returns the frame's length, or
    /// 0 to send nothing. The frame goes out at the next `exchange` (or earlier, when the
    /// device's transmit queue is full).
    func transmit(capacity: Int, offload: TransmitOffload, _ body: (UnsafeMutableRawBufferPointer) -> Int)
    /// One turn of the device, the end of every turn of a network loop: hands the frames
    /// built since the last turn to the host, waits until input arrives or `deadline` (uptime
    /// ns; nil: no deadline; now or earlier: no wait) passes, and takes in what arrived for the
    /// next `receive`. Returns whether frames are waiting to be received. The guest's NIC does
    /// all of it in one exit (or none, with rings).
    @discardableResult
    func exchange(until deadline: UInt64?) -> Bool
}

/// A received frame and what the host says of it.
public struct ReceivedFrame {
    public var bytes: UnsafeRawBufferPointer
    /// The host checked the checksums, or left them partial on a frame that never crossed a
    /// wire: do not verify them (offload only).
    public var checksumTrusted: Bool

    public init(_ bytes: UnsafeRawBufferPointer, checksumTrusted: Bool = false) {
        self.bytes = bytes
        self.checksumTrusted = checksumTrusted
    }
}

/// What the host is asked to do for a frame sent with offload: complete the checksum whose
/// pseudo-header sum is at `checksumStart + checksumOffset`, summing from `checksumStart`; and,
/// when `segmentSize` is set, cut the TCP payload into segments of that size.
public struct TransmitOffload: Equatable, Sendable {
    public var checksumStart = 0
    public var checksumOffset = 0
    public var segmentSize = 0
    public var headerLength = 0

    public static let none = TransmitOffload()
    public var isNone: Bool { self == .none }

    public init(checksumStart: Int = 0, checksumOffset: Int = 0, segmentSize: Int = 0, headerLength: Int = 0) {
        self.checksumStart = checksumStart
        self.checksumOffset = checksumOffset
        self.segmentSize = segmentSize
        self.headerLength = headerLength
    }
}
