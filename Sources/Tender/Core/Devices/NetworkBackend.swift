// Where a guest network device's frames come from and go to on the host: a tap interface
// (one frame per read/write) or a stream socket to passt (frames with a 4-byte length).
import CTender
import SwiftletABI

public enum FrameRead: Equatable {
    case frame(Int)      // bytes stored (truncated to the buffer if the frame was longer)
    case empty           // nothing to read now
    case closed          // the peer went away
}

public protocol NetworkBackend: AnyObject {
    var fd: Int32 { get }
    /// The peer went away (passt exited): nothing more will arrive, so do not poll `fd`.
    var isClosed: Bool { get }
    /// Frames already read from `fd` but not yet handed to the guest.
    var hasBufferedFrame: Bool { get }
    /// Whether frames can carry offload metadata (SWIFTLET_NET_F_OFFLOAD) once enabled.
    var offersOffload: Bool { get }
    /// Lets the host hand over merged segments and partial checksums; false if it refused.
    func enableOffload() -> Bool
    /// `offload` receives the frame's metadata (all zero from a backend without offload).
    func readFrame(into buffer: UnsafeMutableRawBufferPointer, offload: inout swiftlet_net_offload) -> FrameRead
    /// `offload` has been validated by the caller (NetworkDevice).
    func writeFrame(_ frame: UnsafeRawBufferPointer, offload: swiftlet_net_offload) -> Bool
}

extension NetworkBackend {
    public func readFrame(into buffer: UnsafeMutableRawBufferPointer) -> FrameRead {
        var offload = swiftlet_net_offload()
        return readFrame(into: buffer, offload: &offload)
    }

    public func writeFrame(_ frame: UnsafeRawBufferPointer) -> Bool {
        writeFrame(frame, offload: swiftlet_net_offload())
    }
}

/// A tap interface: the kernel delivers exactly one Ethernet frame per read. Opened by the
/// tenders with IFF_VNET_HDR (`vnetHeaders`): each frame then travels behind a virtio_net_hdr,
/// which is the guest's offload metadata, field for field (checked in ctender.c).
public final class TapBackend: NetworkBackend {
    public let fd: Int32
    public let vnetHeaders: Bool
    public var hasBufferedFrame: Bool { false }
    public private(set) var isClosed = false
    public var offersOffload: Bool { vnetHeaders }

    public init(fd: Int32, vnetHeaders: Bool = false) {
        self.fd = fd
        self.vnetHeaders = vnetHeaders
    }

    public func enableOffload() -> Bool { vnetHeaders && ctender_tap_enable_offload(fd) == 0 }

    public func readFrame(into buffer: UnsafeMutableRawBufferPointer, offload: inout swiftlet_net_offload) -> FrameRead {
        offload = swiftlet_net_offload()
        guard vnetHeaders else { return readPlainFrame(into: buffer) }
        return withUnsafeMutableBytes(of: &offload) { header in
            withVectorPair(UnsafeRawBufferPointer(rebasing: header.prefix(Int(CTENDER_VNET_HEADER_SIZE))),
                           UnsafeRawBufferPointer(buffer)) { vectors in readVNetFrame(vectors, capacity: buffer.count) }
        }
    }

    private func readVNetFrame(_ vectors: UnsafeMutableBufferPointer<iovec>, capacity: Int) -> FrameRead {
        while true {
            let count = readv(fd, vectors.baseAddress, Int32(vectors.count))
            if count >= Int(CTENDER_VNET_HEADER_SIZE) { return .frame(min(count - Int(CTENDER_VNET_HEADER_SIZE), capacity)) }
            if count < 0 && SystemError.last == EINTR { continue }
            if count == 0 { isClosed = true }
            return count == 0 ? .closed : .empty
        }
    }

    private func readPlainFrame(into buffer: UnsafeMutableRawBufferPointer) -> FrameRead {
        // read() into zero bytes returns 0, which would look like the end of the device: a
        // guest buffer of capacity 0 gets the frame truncated to nothing, as a short one would.
        guard buffer.count > 0 else {
            var scratch: UInt8 = 0
            return withUnsafeMutableBytes(of: &scratch) { readPlainFrame(into: $0) } == .frame(1) ? .frame(0) : .empty
        }
        while true {
            let count = read(fd, buffer.baseAddress, buffer.count)
            if count > 0 { return .frame(count) }
            if count < 0 && SystemError.last == EINTR { continue }
            if count == 0 { isClosed = true }
            return count == 0 ? .closed : .empty
        }
    }

    public func writeFrame(_ frame: UnsafeRawBufferPointer, offload: swiftlet_net_offload) -> Bool {
        var header = offload
        let headerLength = vnetHeaders ? Int(CTENDER_VNET_HEADER_SIZE) : 0
        return withUnsafeBytes(of: &header) { header in
            withVectorPair(UnsafeRawBufferPointer(rebasing: header.prefix(headerLength)), frame) { vectors in
                writeFrame(vectors, total: headerLength + frame.count)
            }
        }
    }

    private func writeFrame(_ vectors: UnsafeMutableBufferPointer<iovec>, total: Int) -> Bool {
        while true {
            let count = writev(fd, vectors.baseAddress, Int32(vectors.count))
            if count >= 0 { return count == total }
            if SystemError.last == EINTR { continue }
            // A full tap queue drops the frame, as a NIC would; TCP recovers.
            return false
        }
    }
}

