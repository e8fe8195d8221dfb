// `--pcap FILE`: every frame the guest's network devices receive and send, written as a
// classic libpcap file (what `tcpdump -r` and Wireshark read). The file is opened before
// confinement; afterwards only `write` on its descriptor is needed (TenderPolicies).
import CTender

/// The classic libpcap file layout, little-endian, nanosecond timestamps, Ethernet frames
/// (https://www.tcpdump.org/manpages/pcap-savefile.5.txt). Pure bytes, no I/O.
public struct PcapFormat: Equatable, Sendable {
    /// 0xa1b23c4d: the variant whose second field counts nanoseconds, not microseconds.
    public static let nanosecondMagic: UInt32 = 0xA1B2_3C4D
    public static let linkTypeEthernet: UInt32 = 1
    public static let fileHeaderSize = 24
    public static let recordHeaderSize = 16

    /// The longest frame stored whole; longer ones are cut to it (their original length kept).
    /// The default is tcpdump's largest (MAXIMUM_SNAPLEN): frames with segmentation offload
    /// reach 14 + 65,535 bytes.
    public var snapshotLength: UInt32

    public init(snapshotLength: UInt32 = 262_144) { self.snapshotLength = snapshotLength }

    /// magic, version 2.4, thiszone 0, sigfigs 0, snaplen, link type.
    public var fileHeader: [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Self.fileHeaderSize)
        Self.append(Self.nanosecondMagic, to: &bytes)
        Self.append(UInt16(2), to: &bytes)
        Self.append(UInt16(4), to: &bytes)
        Self.append(UInt32(0), to: &bytes)
        Self.append(UInt32(0), to: &bytes)
        Self.append(snapshotLength, to: &bytes)
        Self.append(Self.linkTypeEthernet, to: &bytes)
        return bytes
    }

    /// How many bytes of a `length`-byte frame a record stores.
    public func capturedLength(of length: Int) -> Int { min(length, Int(snapshotLength)) }

    /// The 16 bytes before a frame's data: seconds, nanoseconds, stored length, original length.
    public func recordHeader(seconds: UInt32, nanoseconds: UInt32, frameLength: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Self.recordHeaderSize)
        Self.append(seconds, to: &bytes)
        Self.append(nanoseconds, to: &bytes)
        Self.append(UInt32(capturedLength(of: frameLength)), to: &bytes)
        Self.append(UInt32(clamping: frameLength), to: &bytes)
        return bytes
    }

    private static func append<T: FixedWidthInteger>(_ value: T, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes += $0 }
    }
}

/// One open capture file shared by the guest's devices. Frames are recorded whole until the
/// next one would take the file past `limit` bytes; from then on nothing more is written (the
/// file stays a valid capture of everything before) and one line on stderr says so.
public final class PacketCapture {
    public static let defaultLimit = 64 << 20

    public let path: String
    public let fd: Int32
    public let limit: Int
    public let format: PcapFormat
    public private(set) var bytesWritten = 0
    public private(set) var framesRecorded = 0
    public private(set) var framesNotRecorded = 0
    /// A write failed (disk full, ...): stop trying, as at the limit.
    public private(set) var writeFailed = false

    /// Creates (or truncates) `path` and writes the file header. Refused before the guest
    /// starts if the file cannot be written or the limit cannot hold even the header.
    public init(path: String, limit: Int = PacketCapture.defaultLimit, format: PcapFormat = PcapFormat()) throws(TenderError) {
        guard limit >= PcapFormat.fileHeaderSize else {
            throw .usage("--pcap-limit \(limit): a capture needs at least \(PcapFormat.fileHeaderSize) bytes for its header")
        }
        let fd = ctender_open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard fd >= 0 else { throw .system("cannot write the packet capture \(path)", errno: SystemError.last) }
        var status = stat()
        guard fstat(fd, &status) == 0, status.st_mode & mode_t(S_IFMT) == mode_t(S_IFREG) else {
            close(fd)
            throw .usage("--pcap \(path) is not a regular file")
        }
        self.path = path
        self.fd = fd
        self.limit = limit
        self.format = format
        guard format.fileHeader.withUnsafeBytes({ writeAll($0) }) else {
            close(fd)
            throw .system("cannot write the packet capture \(path)", errno: SystemError.last)
        }
    }

