// A virtio-blk driver (virtio 1.x §5.2) over any transport, serving the ABI's BLOCK_READ,
// BLOCK_WRITE and BLOCK_FLUSH for the virtio target as the tenders serve them with pread,
// pwrite and fdatasync: one request at a time, done when the call returns. A request is a
// chain of three buffers: its header and status byte in the driver's memory, and between them
// the caller's own buffer, which the device reads or writes in place (no copy). The request
// rules are the tenders' (BlockRequestCheck): whole 512-byte blocks, at most
// SWIFTLET_BLOCK_IO_MAX, inside the capacity; anything else is EINVAL with no byte moved.
import SwiftletABI

public final class VirtioBlock {
    public static let blockDeviceType: UInt32 = 2
    public static let requestQueue: UInt16 = 0
    public static let sectorSize: UInt64 = 512
    public static let defaultQueueSize: UInt16 = 8
    /// VIRTIO_BLK_F_RO (5) and VIRTIO_BLK_F_FLUSH (9).
    public static let readOnlyFeature: UInt64 = 1 << 5
    public static let flushFeature: UInt64 = 1 << 9
    public static let wantedFeatures = VirtioFeature.version1 | readOnlyFeature | flushFeature

    enum RequestType: UInt32 { case read = 0, write = 1, flush = 4 }
    static let statusOK: UInt8 = 0

    public let transport: any VirtioTransport
    public let features: UInt64
    /// Bytes, whole sectors (the configuration's `capacity` counts 512-byte sectors).
    public let capacity: UInt64
    public var readOnly: Bool { features & Self.readOnlyFeature != 0 }
    let queue: SplitVirtqueue
    private let addressing: DeviceAddressing
    private let queueMemory: UnsafeMutableRawPointer
    /// The request header (type, reserved, sector: 16 bytes), then the status byte.
    private let request: UnsafeMutableRawPointer
    /// Set once the device broke the protocol: it is not used again.
    public private(set) var failure: VirtioError?
    public private(set) var notifications = 0

    public init(transport: any VirtioTransport, addressing: DeviceAddressing,
                queueSize: UInt16 = VirtioBlock.defaultQueueSize) throws(VirtioError) {
        guard transport.deviceType == Self.blockDeviceType else { throw .wrongDeviceType(transport.deviceType) }
        self.transport = transport
        self.addressing = addressing
        transport.beginInitialization()
        do throws(VirtioError) {
            features = try transport.negotiate(required: VirtioFeature.version1, wanted: Self.wantedFeatures)
            let size = try transport.queueSize(Self.requestQueue, limit: queueSize)
            guard size >= 4 else { throw .badQueueSize(queue: Self.requestQueue, size: size) }
            let layout = SplitVirtqueue.Layout(size: Int(size))
            queueMemory = .allocate(byteCount: layout.byteCount + 32, alignment: 4096)
            request = queueMemory + ((layout.byteCount + 15) & ~15)
            queue = try SplitVirtqueue(number: Self.requestQueue, size: size, memory: queueMemory,
                                       addressing: addressing, eventIndex: false)
            var sectors: UInt64 = 0
            try withUnsafeMutableBytes(of: &sectors) { bytes throws(VirtioError) in
                try transport.readConfig(at: 0, count: 8, into: bytes)
            }
            capacity = UInt64(littleEndian: sectors) &* Self.sectorSize
        } catch {
            transport.setStatus(transport.status | VirtioStatus.failed)
            throw error
        }
        // Completions are collected by polling the used ring while a request is under way.
        queue.disableInterrupts()
        transport.enableQueue(queue.number, size: queue.size, descriptors: queue.descriptorArea,
                              driverArea: queue.driverArea, deviceArea: queue.deviceArea)
        if let status = transport.setDriverOK() {
            fail(.deviceFailed(status: status))
            throw .deviceFailed(status: status)
        }
    }

    deinit {
        // The device may write to the queue and the status byte until it is reset.
        transport.reset()
        queueMemory.deallocate()
    }

    // MARK: The ABI's requests

