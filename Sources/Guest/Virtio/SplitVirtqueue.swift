// A split virtqueue (virtio 1.x §2.7): descriptor table, available ring and used ring, in one
// block of memory the caller provides, followed by our own bookkeeping. No allocation after
// set-up. The device is not trusted: every used entry is checked against what is in flight.
import Synchronization

public final class SplitVirtqueue {
    /// Where each part lives in the block (byte offsets) and how big the block is.
    public struct Layout: Sendable {
        public let size: Int
        public var descriptors: Int { 0 }
        public var available: Int { 16 * size }                      // flags, idx, ring[size], used_event
        public var used: Int { (available + 6 + 2 * size + 3) & ~3 }  // flags, idx, ring[size]{id,len}, avail_event
        // Ours alone, never read by the device: what each descriptor holds, and the free list.
        var postedLengths: Int { (used + 6 + 8 * size + 3) & ~3 }     // UInt32 per descriptor, 0 = free
        var freeNext: Int { postedLengths + 4 * size }                // UInt16 per descriptor
        public var byteCount: Int { freeNext + 2 * size }
        public static let alignment = 16

        public init(size: Int) { self.size = size }
    }

    static let descriptorNext: UInt16 = 1
    static let descriptorWrite: UInt16 = 2
    static let availableNoInterrupt: UInt16 = 1
    static let usedNoNotify: UInt16 = 1
    public static let maximumSize = 32768

    public let number: UInt16
    public let size: UInt16
    public let layout: Layout
    /// VIRTIO_F_EVENT_IDX was negotiated: notifications in both directions go by index.
    public let eventIndex: Bool
    private let base: UnsafeMutableRawPointer
    private let postedLengths: UnsafeMutablePointer<UInt32>
    private let freeNext: UnsafeMutablePointer<UInt16>
    private let mask: UInt16
    private var freeHead: UInt16
    public private(set) var freeCount: Int
    /// The available index as we will publish it (entries are written ahead of the index).
    private var nextAvailable: UInt16 = 0
    /// The available index the device last heard about (at our last notification check).
    private var publishedAvailable: UInt16 = 0
    /// Used entries up to here have been taken.
    public private(set) var lastUsed: UInt16 = 0
    public let descriptorArea: UInt64
    public let driverArea: UInt64
    public let deviceArea: UInt64

    /// Sets up a queue of `size` entries in `memory` (at least `Layout(size:).byteCount` bytes,
    /// 16-byte aligned, which it zeroes). Refuses a size of 0, above 32768 or not a power of two.
    public init(number: UInt16, size: UInt16, memory: UnsafeMutableRawPointer, addressing: DeviceAddressing,
                eventIndex: Bool) throws(VirtioError) {
        guard size != 0, size & (size &- 1) == 0, Int(size) <= Self.maximumSize else {
            throw .badQueueSize(queue: number, size: size)
        }
        precondition(UInt(bitPattern: memory) % UInt(Layout.alignment) == 0, "virtqueue memory must be 16-byte aligned")
        self.number = number
        self.size = size
        self.layout = Layout(size: Int(size))
        self.eventIndex = eventIndex
        base = memory
        mask = size &- 1
        memory.initializeMemory(as: UInt8.self, repeating: 0, count: layout.byteCount)
        postedLengths = (memory + layout.postedLengths).bindMemory(to: UInt32.self, capacity: Int(size))
        freeNext = (memory + layout.freeNext).bindMemory(to: UInt16.self, capacity: Int(size))
        descriptorArea = addressing.deviceAddress(of: memory + layout.descriptors)
        driverArea = addressing.deviceAddress(of: memory + layout.available)
        deviceArea = addressing.deviceAddress(of: memory + layout.used)
        // Kept apart from the descriptors' `next` fields, which the device could overwrite.
        for index in 0..<Int(size) { freeNext[index] = UInt16(truncatingIfNeeded: index + 1) }
        freeHead = 0
        freeCount = Int(size)
    }

    // MARK: Descriptors

    /// Takes a descriptor off the free list; nil when all are in use.
    public func allocate() -> UInt16? {
        guard freeCount > 0 else { return nil }
        let id = freeHead
        freeHead = freeNext[Int(id)]
        freeCount -= 1
        return id
    }

