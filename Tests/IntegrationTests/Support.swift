// Shared by the integration tests: where the built tenders are, building the examples once,
// and running a tender with a time limit.
import Foundation
import SwiftletBuild
import Testing

enum Harness {
    /// The folder holding the test bundle, and next to it the tenders `swift test` built.
    static let productsFolder: URL = {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var folder = URL(fileURLWithPath: executable).deletingLastPathComponent()
        // On Linux the test runner is `.build/<triple>/debug/SwiftletPackageTests.xctest`.
        if folder.pathExtension == "xctest" { folder.deleteLastPathComponent() }
        return folder
    }()

    static func tender(_ target: Target) -> URL { productsFolder.appendingPathComponent("swiftlet-\(target.rawValue)") }
    /// The debug tender: the same sources with the GDB server and core files (--gdb, --core).
    static func debugTender(_ target: Target) -> URL { productsFolder.appendingPathComponent("swiftlet-\(target.rawValue)-debug") }

    /// The `swiftlet` launcher. The suite points it at the tenders it just built: SwiftPM's lock
    /// keeps anything under `swift test` from building the release ones (FrontDoorTests covers
    /// that path with a stand-in checkout).
    static let cli: URL = {
        setenv("SWIFTLET_TENDERS", productsFolder.path, 1)
        return productsFolder.appendingPathComponent("swiftlet")
    }()

    /// This process's environment with SWIFTLET_TENDERS set, for children that run the launcher:
    /// read before `cli` is first touched, it lacked it, and the launcher then tried to build
    /// the release tenders under SwiftPM's lock and waited forever.
    static var environment: [String: String] {
        _ = cli
        return ProcessInfo.processInfo.environment
    }

    static let kvmAvailable = access("/dev/kvm", R_OK | W_OK) == 0

    /// Says loudly that a check could not run because a tool is missing: a failure under CI
    /// (which installs every tool the suite uses), a known issue elsewhere.
    static func toolIsMissing(_ message: String) {
        if ProcessInfo.processInfo.environment["CI"] == "true" {
            Issue.record(Comment(rawValue: message))
        } else {
            withKnownIssue(Comment(rawValue: message)) { Issue.record(Comment(rawValue: message)) }
        }
    }

    static let scratch: URL = {
        let url = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("swiftlet-tests-\(getpid())")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }()

    private static let buildLock = NSLock()
    nonisolated(unsafe) private static var built: [String: URL] = [:]

    /// The wall clock examples/hello printed ("time: 2026-12-05T23:59:59.123Z").
    static func guestTime(in stdout: String) throws -> Date {
        let stamp = try #require(stdout.split(separator: "\n").first { $0.hasPrefix("time: ") }, "no time: line").dropFirst("time: ".count)
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return try #require(formatter.date(from: String(stamp)), "bad timestamp \(stamp)")
    }

    /// Builds `examples/NAME` once per test run (for hvt and spt) and returns the image.
    static func example(_ name: String) throws -> URL {
        try image(of: "examples/\(name)", named: name)
    }

    /// Builds the application at `path` (relative to the checkout) once per test run into
    /// `NAME.EXTENSION`: for hvt and spt by default (VirtioHarness asks for virtio).
    static func image(of path: String, named name: String, targets: [Target] = Target.tenders,
                      extension pathExtension: String = "swiftlet") throws -> URL {
        buildLock.lock()
        defer { buildLock.unlock() }
        let file = "\(name).\(pathExtension)"
        if let image = built[file] { return image }
        let home = try SwiftletHome.locate()
        let builder = ImageBuilder(toolchain: try Toolchain.locate(), home: home)
        let application = try Application(path: home.root.appendingPathComponent(path).path)
        let image = scratch.appendingPathComponent(file)
        _ = try builder.build(application, targets: targets, output: image)
        built[file] = image
        return image
    }

    /// Bytes appended by one thread (a pipe reader, a worker) and read by another.
    final class Collected: @unchecked Sendable {
        private let lock = NSLock()
        private var bytes = Data()
        func append(_ more: Data) { lock.withLock { bytes.append(more) } }
        var data: Data { lock.withLock { bytes } }
        var text: String { String(decoding: data, as: UTF8.self) }
    }

    struct Outcome {
        var status: Int32
        var signal: Int32?
        var stdout: String
        var stderr: String
    }

    /// How a watched child ended: its exit status, or the signal that killed it.
    struct Ending: Sendable {
        var status: Int32
        var signal: Int32?
    }

    /// Sees a child exit without relying on Foundation alone. Foundation learns of an exit when
    /// a socket the child inherited reaches EOF, and then blocks its one process-manager thread
    /// in waitpid until that child has exited. A tender closes every inherited descriptor
    /// before confining itself, so while one runs no other child's exit is reported: a client
    /// started beside a guest was never seen to finish. The watcher's own thread waits with
    /// WNOWAIT, which sees the exit and leaves the zombie for Foundation to reap; Foundation's
    /// termination handler (for a child it reaped first) reports too, and the first one counts.
    final class ExitWatch: @unchecked Sendable {
        private let lock = NSLock()
        private var ending: Ending?
        private let ended = DispatchSemaphore(value: 0)

