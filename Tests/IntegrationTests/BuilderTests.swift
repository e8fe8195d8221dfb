// The image builder under concurrent use: two builds of one application at once, for
// different targets, must each get their own objects (and so their own ABI note).
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
}
