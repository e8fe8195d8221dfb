// examples/crash traps in several ways; each tender must end with status 255 and a report
// naming the trapping function, with a symbolized backtrace back to `main`.
import Foundation
import SwiftletBuild
import Testing

@Suite struct CrashTests {
    static let modes: [(mode: String, function: String, summary: String)] = [
        ("overflow", "crash.addOverflowing(_:)", "Swift runtime trap"),
        ("bounds", "crash.readPastEnd(_:_:)", "Swift runtime trap"),
        ("nil", "crash.unwrapNothing(_:)", "Swift runtime trap"),
        ("fatal", "crash.failOnPurpose(_:)", "Swift runtime trap"),
        ("segv", "crash.touchUnmappedMemory(_:)", "at address 0x10"),
    ]

    @Test(arguments: runnableTargets, modes.indices)
    func trapIsReportedWithFunctionAndBacktrace(target: Target, index: Int) throws {
        let expected = Self.modes[index]
        let image = try Harness.example("crash")
        let result = try Harness.run(Harness.tender(target), ["--mem", "8M", image.path, expected.mode])
        #expect(result.status == 255)
        #expect(result.stdout.contains("crash: about to \(expected.mode)"))
        #expect(!result.stdout.contains("still alive"))
        #expect(result.stderr.contains("guest crashed: "), "stderr: \(result.stderr)")
        #expect(result.stderr.contains(expected.summary), "stderr: \(result.stderr)")
        #expect(result.stderr.contains("in \(expected.function)"), "stderr: \(result.stderr)")
        #expect(result.stderr.contains("backtrace:"))
        #expect(result.stderr.contains(" main + 0x"), "backtrace should reach main: \(result.stderr)")
    }

    @Test(arguments: runnableTargets)
    func outOfMemoryIsACleanReport(target: Target) throws {
        let image = try Harness.example("crash")
        let result = try Harness.run(Harness.tender(target), ["--mem", "8M", image.path, "oom"])
        #expect(result.status == 255)
        #expect(result.stderr.contains("guest crashed: out of memory: requested "), "stderr: \(result.stderr)")
    }

    @Test(arguments: runnableTargets, [SIGTERM, SIGINT])
    func spinningGuestStopsOnSignal(target: Target, signal: Int32) throws {
        let image = try Harness.example("crash")
        let result = try Harness.run(Harness.tender(target), [image.path, "spin"], timeout: 20) { process in
            Thread.sleep(forTimeInterval: 0.5)
            kill(process.processIdentifier, signal)
        }
        #expect(result.signal == signal, "a guest spinning without hypercalls must still end on signal \(signal)")
        #expect(result.stdout.contains("about to spin"))
    }
}
