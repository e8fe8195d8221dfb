// A libFuzzer harness over the guest network stack's frame input path: bytes in as Ethernet
// frames, through NetworkStack.poll(now:) (Ethernet, ARP, IPv4, ICMP, UDP, TCP, timers, output).
//
// Build (from the repository root; the guest sources compile on the host when SWIFTLET_GUEST
// is not defined):
//   swiftc -sanitize=fuzzer,address -parse-as-library -module-name FrameFuzzer \
//     -I Sources/ABI/include Tests/Fuzz/FrameFuzzer.swift $(find Sources/Guest -name '*.swift') \
//     -o /tmp/frame-fuzzer
// Run: Tests/Fuzz/run.sh [seconds]
//
// Input format: a sequence of records, each
//     control:u8  length:u16 (big-endian)  bytes[length]
// (the length is clipped to what remains of the input, and a built frame to 2048 bytes: the
// guest NIC's slot size, so nothing longer reaches the stack on a real device).
// control bits:
//   0-1  framing of `bytes`:
//          0  raw: `bytes` is a whole Ethernet frame
//          1  an Ethernet header (to the stack's MAC, from the peer's, EtherType IPv4) is prepended
//          2  an Ethernet header (broadcast, from the peer's, EtherType ARP) is prepended
//          3  Ethernet + a valid 20-byte IPv4 header are prepended; bytes[0] is the IP protocol,
//             bytes[1] the last octet of the source address (10.0.0.x), the rest the IP payload
//   2    fix checksums: recompute the IPv4 header checksum and the ICMP/UDP/TCP checksum
//   3    relative TCP acknowledgment: add the stack's last sent SND.NXT for that connection
//        (as seen on the wire) to the ack field, then fix checksums, so the fuzzer can complete
//        handshakes although the stack picks a random ISS
//   4-6  after queueing the frame: 0 = keep queueing (the next frames arrive in the same
//        batch); otherwise poll after advancing the clock by 0, 1 ms, 50 ms, 250 ms, 1 s, 10 s, 120 s
//   7    application turn after the poll: accept connections on :80, read and echo what
//        arrived (a first byte 0x00 closes, 0xFF aborts, a stream at its end is closed), receive
//        UDP datagrams on :7 and echo them (a payload starting with "C" opens a TCP connection
//        to the sender instead)
// Every input ends with one more poll (+1 ms), so queued frames and timers always run.
//
// One stack is kept across inputs (state carries over, as on a real link), and is replaced by
// a fresh one every FRAME_FUZZER_FRESH_EVERY inputs (default 256) so memory stays bounded.
// Set FRAME_FUZZER_FRESH_EVERY=1 to get a fresh stack per input (deterministic reproduction),
// FRAME_FUZZER_TRACE=1 to print the stack's statistics and the application's streams after
// each input (e.g. `FRAME_FUZZER_TRACE=1 /tmp/frame-fuzzer Tests/Fuzz/corpus/*`).

#if canImport(Glibc)
import Glibc
#endif

private let stackMAC = MACAddress(0x02, 0, 0, 0, 0, 0x10)
private let peerMAC = MACAddress(0x02, 0, 0, 0, 0, 0x20)
private let stackIP: UInt32 = 0x0A00_0002  // 10.0.0.2
private let maximumFrame = 2048

/// Everything that lives across inputs.
final class FuzzState {
    let link: MemoryLink
    let stack: NetworkStack
    let udp: UDPSocket
    let listener: TCPListener
    var streams: [TCPStream] = []
    var now: UInt64 = 1_000_000_000
    /// (local port, remote address, remote port) → the furthest SND.NXT the stack has sent.
    var sendNext: [UInt64: UInt32] = [:]
    var inputs = 0

    init() {
        link = MemoryLink(mac: stackMAC)
        stack = NetworkStack(device: link, configuration: NetworkConfiguration(
            mode: .manual(IPv4Subnet(address: IPv4Address(stackIP), prefixLength: 24)),
            gateway: IPv4Address(10, 0, 0, 1)))
        do {
            udp = try stack.bindUDP(port: 7)
            listener = try stack.listenTCP(port: 80)
        } catch {
            fatalError("harness setup: \(error)")
        }
        stack.poll(now: now)
        observe(link.take())
    }

    // MARK: Output inspection

    func observe(_ frames: [[UInt8]]) {
        if sendNext.count > 4096 { sendNext.removeAll(keepingCapacity: true) }
        for frame in frames { observe(frame) }
    }

