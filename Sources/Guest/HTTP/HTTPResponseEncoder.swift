// Serializes a response head. Framing is the server's business, not the handler's: any
// Content-Length, Transfer-Encoding or Connection a handler set is replaced by what the
// body, the request method and the connection's fate require.

/// How the body of one response is delimited on the wire.
enum HTTPBodyFraming: Equatable {
    /// No body bytes follow (HEAD, 1xx/204/304); `advertisedLength` is still sent for HEAD.
    case none(advertisedLength: Int?)
    case length(Int)
    case chunked
    /// HTTP/1.0 without a known length: the body ends when the connection does.
    case untilClose

    init(body: HTTPResponseBody, status: HTTPStatus, method: HTTPMethod, version: HTTPVersion) {
        if !status.allowsContent {
            self = .none(advertisedLength: nil)
        } else if method == .head {
            self = .none(advertisedLength: body.count)
        } else if let count = body.count {
            self = .length(count)
        } else {
            self = version == .http11 ? .chunked : .untilClose
        }
    }

    var sendsBody: Bool {
        if case .none = self { return false }
        return true
    }
}

enum HTTPResponseEncoder {
    /// The head, written into one allocation of exactly its size.
    static func head(_ response: HTTPResponse, framing: HTTPBodyFraming, version: HTTPVersion, keepAlive: Bool,
                     date: [UInt8], server: [UInt8]) -> [UInt8] {
        let reason = UnsafeRawBufferPointer(start: response.status.reason.utf8Start,
                                            count: response.status.reason.utf8CodeUnitCount)
        var size = Literal.http11.count + decimalDigits(response.status.code) + 1 + reason.count + 2
        var hasDate = false
        var hasServer = false
        for field in response.headers.fields {
            switch Reserved(field.name) {
            case .framing: continue
            case .date: hasDate = true
            case .server: hasServer = true
            case .none: break
            }
            size += fieldSize(field.name, field.valueBytes)
        }
        let addsServer = !hasServer && !server.isEmpty
        if addsServer { size += fieldSize(Literal.server, server[...]) }
        if !hasDate { size += fieldSize(Literal.date, date[...]) }
        var length: Int?
        switch framing {
        case .none(let advertised): length = advertised
        case .length(let count): length = count
        case .chunked: size += Literal.chunked.count
        case .untilClose: break
        }
        if let length { size += Literal.contentLength.count + decimalDigits(length) + 2 }
        let connection = !keepAlive ? Literal.connectionClose : version == .http10 ? Literal.connectionKeepAlive : []
        size += connection.count + 2

        return [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            var out = ByteWriter(buffer)
            out.append(version == .http10 ? Literal.http10 : Literal.http11)
            out.appendDecimal(response.status.code)
            out.append(0x20)
            out.append(reason)
            out.append(crlf)
            for field in response.headers.fields {
                if case .framing = Reserved(field.name) { continue }
                appendField(field.name, field.valueBytes, to: &out)
            }
            if addsServer { appendField(Literal.server, server[...], to: &out) }
            if !hasDate { appendField(Literal.date, date[...], to: &out) }
            if case .chunked = framing { out.append(Literal.chunked) }
            if let length {
                out.append(Literal.contentLength)
                out.appendDecimal(length)
                out.append(crlf)
            }
            out.append(connection)
            out.append(crlf)
            initialized = out.count
        }
    }

    /// Header names the encoder treats specially, recognised without a String in sight.
    private enum Reserved {
        case framing, date, server, none

        init(_ name: [UInt8]) {
            switch name.first.map({ $0 | 0x20 }) {
            case 0x63 where httpNameMatches(name, "content-length") || httpNameMatches(name, "connection"): self = .framing
            case 0x74 where httpNameMatches(name, "transfer-encoding"): self = .framing
            case 0x64 where httpNameMatches(name, "date"): self = .date
            case 0x73 where httpNameMatches(name, "server"): self = .server
            default: self = .none
            }
        }
    }

