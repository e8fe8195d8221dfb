// Two TCPConnection instances over a seeded, lossy, reordering, duplicating, corrupting
// link. Every segment goes through emit (checksum) and parse on the way.
import Testing
import TestSupport
@testable import Swiftlet

private struct LinkProfile: Sendable, CustomTestStringConvertible {
    var seed: UInt64
    var loss: Double
    var duplication: Double
    var corruption: Double
    var minimumDelay: UInt64
    var jitter: UInt64
    var testDescription: String { "seed \(seed) loss \(loss)" }
}

private struct Packet {
    var deliverAt: UInt64
    var order: Int
    var toB: Bool
    var bytes: [UInt8]
}

/// FNV-1a, the "checksum of data" both sides compare.
private struct FNV1a {
    var value: UInt64 = 0xCBF2_9CE4_8422_2325
    mutating func add(_ bytes: some Sequence<UInt8>) {
        for byte in bytes { value = (value ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
    }
}

private struct Outcome {
    var steps = 0
    var simulatedTime: UInt64 = 0
    var segments = 0
    var dropped = 0
    var corruptedRejected = 0
}

private let addressA = IPv4Address(10, 0, 0, 1)
private let addressB = IPv4Address(10, 0, 0, 2)

private func simulate(_ profile: LinkProfile, aToB: Int, bToA: Int, stepLimit: Int = 200_000) -> Outcome {
    var rng = SplitMix64(seed: profile.seed)
    func chance(_ probability: Double) -> Bool { Double(rng.next() % 1_000_000) < probability * 1_000_000 }

    let payloadA = (0..<aToB).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
    let payloadB = (0..<bToA).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
    var expectedA = FNV1a(); expectedA.add(payloadA)
    var expectedB = FNV1a(); expectedB.add(payloadB)

    let endpointA = TCPEndpoint(address: addressA, port: 40000)
    let endpointB = TCPEndpoint(address: addressB, port: 80)
    var configuration = TCPConfiguration(mtu: 1500)
    configuration.maximumRetransmissions = 30
    var a = TCPConnection(configuration: configuration, sendCapacity: 65536, receiveCapacity: 65536)
    var b = TCPConnection(configuration: configuration, sendCapacity: 32768, receiveCapacity: 100_000)
    b.listen(local: endpointB, iss: TCPSequenceNumber(0x7FFF_FF00))
    a.connect(local: endpointA, remote: endpointB, iss: TCPSequenceNumber(0xFFFF_0000), now: 0)

    var queue: [Packet] = []
    var order = 0
    var outcome = Outcome()
    var now: UInt64 = 0
    var sentA = 0, sentB = 0
    var receivedByB = FNV1a(), receivedByA = FNV1a()
    var countB = 0, countA = 0
    var scratch = [UInt8](repeating: 0, count: 4096)

    func transmit(_ repr: TCPSegmentRepr, _ payload: TCPPayload, toB: Bool) {
        outcome.segments += 1
        var wire = [UInt8](repeating: 0, count: repr.headerLength + payload.count)
        let emitted = wire.withUnsafeMutableBytes { buffer in
            (try? repr.emit(into: buffer, payload: payload, source: toB ? addressA : addressB,
                            destination: toB ? addressB : addressA)) != nil
        }
        #expect(emitted)
        if chance(profile.loss) { outcome.dropped += 1; return }
        let copies = chance(profile.duplication) ? 2 : 1
        for _ in 0..<copies {
            var bytes = wire
            if chance(profile.corruption) {
                bytes[rng.next(below: bytes.count)] ^= UInt8(1) << UInt8(rng.next(below: 8))
            }
            let delay = profile.minimumDelay + rng.next() % (profile.jitter + 1)
            queue.append(Packet(deliverAt: now + delay, order: order, toB: toB, bytes: bytes))
            order += 1
        }
    }

    while outcome.steps < stepLimit {
        outcome.steps += 1
        // Applications: A streams its payload then closes; B does the same with its own.
        if a.state == .established || a.state == .closeWait {
            if sentA < payloadA.count {
                sentA += payloadA[sentA...].withUnsafeBytes { a.send($0) }
            }
            if sentA == payloadA.count { a.close() }
        }
        if b.state == .established || b.state == .closeWait {
            if sentB < payloadB.count {
                sentB += payloadB[sentB...].withUnsafeBytes { b.send($0) }
            }
            if sentB == payloadB.count { b.close() }
        }
        while b.isReadable {
            let got = scratch.withUnsafeMutableBytes { b.receive(into: $0) }
            receivedByB.add(scratch[0..<got]); countB += got
        }
        while a.isReadable {
            let got = scratch.withUnsafeMutableBytes { a.receive(into: $0) }
            receivedByA.add(scratch[0..<got]); countA += got
        }

        a.poll(now: now) { repr, payload in transmit(repr, payload, toB: true) }
        b.poll(now: now) { repr, payload in transmit(repr, payload, toB: false) }

        if a.state == .closed && b.state == .closed { break }

        // Advance to the next event.
        var next: UInt64? = queue.map(\.deliverAt).min()
        for candidate in [a.pollAt(), b.pollAt()] {
            if let time = candidate { next = min(next ?? time, time) }
        }
        guard let upcoming = next else {
            Issue.record("stalled at \(now): A \(a.state) B \(b.state)")
            break
        }
        now = max(now, upcoming)

        // Deliver everything due, in delivery-time order.
        let due = queue.filter { $0.deliverAt <= now }.sorted { ($0.deliverAt, $0.order) < ($1.deliverAt, $1.order) }
        queue.removeAll { $0.deliverAt <= now }
        for packet in due {
            packet.bytes.withUnsafeBytes { buffer in
                let source = packet.toB ? addressA : addressB
                let destination = packet.toB ? addressB : addressA
                guard let (repr, payload) = try? TCPSegmentRepr.parse(buffer, source: source, destination: destination) else {
                    outcome.corruptedRejected += 1
                    return
                }
                if packet.toB {
                    b.process(repr, payload: payload, now: now, from: source)
                } else {
                    a.process(repr, payload: payload, now: now, from: source)
                }
            }
        }
    }
    outcome.simulatedTime = now

    #expect(a.state == .closed && b.state == .closed, "A \(a.state) B \(b.state) after \(outcome.steps) steps")
    #expect(a.error == nil && b.error == nil)
    #expect(countB == payloadA.count)
    #expect(countA == payloadB.count)
    #expect(receivedByB.value == expectedA.value)
    #expect(receivedByA.value == expectedB.value)
    #expect(b.receivedFIN && a.receivedFIN)
    #expect(outcome.steps < stepLimit)
    return outcome
}

@Suite struct TCPSimulationTests {
    @Test(arguments: [
        LinkProfile(seed: 1, loss: 0.05, duplication: 0.03, corruption: 0.01, minimumDelay: 2 * tcpMS, jitter: 8 * tcpMS),
        LinkProfile(seed: 2, loss: 0.05, duplication: 0.03, corruption: 0.01, minimumDelay: 2 * tcpMS, jitter: 8 * tcpMS),
        LinkProfile(seed: 3, loss: 0.05, duplication: 0.05, corruption: 0.01, minimumDelay: 1 * tcpMS, jitter: 20 * tcpMS),
    ])
    fileprivate func oneMegabyteOverALossyLink(profile: LinkProfile) {
        let outcome = simulate(profile, aToB: 1 << 20, bToA: 100_000)
        #expect(outcome.dropped > 0)
        #expect(outcome.corruptedRejected > 0)
        // Bounded: TIME-WAIT is 60 s of the total; the transfer itself must not crawl.
        #expect(outcome.simulatedTime < 150 * tcpSecond, "took \(outcome.simulatedTime / tcpMS) tcpMS")
        #expect(outcome.steps < 20_000)
    }

    @Test func cleanLinkNeedsNoRetransmission() {
        let profile = LinkProfile(seed: 9, loss: 0, duplication: 0, corruption: 0, minimumDelay: 5 * tcpMS, jitter: 0)
        let outcome = simulate(profile, aToB: 200_000, bToA: 10_000)
        // Data plus ACKs only; TIME-WAIT dominates the time.
        #expect(outcome.simulatedTime < 62 * tcpSecond)
        #expect(outcome.segments < 400)
    }

    @Test func harshLinkStillCompletes() {
        let profile = LinkProfile(seed: 77, loss: 0.2, duplication: 0.1, corruption: 0.05, minimumDelay: 1 * tcpMS, jitter: 30 * tcpMS)
        _ = simulate(profile, aToB: 100_000, bToA: 20_000)
    }
}
