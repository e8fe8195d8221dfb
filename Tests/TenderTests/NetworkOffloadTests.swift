// Network offload (ABI 3) against a hostile guest: NET_CONFIGURE, and the metadata of every
// frame written, checked before anything reaches the tap. The tap is a SOCK_SEQPACKET
// socketpair carrying virtio-net headers as a tap opened with IFF_VNET_HDR does.
#if canImport(Glibc)
import Glibc
#endif
import CTender
import SwiftletABI
import TenderTestSupport
import Testing
@testable import TenderCore

/// A tap with virtio-net headers whose TUNSETOFFLOAD succeeds (a socket would answer ENOTTY).
private final class OffloadingTap: NetworkBackend {
    let tap: TapBackend
    private(set) var enabled = false
    init(fd: Int32) { tap = TapBackend(fd: fd, vnetHeaders: true) }
    var fd: Int32 { tap.fd }
    var isClosed: Bool { tap.isClosed }
    var hasBufferedFrame: Bool { false }
    var offersOffload: Bool { true }
    func enableOffload() -> Bool { enabled = true; return true }
    func readFrame(into buffer: UnsafeMutableRawBufferPointer, offload: inout swiftlet_net_offload) -> FrameRead {
        tap.readFrame(into: buffer, offload: &offload)
    }
    func writeFrame(_ frame: UnsafeRawBufferPointer, offload: swiftlet_net_offload) -> Bool {
        tap.writeFrame(frame, offload: offload)
    }
}

private final class OffloadFixture {
    static let memorySize = 4 << 20
    private let host = TestGuestMemory(size: OffloadFixture.memorySize, fill: 0)
    let memory: GuestMemory
    let handler: HypercallHandler
    let backend: OffloadingTap
    let device: NetworkDevice
    let peer: Int32
    var base: UInt64 { SWIFTLET_GUEST_BASE }
    let request: UInt64, table: UInt64, data: UInt64

