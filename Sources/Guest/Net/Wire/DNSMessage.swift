// DNS messages (RFC 1035 §4): an A-record query builder and a bounds-checked response
// parser with name decompression. Compression pointers must point backwards, at most
// `maximumPointerHops` are followed, labels are ≤ 63 bytes and names ≤ 255: hostile input
// is rejected with an error, never a trap or an endless loop.

/// A domain name as lowercase dotted text bytes without the trailing dot ("example.com");
/// the root is empty. Comparison is therefore case-insensitive.
public struct DNSName: Hashable, Sendable, CustomStringConvertible {
    public private(set) var text: [UInt8]

    public static let maximumWireLength = 255
    public static let maximumLabelLength = 63

    /// Validates dotted text ("example.com" or "example.com."); throws for empty labels,
    /// labels over 63 bytes or names over 255 bytes on the wire.
    public init(_ string: String) throws(WireError) {
        var bytes: [UInt8] = []
        for byte in string.utf8 { bytes.append(byte) }
        if bytes.last == UInt8(ascii: ".") { bytes.removeLast() }
        var labelLength = 0
        for byte in bytes {
            if byte == UInt8(ascii: ".") {
                guard labelLength > 0 else { throw .malformed("DNS label") }
                labelLength = 0
            } else {
                labelLength += 1
                guard labelLength <= Self.maximumLabelLength else { throw .malformed("DNS label") }
            }
        }
        guard !bytes.isEmpty else { throw .malformed("DNS label") }
        guard labelLength > 0 else { throw .malformed("DNS label") }
        // Wire length: one length byte per label plus the bytes, plus the root byte.
        guard bytes.count + 2 <= Self.maximumWireLength else { throw .malformed("DNS name over 255 octets") }
        text = bytes.map(Self.lowercase)
    }

    init(validatedText: [UInt8]) { text = validatedText }

    static func lowercase(_ byte: UInt8) -> UInt8 {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte + 32 : byte
    }

    /// Bytes on the wire (labels and the root byte).
    public var wireLength: Int { text.isEmpty ? 1 : text.count + 2 }

    /// Writes the uncompressed wire form at `offset`; returns the offset after it.
    func write(to buffer: UnsafeMutableRawBufferPointer, at offset: Int) -> Int {
        var index = offset
        var labelStart = 0
        var position = 0
        while position <= text.count {
            if position == text.count || text[position] == UInt8(ascii: ".") {
                let length = position - labelStart
                if length > 0 {
                    buffer[index] = UInt8(length)
                    index += 1
                    for i in labelStart..<position {
                        buffer[index] = text[i]
                        index += 1
                    }
                }
                labelStart = position + 1
            }
            position += 1
        }
        buffer[index] = 0
        return index + 1
    }

    public var description: String { String(decoding: text, as: UTF8.self) }
}

public enum DNSRecordType {
    public static let a: UInt16 = 1
    public static let cname: UInt16 = 5
}

public enum DNSResponseCode {
    public static let noError: UInt8 = 0
    public static let formatError: UInt8 = 1
    public static let serverFailure: UInt8 = 2
    public static let nameError: UInt8 = 3
    public static let notImplemented: UInt8 = 4
    public static let refused: UInt8 = 5
}

public struct DNSQuestion: Equatable, Sendable {
    public var name: DNSName
    public var type: UInt16
    public var recordClass: UInt16
}

public struct DNSRecord: Equatable, Sendable {
    public enum Data: Equatable, Sendable {
        case a(IPv4Address)
        case cname(DNSName)
        /// Any other type; its data is not kept.
        case other
    }
    public var name: DNSName
    public var type: UInt16
    public var recordClass: UInt16
    public var ttl: UInt32
    public var data: Data
}

/// A parsed DNS message: header, questions and answers (authority and additional
/// sections are not read).
public struct DNSMessage: Equatable, Sendable {
    public var id: UInt16
    public var isResponse: Bool
    public var opcode: UInt8
    public var authoritative: Bool
    public var truncated: Bool
    public var recursionDesired: Bool
    public var recursionAvailable: Bool
    public var responseCode: UInt8
    public var questions: [DNSQuestion]
    public var answers: [DNSRecord]

    static let headerLength = 12
    static let classIN: UInt16 = 1
    /// Compression pointers followed while reading one name.
    public static let maximumPointerHops = 16
    /// CNAME links followed by `addresses(for:)`.
    public static let maximumCNAMEHops = 8

    // MARK: Query