    /// Records one frame with the current time, if it fits under the limit.
    public func record(_ frame: UnsafeRawBufferPointer) {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        record(frame, seconds: UInt32(truncatingIfNeeded: now.tv_sec), nanoseconds: UInt32(truncatingIfNeeded: now.tv_nsec))
    }

    /// Records one frame seen at the given time (QEMU's, for the virtio target).
    public func record(_ frame: UnsafeRawBufferPointer, seconds: UInt32, nanoseconds: UInt32) {
        let stored = format.capturedLength(of: frame.count)
        guard !writeFailed, bytesWritten + PcapFormat.recordHeaderSize + stored <= limit else {
            if framesNotRecorded == 0 && !writeFailed {
                TenderExit.writeStandardError("swiftlet: --pcap \(path) reached its limit of \(limit) bytes after \(framesRecorded) frames; later frames are not recorded\n")
            }
            framesNotRecorded += 1
            return
        }
        let header = format.recordHeader(seconds: seconds, nanoseconds: nanoseconds, frameLength: frame.count)
        if header.withUnsafeBytes({ writeAll($0) }) && writeAll(UnsafeRawBufferPointer(rebasing: frame.prefix(stored))) {
            framesRecorded += 1
        } else {
            writeFailed = true
            framesNotRecorded += 1
            TenderExit.writeStandardError("swiftlet: writing --pcap \(path) failed (\(SystemError.describe(SystemError.last))); later frames are not recorded\n")
        }
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let count = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if count < 0 && SystemError.last == EINTR { continue }
            guard count > 0 else { return false }
            offset += count
            bytesWritten += count
        }
        return true
    }
}

/// Reads the classic pcap stream another program writes (QEMU's filter-dump for the virtio
/// target: little-endian, microsecond or nanosecond timestamps) back into frames, fed in
/// whatever pieces a pipe delivers. Anything that is not such a stream stops it.
public struct PcapStreamReader: Sendable {
    public struct Frame: Equatable, Sendable {
        public var seconds: UInt32
        public var nanoseconds: UInt32
        public var bytes: [UInt8]
    }

    public enum Failure: Error, Equatable { case notPcap, recordTooLong(Int) }

    private var pending: [UInt8] = []
    private var nanosecondsPerUnit: UInt32?
    public private(set) var failure: Failure?

    public init() {}

    /// The whole records `bytes` completes, in order.
    public mutating func feed(_ bytes: [UInt8]) -> [Frame] {
        guard failure == nil else { return [] }
        pending += bytes
        var frames: [Frame] = []
        var offset = 0
        func u32(_ at: Int) -> UInt32 {
            UInt32(pending[at]) | UInt32(pending[at + 1]) << 8 | UInt32(pending[at + 2]) << 16 | UInt32(pending[at + 3]) << 24
        }
        if nanosecondsPerUnit == nil {
            guard pending.count >= PcapFormat.fileHeaderSize else { return [] }
            switch u32(0) {
            case 0xA1B2_C3D4: nanosecondsPerUnit = 1000
            case PcapFormat.nanosecondMagic: nanosecondsPerUnit = 1
            default: failure = .notPcap; return []
            }
            guard u32(20) == PcapFormat.linkTypeEthernet else { failure = .notPcap; return [] }
            offset = PcapFormat.fileHeaderSize
        }
        while pending.count - offset >= PcapFormat.recordHeaderSize {
            let stored = Int(u32(offset + 8))
            guard stored <= 262_144 else { failure = .recordTooLong(stored); return frames }
            guard pending.count - offset - PcapFormat.recordHeaderSize >= stored else { break }
            let start = offset + PcapFormat.recordHeaderSize
            frames.append(Frame(seconds: u32(offset), nanoseconds: u32(offset + 4) &* nanosecondsPerUnit!,
                                bytes: Array(pending[start ..< start + stored])))
            offset = start + stored
        }
        pending.removeFirst(offset)
        return frames
    }
}
