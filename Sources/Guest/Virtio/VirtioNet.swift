// A virtio-net driver (virtio 1.x §5.1) over any transport: one receive and one transmit queue
// of single-descriptor buffers (virtio_net_hdr + frame, 2 KiB each), posted once at set-up.
// Negotiates VERSION_1, MAC, STATUS and EVENT_IDX; no offloads and no merged receive buffers,
// so every buffer holds a whole 1514-byte frame. Notifications: a batch of frames costs one
// index update and, with EVENT_IDX, a notify only when the device asked for one.

public final class VirtioNet {
    public static let networkDeviceType: UInt32 = 1
    public static let receiveQueue: UInt16 = 0
    public static let transmitQueue: UInt16 = 1
    /// virtio_net_hdr with num_buffers (always present with VERSION_1).
    public static let headerSize = 12
    public static let bufferSize = 2048
    public static let defaultQueueSize: UInt16 = 128
    /// Features we cannot work without, and those we take when offered.
    public static let requiredFeatures = VirtioFeature.version1
    public static let wantedFeatures = VirtioFeature.version1 | VirtioFeature.netMAC | VirtioFeature.netStatus
        | VirtioFeature.ringEventIndex

    public let transport: any VirtioTransport
    public let features: UInt64
    public let mac: MACAddress
    public let mtu = 1500
    public let receiveQueue: SplitVirtqueue
    public let transmitQueue: SplitVirtqueue
    private let addressing: DeviceAddressing
    private let queueMemory: UnsafeMutableRawPointer
    private let receiveBuffers: UnsafeMutableRawPointer
    private let transmitBuffers: UnsafeMutableRawPointer
    /// Set once the device broke the protocol: it is not used again.
    public private(set) var failure: VirtioError?
    public private(set) var framesReceived = 0
    public private(set) var framesSent = 0
    /// Frames NET_WRITE/NET_READ could not move (device full, buffer too small).
    public internal(set) var framesDropped = 0
    /// Notifications we sent the device (each one a VM exit).
    public private(set) var notifications = 0

