// echo: the smallest real network application (RFC 862): UDP echo on port 7. Answers ping.
// Network settings come from the arguments: ip=10.0.2.15/24 gw=10.0.2.2 (DHCP otherwise).
import Swiftlet

let network: NetworkStack
do {
    network = try Network.start()
} catch {
    print("echo: no network (start the guest with --net or -p)")
    exit(1)
}
guard let address = network.address else {
    print("echo: no address (pass ip=ADDRESS/PREFIX)")
    exit(1)
}
let udp = try! network.bindUDP(port: 7)
print("echo: listening on \(address) port 7 (udp)")

network.run { now in
    while let datagram = udp.receive() {
        datagram.payload.withUnsafeBytes { payload in
            try? udp.send(payload, to: datagram.source, port: datagram.sourcePort, now: now)
        }
    }
    return true
}
