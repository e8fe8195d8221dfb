// The hypercall fuzzer's guest: a hostile guest whose every hypercall is drawn from a seed.
// `HypercallGuest seed=N [calls=N] [trace]` issues up to `calls` hypercalls with random numbers,
// lengths, counts and pointers — into its own scratch heap, the stack, its .bss, text, read-only
// data, boot info, the argument block, the guard page, the hvt system area, the hypercall page,
// below guest memory, past its end, straddling its end, huge and non-canonical addresses,
// misaligned and overlapping one another — then exits 0 after printing `hypercall-fuzz: done`.
//
// It is also an oracle for one rule the tender must keep: it never writes where the guest
// itself may not. Every hypercall stores its struct back, NET_READ stores descriptors and
// frames, and BLOCK_READ and BLOCK_BATCH (with a disk, which the harness gives a third of the
// seeds) read the disk into buffers and store results into the batch's array; when such a call *returns* after the tender wrote into a range that is not
// guest-writable (text, read-only data, boot info, the guard page), the guest prints
// `hypercall-fuzz: VIOLATION ...` and exits 3. A refusal ends the guest with a crash report.
// The harness that runs it per seed and judges the tender: Tests/Fuzz/hypercall.py.
import Swiftlet
import SwiftletABI

/// The whole run follows from the seed of the library's SplitMix64.
typealias Random = SplitMix64

extension Random {
    mutating func below(_ bound: UInt64) -> UInt64 { bound == 0 ? 0 : next() % bound }
    mutating func percent(_ chance: UInt64) -> Bool { below(100) < chance }
    mutating func pick<T>(_ choices: [T]) -> T { choices[Int(below(UInt64(choices.count)))] }

    /// A length: mostly small or frame-sized, sometimes right at or past a limit, sometimes any.
    mutating func length(typical: UInt64) -> UInt64 {
        switch below(10) {
        case 0...4: return below(typical + 1)
        case 5...7: return below(64)
        case 8: return pick([0, 1, 13, 14, 15, 1513, 1514, 1515, 4095, 4096, 65535, 65536, 65537,
                             0xFFFF_FFFF, 0x1_0000_0000, 1 << 63, UInt64.max])
        default: return next() >> below(64)
        }
    }
}

func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }

/// Where a pointer may point, and whether the guest itself may write or read there.
enum Region: CaseIterable {
    case scratch, stackBottom, bss                       // guest-writable, unused by anything else
    case text, rodata, bootInfo, argumentBlock           // readable, not writable
    // (Not the last page of RAM: the guest may write it, so the tender rightly does, but the
    // heap keeps its sentinel there; straddlingEnd covers the end of memory.)
    case guardPage, systemArea, hypercallPage, belowBase, pastEnd, straddlingEnd, stackIntoBootInfo, huge, nonCanonical

    static let writable: [Region] = [.scratch, .stackBottom, .bss]
}

/// The guest's address space as this guest sees it, and the oracle for "guest-writable".
struct AddressSpace {
    let base = SWIFTLET_GUEST_BASE
    let memorySize: UInt64
    let heapStart: UInt64
    let heapEnd: UInt64
    let argumentBlock: UInt64
    let text: UInt64
    let rodata: UInt64
    let bss: UInt64
    let bssSize: UInt64
    let scratch: UInt64
    let scratchSize: UInt64
    /// The bottom half of the stack: far below anything the guest's few frames use (about
    /// 15 KB at the top). It once spanned 256 KiB, which became the whole stack when ABI 3
    /// shrank it to 252 KiB: a BLOCK_READ there then overwrote this guest's own live frames
    /// (seeds 6 on hvt and 18 on spt, once ABI 4's numbers moved the sequences onto it).
    var stackBottom: UInt64 { base + SWIFTLET_STACK_BOTTOM }
    let stackBottomSize: UInt64 = (SWIFTLET_STACK_TOP - SWIFTLET_STACK_BOTTOM) / 2

