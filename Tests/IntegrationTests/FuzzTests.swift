// The libFuzzer harness over the network stack's frame input (Tests/Fuzz/FrameFuzzer.swift):
// it must build, survive a short bounded run over the seed corpus, and run every seed and
// every regression input (Tests/Fuzz/regressions/) cleanly. Longer runs: Tests/Fuzz/run.sh.
import Foundation
import SwiftletBuild
import Testing

enum FrameFuzzer {
    struct BuildFailed: Error, CustomStringConvertible {
        var status: Int32
        var output: String
        var description: String { "building the frame fuzzer failed (swiftc exit \(status)):\n\(output)" }
    }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var built: Result<URL, any Error>?

    static var fuzzFolder: URL {
        get throws { try SwiftletHome.locate().root.appendingPathComponent("Tests/Fuzz") }
    }

    /// Builds the fuzzer once per test run (libFuzzer + AddressSanitizer, optimized as run.sh does).
    static func binary() throws -> URL {
        lock.lock()
        defer { lock.unlock() }
        if let built { return try built.get() }
        let result = Result { () throws -> URL in
            let home = try SwiftletHome.locate()
            let toolchain = try Toolchain.locate()
            let output = Harness.scratch.appendingPathComponent("frame-fuzzer")
            let guestSources = home.guestSources.map(\.path).sorted()
            let compile = try Harness.run(toolchain.swiftc, [
                "-O", "-sanitize=fuzzer,address", "-parse-as-library", "-module-name", "FrameFuzzer",
                "-I", home.abiInclude.path, home.root.appendingPathComponent("Tests/Fuzz/FrameFuzzer.swift").path,
            ] + guestSources + ["-o", output.path], timeout: 600)
            guard compile.status == 0, FileManager.default.isExecutableFile(atPath: output.path) else {
                // ld.gold prints one harmless warning per ASan helper symbol; keep the rest.
                let lines = (compile.stdout + compile.stderr).split(separator: "\n", omittingEmptySubsequences: false)
                    .filter { !$0.contains("Cannot export local symbol") }
                throw BuildFailed(status: compile.status, output: lines.joined(separator: "\n"))
            }
            return output
        }
        built = result
        return try result.get()
    }

    /// The regular files in `folder` (none if it does not exist), skipping dotfiles and notes.
    static func inputs(in folder: URL) -> [URL] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.filter { !$0.hasPrefix(".") && !$0.hasSuffix(".md") }.sorted()
            .map { folder.appendingPathComponent($0) }
    }

    static func tail(_ text: String, lines: Int = 60) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }
}

@Suite struct FuzzTests {
    @Test func fuzzesTheFrameInputPathBriefly() throws {
        let fuzzer = try FrameFuzzer.binary()
        let work = Harness.scratch.appendingPathComponent("frame-fuzz-\(UUID().uuidString)")
        let corpus = work.appendingPathComponent("corpus")
        let artifacts = work.appendingPathComponent("artifacts")
        try FileManager.default.createDirectory(at: corpus, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: artifacts, withIntermediateDirectories: true)
        let folder = try FrameFuzzer.fuzzFolder
        var seeds = [folder.appendingPathComponent("corpus").path]
        if !FrameFuzzer.inputs(in: folder.appendingPathComponent("regressions")).isEmpty {
            seeds.append(folder.appendingPathComponent("regressions").path)
        }
        // New inputs go to the scratch corpus (listed first), never into the committed one.
        let run = try Harness.run(fuzzer, [corpus.path] + seeds + [
            "-max_total_time=20", "-rss_limit_mb=2048", "-timeout=10", "-max_len=8192",
            "-detect_leaks=0", "-print_final_stats=1", "-artifact_prefix=\(artifacts.path)/",
        ], timeout: 180)
        let crashes = FrameFuzzer.inputs(in: artifacts).map(\.path)
        #expect(run.status == 0, "fuzzer exit \(run.status) signal \(run.signal.map(String.init) ?? "-"); crash inputs: \(crashes)\n\(FrameFuzzer.tail(run.stderr))")
        #expect(run.stderr.contains("Done "), "no libFuzzer \"Done\" line:\n\(FrameFuzzer.tail(run.stderr))")
        #expect(crashes.isEmpty, "crash inputs: \(crashes)")
    }

    /// libFuzzer runs files given on its command line once each: every seed and every input
    /// that once crashed the stack must now run cleanly.
    @Test func seedAndRegressionInputsRunCleanly() throws {
        let fuzzer = try FrameFuzzer.binary()
        let folder = try FrameFuzzer.fuzzFolder
        let seeds = FrameFuzzer.inputs(in: folder.appendingPathComponent("corpus"))
        #expect(!seeds.isEmpty, "no seed inputs in \(folder.path)/corpus")
        for input in seeds + FrameFuzzer.inputs(in: folder.appendingPathComponent("regressions")) {
            let run = try Harness.run(fuzzer, ["-detect_leaks=0", "-rss_limit_mb=2048", "-timeout=10", input.path], timeout: 60)
            #expect(run.status == 0, "\(input.lastPathComponent): fuzzer exit \(run.status)\n\(FrameFuzzer.tail(run.stderr))")
            #expect(run.stderr.contains("Executed \(input.path)"), "\(input.lastPathComponent) was not run:\n\(FrameFuzzer.tail(run.stderr))")
        }
    }
}
