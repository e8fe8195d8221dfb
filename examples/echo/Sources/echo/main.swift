// echo: the smallest real network application (RFC 862): TCP and UDP echo on port 7, and it
// answers ping. The address comes from DHCP, or from the arguments: ip=10.0.2.15/24 gw=10.0.2.2.
import Swiftlet

let network = Network.bringUp()
let address = network.address!
let udp = try! network.bindUDP(port: 7)
let listener = try! network.listenTCP(port: 7)
print("echo: listening on \(address) port 7 (tcp, udp)")

/// One TCP client: whatever it sends comes back; when it closes, so do we.
final class EchoSession {
    let stream: TCPStream
    /// Read but not yet queued for sending: `pending[sent...]`.
    var pending: [UInt8] = []
    var sent = 0

    init(_ stream: TCPStream) { self.stream = stream }

    /// Moves bytes from the receive buffer to the send buffer; false when the session is over.
    func pump() -> Bool {
        if sent == pending.count && stream.isReadable { pending = stream.read(); sent = 0 }
        if sent < pending.count {
            sent += pending.withUnsafeBytes { stream.write(UnsafeRawBufferPointer(rebasing: $0[sent...])) }
        }
        if sent == pending.count && stream.isAtEnd { stream.close() }
        return !stream.isClosed
    }
}

var sessions: [EchoSession] = []
network.run { now in
    while let datagram = udp.receive() {
        datagram.payload.withUnsafeBytes { payload in
            try? udp.send(payload, to: datagram.source, port: datagram.sourcePort, now: now)
        }
    }
    while let stream = listener.accept() { sessions.append(EchoSession(stream)) }
    sessions.removeAll { !$0.pump() }
    return true
}
