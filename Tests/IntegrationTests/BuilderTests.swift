// The image builder under concurrent use: two builds of one application at once, for
// different targets, must each get their own objects (and so their own ABI note). An
// application named like one of the builder's C shims keeps an object of its own.
import Foundation
import SwiftletBuild
import TenderCore
import Testing

@Suite struct BuilderTests {
    @Test func concurrentBuildsOfOneApplicationDoNotShareObjects() throws {
        let home = try SwiftletHome.locate()
        let builder = ImageBuilder(toolchain: try Toolchain.locate(), home: home)
        let application = try Application(path: home.root.appendingPathComponent("examples/hello").path)
        let folder = Harness.scratch.appendingPathComponent("concurrent-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let targets: [[Target]] = [[.hvt], [.spt], [.hvt], [.spt]]
        let failures = Harness.Collected()
        DispatchQueue.concurrentPerform(iterations: targets.count) { index in
            do {
                _ = try builder.build(application, targets: targets[index], output: folder.appendingPathComponent("hello-\(index).swiftlet"))
            } catch {
                failures.append(Data("\(error)\n".utf8))
            }
        }
        #expect(failures.data.isEmpty, "\(String(decoding: failures.data, as: UTF8.self))")
        for (index, wanted) in targets.enumerated() {
            let bytes = try [UInt8](Data(contentsOf: folder.appendingPathComponent("hello-\(index).swiftlet")))
            let note = try #require(try ELFImage(bytes: bytes).abiNote)
            #expect(note.targets == wanted[0].noteBit, "image \(index) was stamped \(note.targets)")
        }
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".build") }
        #expect(leftovers.isEmpty, "work folders left behind: \(leftovers)")
    }

    /// `string` is also Freestanding/string.c: both objects were once written to `string.o`,
    /// and the link failed with duplicate symbols (found naming a test application `refcount`).
    @Test(arguments: ["string", "runtime"])
    func anApplicationNamedLikeAShimBuildsAndRuns(name: String) throws {
        let folder = try CompatTests.application(name, "print(\"named \\(\"like a shim\")\")\n")
        let image = folder.appendingPathComponent("\(name).swiftlet")
        let built = try CompatTests.swiftlet(["build", folder.path, "-o", image.path])
        #expect(built.status == 0, "stderr: \(built.stderr)")
        let ran = try Harness.run(Harness.tender(.spt), [image.path])
        #expect(ran.status == 0, "stderr: \(ran.stderr)")
        #expect(ran.stdout == "named like a shim\n")
    }
}
