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
    static func head(_ response: HTTPResponse, framing: HTTPBodyFraming, version: HTTPVersion, keepAlive: Bool,
                     date: [UInt8], server: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var capacity = 128 + server.count + date.count
        for field in response.headers.fields { capacity += field.name.count + field.value.count + 4 }
        out.reserveCapacity(capacity)
        out += version == .http10 ? Literal.http10 : Literal.http11
        appendDecimal(response.status.code, to: &out)
        out.append(0x20)
        out += UnsafeRawBufferPointer(start: response.status.reason.utf8Start, count: response.status.reason.utf8CodeUnitCount)
        out += crlf

        var hasDate = false
        var hasServer = false
        for field in response.headers.fields {
            switch Reserved(field.name) {
            case .framing: continue
            case .date: hasDate = true
            case .server: hasServer = true
            case .none: break
            }
            appendField(field.name, field.value, to: &out)
        }
        if !hasServer && !server.isEmpty { appendField(Literal.server, server, to: &out) }
        if !hasDate { appendField(Literal.date, date, to: &out) }
        switch framing {
        case .none(let advertised):
            if let advertised { appendLength(advertised, to: &out) }
        case .length(let count):
            appendLength(count, to: &out)
        case .chunked:
            out += Literal.chunked
        case .untilClose:
            break
        }
        if !keepAlive {
            out += Literal.connectionClose
        } else if version == .http10 {
            out += Literal.connectionKeepAlive
        }
        out += crlf
        return out
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

    private static func appendField(_ name: [UInt8], _ value: [UInt8], to out: inout [UInt8]) {
        out.append(contentsOf: name)
        out.append(0x3A)
        out.append(0x20)
        // A handler's value with CR or LF would split the response: header injection.
        if value.contains(where: { $0 == 0x0D || $0 == 0x0A }) {
            for byte in value { out.append(byte == 0x0D || byte == 0x0A ? 0x20 : byte) }
        } else {
            out.append(contentsOf: value)
        }
        out.append(0x0D)
        out.append(0x0A)
    }

    private static func appendLength(_ count: Int, to out: inout [UInt8]) {
        out += Literal.contentLength
        appendDecimal(count, to: &out)
        out += crlf
    }
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
