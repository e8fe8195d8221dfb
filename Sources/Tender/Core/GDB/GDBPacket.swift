// The GDB remote serial protocol's framing: `$payload#cc` packets (cc: the payload's byte sum
// modulo 256, two hex digits), the `+`/`-` acknowledgements, and the lone 0x03 byte a client
// sends to interrupt a running target. Pure byte code, no I/O: the tender feeds it what the
// socket gave and writes what the encoder returns. Nothing the client sends can make it trap
// or grow without bound: a payload longer than `maximumPayload` is dropped whole and reported.

/// One thing the client said, as the decoder saw it.
public enum GDBInput: Equatable, Sendable {
    /// A packet whose checksum matched: its payload, between `$` and `#`.
    case packet([UInt8])
    /// The client's Ctrl-C (0x03 outside a packet).
    case interrupt
    /// `+`: the client received our last packet.
    case acknowledged
    /// `-`: the client wants our last packet again.
    case retransmit
    /// A packet whose checksum did not match (the protocol answers `-`, and the client resends).
    case badChecksum
    /// A packet longer than `GDBPacketDecoder.maximumPayload`, dropped (answered with an error).
    case oversized
}

public struct GDBPacketDecoder: Sendable {
    /// What `qSupported` advertises as PacketSize: the largest payload the client may send.
    public static let maximumPayload = 0x4000

    private enum State: Sendable {
        case between
        case payload
        case checksumHigh
        case checksumLow(high: UInt8)
    }

    private var state = State.between
    private var payload: [UInt8] = []
    private var sum: UInt8 = 0
    private var tooLong = false

    public init() {}

    /// Takes one byte; returns what it completed, if anything. Bytes between packets that mean
    /// nothing (line noise, a stray `#`) are ignored, as gdbserver does.
    public mutating func feed(_ byte: UInt8) -> GDBInput? {
        switch state {
        case .between:
            switch byte {
            case UInt8(ascii: "$"): startPacket()
            case UInt8(ascii: "+"): return .acknowledged
            case UInt8(ascii: "-"): return .retransmit
            case 0x03: return .interrupt
            default: break
            }
        case .payload:
            switch byte {
            case UInt8(ascii: "#"):
                state = .checksumHigh
            case UInt8(ascii: "$"):
                startPacket()   // a packet that never ended: the client started over
            default:
                sum &+= byte
                if payload.count < Self.maximumPayload { payload.append(byte) } else { tooLong = true }
            }
        case .checksumHigh:
            guard let high = Self.hexValue(byte) else { return abandon() }
            state = .checksumLow(high: high)
        case .checksumLow(let high):
            guard let low = Self.hexValue(byte) else { return abandon() }
            state = .between
            defer { payload = [] }
            if tooLong { return .oversized }
            return high << 4 | low == sum ? .packet(payload) : .badChecksum
        }
        return nil
    }

    /// Feeds every byte of `bytes`, collecting what they completed.
    public mutating func feed<Bytes: Sequence>(_ bytes: Bytes) -> [GDBInput] where Bytes.Element == UInt8 {
        bytes.compactMap { feed($0) }
    }

    private mutating func startPacket() {
        state = .payload
        payload = []
        payload.reserveCapacity(64)
        sum = 0
        tooLong = false
    }

    /// A checksum that is not two hex digits: the packet is damaged.
    private mutating func abandon() -> GDBInput {
        state = .between
        payload = []
        return tooLong ? .oversized : .badChecksum
    }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

public enum GDBPacketEncoder {
    /// `$payload#cc`, with the four bytes the framing reserves (`$`, `#`, `}`, `*`) escaped as
    /// `}` followed by the byte XOR 0x20.
    public static func frame(_ payload: [UInt8]) -> [UInt8] {
        var framed: [UInt8] = [UInt8(ascii: "$")]
        framed.reserveCapacity(payload.count + 4)
        var sum: UInt8 = 0
        for byte in payload {
            if byte == UInt8(ascii: "$") || byte == UInt8(ascii: "#") || byte == UInt8(ascii: "}") || byte == UInt8(ascii: "*") {
                framed.append(UInt8(ascii: "}"))
                framed.append(byte ^ 0x20)
                sum &+= UInt8(ascii: "}") &+ (byte ^ 0x20)
            } else {
                framed.append(byte)
                sum &+= byte
            }
        }
        framed.append(UInt8(ascii: "#"))
        framed.append(contentsOf: GDBHex.encode([sum]))
        return framed
    }

    public static func frame(_ payload: String) -> [UInt8] { frame(Array(payload.utf8)) }
}

/// Lower-case hex, as the protocol writes register and memory contents.
public enum GDBHex {
    static let digits = Array("0123456789abcdef".utf8)

    public static func encode(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xF)])
        }
        return out
    }

    /// Pairs of hex digits to bytes; nil on an odd count or a non-hex byte.
    public static func decode<Bytes: Collection>(_ text: Bytes) -> [UInt8]? where Bytes.Element == UInt8 {
        guard text.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(text.count / 2)
        var high: UInt8?
        for byte in text {
            guard let value = GDBPacketDecoder.hexValue(byte) else { return nil }
            if let pending = high { out.append(pending << 4 | value); high = nil } else { high = value }
        }
        return out
    }

    /// A big-endian hex number (the protocol's addresses, lengths and register numbers); nil
    /// if empty, not hex, or larger than 64 bits.
    public static func number<Bytes: Collection>(_ text: Bytes) -> UInt64? where Bytes.Element == UInt8 {
        guard !text.isEmpty else { return nil }
        var value: UInt64 = 0
        for byte in text {
            guard let digit = GDBPacketDecoder.hexValue(byte), value >> 60 == 0 else { return nil }
            value = value << 4 | UInt64(digit)
        }
        return value
    }
}
