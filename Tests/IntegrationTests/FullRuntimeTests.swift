// `swiftlet build --full-swift`, the full-runtime prototype (docs/full-swift-runtime.md):
// ordinary Swift that Embedded Swift refuses (non-class existentials, `Any`, `weak`, `Mirror`,
// `dump`, `String(describing:)`, dynamic casts, untyped throws, Codable through a hand-written
// coder, Int128) runs on hvt and spt over the regular static Swift runtime, and prints exactly
// what the same files (Tests/FullSwift/app) print as an ordinary host program.
import Foundation
import SwiftletBuild
import Testing

@Suite struct FullRuntimeTests {
    static var application: URL {
        get throws { try SwiftletHome.locate().root.appendingPathComponent("Tests/FullSwift/app") }
    }

    static func sources() throws -> [String] {
        let folder = try application
        return try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".swift") }
            .sorted().map { folder.appendingPathComponent($0).path }
    }

    static let image: Result<URL, any Error> = Result {
        _ = Harness.cli     // sets SWIFTLET_TENDERS
        let output = Harness.scratch.appendingPathComponent("full-swift-\(UUID().uuidString)/app.swiftlet")
        let built = try Harness.run(Harness.cli, ["build", try application.path, "--full-swift", "-o", output.path], timeout: 600)
        guard built.status == 0 else { throw Harness.Abandoned(description: "build --full-swift failed: \(built.stderr)") }
        return output
    }

    /// The same files as an ordinary host program.
    static let hostOutput: Result<String, any Error> = Result { try HostReference.output(of: sources(), flags: ["-O"]) }

    @Test(arguments: runnableTargets)
    func ordinarySwiftRunsOverTheFullRuntimeAsOnTheHost(target: Target) throws {
        let expected = try Self.hostOutput.get()
        for line in ["weak parent after release: nil", "Mirror: [\"x=1\", \"y=2\", \"label=p\"]",
                     "Codable decoded equal: true", "Any: [1, \"two\", 3.0, app.Square(side: 1.0)]"] {
            #expect(expected.contains(line), "the host's reference output lacks \(line): \(expected)")
        }
        HostReference.expectSameLines(try Harness.run(Harness.tender(target), [try Self.image.get().path]), as: expected)
    }

    @Test func aVirtioImageIsRefused() throws {
        _ = Harness.cli
        let output = Harness.scratch.appendingPathComponent("full-swift-virtio-\(UUID().uuidString)/app.swiftlet")
        let built = try Harness.run(Harness.cli, ["build", try Self.application.path, "--full-swift", "--target", "virtio",
                                                  "-o", output.path], timeout: 120)
        #expect(built.status != 0)
        #expect(built.stderr.contains("--full-swift builds images for hvt and spt only"), "stderr: \(built.stderr)")
        #expect(!FileManager.default.fileExists(atPath: output.path))
    }
}
