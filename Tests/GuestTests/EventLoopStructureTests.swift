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

    @Test func aRefiledFrontTimerTakesItsPlaceAsIfRemovedAndAddedAgain() {
        var heap = TimerHeap<Int>()
        // The reference: (deadline, filing, element), kept sorted; a refile is a new filing.
        var reference: [(deadline: UInt64, filing: Int, element: Int)] = []
        var generator = SystemRandomNumberGenerator()
        var filings = 0
        var now: UInt64 = 0
        for element in 0..<20_000 {
            switch Int.random(in: 0..<4, using: &generator) {
            case 0, 1:
                let deadline = now + UInt64.random(in: 0..<50, using: &generator)
                heap.insert(element, deadline: deadline)
                reference.append((deadline, filings, element))
            case 2 where !reference.isEmpty:
                let later = reference[0].deadline + UInt64.random(in: 0..<60, using: &generator)
                heap.refileNext(at: later)
                reference[0] = (later, filings, reference[0].element)
            default:
                now += UInt64.random(in: 0..<10, using: &generator)
            }
            filings += 1
            reference.sort { $0.deadline != $1.deadline ? $0.deadline < $1.deadline : $0.filing < $1.filing }
            #expect(heap.count == reference.count)
            #expect(heap.next.map { [$0.deadline, UInt64($0.element)] } == reference.first.map { [$0.deadline, UInt64($0.element)] })
            while let fired = heap.popDue(at: now) {
                let expected = reference.removeFirst()
                #expect(expected.deadline <= now && fired == expected.element)
            }
        }
    }

    @Test func aRefiledFrontTimerPassesEveryOtherAndQueuesBehindItsEquals() {
        var heap = TimerHeap<String>()
        for (index, name) in ["a", "b", "c", "d", "e", "f", "g"].enumerated() { heap.insert(name, deadline: UInt64(10 + index)) }
        heap.refileNext(at: 100)
        #expect(heap.count == 7 && heap.next?.element == "b" && heap.next?.deadline == 11)
        var order: [String] = []
        while let name = heap.popDue(at: .max) { order.append(name) }
        #expect(order == ["b", "c", "d", "e", "f", "g", "a"])

        heap.insert("first", deadline: 5)
        heap.insert("second", deadline: 7)
        heap.insert("third", deadline: 7)
        heap.refileNext(at: 7)
        #expect(heap.popDue(at: 7) == "second" && heap.popDue(at: 7) == "third" && heap.popDue(at: 7) == "first",
                "moved to a deadline others share, it comes out after them")
        #expect(heap.isEmpty)
    }

    @Test func aOneTimerHeapRefilesItsOnlyTimer() {
        var heap = TimerHeap<Int>()
        heap.insert(1, deadline: 10)
        heap.refileNext(at: 30)
        #expect(heap.count == 1 && heap.next?.deadline == 30 && heap.next?.element == 1)
        #expect(heap.popDue(at: 29) == nil && heap.popDue(at: 30) == 1 && heap.isEmpty)
    }

    @Test func deadlinesSaturate() {
        #expect(saturatingDeadline(after: 5, from: 10) == 15)
        #expect(saturatingDeadline(after: .max, from: 1) == .max)
    }
}
