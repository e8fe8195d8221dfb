// The guest side of a Swiftlet block device. Requests are queued with `submit` (nothing leaves
// the guest) and sent with `poll`, up to SWIFTLET_BLOCK_BATCH_MAX per BLOCK_BATCH hypercall,
// which the tender serves in order before it returns: one exit for everything queued, by any
// number of callers. The blocking calls (`read`, `write`, `flush`) submit and poll until their
// own requests are done; in async code (the concurrency variant, at the end) the same calls let
// the other tasks run first, so that their requests can share the exit.
#if SWIFTLET_GUEST
import SwiftletABI

/// One request for `BlockDevice.submit`. Offsets and lengths are multiples of the block size;
/// a transfer may be longer than SWIFTLET_BLOCK_IO_MAX (it is sent as several requests).
public struct BlockRequest {
    public enum Operation {
        case read(UnsafeMutableRawBufferPointer)
        case write(UnsafeRawBufferPointer)
        /// Every write before it (in this submission or earlier) durable before anything after it runs.
        case flush
    }

    public var operation: Operation
    public var offset: UInt64

    public static func read(at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) -> BlockRequest {
        BlockRequest(operation: .read(buffer), offset: offset)
    }

    public static func write(at offset: UInt64, from buffer: UnsafeRawBufferPointer) -> BlockRequest {
        BlockRequest(operation: .write(buffer), offset: offset)
    }

    public static let flush = BlockRequest(operation: .flush, offset: 0)
}

/// Names one `submit`: its requests complete together, with one outcome.
public struct BlockTicket: Hashable {
    let number: UInt64
}

public final class BlockDevice: BlockStorage {
    public let handle: UInt32
    public let name: String
    public let blockSize: Int
    public let capacity: UInt64

    /// A request in the queue: the ABI's descriptor, and the ticket it belongs to.
    private struct Queued {
        var descriptor: swiftlet_block_request
        var ticket: UInt64
        /// The ticket's last request: when it is done, so is the ticket.
        var isLast: Bool
    }

    private var queue: [Queued] = []
    private var nextTicket: UInt64 = 1
    /// Finished tickets whose outcome nobody collected yet (nil: success).
    private var finished: [UInt64: BlockError?] = [:]
    /// BLOCK_BATCH hypercalls made: how many exits the requests cost.
    public private(set) var batchesSent = 0
    /// Requests those hypercalls carried.
    public private(set) var requestsSent = 0

