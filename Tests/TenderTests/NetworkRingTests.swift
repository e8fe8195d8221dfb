// Exitless network rings against a hostile guest: NET_ATTACH_RINGS's checks, indices out of
// range, frames the ABI refuses, and a guest that rewrites a slot while the tender uses it.
// The I/O thread's pass (servePass) runs here on the test's thread, one at a time.
#if canImport(Glibc)
import Glibc
#endif
import SwiftletABI
import TenderTestSupport
import Testing
@testable import TenderCore

/// A backend that records what it is given, hands out queued frames, and runs `during` in the
/// middle of each read or write (to play a guest on another CPU).
private final class ScriptedBackend: NetworkBackend {
    let fd: Int32 = -1
    var isClosed: Bool { false }
    var hasBufferedFrame: Bool { !incoming.isEmpty }
    var offersOffload: Bool { false }
    func enableOffload() -> Bool { false }
    var incoming: [[UInt8]] = []
    var written: [[UInt8]] = []
    var during: () -> Void = {}

    func readFrame(into buffer: UnsafeMutableRawBufferPointer, offload: inout swiftlet_net_offload) -> FrameRead {
        guard !incoming.isEmpty else { return .empty }
        during()
        let frame = incoming.removeFirst()
        let count = min(frame.count, buffer.count)
        for index in 0..<count { buffer[index] = frame[index] }
        return .frame(count)
    }

    func writeFrame(_ frame: UnsafeRawBufferPointer, offload: swiftlet_net_offload) -> Bool {
        during()
        written.append(Array(frame))
        return true
    }
}

private final class RingFixture {
    static let memorySize = 4 << 20
    static let size: UInt32 = 4
    private let host = TestGuestMemory(size: RingFixture.memorySize, fill: 0)
    let memory: GuestMemory
    let backend = ScriptedBackend()
    let rings: NetworkRings
    let handler: HypercallHandler
    var base: UInt64 { SWIFTLET_GUEST_BASE }
    /// Where the test's guest keeps its rings and buffers (heap).
    var ringAddress: UInt64 { base + 0x10_0000 }
    var rxBuffers: UInt64 { base + 0x20_0000 }
    var txBuffers: UInt64 { base + 0x30_0000 }

    init() throws {
        // The layout a running guest has: code and boot info read-only, a guard page, the heap from 1 MiB.
        memory = host.memory.restricted(to: GuestAccess(
            memorySize: UInt64(Self.memorySize), writableSegments: [],
            heap: SWIFTLET_GUEST_BASE + 0x10_0000 ..< SWIFTLET_GUEST_BASE + UInt64(Self.memorySize)))
        let device = NetworkDevice(name: "net0", mac: (2, 0, 0, 0, 0, 1), backend: backend)
        rings = try NetworkRings(devices: [device], spinMicroseconds: 25)
        handler = HypercallHandler(memory: memory, consoleFD: 2, networks: [device], rings: rings)
    }

    deinit {
        close(rings.kickFD)
        close(rings.wakeFD)
    }

    func put<T: BitwiseCopyable>(_ value: T, at address: UInt64) { try! memory.store(value, at: GuestAddress(raw: address)) }
    func get<T: BitwiseCopyable>(_: T.Type, at address: UInt64) -> T { try! memory.load(T.self, at: GuestAddress(raw: address)) }