    /// Resets the device, negotiates features, sets up both queues with every receive buffer
    /// posted, reads the MAC and starts the device (DRIVER_OK).
    public init(transport: any VirtioTransport, addressing: DeviceAddressing,
                queueSize: UInt16 = VirtioNet.defaultQueueSize) throws(VirtioError) {
        guard transport.deviceType == Self.networkDeviceType else { throw .wrongDeviceType(transport.deviceType) }
        self.transport = transport
        self.addressing = addressing
        transport.beginInitialization()
        do throws(VirtioError) {
            features = try transport.negotiate(required: Self.requiredFeatures, wanted: Self.wantedFeatures)
            let eventIndex = features & VirtioFeature.ringEventIndex != 0
            let receiveSize = try transport.queueSize(Self.receiveQueue, limit: queueSize)
            let transmitSize = try transport.queueSize(Self.transmitQueue, limit: queueSize)
            let receiveLayout = SplitVirtqueue.Layout(size: Int(receiveSize))
            let transmitOffset = (receiveLayout.byteCount + 4095) & ~4095
            queueMemory = .allocate(byteCount: transmitOffset + SplitVirtqueue.Layout(size: Int(transmitSize)).byteCount, alignment: 4096)
            receiveBuffers = .allocate(byteCount: Int(receiveSize) * Self.bufferSize, alignment: 4096)
            transmitBuffers = .allocate(byteCount: Int(transmitSize) * Self.bufferSize, alignment: 4096)
            transmitBuffers.initializeMemory(as: UInt8.self, repeating: 0, count: Int(transmitSize) * Self.bufferSize)
            receiveQueue = try SplitVirtqueue(number: Self.receiveQueue, size: receiveSize, memory: queueMemory,
                                              addressing: addressing, eventIndex: eventIndex)
            transmitQueue = try SplitVirtqueue(number: Self.transmitQueue, size: transmitSize, memory: queueMemory + transmitOffset,
                                               addressing: addressing, eventIndex: eventIndex)
            var address: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0, 0, 0)
            if features & VirtioFeature.netMAC != 0 {
                try withUnsafeMutableBytes(of: &address) { bytes throws(VirtioError) in
                    try transport.readConfig(at: 0, count: 6, into: bytes)
                }
            } else {
                // No MAC from the device: a random locally administered unicast one.
                withUnsafeMutableBytes(of: &address) { randomBytes($0) }
                address.0 = address.0 & 0xfc | 0x02
            }
            mac = MACAddress(address.0, address.1, address.2, address.3, address.4, address.5)
        } catch {
            transport.setStatus(transport.status | VirtioStatus.failed)
            throw error
        }
        for queue in [receiveQueue, transmitQueue] {
            // Completions are collected when we look, not announced: interrupts only while waiting.
            queue.disableInterrupts()
            transport.enableQueue(queue.number, size: queue.size, descriptors: queue.descriptorArea,
                                  driverArea: queue.driverArea, deviceArea: queue.deviceArea)
        }
        while let id = receiveQueue.allocate() { postReceiveBuffer(id) }
        _ = receiveQueue.publish()
        if let status = transport.setDriverOK() {
            fail(.deviceFailed(status: status))
            throw .deviceFailed(status: status)
        }
        // Buffers published before DRIVER_OK: a device is not required to look before a notify.
        notify(Self.receiveQueue)
    }

    deinit {
        // The device may write to these buffers until it is reset.
        transport.reset()
        queueMemory.deallocate()
        receiveBuffers.deallocate()
        transmitBuffers.deallocate()
    }

    // MARK: Link

    /// Whether the link is up (always, when the device does not report it).
    public var linkUp: Bool {
        guard features & VirtioFeature.netStatus != 0 else { return true }
        var status: UInt16 = 0
        let read: Void? = try? withUnsafeMutableBytes(of: &status) { bytes throws(VirtioError) in
            try transport.readConfig(at: 6, count: 2, into: bytes)
        }
        return read != nil && UInt16(littleEndian: status) & 1 != 0
    }

    // MARK: Receive

    /// Hands `body` each received frame (at most `limit`), in the device's buffer, then gives
    /// the buffers back to the device. Returns the number of frames.
    @discardableResult
    public func receive(limit: Int = Int.max, _ body: (UnsafeRawBufferPointer) -> Void) throws(VirtioError) -> Int {
        if let failure { throw failure }
        var count = 0
        defer { if count > 0 && receiveQueue.publish() { notify(Self.receiveQueue) } }
        while count < limit {
            let used: (id: UInt16, length: UInt32)?
            do { used = try receiveQueue.nextUsed() } catch { fail(error); throw error }
            guard let (id, length) = used else { break }
            guard Int(length) >= Self.headerSize else {
                postReceiveBuffer(id)
                fail(.badReceive(length: length, buffers: 1))
                throw .badReceive(length: length, buffers: 1)
            }
            let buffer = receiveBuffers + Int(id) * Self.bufferSize
            body(UnsafeRawBufferPointer(start: buffer + Self.headerSize, count: Int(length) - Self.headerSize))
            postReceiveBuffer(id)
            count += 1
        }
        framesReceived += count
        return count
    }

    /// Whether received frames are waiting.
    public var hasInput: Bool { failure == nil && receiveQueue.hasUsed }

    private func postReceiveBuffer(_ id: UInt16) {
        let buffer = receiveBuffers + Int(id) * Self.bufferSize
        receiveQueue.post(id, deviceAddress: addressing.deviceAddress(of: buffer), length: UInt32(Self.bufferSize),
                          deviceWritable: true)
    }

    // MARK: Transmit

    /// Builds one frame in place: `body` writes into a buffer of MTU + 14 bytes and returns the
    /// frame's length (0: nothing to send). Returns false when every transmit buffer is in flight.
    /// The frame goes out at the next `flush()`.
    @discardableResult
    public func transmit(_ body: (UnsafeMutableRawBufferPointer) -> Int) throws(VirtioError) -> Bool {
        if let failure { throw failure }
        try reclaimTransmitBuffers()
        guard let id = transmitQueue.allocate() else { return false }
        let buffer = transmitBuffers + Int(id) * Self.bufferSize
        let length = body(UnsafeMutableRawBufferPointer(start: buffer + Self.headerSize, count: mtu + 14))
        guard length > 0 && length <= mtu + 14 else {
            transmitQueue.release(id)
            return length == 0
        }
        // No offloads, no GSO: the header is all zeroes (the device never writes it).
        buffer.initializeMemory(as: UInt8.self, repeating: 0, count: Self.headerSize)
        transmitQueue.post(id, deviceAddress: addressing.deviceAddress(of: buffer), length: UInt32(Self.headerSize + length),
                           deviceWritable: false)
        framesSent += 1
        return true
    }

    /// Copies `frame` into a transmit buffer; false when it does not fit or all are in flight.
    @discardableResult
    public func send(_ frame: UnsafeRawBufferPointer) throws(VirtioError) -> Bool {
        guard frame.count > 0 && frame.count <= mtu + 14 else { return false }
        return try transmit { buffer in
            buffer.copyMemory(from: frame)
            return frame.count
        }
    }

    /// Makes the frames built since the last flush visible to the device, notifying it only if
    /// it asked to be (EVENT_IDX) or did not say it needs no notification.
    public func flush() {
        guard failure == nil else { return }
        if transmitQueue.publish() { notify(Self.transmitQueue) }
    }

    /// Takes back the transmit buffers the device is done with.
    public func reclaimTransmitBuffers() throws(VirtioError) {
        while true {
            let used: (id: UInt16, length: UInt32)?
            do { used = try transmitQueue.nextUsed() } catch { fail(error); throw error }
            guard let (id, _) = used else { return }
            transmitQueue.release(id)
        }
    }

    // MARK: Waiting

    /// Asks for an interrupt at the next received frame before the caller sleeps. Returns
    /// true if frames are already waiting (then do not sleep).
    public func prepareToWait() -> Bool { failure != nil || receiveQueue.enableInterrupts() }

    /// After waking: back to collecting frames without interrupts. Returns the interrupt status.
    @discardableResult
    public func finishWaiting() -> UInt32 {
        receiveQueue.disableInterrupts()
        return transport.acknowledgeInterrupt()
    }

    // MARK: Failure

    private func notify(_ queue: UInt16) {
        notifications += 1
        transport.notify(queue: queue)
    }

    private func fail(_ error: VirtioError) {
        guard failure == nil else { return }
        failure = error
        transport.setStatus(transport.status | VirtioStatus.failed)
    }
}
