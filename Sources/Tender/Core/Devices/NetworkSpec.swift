// `--net tap:NAME` / `--net fd:N`, optionally `,mac=02:...` and (a tap) `,offload=off`: what to
// attach, parsed up front, opened before the seccomp filter goes on.
import CTender

public struct NetworkSpec: Equatable {
    public enum Backend: Equatable {
        case tap(String)
        case socket(Int32)
    }

    public var backend: Backend
    public var mac: [UInt8]?
    /// A tap offers the guest checksum and segmentation offload unless `offload=off` (frames
    /// then cross one MTU at a time with whole checksums, as through passt).
    public var offload = true

    public init(backend: Backend, mac: [UInt8]? = nil, offload: Bool = true) {
        self.backend = backend
        self.mac = mac
        self.offload = offload
    }

    public init(parsing text: String) throws(TenderError) {
        var parts = text.bytesSplit(UInt8(ascii: ",")).map(String.init)
        guard !parts.isEmpty else { throw .usage("--net needs tap:NAME or fd:N") }
        let kind = parts.removeFirst()
        if let name = kind.bytes(after: "tap:"), !name.isEmpty, name.utf8.count <= 15 {
            backend = .tap(String(name))
        } else if let fd = kind.bytes(after: "fd:")?.bytesNumber(), fd > 2, fd <= UInt64(Int32.max) {
            backend = .socket(Int32(fd))
        } else {
            throw .usage("--net \(text): expected tap:NAME (a name of at most 15 bytes) or fd:N (N > 2)")
        }
        mac = nil
        for option in parts {
            if option.bytesEqual("offload=off"), case .tap = backend {
                offload = false
                continue
            }
            guard let text = option.bytes(after: "mac="), let mac = Self.parseMAC(String(text)) else {
                throw .usage("--net option '\(option)' not understood (expected mac=02:00:00:00:00:01, or offload=off on a tap)")
            }
            self.mac = mac
        }
    }

    static func parseMAC(_ text: String) -> [UInt8]? {
        let bytes = text.bytesSplit(UInt8(ascii: ":")).compactMap { $0.utf8.count == 2 ? $0.bytesNumber(radix: 16).map { UInt8($0) } : nil }
        guard bytes.count == 6, bytes[0] & 1 == 0 else { return nil }
        return bytes
    }

    /// Opens the backend and makes the device the guest will see as `name`.
    public func open(name: String) throws(TenderError) -> NetworkDevice {
        let backend: NetworkBackend
        switch self.backend {
        case .tap(let interface):
            let fd = ctender_open_tap(interface, offload)
            guard fd >= 0 else { throw .system("cannot attach tap interface \(interface) (create it first: ip tuntap add \(interface) mode tap)", errno: -fd) }
            backend = TapBackend(fd: fd, vnetHeaders: offload)
        case .socket(let fd):
            var status = stat()
            guard fstat(fd, &status) == 0, status.st_mode & mode_t(S_IFMT) == mode_t(S_IFSOCK) else {
                throw .usage("--net fd:\(fd) is not an open socket")
            }
            _ = ctender_set_nonblocking(fd, 1)
            _ = ctender_fcntl(fd, F_SETFD, FD_CLOEXEC)
            backend = StreamBackend(fd: fd)
        }
        var address = mac ?? Self.randomMAC()
        if address.count != 6 { address = Self.randomMAC() }
        return NetworkDevice(name: name, mac: (address[0], address[1], address[2], address[3], address[4], address[5]), backend: backend)
    }

    /// A random locally administered unicast address (02:xx:xx:xx:xx:xx family).
    static func randomMAC() -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 6)
        _ = bytes.withUnsafeMutableBytes { ctender_getrandom($0.baseAddress, 6) }
        bytes[0] = (bytes[0] & 0xFC) | 0x02
        return bytes
    }
}
