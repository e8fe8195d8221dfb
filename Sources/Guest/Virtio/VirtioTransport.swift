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

    /// Takes the `wanted` features the device offers (it must offer all of `required`) and
    /// settles them with FEATURES_OK (virtio 1.x §3.1.1, steps 4-6).
    func negotiate(required: UInt64, wanted: UInt64) throws(VirtioError) -> UInt64 {
        let offered = deviceFeatures()
        guard offered & required == required else { throw .missingFeatures(required & ~offered) }
        let accepted = offered & wanted
        setDriverFeatures(accepted)
        setStatus(status | VirtioStatus.featuresOK)
        guard status & VirtioStatus.featuresOK != 0 else { throw .featuresRefused(accepted) }
        return accepted
    }

    /// The size to give `queue`: the device's maximum, at most `limit`.
    func queueSize(_ queue: UInt16, limit: UInt16) throws(VirtioError) -> UInt16 {
        let maximum = maximumQueueSize(queue)
        guard maximum != 0, maximum & (maximum &- 1) == 0 else { throw .badQueueSize(queue: queue, size: maximum) }
        return min(maximum, limit)
    }

    /// virtio 1.x §3.1.1 steps 1-3: reset, then ACKNOWLEDGE and DRIVER.
    func beginInitialization() {
        reset()
        setStatus(VirtioStatus.acknowledge)
        setStatus(VirtioStatus.acknowledge | VirtioStatus.driver)
    }

    /// Step 8, DRIVER_OK: nil once the device runs, else the status it shows instead.
    func setDriverOK() -> UInt8? {
        setStatus(status | VirtioStatus.driverOK)
        let now = status
        return now & (VirtioStatus.driverOK | VirtioStatus.needsReset | VirtioStatus.failed) == VirtioStatus.driverOK ? nil : now
    }
}
