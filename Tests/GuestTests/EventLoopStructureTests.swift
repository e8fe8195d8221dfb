import Testing
@testable import Swiftlet

/// The pure parts of the guest event loop (Concurrency/EventLoop.swift), against reference models.
@Suite struct EventLoopStructureTests {
    @Test func ringQueueIsFIFOAcrossGrowthAndWraparound() {
        var queue = RingQueue<Int>()
        var model: [Int] = []
        var generator = SystemRandomNumberGenerator()
        var next = 0
        for _ in 0..<50_000 {
            if Bool.random(using: &generator) || model.isEmpty {
                queue.push(next); model.append(next); next += 1
            } else {
                #expect(queue.pop() == model.removeFirst())
            }
            #expect(queue.count == model.count)
        }
        while let value = queue.pop() { #expect(value == model.removeFirst()) }
        #expect(model.isEmpty && queue.isEmpty && queue.pop() == nil)
    }

    @Test func timerHeapPopsDueTimersByDeadlineThenInsertionOrder() {
        var heap = TimerHeap<Int>()
        var reference: [(deadline: UInt64, order: Int)] = []
        var generator = SystemRandomNumberGenerator()
        var now: UInt64 = 0
        for order in 0..<20_000 {
            if Int.random(in: 0..<3, using: &generator) > 0 {
                let deadline = now + UInt64.random(in: 0..<50, using: &generator)
                heap.insert(order, deadline: deadline)
                reference.append((deadline, order))
            } else {
                now += UInt64.random(in: 0..<10, using: &generator)
            }
            reference.sort { $0.deadline != $1.deadline ? $0.deadline < $1.deadline : $0.order < $1.order }
            #expect(heap.nextDeadline == reference.first?.deadline)
            while let fired = heap.popDue(at: now) {
                let expected = reference.removeFirst()
                #expect(expected.deadline <= now && fired == expected.order)
            }
            #expect(reference.first.map { $0.deadline > now } ?? true)
        }
    }

    @Test func deadlinesSaturate() {
        #expect(saturatingDeadline(after: 5, from: 10) == 15)
        #expect(saturatingDeadline(after: .max, from: 1) == .max)
    }
}