    private func observe(_ frame: [UInt8]) {
        // Ethernet, IPv4, TCP: record seq + payload + SYN + FIN.
        guard frame.count >= 14 + 20 + 20, frame[12] == 0x08, frame[13] == 0x00 else { return }
        let ip = 14
        let ihl = Int(frame[ip] & 0x0F) * 4
        guard frame[ip] >> 4 == 4, ihl >= 20, frame[ip + 9] == 6 else { return }
        let total = Int(read16(frame, ip + 2))
        let tcp = ip + ihl
        guard total >= ihl + 20, ip + total <= frame.count else { return }
        let dataOffset = Int(frame[tcp + 12] >> 4) * 4
        guard dataOffset >= 20, ihl + dataOffset <= total else { return }
        let localPort = UInt64(read16(frame, tcp))
        let remotePort = UInt64(read16(frame, tcp + 2))
        let remote = UInt64(read32(frame, ip + 16))
        let flags = frame[tcp + 13]
        var next = read32(frame, tcp + 4) &+ UInt32(total - ihl - dataOffset)
        if flags & 0x02 != 0 { next &+= 1 }
        if flags & 0x01 != 0 { next &+= 1 }
        let key = localPort << 48 | remote << 16 | remotePort
        if let old = sendNext[key], Int32(bitPattern: next &- old) <= 0, flags & 0x02 == 0 { return }
        sendNext[key] = next
    }

    // MARK: Application side

