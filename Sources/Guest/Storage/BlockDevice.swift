// The guest side of a Swiftlet block device (swiftlet_hc_block). The tender serves each
// request before the hypercall returns, so a read or write here is done when it returns;
// `flush()` makes every earlier write durable. Requests longer than SWIFTLET_BLOCK_IO_MAX
// are split. In async code (the concurrency variant) the same calls exist as `async`: see the end.
#if SWIFTLET_GUEST
import SwiftletABI

public final class BlockDevice: BlockStorage {
    public let handle: UInt32
    public let name: String
    public let blockSize: Int
    public let capacity: UInt64

    init(_ device: swiftlet_device) {
        handle = device.handle
        var bytes = device.name
        name = withUnsafeBytes(of: &bytes) { raw in String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self) }
        blockSize = Int(device.block_size)
        capacity = device.capacity
    }

    /// The block devices the tender attached (`--disk`), in order.
    public static let all: [BlockDevice] = {
        Boot.devices.compactMap { device in device.kind == UInt32(SWIFTLET_DEVICE_BLOCK.rawValue) && device.block_size > 0 ? BlockDevice(device) : nil }
    }()

    /// The first disk, or nil when the guest was started without `--disk`.
    public static var first: BlockDevice? { all.first }

    public func read(at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws(BlockError) {
        try transfer(SWIFTLET_HC_BLOCK_READ, offset: offset, address: UInt(bitPattern: buffer.baseAddress), count: buffer.count)
    }

    public func write(at offset: UInt64, from buffer: UnsafeRawBufferPointer) throws(BlockError) {
        try transfer(SWIFTLET_HC_BLOCK_WRITE, offset: offset, address: UInt(bitPattern: buffer.baseAddress), count: buffer.count)
    }

    public func flush() throws(BlockError) { try flushRequest() }

    private func flushRequest() throws(BlockError) {
        var request = swiftlet_hc_block(handle: handle, _pad: 0, offset: 0, data: 0, length: 0, result: 0, _pad2: 0)
        Hypercall.call(SWIFTLET_HC_BLOCK_FLUSH, &request)
        try Self.check(request.result)
    }

    private func transfer(_ call: swiftlet_hypercall, offset: UInt64, address: UInt, count: Int) throws(BlockError) {
        var done = 0
        while done < count {
            let chunk = min(count - done, Int(SWIFTLET_BLOCK_IO_MAX))
            var request = swiftlet_hc_block(handle: handle, _pad: 0, offset: offset + UInt64(done),
                                            data: UInt64(address + UInt(done)), length: UInt64(chunk), result: 0, _pad2: 0)
            Hypercall.call(call, &request)
            try Self.check(request.result)
            done += chunk
        }
    }

    #if SWIFTLET_CONCURRENCY
    // MARK: async
    // The same requests cut into slices of at most `asyncSlice` bytes, with the event loop
    // running the other ready tasks between slices, so a long transfer does not hold the one
    // CPU for its whole length. Each slice is still one hypercall the tender serves before it
    // returns (ABI 2 has no request queue): an await here shares the CPU between tasks, it does
    // not overlap the I/O with computation.

    public static let asyncSlice = 256 << 10

    public func read(at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) async throws(BlockError) {
        try await sliced(buffer.count) { done, count throws(BlockError) in
            try transfer(SWIFTLET_HC_BLOCK_READ, offset: offset + UInt64(done), address: UInt(bitPattern: buffer.baseAddress) + UInt(done), count: count)
        }
    }

    public func write(at offset: UInt64, from buffer: UnsafeRawBufferPointer) async throws(BlockError) {
        try await sliced(buffer.count) { done, count throws(BlockError) in
            try transfer(SWIFTLET_HC_BLOCK_WRITE, offset: offset + UInt64(done), address: UInt(bitPattern: buffer.baseAddress) + UInt(done), count: count)
        }
    }

    /// Returns once every earlier write is durable (one request; other tasks run first).
    public func flush() async throws(BlockError) {
        await EventLoop.yield()
        try flushRequest()
    }

    private func sliced(_ count: Int, _ slice: (_ done: Int, _ count: Int) throws(BlockError) -> Void) async throws(BlockError) {
        var done = 0
        while done < count {
            let length = min(count - done, Self.asyncSlice)
            try slice(done, length)
            done += length
            if done < count { await EventLoop.yield() }
        }
    }
    #endif

    private static func check(_ result: Int32) throws(BlockError) {
        switch swiftlet_result(rawValue: UInt32(bitPattern: result)) {
        case SWIFTLET_R_OK: return
        case SWIFTLET_R_ENODEV: throw .noDevice
        case SWIFTLET_R_EINVAL: throw .refused
        default: throw .deviceFailed
        }
    }
}
#endif
