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
        HTTPResponse(status: status, contentType: "application/json", body: .bytes(object.bytes))
    }

    public static func json(_ value: JSONValue, status: HTTPStatus = .ok) -> HTTPResponse {
        HTTPResponse(status: status, contentType: "application/json", body: .bytes(value.bytes))
    }

    /// An application type that writes itself as JSON (see JSONEncodable).
    public static func json<Value: JSONEncodable>(_ value: Value, status: HTTPStatus = .ok) -> HTTPResponse {
        json(value.json, status: status)
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

/// Builds a JSON object text with correct escaping, one member at a time. The members are
/// written as bytes by calls that stay calls: inlined into a handler, each `add` built, checked
/// and appended a String, some 500 bytes of code per member (5 KB in examples/web's status).
public struct JSONObject {
    private var body: [UInt8] = []

    public init() {}

    @inline(never) public mutating func add(_ key: String, _ value: Int) { member(key); appendDecimal(value, to: &body) }
    @inline(never) public mutating func add(_ key: String, _ value: UInt64) { member(key); body += String(value).utf8 }
    @inline(never) public mutating func add(_ key: String, _ value: Bool) { member(key); body += (value ? "true" : "false").utf8 }
    @inline(never) public mutating func add(_ key: String, _ value: String) { member(key); appendJSONString(value, to: &body) }
    @inline(never) public mutating func add(_ key: String, _ value: JSONObject) { member(key); body += value.bytes }
    @inline(never) public mutating func add(_ key: String, _ value: JSONValue) { member(key); value.write(to: &body) }

    /// The object's UTF-8 text.
    public var bytes: [UInt8] { [0x7B] + body + [0x7D] }

    public var text: String { String(decoding: bytes, as: UTF8.self) }

    private mutating func member(_ key: String) {
        if !body.isEmpty { body.append(0x2C) }
        appendJSONString(key, to: &body)
        body.append(0x3A)
    }
}