    func applicationTurn() {
        while let stream = listener.accept() {
            if streams.count < 256 { streams.append(stream) } else { stream.abort() }
        }
        var buffer = [UInt8](repeating: 0, count: 4096)
        for stream in streams {
            let count = buffer.withUnsafeMutableBytes { stream.read(into: $0) }
            if count > 0 {
                if buffer[0] == 0x00 { stream.close(); continue }
                if buffer[0] == 0xFF { stream.abort(); continue }
                _ = buffer.withUnsafeBytes { stream.write(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
            }
            if stream.isAtEnd { stream.close() }
        }
        streams.removeAll { $0.isClosed }
        var datagrams = 0
        while let datagram = udp.receive(), datagrams < 64 {
            datagrams += 1
            let port = TCPEndpoint(address: datagram.source, port: datagram.sourcePort)
            if datagram.payload.first == UInt8(ascii: "C") {
                if let stream = try? stack.connectTCP(to: port, now: now), streams.count < 256 { streams.append(stream) }
                continue
            }
            datagram.payload.withUnsafeBytes { payload in
                _ = try? udp.send(payload, to: datagram.source, port: datagram.sourcePort, now: now)
            }
        }
        stack.transmitPending(now: now)
    }
}

nonisolated(unsafe) private var state: FuzzState?
nonisolated(unsafe) private var freshEvery: Int = {
    if let text = getenv("FRAME_FUZZER_FRESH_EVERY"), let value = Int(String(cString: text)), value > 0 { return value }
    return 256
}()
nonisolated(unsafe) private var trace = getenv("FRAME_FUZZER_TRACE") != nil

private let advances: [UInt64] = [0, 0, 1_000_000, 50_000_000, 250_000_000, 1_000_000_000, 10_000_000_000, 120_000_000_000]

/// AddressSanitizer's defaults for this binary. Leak checking is off: LeakSanitizer cannot follow
/// Swift's multi-payload enums, which keep the case tag in a pointer's spare high bits, so memory
/// the stack still holds (a packet queued in ARPCache's `.pending(queue:)`, reachable from the
/// global `state`) is reported as leaked, per input and again at exit. Growth is bounded by
/// recreating the stack, and runaway memory still fails the run through -rss_limit_mb.
@_cdecl("__asan_default_options")
public func asanDefaultOptions() -> UnsafePointer<CChar> {
    UnsafeRawPointer(("detect_leaks=0" as StaticString).utf8Start).assumingMemoryBound(to: CChar.self)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    if state == nil || state!.inputs >= freshEvery { state = FuzzState() }
    let state = state!
    state.inputs += 1
    let input = UnsafeBufferPointer(start: data, count: size)
    var offset = 0
    while offset < input.count {
        let control = input[offset]
        offset += 1
        var length = 0
        if offset < input.count { length = Int(input[offset]) << 8; offset += 1 }
        if offset < input.count { length |= Int(input[offset]); offset += 1 }
        length = min(length, input.count - offset)
        let bytes = input[offset..<(offset + length)]
        offset += length

        var frame = build(bytes, framing: control & 0x03)
        if control & 0x08 != 0 { relativeAck(&frame, state) }
        if control & 0x0C != 0 { fixChecksums(&frame) }
        if frame.count > maximumFrame { frame.removeLast(frame.count - maximumFrame) }
        state.link.inbound.append(frame)

        let poll = Int((control >> 4) & 0x07)
        if poll != 0 {
            state.now &+= advances[poll]
            state.stack.poll(now: state.now)
            state.observe(state.link.take())
            if control & 0x80 != 0 {
                state.applicationTurn()
                state.observe(state.link.take())
            }
        }
    }
    state.now &+= 1_000_000
    state.stack.poll(now: state.now)
    state.observe(state.link.take())
    if trace {
        print("stack: \(state.stack.statistics)")
        print("tcp: \(state.streams.map { "\($0.remote.port):\($0.state)" }), SND.NXT seen: \(state.sendNext.count), udp dropped: \(state.udp.dropped)")
    }
    return 0
}

// MARK: Framing

private func ethernetHeader(to destination: MACAddress, type: UInt16) -> [UInt8] {
    let d = destination.bytes, s = peerMAC.bytes
    return [d.0, d.1, d.2, d.3, d.4, d.5, s.0, s.1, s.2, s.3, s.4, s.5, UInt8(type >> 8), UInt8(type & 0xFF)]
}

private func build(_ bytes: Slice<UnsafeBufferPointer<UInt8>>, framing: UInt8) -> [UInt8] {
    switch framing {
    case 0: return Array(bytes)
    case 1: return ethernetHeader(to: stackMAC, type: 0x0800) + bytes
    case 2: return ethernetHeader(to: .broadcast, type: 0x0806) + bytes
    default:
        var rest = bytes[...]
        let proto = rest.popFirst() ?? 17
        let sourceHost = rest.popFirst() ?? 1
        let total = 20 + rest.count
        var frame = ethernetHeader(to: stackMAC, type: 0x0800)
        frame += [0x45, 0, UInt8((total >> 8) & 0xFF), UInt8(total & 0xFF), 0, 0, 0x40, 0, 64, proto, 0, 0,
                  10, 0, 0, sourceHost, 10, 0, 0, 2]
        frame += rest
        let checksum = internetChecksum(frame[14..<34], initial: 0)
        frame[24] = UInt8(checksum >> 8)
        frame[25] = UInt8(checksum & 0xFF)
        return frame
    }
}

private func read16(_ bytes: [UInt8], _ offset: Int) -> UInt16 {
    UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
}

private func read32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
    UInt32(read16(bytes, offset)) << 16 | UInt32(read16(bytes, offset + 2))
}

private func write16(_ value: UInt16, _ bytes: inout [UInt8], _ offset: Int) {
    bytes[offset] = UInt8(value >> 8)
    bytes[offset + 1] = UInt8(value & 0xFF)
}

/// RFC 1071 over `bytes`, starting from a partial sum (the pseudo-header's).
private func internetChecksum(_ bytes: ArraySlice<UInt8>, initial: UInt32) -> UInt16 {
    var sum = initial
    var index = bytes.startIndex
    while index + 1 < bytes.endIndex {
        sum &+= UInt32(bytes[index]) << 8 | UInt32(bytes[index + 1])
        index += 2
    }
    if index < bytes.endIndex { sum &+= UInt32(bytes[index]) << 8 }
    while sum >> 16 != 0 { sum = (sum & 0xFFFF) + (sum >> 16) }
    return ~UInt16(sum)
}

/// Where the IPv4 header and payload of an Ethernet/IPv4 frame are, if they look sane enough.
private func ipv4Layout(_ frame: [UInt8]) -> (ihl: Int, end: Int, proto: UInt8)? {
    guard frame.count >= 34, frame[12] == 0x08, frame[13] == 0x00 else { return nil }
    let ihl = Int(frame[14] & 0x0F) * 4
    guard ihl >= 20, 14 + ihl <= frame.count else { return nil }
    let total = Int(read16(frame, 16))
    let end = total >= ihl ? min(14 + total, frame.count) : frame.count
    return (ihl, end, frame[23])
}

private func fixChecksums(_ frame: inout [UInt8]) {
    guard let (ihl, end, proto) = ipv4Layout(frame) else { return }
    write16(0, &frame, 24)
    write16(internetChecksum(frame[14..<(14 + ihl)], initial: 0), &frame, 24)
    let start = 14 + ihl
    let length = end - start
    func pseudo(_ length: Int) -> UInt32 {
        var sum: UInt32 = 0
        for offset in stride(from: 26, to: 34, by: 2) { sum &+= UInt32(read16(frame, offset)) }
        return sum &+ UInt32(proto) &+ UInt32(length & 0xFFFF)
    }
    switch proto {
    case 1 where length >= 4:
        write16(0, &frame, start + 2)
        write16(internetChecksum(frame[start..<end], initial: 0), &frame, start + 2)
    case 6 where length >= 20:
        write16(0, &frame, start + 16)
        write16(internetChecksum(frame[start..<end], initial: pseudo(length)), &frame, start + 16)
    case 17 where length >= 8:
        let udpLength = Int(read16(frame, start + 4))
        let covered = (8...length).contains(udpLength) ? udpLength : length
        write16(0, &frame, start + 6)
        let checksum = internetChecksum(frame[start..<(start + covered)], initial: pseudo(covered))
        write16(checksum == 0 ? 0xFFFF : checksum, &frame, start + 6)
    default:
        break
    }
}

private func relativeAck(_ frame: inout [UInt8], _ state: FuzzState) {
    guard let (ihl, end, proto) = ipv4Layout(frame), proto == 6 else { return }
    let tcp = 14 + ihl
    guard end - tcp >= 20 else { return }
    let key = UInt64(read16(frame, tcp + 2)) << 48 | UInt64(read32(frame, 26)) << 16 | UInt64(read16(frame, tcp))
    guard let next = state.sendNext[key] else { return }
    let ack = read32(frame, tcp + 8) &+ next
    write16(UInt16(ack >> 16), &frame, tcp + 8)
    write16(UInt16(ack & 0xFFFF), &frame, tcp + 10)
}
