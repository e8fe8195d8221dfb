// What a handler returns. The server adds the framing (Content-Length or chunked), `Date`,
// `Server` and `Connection`; the handler sets the status, its own headers and the body.

public struct HTTPResponse {
    public var status: HTTPStatus
    public var headers: HTTPHeaders
    public var body: HTTPResponseBody

    public init(status: HTTPStatus = .ok, headers: HTTPHeaders = HTTPHeaders(), body: HTTPResponseBody = .empty) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public init(status: HTTPStatus = .ok, contentType: String, body: HTTPResponseBody) {
        self.init(status: status, body: body)
        headers.add("Content-Type", contentType)
    }

    public static func text(_ text: String, status: HTTPStatus = .ok) -> HTTPResponse {
        HTTPResponse(status: status, contentType: "text/plain; charset=utf-8", body: .bytes(Array(text.utf8)))
    }

    public static func html(_ html: String, status: HTTPStatus = .ok) -> HTTPResponse {
        HTTPResponse(status: status, contentType: "text/html; charset=utf-8", body: .bytes(Array(html.utf8)))
    }

    public static func json(_ json: String, status: HTTPStatus = .ok) -> HTTPResponse {
        HTTPResponse(status: status, contentType: "application/json", body: .bytes(Array(json.utf8)))
    }

    public static func json(_ object: JSONObject, status: HTTPStatus = .ok) -> HTTPResponse {
        json(object.text, status: status)
    }

    /// A plain-text error response: the status line's reason, or `message` when given.
    public static func error(_ status: HTTPStatus, message: String = "") -> HTTPResponse {
        if message.isEmpty {
            var reason = String(decoding: UnsafeRawBufferPointer(start: status.reason.utf8Start, count: status.reason.utf8CodeUnitCount), as: UTF8.self)
            reason.append("\n")
            return text(reason, status: status)
        }
        return text(message + "\n", status: status)
    }
}

public enum HTTPResponseBody {
    case empty
    case bytes([UInt8])
    /// Memory that outlives the response, such as an embedded asset: sent without a copy.
    case borrowed(UnsafeRawBufferPointer)
    /// Produced piece by piece as the client reads, sent chunked; `nil` ends the body.
    case stream(() -> [UInt8]?)

    /// The length, when known before sending.
    public var count: Int? {
        switch self {
        case .empty: return 0
        case .bytes(let bytes): return bytes.count
        case .borrowed(let buffer): return buffer.count
        case .stream: return nil
        }
    }
}

/// Builds a JSON object text with correct escaping, one member at a time.
public struct JSONObject {
    private var body = ""

    public init() {}

    public mutating func add(_ key: String, _ value: Int) { member(key); body += String(value) }
    public mutating func add(_ key: String, _ value: UInt64) { member(key); body += String(value) }
    public mutating func add(_ key: String, _ value: Bool) { member(key); body += value ? "true" : "false" }
    public mutating func add(_ key: String, _ value: String) { member(key); appendQuoted(value) }
    public mutating func add(_ key: String, _ value: JSONObject) { member(key); body += value.text }

    public var text: String { "{" + body + "}" }

    private mutating func member(_ key: String) {
        if !body.isEmpty { body += "," }
        appendQuoted(key)
        body += ":"
    }

    private mutating func appendQuoted(_ string: String) {
        var bytes: [UInt8] = [0x22]
        for byte in string.utf8 {
            switch byte {
            case 0x22: bytes += [0x5C, 0x22]
            case 0x5C: bytes += [0x5C, 0x5C]
            case 0x0A: bytes += [0x5C, 0x6E]
            case 0x0D: bytes += [0x5C, 0x72]
            case 0x09: bytes += [0x5C, 0x74]
            case 0..<0x20:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                bytes += [0x5C, 0x75, 0x30, 0x30, hex[Int(byte >> 4)], hex[Int(byte & 15)]]
            default: bytes.append(byte)
            }
        }
        bytes.append(0x22)
        body += String(decoding: bytes, as: UTF8.self)
    }
}
