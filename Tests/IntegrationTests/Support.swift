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

    /// The `swiftlet` launcher. The suite points it at the tenders it just built: SwiftPM's lock
    /// keeps anything under `swift test` from building the release ones (FrontDoorTests covers
    /// that path with a stand-in checkout).
    static let cli: URL = {
        setenv("SWIFTLET_TENDERS", productsFolder.path, 1)
        return productsFolder.appendingPathComponent("swiftlet")
    }()

    static let kvmAvailable = access("/dev/kvm", R_OK | W_OK) == 0

    static let scratch: URL = {
        let url = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("swiftlet-tests-\(getpid())")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }()

    private static let buildLock = NSLock()
    nonisolated(unsafe) private static var built: [String: URL] = [:]

    /// Builds `examples/NAME` once per test run (for hvt and spt) and returns the image.
    static func example(_ name: String) throws -> URL {
        try image(of: "examples/\(name)", named: name)
    }

    /// Builds the application at `path` (relative to the checkout) once per test run, for hvt
    /// and spt, into `NAME.swiftlet`.
    static func image(of path: String, named name: String) throws -> URL {
        buildLock.lock()
        defer { buildLock.unlock() }
        if let image = built[name] { return image }
        let home = try SwiftletHome.locate()
        let builder = ImageBuilder(toolchain: try Toolchain.locate(), home: home)
        let application = try Application(path: home.root.appendingPathComponent(path).path)
        let image = scratch.appendingPathComponent("\(name).swiftlet")
        _ = try builder.build(application, targets: Target.allCases, output: image)
        built[name] = image
        return image
    }

    /// Output read on another thread; read back only after the reader group is done.
    final class Collected: @unchecked Sendable { var data = Data() }

    struct Outcome {
        var status: Int32
        var signal: Int32?
        var stdout: String
        var stderr: String
    }

    /// Runs `executable`; kills it after `timeout` seconds (recorded as a test issue).
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
        let finished = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in finished.signal() }
        try process.run()
        let readers = DispatchGroup()
        let outData = Collected(), errData = Collected()
        DispatchQueue.global().async(group: readers) { outData.data = out.fileHandleForReading.readDataToEndOfFile() }
        DispatchQueue.global().async(group: readers) { errData.data = err.fileHandleForReading.readDataToEndOfFile() }
        afterStart?(process)
        if finished.wait(timeout: .now() + timeout) == .timedOut {
            kill(process.processIdentifier, SIGKILL)
            Issue.record("\(executable.lastPathComponent) \(arguments) did not finish in \(timeout) s; killed")
            finished.wait()
        }
        // A grandchild that kept our pipes open must not hang the test.
        if readers.wait(timeout: .now() + 10) == .timedOut {
            Issue.record("\(executable.lastPathComponent): output pipes still open 10 s after exit (a leaked child?)")
        }
        let signaled = process.terminationReason == .uncaughtSignal
        return Outcome(status: signaled ? -1 : process.terminationStatus,
                       signal: signaled ? process.terminationStatus : nil,
                       stdout: String(decoding: outData.data, as: UTF8.self),
                       stderr: String(decoding: errData.data, as: UTF8.self))
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