    /// A `length`-byte range in `region` (as far as it fits; some regions are meant not to).
    func address(in region: Region, length: UInt64, _ random: inout Random) -> UInt64 {
        func inside(_ start: UInt64, _ size: UInt64) -> UInt64 {
            start &+ (length < size ? random.below(size - length + 1) : 0)
        }
        switch region {
        case .scratch: return inside(scratch, scratchSize)
        case .stackBottom: return inside(stackBottom, stackBottomSize)
        case .bss: return inside(bss, bssSize)
        case .text: return inside(text, 0x2000)
        case .rodata: return inside(rodata, 0x200)
        case .bootInfo: return inside(base + SWIFTLET_BOOTINFO_OFFSET, 0x1000)
        case .argumentBlock: return inside(argumentBlock, 0x40)
        case .guardPage: return inside(base, 0x1000)
        case .systemArea: return inside(0x10_0000, 0x10_0000)        // hvt: page tables, GDT, IDT, TSS
        case .hypercallPage: return inside(UInt64(SWIFTLET_HVT_HYPERCALL_PAGE), 0x1000)
        case .belowBase: return random.percent(50) ? random.below(0x1000) : base &- 1 &- random.below(0x100)
        case .pastEnd: return base + memorySize + random.below(0x10000)
        case .straddlingEnd: return base + memorySize - 1 - random.below(max(length, 1))
        case .stackIntoBootInfo: return base + SWIFTLET_STACK_TOP - 1 - random.below(max(length, 1))
        case .huge: return UInt64.max &- random.below(0x10000)
        case .nonCanonical: return 0x8000_0000_0000_0000 | random.next()
        }
    }

    /// A region for a buffer: one the guest may write, or with `hostility` % chance any at all.
    func region(_ random: inout Random, hostility: UInt64) -> Region {
        random.percent(hostility) ? random.pick(Region.allCases) : random.pick(Region.writable)
    }

    /// `address`, or a scratch address if [address, address + length) would leave scratch
    /// (overlaps are aimed at scratch; the heap around it belongs to the guest's runtime).
    func clampedToScratch(_ address: UInt64, _ length: UInt64) -> UInt64 {
        let (end, wrapped) = address.addingReportingOverflow(length)
        return !wrapped && address >= scratch && end <= scratch + scratchSize ? address : scratch
    }

    /// Whether the guest itself may write every byte of [address, address + length).
    func isGuestWritable(_ address: UInt64, _ length: UInt64) -> Bool {
        let (end, wrapped) = address.addingReportingOverflow(length)
        if wrapped { return false }
        let stack = (base + SWIFTLET_STACK_BOTTOM, base + SWIFTLET_STACK_TOP)
        let dataAndHeap = (bss, heapEnd)   // from our .bss buffer up: .bss, then the heap
        return (address >= stack.0 && end <= stack.1) || (address >= dataAndHeap.0 && end <= dataAndHeap.1)
    }

    /// Whether the guest can read [address, address + length) (to see what the tender will see).
    func isGuestReadable(_ address: UInt64, _ length: UInt64) -> Bool {
        let (end, wrapped) = address.addingReportingOverflow(length)
        return !wrapped && address >= base + SWIFTLET_STACK_BOTTOM && end <= base + memorySize
    }
}

/// Issues hypercalls the way each target does, and the malformed ways only hvt has.
struct Transport {
    let sptEntry: UInt64

    func call(_ number: UInt32, _ argument: UInt64) {
        if sptEntry != 0 { swiftlet_spt_hypercall(sptEntry, number, argument) } else { swiftlet_hvt_hypercall(number, argument) }
    }

    /// hvt only: a store of the wrong width, at a misaligned slot, past the last hypercall, or a load.
    func malformed(_ random: inout Random, argument: UInt64) {
        let page = UInt64(SWIFTLET_HVT_HYPERCALL_PAGE)
        let slot = page + random.below(0x1000)
        switch random.below(4) {
        case 0: UnsafeMutablePointer<UInt8>(bitPattern: UInt(slot))!.pointee = UInt8(truncatingIfNeeded: argument)
        case 1: UnsafeMutablePointer<UInt16>(bitPattern: UInt(slot & ~1))!.pointee = UInt16(truncatingIfNeeded: argument)
        case 2: UnsafeMutablePointer<UInt32>(bitPattern: UInt(slot & ~3))!.pointee = UInt32(truncatingIfNeeded: argument)
        default: sink &+= UnsafeMutablePointer<UInt64>(bitPattern: UInt(slot & ~7))!.pointee
        }
    }
}

