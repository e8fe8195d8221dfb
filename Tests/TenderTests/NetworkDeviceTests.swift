// Network devices against a hostile guest and a misbehaving peer: batched NET_READ/NET_WRITE
// through the hypercall handler over a socketpair speaking passt's framing.
#if canImport(Glibc)
import Glibc
#endif
import SwiftletABI
import TenderTestSupport
import Testing
@testable import TenderCore

private final class NetworkFixture {
    static let memorySize = 4 << 20
    private let host = TestGuestMemory(size: NetworkFixture.memorySize, fill: 0)
    let memory: GuestMemory
    let handler: HypercallHandler
    let device: NetworkDevice
    let peer: Int32          // the "passt" end
    let tenderEnd: Int32
    private var peerOpen = true

    init() throws {
        memory = host.memory
        var fds: [Int32] = [-1, -1]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
        peer = fds[0]
        tenderEnd = fds[1]
        device = try NetworkSpec(backend: .socket(tenderEnd), mac: [2, 0, 0, 0, 0, 1]).open(name: "net0")
        handler = HypercallHandler(memory: memory, consoleFD: 2, networks: [device])
    }

    deinit {
        // Each end closed once: tests run in parallel, and a second close could hit a
        // descriptor another test has opened since (its peer then read nothing).
        closePeer()
        close(tenderEnd)
    }

    /// The "passt" end goes away.
    func closePeer() {
        if peerOpen { close(peer) }
        peerOpen = false
    }

    var base: UInt64 { SWIFTLET_GUEST_BASE }
    func put<T: BitwiseCopyable>(_ value: T, at address: UInt64) { try! memory.store(value, at: GuestAddress(raw: address)) }
    func get<T: BitwiseCopyable>(_: T.Type, at address: UInt64) -> T { try! memory.load(T.self, at: GuestAddress(raw: address)) }

    /// Sends frames from the peer, length-prefixed, optionally in awkward pieces.
    func peerSend(_ frames: [[UInt8]], chunk: Int = .max) {
        var stream: [UInt8] = []
        for frame in frames {
            stream += [UInt8(frame.count >> 24), UInt8(frame.count >> 16 & 255), UInt8(frame.count >> 8 & 255), UInt8(frame.count & 255)] + frame
        }
        var offset = 0
        while offset < stream.count {
            let size = min(chunk, stream.count - offset)
            let written = stream[offset..<offset + size].withUnsafeBytes { write(peer, $0.baseAddress, size) }
            precondition(written == size)
            offset += size
        }
    }

    func peerReceive() -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 1 << 16)
        let count = bytes.withUnsafeMutableBytes { recv(peer, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
        return count > 0 ? Array(bytes.prefix(count)) : []
    }

    /// Guest-side read of up to `count` frames into 2 KiB buffers at base+1 MiB.
    func guestRead(count: UInt32, tableAt table: UInt64? = nil, capacity: UInt32 = 2048) -> (swiftlet_hc_net, [[UInt8]]) {
        let tableAddress = table ?? base + 0x10_0000
        for index in 0..<Int(min(count, 64)) {
            put(swiftlet_frame(data: base + 0x20_0000 + UInt64(index) * 2048, length: 0, capacity: capacity, offload: .init()),
                at: tableAddress + UInt64(index * MemoryLayout<swiftlet_frame>.stride))
        }
        let request = base + 0x1000
        put(swiftlet_hc_net(handle: 0, count: count, frames: tableAddress, completed: 0, result: 0), at: request)
        #expect(handler.handle(number: SWIFTLET_HC_NET_READ.rawValue, argument: GuestAddress(raw: request)) == .resume)
        let reply = get(swiftlet_hc_net.self, at: request)
        let frames = (0..<Int(reply.completed)).map { index -> [UInt8] in
            let descriptor = get(swiftlet_frame.self, at: tableAddress + UInt64(index * MemoryLayout<swiftlet_frame>.stride))
            return try! memory.copyOut(at: GuestAddress(raw: descriptor.data), count: UInt64(descriptor.length))
        }
        return (reply, frames)
    }
}