    init() {
        memory = host.memory
        var fds: [Int32] = [-1, -1]
        #expect(socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0, &fds) == 0)
        var size: Int32 = 1 << 20
        setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &size, 4)
        setsockopt(fds[1], SOL_SOCKET, SO_SNDBUF, &size, 4)
        peer = fds[0]
        backend = OffloadingTap(fd: fds[1])
        device = NetworkDevice(name: "net0", mac: (2, 0, 0, 0, 0, 1), backend: backend)
        handler = HypercallHandler(memory: memory, consoleFD: 2, networks: [device])
        request = SWIFTLET_GUEST_BASE + 0x1000
        table = SWIFTLET_GUEST_BASE + 0x10_0000
        data = SWIFTLET_GUEST_BASE + 0x20_0000
    }

    deinit {
        close(peer)
        close(backend.fd)
    }

    func configure(handle: UInt32 = 0, features: UInt32) -> Int32 {
        try! memory.store(swiftlet_hc_net_configure(handle: handle, features: features, result: -1, _pad: 0), at: GuestAddress(raw: request))
        #expect(handler.handle(number: SWIFTLET_HC_NET_CONFIGURE.rawValue, argument: GuestAddress(raw: request)) == .resume)
        return try! memory.load(swiftlet_hc_net_configure.self, at: GuestAddress(raw: request)).result
    }

    /// NET_WRITE of one frame of `length` bytes with `offload`; the result.
    func write(length: Int, offload: swiftlet_net_offload) -> Int32 {
        let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0) }
        try! bytes.withUnsafeBytes { try memory.copyIn($0, at: GuestAddress(raw: data)) }
        try! memory.store(swiftlet_frame(data: data, length: UInt32(length), capacity: 0, offload: offload), at: GuestAddress(raw: table))
        try! memory.store(swiftlet_hc_net(handle: 0, count: 1, frames: table, completed: 0, result: -1), at: GuestAddress(raw: request))
        #expect(handler.handle(number: SWIFTLET_HC_NET_WRITE.rawValue, argument: GuestAddress(raw: request)) == .resume)
        return try! memory.load(swiftlet_hc_net.self, at: GuestAddress(raw: request)).result
    }

    /// What the tap's kernel side got: the virtio-net header and the frame, or nil.
    func peerReceive() -> (header: [UInt8], frame: [UInt8])? {
        var bytes = [UInt8](repeating: 0, count: 1 << 17)
        let count = bytes.withUnsafeMutableBytes { recv(peer, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
        guard count >= 10 else { return nil }
        return (Array(bytes[0..<10]), Array(bytes[10..<count]))
    }
}

private let ok = Int32(SWIFTLET_R_OK.rawValue)
private let invalid = Int32(SWIFTLET_R_EINVAL.rawValue)

private func offload(flags: UInt32 = SWIFTLET_NET_OFFLOAD_NEEDS_CSUM, gso: UInt32 = SWIFTLET_NET_GSO_TCPV4, headerLength: UInt16 = 54,
                     gsoSize: UInt16 = 1448, csumStart: UInt16 = 34, csumOffset: UInt16 = 16) -> swiftlet_net_offload {
    swiftlet_net_offload(flags: UInt8(flags), gso_type: UInt8(gso), header_length: headerLength, gso_size: gsoSize,
                         csum_start: csumStart, csum_offset: csumOffset)
}

@Suite struct NetworkOffloadTests {
    @Test func bootInfoOffersOffloadOnlyWhereTheBackendHasIt() throws {
        let f = OffloadFixture()
        #expect(f.device.features == SWIFTLET_NET_F_OFFLOAD)
        var fds: [Int32] = [-1, -1]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
        defer { close(fds[0]); close(fds[1]) }
        #expect(NetworkDevice(name: "net1", mac: (2, 0, 0, 0, 0, 2), backend: StreamBackend(fd: fds[1])).features == 0)
        #expect(TapBackend(fd: fds[1]).offersOffload == false)
    }

    @Test func configureEnablesOnlyWhatIsOffered() throws {
        let f = OffloadFixture()
        #expect(f.configure(features: 1 << 5) == invalid)
        #expect(f.configure(features: SWIFTLET_NET_F_OFFLOAD | 1 << 5) == invalid)
        #expect(!f.backend.enabled && !f.device.offloadEnabled)
        #expect(f.configure(handle: 1, features: SWIFTLET_NET_F_OFFLOAD) == Int32(SWIFTLET_R_ENODEV.rawValue))
        #expect(f.configure(handle: .max, features: SWIFTLET_NET_F_OFFLOAD) == Int32(SWIFTLET_R_ENODEV.rawValue))
        #expect(f.configure(features: 0) == ok)
        #expect(!f.backend.enabled)
        #expect(f.configure(features: SWIFTLET_NET_F_OFFLOAD) == ok)
        #expect(f.backend.enabled && f.device.offloadEnabled)
    }

    @Test func aDeviceWithoutOffloadRefusesAnyMetadata() throws {
        let f = OffloadFixture()
        #expect(f.write(length: 60, offload: swiftlet_net_offload()) == ok)
        #expect(f.peerReceive()?.header == [UInt8](repeating: 0, count: 10))
        for metadata in [offload(), offload(flags: 0, gso: 0, headerLength: 0, gsoSize: 0, csumStart: 34, csumOffset: 16),
                         offload(flags: 0, gso: 0, headerLength: 14, gsoSize: 0, csumStart: 0, csumOffset: 0)] {
            #expect(f.write(length: 60, offload: metadata) == invalid)
        }
        #expect(f.write(length: 3000, offload: swiftlet_net_offload()) == invalid)  // larger than the MTU
        #expect(f.peerReceive() == nil)
    }

    @Test func aValidSegmentationRequestReachesTheTapAsVirtioNetHeader() throws {
        let f = OffloadFixture()
        #expect(f.configure(features: SWIFTLET_NET_F_OFFLOAD) == ok)
        #expect(f.write(length: 14 + 20 + 20 + 8 * 1448, offload: offload()) == ok)
        let sent = try #require(f.peerReceive())
        #expect(sent.header == [1, 1, 54, 0, 0xA8, 0x05, 34, 0, 16, 0])
        #expect(sent.frame.count == 14 + 40 + 8 * 1448 && sent.frame[100] == 100)
        // The largest frame, and a plain frame with only a partial checksum.
        #expect(f.write(length: Int(SWIFTLET_NET_OFFLOAD_FRAME_MAX), offload: offload()) == ok)
        #expect(f.peerReceive()?.frame.count == Int(SWIFTLET_NET_OFFLOAD_FRAME_MAX))
        #expect(f.write(length: 1514, offload: offload(gso: SWIFTLET_NET_GSO_NONE, gsoSize: 0)) == ok)
        #expect(f.peerReceive()?.header == [1, 0, 54, 0, 0, 0, 34, 0, 16, 0])
    }

    @Test func hostileMetadataIsRefusedBeforeTheTap() throws {
        let f = OffloadFixture()
        #expect(f.configure(features: SWIFTLET_NET_F_OFFLOAD) == ok)
        let length = 14 + 40 + 4 * 1448
        let cases: [(String, Int, swiftlet_net_offload)] = [
            ("DATA_VALID is the host's to say", length, offload(flags: SWIFTLET_NET_OFFLOAD_NEEDS_CSUM | SWIFTLET_NET_OFFLOAD_DATA_VALID)),
            ("unknown flag", length, offload(flags: SWIFTLET_NET_OFFLOAD_NEEDS_CSUM | 0x80)),
            ("unknown gso type", length, offload(gso: 3)),
            ("TCPv6 is not offered", length, offload(gso: 4)),
            ("ECN bit", length, offload(gso: SWIFTLET_NET_GSO_TCPV4 | 0x80)),
            ("GSO without a partial checksum", length, offload(flags: 0, csumStart: 0, csumOffset: 0)),
            ("gso_size 0", length, offload(gsoSize: 0)),
            ("gso_size below the minimum (a frame cut into thousands)", length, offload(gsoSize: UInt16(SWIFTLET_NET_GSO_SIZE_MIN) - 1)),
            ("gso_size not below the frame", 1400, offload(gsoSize: 1400)),
            ("gso_size without GSO", 1514, offload(gso: SWIFTLET_NET_GSO_NONE, gsoSize: 1448)),
            ("checksum stored past the end", length, offload(csumStart: UInt16(length - 17), csumOffset: 16)),
            ("checksum offset past the end", length, offload(csumStart: 34, csumOffset: .max)),
            ("checksum start past the end", length, offload(csumStart: .max, csumOffset: 0)),
            ("checksum start inside the Ethernet header", length, offload(csumStart: 2)),
            ("checksum fields without NEEDS_CSUM", 1514, offload(flags: 0, gso: SWIFTLET_NET_GSO_NONE, gsoSize: 0)),
            ("header length past the frame", length, offload(headerLength: UInt16(length + 1))),
            ("a plain frame larger than the MTU", 1515, offload(gso: SWIFTLET_NET_GSO_NONE, gsoSize: 0)),
            ("larger than an IPv4 packet", Int(SWIFTLET_NET_OFFLOAD_FRAME_MAX) + 1, offload()),
        ]
        for (why, length, metadata) in cases {
            #expect(f.write(length: length, offload: metadata) == invalid, "\(why)")
        }
        #expect(f.peerReceive() == nil)
    }

    /// Reads hand the guest the kernel's header in the descriptor once enabled, and zeros before.
    @Test func readsCarryTheHostsMetadataOnceEnabled() throws {
        let f = OffloadFixture()
        let header: [UInt8] = [2, 1, 54, 0, 0xA8, 0x05, 0, 0, 0, 0]
        let frame = [UInt8](repeating: 0x42, count: 20_000)
        func read() -> swiftlet_frame {
            try! f.memory.store(swiftlet_frame(data: f.data, length: 0, capacity: SWIFTLET_NET_OFFLOAD_FRAME_MAX, offload: .init()),
                                at: GuestAddress(raw: f.table))
            try! f.memory.store(swiftlet_hc_net(handle: 0, count: 1, frames: f.table, completed: 0, result: -1), at: GuestAddress(raw: f.request))
            #expect(f.handler.handle(number: SWIFTLET_HC_NET_READ.rawValue, argument: GuestAddress(raw: f.request)) == .resume)
            #expect(try! f.memory.load(swiftlet_hc_net.self, at: GuestAddress(raw: f.request)).completed == 1)
            return try! f.memory.load(swiftlet_frame.self, at: GuestAddress(raw: f.table))
        }
        func peerSends() { _ = (header + frame).withUnsafeBytes { Glibc.send(f.peer, $0.baseAddress, $0.count, 0) } }
        peerSends()
        let before = read()
        #expect(before.length == 20_000 && before.offload.flags == 0 && before.offload.gso_size == 0)
        #expect(f.configure(features: SWIFTLET_NET_F_OFFLOAD) == ok)
        peerSends()
        let after = read()
        #expect(after.length == 20_000)
        #expect(after.offload.flags == UInt8(SWIFTLET_NET_OFFLOAD_DATA_VALID) && after.offload.gso_type == UInt8(SWIFTLET_NET_GSO_TCPV4))
        #expect(after.offload.gso_size == 1448 && after.offload.header_length == 54)
        #expect(try f.memory.copyOut(at: GuestAddress(raw: f.data), count: 20_000) == frame)
    }
}
