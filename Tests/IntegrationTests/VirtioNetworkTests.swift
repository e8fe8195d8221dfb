// The virtio target's network end to end: examples/echo booted by QEMU with a virtio-net device
// on a tap inside a network namespace this test creates (virtio-mmio on microvm, virtio-pci on
// q35), then ping, UDP echo and TCP echo checked by hash from the namespace. QEMU runs under
// `timeout -s KILL`: an emulation failure makes QEMU hang rather than exit.
import Foundation
import SwiftletBuild
import Testing

enum VirtioNetworkHarness {
    /// QEMU for `image` with a virtio-net device on `tap0` (the namespace's).
    static func command(_ image: URL, _ configuration: VirtioHarness.Configuration, arguments: [String]) throws -> [String] {
        var qemu = QEMUCommand(image: image.path, memoryBytes: 64 << 20, kvm: configuration.accel == "kvm")
        qemu.machine = configuration.machine == "q35" ? .q35 : .microvm
        qemu.guestArguments = arguments
        let device = configuration.machine == "q35" ? "virtio-net-pci" : "virtio-net-device"
        // QEMU 7.2's virtio-mmio is legacy (version 1) unless told otherwise; the driver is 1.x only.
        return try qemu.arguments() + ["-global", "virtio-mmio.force-legacy=false",
                                       "-netdev", "tap,id=net0,ifname=tap0,script=no,downscript=no",
                                       "-device", "\(device),netdev=net0,mac=52:54:00:12:34:56"]
    }

    /// Boots the echo example in `namespace`, runs `client` there once the guest answers ARP
    /// (bounded), then stops QEMU. Returns both outcomes.
    static func withEcho(_ namespace: TapNamespace, _ configuration: VirtioHarness.Configuration,
                         client: [String], seconds: Int = 150) throws -> (client: Harness.Outcome, guest: Harness.Outcome) {
        let image = try VirtioHarness.image("echo")
        let qemu = try command(image, configuration, arguments: ["ip=\(TapNamespace.guestAddress)/24"])
        var clientOutcome: Harness.Outcome?
        var clientError: Error?
        let guest = try namespace.run(["timeout", "-s", "KILL", "\(seconds)"] + qemu, timeout: TimeInterval(seconds + 10)) { process in
            // Up when it answers a ping (q35 first runs SeaBIOS): at most 60 s.
            _ = try? namespace.run(["sh", "-c", "for i in $(seq 120); do ping -c1 -W1 \(TapNamespace.guestAddress) >/dev/null && exit 0; sleep 0.5; done; exit 1"], timeout: 70)
            do { clientOutcome = try namespace.run(client, timeout: TimeInterval(seconds)) } catch { clientError = error }
            kill(process.processIdentifier, SIGTERM)
        }
        if let clientError { throw clientError }
        return (try #require(clientOutcome), guest)
    }
}

@Suite(.enabled(if: VirtioHarness.qemuAvailable, "skipped: qemu-system-x86_64 is not installed — virtio networking is SKIPPED"),
       .enabled(if: TapNamespace.available, "skipped: needs root and iproute2 for a namespace with a tap — virtio networking is SKIPPED"),
       .serialized)
struct VirtioNetworkTests {
    @Test(arguments: VirtioHarness.configurations)
    func pingUDPAndTCPEchoOverVirtioNet(configuration: VirtioHarness.Configuration) throws {
        let namespace = try TapNamespace("vnet-\(configuration.machine)-\(configuration.accel)")
        let address = TapNamespace.guestAddress
        let size = 100 << 20
        let (client, guest) = try VirtioNetworkHarness.withEcho(namespace, configuration, client: [
            "sh", "-c", "ping -c 5 -i 0.2 -W 2 \(address) && python3 -c '\(NetworkTests.udpClient)' \(address) && python3 -c '\(NetworkTests.tcpClient)' \(address) \(size)",
        ])
        #expect(client.status == 0, "client: \(client.stdout) \(client.stderr)\nguest: \(guest.stdout) \(guest.stderr)")
        #expect(client.stdout.contains("5 received"), "\(client.stdout)")
        #expect(client.stdout.contains("udp echo: 200 datagrams intact"))
        #expect(client.stdout.contains("tcp echo: \(size) bytes intact"))
        for complaint in ["virtio: ", "virtio-mmio: ", "virtio-pci: ", "virtio-net: "] {
            #expect(!guest.stdout.contains(complaint), "the driver complained: \(guest.stdout)")
        }
        #expect(guest.stdout.contains("echo: listening on \(address) port 7"), "\(guest.stdout)")
    }
}
