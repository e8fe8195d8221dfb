// bulk: the guest side of bench/bulk.py. TCP discard on port 9 (RFC 863: reads and drops
// everything) and a source on port 19 (writes `source=MB` megabytes, then closes).
import Swiftlet

var sourceBytes = 64 << 20
for argument in CommandLine.arguments where argument.utf8.starts(with: "source=".utf8) {
    sourceBytes = (Int(String(decoding: argument.utf8.dropFirst(7), as: UTF8.self)) ?? 64) << 20
}
// 1 MiB buffers: with offload, a window holds sixteen 64 KB segments.
let network = try! Network.start(sendBuffer: 1 << 20, receiveBuffer: 1 << 20)
guard let address = network.waitForAddress() else { exit(1) }
let discard = try! network.listenTCP(port: 9)
let source = try! network.listenTCP(port: 19)
print("bulk: discard on \(address):9, \(sourceBytes >> 20) MB source on :19")

var sinks: [TCPStream] = []
var sources: [(stream: TCPStream, left: Int)] = []
var scratch = [UInt8](repeating: 0x5A, count: 65536)
network.run { _ in
    while let stream = discard.accept() { sinks.append(stream) }
    while let stream = source.accept() { sources.append((stream, sourceBytes)) }
    for stream in sinks {
        // Discarded where they lie in the receive buffer: no copy into the application.
        while stream.isReadable { _ = stream.read(maximum: 1 << 20) { _ in } }
        if stream.isAtEnd { stream.close() }
    }
    for index in sources.indices {
        while sources[index].left > 0 && sources[index].stream.isWritable {
            let count = min(sources[index].left, scratch.count)
            sources[index].left -= scratch.withUnsafeBytes { sources[index].stream.write(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
        }
        if sources[index].left == 0 { sources[index].stream.close() }
    }
    sinks.removeAll { $0.isClosed }
    sources.removeAll { $0.stream.isClosed }
    return true
}
