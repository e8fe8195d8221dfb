// What a virtio device driver needs from the bus it found the device on (virtio 1.x §4):
// status, features, queue set-up, notification and the device-specific configuration.
// virtio-mmio and virtio-pci provide it; the net driver is written against this alone.

public protocol VirtioTransport: AnyObject {
    /// The virtio device type (1: network).
    var deviceType: UInt32 { get }
    var status: UInt8 { get }
    func setStatus(_ status: UInt8)
    /// Writing 0 to the status resets the device; it reads 0 once the reset is done.
    func reset()
    func deviceFeatures() -> UInt64
    func setDriverFeatures(_ features: UInt64)
    /// The largest size the device allows for `queue` (0: no such queue).
    func maximumQueueSize(_ queue: UInt16) -> UInt16
    /// Tells the device where `queue` lives and enables it.
    func enableQueue(_ queue: UInt16, size: UInt16, descriptors: UInt64, driverArea: UInt64, deviceArea: UInt64)
    /// Tells the device that `queue` has new available buffers (a VM exit: use sparingly).
    func notify(queue: UInt16)
    /// Reads and acknowledges the interrupt status (bit 0: used buffers, bit 1: configuration).
    func acknowledgeInterrupt() -> UInt32
    func configGeneration() -> UInt32
    func readConfig8(at offset: Int) -> UInt8
}

public enum VirtioStatus {
    public static let acknowledge: UInt8 = 1
    public static let driver: UInt8 = 2
    public static let driverOK: UInt8 = 4
    public static let featuresOK: UInt8 = 8
    public static let needsReset: UInt8 = 64
    public static let failed: UInt8 = 128
}

public enum VirtioFeature {
    public static let netMAC: UInt64 = 1 << 5
    public static let netMergeableReceiveBuffers: UInt64 = 1 << 15
    public static let netStatus: UInt64 = 1 << 16
    public static let ringIndirectDescriptors: UInt64 = 1 << 28
    public static let ringEventIndex: UInt64 = 1 << 29
    public static let version1: UInt64 = 1 << 32
    public static let accessPlatform: UInt64 = 1 << 33
    public static let ringPacked: UInt64 = 1 << 34
}

extension VirtioTransport {
    /// Reads `count` bytes of device configuration at `offset` as one consistent snapshot: the
    /// generation counter must not change across the read (bounded retries).
    func readConfig(at offset: Int, count: Int, into bytes: UnsafeMutableRawBufferPointer) throws(VirtioError) {
        for _ in 0..<16 {
            let before = configGeneration()
            for index in 0..<count { bytes[index] = readConfig8(at: offset + index) }
            if configGeneration() == before { return }
        }
        throw .configUnstable
    }
}