    init(_ device: swiftlet_device) {
        handle = device.handle
        var bytes = device.name
        name = withUnsafeBytes(of: &bytes) { raw in String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self) }
        blockSize = Int(device.block_size)
        capacity = device.capacity
    }

    /// The block devices the tender attached (`--disk`), in order.
    public static let all: [BlockDevice] = {
        Boot.devices { device in device.kind == UInt32(SWIFTLET_DEVICE_BLOCK.rawValue) && device.block_size > 0 ? BlockDevice(device) : nil }
    }()

    /// The first disk, or nil when the guest was started without `--disk`.
    public static var first: BlockDevice? { all.first }

    // MARK: poll-style

    /// Queues `requests`, to run in order after everything queued before; nothing is sent until
    /// `poll`. Refused at once (`.refused`, nothing queued) if one breaks the rules this side can
    /// check: whole blocks inside the disk. (The tender checks again, and the buffers too.)
    public func submit(_ requests: [BlockRequest]) throws(BlockError) -> BlockTicket {
        var descriptors: [swiftlet_block_request] = []
        for request in requests {
            switch request.operation {
            case .read(let buffer):
                try split(SWIFTLET_BLOCK_OP_READ, offset: request.offset, address: UInt(bitPattern: buffer.baseAddress), count: buffer.count, into: &descriptors)
            case .write(let buffer):
                try split(SWIFTLET_BLOCK_OP_WRITE, offset: request.offset, address: UInt(bitPattern: buffer.baseAddress), count: buffer.count, into: &descriptors)
            case .flush:
                descriptors.append(swiftlet_block_request(op: SWIFTLET_BLOCK_OP_FLUSH.rawValue, result: 0, offset: 0, data: 0, length: 0))
            }
        }
        let ticket = nextTicket
        nextTicket += 1
        if descriptors.isEmpty {
            finished[ticket] = .some(nil)
        }
        for (index, descriptor) in descriptors.enumerated() {
            queue.append(Queued(descriptor: descriptor, ticket: ticket, isLast: index == descriptors.count - 1))
        }
        return BlockTicket(number: ticket)
    }

    /// Requests queued and not yet sent.
    public var queuedRequests: Int { queue.count }

    /// Sends up to SWIFTLET_BLOCK_BATCH_MAX queued requests in one hypercall, the oldest first;
    /// returns how many were sent (0: the queue was empty). Collect outcomes with `outcome(of:)`.
    @discardableResult
    public func poll() -> Int {
        let count = min(queue.count, Int(SWIFTLET_BLOCK_BATCH_MAX))
        guard count > 0 else { return 0 }
        // A result the tender never writes: what it left alone fails with the batch's result.
        var descriptors = queue[0..<count].map { queued in
            var descriptor = queued.descriptor
            descriptor.result = Self.unanswered
            return descriptor
        }
        var batch = swiftlet_hc_block_batch(handle: handle, count: UInt32(count), requests: 0, completed: 0, result: 0)
        descriptors.withUnsafeMutableBufferPointer { buffer in
            batch.requests = UInt64(UInt(bitPattern: buffer.baseAddress))
            Hypercall.call(SWIFTLET_HC_BLOCK_BATCH, &batch)
        }
        batchesSent += 1
        requestsSent += count
        let sent = queue[0..<count]
        queue.removeFirst(count)
        var requeue: [Queued] = []
        var failedTickets: [UInt64] = []
        for (queued, descriptor) in zip(sent, descriptors) {
            guard !failedTickets.contains(queued.ticket) else { continue }
            let wholeBatch = swiftlet_result(rawValue: UInt32(bitPattern: batch.result))
            let result = descriptor.result == Self.unanswered ? wholeBatch : swiftlet_result(rawValue: UInt32(bitPattern: descriptor.result))
            if result == SWIFTLET_R_OK {
                if queued.isLast { finished[queued.ticket] = .some(nil) }
            } else if result == SWIFTLET_R_SKIPPED && wholeBatch == SWIFTLET_R_EINVAL {
                requeue.append(queued)   // not attempted because another ticket's request was refused
            } else {
                // Refused, failed, or skipped after a failure (a flush after it must not succeed).
                failedTickets.append(queued.ticket)
                finished[queued.ticket] = Self.error(result == SWIFTLET_R_SKIPPED ? SWIFTLET_R_EIO : result)
            }
        }
        // A failed ticket's requests still queued do not run; the others keep their order.
        requeue.removeAll { failedTickets.contains($0.ticket) }
        queue.removeAll { failedTickets.contains($0.ticket) }
        queue.insert(contentsOf: requeue, at: 0)
        return count
    }

    /// The outcome of a ticket once all its requests ran (or one failed): nil while it is still
    /// queued. Collected once: the device forgets the ticket then.
    public func outcome(of ticket: BlockTicket) -> Result<Void, BlockError>? {
        guard let outcome = finished.removeValue(forKey: ticket.number) else { return nil }
        if let failure = outcome { return .failure(failure) }
        return .success(())
    }

    /// Polls until `ticket` is done; its outcome. A ticket whose outcome was already collected
    /// (or that this device never gave out) is `.refused`.
    public func complete(_ ticket: BlockTicket) throws(BlockError) {
        while true {
            if let outcome = outcome(of: ticket) { return try outcome.get() }
            guard poll() > 0 else { throw .refused }
        }
    }

    // MARK: blocking

    public func read(at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws(BlockError) {
        try complete(submit([.read(at: offset, into: buffer)]))
    }

    public func write(at offset: UInt64, from buffer: UnsafeRawBufferPointer) throws(BlockError) {
        try complete(submit([.write(at: offset, from: buffer)]))
    }

    public func flush() throws(BlockError) { try complete(submit([.flush])) }

    /// Writes `buffer` and makes it durable: one exit when nothing else is queued.
    public func writeDurably(at offset: UInt64, from buffer: UnsafeRawBufferPointer) throws(BlockError) {
        try complete(submit([.write(at: offset, from: buffer), .flush]))
    }

    /// Cuts a transfer into requests of at most SWIFTLET_BLOCK_IO_MAX.
    private func split(_ op: swiftlet_block_op, offset: UInt64, address: UInt, count: Int,
                       into descriptors: inout [swiftlet_block_request]) throws(BlockError) {
        let block = UInt64(blockSize)
        guard count > 0, offset % block == 0, UInt64(count) % block == 0,
              offset <= capacity, UInt64(count) <= capacity - offset else { throw .refused }
        var done = 0
        while done < count {
            let chunk = min(count - done, Int(SWIFTLET_BLOCK_IO_MAX))
            descriptors.append(swiftlet_block_request(op: op.rawValue, result: 0, offset: offset + UInt64(done),
                                                      data: UInt64(address + UInt(done)), length: UInt64(chunk)))
            done += chunk
        }
    }

    #if SWIFTLET_CONCURRENCY
    // MARK: async
    // The same requests, but the caller lets every other ready task run before the exit (so
    // the requests they submit meanwhile go in the same BLOCK_BATCH), and again between exits
    // when the queue holds more than one batch. The tender serves an exit before it returns:
    // an await here shares the CPU and the exits between tasks; it does not overlap the I/O
    // with computation.

    public func read(at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) async throws(BlockError) {
        try await completion(of: submit([.read(at: offset, into: buffer)]))
    }

    public func write(at offset: UInt64, from buffer: UnsafeRawBufferPointer) async throws(BlockError) {
        try await completion(of: submit([.write(at: offset, from: buffer)]))
    }

    /// Returns once every earlier write is durable.
    public func flush() async throws(BlockError) {
        try await completion(of: submit([.flush]))
    }

    /// Waits for `ticket`: yields, then polls (sending whatever every task queued), until done.
    public func completion(of ticket: BlockTicket) async throws(BlockError) {
        while true {
            await EventLoop.yield()
            if let outcome = outcome(of: ticket) { return try outcome.get() }
            guard poll() > 0 else { throw .refused }
            if let outcome = outcome(of: ticket) { return try outcome.get() }
        }
    }
    #endif

    private static let unanswered: Int32 = -1

    private static func error(_ result: swiftlet_result) -> BlockError {
        switch result {
        case SWIFTLET_R_ENODEV: .noDevice
        case SWIFTLET_R_EINVAL: .refused
        default: .deviceFailed
        }
    }
}
#endif
