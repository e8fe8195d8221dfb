// The guest side of exitless network rings (ABI 4, swiftlet_abi.h "Exitless network rings"):
// frames move through two rings in guest memory that the tender's I/O thread serves while the
// guest runs, so a busy guest makes no VM exit per frame or per loop turn. The guest exits only
// to sleep (POLL, after a short spin) or to kick an I/O thread that said it sleeps (NET_KICK,
// which the host's kernel serves without returning to the tender).
#if SWIFTLET_GUEST
import SwiftletABI

final class GuestNICRings {
    /// How long a guest with nothing to do looks at its RX ring before it sleeps in POLL (the
    /// tender's advice): a frame within it costs no exit.
    private var spinNanoseconds: UInt64 = 0
    /// A guest that is never idle still exits this often (a POLL that does not sleep), so
    /// that it sees shutdown requests.
    static let pollInterval: UInt64 = 1_000_000

    private let handle: UInt32
    private let size: UInt32
    private let rings: UnsafeMutablePointer<swiftlet_net_rings>
    private let rx: UnsafeMutablePointer<swiftlet_frame>
    private let tx: UnsafeMutablePointer<swiftlet_frame>
    /// One buffer of `capacity` bytes per RX slot, `slotBytes` apart.
    private let receiveBuffers: UnsafeMutableRawPointer
    private let slotBytes: Int
    private let capacity: UInt32
    /// Frames to send, packed in order and freed in order as the tender sends them.
    private var arena: TransmitArena
    private var rxConsumed: UInt32 = 0
    private var txProduced: UInt32 = 0
    private var txReclaimed: UInt32 = 0
    /// Frames published since the last look at tender_waits.
    private var unannounced = false
    private var lastPoll: UInt64 = 0
    private(set) var kicks = 0

    /// Attaches rings of `size` slots to device `handle`: RX buffers of `largest` bytes each,
    /// `transmitBytes` to send from. Nil if the tender refused (the caller uses hypercalls).
    init?(handle: UInt32, size: UInt32, largest: Int, transmitBytes: Int) {
        let ringBytes = MemoryLayout<swiftlet_net_rings>.stride + 2 * Int(size) * MemoryLayout<swiftlet_frame>.stride
        let area = UnsafeMutableRawPointer.allocate(byteCount: ringBytes, alignment: 64)
        area.initializeMemory(as: UInt8.self, repeating: 0, count: ringBytes)
        var request = swiftlet_hc_net_attach_rings(handle: handle, size: size, rings: UInt64(UInt(bitPattern: area)), result: -1, spin_us: 0)
        self.handle = handle
        self.size = size
        slotBytes = (largest + 63) & ~63
        capacity = UInt32(largest)
        rings = area.bindMemory(to: swiftlet_net_rings.self, capacity: 1)
        rx = (area + MemoryLayout<swiftlet_net_rings>.stride).bindMemory(to: swiftlet_frame.self, capacity: 2 * Int(size))
        tx = rx + Int(size)
        receiveBuffers = .allocate(byteCount: Int(size) * slotBytes, alignment: 64)
        arena = TransmitArena(bytes: transmitBytes, slots: Int(size))
        for slot in 0..<size { post(slot) }
        Hypercall.call(SWIFTLET_HC_NET_ATTACH_RINGS, &request)
        spinNanoseconds = UInt64(request.spin_us) * 1000
        guard request.result == Int32(SWIFTLET_R_OK.rawValue) else {
            area.deallocate()
            receiveBuffers.deallocate()
            arena.deallocate()
            return nil
        }
    }

    private func post(_ slot: UInt32) {
        rx[Int(slot)] = swiftlet_frame(data: UInt64(UInt(bitPattern: receiveBuffers + Int(slot) * slotBytes)), length: 0,
                                       capacity: capacity, offload: .init())
    }

    var hasReceivedFrames: Bool { swiftlet_ring_load(&rings.pointee.rx_produced) != rxConsumed }

    /// Hands over the frames the tender has put in the RX ring, then gives their slots back.
    func receive(_ body: (ReceivedFrame) -> Void) -> Int {
        let produced = swiftlet_ring_load(&rings.pointee.rx_produced)
        let count = Int(min(produced &- rxConsumed, size))
        let trusted = UInt8(SWIFTLET_NET_OFFLOAD_NEEDS_CSUM | SWIFTLET_NET_OFFLOAD_DATA_VALID)
        for _ in 0..<count {
            let slot = rxConsumed & (size - 1)
            let descriptor = rx[Int(slot)]
            let length = min(Int(descriptor.length), Int(capacity))
            body(ReceivedFrame(UnsafeRawBufferPointer(start: receiveBuffers + Int(slot) * slotBytes, count: length),
                               checksumTrusted: descriptor.offload.flags & trusted != 0))
            post(slot)
            rxConsumed &+= 1
        }
        guard count > 0 else { return 0 }
        swiftlet_ring_store(&rings.pointee.rx_consumed, rxConsumed)
        swiftlet_ring_fence()
        if swiftlet_ring_load(&rings.pointee.tender_waits) & SWIFTLET_NET_RING_WAKE_RX != 0 { kick() }
        return count
    }

