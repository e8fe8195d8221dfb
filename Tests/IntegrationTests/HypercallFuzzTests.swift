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

    /// Defects issue 8 (part 4) lists, which the fuzzer finds until their fixes land: shown as
    /// known issues, so that anything else it finds fails the test.
    static func isKnownDefect(_ violation: Summary.Violation) -> Bool {
        switch violation.kind {
        case "guest-oracle": violation.detail.contains("which the guest may not write")   // §4: output buffers
        case "tender-fault": true                                                       // §4: spt guard page
        case "hang-stalled": true                                                       // §4: writeAll unbounded
        case "report-format": violation.detail.contains("control characters") || violation.detail.contains("not a backtrace")
        default: false
        }
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
        let (known, unknown) = (summary.violations.filter(Self.isKnownDefect), summary.violations.filter { !Self.isKnownDefect($0) })
        for violation in unknown.prefix(10) {
            Issue.record("seed \(violation.seed): \(violation.kind): \(violation.detail)\n  reproduce: \(violation.command) trace")
        }
        withKnownIssue("issue 8 part 4, fixes pending", isIntermittent: true) {
            for violation in known.prefix(3) {
                Issue.record("seed \(violation.seed): \(violation.kind): \(violation.detail)")
            }
        }
        #expect(unknown.isEmpty, "\(unknown.count) seeds violated in ways not yet known\n\(overview)")
        #expect(run.status == 0 || !summary.violations.isEmpty, "hypercall.py failed: \(run.stderr)")
        // The run must have reached both ends: guests that finish and refusals that end them.
        #expect(summary.seeds >= 20, "only \(summary.seeds) seeds ran in 12 s\n\(overview)")
        #expect(summary.kinds["crash-report", default: 0] > 0, "no seed ended in a crash report: \(summary.kinds)")
        #expect(summary.kinds["finished", default: 0] > 0, "no seed finished its calls: \(summary.kinds)")
    }
}
