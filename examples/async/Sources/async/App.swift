// async: async/await on the Swiftlet event loop — await, async let, a task group, an actor,
// an AsyncStream between tasks, and timed sleeps. Apps opt in with `import _Concurrency`.
import Swiftlet
import _Concurrency

func square(_ x: Int) async -> Int {
    await sleep(nanoseconds: 1_000_000)
    return x * x
}

actor Counter {
    private var value = 0
    func increment(by amount: Int = 1) -> Int {
        value += amount
        return value
    }
    var current: Int { value }
}

@main struct App {
    static func main() async {
        print("async main: started")

        let nine = await square(3)
        print("await: square(3) = \(nine)")

        async let a = square(4)
        async let b = square(5)
        let (x, y) = await (a, b)
        print("async let: 16 + 25 = \(x + y)")

        let total = await withTaskGroup(of: Int.self) { group in
            for i in 1...10 { group.addTask { await square(i) } }
            var sum = 0
            for await value in group { sum += value }
            return sum
        }
        print("task group: sum of squares 1...10 = \(total)")

        let counter = Counter()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<100 { group.addTask { _ = await counter.increment() } }
        }
        print("actor: counter = \(await counter.current)")

        let (stream, continuation) = AsyncStream.makeStream(of: Int.self)
        let producer = Task {
            for i in 1...5 {
                continuation.yield(i)
                await sleep(nanoseconds: 1_000_000)
            }
            continuation.finish()
        }
        let consumer = Task { () -> Int in
            var received = 0
            for await value in stream { received += value }
            return received
        }
        await producer.value
        print("async stream: consumer received sum \(await consumer.value)")

        let start = SystemClock.uptimeNanoseconds
        await sleep(nanoseconds: 50_000_000)
        await sleep(nanoseconds: 50_000_000)  // Task.sleep is unavailable in Embedded Swift
        let elapsed = SystemClock.uptimeNanoseconds - start
        let milliseconds = elapsed / 1_000_000
        let ok = elapsed >= 100_000_000 && elapsed < 150_000_000
        print("sleeps: 2 x 50 ms took \(milliseconds) ms (\(ok ? "ok" : "WRONG"))")
        if !ok { exit(1) }
        print("async main: done")
    }
}
