// Tenders refuse bad images with a clear message and status 125, and confine themselves
// with seccomp: a forbidden system call after set-up kills the tender.
import Foundation
import SwiftletBuild
import Testing

@Suite struct TenderSafetyTests {
    func write(_ bytes: [UInt8], named name: String) throws -> URL {
        let url = Harness.scratch.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url
    }

    @Test(arguments: runnableTargets)
    func seccompKillsAForbiddenSystemCall(target: Target) throws {
        let image = try Harness.example("hello")
        let result = try Harness.run(Harness.tender(target), ["--seccomp-self-test", image.path])
        #expect(result.signal == SIGSYS, "expected death by SIGSYS, got status \(result.status) signal \(String(describing: result.signal)); stderr: \(result.stderr)")
        #expect(!result.stdout.contains("Hello"), "the guest must not have run")
    }

    @Test(arguments: runnableTargets)
    func missingImageIsAClearError(target: Target) throws {
        let result = try Harness.run(Harness.tender(target), ["/nonexistent/image.swiftlet"])
        #expect(result.status == 125)
        #expect(result.stderr.contains("cannot open image /nonexistent/image.swiftlet"))
    }

    @Test(arguments: runnableTargets)
    func notAnELFIsRefused(target: Target) throws {
        let url = try write(Array("#!/bin/sh\necho hi\n".utf8), named: "script-\(target).swiftlet")
        let result = try Harness.run(Harness.tender(target), [url.path])
        #expect(result.status == 125)
        #expect(result.stderr.contains("not a loadable Swiftlet image"), "stderr: \(result.stderr)")
    }

    @Test(arguments: runnableTargets)
    func truncatedImagesAreRefusedNeverRun(target: Target) throws {
        let bytes = try [UInt8](Data(contentsOf: Harness.example("hello")))
        // Cut inside the headers or the loadable segments (what follows them, DWARF and the
        // section table, is optional: without it an image still runs, only its crash reports
        // and debugger lose symbols).
        let loadEnd = Self.endOfLoadableSegments(bytes)
        #expect(loadEnd > 4097 && loadEnd <= bytes.count, "loadable segments end at \(loadEnd) of \(bytes.count)")
        for (index, length) in [0, 16, 63, 64, 100, 4096, 4097, loadEnd / 3, loadEnd / 2, loadEnd - 1].enumerated() {
            let url = try write(Array(bytes.prefix(length)), named: "truncated-\(target)-\(index).swiftlet")
            let result = try Harness.run(Harness.tender(target), [url.path])
            #expect(result.status == 125, "length \(length): status \(result.status) stderr \(result.stderr)")
            #expect(!result.stdout.contains("Hello"))
        }
    }

    /// The file offset where the last PT_LOAD segment's bytes end (ELF64, little-endian).
    static func endOfLoadableSegments(_ bytes: [UInt8]) -> Int {
        func integer(_ offset: Int, _ size: Int) -> Int {
            (0..<size).reduce(0) { $0 | Int(bytes[offset + $1]) << (8 * $1) }
        }
        let table = integer(32, 8), entrySize = integer(54, 2), count = integer(56, 2)
        var end = 0
        for index in 0..<count {
            let entry = table + index * entrySize
            if integer(entry, 4) == 1 { end = max(end, integer(entry + 8, 8) + integer(entry + 32, 8)) }
        }
        return end
    }

    @Test(arguments: runnableTargets)
    func hostELFExecutableIsRefused(target: Target) throws {
        let result = try Harness.run(Harness.tender(target), ["/bin/true"])
        #expect(result.status == 125)
        #expect(result.stderr.contains("not a loadable Swiftlet image"), "stderr: \(result.stderr)")
    }

    @Test func imageForAnotherTargetIsRefusedWithAdvice() throws {
        let home = try SwiftletHome.locate()
        let builder = ImageBuilder(toolchain: try Toolchain.locate(), home: home)
        let application = try Application(path: home.root.appendingPathComponent("examples/hello").path)
        let sptOnly = Harness.scratch.appendingPathComponent("hello-spt-only.swiftlet")
        _ = try builder.build(application, targets: [.spt], output: sptOnly)
        let sptRun = try Harness.run(Harness.tender(.spt), [sptOnly.path])
        #expect(sptRun.status == 0)
        let hvtRun = try Harness.run(Harness.tender(.hvt), [sptOnly.path])
        #expect(hvtRun.status == 125)
        #expect(hvtRun.stderr.contains("built for target spt, not hvt"), "stderr: \(hvtRun.stderr)")
        #expect(hvtRun.stderr.contains("--target hvt"))
    }

    @Test(arguments: runnableTargets)
    func abiVersionMismatchIsRefusedWithAdvice(target: Target) throws {
        var bytes = try [UInt8](Data(contentsOf: Harness.example("hello")))
        // The note: namesz 9, descsz 8, type 'SWFT', "Swiftlet\0" padded to 12, then the version.
        let header: [UInt8] = [9, 0, 0, 0, 8, 0, 0, 0, 0x54, 0x46, 0x57, 0x53] + Array("Swiftlet".utf8) + [0, 0, 0, 0]
        let start = try #require(bytes.indices.first { bytes[$0...].starts(with: header) }, "ABI note not found")
        bytes[start + header.count] = 99
        let url = try write(bytes, named: "abi99-\(target).swiftlet")
        let result = try Harness.run(Harness.tender(target), [url.path])
        #expect(result.status == 125)
        #expect(result.stderr.contains("built for Swiftlet ABI 99"), "stderr: \(result.stderr)")
        #expect(result.stderr.contains("rebuild"))
    }

    @Test(arguments: runnableTargets)
    func unknownOptionGetsUsage(target: Target) throws {
        let result = try Harness.run(Harness.tender(target), ["--frobnicate"])
        #expect(result.status == 125)
        #expect(result.stderr.contains("unknown option --frobnicate"))
        #expect(result.stderr.contains("usage:"))
    }

    /// The lean tenders carry no GDB server or core writer: asked for either, they refuse before
    /// the guest starts and name the debug tender, whose usage lists both.
    @Test(arguments: runnableTargets)
    func leanTenderSendsDebuggingToTheDebugTender(target: Target) throws {
        let image = try Harness.example("hello")
        for words in [["--gdb", "1234"], ["--core", Harness.scratch.path]] {
            let result = try Harness.run(Harness.tender(target), words + [image.path])
            #expect(result.status == 125, "\(words): stderr: \(result.stderr)")
            #expect(result.stderr.contains("\(words[0]) needs the debug tender, swiftlet-\(target.rawValue)-debug"), "stderr: \(result.stderr)")
            #expect(!result.stdout.contains("Hello from Swiftlet!"))
        }
        let lean = try Harness.run(Harness.tender(target), ["--help"])
        let debug = try Harness.run(Harness.debugTender(target), ["--help"])
        #expect(!lean.stderr.contains("--gdb") && !lean.stderr.contains("--core"), "lean usage: \(lean.stderr)")
        #expect(debug.stderr.contains("--gdb [HOST:]PORT") && debug.stderr.contains("--core DIR"), "debug usage: \(debug.stderr)")
    }
}
