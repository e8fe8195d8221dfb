// The payload of one outgoing segment, read in place from the send ring: no scratch copy
// between the ring and the frame. Where the data wraps around the ring's end it is two pieces.

public struct TCPPayload {
    public let first: UnsafeRawBufferPointer
    public let second: UnsafeRawBufferPointer

    public static var empty: TCPPayload { TCPPayload(UnsafeRawBufferPointer(start: nil, count: 0)) }

    public init(_ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0)) {
        self.first = first
        self.second = second
    }

    public var count: Int { first.count + second.count }
    public var isEmpty: Bool { count == 0 }

    /// Copies the payload to `target`, which has room for `count` octets.
    public func copy(to target: UnsafeMutableRawPointer) {
        if let source = first.baseAddress { target.copyMemory(from: source, byteCount: first.count) }
        if let source = second.baseAddress { (target + first.count).copyMemory(from: source, byteCount: second.count) }
    }

    /// The octets `range` (offsets into the whole payload).
    public func slice(_ range: Range<Int>) -> TCPPayload {
        let split = first.count
        let head = UnsafeRawBufferPointer(rebasing: first[min(range.lowerBound, split)..<min(range.upperBound, split)])
        let tail = UnsafeRawBufferPointer(rebasing: second[max(range.lowerBound - split, 0)..<max(range.upperBound - split, 0)])
        return head.isEmpty ? TCPPayload(tail) : TCPPayload(head, tail)
    }

    /// A copy as an array (tests, and paths where speed does not matter).
    public var bytes: [UInt8] { Array(first) + Array(second) }
}