nonisolated(unsafe) var sink: UInt64 = 0
/// A buffer in .bss that nothing else uses: guest-writable data inside the image.
nonisolated(unsafe) var bssBuffer = InlineArray<2048, UInt64>(repeating: 0)

struct Fuzzer {
    var random: Random
    let space: AddressSpace
    let transport: Transport
    let trace: Bool
    /// Percent of pointers and numbers drawn from anywhere rather than from what a correct
    /// guest would pass: low for seeds that get deep into a run, high for quick refusals.
    let hostility: UInt64
    /// Sleep asked for so far (each POLL's timeout counts up to the tender's 1 s cap): bounded,
    /// so a seed takes at most a couple of seconds.
    var sleptNanoseconds: UInt64 = 0

    func store<T>(_ value: T, at address: UInt64) {
        UnsafeMutableRawPointer(bitPattern: UInt(address))!.storeBytes(of: value, as: T.self)
    }

    func load<T>(_ type: T.Type, at address: UInt64) -> T {
        UnsafeRawPointer(bitPattern: UInt(address))!.loadUnaligned(as: T.self)
    }

    /// Where the hypercall's struct goes: mostly in scratch (then we fill it), sometimes anywhere
    /// (then the tender reads whatever is there and must refuse to write it back if it may not).
    mutating func requestAddress(size: Int) -> (address: UInt64, filled: Bool) {
        let region = random.percent(hostility) ? random.pick(Region.allCases) : Region.scratch
        var address = space.address(in: region, length: UInt64(size), &random)
        if region == .scratch && !random.percent(hostility + 10) { address &= ~7 }   // otherwise misaligned
        return (address, space.isGuestWritable(address, UInt64(size)))
    }

    mutating func timeout() -> UInt64 {
        let wanted: UInt64
        switch random.below(20) {
        case 0...9: wanted = 0
        case 10...16: wanted = random.below(2_000_000)
        case 17, 18: wanted = random.below(50_000_000)
        default: wanted = random.pick([999_999_999, 1_000_000_000, 1_000_000_001, UInt64(Int64.max), UInt64.max])
        }
        if sleptNanoseconds > 1_500_000_000 { return 0 }
        sleptNanoseconds += min(wanted, 1_000_000_000)
        return wanted
    }

    /// One block request: mostly whole blocks inside a 1 MiB disk from a buffer in scratch (so
    /// batches get through and move bytes), otherwise any op, offset, length and pointer.
    mutating func blockRequest(op: UInt32) -> swiftlet_block_request {
        if random.percent(hostility + 20) {
            let length = random.length(typical: 4096)
            return swiftlet_block_request(op: random.percent(10) ? random.pick([0, 4, UInt32.max]) : op, result: -1,
                                          offset: random.length(typical: 1 << 20),
                                          data: space.address(in: space.region(&random, hostility: hostility), length: length, &random),
                                          length: length)
        }
        let length = (1 + random.below(16)) * 512
        let data = space.address(in: .scratch, length: length, &random)
        return swiftlet_block_request(op: op, result: -1, offset: random.below((1 << 20) / 512 - 16) * 512, data: data, length: length)
    }

    /// The array of a BLOCK_BATCH (`count` entries, at most one past the limit are written):
    /// its address, and how many requests were written in it when the guest could write there.
    mutating func blockBatchArray(count: UInt32, near request: UInt64) -> (UInt64, Int?) {
        let entries = Int(min(count, SWIFTLET_BLOCK_BATCH_MAX + 1))
        let size = UInt64(entries * MemoryLayout<swiftlet_block_request>.stride)
        let array = random.percent(10)
            ? space.clampedToScratch(request &+ random.below(64) &- 32, size)   // overlapping the batch struct
            : space.address(in: space.region(&random, hostility: hostility), length: size, &random)
        guard space.isGuestWritable(array, size) else { return (array, nil) }
        for index in 0..<entries {
            let op = random.pick([SWIFTLET_BLOCK_OP_READ, SWIFTLET_BLOCK_OP_WRITE, SWIFTLET_BLOCK_OP_WRITE, SWIFTLET_BLOCK_OP_FLUSH]).rawValue
            store(blockRequest(op: op), at: array + UInt64(index * MemoryLayout<swiftlet_block_request>.stride))
        }
        return (array, entries)
    }

