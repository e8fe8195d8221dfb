// The hypercall fuzzer, briefly: Tests/Fuzz/HypercallGuest issues seeded random hypercalls
// (numbers, lengths, counts, pointers into text, boot info, the guard page, the hvt system
// area, past the end, overlapping...) and Tests/Fuzz/hypercall.py runs it once per seed on a
// tender under its real seccomp filter. Every seed must end in a clean guest-crash report, an
// error status or the guest's own exit: never a tender killed by a signal, a tender fault
// dressed as a guest crash, a write where the guest may not write, a hang or RSS past the
// bound. Longer runs: Tests/Fuzz/hypercall.sh MINUTES.
import Foundation
import SwiftletBuild
import Testing

@Suite struct HypercallFuzzTests {
    struct Summary: Decodable {
        struct Violation: Decodable {
            var seed: Int
            var kind: String
            var detail: String
            var command: String
        }
        var seeds: Int
        var kinds: [String: Int]
        var max_rss_kb: Int
        var violations: [Violation]
    }

    static func guestImage() throws -> URL {
        try Harness.image(of: "Tests/Fuzz/HypercallGuest", named: "hypercall-guest")
    }

    @Test(arguments: runnableTargets)
    func randomHypercallsEndCleanly(target: Target) throws {
        let image = try Self.guestImage()
        let root = try SwiftletHome.locate().root
        let json = Harness.scratch.appendingPathComponent("hypercall-fuzz-\(target).json")
        let run = try Harness.run(URL(fileURLWithPath: "/usr/bin/env"), [
            "python3", root.appendingPathComponent("Tests/Fuzz/hypercall.py").path,
            "--tender", Harness.tender(target).path, "--image", image.path,
            "--seconds", "12", "--timeout", "10", "--json", json.path,
        ], timeout: 120)
        let summary = try JSONDecoder().decode(Summary.self, from: Data(contentsOf: json))
        let overview = run.stdout.split(separator: "\n").filter { !$0.hasPrefix("VIOLATION") && !$0.hasPrefix("  reproduce") }
            .joined(separator: "\n")
        for violation in summary.violations.prefix(10) {
            Issue.record("seed \(violation.seed): \(violation.kind): \(violation.detail)\n  reproduce: \(violation.command) trace")
        }
        #expect(summary.violations.isEmpty, "\(summary.violations.count) seeds found the tender misbehaving\n\(overview)")
        #expect(run.status == 0 || !summary.violations.isEmpty, "hypercall.py failed: \(run.stderr)")
        // The run must have reached both ends: guests that finish and refusals that end them.
        #expect(summary.seeds >= 20, "only \(summary.seeds) seeds ran in 12 s\n\(overview)")
        #expect(summary.kinds["crash-report", default: 0] > 0, "no seed ended in a crash report: \(summary.kinds)")
        #expect(summary.kinds["finished", default: 0] > 0, "no seed finished its calls: \(summary.kinds)")
    }
}
