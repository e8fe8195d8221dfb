// A guest block device: a disk image file (or a host block device) the tender reads and writes
// with pread/pwrite on the guest's behalf. The guest names byte offsets, lengths and buffers;
// every request is checked whole before any byte moves (BlockRequestCheck), so a refused
// request reads and writes nothing and the guest gets SWIFTLET_R_EINVAL, never a crash. A
// BLOCK_BATCH is checked whole the same way before any of its requests runs, then run in order
// with the same pread/pwrite/fdatasync (so the seccomp rules need nothing more for it).
//
// `--disk FILE` is opened before confinement, locked (flock, exclusive, not waiting) so that a
// second tender on the same file is refused instead of interleaving writes with the first, and
// afterwards only pread64/pwrite64/fdatasync on this one descriptor are allowed (TenderPolicies).
import CTender
import SwiftletABI

/// `--disk FILE [--disk-size SIZE]`, parsed up front.
public struct DiskSpec: Equatable, Sendable {
    public var path: String
    /// `--disk-size`: the capacity of a disk created now, or the size an existing image file
    /// is grown to. nil: an existing disk keeps its size; a new one gets `defaultSize`.
    public var size: UInt64?

    public static let defaultSize: UInt64 = 64 << 20

    public init(path: String, size: UInt64? = nil) {
        self.path = path
        self.size = size
    }

    /// Opens (creating if missing) and locks the disk; the device the guest sees as `name`.
    public func open(name: String) throws(TenderError) -> BlockDevice {
        if let size, size == 0 || size % BlockDevice.blockSize != 0 {
            throw .usage("--disk-size \(size) is not a positive multiple of \(BlockDevice.blockSize) bytes")
        }
        let fd = ctender_open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0o600)
        guard fd >= 0 else { throw .system("cannot open --disk \(path) for reading and writing", errno: SystemError.last) }
        do {
            let capacity = try prepare(fd)
            return BlockDevice(name: name, path: path, fd: fd, capacity: capacity)
        } catch {
            close(fd)
            throw error
        }
    }

    /// Checks the kind of file, takes the lock, and settles the capacity.
    private func prepare(_ fd: Int32) throws(TenderError) -> UInt64 {
        var status = stat()
        guard fstat(fd, &status) == 0 else { throw .system("cannot examine --disk \(path)", errno: SystemError.last) }
        let kind = status.st_mode & mode_t(S_IFMT)
        guard kind == mode_t(S_IFREG) || kind == mode_t(S_IFBLK) else {
            throw .usage("--disk \(path) is not a regular file or a block device")
        }
        _ = ctender_set_nonblocking(fd, 0)
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            if SystemError.last == EWOULDBLOCK {
                throw .usage("--disk \(path) is in use by another running guest (it holds the file's lock)")
            }
            throw .system("cannot lock --disk \(path)", errno: SystemError.last)
        }
        let current = UInt64(max(0, lseek(fd, 0, SEEK_END)))
        if kind == mode_t(S_IFBLK) {
            if let size, size != current - current % BlockDevice.blockSize {
                throw .usage("--disk-size cannot resize the block device \(path) (its size is \(current) bytes)")
            }
            return current - current % BlockDevice.blockSize
        }
        let wanted = size ?? (current == 0 ? DiskSpec.defaultSize : current - current % BlockDevice.blockSize)
        guard wanted >= current - current % BlockDevice.blockSize else {
            throw .usage("--disk \(path) holds \(current) bytes: --disk-size \(wanted) would cut it (a disk is never shrunk)")
        }
        guard wanted >= BlockDevice.blockSize else {
            throw .usage("--disk \(path) is smaller than one block (\(BlockDevice.blockSize) bytes)")
        }
        if wanted > current {
            guard wanted <= UInt64(Int64.max), ftruncate(fd, off_t(wanted)) == 0 else {
                throw .system("cannot size --disk \(path) to \(wanted) bytes", errno: SystemError.last)
            }
        }
        return wanted
    }
}

/// Whether a block request may be served, decided from the request alone: the rules of
/// swiftlet_hc_block. Pure, so every refusal is unit-tested.
public struct BlockRequestCheck: Equatable, Sendable {
    public let blockSize: UInt64
    public let capacity: UInt64

    public enum Refusal: Error, Equatable {
        case emptyOrTooLong(length: UInt64)
        case misaligned(offset: UInt64, length: UInt64)
        case outOfRange(offset: UInt64, length: UInt64)
    }

    /// nil when [offset, offset + length) is a whole number of blocks inside the disk.
    public func refusal(offset: UInt64, length: UInt64) -> Refusal? {
        guard length > 0, length <= UInt64(SWIFTLET_BLOCK_IO_MAX) else { return .emptyOrTooLong(length: length) }
        guard offset % blockSize == 0, length % blockSize == 0 else { return .misaligned(offset: offset, length: length) }
        guard offset <= capacity, length <= capacity - offset else { return .outOfRange(offset: offset, length: length) }
        return nil
    }
}

public final class BlockDevice {
    /// The sector size every Swiftlet block device has: what the guest's atomic unit is.
    public static let blockSize: UInt64 = 512

    public let name: String
    public let path: String
    public let fd: Int32
    public let capacity: UInt64
    public var check: BlockRequestCheck { BlockRequestCheck(blockSize: Self.blockSize, capacity: capacity) }
    public private(set) var requestsRefused = 0