    /// Builds one frame of at most `capacity` bytes (`limit` with room) in the transmit arena
    /// and publishes it in the next TX slot; with the ring or the arena full, first waits for
    /// the I/O thread to send some.
    func transmit(capacity: Int, limit: Int, offload: swiftlet_net_offload, _ body: (UnsafeMutableRawBufferPointer) -> Int) {
        var place = reserve(capacity)
        while place == nil {
            kick()
            Platform.poll(until: SystemClock.uptimeNanoseconds + 20_000)
            place = reserve(capacity)
        }
        guard let place else { return }
        let slot = txProduced & (size - 1)
        let length = body(UnsafeMutableRawBufferPointer(start: place.baseAddress!, count: min(limit, place.count)))
        guard length > 0 else { return }
        arena.use(length, at: place.baseAddress!, slot: Int(slot))
        tx[Int(slot)] = swiftlet_frame(data: UInt64(UInt(bitPattern: place.baseAddress!)), length: UInt32(length), capacity: 0, offload: offload)
        txProduced &+= 1
        swiftlet_ring_store(&rings.pointee.tx_produced, txProduced)
        unannounced = true
    }

    /// Room for a frame of `capacity` bytes, once the slots the tender has sent are freed.
    private func reserve(_ capacity: Int) -> UnsafeMutableRawBufferPointer? {
        let consumed = swiftlet_ring_load(&rings.pointee.tx_consumed)
        while txReclaimed != consumed {
            arena.free(slot: Int(txReclaimed & (size - 1)), last: txReclaimed &+ 1 == txProduced)
            txReclaimed &+= 1
        }
        guard txProduced &- txReclaimed < size else { return nil }
        return arena.reserve(capacity)
    }

    /// Kicks the I/O thread if it sleeps and frames were published since the last look.
    private func flush() {
        guard unannounced else { return }
        unannounced = false
        swiftlet_ring_fence()
        if swiftlet_ring_load(&rings.pointee.tender_waits) & SWIFTLET_NET_RING_WAKE_TX != 0 { kick() }
    }

    /// The device's turn (`FrameDevice.exchange`): flushes, then returns at once if frames are
    /// waiting; else spins for a moment and then sleeps in POLL until input or `deadline`.
    /// Returns whether frames are waiting.
    func exchange(until deadline: UInt64?) -> Bool {
        flush()
        var now = SystemClock.uptimeNanoseconds
        if now &- lastPoll >= Self.pollInterval { poll(until: now) }
        if let deadline, deadline <= now { return hasReceivedFrames }
        let spinEnd = min(now + spinNanoseconds, deadline ?? UInt64.max)
        while now < spinEnd {
            if hasReceivedFrames { return true }
            now = SystemClock.uptimeNanoseconds
        }
        if !hasReceivedFrames { poll(until: deadline) }
        return hasReceivedFrames
    }

    private func poll(until deadline: UInt64?) {
        Platform.poll(until: deadline)
        lastPoll = SystemClock.uptimeNanoseconds
    }

    private func kick() {
        kicks += 1
        var unused: UInt64 = 0
        Hypercall.call(SWIFTLET_HC_NET_KICK, &unused)
    }
}

/// A byte ring for frames in flight: each frame is placed after the previous one (wrapping to
/// the start when the end has no room) and freed in the order the tender sends them.
struct TransmitArena {
    private let base: UnsafeMutableRawPointer
    private let bytes: Int
    /// Where each TX slot's frame ends, for freeing it.
    private let ends: UnsafeMutablePointer<Int>
    private var head = 0
    private var tail = 0
    private var empty = true

    init(bytes: Int, slots: Int) {
        self.bytes = bytes
        base = .allocate(byteCount: bytes, alignment: 64)
        ends = .allocate(capacity: slots)
        ends.initialize(repeating: 0, count: slots)
    }

    func deallocate() {
        base.deallocate()
        ends.deallocate()
    }

    /// At least `count` contiguous free bytes, or nil. Frames start on 64-byte boundaries, so
    /// head and tail are multiples of 64. Free space is [head, end) and [0, tail) when head is at
    /// or past tail, else [head, tail) less 64 bytes, so that head never catches up with tail.
    mutating func reserve(_ count: Int) -> UnsafeMutableRawBufferPointer? {
        if empty { head = 0; tail = 0 }
        if head >= tail {
            if bytes - head >= count { return UnsafeMutableRawBufferPointer(start: base + head, count: bytes - head) }
            guard tail - 64 >= count else { return nil }
            head = 0  // the end's few bytes stay unused until tail passes them
        }
        let room = tail - head - 64
        guard room >= count else { return nil }
        return UnsafeMutableRawBufferPointer(start: base + head, count: room)
    }

    /// The frame of `length` bytes built at `start` (from `reserve`) is TX slot `slot`'s.
    mutating func use(_ length: Int, at start: UnsafeMutableRawPointer, slot: Int) {
        head = min(start - base + ((length + 63) & ~63), bytes)
        ends[slot] = head
        empty = false
    }

    /// The tender sent `slot`'s frame; `last`: it was the last one in flight.
    mutating func free(slot: Int, last: Bool) {
        tail = ends[slot]
        empty = last
    }
}
#endif