    /// A table of `count` frame descriptors (count may be past the batch limit: then the table
    /// is only as long as fits, the tender must refuse it anyway). Returns its address.
    mutating func frameTable(count: UInt32, reading: Bool, near request: UInt64) -> UInt64 {
        let entries = Int(min(count, SWIFTLET_NET_BATCH_MAX + 1))
        let size = UInt64(entries * MemoryLayout<swiftlet_frame>.stride)
        var table: UInt64
        if random.percent(10) {
            table = space.clampedToScratch(request &+ random.below(64) &- 32, size)   // overlapping the request struct
        } else {
            table = space.address(in: space.region(&random, hostility: hostility), length: size, &random)
        }
        if space.isGuestWritable(table, size) {
            for index in 0..<entries {
                // Mostly frames a correct guest would pass (so batches get through and fill the
                // link), else any length.
                let plausible = !random.percent(2 * hostility + 5)
                let capacity = UInt32(truncatingIfNeeded: plausible ? 1514 : random.length(typical: 1514))
                let length = reading ? 0 : UInt32(truncatingIfNeeded: plausible ? 14 + random.below(1501) : random.length(typical: 1514))
                let byteCount = UInt64(reading ? capacity : length)
                var data: UInt64
                if random.percent(10) {
                    data = space.clampedToScratch(table &+ random.below(size + 64), byteCount)   // overlapping the table
                } else {
                    data = space.address(in: space.region(&random, hostility: hostility), length: byteCount, &random)
                }
                if random.percent(5) { data &+= random.below(8) }
                store(swiftlet_frame(data: data, length: length, capacity: capacity, offload: .init()),
                      at: table + UInt64(index * MemoryLayout<swiftlet_frame>.stride))
            }
        }
        return table
    }

    /// The descriptors of `request` as the tender will read them (nil where the guest cannot
    /// read them itself). Taken just before the call: the table may overlap the request struct.
    func descriptors(of request: swiftlet_hc_net) -> [swiftlet_frame]? {
        let entries = Int(min(request.count, SWIFTLET_NET_BATCH_MAX))
        let entry = MemoryLayout<swiftlet_frame>.stride
        guard space.isGuestReadable(request.frames, UInt64(entries * entry)) else { return nil }
        return (0..<entries).map { load(swiftlet_frame.self, at: request.frames + UInt64($0 * entry)) }
    }

    mutating func netRequest(reading: Bool, near request: UInt64) -> swiftlet_hc_net {
        let count: UInt32 = random.percent(90) ? UInt32(random.below(UInt64(SWIFTLET_NET_BATCH_MAX) + 2))
                                               : random.pick([65, 1000, UInt32.max])
        let table = frameTable(count: count, reading: reading, near: request)
        let handle: UInt32 = random.percent(90) ? UInt32(random.below(2)) : random.pick([8, 63, 64, 65, UInt32.max])
        return swiftlet_hc_net(handle: handle, count: count, frames: table,
                               completed: UInt32(truncatingIfNeeded: random.next()), result: -1)
    }

    /// After a NET_READ returned: did the tender store a descriptor or a frame where it may not?
    func checkRead(_ request: swiftlet_hc_net, _ descriptors: [swiftlet_frame]?) -> String? {
        let filled = Int(min(request.completed, request.count, SWIFTLET_NET_BATCH_MAX))
        guard filled > 0 else { return nil }
        let entry = UInt64(MemoryLayout<swiftlet_frame>.stride)
        if !space.isGuestWritable(request.frames, UInt64(filled) * entry) {
            return "NET_READ stored \(filled) descriptors at \(hex(request.frames)), which the guest may not write"
        }
        guard let descriptors else { return nil }
        for descriptor in descriptors.prefix(filled) where descriptor.capacity > 0 {
            if !space.isGuestWritable(descriptor.data, UInt64(descriptor.capacity)) {
                return "NET_READ filled a frame buffer at \(hex(descriptor.data)) (capacity \(descriptor.capacity)), which the guest may not write"
            }
        }
        return nil
    }

