// TCP through `swiftlet run -p` (passt on a socketpair), on loopback: what broke for every new
// user. Each transfer is bounded in time by the client (Tests/Tools/passt_client.py), which
// checks sizes and, for the echo, the SHA-256 of what came back. bench/passt.py runs the same
// transfers with timings (and a 1 GB echo, too long for the suite).
import Foundation
import SwiftletBuild
import Testing

@Suite(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/passt"),
                "skipped: passt is not installed (apt-get install passt), so -p cannot be tested"),
       .serialized)
struct PasstTests {
    static let tool = (try? SwiftletHome.locate().root.appendingPathComponent("Tests/Tools/passt_client.py").path) ?? ""

    /// A loopback port per target and per use, away from other suites' ports.
    static func port(_ target: Target, _ offset: Int) -> Int {
        30000 + Int(getpid() % 5000) * 4 + (target == .hvt ? 0 : 2) + offset
    }

    /// Boots `image` through `swiftlet run -p`, runs the client once the guest listens, stops it.
    /// With `namespace`, guest, passt and client all run inside it.
    static func throughPasst(_ image: URL, target: Target, forwards: [(host: Int, guest: Int)], arguments: [String] = [],
                             clients: [[String]], deadline: TimeInterval,
                             namespace: PacedLoopback? = nil) throws -> (clients: [Harness.Outcome], guest: Harness.Outcome) {
        var outcomes: [Harness.Outcome] = []
        var failure: Error?
        let publish = forwards.flatMap { ["-p", "\($0.host):\($0.guest)"] }
        let inside = namespace.map { ["netns", "exec", $0.name] } ?? []
        func command(_ executable: URL, _ arguments: [String]) -> (URL, [String]) {
            namespace == nil ? (executable, arguments) : (PacedLoopback.ip, inside + [executable.path] + arguments)
        }
        let (launcher, launch) = command(Harness.cli, ["run", "--target", target.rawValue] + publish + [image.path, "--"] + arguments)
        let guest = try Harness.run(launcher, launch, timeout: deadline * Double(clients.count) + 30) { process in
            Thread.sleep(forTimeInterval: 1.0)
            do {
                for client in clients {
                    let (python, script) = command(URL(fileURLWithPath: "/usr/bin/python3"), [tool] + client)
                    outcomes.append(try Harness.run(python, script, timeout: deadline + 10))
                }
            } catch { failure = error }
            kill(process.processIdentifier, SIGTERM)
        }
        if let failure { throw failure }
        return (outcomes, guest)
    }

    @Test(arguments: runnableTargets)
    func hundredMegabytesOfEchoAreIntact(target: Target) throws {
        let port = Self.port(target, 0)
        let size = 100 << 20
        let (clients, guest) = try Self.throughPasst(try Harness.example("echo"), target: target, forwards: [(port, 7)],
                                                     clients: [["echo", "\(port)", "\(size)", "60"]], deadline: 60)
        let client = try #require(clients.first)
        #expect(client.status == 0, "client: \(client.stdout)\(client.stderr)\nguest: \(guest.stdout)\(guest.stderr)")
        #expect(client.stdout.hasPrefix("echo: \(size) bytes intact"), "\(client.stdout)")
    }

