// What the store needs from a disk: whole blocks read and written at block-aligned offsets,
// and a flush that returns once everything written before it is durable. The guest's
// `BlockDevice` is one; tests put an in-memory disk that can crash, tear and flip bits here.

public enum BlockError: Error, Equatable, CustomStringConvertible {
    /// The request broke a rule (alignment, range, buffer): nothing was read or written.
    case refused
    /// The host failed to read, write or flush (EIO).
    case deviceFailed
    /// No such device.
    case noDevice

    public var description: String {
        switch self {
        case .refused: "request refused (not whole blocks inside the disk, or a buffer the guest may not use)"
        case .deviceFailed: "I/O error on the host"
        case .noDevice: "no such device"
        }
    }
}

public protocol BlockStorage: AnyObject {
    /// Bytes per block: offsets and lengths are multiples of it.
    var blockSize: Int { get }
    /// Bytes on the device.
    var capacity: UInt64 { get }
    /// Fills `buffer` from [offset, offset + buffer.count).
    func read(at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws(BlockError)
    /// Writes `buffer` at [offset, offset + buffer.count). Not durable until `flush()`.
    func write(at offset: UInt64, from buffer: UnsafeRawBufferPointer) throws(BlockError)
    /// Returns once every write before it is on stable storage.
    func flush() throws(BlockError)
    /// `write` then `flush` (a device may do both with one request to its host).
    func writeDurably(at offset: UInt64, from buffer: UnsafeRawBufferPointer) throws(BlockError)
}

extension BlockStorage {
    public func writeDurably(at offset: UInt64, from buffer: UnsafeRawBufferPointer) throws(BlockError) {
        try write(at: offset, from: buffer)
        try flush()
    }

    /// Writes `bytes[0..<count]` (all of it by default) at `offset`.
    public func write(_ bytes: [UInt8], count: Int? = nil, at offset: UInt64) throws(BlockError) {
        var failure: BlockError?
        bytes.withUnsafeBytes { raw in
            do throws(BlockError) {
                try write(at: offset, from: UnsafeRawBufferPointer(rebasing: raw[0..<(count ?? raw.count)]))
            } catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// Writes `bytes` at `offset` and makes them durable.
    public func writeDurably(_ bytes: [UInt8], at offset: UInt64) throws(BlockError) {
        var failure: BlockError?
        bytes.withUnsafeBytes { raw in
            do throws(BlockError) { try writeDurably(at: offset, from: raw) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// Fills `bytes` from `offset`.
    public func read(_ bytes: inout [UInt8], at offset: UInt64) throws(BlockError) {
        var failure: BlockError?
        bytes.withUnsafeMutableBytes { raw in
            do throws(BlockError) { try read(at: offset, into: raw) } catch { failure = error }
        }
        if let failure { throw failure }
    }
}