    /// One random hypercall. Returns a violation if the tender wrote where it must not and came back.
    mutating func step(_ index: Int) -> String? {
        var number = UInt32(1 + random.below(UInt64(SWIFTLET_HC_MAX.rawValue)))
        if random.percent(hostility / 4) { number = random.pick([0, UInt32(SWIFTLET_HC_MAX.rawValue) + 1, 64, 0x8000_0000, UInt32.max]) }
        if number == SWIFTLET_HC_HALT.rawValue && !random.percent(2 + hostility) { number = SWIFTLET_HC_NET_EXCHANGE.rawValue }
        if transport.sptEntry == 0 && random.percent(hostility / 8) {
            if trace { print("#\(index) malformed hvt hypercall store") }
            transport.malformed(&random, argument: space.scratch)
            return "a malformed hypercall store (wrong width, misaligned or a load) was let through"
        }
        let size: Int
        switch swiftlet_hypercall(rawValue: number) {
        case SWIFTLET_HC_WALLTIME, SWIFTLET_HC_MONOTONIC: size = MemoryLayout<swiftlet_hc_time>.size
        case SWIFTLET_HC_CONSOLE: size = MemoryLayout<swiftlet_hc_console>.size
        case SWIFTLET_HC_POLL: size = MemoryLayout<swiftlet_hc_poll>.size
        case SWIFTLET_HC_NET_READ, SWIFTLET_HC_NET_WRITE: size = MemoryLayout<swiftlet_hc_net>.size
        case SWIFTLET_HC_NET_EXCHANGE: size = MemoryLayout<swiftlet_hc_net_exchange>.size
        case SWIFTLET_HC_BLOCK_READ, SWIFTLET_HC_BLOCK_WRITE, SWIFTLET_HC_BLOCK_FLUSH: size = MemoryLayout<swiftlet_hc_block>.size
        case SWIFTLET_HC_BLOCK_BATCH: size = MemoryLayout<swiftlet_hc_block_batch>.size
        case SWIFTLET_HC_HALT: size = MemoryLayout<swiftlet_hc_halt>.size
        case SWIFTLET_HC_NET_CONFIGURE: size = MemoryLayout<swiftlet_hc_net_configure>.size
        case SWIFTLET_HC_NET_ATTACH_RINGS: size = MemoryLayout<swiftlet_hc_net_attach_rings>.size
        default: size = 8
        }
        let (request, filled) = requestAddress(size: size)
        var read: swiftlet_hc_net? = nil
        var blockRead: swiftlet_hc_block? = nil
        var batch: [swiftlet_block_request]? = nil
        if filled {
            switch swiftlet_hypercall(rawValue: number) {
            case SWIFTLET_HC_CONSOLE:
                let length = random.length(typical: 256)
                store(swiftlet_hc_console(data: space.address(in: space.region(&random, hostility: hostility), length: length, &random),
                                          length: length, result: -1, _pad: 0), at: request)
            case SWIFTLET_HC_POLL:
                store(swiftlet_hc_poll(timeout: timeout(), ready_set: random.next()), at: request)
            case SWIFTLET_HC_NET_WRITE, SWIFTLET_HC_NET_READ:
                let reading = number == SWIFTLET_HC_NET_READ.rawValue
                let net = netRequest(reading: reading, near: request)
                store(net, at: request)
                if reading { read = net }
            case SWIFTLET_HC_NET_EXCHANGE:
                let write = netRequest(reading: false, near: request)
                let net = netRequest(reading: true, near: request)
                store(swiftlet_hc_net_exchange(write: write, read: net, timeout: timeout(), ready_set: random.next()), at: request)
                read = net
            case SWIFTLET_HC_BLOCK_READ, SWIFTLET_HC_BLOCK_WRITE, SWIFTLET_HC_BLOCK_FLUSH:
                let one = blockRequest(op: SWIFTLET_BLOCK_OP_READ.rawValue)
                let single = swiftlet_hc_block(handle: UInt32(random.below(3)), _pad: 0, offset: one.offset, data: one.data,
                                               length: one.length, result: -1, _pad2: 0)
                store(single, at: request)
                if number == SWIFTLET_HC_BLOCK_READ.rawValue { blockRead = single }
            case SWIFTLET_HC_BLOCK_BATCH:
                let count: UInt32 = random.percent(hostility / 2)
                    ? random.pick([0, SWIFTLET_BLOCK_BATCH_MAX + 1, 1000, UInt32.max])
                    : 1 + UInt32(random.below(UInt64(SWIFTLET_BLOCK_BATCH_MAX)))
                let (array, entries) = blockBatchArray(count: count, near: request)
                store(swiftlet_hc_block_batch(handle: UInt32(random.below(3)), count: count, requests: array, completed: 0, result: -1), at: request)
                // What the tender will see: the batch struct, stored last, may overlap the array.
                batch = entries.map { entries in
                    (0..<entries).map { load(swiftlet_block_request.self, at: array + UInt64($0 * MemoryLayout<swiftlet_block_request>.stride)) }
                }
            case SWIFTLET_HC_HALT:
                store(haltRequest(near: request), at: request)
                print("\nhypercall-fuzz: halt")
            case SWIFTLET_HC_NET_CONFIGURE:
                let features = random.percent(50) ? SWIFTLET_NET_F_OFFLOAD : UInt32(truncatingIfNeeded: random.next())
                store(swiftlet_hc_net_configure(handle: UInt32(random.below(3)), features: features, result: -1, _pad: 0), at: request)
            case SWIFTLET_HC_NET_ATTACH_RINGS:
                let slots = random.pick([1, 4, 64, SWIFTLET_NET_RING_SIZE_MAX, 0, 3, SWIFTLET_NET_RING_SIZE_MAX * 2, UInt32.max])
                let rings = space.address(in: space.region(&random, hostility: hostility), length: 4096, &random)
                store(swiftlet_hc_net_attach_rings(handle: UInt32(random.below(3)), size: slots, rings: rings, result: -1, spin_us: 0), at: request)
            default:
                break
            }
        }
        let readDescriptors = read.flatMap(descriptors(of:))
        if trace { print("#\(index) hypercall \(number) at \(hex(request))\(filled ? "" : " (not guest-writable)")") }
        transport.call(number, request)
        // NET_KICK is a doorbell: what was stored is not a request, and nothing is stored back.
        if number == SWIFTLET_HC_NET_KICK.rawValue { return nil }
        // Back in the guest: the tender served the call and stored its struct.
        if !space.isGuestWritable(request, UInt64(size)) {
            return "hypercall \(number) returned after the tender stored its result at \(hex(request)), which the guest may not write"
        }
        if number == SWIFTLET_HC_HALT.rawValue { return "HALT returned" }
        if number == 0 || number > SWIFTLET_HC_MAX.rawValue { return "unknown hypercall \(number) returned" }
        if let blockRead, load(swiftlet_hc_block.self, at: request).result == 0,
           !space.isGuestWritable(blockRead.data, blockRead.length) {
            return "BLOCK_READ succeeded into \(hex(blockRead.data))+\(hex(blockRead.length)), which the guest may not write"
        }
        if let batch {
            let answer = load(swiftlet_hc_block_batch.self, at: request)
            if answer.result == 0, answer.count > 0, !space.isGuestWritable(answer.requests, UInt64(answer.count) * UInt64(MemoryLayout<swiftlet_block_request>.stride)) {
                return "BLOCK_BATCH succeeded with its array at \(hex(answer.requests)), which the guest may not write"
            }
            for request in batch where request.op == SWIFTLET_BLOCK_OP_READ.rawValue && answer.result == 0 {
                if !space.isGuestWritable(request.data, request.length) {
                    return "BLOCK_BATCH read into \(hex(request.data))+\(hex(request.length)), which the guest may not write"
                }
            }
        }
        guard var read else { return nil }
        // The tender's answer is in the struct: judge the read by what it says it filled.
        read.completed = number == SWIFTLET_HC_NET_EXCHANGE.rawValue
            ? load(swiftlet_hc_net_exchange.self, at: request).read.completed
            : load(swiftlet_hc_net.self, at: request).completed
        return checkRead(read, readDescriptors)
    }