    /// NET_ATTACH_RINGS; returns its result.
    func attach(handle: UInt32 = 0, size: UInt32 = RingFixture.size, at address: UInt64? = nil) -> swiftlet_result {
        let request = base + 0x1000
        put(swiftlet_hc_net_attach_rings(handle: handle, size: size, rings: address ?? ringAddress, result: -1, spin_us: 0), at: request)
        #expect(handler.handle(number: SWIFTLET_HC_NET_ATTACH_RINGS.rawValue, argument: GuestAddress(raw: request)) == .resume)
        let answer = get(swiftlet_hc_net_attach_rings.self, at: request)
        if answer.result == Int32(SWIFTLET_R_OK.rawValue) { #expect(answer.spin_us == 25) }
        return swiftlet_result(rawValue: UInt32(bitPattern: answer.result))
    }

    var header: swiftlet_net_rings { self.get(swiftlet_net_rings.self, at: ringAddress) }
    func setHeader(_ change: (inout swiftlet_net_rings) -> Void) {
        var value = header
        change(&value)
        put(value, at: ringAddress)
    }

    func slotAddress(tx: Bool, _ slot: UInt32) -> UInt64 {
        ringAddress + UInt64(MemoryLayout<swiftlet_net_rings>.stride)
            + UInt64((tx ? Self.size : 0) + slot) * UInt64(MemoryLayout<swiftlet_frame>.stride)
    }

    func postReceiveBuffers(capacity: UInt32 = 2048) {
        for slot in 0..<Self.size {
            put(swiftlet_frame(data: rxBuffers + UInt64(slot) * 2048, length: 0, capacity: capacity, offload: .init()),
                at: slotAddress(tx: false, slot))
        }
    }

    /// The guest queues `frame` in TX slot `slot` and publishes tx_produced = slot + 1.
    func queue(_ frame: [UInt8], slot: UInt32, length: UInt32? = nil) {
        let data = txBuffers + UInt64(slot) * 2048
        try! frame.withUnsafeBytes { try memory.copyIn($0, at: GuestAddress(raw: data)) }
        put(swiftlet_frame(data: data, length: length ?? UInt32(frame.count), capacity: 0, offload: .init()),
            at: slotAddress(tx: true, slot))
        setHeader { $0.tx_produced = slot + 1 }
    }

    /// A hypercall after the pass: what the guest's next exit ends in.
    func nextExit() -> HypercallHandler.Outcome {
        let request = base + 0x1000
        put(swiftlet_hc_poll(timeout: 0, ready_set: 0), at: request)
        return handler.handle(number: SWIFTLET_HC_POLL.rawValue, argument: GuestAddress(raw: request))
    }

    func expectGuestEnded(saying words: String, sourceLocation: SourceLocation = #_sourceLocation) {
        guard case .crash(let crash) = nextExit() else {
            Issue.record("the guest should have been ended", sourceLocation: sourceLocation)
            return
        }
        #expect("\(crash.cause)".contains(words), "\(crash.cause)", sourceLocation: sourceLocation)
    }
}

private func frame(_ seed: UInt8, length: Int = 60) -> [UInt8] { (0..<length).map { UInt8(truncatingIfNeeded: Int(seed) &+ $0) } }

@Suite struct NetworkRingTests {
    @Test func framesCrossBothRingsWithoutAHypercallEach() throws {
        let f = try RingFixture()
        f.postReceiveBuffers()
        #expect(f.attach() == SWIFTLET_R_OK)
        f.backend.incoming = [frame(1), frame(2, length: 1514)]
        f.queue(frame(9), slot: 0)
        #expect(f.rings.servePass())
        #expect(f.backend.written == [frame(9)])
        #expect(f.header.tx_consumed == 1 && f.header.rx_produced == 2)
        let first = f.get(swiftlet_frame.self, at: f.slotAddress(tx: false, 0))
        let second = f.get(swiftlet_frame.self, at: f.slotAddress(tx: false, 1))
        #expect(try f.memory.copyOut(at: GuestAddress(raw: first.data), count: UInt64(first.length)) == frame(1))
        #expect(try f.memory.copyOut(at: GuestAddress(raw: second.data), count: UInt64(second.length)) == frame(2, length: 1514))
        // POLL reports the device while its RX ring holds frames, and the rings own it.
        let request = f.base + 0x1000
        f.put(swiftlet_hc_poll(timeout: 0, ready_set: 0), at: request)
        #expect(f.handler.handle(number: SWIFTLET_HC_POLL.rawValue, argument: GuestAddress(raw: request)) == .resume)
        #expect(f.get(swiftlet_hc_poll.self, at: request).ready_set == 1)
        f.put(swiftlet_hc_net(handle: 0, count: 1, frames: f.slotAddress(tx: true, 0), completed: 0, result: 0), at: request)
        #expect(f.handler.handle(number: SWIFTLET_HC_NET_WRITE.rawValue, argument: GuestAddress(raw: request)) == .resume)
        #expect(f.get(swiftlet_hc_net.self, at: request).result == Int32(SWIFTLET_R_EINVAL.rawValue))
        #expect(f.backend.written.count == 1)
    }

    @Test func aFullRXRingWaitsForTheGuestAndAsksForAKick() throws {
        let f = try RingFixture()
        f.postReceiveBuffers()
        #expect(f.attach() == SWIFTLET_R_OK)
        f.backend.incoming = (0..<6).map { frame(UInt8($0)) }
        #expect(f.rings.servePass())
        #expect(f.header.rx_produced == RingFixture.size && f.backend.incoming.count == 2)
        #expect(!f.rings.servePass())
        f.setHeader { $0.rx_consumed = 3 }
        #expect(f.rings.servePass())
        #expect(f.header.rx_produced == 6 && f.backend.incoming.isEmpty)
        #expect(f.nextExit() == .resume)
    }

