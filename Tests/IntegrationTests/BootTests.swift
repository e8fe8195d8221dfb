// Boots examples/hello on every runnable target: output, arguments, clock, exit status.
import Foundation
import SwiftletBuild
import Testing

@Suite struct BootTests {
    @Test(arguments: runnableTargets)
    func helloPrintsArgumentsAndTime(target: Target) throws {
        let image = try Harness.example("hello")
        let result = try Harness.run(Harness.tender(target), [image.path, "--", "first", "two words", "ünïcode"])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stdout.contains("Hello from Swiftlet!"))
        #expect(result.stdout.contains("arguments: 3"))
        #expect(result.stdout.contains("[1] first"))
        #expect(result.stdout.contains("[2] two words"))
        #expect(result.stdout.contains("[3] ünïcode"))
        // The guest's wall clock must agree with ours (to the day, to stay robust at midnight).
        #expect(abs(try Harness.guestTime(in: result.stdout).timeIntervalSinceNow) < 60)
    }

    /// Random numbers (TCP initial sequence numbers, DHCP and DNS ids, hash seeds) must differ
    /// from boot to boot: the guest keys its generator from the seed the tender draws each time.
    @Test(arguments: runnableTargets)
    func everyBootDrawsFreshRandomNumbers(target: Target) throws {
        let image = try Harness.image(of: "Tests/Guests/random-guest", named: "random-guest")
        var draws: [String] = []
        for _ in 0..<3 {
            let result = try Harness.run(Harness.tender(target), [image.path])
            #expect(result.status == 0, "stderr: \(result.stderr)")
            draws.append(try #require(result.stdout.split(separator: "\n").first { $0.hasPrefix("random: ") }.map(String.init)))
        }
        #expect(Set(draws).count == draws.count, "the same numbers on different boots: \(draws)")
    }

    @Test(arguments: runnableTargets, [0, 3, 254])
    func exitStatusComesFromTheGuest(target: Target, status: Int32) throws {
        let image = try Harness.example("hello")
        let result = try Harness.run(Harness.tender(target), [image.path, "exit=\(status)"])
        #expect(result.status == status)
        #expect(result.stderr.isEmpty, "stderr: \(result.stderr)")
    }

    @Test(arguments: runnableTargets)
    func uptimeIsMonotonicAndSmall(target: Target) throws {
        let image = try Harness.example("hello")
        let result = try Harness.run(Harness.tender(target), [image.path])
        let line = try #require(result.stdout.split(separator: "\n").first { $0.hasPrefix("uptime: ") })
        let micros = try #require(Int(line.dropFirst("uptime: ".count).dropLast(" us".count)))
        #expect(micros >= 0 && micros < 10_000_000, "uptime since boot should be tiny, got \(micros) us")
    }

    @Test(arguments: runnableTargets)
    func memorySizeOptionIsHonoured(target: Target) throws {
        let image = try Harness.example("hello")
        for size in ["2M", "8M"] {  // 2M: SWIFTLET_MEM_MIN, the stack, boot info, image and heap all inside
            let ok = try Harness.run(Harness.tender(target), ["--mem", size, image.path])
            #expect(ok.status == 0, "--mem \(size) stderr: \(ok.stderr)")
        }
        let refused = try Harness.run(Harness.tender(target), ["--mem", "3M", image.path])
        #expect(refused.status == 125)
        #expect(refused.stderr.contains("multiple of 2M"), "stderr: \(refused.stderr)")
    }
}