    /// The query for `name`'s A records, recursion desired (RFC 1035 §4.1).
    public static func query(id: UInt16, name: DNSName, type: UInt16 = DNSRecordType.a) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: headerLength + name.wireLength + 4)
        out.withUnsafeMutableBytes { buffer in
            buffer.writeUInt16(id, at: 0)
            buffer[2] = 0x01            // QR=0, opcode 0, RD=1
            buffer[5] = 1               // QDCOUNT = 1
            let end = name.write(to: buffer, at: headerLength)
            buffer.writeUInt16(type, at: end)
            buffer.writeUInt16(classIN, at: end + 2)
        }
        return out
    }

    // MARK: Parse

    public init(parsing buffer: UnsafeRawBufferPointer) throws(WireError) {
        guard buffer.count >= Self.headerLength else { throw .truncated }
        id = buffer.readUInt16(at: 0)
        let flags = buffer.readUInt16(at: 2)
        isResponse = flags & 0x8000 != 0
        opcode = UInt8((flags >> 11) & 0xF)
        authoritative = flags & 0x0400 != 0
        truncated = flags & 0x0200 != 0
        recursionDesired = flags & 0x0100 != 0
        recursionAvailable = flags & 0x0080 != 0
        responseCode = UInt8(flags & 0xF)
        let questionCount = Int(buffer.readUInt16(at: 4))
        let answerCount = Int(buffer.readUInt16(at: 6))

        // Each question takes ≥ 5 bytes and each record ≥ 11, so a count larger than the
        // buffer can hold fails with `.truncated` before much work is done.
        var offset = Self.headerLength
        questions = []
        for _ in 0..<questionCount {
            let name = try Self.readName(buffer, at: &offset)
            guard offset + 4 <= buffer.count else { throw .truncated }
            questions.append(DNSQuestion(name: name, type: buffer.readUInt16(at: offset),
                                         recordClass: buffer.readUInt16(at: offset + 2)))
            offset += 4
        }
        answers = []
        for _ in 0..<answerCount {
            let name = try Self.readName(buffer, at: &offset)
            guard offset + 10 <= buffer.count else { throw .truncated }
            let type = buffer.readUInt16(at: offset)
            let recordClass = buffer.readUInt16(at: offset + 2)
            let ttl = buffer.readUInt32(at: offset + 4)
            let length = Int(buffer.readUInt16(at: offset + 8))
            let dataStart = offset + 10
            guard dataStart + length <= buffer.count else { throw .truncated }
            var data = DNSRecord.Data.other
            if recordClass == Self.classIN && type == DNSRecordType.a {
                guard length == 4 else { throw .malformed("DNS record data") }
                data = .a(IPv4Address(reading: buffer, at: dataStart))
            } else if recordClass == Self.classIN && type == DNSRecordType.cname {
                var nameOffset = dataStart
                let target = try Self.readName(buffer.slice(0..<(dataStart + length)),
                                               at: &nameOffset)
                guard nameOffset == dataStart + length else { throw .malformed("DNS record data") }
                data = .cname(target)
            }
            answers.append(DNSRecord(name: name, type: type, recordClass: recordClass, ttl: ttl, data: data))
            offset = dataStart + length
        }
    }

    public init(parsing bytes: [UInt8]) throws(WireError) {
        let result: Result<DNSMessage, WireError> = bytes.withUnsafeBytes { buffer in
            do throws(WireError) { return .success(try DNSMessage(parsing: buffer)) } catch { return .failure(error) }
        }
        self = try result.get()
    }

    /// Reads a possibly compressed name starting at `offset`, leaving `offset` after its
    /// in-place part.
    static func readName(_ buffer: UnsafeRawBufferPointer, at offset: inout Int) throws(WireError) -> DNSName {
        var text: [UInt8] = []
        var wireLength = 1            // the root byte
        var position = offset
        var hops = 0
        var resumeAt: Int? = nil
        while true {
            guard position < buffer.count else { throw .truncated }
            let length = Int(buffer[position])
            switch length & 0xC0 {
            case 0xC0:
                guard position + 1 < buffer.count else { throw .truncated }
                let target = (length & 0x3F) << 8 | Int(buffer[position + 1])
                guard target < buffer.count else { throw .malformed("DNS pointer past the end") }
                guard target < position else { throw .malformed("DNS pointer loop") }
                hops += 1
                guard hops <= maximumPointerHops else { throw .malformed("DNS pointer loop") }
                if resumeAt == nil { resumeAt = position + 2 }
                position = target
            case 0x00:
                if length == 0 {
                    offset = resumeAt ?? position + 1
                    return DNSName(validatedText: text)
                }
                wireLength += length + 1
                guard wireLength <= DNSName.maximumWireLength else { throw .malformed("DNS name over 255 octets") }
                guard position + 1 + length <= buffer.count else { throw .truncated }
                if !text.isEmpty { text.append(UInt8(ascii: ".")) }
                for index in (position + 1)...(position + length) {
                    text.append(DNSName.lowercase(buffer[index]))
                }
                position += 1 + length
            default:
                throw .malformed("DNS label type")     // 0x40 / 0x80: extended or reserved label types
            }
        }
    }

    // MARK: Answers

    /// The A records for `name`, following CNAME records within this message, and the
    /// smallest TTL among the records used; nil when the answers hold no address for it.
    public func addresses(for name: DNSName) -> (addresses: [IPv4Address], ttl: UInt32)? {
        var current = name
        var ttl = UInt32.max
        for _ in 0...Self.maximumCNAMEHops {
            var found: [IPv4Address] = []
            var foundTTL = UInt32.max
            var alias: (DNSName, UInt32)? = nil
            for record in answers where record.name == current {
                switch record.data {
                case .a(let address):
                    if !found.contains(address) { found.append(address) }
                    foundTTL = min(foundTTL, record.ttl)
                case .cname(let target):
                    if alias == nil { alias = (target, record.ttl) }
                case .other:
                    break
                }
            }
            if !found.isEmpty { return (found, min(ttl, foundTTL)) }
            guard let (target, aliasTTL) = alias else { return nil }
            ttl = min(ttl, aliasTTL)
            current = target
        }
        return nil
    }
}