    @Test func attachRefusesBadRingsAndChangesNothing() throws {
        let f = try RingFixture()
        let base = f.base, end = base + UInt64(RingFixture.memorySize)
        #expect(f.attach(handle: 1) == SWIFTLET_R_ENODEV)
        for size: UInt32 in [0, 3, 6, SWIFTLET_NET_RING_SIZE_MAX * 2] { #expect(f.attach(size: size) == SWIFTLET_R_EINVAL, "size \(size)") }
        for (address, what) in [(f.ringAddress + 8, "misaligned"), (0x1000, "below guest memory"), (base, "the guard page"),
                                (end - 64, "straddling the end of memory"), (UInt64.max & ~63, "wrapping around"),
                                (base + SWIFTLET_IMAGE_OFFSET, "the image's code"),
                                (base + SWIFTLET_BOOTINFO_OFFSET, "read-only boot info"),
                                ((base + 0x10_0000 - 64) & ~63, "straddling code and heap")] {
            #expect(f.attach(at: address) == SWIFTLET_R_EINVAL, "\(what)")
        }
        #expect(!f.rings.servePass() && f.nextExit() == .resume)
        // A good attach, then a second one refused.
        #expect(f.attach() == SWIFTLET_R_OK)
        #expect(f.attach() == SWIFTLET_R_EINVAL)
    }

    @Test func aTXIndexTooFarAheadEndsTheGuest() throws {
        let f = try RingFixture()
        #expect(f.attach() == SWIFTLET_R_OK)
        f.setHeader { $0.tx_produced = RingFixture.size + 1 }
        #expect(!f.rings.servePass())
        f.expectGuestEnded(saying: "tx_produced 5 is 5 slots ahead of tx_consumed 0 (ring size 4)")
    }

    @Test func anRXIndexOutOfRangeEndsTheGuest() throws {
        let f = try RingFixture()
        f.postReceiveBuffers()
        #expect(f.attach() == SWIFTLET_R_OK)
        f.setHeader { $0.rx_consumed = 7 }   // nothing was produced: 7 slots "behind" wraps
        f.backend.incoming = [frame(1)]
        #expect(!f.rings.servePass())
        f.expectGuestEnded(saying: "rx_consumed 7 is not within 4 slots behind rx_produced 0")
        #expect(f.backend.incoming.count == 1)
    }

    @Test func aFrameLongerThanTheMTUEndsTheGuestUnsent() throws {
        let f = try RingFixture()
        #expect(f.attach() == SWIFTLET_R_OK)
        f.queue(frame(1, length: 1515), slot: 0)
        #expect(!f.rings.servePass())
        f.expectGuestEnded(saying: "TX slot 0: a frame of 1515 bytes")
        #expect(f.backend.written.isEmpty)
    }

    @Test(arguments: [("a capacity over the largest frame", UInt64(0), UInt32(SWIFTLET_NET_OFFLOAD_FRAME_MAX + 1)),
                      ("a buffer in the image's code", SWIFTLET_IMAGE_OFFSET, UInt32(2048)),
                      ("a buffer past the end of memory", UInt64(RingFixture.memorySize - 1024), UInt32(2048))])
    func aBadReceiveBufferEndsTheGuest(what: String, offset: UInt64, capacity: UInt32) throws {
        let f = try RingFixture()
        f.postReceiveBuffers()
        if offset != 0 {
            f.put(swiftlet_frame(data: f.base + offset, length: 0, capacity: capacity, offload: .init()), at: f.slotAddress(tx: false, 0))
        } else {
            f.put(swiftlet_frame(data: f.rxBuffers, length: 0, capacity: capacity, offload: .init()), at: f.slotAddress(tx: false, 0))
        }
        #expect(f.attach() == SWIFTLET_R_OK)
        f.backend.incoming = [frame(1)]
        #expect(!f.rings.servePass(), "\(what)")
        f.expectGuestEnded(saying: "RX slot 0: guest range")
        #expect(f.backend.incoming.count == 1, "nothing was read for \(what)")
    }

    /// The guest rewrites the TX slot while the tender sends it: the tender sends what it
    /// checked, and never reads the slot again.
    @Test func aTXSlotRewrittenDuringTheSendIsNotReadAgain() throws {
        let f = try RingFixture()
        f.postReceiveBuffers()
        #expect(f.attach() == SWIFTLET_R_OK)
        f.queue(frame(5), slot: 0)
        f.backend.during = {
            f.put(swiftlet_frame(data: f.base, length: 65_000, capacity: 0, offload: .init(flags: 0xFF, gso_type: 9, header_length: 0,
                                                                                         gso_size: 0, csum_start: 0, csum_offset: 0)),
                  at: f.slotAddress(tx: true, 0))
        }
        #expect(f.rings.servePass())
        #expect(f.backend.written == [frame(5)])
        #expect(f.header.tx_consumed == 1)
        #expect(!f.rings.servePass() && f.nextExit() == .resume)
    }

    /// The guest points the RX slot at its code while the tender fills it: the frame lands in
    /// the buffer that was checked, and the slot gets the checked descriptor back.
    @Test func anRXSlotRewrittenDuringTheReadIsNotUsed() throws {
        let f = try RingFixture()
        f.postReceiveBuffers()
        #expect(f.attach() == SWIFTLET_R_OK)
        let code = f.base + SWIFTLET_IMAGE_OFFSET
        f.backend.during = {
            f.put(swiftlet_frame(data: code, length: 0, capacity: 65_000, offload: .init()), at: f.slotAddress(tx: false, 0))
        }
        f.backend.incoming = [frame(3)]
        #expect(f.rings.servePass())
        let slot = f.get(swiftlet_frame.self, at: f.slotAddress(tx: false, 0))
        #expect(slot.data == f.rxBuffers && slot.capacity == 2048 && slot.length == 60)
        #expect(try f.memory.copyOut(at: GuestAddress(raw: f.rxBuffers), count: 60) == frame(3))
        #expect(try f.memory.copyOut(at: GuestAddress(raw: code), count: 60) == [UInt8](repeating: 0, count: 60))
    }

    @Test func ringsAreOnlyOfferedWhereTheTenderServesThem() throws {
        let plain = NetworkDevice(name: "net0", mac: (2, 0, 0, 0, 0, 1), backend: ScriptedBackend())
        #expect(plain.features & SWIFTLET_NET_F_RINGS == 0)
        let pointer = UnsafeMutableRawPointer.allocate(byteCount: 4 << 20, alignment: 4096)
        defer { pointer.deallocate() }
        let memory = GuestMemory(base: pointer, size: 4 << 20)
        let handler = HypercallHandler(memory: memory, consoleFD: 2, networks: [plain])
        let request = SWIFTLET_GUEST_BASE + 0x1000
        try memory.store(swiftlet_hc_net_attach_rings(handle: 0, size: 4, rings: SWIFTLET_GUEST_BASE + 0x10_0000, result: -1, spin_us: 0),
                         at: GuestAddress(raw: request))
        #expect(handler.handle(number: SWIFTLET_HC_NET_ATTACH_RINGS.rawValue, argument: GuestAddress(raw: request)) == .resume)
        #expect(try memory.load(swiftlet_hc_net_attach_rings.self, at: GuestAddress(raw: request)).result == Int32(SWIFTLET_R_EINVAL.rawValue))
        // NET_CONFIGURE does not take the rings' bit.
        let served = NetworkDevice(name: "net0", mac: (2, 0, 0, 0, 0, 1), backend: ScriptedBackend())
        served.offersRings = true
        #expect(served.features & SWIFTLET_NET_F_RINGS != 0)
        #expect(served.configure(features: SWIFTLET_NET_F_RINGS) == SWIFTLET_R_EINVAL)
    }
}

@Suite struct RingOptionTests {
    @Test func ringsAreOptInWithABoundedSpin() throws {
        #expect(try TenderOptions(arguments: ["image"]).ringSpin == nil)
        #expect(try TenderOptions(arguments: ["--rings", "image"]).ringSpin == TenderOptions.defaultRingSpin)
        #expect(try TenderOptions(arguments: ["--rings=0", "image"]).ringSpin == 0)
        #expect(try TenderOptions(arguments: ["--rings=200", "image"]).ringSpin == 200)
        for bad in ["--rings=", "--rings=x", "--rings=-1", "--rings=10001"] {
            #expect(throws: TenderError.self, "\(bad)") { try TenderOptions(arguments: [bad, "image"]) }
        }
    }
}