private func frame(_ seed: UInt8, length: Int = 60) -> [UInt8] { (0..<length).map { UInt8(truncatingIfNeeded: Int(seed) &+ $0) } }

@Suite struct NetworkDeviceTests {
    /// NET_EXCHANGE: the queued frames go out, the wait sees the peer's frames, and they are
    /// read in the same exit; each part reports like its own hypercall.
    @Test func anExchangeWritesWaitsAndReadsInOneHypercall() throws {
        let f = try NetworkFixture()
        let request = f.base + 0x1000, writeTable = f.base + 0x10_0000, readTable = f.base + 0x11_0000
        let outgoing = f.base + 0x30_0000
        try frame(7).withUnsafeBytes { try f.memory.copyIn($0, at: GuestAddress(raw: outgoing)) }
        f.put(swiftlet_frame(data: outgoing, length: 60, capacity: 0, offload: .init()), at: writeTable)
        for index in 0..<4 {
            f.put(swiftlet_frame(data: f.base + 0x20_0000 + UInt64(index) * 2048, length: 0, capacity: 2048, offload: .init()),
                  at: readTable + UInt64(index * MemoryLayout<swiftlet_frame>.stride))
        }
        func exchange(writing count: UInt32, timeout: UInt64) -> swiftlet_hc_net_exchange {
            f.put(swiftlet_hc_net_exchange(
                write: swiftlet_hc_net(handle: 0, count: count, frames: writeTable, completed: 0, result: -1),
                read: swiftlet_hc_net(handle: 0, count: 4, frames: readTable, completed: 9, result: -1),
                timeout: timeout, ready_set: 0), at: request)
            #expect(f.handler.handle(number: SWIFTLET_HC_NET_EXCHANGE.rawValue, argument: GuestAddress(raw: request)) == .resume)
            return f.get(swiftlet_hc_net_exchange.self, at: request)
        }

        // Nothing to read: the frame is sent, the wait times out, the read reports AGAIN.
        let quiet = exchange(writing: 1, timeout: 1_000_000)
        #expect(quiet.write.completed == 1 && quiet.write.result == Int32(SWIFTLET_R_OK.rawValue))
        #expect(quiet.ready_set == 0)
        #expect(quiet.read.completed == 0 && quiet.read.result == Int32(SWIFTLET_R_AGAIN.rawValue))
        #expect(Array(f.peerReceive().dropFirst(4)) == frame(7))

        // Input waiting: read in the same exit, at most the read count.
        f.peerSend((0..<6).map { frame(UInt8(40 + $0)) })
        let busy = exchange(writing: 0, timeout: 5_000_000_000)
        #expect(busy.write.completed == 0 && busy.write.result == Int32(SWIFTLET_R_OK.rawValue))
        #expect(busy.ready_set == 1)
        #expect(busy.read.completed == 4 && busy.read.result == Int32(SWIFTLET_R_OK.rawValue))
        let first = f.get(swiftlet_frame.self, at: readTable)
        #expect(try f.memory.copyOut(at: GuestAddress(raw: first.data), count: UInt64(first.length)) == frame(40))
        #expect(f.guestRead(count: 64).1 == [frame(44), frame(45)])
    }

