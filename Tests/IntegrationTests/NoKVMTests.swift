// Without a usable /dev/kvm (simulated by dropping to the `nobody` user): `swiftlet run` falls
// back to spt with a one-line notice, and swiftlet-hvt says what to do instead.
import Foundation
import SwiftletBuild
import Testing

@Suite(.enabled(if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv"),
                "skipped: needs root and setpriv to simulate a machine without /dev/kvm"))
struct NoKVMTests {
    static let asNobody = ["--reuid=65534", "--regid=65534", "--clear-groups", "--"]
    static let setpriv = URL(fileURLWithPath: "/usr/bin/setpriv")

    @Test func runFallsBackToSptWithANotice() throws {
        let image = try Harness.example("hello")
        let result = try Harness.run(Self.setpriv, Self.asNobody + [Harness.cli.path, "run", image.path, "--", "exit=9"])
        #expect(result.status == 9, "stderr: \(result.stderr)")
        #expect(result.stdout.contains("Hello from Swiftlet!"))
        let notices = result.stderr.split(separator: "\n").filter { $0.contains("/dev/kvm") }
        #expect(notices.count == 1, "one notice line expected: \(result.stderr)")
        #expect(notices.first?.contains("running on spt") == true)
    }

    @Test func hvtExplainsTheAlternative() throws {
        let image = try Harness.example("hello")
        let result = try Harness.run(Self.setpriv, Self.asNobody + [Harness.tender(.hvt).path, image.path])
        #expect(result.status == 125)
        #expect(result.stderr.contains("cannot open /dev/kvm"), "stderr: \(result.stderr)")
        #expect(result.stderr.contains("--target spt"))
    }
}
