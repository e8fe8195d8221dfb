// `--gdb [HOST:]PORT`: where the tender waits for its one GDB client. Loopback unless the
// user names another address: a debugger can read and write every byte of the guest.
import CTender

public struct GDBListenAddress: Equatable, Sendable, CustomStringConvertible {
    /// An IPv4 address in dotted form.
    public var host: String
    public var port: UInt16

    public static let defaultHost = "127.0.0.1"
    public static let defaultPort: UInt16 = 1234

    public init(host: String = defaultHost, port: UInt16 = defaultPort) {
        self.host = host
        self.port = port
    }

    /// "1234", ":1234", "127.0.0.1:1234", "0.0.0.0:1234", "localhost:1234".
    public init(parsing text: String) throws(TenderError) {
        let parts = text.bytesSplit(UInt8(ascii: ":"), maxSplits: 1, omittingEmpty: false)
        let hostText = parts.count == 2 ? String(parts[0]) : ""
        guard let portText = parts.last, let port = UInt16(portText), port > 0 else {
            throw .usage("--gdb \(text): expected [HOST:]PORT, e.g. --gdb 1234 or --gdb 127.0.0.1:1234 (port 1 to 65535)")
        }
        let host = hostText.isEmpty || hostText.bytesEqual("localhost") ? Self.defaultHost : hostText
        guard Self.ipv4(host) != nil else {
            throw .usage("--gdb \(text): HOST must be an IPv4 address such as 127.0.0.1 (or 0.0.0.0 to accept other machines)")
        }
        self.host = host
        self.port = port
    }

    public var isLoopback: Bool { Self.ipv4(host).map { $0 >> 24 == 127 } ?? false }

    public var description: String { "\(host):\(port)" }

    /// The address in host byte order, if `text` is dotted IPv4.
    static func ipv4(_ text: String) -> UInt32? {
        var address = in_addr()
        guard inet_pton(AF_INET, text, &address) == 1 else { return nil }
        return UInt32(bigEndian: address.s_addr)
    }
}

/// The listening socket and the one connection it accepts, set up before the seccomp filter.
public enum GDBConnection {
    /// Listens on `address`, calls `ready` (to tell the user where), waits for one client,
    /// then closes the listener so nobody else can connect. Returns the connected descriptor.
    public static func acceptOne(on address: GDBListenAddress, ready: () -> Void) throws(TenderError) -> Int32 {
        let listener = try listen(on: address)
        defer { close(listener) }
        ready()
        return try accept(on: listener)
    }

    /// The listening socket, for a tender that takes one client after another (spt: a client
    /// may detach and another attach later).
    public static func listen(on address: GDBListenAddress) throws(TenderError) -> Int32 {
        let listener = ctender_tcp_socket()
        guard listener >= 0 else { throw .system("--gdb: cannot create a socket", errno: SystemError.last) }
        var yes: Int32 = 1
        _ = setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var socketAddress = sockaddr_in()
        socketAddress.sin_family = sa_family_t(AF_INET)
        socketAddress.sin_port = address.port.bigEndian
        socketAddress.sin_addr.s_addr = (GDBListenAddress.ipv4(address.host) ?? 0x7F00_0001).bigEndian
        let bound = withUnsafePointer(to: &socketAddress) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, CTender.listen(listener, 1) == 0 else {
            let error = SystemError.last
            close(listener)
            throw .system("--gdb: cannot listen on \(address)", errno: error)
        }
        return listener
    }

    /// Waits for the next client on `listener`.
    public static func accept(on listener: Int32) throws(TenderError) -> Int32 {
        while true {
            let client = CTender.accept(listener, nil, nil)
            if client >= 0 {
                var noDelay: Int32 = 1
                _ = setsockopt(client, Int32(IPPROTO_TCP), TCP_NODELAY, &noDelay, socklen_t(MemoryLayout<Int32>.size))
                return client
            }
            if SystemError.last != EINTR { throw .system("--gdb: accept failed", errno: SystemError.last) }
        }
    }
}
