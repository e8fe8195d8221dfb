// The front door end to end: new → build → run → inspect, and errors that say what to do.
import Foundation
import SwiftletBuild
import Testing

@Suite struct CLITests {
    func swiftlet(_ arguments: [String], in folder: URL) throws -> Harness.Outcome {
        let previous = FileManager.default.currentDirectoryPath
        FileManager.default.changeCurrentDirectoryPath(folder.path)
        defer { FileManager.default.changeCurrentDirectoryPath(previous) }
        return try Harness.run(Harness.cli, arguments, timeout: 180)
    }

    @Test func newBuildRunInspect() throws {
        let folder = Harness.scratch.appendingPathComponent("cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)

        let created = try swiftlet(["new", "greeter"], in: folder)
        #expect(created.status == 0, "stderr: \(created.stderr)")
        #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent("greeter/Sources/greeter/main.swift").path))
        #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent("greeter/Package.swift").path))

        let again = try swiftlet(["new", "greeter"], in: folder)
        #expect(again.status != 0)
        #expect(again.stderr.contains("already exists"))

        let built = try swiftlet(["build", "greeter"], in: folder)
        #expect(built.status == 0, "stderr: \(built.stderr)")
        #expect(built.stderr.contains("built "))
        let image = folder.appendingPathComponent("greeter/.build/swiftlet/greeter.swiftlet")
        #expect(FileManager.default.fileExists(atPath: image.path))

        for target in runnableTargets {
            let ran = try swiftlet(["run", "--target", target.rawValue, "greeter", "--", "hi", "there"], in: folder)
            #expect(ran.status == 0, "stderr: \(ran.stderr)")
            #expect(ran.stdout.contains("Hello from greeter!"))
            #expect(ran.stdout.contains("Arguments: hi there"))
        }

        let inspected = try swiftlet(["inspect", image.path], in: folder)
        #expect(inspected.status == 0, "stderr: \(inspected.stderr)")
        #expect(inspected.stdout.contains("ABI:         version 1"))
        #expect(inspected.stdout.contains("targets:     hvt,spt"))
        #expect(inspected.stdout.contains("entry:       0x1001"))
        #expect(inspected.stdout.contains(".text"))
        #expect(inspected.stdout.contains("greeter"), "size by module should list the app module")
        #expect(inspected.stdout.contains("Swiftlet"))
    }

    @Test func strippedBuildIsSmaller() throws {
        let folder = Harness.scratch.appendingPathComponent("strip-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let home = try SwiftletHome.locate()
        let hello = home.root.appendingPathComponent("examples/hello").path
        let full = folder.appendingPathComponent("full.swiftlet").path
        let stripped = folder.appendingPathComponent("stripped.swiftlet").path
        #expect(try swiftlet(["build", hello, "-o", full], in: folder).status == 0)
        #expect(try swiftlet(["build", hello, "--strip", "-o", stripped], in: folder).status == 0)
        let fullSize = try #require(FileManager.default.attributesOfItem(atPath: full)[.size] as? Int)
        let strippedSize = try #require(FileManager.default.attributesOfItem(atPath: stripped)[.size] as? Int)
        #expect(strippedSize < fullSize)
        let ran = try Harness.run(Harness.tender(.spt), [stripped])
        #expect(ran.status == 0)
        #expect(ran.stdout.contains("Hello from Swiftlet!"))
    }

    @Test func errorsSayWhatToDoNext() throws {
        let folder = Harness.scratch
        let missing = try swiftlet(["run", "no-such-app"], in: folder)
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("swiftlet new"), "stderr: \(missing.stderr)")

        let empty = folder.appendingPathComponent("empty-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        let nothing = try swiftlet(["build", empty.path], in: folder)
        #expect(nothing.status != 0)
        #expect(nothing.stderr.contains("no Swift sources"), "stderr: \(nothing.stderr)")

        let notImage = try swiftlet(["inspect", "/bin/true"], in: folder)
        #expect(notImage.status != 0)
        #expect(notImage.stderr.contains("not a Swiftlet image"), "stderr: \(notImage.stderr)")

        let badMemory = try swiftlet(["run", "--mem", "lots", "no-such-app"], in: folder)
        #expect(badMemory.status != 0)
        #expect(badMemory.stderr.contains("64M"), "stderr: \(badMemory.stderr)")
    }
}
