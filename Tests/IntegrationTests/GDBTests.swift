// Real gdb against real guests (examples/debugging, built --debug) on hvt and spt, through
// `--gdb PORT`: breakpoints by file:line, bt from the function to main with file:line, locals,
// next/finish, single-stepping a loop, Ctrl-C of a spinning guest, kill, and detach leaving
// the guest running to its own end. CI installs Debian's gdb; elsewhere a missing gdb is a
// known issue, never a silent pass.
import Foundation
import SwiftletBuild
import Testing

private enum GDBHarness {
    static let gdb: URL? = ["/usr/bin/gdb", "/usr/local/bin/gdb"].map(URL.init(fileURLWithPath:))
        .first { FileManager.default.isExecutableFile(atPath: $0.path) }

    /// examples/debugging with its own code unoptimized, as `swiftlet run --gdb APP` builds it.
    static let image: Result<URL, any Error> = Result {
        let home = try SwiftletHome.locate()
        let builder = ImageBuilder(toolchain: try Toolchain.locate(), home: home)
        let application = try Application(path: home.root.appendingPathComponent("examples/debugging").path)
        let output = Harness.scratch.appendingPathComponent("debugging.swiftlet")
        _ = try builder.build(application, targets: Target.tenders, output: output, unoptimized: true)
        return output
    }

    /// A port nobody listens on right now.
    static func freePort() -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 ? getsockname(fd, $0, &length) : -1 }
        }
        return UInt16(bigEndian: address.sin_port)
    }

    struct Run {
        var gdb: Harness.Outcome
        var tenderStatus: Int32?
        var tenderOutput: String
        var tenderErrors: String

        /// Everything gdb and the tender said, for a failed expectation's message.
        var context: String { "gdb said:\n\(gdb.stdout)\n\(gdb.stderr)\ntender said:\n\(tenderOutput)\(tenderErrors)" }
    }

    /// Starts the tender with `--gdb PORT`, waits until it listens, runs gdb in batch mode
    /// with `commands` (a script), and returns what both said. `interruptAfter`: gdb gets
    /// SIGINT (the user's Ctrl-C) that many seconds after it starts.
    static func debug(_ target: Target, guestArguments: [String] = [], commands: String,
                      interruptAfter: Double? = nil) throws -> Run? {
        guard let gdb else {
            Harness.toolIsMissing("gdb is not installed (apt-get install gdb): the gdb tests did not run")
            return nil
        }
        let image = try image.get()
        let port = freePort()
        let work = Harness.scratch.appendingPathComponent("gdb-\(target.rawValue)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        let outFile = work.appendingPathComponent("stdout"), errFile = work.appendingPathComponent("stderr")
        FileManager.default.createFile(atPath: outFile.path, contents: nil)
        FileManager.default.createFile(atPath: errFile.path, contents: nil)
        let tender = Process()
        tender.executableURL = Harness.tender(target)
        tender.arguments = ["--gdb", "\(port)", image.path, "--"] + guestArguments
        tender.standardOutput = try FileHandle(forWritingTo: outFile)
        tender.standardError = try FileHandle(forWritingTo: errFile)
        let exit = Harness.ExitWatch(tender)
        try tender.run()
        exit.watch(tender)
        defer { if tender.isRunning { kill(-tender.processIdentifier, SIGKILL); kill(tender.processIdentifier, SIGKILL) } }
        guard waitUntil(seconds: 30, { text(errFile).contains("waiting for gdb") }) else {
            Issue.record("\(target): the tender never listened:\n\(text(errFile))")
            return nil
        }
        let script = work.appendingPathComponent("commands.gdb")
        try ("set pagination off\nset confirm off\ntarget remote 127.0.0.1:\(port)\n" + commands).write(to: script, atomically: true, encoding: .utf8)
        // Through env: a test runner may hand its children SIGINT ignored, and gdb would then
        // never pass the user's Ctrl-C on.
        let outcome = try Harness.run(URL(fileURLWithPath: "/usr/bin/env"),
                                      ["--default-signal=INT", gdb.path, "-batch", "-nx", "-x", script.path, image.path],
                                      timeout: 60) { process in
            guard let interruptAfter else { return }
            let pid = process.processIdentifier
            DispatchQueue.global().asyncAfter(deadline: .now() + interruptAfter) { kill(pid, SIGINT) }
        }
        let ending = exit.wait(timeout: 20)
        return Run(gdb: outcome, tenderStatus: ending?.status, tenderOutput: text(outFile), tenderErrors: text(errFile))
    }

    @Sendable static func text(_ file: URL) -> String { (try? String(contentsOf: file, encoding: .utf8)) ?? "" }

    static func waitUntil(seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return condition()
    }
}