    @Test func aHostileExchangeIsRefusedPartByPart() throws {
        let f = try NetworkFixture()
        let request = f.base + 0x1000
        f.peerSend([frame(1)])
        f.put(swiftlet_hc_net_exchange(
            write: swiftlet_hc_net(handle: 0, count: 1, frames: 0x1000, completed: 0, result: 0),            // outside memory
            read: swiftlet_hc_net(handle: 0, count: SWIFTLET_NET_BATCH_MAX + 1, frames: f.base, completed: 0, result: 0),
            timeout: 0, ready_set: 0), at: request)
        #expect(f.handler.handle(number: SWIFTLET_HC_NET_EXCHANGE.rawValue, argument: GuestAddress(raw: request)) == .resume)
        let reply = f.get(swiftlet_hc_net_exchange.self, at: request)
        #expect(reply.write.result == Int32(SWIFTLET_R_EINVAL.rawValue))
        #expect(reply.read.result == Int32(SWIFTLET_R_EINVAL.rawValue))
        #expect(f.peerReceive().isEmpty)

        for handle: UInt32 in [5, 64, 1000, UInt32.max] {
            f.put(swiftlet_hc_net_exchange(
                write: swiftlet_hc_net(handle: handle, count: 0, frames: f.base, completed: 0, result: 0),
                read: swiftlet_hc_net(handle: handle, count: 1, frames: f.base, completed: 0, result: 0),
                timeout: 0, ready_set: 0), at: request)
            #expect(f.handler.handle(number: SWIFTLET_HC_NET_EXCHANGE.rawValue, argument: GuestAddress(raw: request)) == .resume)
            let unknown = f.get(swiftlet_hc_net_exchange.self, at: request)
            #expect(unknown.write.result == Int32(SWIFTLET_R_ENODEV.rawValue), "\(handle)")
            #expect(unknown.read.result == Int32(SWIFTLET_R_ENODEV.rawValue), "\(handle)")
        }
        #expect(f.guestRead(count: 64).1 == [frame(1)], "refused reads leave the frame queued")
    }

    @Test func framesArriveInOneBatchEvenWhenSplitAcrossReads() throws {
        let f = try NetworkFixture()
        f.peerSend([frame(1), frame(2, length: 1514), frame(3, length: 42)], chunk: 7)
        let (reply, frames) = f.guestRead(count: 64)
        #expect(reply.result == Int32(SWIFTLET_R_OK.rawValue))
        #expect(frames == [frame(1), frame(2, length: 1514), frame(3, length: 42)])
        let (again, none) = f.guestRead(count: 64)
        #expect(again.result == Int32(SWIFTLET_R_AGAIN.rawValue))
        #expect(none.isEmpty)
    }

    @Test func aBatchStopsAtTheGuestsCount() throws {
        let f = try NetworkFixture()
        f.peerSend((0..<5).map { frame(UInt8($0)) })
        #expect(f.guestRead(count: 2).1.count == 2)
        #expect(f.guestRead(count: 64).1.count == 3)
    }

    @Test func writesAreFramedForThePeer() throws {
        let f = try NetworkFixture()
        let request = f.base + 0x1000, table = f.base + 0x10_0000
        for index in 0..<3 {
            let data = f.base + 0x20_0000 + UInt64(index) * 2048
            try frame(UInt8(index * 10)).withUnsafeBytes { try f.memory.copyIn($0, at: GuestAddress(raw: data)) }
            f.put(swiftlet_frame(data: data, length: 60, capacity: 0, offload: .init()), at: table + UInt64(index * MemoryLayout<swiftlet_frame>.stride))
        }
        f.put(swiftlet_hc_net(handle: 0, count: 3, frames: table, completed: 0, result: 0), at: request)
        #expect(f.handler.handle(number: SWIFTLET_HC_NET_WRITE.rawValue, argument: GuestAddress(raw: request)) == .resume)
        #expect(f.get(swiftlet_hc_net.self, at: request).completed == 3)
        let bytes = f.peerReceive()
        #expect(bytes.count == 3 * 64)
        #expect(Array(bytes.prefix(4)) == [0, 0, 0, 60])
        #expect(Array(bytes[4..<64]) == frame(0))
        #expect(Array(bytes[132..<192]) == frame(20))
    }

