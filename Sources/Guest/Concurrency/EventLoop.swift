// The guest's executor for async/await: one event loop that owns the CPU. It runs ready jobs
// in FIFO order, moves due timers to the run queue between rounds, and when nothing at all
// is ready it waits in the tender (SWIFTLET_HC_POLL) until the next timer or device input.
// The Swift concurrency runtime reaches it through the `swift_task_*Impl` entry points in
// Freestanding/concurrency_stubs.c: `static func main() async` ends in `runForever()`, and
// the main task calls exit() when main returns.
//
// The run queue and the timer heap are plain data structures, built on the host too (and
// testable there). The loop is compiled only into the concurrency variant of the library OS
// (-D SWIFTLET_CONCURRENCY, which the image builder uses for applications that
// `import _Concurrency`): in Embedded Swift a module that merely imports _Concurrency
// references the concurrency runtime from its data section, which every image keeps.
#if SWIFTLET_GUEST && SWIFTLET_CONCURRENCY
@_exported import _Concurrency
import SwiftletABI
#endif

/// A first-in first-out queue on a growable ring buffer: O(1) push and pop, no allocation
/// once it has grown to its working size.
public struct RingQueue<Element> {
    private var storage: [Element?] = []
    private var head = 0
    public private(set) var count = 0

    public init() {}

    public var isEmpty: Bool { count == 0 }

    public mutating func push(_ element: Element) {
        if count == storage.count { grow() }
        var tail = head + count
        if tail >= storage.count { tail -= storage.count }
        storage[tail] = element
        count += 1
    }

    public mutating func pop() -> Element? {
        guard count > 0 else { return nil }
        let element = storage[head]
        storage[head] = nil
        head += 1
        if head == storage.count { head = 0 }
        count -= 1
        return element
    }

    private mutating func grow() {
        var fresh = [Element?](repeating: nil, count: max(16, storage.count * 2))
        for index in 0..<count {
            var from = head + index
            if from >= storage.count { from -= storage.count }
            fresh[index] = storage[from]
        }
        storage = fresh
        head = 0
    }
}

/// Timers ordered by deadline (a binary min-heap); timers with the same deadline come out
/// in the order they were added.
public struct TimerHeap<Element> {
    private struct Entry {
        var deadline: UInt64
        var sequence: UInt64
        var element: Element

        func precedes(_ other: Entry) -> Bool {
            deadline != other.deadline ? deadline < other.deadline : sequence < other.sequence
        }
    }

    private var entries: [Entry] = []
    private var nextSequence: UInt64 = 0

    public init() {}

    public var count: Int { entries.count }
    public var isEmpty: Bool { entries.isEmpty }

    /// The earliest deadline, if any timer is pending.
    public var nextDeadline: UInt64? { entries.first?.deadline }

    /// The earliest timer, left in place.
    public var next: (deadline: UInt64, element: Element)? { entries.first.map { ($0.deadline, $0.element) } }

    public mutating func insert(_ element: Element, deadline: UInt64) {
        entries.append(Entry(deadline: deadline, sequence: nextSequence, element: element))
        nextSequence &+= 1
        var child = entries.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard entries[child].precedes(entries[parent]) else { break }
            entries.swapAt(child, parent)
            child = parent
        }
    }

    /// Removes and returns the earliest timer if its deadline is at or before `now`.
    @inline(never)  // inlined (as it was once it shared its sift-down), its four callers had a copy each: ~650 bytes
    public mutating func popDue(at now: UInt64) -> Element? {
        guard let first = entries.first, first.deadline <= now else { return nil }
        let last = entries.removeLast()
        if !entries.isEmpty {
            entries[0] = last
            siftDownFront()
        }
        return first.element
    }

    /// Moves the earliest timer to `deadline`, behind the timers already there, as removing
    /// and adding it again would, but in one sift-down: a loop's refile of the front timer
    /// whose owner's deadline moved (later, as a rule; any deadline keeps the order).
    @inline(never)  // both loops' pollAt had a copy: 130 bytes
    public mutating func refileNext(at deadline: UInt64) {
        precondition(!entries.isEmpty, "refileNext on an empty TimerHeap")
        entries[0].deadline = deadline
        entries[0].sequence = nextSequence
        nextSequence &+= 1
        siftDownFront()
    }

    /// Moves the front entry down to its place: the earlier child moves up into the hole it
    /// leaves, level by level (one write per level, not a swap's two).
    private mutating func siftDownFront() {
        entries.withUnsafeMutableBufferPointer { heap in
            let moving = heap[0]
            var hole = 0
            while true {
                var child = 2 * hole + 1
                guard child < heap.count else { break }
                if child + 1 < heap.count && heap[child + 1].precedes(heap[child]) { child += 1 }
                guard heap[child].precedes(moving) else { break }
                heap[hole] = heap[child]
                hole = child
            }
            heap[hole] = moving
        }
    }
}

#if SWIFTLET_GUEST && SWIFTLET_CONCURRENCY
/// The event loop. All of its state belongs to the guest's one CPU.
enum EventLoop {
    /// A job (a task, or a continuation to resume) of the Swift concurrency runtime.
    typealias Job = UnsafeMutableRawPointer

    enum Wakeup {
        case job(Job)
        case resume(UnsafeContinuation<Void, Never>)
        case call(() -> Void)
    }

    nonisolated(unsafe) static var ready = RingQueue<Job>()
    nonisolated(unsafe) static var timers = TimerHeap<Wakeup>()

