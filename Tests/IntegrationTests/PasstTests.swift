// TCP through `swiftlet run -p` (passt on a socketpair), on loopback: what broke for every new
// user. Each transfer is bounded in time by the client (Tests/Tools/passt_client.py), which
// checks sizes and, for the echo, the SHA-256 of what came back. The same transfers at 1 GB
// are in bench/passt.py (too long for the suite).
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
    static func throughPasst(_ image: URL, target: Target, forwards: [(host: Int, guest: Int)], arguments: [String] = [],
                             clients: [[String]], deadline: TimeInterval) throws -> (clients: [Harness.Outcome], guest: Harness.Outcome) {
        var outcomes: [Harness.Outcome] = []
        var failure: Error?
        let publish = forwards.flatMap { ["-p", "\($0.host):\($0.guest)"] }
        let guest = try Harness.run(Harness.cli, ["run", "--target", target.rawValue] + publish + [image.path, "--"] + arguments,
                                    timeout: deadline * Double(clients.count) + 30) { process in
            Thread.sleep(forTimeInterval: 1.0)
            do {
                for client in clients { outcomes.append(try Harness.run(URL(fileURLWithPath: "/usr/bin/python3"), [tool] + client,
                                                                        timeout: deadline + 10)) }
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

    /// One way each: into bench/bulk's discard port, then out of its source port. The guest
    /// only sends pure ACKs while it receives: before the fix passt dropped them all.
    @Test(arguments: runnableTargets)
    func quarterGigabyteEachWay(target: Target) throws {
        let (discard, source) = (Self.port(target, 0), Self.port(target, 1))
        let size = 256 << 20
        let (clients, guest) = try Self.throughPasst(
            try Harness.image(of: "bench/bulk", named: "bulk"), target: target, forwards: [(discard, 9), (source, 19)],
            arguments: ["source=\(size >> 20)"],
            clients: [["to", "\(discard)", "\(size)", "90"], ["from", "\(source)", "\(size)", "90"]], deadline: 90)
        #expect(clients.count == 2)
        for client in clients {
            #expect(client.status == 0, "client: \(client.stdout)\(client.stderr)\nguest: \(guest.stdout)\(guest.stderr)")
        }
        #expect(clients.first?.stdout.hasPrefix("to: \(size) bytes") == true)
        #expect(clients.last?.stdout.hasPrefix("from: \(size) bytes") == true)
    }
}