    @Test func hostileDescriptorsAreRefusedNotFollowed() throws {
        let f = try NetworkFixture()
        let request = f.base + 0x1000, table = f.base + 0x10_0000
        let cases: [swiftlet_frame] = [
            swiftlet_frame(data: 0x1000, length: 60, capacity: 2048, offload: .init()),                      // below guest memory
            swiftlet_frame(data: f.base + UInt64(NetworkFixture.memorySize) - 10, length: 60, capacity: 2048, offload: .init()), // past the end
            swiftlet_frame(data: UInt64.max - 8, length: 60, capacity: 2048, offload: .init()),              // wraps
            swiftlet_frame(data: f.base + 0x20_0000, length: 70_000, capacity: 70_000, offload: .init()),    // longer than any frame
            swiftlet_frame(data: f.base + 0x20_0000, length: 3, capacity: 2048, offload: .init()),           // shorter than a header
        ]
        for descriptor in cases {
            f.put(descriptor, at: table)
            f.put(swiftlet_hc_net(handle: 0, count: 1, frames: table, completed: 0, result: 0), at: request)
            #expect(f.handler.handle(number: SWIFTLET_HC_NET_WRITE.rawValue, argument: GuestAddress(raw: request)) == .resume)
            #expect(f.get(swiftlet_hc_net.self, at: request).result == Int32(SWIFTLET_R_EINVAL.rawValue))
        }
        #expect(f.peerReceive().isEmpty, "nothing may reach the wire")

        // A read into a buffer outside guest memory is refused; the frame stays queued.
        f.peerSend([frame(9)])
        f.put(swiftlet_frame(data: 0x1000, length: 0, capacity: 2048, offload: .init()), at: table)
        f.put(swiftlet_hc_net(handle: 0, count: 1, frames: table, completed: 0, result: 0), at: request)
        #expect(f.handler.handle(number: SWIFTLET_HC_NET_READ.rawValue, argument: GuestAddress(raw: request)) == .resume)
        #expect(f.get(swiftlet_hc_net.self, at: request).result == Int32(SWIFTLET_R_EINVAL.rawValue))
        #expect(f.guestRead(count: 1).1 == [frame(9)])
    }

    /// NET_READ into the guest's code or boot info would be code injection on hvt (the host
    /// mapping is writable): refused (EINVAL, like any bad descriptor) before a frame is
    /// consumed, and the frame stays queued.
    @Test func aReadIntoCodeOrBootInfoIsRefusedAndLosesNothing() throws {
        let f = try NetworkFixture()
        let text = ELFImage.imageBase ..< ELFImage.imageBase + 0x10_0000
        let access = GuestAccess(memorySize: UInt64(NetworkFixture.memorySize), writableSegments: [],
                                 heap: text.upperBound ..< f.base + UInt64(NetworkFixture.memorySize))
        let guest = HypercallHandler(memory: f.memory.restricted(to: access), consoleFD: 2, networks: [f.device])
        f.peerSend([frame(9)])
        let request = f.base + 0x1000, table = f.base + 0x30_0000
        for target in [text.lowerBound + 0x40, f.base + SWIFTLET_BOOTINFO_OFFSET, f.base + 0x100] {
            f.put(swiftlet_frame(data: target, length: 0, capacity: 2048, offload: .init()), at: table)
            f.put(swiftlet_hc_net(handle: 0, count: 1, frames: table, completed: 0, result: 0), at: request)
            #expect(guest.handle(number: SWIFTLET_HC_NET_READ.rawValue, argument: GuestAddress(raw: request)) == .resume)
            let reply = f.get(swiftlet_hc_net.self, at: request)
            #expect(reply.result == Int32(SWIFTLET_R_EINVAL.rawValue) && reply.completed == 0, "NET_READ into \(hex(target)): \(reply)")
            #expect(try f.memory.copyOut(at: GuestAddress(raw: target), count: 60) == [UInt8](repeating: 0, count: 60))
        }
        // The request itself in read-only memory: refused before anything is read.
        f.put(swiftlet_frame(data: f.base + 0x31_0000, length: 0, capacity: 2048, offload: .init()), at: table)
        f.put(swiftlet_hc_net(handle: 0, count: 1, frames: table, completed: 0, result: 0), at: text.lowerBound)
        #expect(guest.handle(number: SWIFTLET_HC_NET_READ.rawValue, argument: GuestAddress(raw: text.lowerBound)) != .resume)
        // The frame was never consumed: a well-formed read gets it.
        #expect(f.guestRead(count: 1).1 == [frame(9)])
    }

