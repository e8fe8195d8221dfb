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
        out.reserveCapacity(160 + response.headers.fields.count * 32)
        out += version == .http10 ? Array("HTTP/1.0 ".utf8) : Array("HTTP/1.1 ".utf8)
        appendDecimal(response.status.code, to: &out)
        out.append(0x20)
        out += UnsafeRawBufferPointer(start: response.status.reason.utf8Start, count: response.status.reason.utf8CodeUnitCount)
        out += crlf

        var hasDate = false
        var hasServer = false
        for field in response.headers.fields {
            if httpNameMatches(field.name, "content-length") || httpNameMatches(field.name, "transfer-encoding")
                || httpNameMatches(field.name, "connection") {
                continue
            }
            if httpNameMatches(field.name, "date") { hasDate = true }
            if httpNameMatches(field.name, "server") { hasServer = true }
            appendField(field.name, field.value, to: &out)
        }
        if !hasServer && !server.isEmpty { appendField(Array("Server".utf8), server, to: &out) }
        if !hasDate { appendField(Array("Date".utf8), date, to: &out) }
        switch framing {
        case .none(let advertised):
            if let advertised { appendLength(advertised, to: &out) }
        case .length(let count):
            appendLength(count, to: &out)
        case .chunked:
            appendField(Array("Transfer-Encoding".utf8), Array("chunked".utf8), to: &out)
        case .untilClose:
            break
        }
        if !keepAlive {
            appendField(Array("Connection".utf8), Array("close".utf8), to: &out)
        } else if version == .http10 {
            appendField(Array("Connection".utf8), Array("keep-alive".utf8), to: &out)
        }
        out += crlf
        return out
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
        out += name
        out += [0x3A, 0x20]
        // A handler's value with CR or LF would split the response: header injection.
        for byte in value { out.append(byte == 0x0D || byte == 0x0A ? 0x20 : byte) }
        out += crlf
    }

    private static func appendLength(_ count: Int, to out: inout [UInt8]) {
        out += Array("Content-Length: ".utf8)
        appendDecimal(count, to: &out)
        out += crlf
    }
}

func appendDecimal(_ value: Int, to out: inout [UInt8]) {
    if value < 0 { out.append(0x2D) }
    var magnitude = value.magnitude
    var digits: [UInt8] = []
    repeat {
        digits.append(UInt8(0x30 + magnitude % 10))
        magnitude /= 10
    } while magnitude > 0
    out += digits.reversed()
}
