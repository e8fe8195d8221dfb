// examples/async on every target: the guest's event loop runs tasks, actors, streams and
// timers, and sleeps in the tender while it waits.
import Foundation
import SwiftletBuild
import Testing

@Suite struct AsyncTests {
    @Test(arguments: runnableTargets)
    func asyncAwaitRunsOnTheGuestEventLoop(target: Target) throws {
        let image = try Harness.example("async")
        let result = try Harness.run(Harness.tender(target), [image.path])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        for line in ["await: square(3) = 9", "async let: 16 + 25 = 41", "task group: sum of squares 1...10 = 385",
                     "actor: counter = 100", "async stream: consumer received sum 15", "(ok)", "async main: done"] {
            #expect(result.stdout.contains(line), "missing '\(line)' in: \(result.stdout)")
        }
    }
}