    /// Gives back a descriptor the device has returned (or one allocated and never posted).
    public func release(_ id: UInt16) {
        precondition(id < size && postedLengths[Int(id)] == 0, "releasing a descriptor still in flight")
        freeNext[Int(id)] = freeHead
        freeHead = id
        freeCount += 1
    }

    /// Hands the device one buffer as descriptor `id` (allocated, not in flight). It becomes
    /// visible at the next `publish()`, so a batch costs one index update and at most one notify.
    public func post(_ id: UInt16, deviceAddress: UInt64, length: UInt32, deviceWritable: Bool) {
        precondition(id < size && postedLengths[Int(id)] == 0 && length > 0, "posting a descriptor in flight or empty")
        let descriptor = base + layout.descriptors + 16 * Int(id)
        descriptor.storeBytes(of: deviceAddress, toByteOffset: 0, as: UInt64.self)
        descriptor.storeBytes(of: length, toByteOffset: 8, as: UInt32.self)
        descriptor.storeBytes(of: deviceWritable ? Self.descriptorWrite : 0, toByteOffset: 12, as: UInt16.self)
        postedLengths[Int(id)] = length
        store16(id, at: layout.available + 4 + 2 * Int(nextAvailable & mask))
        nextAvailable &+= 1
    }

    /// One part of a request: where it is, how long, and whether the device writes it.
    public struct Buffer {
        public var deviceAddress: UInt64
        public var length: UInt32
        public var deviceWritable: Bool
        public init(deviceAddress: UInt64, length: UInt32, deviceWritable: Bool) {
            self.deviceAddress = deviceAddress
            self.length = length
            self.deviceWritable = deviceWritable
        }
    }

    /// Hands the device one request made of several buffers, device-readable ones first (virtio
    /// 1.x §2.7.4.2), as a descriptor chain; visible at the next `publish()`. Returns the head
    /// the device will name in its used entry, or nil (nothing posted) when too few descriptors
    /// are free. The device returns the chain whole: give it back with `releaseChain`.
    public func postChain(_ buffers: [Buffer]) -> UInt16? {
        precondition(!buffers.isEmpty && buffers.allSatisfy { $0.length > 0 && $0.length < Self.chainMember },
                     "posting an empty chain or buffer")
        guard buffers.count <= freeCount else { return nil }
        var ids: [UInt16] = []
        for _ in buffers { ids.append(allocate()!) }
        var total: UInt32 = 0
        for (position, buffer) in buffers.enumerated() {
            let id = ids[position]
            let descriptor = base + layout.descriptors + 16 * Int(id)
            let last = position == buffers.count - 1
            descriptor.storeBytes(of: buffer.deviceAddress, toByteOffset: 0, as: UInt64.self)
            descriptor.storeBytes(of: buffer.length, toByteOffset: 8, as: UInt32.self)
            let flags = (buffer.deviceWritable ? Self.descriptorWrite : 0) | (last ? 0 : Self.descriptorNext)
            descriptor.storeBytes(of: flags, toByteOffset: 12, as: UInt16.self)
            descriptor.storeBytes(of: last ? 0 : ids[position + 1], toByteOffset: 14, as: UInt16.self)
            // The chain as we built it, kept apart from the descriptors the device could rewrite.
            freeNext[Int(id)] = last ? id : ids[position + 1]
            if position > 0 { postedLengths[Int(id)] = Self.chainMember | buffer.length }
            total += buffer.deviceWritable ? buffer.length : 0
        }
        // The head's posted length bounds what the device may say it wrote (at least 1: in flight).
        postedLengths[Int(ids[0])] = max(total, 1)
        store16(ids[0], at: layout.available + 4 + 2 * Int(nextAvailable & mask))
        nextAvailable &+= 1
        return ids[0]
    }

    /// Gives back every descriptor of a chain the device returned (its head from `nextUsed`).
    public func releaseChain(_ head: UInt16) {
        precondition(head < size && postedLengths[Int(head)] == 0, "releasing a chain still in flight")
        var id = head
        while true {
            let next = freeNext[Int(id)]
            postedLengths[Int(id)] = 0
            release(id)
            guard next != id, postedLengths[Int(next)] & Self.chainMember != 0 else { return }
            id = next
        }
    }

