// Ordinary Swift as a host program, the reference a guest is compared with: what the same files
// print there, they must print under Swiftlet, line for line (CompatTests, FullRuntimeTests).
import Foundation
import SwiftletBuild
import Testing

enum HostReference {
    /// What `sources`, compiled by the toolchain's swiftc as module `app` (the image's module
    /// name, which type names in the output carry) with `flags`, print when run on the host.
    static func output(of sources: [String], flags: [String] = []) throws -> String {
        let program = Harness.scratch.appendingPathComponent("host-reference-\(UUID().uuidString)")
        let compiled = try Harness.run(try Toolchain.locate().swiftc, flags + ["-module-name", "app", "-o", program.path] + sources,
                                       timeout: 600)
        guard compiled.status == 0 else { throw Harness.Abandoned(description: "host build failed: \(compiled.stderr)") }
        let ran = try Harness.run(program, [])
        guard ran.status == 0 else { throw Harness.Abandoned(description: "host run failed: \(ran.stderr)") }
        return ran.stdout
    }

    /// Expects the guest's run to have ended well and printed `host`'s lines exactly.
    static func expectSameLines(_ guest: Harness.Outcome, as host: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(guest.status == 0, "stderr: \(guest.stderr)", sourceLocation: sourceLocation)
        let guestLines = guest.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        let hostLines = host.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(guestLines.count == hostLines.count, "guest:\n\(guest.stdout)\nhost:\n\(host)\nstderr: \(guest.stderr)",
                sourceLocation: sourceLocation)
        for (guestLine, hostLine) in zip(guestLines, hostLines) {
            #expect(guestLine == hostLine, "the guest printed the first line, the host the second", sourceLocation: sourceLocation)
        }
    }
}
