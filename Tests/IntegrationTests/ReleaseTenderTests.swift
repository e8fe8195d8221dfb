// The release tenders, which are what `swiftlet run` uses: the rest of the suite runs the debug
// ones `swift test` builds, and the optimizer once removed the tender's heap reservation from
// release builds only (a tender serving a tap then died of SIGSYS at its first brk under the
// seccomp filter). The tenders now link musl and their own malloc (CShimMusl/tender_heap.c),
// which maps its reserve with mmap and never maps or unmaps after it; the first test here still
// fails if a tender cannot reserve its heap (it refuses to start).
// SwiftPM's lock keeps `swift test` from building into .build, so this suite builds its own
// release tenders in a scratch folder beside it, once per run.
import Foundation
import SwiftletBuild
import Testing

@Suite(.serialized)
struct ReleaseTenderTests {
    static let scratch = "\(try! SwiftletHome.locate().root.path)/.build-release-tests"

    /// Builds the release tenders, lean and debug (incrementally: a few minutes the first
    /// time), and returns the folder holding them.
    static let tenders: Result<URL, BuildFailure> = {
        let root = try! SwiftletHome.locate().root.path
        let toolchain: Toolchain
        do { toolchain = try Toolchain.locate() } catch { return .failure(BuildFailure(log: "\(error)")) }
        let swift = toolchain.swiftc.deletingLastPathComponent().appendingPathComponent("swift")
        for product in ["swiftlet-hvt", "swiftlet-spt", "swiftlet-hvt-debug", "swiftlet-spt-debug"] {
            guard let outcome = try? Harness.run(swift, [
                "build", "--package-path", root, "--scratch-path", scratch, "-c", "release", "--product", product],
                timeout: 900) else { return .failure(BuildFailure(log: "could not start swift build")) }
            guard outcome.status == 0 else {
                return .failure(BuildFailure(log: "swift build -c release --product \(product): \(outcome.stdout.suffix(3000)) \(outcome.stderr.suffix(2000))"))
            }
        }
        return .success(URL(fileURLWithPath: "\(scratch)/release"))
    }()

    struct BuildFailure: Error { let log: String }

    static func tender(_ target: Target, debug: Bool = false) throws -> URL {
        switch tenders {
        case .success(let folder): return folder.appendingPathComponent("swiftlet-\(target.rawValue)\(debug ? "-debug" : "")")
        case .failure(let failure): throw failure
        }
    }

    /// Both tenders link musl, not glibc (static glibc alone was ~690 KB of each), and none of
    /// the standard library's Unicode tables: String `==`, `hasPrefix`, `split` or hashing in
    /// tender code would bring them back (Core/OptionValues/ByteText.swift; `ld.lld
    /// --why-live=_swift_stdlib_getNormData` names the caller if this fails).
    @Test(arguments: [Target.hvt, .spt])
    func releaseTenderLinksMuslAndNoUnicodeTables(target: Target) throws {
        let nm = try Harness.run(URL(fileURLWithPath: "/usr/bin/nm"), [try Self.tender(target).path])
        #expect(nm.status == 0, "nm: \(nm.stderr)")
        let names = Set(nm.stdout.split(separator: "\n").compactMap { $0.split(separator: " ").last.map(String.init) })
        #expect(names.contains("__init_libc"), "musl's start-up code is missing")
        #expect(!names.contains("__libc_setup_tls"), "glibc's start-up code is linked")
        let unicode = names.filter {
            $0.contains("_swift_stdlib_getNormData") || $0.contains("_swift_stdlib_getGraphemeBreakProperty")
                || $0.contains("_swift_stdlib_nfd_decomp")
        }
        #expect(unicode.isEmpty, "swiftlet-\(target) links \(unicode.sorted())")
    }

    /// The lean tender `swiftlet run` and container images use has no GDB server and no core
    /// writer (`python3 bench/tender_size.py` shows what each costs): none of their text (gdb's
    /// register feature names, the core's report line, the wait for a client) is in it, while
    /// the debug tender has all of it. (Symbol names would not do: --icf=all gives a folded
    /// function every name it had, and globals' storage stays.)
    @Test(arguments: [Target.hvt, .spt])
    func leanTenderLeavesTheDebuggerOut(target: Target) throws {
        let lean = try Data(contentsOf: Self.tender(target)), debug = try Data(contentsOf: Self.tender(target, debug: true))
        for debuggingOnly in ["org.gnu.gdb.i386.core", "core written: ", "waiting for gdb on "] {
            #expect(lean.range(of: Data(debuggingOnly.utf8)) == nil, "swiftlet-\(target) has '\(debuggingOnly)'")
            #expect(debug.range(of: Data(debuggingOnly.utf8)) != nil, "swiftlet-\(target)-debug lacks '\(debuggingOnly)'")
        }
    }

    /// Both keep the crash report with its symbolized backtrace; the debug one also writes a core.
    @Test(arguments: runnableTargets)
    func releaseTendersReportACrashAndTheDebugOneWritesACore(target: Target) throws {
        let image = try Harness.example("crash")
        let lean = try Harness.run(try Self.tender(target), [image.path, "overflow"])
        #expect(lean.status == 255, "stderr: \(lean.stderr)")
        #expect(lean.stderr.contains("backtrace:") && lean.stderr.contains("crash.addOverflowing"), "stderr: \(lean.stderr)")
        let cores = Harness.scratch.appendingPathComponent("release-cores-\(target)")
        try FileManager.default.createDirectory(at: cores, withIntermediateDirectories: true)
        let result = try Harness.run(try Self.tender(target, debug: true), ["--core", cores.path, image.path, "overflow"])
        #expect(result.status == 255, "stderr: \(result.stderr)")
        #expect(result.stderr.contains("crash.addOverflowing"), "stderr: \(result.stderr)")
        #expect(result.stderr.contains("core written: \(cores.path)/core.crash."), "stderr: \(result.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: cores.path).count == 1)
    }

    @Test(arguments: runnableTargets)
    func releaseTenderBootsHello(target: Target) throws {
        let image = try Harness.example("hello")
        let result = try Harness.run(try Self.tender(target), [image.path, "--", "release"])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stdout.contains("Hello from Swiftlet!"))
        #expect(result.stdout.contains("[1] release"))
    }

    /// Network I/O makes the tender allocate after its seccomp filter is on, from the heap it
    /// reserved before: 4 MiB echoed over a tap with offload (which needs a guest of more than
    /// 12 MiB), and ping and UDP echo.
    @Test(.enabled(if: TapNamespace.available, "skipped: needs root and iproute2 to create a network namespace with a tap"),
          arguments: runnableTargets)
    func releaseTenderServesATap(target: Target) throws {
        let namespace = try TapNamespace("rel-\(target)")
        let image = try Harness.example("echo")
        let size = 4 << 20
        let address = TapNamespace.guestAddress
        let (client, guest) = try namespace.withGuest(
            image, tender: try Self.tender(target), options: ["--mem", "64M"], arguments: ["ip=\(address)/24"],
            client: try NetworkTests.echoClient(address, tcp: size, udp: true))
        #expect(client.status == 0, "client: \(client.stdout) \(client.stderr)\nguest: \(guest.stdout) \(guest.stderr)")
        #expect(client.stdout.contains("tcp echo: \(size) bytes intact"))
        #expect(client.stdout.contains("udp echo: 200 datagrams intact"))
        #expect(!guest.stderr.contains("SIGSYS") && !guest.stderr.contains("seccomp"), "\(guest.stderr)")
    }
}