    /// Marks a chain's non-head descriptors in their posted length: a used entry naming one is
    /// refused, as the device may only name heads.
    static let chainMember: UInt32 = 1 << 31

    public var inFlight: Int { Int(size) - freeCount }

    // MARK: Driver → device

    /// Makes the posted buffers visible and says whether the device must be notified: with
    /// EVENT_IDX only if its avail_event lies in the range just published, else unless it set
    /// VIRTQ_USED_F_NO_NOTIFY. A device that is busy anyway is not interrupted.
    public func publish() -> Bool {
        guard nextAvailable != publishedAvailable else { return false }
        atomicMemoryFence(ordering: .releasing)   // ring entries and descriptors before the index
        store16(nextAvailable, at: layout.available + 2)
        // The device's event index (or flags) must be read after our index store is visible.
        atomicMemoryFence(ordering: .sequentiallyConsistent)
        let old = publishedAvailable
        publishedAvailable = nextAvailable
        if eventIndex {
            let event = load16(at: layout.used + 4 + 8 * Int(size))
            return Self.needsEvent(event: event, new: nextAvailable, old: old)
        }
        return load16(at: layout.used) & Self.usedNoNotify == 0
    }

    /// virtio 1.x §2.7.10: notify iff `event` lies in (old, new]: the other side asked to hear
    /// about the entry at `event` and we moved past it. Wraps with the 16-bit indices.
    public static func needsEvent(event: UInt16, new: UInt16, old: UInt16) -> Bool {
        new &- event &- 1 < new &- old
    }

    // MARK: Device → driver

    /// The next buffer the device returned (descriptor and bytes written), or nil. A used entry
    /// that names a descriptor not in flight, or claims more bytes than it had, is refused.
    public func nextUsed() throws(VirtioError) -> (id: UInt16, length: UInt32)? {
        let usedIndex = load16(at: layout.used + 2)
        guard usedIndex != lastUsed else { return nil }
        guard usedIndex &- lastUsed <= size else {
            throw .usedIndexRunaway(queue: number, used: usedIndex, seen: lastUsed)
        }
        atomicMemoryFence(ordering: .acquiring)   // the entry after the index that covers it
        let entry = layout.used + 4 + 8 * Int(lastUsed & mask)
        let id = load32(at: entry)
        let length = load32(at: entry + 4)
        guard id < UInt32(size), postedLengths[Int(id)] != 0, postedLengths[Int(id)] & Self.chainMember == 0,
              length <= postedLengths[Int(id)] else {
            throw .badUsedEntry(queue: number, descriptor: id, length: length)
        }
        postedLengths[Int(id)] = 0
        lastUsed &+= 1
        return (UInt16(id), length)
    }

    /// Whether the device has returned buffers we have not taken.
    public var hasUsed: Bool { load16(at: layout.used + 2) != lastUsed }

    /// Asks for an interrupt when the device returns the next buffer. Returns true if buffers
    /// are already waiting (then no interrupt may come for them: do not sleep).
    public func enableInterrupts() -> Bool {
        if eventIndex {
            store16(lastUsed, at: layout.available + 4 + 2 * Int(size))
        } else {
            store16(0, at: layout.available)
        }
        atomicMemoryFence(ordering: .sequentiallyConsistent)
        return hasUsed
    }

    /// Asks for no interrupts: with EVENT_IDX, used_event is left one queue-wrap away.
    public func disableInterrupts() {
        if eventIndex {
            store16(lastUsed &- 1, at: layout.available + 4 + 2 * Int(size))
        } else {
            store16(Self.availableNoInterrupt, at: layout.available)
        }
    }

    // MARK: Memory the device shares

    private func load16(at offset: Int) -> UInt16 {
        DeviceMemory.load(UInt16.self, at: UInt(bitPattern: base + offset))
    }
    private func load32(at offset: Int) -> UInt32 {
        DeviceMemory.load(UInt32.self, at: UInt(bitPattern: base + offset))
    }
    private func store16(_ value: UInt16, at offset: Int) {
        DeviceMemory.store(value, at: UInt(bitPattern: base + offset))
    }
}
