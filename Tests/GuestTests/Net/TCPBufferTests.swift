// The send/receive ring buffer and the out-of-order assembler.
import Testing
@testable import Swiftlet

extension TCPRingBuffer {
    mutating func enqueue(_ bytes: [UInt8]) -> Int { bytes.withUnsafeBytes { enqueue($0) } }
    mutating func writeAhead(_ offset: Int, _ bytes: [UInt8]) -> Int {
        bytes.withUnsafeBytes { writeUnallocated(offset: offset, from: $0) }
    }
    mutating func dequeue(_ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        let got = out.withUnsafeMutableBytes { dequeue(into: $0) }
        return Array(out[0..<got])
    }
    func peek(_ offset: Int, _ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        let got = out.withUnsafeMutableBytes { read(at: offset, into: $0) }
        return Array(out[0..<got])
    }
}

@Suite struct TCPBufferTests {
    @Test func ringWrapsAround() {
        var ring = TCPRingBuffer(capacity: 8)
        let first = ring.enqueue([UInt8](1...6))
        #expect(first == 6)
        let out = ring.dequeue(4)
        #expect(out == [1, 2, 3, 4])
        let second = ring.enqueue([UInt8](7...14))
        #expect(second == 6)
        #expect(ring.isFull)
        #expect(ring.peek(1, 10) == [6, 7, 8, 9, 10, 11, 12])
        let dropped = ring.discard(100)
        #expect(dropped == 8)
        #expect(ring.isEmpty)
    }

    @Test func bytesInPlaceComeInTwoPiecesWhereTheRingWraps() {
        var ring = TCPRingBuffer(capacity: 8)
        _ = ring.enqueue([UInt8](1...6))
        _ = ring.dequeue(4)
        _ = ring.enqueue([UInt8](7...12))  // 5...12, wrapped after 8
        let pieces = ring.withBytes(at: 1, count: 5) { (Array($0.first), Array($0.second), $0.bytes) }
        #expect(pieces.0 == [6, 7, 8])
        #expect(pieces.1 == [9, 10])
        #expect(pieces.2 == [6, 7, 8, 9, 10])
        #expect(ring.withBytes(at: 6, count: 100) { $0.bytes } == [11, 12])  // clipped to what is held
        #expect(ring.withBytes(at: 8, count: 1) { $0.isEmpty })
        #expect(ring.withBytes(at: 0, count: 8) { $0.slice(2..<6).bytes } == [7, 8, 9, 10])
        #expect(ring.withBytes(at: 0, count: 8) { $0.slice(4..<8).bytes } == [9, 10, 11, 12])
    }

    @Test func dequeueInPlaceStopsAtTheStorageEnd() {
        var ring = TCPRingBuffer(capacity: 8)
        _ = ring.enqueue([UInt8](1...6))
        _ = ring.dequeue(4)
        _ = ring.enqueue([UInt8](7...12))
        var seen: [[UInt8]] = []
        #expect(ring.dequeue(maximum: 100) { seen.append(Array($0)) } == 4)
        #expect(ring.dequeue(maximum: 3) { seen.append(Array($0)) } == 3)
        #expect(ring.dequeue(maximum: 100) { seen.append(Array($0)) } == 1)
        #expect(ring.dequeue(maximum: 100) { seen.append(Array($0)) } == 0)
        #expect(seen == [[5, 6, 7, 8], [9, 10, 11], [12]])
        #expect(ring.isEmpty)
    }

    @Test func unallocatedWritesCommitLater() {
        var ring = TCPRingBuffer(capacity: 10)
        _ = ring.enqueue([UInt8](repeating: 0, count: 7))
        ring.discard(7)
        let a = ring.writeAhead(3, [4, 5, 6])
        let b = ring.writeAhead(0, [1, 2, 3])
        let c = ring.writeAhead(6, [UInt8](repeating: 9, count: 10))
        let d = ring.writeAhead(10, [1])
        #expect([a, b, c, d] == [3, 3, 4, 0])
        ring.commit(6)
        let out = ring.dequeue(6)
        #expect(out == [1, 2, 3, 4, 5, 6])
    }

    @Test func zeroCapacityRingIsHarmless() {
        var ring = TCPRingBuffer(capacity: 0)
        let accepted = ring.enqueue([1])
        #expect(accepted == 0)
        let out = ring.dequeue(1)
        #expect(out == [])
    }

    @Test func assemblerMergesAndLimits() {
        var assembler = TCPAssembler()
        var results: [Bool] = []
        results.append(assembler.add(start: 10, end: 20))
        results.append(assembler.add(start: 30, end: 40))
        results.append(assembler.add(start: 20, end: 30))  // bridges both
        #expect(results == [true, true, true])
        #expect(assembler.ranges == [TCPAssembler.Range(start: 10, end: 40)])
        let none = assembler.takeFront()
        #expect(none == 0)
        _ = assembler.add(start: 0, end: 5)
        let front = assembler.takeFront()
        #expect(front == 5)
        #expect(assembler.ranges == [TCPAssembler.Range(start: 5, end: 35)])
        assembler.removeAll()
        for index in 0..<TCPAssembler.maximumRanges {
            let added = assembler.add(start: index * 10 + 5, end: index * 10 + 8)
            #expect(added)
        }
        let refused = assembler.add(start: 200, end: 210)  // a new range: refused
        let merged = assembler.add(start: 6, end: 16)      // overlapping two: merged
        #expect(!refused && merged)
        #expect(assembler.ranges.count == TCPAssembler.maximumRanges - 1)
    }
}