    /// The guest reads its network arguments in place, as bytes (ByteText): a value it cannot use
    /// ends it at once with status 1, naming the argument whole; later arguments are not read.
    @Test(arguments: runnableTargets)
    func aNetworkArgumentTheGuestCannotUseIsNamed(target: Target) throws {
        let image = try Harness.example("echo")
        for argument in ["ip=10.0.0.2/33", "ip=10.0.0.2/+16", "gw=10.0.0.1/24", "dns=1.1.1.1,x"] {
            let result = try Harness.run(Harness.cli, ["run", "--target", target.rawValue, "-p", "\(Self.port(target, 1)):7",
                                                       image.path, "--", "log=off", argument, "ip=bad"], timeout: 30)
            #expect(result.status == 1, "\(argument): \(result.stdout)\(result.stderr)")
            #expect(result.stdout.contains("network: cannot use the argument '\(argument)' (expected ip="),
                    "\(argument): \(result.stdout)")
        }
    }

    /// passt 2023-03 acknowledges our data only as far as its host client has acknowledged it
    /// unless the loopback round trip is under 10 µs; on that path it loses the ACK it owes when
    /// its socket turns writable while our window is shut. That happened at random on a busy
    /// machine (CI); a paced loopback puts every connection on that path.
    @Test(.enabled(if: PacedLoopback.available, "skipped: needs root, ip and tc to make a namespace with a paced loopback"),
          arguments: runnableTargets)
    func echoIsIntactWhenPasstAcknowledgesOnlyWhatItsClientHas(target: Target) throws {
        let namespace = try PacedLoopback("passt-\(target.rawValue)")
        let size = 32 << 20
        let (clients, guest) = try Self.throughPasst(try Harness.example("echo"), target: target, forwards: [(7007, 7)],
                                                     clients: [["echo", "7007", "\(size)", "60"]], deadline: 60,
                                                     namespace: namespace)
        let client = try #require(clients.first)
        let report = "client: \(client.stdout)\(client.stderr)\nguest: \(guest.stdout)\(guest.stderr)"
        #expect(client.status == 0, "\(report)")
        #expect(client.stdout.hasPrefix("echo: \(size) bytes intact"), "\(client.stdout)")
    }

    /// Requests examples/web answers before reading them whole (a 33 KB header field: 431; a
    /// 3 MB upload without `Expect`: 413), each followed by a GET that must get 200. The guest
    /// used to send its FIN with the answer; passt, still forwarding the request, then stopped
    /// taking the guest's ACKs and spun in a loop: nothing on any forwarded port answered again.
    @Test(arguments: runnableTargets)
    func answersThatCutARequestShortLeavePasstServing(target: Target) throws {
        let port = Self.port(target, 0)
        let (clients, guest) = try Self.throughPasst(try Harness.example("web"), target: target, forwards: [(port, 80)],
                                                     arguments: ["log=off"],
                                                     clients: [["cut-short", "\(port)", "\(3 << 20)", "60"]], deadline: 60)
        let client = try #require(clients.first)
        #expect(client.status == 0, "client: \(client.stdout)\(client.stderr)\nguest: \(guest.stdout)\(guest.stderr)")
        #expect(client.stdout.hasPrefix("cut-short: header 431, then GET / 200, upload 413, then GET / 200"), "\(client.stdout)")
    }

    /// One way each: into bench/bulk's discard port, then out of its source port. The guest
    /// only sends pure ACKs while it receives: before the fix passt dropped them all.
    @Test(arguments: runnableTargets)
    func gigabyteEachWay(target: Target) throws {
        let (discard, source) = (Self.port(target, 0), Self.port(target, 1))
        let size = 1 << 30
        let (clients, guest) = try Self.throughPasst(
            try Harness.image(of: "bench/bulk", named: "bulk"), target: target, forwards: [(discard, 9), (source, 19)],
            arguments: ["source=\(size >> 20)"],
            clients: [["to", "\(discard)", "\(size)", "150"], ["from", "\(source)", "\(size)", "150"]], deadline: 150)
        #expect(clients.count == 2)
        for client in clients {
            #expect(client.status == 0, "client: \(client.stdout)\(client.stderr)\nguest: \(guest.stdout)\(guest.stderr)")
        }
        #expect(clients.first?.stdout.hasPrefix("to: \(size) bytes") == true)
        #expect(clients.last?.stdout.hasPrefix("from: \(size) bytes") == true)
    }
}

/// A network namespace whose loopback is paced to 1 Gbit/s (tbf), so a 1,460-byte segment takes
/// ~12 µs: passt then never counts the client as a low-RTT destination. passt also wants an
/// interface with a default route: a veth pair with a documentation address (nothing is sent there).
final class PacedLoopback {
    static let ip = URL(fileURLWithPath: "/usr/sbin/ip")
    static var available: Bool {
        getuid() == 0 && FileManager.default.isExecutableFile(atPath: ip.path)
            && FileManager.default.isExecutableFile(atPath: "/usr/sbin/tc")
    }
    let name: String

    init(_ label: String) throws {
        name = "swiftlet-\(label)-\(getpid())"
        let inside = ["netns", "exec", name]
        for command in [["netns", "add", name],
                        ["-n", name, "link", "set", "lo", "up"],
                        ["-n", name, "link", "add", "v0", "type", "veth", "peer", "name", "v1"],
                        ["-n", name, "addr", "add", "192.0.2.1/24", "dev", "v0"],
                        ["-n", name, "link", "set", "v0", "up"],
                        ["-n", name, "link", "set", "v1", "up"],
                        ["-n", name, "route", "add", "default", "via", "192.0.2.2"],
                        inside + ["/usr/sbin/tc", "qdisc", "add", "dev", "lo", "root", "tbf", "rate", "1gbit",
                                  "burst", "256kb", "latency", "1s"]] {
            let result = try Harness.run(Self.ip, command)
            guard result.status == 0 else { throw SetupError(message: "ip \(command.joined(separator: " ")): \(result.stderr)") }
        }
    }

    deinit { _ = try? Harness.run(Self.ip, ["netns", "del", name]) }

    struct SetupError: Error { let message: String }
}
