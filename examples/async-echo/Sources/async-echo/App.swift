// async-echo: TCP and UDP echo on port 7 (RFC 862) written with async/await: a task per
// TCP connection, `for await` over accepted connections, a task for UDP.
import Swiftlet
import _Concurrency

@main
struct AsyncEcho {
    static func main() async {
        let network: AsyncNetwork
        do { network = try AsyncNetwork() } catch {
            print("async-echo: no network device (start the guest with --net or -p)")
            exit(1)
        }
        guard let address = await network.address() else {
            print("async-echo: no address from DHCP (or pass ip=ADDRESS/PREFIX)")
            exit(1)
        }
        let listener = try! network.listen(port: 7)
        let udp = try! network.bindUDP(port: 7)
        print("async-echo: listening on \(address) port 7 (tcp, udp)")
        Task {
            while true {
                let datagram = await udp.receive()
                try? udp.send(datagram.payload, to: datagram.source, port: datagram.sourcePort)
            }
        }
        for await connection in listener {
            Task {
                while let bytes = await connection.read() {
                    guard await connection.write(bytes) else { break }
                }
                connection.close()
            }
        }
    }
}