    @Test func tooManyFramesOrAnUnknownHandleAreRefused() throws {
        let f = try NetworkFixture()
        let request = f.base + 0x1000
        f.put(swiftlet_hc_net(handle: 0, count: SWIFTLET_NET_BATCH_MAX + 1, frames: f.base + 0x10_0000, completed: 0, result: 0), at: request)
        #expect(f.handler.handle(number: SWIFTLET_HC_NET_WRITE.rawValue, argument: GuestAddress(raw: request)) == .resume)
        #expect(f.get(swiftlet_hc_net.self, at: request).result == Int32(SWIFTLET_R_EINVAL.rawValue))
        f.put(swiftlet_hc_net(handle: 7, count: 1, frames: f.base + 0x10_0000, completed: 0, result: 0), at: request)
        #expect(f.handler.handle(number: SWIFTLET_HC_NET_READ.rawValue, argument: GuestAddress(raw: request)) == .resume)
        #expect(f.get(swiftlet_hc_net.self, at: request).result == Int32(SWIFTLET_R_ENODEV.rawValue))
    }

    @Test func aFrameLongerThanTheBufferIsTruncatedNotOverflowed() throws {
        let f = try NetworkFixture()
        f.peerSend([frame(5, length: 1000)])
        let guard1 = f.base + 0x20_0000 + 100
        try f.memory.fill(at: GuestAddress(raw: guard1), count: 16, with: 0xEE)
        let (_, frames) = f.guestRead(count: 1, capacity: 100)
        #expect(frames == [Array(frame(5, length: 1000).prefix(100))])
        #expect(try f.memory.copyOut(at: GuestAddress(raw: guard1), count: 16) == [UInt8](repeating: 0xEE, count: 16))
    }

    @Test func pollReportsTheDeviceWithInput() throws {
        let f = try NetworkFixture()
        let request = f.base + 0x1000
        f.put(swiftlet_hc_poll(timeout: 0, ready_set: 0), at: request)
        _ = f.handler.handle(number: SWIFTLET_HC_POLL.rawValue, argument: GuestAddress(raw: request))
        #expect(f.get(swiftlet_hc_poll.self, at: request).ready_set == 0)
        f.peerSend([frame(1)])
        f.put(swiftlet_hc_poll(timeout: 500_000_000, ready_set: 0), at: request)
        _ = f.handler.handle(number: SWIFTLET_HC_POLL.rawValue, argument: GuestAddress(raw: request))
        #expect(f.get(swiftlet_hc_poll.self, at: request).ready_set == 1)
    }

    @Test func aDesynchronizedPeerClosesTheStream() throws {
        let f = try NetworkFixture()
        let garbage: [UInt8] = [0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3]
        _ = garbage.withUnsafeBytes { write(f.peer, $0.baseAddress, $0.count) }
        let (reply, frames) = f.guestRead(count: 4)
        #expect(frames.isEmpty)
        #expect(reply.result == Int32(SWIFTLET_R_AGAIN.rawValue))
    }

    @Test func aPeerThatWentAwayIsNotPolledForever() throws {
        let f = try NetworkFixture()
        f.closePeer()
        let (reply, frames) = f.guestRead(count: 4)
        #expect(frames.isEmpty && reply.result == Int32(SWIFTLET_R_AGAIN.rawValue))
        #expect(f.device.backend.isClosed)
        let request = f.base + 0x1000
        f.put(swiftlet_hc_poll(timeout: 50_000_000, ready_set: 0), at: request)
        _ = f.handler.handle(number: SWIFTLET_HC_POLL.rawValue, argument: GuestAddress(raw: request))
        #expect(f.get(swiftlet_hc_poll.self, at: request).ready_set == 0, "a hung-up socket must not wake the guest")
    }

