// The libFuzzer harnesses (Tests/Fuzz/): FrameFuzzer.swift over the network stack's frame
// input, HTTPFuzzer.swift over the HTTP server's connection state machine, GDBFuzzer.swift over
// the tender's GDB packet layer, JSONFuzzer.swift over the guest's JSON parser and writer,
// TLSFuzzer.swift over HTTPS (TLS records into SwiftletTLS's BearSSL server and the HTTP server
// behind it), StoreFuzzer.swift over KeyValueStore's on-disk format (damaged real stores). Each must build, survive a short bounded run over its seed corpus, and run every
// seed and every regression input cleanly. Longer runs: Tests/Fuzz/run.sh (FUZZER=http|gdb|json|tls|store).
import Foundation
import SwiftletBuild
import Testing

enum FuzzHarness: String {
    /// Tests/Fuzz/FrameFuzzer.swift; seeds in corpus/, regressions in regressions/.
    case frame = "FrameFuzzer"
    /// Tests/Fuzz/HTTPFuzzer.swift; seeds in http-corpus/, regressions in http-regressions/.
    case http = "HTTPFuzzer"
    /// Tests/Fuzz/GDBFuzzer.swift over the tender's GDB packet layer; seeds in gdb-corpus/.
    case gdb = "GDBFuzzer"
    /// Tests/Fuzz/JSONFuzzer.swift over the guest's JSON parser and writer; seeds in json-corpus/.
    case json = "JSONFuzzer"
    /// Tests/Fuzz/TLSFuzzer.swift over HTTPServer + SwiftletTLS on two stacks; seeds in tls-corpus/.
    case tls = "TLSFuzzer"
    /// Tests/Fuzz/StoreFuzzer.swift over KeyValueStore opening damaged real stores; seeds in store-corpus/.
    case store = "StoreFuzzer"

    private var shortName: String {
        switch self {
        case .frame: return "frame"
        case .http: return "http"
        case .gdb: return "gdb"
        case .json: return "json"
        case .tls: return "tls"
        case .store: return "store"
        }
    }

    var binaryName: String { "\(shortName)-fuzzer" }
    var seedFolder: String { self == .frame ? "corpus" : "\(shortName)-corpus" }
    var regressionFolder: String { self == .frame ? "regressions" : "\(shortName)-regressions" }

