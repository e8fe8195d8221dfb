// The virtio target's network end to end: examples/echo booted through `swiftlet run --target
// virtio --net tap:tap0` with a virtio-net device on a tap inside a network namespace this test
// creates (virtio-mmio on microvm, virtio-pci on q35), then ping, UDP echo and TCP echo checked
// by hash from the namespace; and `-p` through passt on loopback. Everything runs under
// `timeout -s KILL`: an emulation failure makes QEMU hang rather than exit.
import Foundation
import SwiftletBuild
import Testing

enum VirtioNetworkHarness {
    /// `swiftlet run --target virtio --net tap:tap0` (the namespace's tap), under `timeout`. The
    /// full CLI hands the run to the launcher, which checks the tap and hands it back.
    static func command(_ image: URL, _ configuration: VirtioHarness.Configuration, arguments: [String], seconds: Int) -> [String] {
        ["timeout", "-s", "KILL", "\(seconds)", "env", "SWIFTLET_VIRTIO_ACCEL=\(configuration.accel)",
         Harness.productsFolder.appendingPathComponent("swiftlet-cli").path, "run", "--target", "virtio",
         "--machine", configuration.machine, "--mem", "64M", "--net", "tap:tap0", image.path, "--"] + arguments
    }

    /// Boots the echo example in `namespace`, runs `client` there once the guest answers ARP
    /// (bounded), then stops QEMU. Returns both outcomes.
    static func withEcho(_ namespace: TapNamespace, _ configuration: VirtioHarness.Configuration,
                         client: [String], seconds: Int = 150) throws -> (client: Harness.Outcome, guest: Harness.Outcome) {
        let image = try VirtioHarness.image("echo")
        let run = command(image, configuration, arguments: ["ip=\(TapNamespace.guestAddress)/24"], seconds: seconds)
        var clientOutcome: Harness.Outcome?
        var clientError: Error?
        let guest = try namespace.run(run, timeout: TimeInterval(seconds + 10)) { process in
            // Up when it answers a ping (q35 first runs SeaBIOS): at most 60 s.
            _ = try? namespace.run(["sh", "-c", "for i in $(seq 120); do ping -c1 -W1 \(TapNamespace.guestAddress) >/dev/null && exit 0; sleep 0.5; done; exit 1"], timeout: 70)
            do { clientOutcome = try namespace.run(client, timeout: TimeInterval(seconds)) } catch { clientError = error }
            // The whole group: `timeout` inherits the test runner's blocked SIGTERM and would
            // not pass it on; swiftlet passes it to QEMU, and passt ends with QEMU's socket.
            kill(-process.processIdentifier, SIGTERM)
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
            "sh", "-c", "ping -c 5 -i 0.2 -W 2 \(address) && " + (try NetworkTests.echoClient(address, tcp: size, udp: true)).joined(separator: " "),
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

/// `swiftlet run --target virtio -p HOST:80` with examples/web, reached on 127.0.0.1: the
/// launcher starts passt and hands its socket to the full CLI, which gives it to QEMU. KVM where
/// usable, else TCG (the CLI says so on stderr).
@Suite(.enabled(if: VirtioHarness.qemuAvailable, "skipped: qemu-system-x86_64 is not installed — virtio -p is SKIPPED"),
       .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/passt"),
                "skipped: passt is not installed (apt-get install passt) — virtio -p is SKIPPED"),
       .serialized)
struct VirtioPublishTests {
    static let port = 50000 + Int(getpid() % 5000) * 2

    @Test(arguments: [QEMUCommand.Machine.microvm, .q35])
    func publishedWebPortAnswersOnLoopback(machine: QEMUCommand.Machine) throws {
        let image = try VirtioHarness.image("web")
        let index = [UInt8](try Data(contentsOf: WebTests.assetsFolder.appendingPathComponent("index.html")))
        let port = Self.port + (machine == .q35 ? 1 : 0)
        let body = Harness.scratch.appendingPathComponent("virtio-publish-\(machine).html")
        var fetched: Harness.Outcome?
        var cutShort: Harness.Outcome?
        var failure: Error?
        let guest = try Harness.run(URL(fileURLWithPath: "/usr/bin/timeout"),
                                    ["-s", "KILL", "150", Harness.productsFolder.appendingPathComponent("swiftlet-cli").path,
                                     "run", "--target", "virtio", "--machine", machine.rawValue, "-p", "\(port):80", image.path],
                                    timeout: 160) { process in
            do {
                // Up when GET / answers (q35 first runs SeaBIOS; TCG is slow): bounded, 1 s apart.
                fetched = try Harness.run(URL(fileURLWithPath: "/usr/bin/curl"),
                                          ["-sS", "--retry", "90", "--retry-connrefused", "--retry-all-errors", "--retry-delay", "1",
                                           "--max-time", "5", "-o", body.path, "-w", "%{http_code}", "http://127.0.0.1:\(port)/"],
                                          timeout: 120)
                cutShort = try Harness.run(URL(fileURLWithPath: "/usr/bin/python3"),
                                           [PasstTests.tool, "cut-short", "\(port)", "\(3 << 20)", "60"], timeout: 70)
            } catch { failure = error }
            // The whole group: `timeout` inherits the test runner's blocked SIGTERM and would
            // not pass it on; swiftlet passes it to QEMU, and passt ends with QEMU's socket.
            kill(-process.processIdentifier, SIGTERM)
        }
        if let failure { throw failure }
        let report = "guest: \(guest.stdout)\(guest.stderr)"
        let get = try #require(fetched)
        #expect(get.status == 0 && get.stdout == "200", "curl: \(get.stdout) \(get.stderr)\n\(report)")
        #expect((try? Data(contentsOf: body)).map { [UInt8]($0) } == index, "GET / should be index.html byte for byte")
        let client = try #require(cutShort)
        #expect(client.stdout.hasPrefix("cut-short: header 431, then GET / 200, upload 413, then GET / 200"),
                "\(client.stdout)\(client.stderr)\n\(report)")
        #expect(guest.stderr.contains("guest port 80/tcp is reachable at http://127.0.0.1:\(port)/"), "\(report)")
        #expect(guest.stdout.contains("web: serving on 10.0.2.15 port 80"), "\(report)")
        // Stopping swiftlet stopped QEMU and passt: the port is free again.
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var bound: Int32 = -1
        for _ in 0..<50 where bound != 0 {
            bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            if bound != 0 { Thread.sleep(forTimeInterval: 0.1) }
        }
        #expect(bound == 0, "port \(port) is still taken 5 s after swiftlet was stopped: passt or QEMU outlived it")
    }

    @Test func networkOptionsAreCheckedBeforeQEMUStarts() throws {
        let image = try VirtioHarness.image("hello")
        let cli = Harness.productsFolder.appendingPathComponent("swiftlet-cli")
        let cases: [([String], String)] = [
            (["--net", "tap:no-such-tap0"], "there is no network interface named no-such-tap0"),
            (["--net", "tap:lo"], "lo is not a tap interface"),
            (["-p", "8080:80", "--net", "tap:lo"], "-p needs the passt network"),
            (["--net", "fd:0"], "--net fd:0: expected fd:N with N an open stream socket"),
            (["--net", "bogus"], "--net bogus: expected passt, tap:NAME or none"),
            (["--pcap", "/tmp/never.pcap"], "the guest has no network device to record"),
            (["--core", "/tmp"], "--core is the tenders'"),
        ]
        for (options, message) in cases {
            let result = try Harness.run(URL(fileURLWithPath: "/usr/bin/timeout"),
                                         ["-s", "KILL", "60", cli.path, "run", "--target", "virtio"] + options + [image.path], timeout: 70)
            #expect(result.status != 0, "\(options): status \(result.status)")
            #expect(result.stderr.contains(message), "\(options): \(result.stderr)")
            #expect(!result.stdout.contains("Hello from Swiftlet!"), "\(options): the guest ran")
        }
    }
}