    /// Byte strings built once, not per response.
    private enum Literal {
        static let http10: [UInt8] = Array("HTTP/1.0 ".utf8)
        static let http11: [UInt8] = Array("HTTP/1.1 ".utf8)
        static let server: [UInt8] = Array("Server".utf8)
        static let date: [UInt8] = Array("Date".utf8)
        static let contentLength: [UInt8] = Array("Content-Length: ".utf8)
        static let chunked: [UInt8] = Array("Transfer-Encoding: chunked\r\n".utf8)
        static let connectionClose: [UInt8] = Array("Connection: close\r\n".utf8)
        static let connectionKeepAlive: [UInt8] = Array("Connection: keep-alive\r\n".utf8)
    }

    static let continueLine: [UInt8] = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)

    /// "SIZE-IN-HEX\r\n" before a chunk of `count` bytes.
    static func chunkHeader(_ count: Int) -> [UInt8] {
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        var shift = (Int.bitWidth - count.leadingZeroBitCount + 3) / 4 * 4
        if shift == 0 { shift = 4 }
        while shift > 0 {
            shift -= 4
            out.append(digits[(count >> shift) & 15])
        }
        return out + crlf
    }

    static let crlf: [UInt8] = [0x0D, 0x0A]
    static let lastChunk: [UInt8] = Array("0\r\n\r\n".utf8)

    private static func fieldSize(_ name: [UInt8], _ value: ArraySlice<UInt8>) -> Int { name.count + 2 + value.count + 2 }

    private static func appendField(_ name: [UInt8], _ value: ArraySlice<UInt8>, to out: inout ByteWriter) {
        out.append(name)
        out.append(0x3A)
        out.append(0x20)
        let start = out.count
        out.append(value)
        // A handler's value with CR or LF would split the response: header injection.
        out.replace(in: start..<out.count) { $0 == 0x0D || $0 == 0x0A ? 0x20 : $0 }
        out.append(crlf)
    }
}

/// Appends bytes to memory sized beforehand; a write past its end traps.
struct ByteWriter {
    private let buffer: UnsafeMutableBufferPointer<UInt8>
    private(set) var count = 0

    init(_ buffer: UnsafeMutableBufferPointer<UInt8>) { self.buffer = buffer }

    mutating func append(_ byte: UInt8) {
        precondition(count < buffer.count)
        buffer[count] = byte
        count += 1
    }

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        precondition(bytes.count <= buffer.count - count)
        if let source = bytes.baseAddress, let target = buffer.baseAddress {
            UnsafeMutableRawPointer(target + count).copyMemory(from: source, byteCount: bytes.count)
        }
        count += bytes.count
    }

    mutating func append(_ bytes: [UInt8]) { bytes.withUnsafeBytes { append($0) } }
    mutating func append(_ bytes: ArraySlice<UInt8>) { bytes.withUnsafeBytes { append($0) } }

    mutating func appendDecimal(_ value: Int) {
        let digits = decimalDigits(value)
        precondition(digits <= buffer.count - count)
        if value < 0 { buffer[count] = 0x2D }
        var remaining = value.magnitude
        var index = count + digits
        repeat {
            index -= 1
            buffer[index] = UInt8(truncatingIfNeeded: 0x30 + remaining % 10)
            remaining /= 10
        } while remaining > 0
        count += digits
    }

    /// Rewrites the bytes already written in `range` through `transform`.
    mutating func replace(in range: Range<Int>, _ transform: (UInt8) -> UInt8) {
        precondition(range.upperBound <= count)
        for index in range { buffer[index] = transform(buffer[index]) }
    }
}

/// How many bytes `value` takes in decimal (with its minus sign).
func decimalDigits(_ value: Int) -> Int {
    var remaining = value.magnitude
    var digits = value < 0 ? 2 : 1
    while remaining >= 10 {
        remaining /= 10
        digits += 1
    }
    return digits
}

/// `value` in decimal, zero-padded to `minimumDigits`.
func appendDecimal(_ value: Int, minimumDigits: Int = 1, to out: inout [UInt8]) {
    if value < 0 { out.append(0x2D) }
    let magnitude = value.magnitude
    var divisor: UInt = 1
    var digits = 1
    while divisor <= magnitude / 10 || digits < minimumDigits {
        divisor *= 10
        digits += 1
    }
    var remaining = magnitude
    repeat {
        out.append(UInt8(truncatingIfNeeded: 0x30 + (remaining / divisor) % 10))
        remaining %= divisor
        divisor /= 10
    } while divisor > 0
}