    public init(name: String, path: String, fd: Int32, capacity: UInt64) {
        self.name = name
        self.path = path
        self.fd = fd
        self.capacity = capacity
    }

    /// A request that passed every check: host bytes inside guest memory and a disk range.
    enum CheckedRequest {
        case read(UnsafeMutableRawBufferPointer, offset: UInt64)
        case write(UnsafeRawBufferPointer, offset: UInt64)
        case flush
    }

    /// The request if the rules of swiftlet_hc_block allow it: the disk range (BlockRequestCheck),
    /// and the buffer inside guest memory the guest may write (READ) or read (WRITE).
    func checked(_ op: swiftlet_block_op, offset: UInt64, data: UInt64, length: UInt64, memory: GuestMemory) -> CheckedRequest? {
        switch op {
        case SWIFTLET_BLOCK_OP_READ:
            guard check.refusal(offset: offset, length: length) == nil,
                  let buffer = try? memory.writableBytes(at: GuestAddress(raw: data), count: length) else { return nil }
            return .read(buffer, offset: offset)
        case SWIFTLET_BLOCK_OP_WRITE:
            guard check.refusal(offset: offset, length: length) == nil,
                  let buffer = try? memory.bytes(at: GuestAddress(raw: data), count: length) else { return nil }
            return .write(buffer, offset: offset)
        case SWIFTLET_BLOCK_OP_FLUSH:
            return .flush
        default:
            return nil
        }
    }

    /// Runs a checked request: pread, pwrite or fdatasync.
    func perform(_ request: CheckedRequest) -> swiftlet_result {
        switch request {
        case let .read(buffer, offset):
            return transfer(buffer.count, at: offset) { done, position in
                pread(fd, buffer.baseAddress! + done, buffer.count - done, position)
            }
        case let .write(buffer, offset):
            return transfer(buffer.count, at: offset) { done, position in
                pwrite(fd, buffer.baseAddress! + done, buffer.count - done, position)
            }
        case .flush:
            while fdatasync(fd) != 0 {
                if SystemError.last != EINTR { return SWIFTLET_R_EIO }
            }
            return SWIFTLET_R_OK
        }
    }

    /// BLOCK_READ, BLOCK_WRITE or BLOCK_FLUSH (`op`): one request.
    func serve(_ request: swiftlet_hc_block, op: swiftlet_block_op, memory: GuestMemory) -> swiftlet_result {
        guard let checked = checked(op, offset: request.offset, data: request.data, length: request.length, memory: memory) else {
            requestsRefused += 1
            return SWIFTLET_R_EINVAL
        }
        return perform(checked)
    }

    /// BLOCK_BATCH: checks every request before any runs (one refused: none runs), then runs
    /// them in order until one fails; each request's result goes back into the guest's array.
    func serve(_ batch: inout swiftlet_hc_block_batch, memory: GuestMemory) -> swiftlet_result {
        batch.completed = 0
        let stride = MemoryLayout<swiftlet_block_request>.stride
        guard batch.count >= 1, batch.count <= SWIFTLET_BLOCK_BATCH_MAX,
              let array = try? memory.writableBytes(at: GuestAddress(raw: batch.requests), count: UInt64(batch.count) * UInt64(stride))
        else { requestsRefused += 1; return SWIFTLET_R_EINVAL }
        // A copy: what is checked is what runs, whatever a read does to the array meanwhile.
        var requests = (0..<Int(batch.count)).map { array.loadUnaligned(fromByteOffset: $0 * stride, as: swiftlet_block_request.self) }
        let accepted = requests.map { checked(swiftlet_block_op(rawValue: $0.op), offset: $0.offset, data: $0.data, length: $0.length, memory: memory) }
        var outcome = SWIFTLET_R_OK
        if accepted.contains(where: { $0 == nil }) {
            requestsRefused += 1
            outcome = SWIFTLET_R_EINVAL
            for index in requests.indices { requests[index].result = Self.code(accepted[index] == nil ? SWIFTLET_R_EINVAL : SWIFTLET_R_SKIPPED) }
        } else {
            for index in requests.indices {
                let result = outcome == SWIFTLET_R_OK ? perform(accepted[index]!) : SWIFTLET_R_SKIPPED
                requests[index].result = Self.code(result)
                if result == SWIFTLET_R_OK { batch.completed += 1 } else if outcome == SWIFTLET_R_OK { outcome = result }
            }
        }
        for (index, request) in requests.enumerated() {
            array.storeBytes(of: request, toByteOffset: index * stride, as: swiftlet_block_request.self)
        }
        return outcome
    }

    private static func code(_ result: swiftlet_result) -> Int32 { Int32(bitPattern: result.rawValue) }

    /// Moves `length` bytes at disk `offset` with `call` (pread or pwrite of the bytes from
    /// `done` on, at disk `position`), again after EINTR or a short count; EIO if the disk
    /// ends or fails first.
    private func transfer(_ length: Int, at offset: UInt64, _ call: (_ done: Int, _ position: off_t) -> Int) -> swiftlet_result {
        var done = 0
        while done < length {
            let count = call(done, off_t(offset) + off_t(done))
            if count < 0 && SystemError.last == EINTR { continue }
            guard count > 0 else { return SWIFTLET_R_EIO }
            done += count
        }
        return SWIFTLET_R_OK
    }

}
