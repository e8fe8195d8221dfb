// A bound UDP port: a bounded queue of received datagrams and a send path.

public final class UDPSocket {
    public struct Datagram: Equatable, Sendable {
        public var source: IPv4Address
        public var sourcePort: UInt16
        public var payload: [UInt8]
    }

    public let port: UInt16
    public let queueLimit: Int
    unowned(unsafe) let stack: NetworkStack
    private var queue: [Datagram] = []
    private var head = 0
    public private(set) var dropped = 0

    init(stack: NetworkStack, port: UInt16, queueLimit: Int) {
        self.stack = stack
        self.port = port
        self.queueLimit = queueLimit
    }

    func deliver(_ payload: UnsafeRawBufferPointer, from source: IPv4Address, port sourcePort: UInt16) {
        guard queue.count - head < queueLimit else { dropped += 1; return }
        queue.append(Datagram(source: source, sourcePort: sourcePort, payload: Array(payload)))
    }

    public var hasDatagram: Bool { head < queue.count }

    /// The oldest received datagram, if any.
    public func receive() -> Datagram? {
        guard head < queue.count else { return nil }
        let datagram = queue[head]
        head += 1
        if head == queue.count { queue.removeAll(keepingCapacity: true); head = 0 }
        return datagram
    }

    public func send(_ payload: UnsafeRawBufferPointer, to destination: IPv4Address, port destinationPort: UInt16, now: UInt64) throws(NetworkStack.SocketError) {
        try stack.sendUDP(from: port, to: destination, port: destinationPort, payload: payload, now: now)
    }

    public func close() { stack.unbindUDP(port: port) }
}

/// The stack's bound UDP ports. The stack reaches them only through this protocol, set by the
/// first `bindUDP`: an application that binds no port (examples/web) links none of the sockets.
/// Public although only the library conforms, like `NameService`: with an internal protocol of
/// one conforming type, the optimizer calls that type directly and links it again.
public protocol DatagramPorts: AnyObject {
    /// Queues a datagram on the socket bound to `port`; false when none is.
    func deliver(_ payload: UnsafeRawBufferPointer, to port: UInt16, from source: IPv4Address, port sourcePort: UInt16) -> Bool
    func isBound(_ port: UInt16) -> Bool
    func bind(_ socket: UDPSocket)
    func unbind(_ port: UInt16)
}

final class UDPPorts: DatagramPorts {
    private var sockets: KeyedTable<UInt16, UDPSocket>

    init(hasher: SipHash13) { sockets = KeyedTable(hasher: hasher) }

    func deliver(_ payload: UnsafeRawBufferPointer, to port: UInt16, from source: IPv4Address, port sourcePort: UInt16) -> Bool {
        guard let socket = sockets[port] else { return false }
        socket.deliver(payload, from: source, port: sourcePort)
        return true
    }

    func isBound(_ port: UInt16) -> Bool { sockets[port] != nil }
    func bind(_ socket: UDPSocket) { sockets[socket.port] = socket }
    func unbind(_ port: UInt16) { sockets[port] = nil }
}
