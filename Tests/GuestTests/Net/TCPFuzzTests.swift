// Random segments and user calls against a connection in every state: nothing traps, and
// the buffers never exceed their capacities.
import Testing
import TestSupport
@testable import Swiftlet

private let allStates: [TCPState] = [.closed, .listen, .synSent, .synReceived, .established, .finWait1,
                                     .finWait2, .closeWait, .closing, .lastAck, .timeWait]

@Suite struct TCPFuzzTests {
    @Test(arguments: allStates)
    func randomSegmentsNeverTrap(state: TCPState) {
        var rng = SplitMix64(seed: 0xF022 &+ UInt64(allStates.firstIndex(of: state)!))
        var c = tcpConnection(in: state)
        var now = TCP_T0
        var emitted = 0
        for round in 0..<2_000 {
            let flags = TCPFlags(rawValue: UInt8(truncatingIfNeeded: rng.next()))
            let near = rng.next(below: 4) != 0
            let seq = near ? c.receiveNextSequence + (rng.next(below: 20_000) - 10_000)
                           : TCPSequenceNumber(UInt32(truncatingIfNeeded: rng.next()))
            let ack = near ? c.sendNextSequence + (rng.next(below: 4_000) - 2_000)
                           : TCPSequenceNumber(UInt32(truncatingIfNeeded: rng.next()))
            var options = TCPOptions()
            if rng.next(below: 4) == 0 {
                options.maximumSegmentSize = UInt16(truncatingIfNeeded: rng.next())
                options.windowScale = UInt8(truncatingIfNeeded: rng.next())
            }
            let repr = TCPSegmentRepr(sourcePort: rng.next(below: 8) == 0 ? 1 : TCP_REMOTE.port,
                                      destinationPort: TCP_LOCAL.port, sequenceNumber: seq, acknowledgmentNumber: ack,
                                      flags: flags, window: UInt16(truncatingIfNeeded: rng.next()), options: options)
            let payload = (0..<rng.next(below: 1600)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            c.deliver(repr, payload, at: now)
            switch rng.next(below: 10) {
            case 0: _ = c.send(tcpBytes(rng.next(below: 3000)))
            case 1: _ = c.receive(maximum: rng.next(below: 5000))
            case 2 where round % 97 == 0: c.close()
            default: break
            }
            now += UInt64(rng.next(below: 300)) * tcpMS
            if let at = c.pollAt(), at > now, rng.next(below: 2) == 0 { now = at }
            emitted += c.recv(now).count
            #expect(c.receiveQueueCount <= c.receiveCapacity)
            #expect(c.sendQueueCount <= c.sendCapacity)
            if c.state == .closed && rng.next(below: 50) == 0 {
                c = tcpConnection(in: state)  // start over from the state under test
            }
        }
        #expect(emitted > 0 || state == .closed)  // a fresh CLOSED connection has no port
    }
}