    /// HALT with a status in or out of 0...254 and, sometimes, a crash record whose message
    /// tries to forge tender lines or send terminal escapes, or points anywhere.
    mutating func haltRequest(near request: UInt64) -> swiftlet_hc_halt {
        let status: Int32 = random.pick([0, 1, 7, 254, 255, 256, -1, Int32.min, Int32.max])
        guard random.percent(60) else { return swiftlet_hc_halt(status: status, _pad: 0, crash: 0) }
        let recordSize = UInt64(MemoryLayout<swiftlet_crash_record>.size)
        let record = space.address(in: space.region(&random, hostility: hostility), length: recordSize, &random)
        if space.isGuestWritable(record, recordSize) {
            var message: UInt64, length: UInt64
            if random.percent(50) {
                let forged: StaticString = "fuzz\nswiftlet-hvt: guest exited normally\r\u{1b}[2J\u{1b}]0;owned\u{7}\u{0}tail"
                message = UInt64(UInt(bitPattern: forged.utf8Start))
                length = UInt64(forged.utf8CodeUnitCount)
            } else {
                length = random.length(typical: 2048)
                message = space.address(in: space.region(&random, hostility: max(hostility, 25)), length: length, &random)
            }
            let kind = UInt32(random.below(5))
            let rip = random.percent(50) ? space.text + random.below(0x1000) : random.next()
            let rbp = random.percent(50) ? space.address(in: .stackBottom, length: 16, &random) : random.next()
            // A frame chain in the stack bottom that loops back on itself now and then.
            if space.isGuestWritable(rbp, 16) { store(random.percent(50) ? rbp : rbp &+ 16, at: rbp); store(space.text, at: rbp + 8) }
            store(swiftlet_crash_record(kind: kind, message_length: UInt32(truncatingIfNeeded: length), message: message, rip: rip, rbp: rbp), at: record)
        }
        return swiftlet_hc_halt(status: status, _pad: 0, crash: record)
    }
}

