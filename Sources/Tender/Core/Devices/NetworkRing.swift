// One device's exitless rings (ABI 4, swiftlet_abi.h "Exitless network rings"): the RX and TX
// rings in guest memory, served by the tender's I/O thread (NetworkRings) while the guest runs.
// The guest is hostile and runs at the same time: every slot is read once into the tender's
// memory, the copy is checked and only the copy is used; an index out of range or a frame the
// ABI refuses stops the rings with a RingFault.
import SwiftletABI

/// Why the tender stopped serving a device's rings; the guest is ended with this message.
public struct RingFault: Error, Equatable, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

public final class NetworkRing {
    public let handle: Int
    public let device: NetworkDevice
    public let size: UInt32
    private let memory: GuestMemory
    /// The checked ring area: struct swiftlet_net_rings, then rx[size], then tx[size].
    private let rings: UnsafeMutablePointer<swiftlet_net_rings>
    private let rxSlots: GuestAddress
    private let txSlots: GuestAddress
    /// The tender's own indices: the copies in guest memory are only ever written from these.
    private var rxProduced: UInt32 = 0
    private var txConsumed: UInt32 = 0

    static let slotSize = UInt64(MemoryLayout<swiftlet_frame>.stride)
    static let headerSize = UInt64(MemoryLayout<swiftlet_net_rings>.stride)
    static let alignment: UInt64 = 64

    /// NET_ATTACH_RINGS's checks: a power-of-two size up to SWIFTLET_NET_RING_SIZE_MAX and the
    /// whole area 64-byte aligned in guest-writable memory. Zeroes every index.
    init(handle: Int, device: NetworkDevice, request: swiftlet_hc_net_attach_rings, memory: GuestMemory) throws(RingFault) {
        let size = request.size
        guard size >= 1, size <= SWIFTLET_NET_RING_SIZE_MAX, size & (size - 1) == 0 else {
            throw RingFault(message: "ring size \(size) is not a power of two in 1...\(SWIFTLET_NET_RING_SIZE_MAX)")
        }
        guard request.rings % Self.alignment == 0 else {
            throw RingFault(message: "rings at \(hex(request.rings)) are not 64-byte aligned")
        }
        let bytes = Self.headerSize + 2 * UInt64(size) * Self.slotSize
        let area: UnsafeMutableRawBufferPointer
        do { area = try memory.writableBytes(at: GuestAddress(raw: request.rings), count: bytes) } catch {
            throw RingFault(message: "rings refused: \(error)")
        }
        self.handle = handle
        self.device = device
        self.size = size
        self.memory = memory
        rings = area.baseAddress!.bindMemory(to: swiftlet_net_rings.self, capacity: 1)
        rxSlots = GuestAddress(raw: request.rings + Self.headerSize)
        txSlots = GuestAddress(raw: request.rings + Self.headerSize + UInt64(size) * Self.slotSize)
        swiftlet_ring_store(&rings.pointee.rx_produced, 0)
        swiftlet_ring_store(&rings.pointee.tx_consumed, 0)
        swiftlet_ring_store(&rings.pointee.tender_waits, 0)
        swiftlet_ring_store(&rings.pointee.rx_consumed, 0)
        swiftlet_ring_store(&rings.pointee.tx_produced, 0)
    }

    /// One pass: sends every frame the guest queued, then fills posted RX slots while the
    /// backend has frames. Returns whether anything moved.
    func serve() throws(RingFault) -> Bool {
        let sent = try sendQueued()
        let received = try receiveWaiting()
        return sent || received
    }

    private func sendQueued() throws(RingFault) -> Bool {
        let produced = swiftlet_ring_load(&rings.pointee.tx_produced)
        let queued = produced &- txConsumed
        guard queued <= size else {
            throw fault("tx_produced \(produced) is \(queued) slots ahead of tx_consumed \(txConsumed) (ring size \(size))")
        }
        for _ in 0..<queued {
            let slot = txConsumed & (size - 1)
            let descriptor = try load(txSlots, slot: slot)
            let accepted: Bool
            do { accepted = try device.send(descriptor, memory: memory) } catch {
                throw fault("TX slot \(slot): \(error)")
            }
            guard accepted else {
                throw fault("TX slot \(slot): a frame of \(descriptor.length) bytes (gso_type \(descriptor.offload.gso_type), flags \(descriptor.offload.flags)) that NET_WRITE's rules refuse")
            }
            txConsumed &+= 1
            swiftlet_ring_store(&rings.pointee.tx_consumed, txConsumed)
        }
        return queued > 0
    }

    private func receiveWaiting() throws(RingFault) -> Bool {
        var room = try rxRoom()
        var moved = false
        while room > 0 && !device.backend.isClosed {
            let slot = rxProduced & (size - 1)
            let posted = try load(rxSlots, slot: slot)
            let filled: swiftlet_frame?
            do { filled = try device.receive(into: posted, memory: memory) } catch {
                throw fault("RX slot \(slot): \(error)")
            }
            guard let filled else { break }
            // The checked copy goes back whole: whatever the guest wrote meanwhile is replaced.
            do { try memory.store(filled, at: address(rxSlots, slot: slot)) } catch { throw fault("RX slot \(slot): \(error)") }
            rxProduced &+= 1
            swiftlet_ring_store(&rings.pointee.rx_produced, rxProduced)
            room -= 1
            moved = true
        }
        return moved
    }

    /// Free RX slots: the guest's rx_consumed may trail rx_produced by at most `size`.
    func rxRoom() throws(RingFault) -> UInt32 {
        let consumed = swiftlet_ring_load(&rings.pointee.rx_consumed)
        let held = rxProduced &- consumed
        guard held <= size else {
            throw fault("rx_consumed \(consumed) is not within \(size) slots behind rx_produced \(rxProduced)")
        }
        return size - held
    }

    /// The guest queued frames not sent yet.
    var hasQueuedFrames: Bool { swiftlet_ring_load(&rings.pointee.tx_produced) != txConsumed }

    /// Frames the guest has not taken yet (read by the vCPU thread for POLL, from guest memory:
    /// a guest that scribbles on the indices only misleads its own wait).
    var hasReceivedFrames: Bool {
        swiftlet_ring_load(&rings.pointee.rx_produced) != swiftlet_ring_load(&rings.pointee.rx_consumed)
    }

    /// Tells the guest which progress of its should kick the sleeping I/O thread (0: none).
    func setWaits(_ waits: UInt32) { swiftlet_ring_store(&rings.pointee.tender_waits, waits) }

    private func address(_ slots: GuestAddress, slot: UInt32) -> GuestAddress {
        GuestAddress(raw: slots.raw + UInt64(slot) * Self.slotSize)
    }

    /// The one read of a slot.
    private func load(_ slots: GuestAddress, slot: UInt32) throws(RingFault) -> swiftlet_frame {
        do { return try memory.load(swiftlet_frame.self, at: address(slots, slot: slot)) } catch {
            throw fault("slot \(slot): \(error)")
        }
    }

    private func fault(_ what: String) -> RingFault {
        RingFault(message: "network device \(handle) (\(device.name)) rings: \(what)")
    }
}