    /// A peer that stops reading (a hung passt) may hold the tender up for one bounded wait,
    /// not forever; later frames are dropped at once, and the stream stays in sync.
    @Test func aPeerThatStopsReadingBlocksOneWaitThenFramesAreDropped() throws {
        let f = try NetworkFixture()
        let backend = try #require(f.device.backend as? StreamBackend)
        let payload = frame(3)
        var written = 0
        let filling = ContinuousClock.now
        while payload.withUnsafeBytes({ backend.writeFrame($0) }) {
            written += 1
            #expect(written < 100_000, "the socket never filled")
            if written >= 100_000 { return }
        }
        let firstWait = ContinuousClock.now - filling
        #expect(firstWait < .seconds(5), "the wait for a reader that stopped must be bounded (took \(firstWait))")
        let dropping = ContinuousClock.now
        for _ in 0..<50 { #expect(!payload.withUnsafeBytes { backend.writeFrame($0) }) }
        #expect(ContinuousClock.now - dropping < .milliseconds(500), "a stalled peer must not cost a wait per frame")
        #expect(!backend.isClosed)

        // The peer reads again: every frame it got is whole, and writing works again.
        var bytes: [UInt8] = []
        while case let chunk = f.peerReceive(), !chunk.isEmpty { bytes += chunk }
        #expect(bytes.count == written * (4 + payload.count))
        for index in 0..<written {
            let start = index * (4 + payload.count)
            #expect(Array(bytes[start..<start + 4]) == [0, 0, 0, UInt8(payload.count)])
            #expect(Array(bytes[start + 4..<start + 4 + payload.count]) == payload)
        }
        #expect(payload.withUnsafeBytes { backend.writeFrame($0) })
        #expect(Array(f.peerReceive().dropFirst(4)) == payload)
    }

    /// read() into zero bytes returns 0, which once closed a tap device for good.
    @Test func aZeroLengthTapReadDropsOneFrameAndKeepsTheDevice() throws {
        var fds: [Int32] = [-1, -1]
        #expect(socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0, &fds) == 0)
        defer { close(fds[0]); close(fds[1]) }
        let tap = TapBackend(fd: fds[1])
        for seed in [UInt8(1), 2] { _ = frame(seed).withUnsafeBytes { write(fds[0], $0.baseAddress, $0.count) } }
        #expect(tap.readFrame(into: UnsafeMutableRawBufferPointer(start: nil, count: 0)) == .frame(0))
        #expect(!tap.isClosed)
        var buffer = [UInt8](repeating: 0, count: 2048)
        #expect(buffer.withUnsafeMutableBytes { tap.readFrame(into: $0) } == .frame(60))
        #expect(Array(buffer.prefix(60)) == frame(2))
        #expect(buffer.withUnsafeMutableBytes { tap.readFrame(into: $0) } == .empty)
        #expect(tap.readFrame(into: UnsafeMutableRawBufferPointer(start: nil, count: 0)) == .empty)
        #expect(!tap.isClosed)
    }

    @Test func networkOptionsParse() throws {
        #expect(try NetworkSpec(parsing: "tap:tap0") == NetworkSpec(backend: .tap("tap0")))
        #expect(try NetworkSpec(parsing: "fd:5,mac=02:00:00:00:00:07") == NetworkSpec(backend: .socket(5), mac: [2, 0, 0, 0, 0, 7]))
        #expect(try NetworkSpec(parsing: "tap:t1,offload=off") == NetworkSpec(backend: .tap("t1"), offload: false))
        for bad in ["", "tap:", "fd:1", "fd:x", "tap:averyveryverylongname0", "fd:4,mac=01:00:00:00:00:00", "fd:4,speed=10", "eth0",
                    "fd:4,offload=off", "tap:t1,offload=on"] {
            #expect(throws: TenderError.self) { try NetworkSpec(parsing: bad) }
        }
        let options = try TenderOptions(arguments: ["--net", "tap:t0", "--net", "fd:4", "image", "a"])
        #expect(options.networks.count == 2)
        #expect(options.guestArguments == ["a"])
    }
}