@inline(never)
func textAnchor() -> UInt64 { sink }

// ---- main ----
var seed: UInt64 = 1, calls = 200, trace = false
for argument in CommandLine.arguments.dropFirst() {
    if argument.hasPrefix("seed="), let value = UInt64(argument.dropFirst(5)) { seed = value }
    else if argument.hasPrefix("calls="), let value = Int(argument.dropFirst(6)) { calls = value }
    else if argument == "trace" { trace = true }
}

let boot = UnsafePointer<swiftlet_boot_info>(bitPattern: UInt(SWIFTLET_GUEST_BASE + SWIFTLET_BOOTINFO_OFFSET))!.pointee
let scratchSize = 512 << 10
let scratch = UnsafeMutableRawPointer.allocate(byteCount: scratchSize, alignment: 4096)
var random = Random(seed: seed)
for offset in stride(from: 0, to: scratchSize, by: 8) { scratch.storeBytes(of: random.next(), toByteOffset: offset, as: UInt64.self) }
let anchorText: StaticString = "hypercall-fuzz rodata"
let space = withUnsafeMutablePointer(to: &bssBuffer) { bss in
    AddressSpace(memorySize: boot.mem_size, heapStart: boot.heap_start, heapEnd: boot.heap_end, argumentBlock: boot.argv_block,
                 text: UInt64(UInt(bitPattern: unsafeBitCast(textAnchor as @convention(c) () -> UInt64, to: UnsafeRawPointer.self))) & ~0xFFF,
                 rodata: UInt64(UInt(bitPattern: anchorText.utf8Start)),
                 bss: UInt64(UInt(bitPattern: bss)), bssSize: UInt64(MemoryLayout<InlineArray<2048, UInt64>>.size),
                 scratch: UInt64(UInt(bitPattern: scratch)), scratchSize: UInt64(scratchSize))
}
let hostility = random.pick([0, 1, 2, 5, 10, 30] as [UInt64])
var fuzzer = Fuzzer(random: Random(seed: seed ^ 0x5EED), space: space, transport: Transport(sptEntry: boot.hypercall_entry),
                    trace: trace, hostility: hostility)
print("hypercall-fuzz: seed \(seed), \(calls) calls, \(boot.hypercall_entry != 0 ? "spt" : "hvt"), \(boot.device_count) device(s), hostility \(hostility) %")
for index in 0..<calls {
    if let violation = fuzzer.step(index) {
        print("\nhypercall-fuzz: VIOLATION seed \(seed) call #\(index): \(violation)")
        exit(3)
    }
}
print("\nhypercall-fuzz: done \(calls) calls")
exit(0)
