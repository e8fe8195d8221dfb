// A TCP echo server for one client that then exits by itself (status 0): NetworkTests runs it
// with and without the tender's --rings and compares how many VM exits the same echo took.
import Swiftlet

let network = Network.bringUp()
let listener = try! network.listenTCP(port: 7)
print("ring-guest: listening on \(network.address!) port 7")

var stream: TCPStream?
var pending: [UInt8] = []
var sent = 0
network.run { _ in
    if stream == nil { stream = listener.accept() }
    guard let client = stream else { return true }
    if sent == pending.count && client.isReadable { pending = client.read(); sent = 0 }
    if sent < pending.count {
        sent += pending.withUnsafeBytes { client.write(UnsafeRawBufferPointer(rebasing: $0[sent...])) }
    }
    if sent == pending.count && client.isAtEnd { client.close() }
    return !client.isClosed
}
print("ring-guest: echo done")
