// The harness itself: a child's end is seen whatever runs beside it, and a child that outlives
// its time limit is killed with everything it started, so a suite fails instead of hanging.
import Foundation
import Testing

@Suite struct HarnessTests {
    /// A tender closes every descriptor it inherited, Foundation's exit-notification socket
    /// among them, which blocks Foundation's exit reporting until that tender ends. A child
    /// started beside one (a client beside a guest) must still be seen ending.
    @Test func aChildIsSeenEndingBesideOneThatClosedItsDescriptors() throws {
        let closer = Process()
        closer.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        closer.arguments = ["-c", "import os, time; os.closerange(3, 1 << 16); time.sleep(60)"]
        try closer.run()
        defer { kill(closer.processIdentifier, SIGKILL); closer.waitUntilExit() }
        let deadline = Date().addingTimeInterval(10)
        while (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(closer.processIdentifier)/fd"))?.count ?? 0 > 3,
              Date() < deadline {
            Thread.sleep(forTimeInterval: 0.02)
        }

        // Without its own watch the harness waited out the timeout here, then forever.
        let result = try Harness.run(URL(fileURLWithPath: "/bin/sh"), ["-c", "echo out; echo err >&2; exit 3"], timeout: 20)
        #expect(result.status == 3 && result.signal == nil)
        #expect(result.stdout == "out\n" && result.stderr == "err\n")
    }

    /// The read ends of a child's output pipes are closed when its run returns. Foundation kept
    /// them open for as long as it kept the Process, which was forever: a full run reached
    /// ~1,400 descriptors and Process.run crashed scanning /proc/self/fd.
    @Test func aChildsOutputPipesAreClosedWhenItsRunReturns() throws {
        nonisolated(unsafe) var readEnds: [(descriptor: Int32, inode: ino_t)] = []
        _ = try Harness.run(URL(fileURLWithPath: "/bin/echo"), ["hello"], timeout: 20) { process in
            for pipe in [process.standardOutput, process.standardError].compactMap({ $0 as? Pipe }) {
                let descriptor = pipe.fileHandleForReading.fileDescriptor
                var status = stat()
                if fstat(descriptor, &status) == 0 { readEnds.append((descriptor, status.st_ino)) }
            }
        }
        #expect(readEnds.count == 2)
        for end in readEnds {
            // Closed, or the number already reused by another test for something else.
            var status = stat()
            let stillOpen = fstat(end.descriptor, &status) == 0 && status.st_ino == end.inode
            #expect(!stillOpen, "descriptor \(end.descriptor) still reads the child's pipe")
        }
    }

    /// Past its time limit a child's whole process group is killed: a grandchild holding the
    /// output pipes goes too, and what was printed before is kept.
    @Test func aChildPastItsTimeLimitIsKilledWithItsChildren() throws {
        var result: Harness.Outcome?
        withKnownIssue("the time limit is the point of this test") {
            result = try? Harness.run(URL(fileURLWithPath: "/bin/sh"), ["-c", "echo started; sleep 100 & sleep 100"], timeout: 1)
        } matching: { issue in
            issue.description.contains("did not finish in 1.0 s; killed")
        }
        let outcome = try #require(result)
        #expect(outcome.signal == SIGKILL)
        #expect(outcome.stdout == "started\n")
    }
}