    /// What the harness is compiled with: the guest library, or the tender's GDB protocol files
    /// (those that import nothing: the socket and server code stays out) and ByteText.swift.
    func sources(_ home: SwiftletHome) -> [String] {
        if self == .tls {
            let folder = home.tlsRoot.appendingPathComponent("TLS")
            let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
            return (home.guestSources.map(\.path) + names.filter { $0.hasSuffix(".swift") }.map { folder.appendingPathComponent($0).path }).sorted()
        }
        guard self == .gdb else { return home.guestSources.map(\.path).sorted() }
        let folder = home.root.appendingPathComponent("Sources/Tender/Core/GDB")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.filter { $0.hasSuffix(".swift") }.sorted().map { folder.appendingPathComponent($0).path }
            .filter { path in !((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").contains { $0.hasPrefix("import ") } }
            + [home.root.appendingPathComponent("Sources/Tender/Core/OptionValues/ByteText.swift").path]
    }

    struct BuildFailed: Error, CustomStringConvertible {
        var harness: String
        var status: Int32
        var output: String
        var description: String { "building \(harness) failed (swiftc exit \(status)):\n\(output)" }
    }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var built: [FuzzHarness: Result<URL, any Error>] = [:]

    static var fuzzFolder: URL {
        get throws { try SwiftletHome.locate().root.appendingPathComponent("Tests/Fuzz") }
    }

    var seeds: URL { get throws { try Self.fuzzFolder.appendingPathComponent(seedFolder) } }
    var regressions: URL { get throws { try Self.fuzzFolder.appendingPathComponent(regressionFolder) } }

    /// Builds the fuzzer once per test run (libFuzzer + AddressSanitizer, optimized as run.sh does).
    func binary() throws -> URL {
        Self.lock.lock()
        defer { Self.lock.unlock() }
        if let built = Self.built[self] { return try built.get() }
        let result = Result { () throws -> URL in
            let home = try SwiftletHome.locate()
            let toolchain = try Toolchain.locate()
            let output = Harness.scratch.appendingPathComponent(binaryName)
            let compile = try Harness.run(toolchain.swiftc, [
                "-O", "-sanitize=fuzzer,address", "-parse-as-library", "-module-name", self == .tls ? "Swiftlet" : rawValue,
                "-I", home.abiInclude.path, home.root.appendingPathComponent("Tests/Fuzz/\(rawValue).swift").path,
            ] + sources(home) + (try tlsInputs(home, toolchain)) + ["-o", output.path], timeout: 600)
            guard compile.status == 0, FileManager.default.isExecutableFile(atPath: output.path) else {
                // ld.gold prints one harmless warning per ASan helper symbol; keep the rest.
                let lines = (compile.stdout + compile.stderr).split(separator: "\n", omittingEmptySubsequences: false)
                    .filter { !$0.contains("Cannot export local symbol") }
                throw BuildFailed(harness: rawValue, status: compile.status, output: lines.joined(separator: "\n"))
            }
            return output
        }
        Self.built[self] = result
        return try result.get()
    }

    /// The TLS fuzzer's extra inputs, as Tests/Fuzz/run.sh builds them: SwiftletTLS's C glue
    /// compiled with the fuzzer's sanitizers, Debian's libbearssl.a and the glue's module map.
    private func tlsInputs(_ home: SwiftletHome, _ toolchain: Toolchain) throws -> [String] {
        guard self == .tls else { return [] }
        let bearSSL = try BearSSLInstallation.locate()
        let glue = Harness.scratch.appendingPathComponent("tls-fuzzer-swiftlet_tls.o")
        let include = home.tlsRoot.appendingPathComponent("CBearSSL/include").path
        let compiled = try Harness.run(toolchain.clang, [
            "-O1", "-g", "-fsanitize=fuzzer-no-link,address", "-I", include, "-I", bearSSL.headers.path,
            "-c", home.tlsRoot.appendingPathComponent("CBearSSL/swiftlet_tls.c").path, "-o", glue.path,
        ], timeout: 120)
        guard compiled.status == 0 else {
            throw BuildFailed(harness: rawValue, status: compiled.status, output: compiled.stdout + compiled.stderr)
        }
        return ["-I", include, "-Xcc", "-I" + bearSSL.headers.path, glue.path, bearSSL.archive.path]
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

    /// Fuzzes for `seconds` from the seeds and regressions; new inputs go to a scratch corpus
    /// (listed first), never into the committed one.
    func fuzzBriefly(seconds: Int = 20) throws {
        let fuzzer = try binary()
        let work = Harness.scratch.appendingPathComponent("\(binaryName)-\(UUID().uuidString)")
        let corpus = work.appendingPathComponent("corpus")
        let artifacts = work.appendingPathComponent("artifacts")
        try FileManager.default.createDirectory(at: corpus, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: artifacts, withIntermediateDirectories: true)
        var folders = [try seeds.path]
        if !Self.inputs(in: try regressions).isEmpty { folders.append(try regressions.path) }
        let run = try Harness.run(fuzzer, [corpus.path] + folders + [
            "-max_total_time=\(seconds)", "-rss_limit_mb=2048", "-timeout=10", "-max_len=8192",
            "-detect_leaks=0", "-print_final_stats=1", "-artifact_prefix=\(artifacts.path)/",
        ], timeout: 180)
        let crashes = Self.inputs(in: artifacts).map(\.path)
        #expect(run.status == 0, "\(rawValue) exit \(run.status) signal \(run.signal.map(String.init) ?? "-"); crash inputs: \(crashes)\n\(Self.tail(run.stderr))")
        #expect(run.stderr.contains("Done "), "no libFuzzer \"Done\" line:\n\(Self.tail(run.stderr))")
        #expect(crashes.isEmpty, "crash inputs: \(crashes)")
    }

    /// libFuzzer runs files given on its command line once each: every seed and every input
    /// that once crashed must now run cleanly.
    func runSeedsAndRegressions() throws {
        let fuzzer = try binary()
        let seedFolder = try seeds
        let seedInputs = Self.inputs(in: seedFolder)
        #expect(!seedInputs.isEmpty, "no seed inputs in \(seedFolder.path)")
        for input in seedInputs + Self.inputs(in: try regressions) {
            let run = try Harness.run(fuzzer, ["-detect_leaks=0", "-rss_limit_mb=2048", "-timeout=10", input.path], timeout: 60)
            #expect(run.status == 0, "\(input.lastPathComponent): \(rawValue) exit \(run.status)\n\(Self.tail(run.stderr))")
            #expect(run.stderr.contains("Executed \(input.path)"), "\(input.lastPathComponent) was not run:\n\(Self.tail(run.stderr))")
        }
    }
}

@Suite struct FuzzTests {
    @Test func fuzzesTheFrameInputPathBriefly() throws {
        try FuzzHarness.frame.fuzzBriefly(seconds: 20)
    }

    @Test func seedAndRegressionInputsRunCleanly() throws {
        try FuzzHarness.frame.runSeedsAndRegressions()
    }

    @Test func fuzzesTheHTTPConnectionBriefly() throws {
        try FuzzHarness.http.fuzzBriefly(seconds: 20)
    }

    @Test func httpSeedAndRegressionInputsRunCleanly() throws {
        try FuzzHarness.http.runSeedsAndRegressions()
    }

    /// Malformed, oversized and hostile GDB packets: error replies, never a tender crash.
    @Test func fuzzesTheGDBPacketLayerBriefly() throws {
        try FuzzHarness.gdb.fuzzBriefly(seconds: 15)
    }

    @Test func gdbSeedAndRegressionInputsRunCleanly() throws {
        try FuzzHarness.gdb.runSeedsAndRegressions()
    }

    /// Arbitrary bytes through JSONValue.parse and back through the writer: an error with an
    /// offset inside the input or a value that re-parses to itself, never a crash.
    @Test func fuzzesTheJSONParserBriefly() throws {
        try FuzzHarness.json.fuzzBriefly(seconds: 10)
    }

    @Test func jsonSeedAndRegressionInputsRunCleanly() throws {
        try FuzzHarness.json.runSeedsAndRegressions()
    }

    /// Raw bytes, real ClientHellos and tampered records into the HTTPS server, and requests
    /// behind real handshakes: only TLS records ever come back, only HTTP responses inside
    /// them, a clean client always gets the page, and every connection is released.
    @Test func fuzzesHTTPSBriefly() throws {
        guard (try? BearSSLInstallation.locate()) != nil else {
            Harness.toolIsMissing("libbearssl-dev is not installed (apt-get install -y libbearssl-dev): the TLS fuzzer could not be built")
            return
        }
        try FuzzHarness.tls.fuzzBriefly(seconds: 20)
    }

    @Test func tlsSeedAndRegressionInputsRunCleanly() throws {
        guard (try? BearSSLInstallation.locate()) != nil else {
            Harness.toolIsMissing("libbearssl-dev is not installed (apt-get install -y libbearssl-dev): the TLS fuzzer could not be built")
            return
        }
        try FuzzHarness.tls.runSeedsAndRegressions()
    }

    /// Real stores with bytes overwritten, bits flipped, sectors lost and checksums forged:
    /// only acknowledged states or CRC-verified data come back, damage is reported (read-only),
    /// repair leaves a store that reopens clean, and a written disk is never formatted.
    @Test func fuzzesTheStoreFormatBriefly() throws {
        try FuzzHarness.store.fuzzBriefly(seconds: 10)
    }

    @Test func storeSeedAndRegressionInputsRunCleanly() throws {
        try FuzzHarness.store.runSeedsAndRegressions()
    }
}