        /// Installs the termination handler: call before `process.run()`, then `watch(process)`.
        init(_ process: Process) {
            process.terminationHandler = { [self] finished in
                let signaled = finished.terminationReason == .uncaughtSignal
                report(Ending(status: signaled ? -1 : finished.terminationStatus,
                              signal: signaled ? finished.terminationStatus : nil))
                // A Process holds itself, and with it its pipes' descriptors, through the run-loop
                // source it registers until waitUntilExit runs (which returns at once here). We never
                // call it otherwise: every child leaked its pipes, and near 1,400 open descriptors
                // Foundation's Process.run crashes reading /proc/self/fd (CI died so).
                finished.waitUntilExit()
            }
        }

        func watch(_ process: Process) {
            let pid = process.processIdentifier
            Thread.detachNewThread { [self] in
                var info = siginfo_t()
                var result: Int32
                repeat { result = waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) } while result == -1 && errno == EINTR
                guard result == 0 else { return }   // ECHILD: Foundation reaped it, and its handler reports
                let code = info.si_code, value = info._sifields._sigchld.si_status
                report(code == CLD_EXITED ? Ending(status: value, signal: nil) : Ending(status: -1, signal: value))
            }
        }

        private func report(_ ending: Ending) {
            let first = lock.withLock { () -> Bool in
                guard self.ending == nil else { return false }
                self.ending = ending
                return true
            }
            if first { ended.signal() }
        }

        var hasEnded: Bool { lock.withLock { ending != nil } }

        /// How the child ended, or nil if it has not been seen ending within `timeout` seconds.
        func wait(timeout: TimeInterval) -> Ending? {
            if let ending = lock.withLock({ ending }) { return ending }
            guard ended.wait(timeout: .now() + timeout) == .success else { return nil }
            ended.signal()      // for the next caller
            return lock.withLock { ending }
        }
    }

    /// How long a killed child may take to be seen exiting before the test gives up on it.
    static let exitAfterKillTimeout: TimeInterval = 10

    struct Abandoned: Error, CustomStringConvertible {
        var description: String
    }

    /// Runs `executable`; kills its process group after `timeout` seconds (recorded as a test
    /// issue). A child still not seen exiting `exitAfterKillTimeout` seconds after that is
    /// abandoned: recorded as an issue with what it printed, and thrown as `Abandoned`, so a
    /// hang becomes a failure instead of a suite that never ends.
    static func run(_ executable: URL, _ arguments: [String], timeout: TimeInterval = 30,
                    environment: [String: String]? = nil, in folder: URL? = nil,
                    afterStart: ((Process) -> Void)? = nil) throws -> Outcome {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        if let environment { process.environment = environment }
        if let folder { process.currentDirectoryURL = folder }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        let exit = ExitWatch(process)
        try process.run()
        exit.watch(process)
        let readers = DispatchGroup()
        let outData = Collected(), errData = Collected()
        for (pipe, collected) in [(out, outData), (err, errData)] {
            DispatchQueue.global().async(group: readers) {
                let handle = pipe.fileHandleForReading
                while case let chunk = handle.availableData, !chunk.isEmpty { collected.append(chunk) }
            }
        }
        afterStart?(process)
        let name = "\(executable.lastPathComponent) \(arguments)"
        var ending = exit.wait(timeout: timeout)
        if ending == nil {
            // Its own group (Process spawns each child in a new one): children it started go too.
            kill(-process.processIdentifier, SIGKILL)
            Issue.record("\(name) did not finish in \(timeout) s; killed")
            ending = exit.wait(timeout: exitAfterKillTimeout)
        }
        guard let ending else {
            let state = (try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8))?
                .split(separator: "\n").first { $0.hasPrefix("State:") } ?? "no /proc entry"
            let message = "\(name): not seen exiting \(exitAfterKillTimeout) s after SIGKILL (\(state)); abandoned"
            Issue.record("\(message)\nstdout so far:\n\(outData.text.suffix(4000))\nstderr so far:\n\(errData.text.suffix(4000))")
            throw Abandoned(description: message)
        }
        // A grandchild that kept our pipes open must not hang the test.
        if readers.wait(timeout: .now() + 10) == .timedOut {
            Issue.record("\(executable.lastPathComponent): output pipes still open 10 s after exit (a leaked child?)")
        } else {
            // Closed now rather than when Foundation lets go of the Process (see ExitWatch).
            try? out.fileHandleForReading.close()
            try? err.fileHandleForReading.close()
        }
        return Outcome(status: ending.status, signal: ending.signal, stdout: outData.text, stderr: errData.text)
    }
}

/// The targets the integration tests boot on: hvt needs /dev/kvm. Where it is missing, hvt
/// cases are left out of the parameterized tests and `KVMPresence` shows up as skipped.
let runnableTargets: [Target] = Harness.kvmAvailable ? [.hvt, .spt] : [.spt]

@Suite struct KVMPresence {
    @Test("hvt target runs here", .enabled(if: Harness.kvmAvailable, "skipped: no /dev/kvm — every hvt integration test is skipped"))
    func kvmIsUsable() throws {
        let fd = open("/dev/kvm", O_RDWR)
        #expect(fd >= 0)
        close(fd)
    }
}