/// A non-blocking stream socket carrying frames as [UInt32 big-endian length][frame] (passt's
/// qemu protocol). Reads reassemble frames from whatever the kernel returns.
public final class StreamBackend: NetworkBackend {
    public let fd: Int32
    public static let maximumFrame = 65_535
    private var buffer: UnsafeMutableRawBufferPointer
    private var start = 0
    private var end = 0
    public private(set) var isClosed = false

    public var offersOffload: Bool { false }
    public func enableOffload() -> Bool { false }

    public init(fd: Int32) {
        self.fd = fd
        buffer = .allocate(byteCount: 4 * (Self.maximumFrame + 4), alignment: 16)
    }

    deinit { buffer.deallocate() }

    private var pendingLength: Int? {
        guard end - start >= 4 else { return nil }
        let length = Int(buffer[start]) << 24 | Int(buffer[start + 1]) << 16 | Int(buffer[start + 2]) << 8 | Int(buffer[start + 3])
        return length
    }

    public var hasBufferedFrame: Bool {
        guard let length = pendingLength else { return false }
        return end - start >= 4 + length
    }

    public func readFrame(into destination: UnsafeMutableRawBufferPointer, offload: inout swiftlet_net_offload) -> FrameRead {
        offload = swiftlet_net_offload()
        while !hasBufferedFrame {
            if let length = pendingLength, length > Self.maximumFrame { isClosed = true; return .closed }  // desynchronized peer
            if start > 0 {
                (buffer.baseAddress! + 0).copyMemory(from: buffer.baseAddress! + start, byteCount: end - start)
                end -= start
                start = 0
            }
            guard !isClosed else { return .closed }
            let count = read(fd, buffer.baseAddress! + end, buffer.count - end)
            if count > 0 { end += count; continue }
            if count < 0 && SystemError.last == EINTR { continue }
            if count == 0 { isClosed = true }
            return count == 0 ? .closed : .empty
        }
        let length = pendingLength!
        let copied = min(length, destination.count)
        destination.baseAddress!.copyMemory(from: buffer.baseAddress! + start + 4, byteCount: copied)
        start += 4 + length
        return .frame(copied)
    }

    public func writeFrame(_ frame: UnsafeRawBufferPointer, offload: swiftlet_net_offload) -> Bool {
        guard frame.count <= Self.maximumFrame, !isClosed else { return false }
        var header = UInt32(frame.count).bigEndian
        return withUnsafeBytes(of: &header) { header in
            withVectorPair(header, frame) { writeWhole($0) }
        }
    }

    /// How long a write waits for the peer to make room. passt drains the socket within
    /// microseconds when it runs; a peer that stays full this long has stopped reading.
    public static let writeTimeout: Int64 = 1_000_000_000
    /// The last wait for room timed out: until the socket drains, frames are dropped at once
    /// (as a full tap queue drops them) instead of stalling the guest a second per frame.
    private var peerStalled = false

    /// The stream must stay in sync, so a frame is written whole or not at all: while none of
    /// it is written, it may be dropped (TCP recovers); once part of it is, the rest must
    /// follow, and a peer that takes none of it within `writeTimeout` closes the stream.
    /// The vectors are the caller's (on its stack: a frame allocates nothing) and are advanced
    /// in place past what a short write took.
    private func writeWhole(_ vectors: UnsafeMutableBufferPointer<iovec>) -> Bool {
        let total = vectors.reduce(0) { $0 + $1.iov_len }
        var remaining = total
        var index = 0
        while remaining > 0 {
            let count = writev(fd, vectors.baseAddress! + index, Int32(vectors.count - index))
            if count < 0 {
                if SystemError.last == EINTR { continue }
                guard SystemError.last == EAGAIN else { return false }
                let started = remaining < total
                if !started && peerStalled { return false }
                if waitForRoom() { continue }
                if started { isClosed = true } else { peerStalled = true }
                return false
            }
            peerStalled = false
            remaining -= count
            var consumed = count
            while consumed > 0 && index < vectors.count {
                if consumed >= vectors[index].iov_len {
                    consumed -= vectors[index].iov_len
                    index += 1
                } else {
                    vectors[index].iov_base += consumed
                    vectors[index].iov_len -= consumed
                    consumed = 0
                }
            }
        }
        return true
    }

    /// Waits up to `writeTimeout` for the socket to accept more; false on timeout or error.
    private func waitForRoom() -> Bool {
        var waiter = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        while true {
            let ready = ctender_ppoll(&waiter, 1, Self.writeTimeout)
            if ready < 0 && SystemError.last == EINTR { continue }
            return ready > 0 && waiter.revents & Int16(POLLOUT) != 0
        }
    }
}

/// A frame behind its header as two iovecs on the stack, so that I/O per frame allocates
/// nothing. The vectors may be advanced in place (after a short write).
func withVectorPair<Result>(_ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer,
                            _ body: (UnsafeMutableBufferPointer<iovec>) -> Result) -> Result {
    var vectors = (iovec(iov_base: UnsafeMutableRawPointer(mutating: first.baseAddress), iov_len: first.count),
                   iovec(iov_base: UnsafeMutableRawPointer(mutating: second.baseAddress), iov_len: second.count))
    return withUnsafeMutableBytes(of: &vectors) { body($0.bindMemory(to: iovec.self)) }
}