    /// For device drivers that park tasks until input arrives: how many such waiters exist
    /// (with none and no timer, an empty run queue can never refill — a deadlock), and who
    /// receives POLL's ready set (bit `handle` per device with input).
    nonisolated(unsafe) static var deviceWaiters = 0
    nonisolated(unsafe) static var deviceReady: ((UInt64) -> Void)? = nil

    static func enqueue(_ job: Job) {
        ready.push(job)
    }

    static func schedule(_ wakeup: Wakeup, at deadline: UInt64) {
        timers.insert(wakeup, deadline: deadline)
    }

    /// Runs jobs until `condition` holds (checked whenever the run queue is empty).
    static func run(until condition: () -> Bool) {
        while true {
            // A round runs the jobs that were ready when it began; what they enqueue waits for
            // the next round, so timers (and devices) get looked at between rounds.
            var budget = ready.count
            while budget > 0, let job = ready.pop() {
                swiftlet_job_run(job)
                budget -= 1
            }
            fireDueTimers()
            if ready.isEmpty {
                if condition() { return }
                idle()
            }
        }
    }

    /// Lets every other ready task run before the caller continues (a timer due at once: it
    /// fires after the current round's jobs).
    static func yield() async {
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
            schedule(.resume(continuation), at: 0)
        }
    }

    static func runForever() -> Never {
        run(until: { false })
        Crash.halt(kind: SWIFTLET_CRASH_ABORT, message: "the event loop stopped")
    }

    private static func fireDueTimers() {
        guard !timers.isEmpty else { return }
        let now = Platform.monotonicNanoseconds()
        while let wakeup = timers.popDue(at: now) {
            switch wakeup {
            case .job(let job): ready.push(job)
            case .resume(let continuation): continuation.resume()   // enqueues its task
            case .call(let action): action()
            }
        }
    }

    /// Nothing is ready: wait in the tender (SWIFTLET_HC_POLL) until the next timer is due or
    /// a device has input.
    private static func idle() {
        let deadline = timers.nextDeadline
        if deadline == nil && deviceWaiters == 0 {
            Crash.halt(kind: SWIFTLET_CRASH_ABORT, message:
                "deadlock: every task is waiting, and no timer or device input can wake one")
        }
        if let deadline, deadline <= Platform.monotonicNanoseconds() { return }
        let readySet = Platform.poll(until: deadline)
        Shutdown.runHandlersIfRequested()
        if readySet != 0, let deviceReady {
            deviceReady(readySet)
        }
    }
}

/// Suspends the calling task for at least `nanoseconds` while other tasks run; the event
/// loop's timer heap wakes it. (Embedded Swift has no `Task.sleep`.)
public func sleep(nanoseconds: UInt64) async {
    let wakeAt = saturatingDeadline(after: nanoseconds, from: Platform.monotonicNanoseconds())
    await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
        EventLoop.schedule(.resume(continuation), at: wakeAt)
    }
}

// ---- Entry points for Freestanding/concurrency_stubs.c ------------------------------------

@_extern(c, "swiftlet_job_run")
func swiftlet_job_run(_ job: UnsafeMutableRawPointer)

@_cdecl("swiftlet_loop_enqueue")
func loopEnqueue(_ job: UnsafeMutableRawPointer) {
    EventLoop.enqueue(job)
}

@_cdecl("swiftlet_loop_enqueue_after")
func loopEnqueueAfter(_ delay: UInt64, _ job: UnsafeMutableRawPointer) {
    EventLoop.schedule(.job(job), at: saturatingDeadline(after: delay, from: Platform.monotonicNanoseconds()))
}

@_cdecl("swiftlet_loop_enqueue_at")
func loopEnqueueAt(_ deadline: UInt64, _ job: UnsafeMutableRawPointer) {
    EventLoop.schedule(.job(job), at: deadline)
}

@_cdecl("swiftlet_loop_run_forever")
func loopRunForever() -> Never {
    EventLoop.runForever()
}

@_cdecl("swiftlet_loop_run_until")
func loopRunUntil(_ condition: @convention(c) (UnsafeMutableRawPointer?) -> Bool, _ context: UnsafeMutableRawPointer?) {
    EventLoop.run(until: { condition(context) })
}

@_cdecl("swiftlet_uptime_nanoseconds")
func uptimeNanoseconds() -> UInt64 {
    Platform.monotonicNanoseconds()
}

@_cdecl("swiftlet_wall_nanoseconds")
func wallNanoseconds() -> Int64 {
    Platform.wallClockNanoseconds()
}

@_cdecl("swiftlet_process_exit")
func processExit(_ status: Int32) -> Never {
    exit(status)
}

@_cdecl("swiftlet_abort")
func abortWithMessage(_ message: UnsafePointer<UInt8>, _ length: Int) -> Never {
    Crash.halt(kind: SWIFTLET_CRASH_ABORT, message: UnsafeRawBufferPointer(start: message, count: length))
}

/// Never call this. For `static func main() async` the compiler looks up a function named
/// `exit` among the loaded modules, to call when main returns; finding only Swiftlet's
/// `exit(_:)` it crashes ("cannot deserialize shared function", Swift 6.3). With a second
/// `exit` the lookup is ambiguous and the compiler calls the C symbol `exit` instead, which
/// concurrency_stubs.c routes to `exit(_:)`.
@available(*, unavailable, message: "use exit(_:)")
public func exit(_ status: Int32, _ never: Never) -> Never { switch never {} }
#endif
