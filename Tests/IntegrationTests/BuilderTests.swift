// The image builder under concurrent use: two builds of one application at once, for
// different targets, must each get their own objects (and so their own ABI note). An
// application named like one of the builder's C shims keeps an object of its own. The one
// llvm-objcopy helper `build --strip` and `package` share takes out what each asks for.
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

    @Test func toolchainStripTakesOutWhatItSaysAndNamesWhatItCouldNot() throws {
        let toolchain = try Toolchain.locate()
        let objcopy = try #require(toolchain.objcopy)
        let folder = Harness.scratch.appendingPathComponent("strip-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let image = try Harness.example("hello")
        func sections(_ file: URL) throws -> Set<String> {
            Set(try ELFImage(bytes: [UInt8](Data(contentsOf: file))).sections.map(\.name))
        }
        #expect(try sections(image).isSuperset(of: [".symtab", ".debug_info"]))

        let withoutDWARF = folder.appendingPathComponent("debug-info.swiftlet")
        try toolchain.strip(.debugInfo, image, into: withoutDWARF)
        #expect(try sections(withoutDWARF).contains(".symtab"))
        #expect(try !sections(withoutDWARF).contains(".debug_info"))

        let bare = folder.appendingPathComponent("all.swiftlet")
        try FileManager.default.copyItem(at: image, to: bare)
        try toolchain.strip(.all, bare)
        #expect(try sections(bare).isDisjoint(with: [".symtab", ".debug_info"]))

        let text = folder.appendingPathComponent("notes.txt")
        try Data("not an executable\n".utf8).write(to: text)
        do {
            try toolchain.strip(.debugInfo, text, into: folder.appendingPathComponent("notes.stripped"))
            Issue.record("stripping a text file succeeded")
        } catch {
            // Which tool, which file, and what llvm-objcopy said about it.
            #expect(error.description.hasPrefix("\(objcopy.path) could not strip DWARF from \(text.path): "), "\(error)")
            #expect(error.description.contains("llvm-objcopy: error:"), "\(error)")
        }
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
