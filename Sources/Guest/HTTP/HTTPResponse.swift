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

/// Builds a JSON object text with correct escaping, one member at a time.
public struct JSONObject {
    private var body = ""

    public init() {}

    public mutating func add(_ key: String, _ value: Int) { member(key); body += String(value) }
    public mutating func add(_ key: String, _ value: UInt64) { member(key); body += String(value) }
    public mutating func add(_ key: String, _ value: Bool) { member(key); body += value ? "true" : "false" }
    public mutating func add(_ key: String, _ value: String) { member(key); appendQuoted(value) }
    public mutating func add(_ key: String, _ value: JSONObject) { member(key); body += value.text }
    public mutating func add(_ key: String, _ value: JSONValue) { member(key); body += value.text }

    public var text: String { "{" + body + "}" }

    private mutating func member(_ key: String) {
        if !body.isEmpty { body += "," }
        appendQuoted(key)
        body += ":"
    }

    private mutating func appendQuoted(_ string: String) {
        var bytes: [UInt8] = []
        appendJSONString(string, to: &bytes)
        body += String(decoding: bytes, as: UTF8.self)
    }
}