    /// BLOCK_READ (`write: false`) or BLOCK_WRITE: checks the request, then moves its bytes
    /// between the device and `data`. `keepWaiting` is asked while the device works: false ends
    /// the wait, and the device is taken out of use (EIO), since it still owns the buffer.
    public func serveTransfer(_ request: inout swiftlet_hc_block, write: Bool, keepWaiting: () -> Bool) {
        guard failure == nil else { return request.result = Self.result(SWIFTLET_R_EIO) }
        guard accepts(offset: request.offset, length: request.length, data: request.data),
              let data = UnsafeMutableRawPointer(bitPattern: UInt(request.data)) else {
            return request.result = Self.result(SWIFTLET_R_EINVAL)
        }
        guard !(write && readOnly) else { return request.result = Self.result(SWIFTLET_R_EIO) }
        let buffer = SplitVirtqueue.Buffer(deviceAddress: addressing.deviceAddress(of: data),
                                           length: UInt32(request.length), deviceWritable: !write)
        request.result = perform(write ? .write : .read, sector: request.offset / Self.sectorSize, data: buffer,
                                 keepWaiting: keepWaiting)
    }

    /// Whether a READ or WRITE of [offset, offset + length) from `data` keeps the rules.
    public func accepts(offset: UInt64, length: UInt64, data: UInt64) -> Bool {
        length > 0 && length <= UInt64(SWIFTLET_BLOCK_IO_MAX)
            && offset % Self.sectorSize == 0 && length % Self.sectorSize == 0
            && offset <= capacity && length <= capacity - offset && data != 0
    }

    /// BLOCK_FLUSH: every write acknowledged before it is durable when it returns. A device
    /// without VIRTIO_BLK_F_FLUSH writes through (virtio 1.x §5.2.6.2): nothing to do.
    public func serveFlush(_ request: inout swiftlet_hc_block, keepWaiting: () -> Bool) {
        guard failure == nil else { return request.result = Self.result(SWIFTLET_R_EIO) }
        guard features & Self.flushFeature != 0 else { return request.result = Self.result(SWIFTLET_R_OK) }
        request.result = perform(.flush, sector: 0, data: nil, keepWaiting: keepWaiting)
    }

    /// One request as a chain: header (device-readable), the data if any, the status byte
    /// (device-writable); then waits for the device to return it.
    private func perform(_ type: RequestType, sector: UInt64, data: SplitVirtqueue.Buffer?,
                         keepWaiting: () -> Bool) -> Int32 {
        request.storeBytes(of: type.rawValue.littleEndian, toByteOffset: 0, as: UInt32.self)
        request.storeBytes(of: UInt32(0), toByteOffset: 4, as: UInt32.self)
        request.storeBytes(of: sector.littleEndian, toByteOffset: 8, as: UInt64.self)
        request.storeBytes(of: UInt8(0xff), toByteOffset: 16, as: UInt8.self)
        var chain = [SplitVirtqueue.Buffer(deviceAddress: addressing.deviceAddress(of: request), length: 16, deviceWritable: false)]
        if let data { chain.append(data) }
        chain.append(SplitVirtqueue.Buffer(deviceAddress: addressing.deviceAddress(of: request + 16), length: 1, deviceWritable: true))
        guard let head = queue.postChain(chain) else { return Self.result(SWIFTLET_R_EIO) }   // one at a time: never full
        if queue.publish() {
            notifications += 1
            transport.notify(queue: queue.number)
        }
        while true {
            let used: (id: UInt16, length: UInt32)?
            do { used = try queue.nextUsed() } catch {
                fail(error)
                return Self.result(SWIFTLET_R_EIO)
            }
            if let used {
                guard used.id == head else {
                    fail(.badUsedEntry(queue: queue.number, descriptor: UInt32(used.id), length: used.length))
                    return Self.result(SWIFTLET_R_EIO)
                }
                queue.releaseChain(head)
                let status = DeviceMemory.load(UInt8.self, at: UInt(bitPattern: request + 16))
                return Self.result(status == Self.statusOK ? SWIFTLET_R_OK : SWIFTLET_R_EIO)
            }
            guard keepWaiting() else {
                fail(.deviceFailed(status: transport.status))
                return Self.result(SWIFTLET_R_EIO)
            }
        }
    }

    private func fail(_ error: VirtioError) {
        guard failure == nil else { return }
        failure = error
        transport.setStatus(transport.status | VirtioStatus.failed)
    }

    private static func result(_ value: swiftlet_result) -> Int32 { Int32(bitPattern: value.rawValue) }
}