@Suite(.serialized) struct GDBTests {
    @Test("break on a line of a function, bt to main with file:line, locals, next, finish", arguments: runnableTargets)
    func breakBacktraceLocalsNextFinish(target: Target) throws {
        guard let run = try GDBHarness.debug(target, commands: """
            break main.swift:11
            continue
            bt
            print value
            print total
            next
            next
            print total
            print value
            delete
            finish
            continue
            """) else { return }
        let out = run.gdb.stdout
        let context = run.context
        // The first stop: in sum(upTo:) (Swift-mangled: gdb has no Swift demangler), line 11.
        #expect(out.contains("Breakpoint 1, $e9debugging3sum4upToS2i_tF (n=...) at "), "\(context)")
        // bt: the function at main.swift:11, called from main at main.swift:32.
        let frames = out.split(separator: "\n").filter { $0.hasPrefix("#") }
        #expect(frames.count == 2, "\(context)")
        #expect(frames.first?.contains("3sum4upTo") == true && frames.first?.hasSuffix("main.swift:11") == true, "\(context)")
        #expect(frames.last?.contains("in main () at ") == true && frames.last?.hasSuffix("main.swift:32") == true, "\(context)")
        // Locals: value 1 and total 0 on the first turn; two `next`s later, the second turn.
        #expect(out.contains("$1 = {_value = 1}\n$2 = {_value = 0}"), "\(context)")
        #expect(out.contains("$3 = {_value = 1}\n$4 = {_value = 2}"), "\(context)")
        // finish returns to main with the function's result: 1 + ... + 10.
        #expect(out.contains("Value returned is $5 = {_value = 55}"), "\(context)")
        #expect(out.contains("[Inferior 1 (Remote target) exited normally]"), "\(context)")
        #expect(run.tenderOutput.contains("sum(upTo: 10) = 55"), "\(context)")
        #expect(run.tenderStatus == 0, "\(context)")
    }

    @Test("single-step instruction by instruction through the loop", arguments: runnableTargets)
    func singleStepsThroughTheLoop(target: Target) throws {
        guard let run = try GDBHarness.debug(target, commands: """
            break main.swift:11
            continue
            delete
            set $steps = 0
            set $start = $pc
            while total._value < 10
              stepi
              set $steps = $steps + 1
            end
            printf "steps %d\\n", $steps
            print total
            print value
            continue
            """) else { return }
        let out = run.gdb.stdout
        let context = run.context
        // total reaches 10 after value 4: three more turns of the loop, each several instructions.
        let steps = out.split(separator: "\n").first { $0.hasPrefix("steps ") }.flatMap { Int($0.dropFirst(6)) }
        #expect((steps ?? 0) > 12, "\(context)")
        #expect(out.contains("= {_value = 10}\n"), "\(context)")
        #expect(out.contains("= {_value = 4}\n"), "\(context)")
        #expect(run.tenderOutput.contains("sum(upTo: 10) = 55"), "\(context)")
        #expect(run.tenderStatus == 0, "\(context)")
    }

    @Test("Ctrl-C stops a spinning guest inside spin(); kill ends it", arguments: runnableTargets)
    func interruptsASpinningGuest(target: Target) throws {
        // Ctrl-C 8 s after gdb starts (it loads the DWARF and connects first; the guest's
        // console output is buffered, so the test cannot wait for "spinning" instead).
        guard let run = try GDBHarness.debug(target, guestArguments: ["spin"], commands: """
            continue
            bt
            kill
            """, interruptAfter: 8) else { return }
        let out = run.gdb.stdout
        let context = run.context
        #expect(out.contains("Program received signal SIGINT, Interrupt."), "\(context)")
        #expect(out.contains("4spins5NeverOyF") && out.contains("in main () at "), "the stack runs through spin() to main:\n\(context)")
        #expect(out.contains("[Inferior 1 (Remote target) killed]"), "\(context)")
        #expect(run.tenderErrors.contains("killed by the debugger"), "\(context)")
        #expect(run.tenderStatus == 255, "\(context)")
    }

    @Test("detach at a breakpoint: the int3 is gone and the guest runs to its own end", arguments: runnableTargets)
    func detachLeavesTheGuestRunning(target: Target) throws {
        guard let run = try GDBHarness.debug(target, commands: """
            break main.swift:11
            continue
            print value
            detach
            """) else { return }
        let out = run.gdb.stdout
        let context = run.context
        #expect(out.contains("Breakpoint 1, "), "\(context)")
        #expect(out.contains("[Inferior 1 (Remote target) detached]"), "\(context)")
        #expect(run.tenderOutput.contains("sum(upTo: 10) = 55"), "\(context)")
        #expect(run.tenderStatus == 0, "\(context)")
    }
}
