// The vocabulary of HTTP messages shared by the parser, the router and the server: methods,
// statuses, the error a handler throws, and header editing for responses.

public enum HTTPMethod: Equatable, Hashable, Sendable {
    case get, head, post, put, delete, patch, options
    case other([UInt8])

    public init(_ bytes: [UInt8]) {
        switch bytes.count {
        case 3 where asciiEquals(bytes, "GET"): self = .get
        case 3 where asciiEquals(bytes, "PUT"): self = .put
        case 4 where asciiEquals(bytes, "HEAD"): self = .head
        case 4 where asciiEquals(bytes, "POST"): self = .post
        case 5 where asciiEquals(bytes, "PATCH"): self = .patch
        case 6 where asciiEquals(bytes, "DELETE"): self = .delete
        case 7 where asciiEquals(bytes, "OPTIONS"): self = .options
        default: self = .other(bytes)
        }
    }

    public var name: String {
        switch self {
        case .get: return "GET"
        case .head: return "HEAD"
        case .post: return "POST"
        case .put: return "PUT"
        case .delete: return "DELETE"
        case .patch: return "PATCH"
        case .options: return "OPTIONS"
        case .other(let bytes): return String(decoding: bytes, as: UTF8.self)
        }
    }
}

/// A status code with its reason phrase.
public struct HTTPStatus: Equatable, Sendable {
    public let code: Int
    public let reason: StaticString

    public init(code: Int, reason: StaticString) {
        self.code = code
        self.reason = reason
    }

    public init(code: Int) {
        self.code = code
        self.reason = Self.reasonPhrase(code)
    }

    public static func == (a: HTTPStatus, b: HTTPStatus) -> Bool { a.code == b.code }

    public static let `continue` = HTTPStatus(code: 100)
    public static let ok = HTTPStatus(code: 200)
    public static let created = HTTPStatus(code: 201)
    public static let noContent = HTTPStatus(code: 204)
    public static let partialContent = HTTPStatus(code: 206)
    public static let movedPermanently = HTTPStatus(code: 301)
    public static let notModified = HTTPStatus(code: 304)
    public static let badRequest = HTTPStatus(code: 400)
    public static let forbidden = HTTPStatus(code: 403)
    public static let notFound = HTTPStatus(code: 404)
    public static let methodNotAllowed = HTTPStatus(code: 405)
    public static let requestTimeout = HTTPStatus(code: 408)
    public static let preconditionFailed = HTTPStatus(code: 412)
    public static let contentTooLarge = HTTPStatus(code: 413)
    public static let uriTooLong = HTTPStatus(code: 414)
    public static let unsupportedMediaType = HTTPStatus(code: 415)
    public static let rangeNotSatisfiable = HTTPStatus(code: 416)
    public static let unprocessableContent = HTTPStatus(code: 422)
    public static let requestHeaderFieldsTooLarge = HTTPStatus(code: 431)
    public static let internalServerError = HTTPStatus(code: 500)
    public static let notImplemented = HTTPStatus(code: 501)
    public static let serviceUnavailable = HTTPStatus(code: 503)
    public static let httpVersionNotSupported = HTTPStatus(code: 505)

    /// RFC 9110's phrase for the codes above; empty for others.
    private static func reasonPhrase(_ code: Int) -> StaticString {
        switch code {
        case 100: "Continue"
        case 200: "OK"
        case 201: "Created"
        case 204: "No Content"
        case 206: "Partial Content"
        case 301: "Moved Permanently"
        case 304: "Not Modified"
        case 400: "Bad Request"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 408: "Request Timeout"
        case 412: "Precondition Failed"
        case 413: "Content Too Large"
        case 414: "URI Too Long"
        case 415: "Unsupported Media Type"
        case 416: "Range Not Satisfiable"
        case 422: "Unprocessable Content"
        case 431: "Request Header Fields Too Large"
        case 500: "Internal Server Error"
        case 501: "Not Implemented"
        case 503: "Service Unavailable"
        case 505: "HTTP Version Not Supported"
        default: ""
        }
    }

    /// 1xx, 204 and 304 responses never carry content (RFC 9110 §6.4.1).
    public var allowsContent: Bool { code >= 200 && code != 204 && code != 304 }
}

/// What a handler throws to answer with an error status; the message becomes the body.
public struct HTTPError: Error, Sendable {
    public var status: HTTPStatus
    public var message: String

    public init(_ status: HTTPStatus, _ message: String = "") {
        self.status = status
        self.message = message
    }
}

extension HTTPParseError {
    public var httpStatus: HTTPStatus { HTTPStatus(code: status) }
}

extension HTTPHeaders {
    /// Appends a field (another value for the same name stays separate).
    public mutating func add(_ name: String, _ value: String) {
        fields.append(HTTPHeaderField(name: Array(name.utf8), value: Array(value.utf8)))
    }

    /// Replaces every field named `name` with one field.
    public mutating func set(_ name: String, _ value: String) {
        remove(name)
        add(name, value)
    }

    public mutating func remove(_ name: String) {
        fields.removeAll { httpNameMatches($0.name, name) }
    }

    /// The first value for `name` as text.
    public subscript(name: String) -> String? {
        first(name).map { String(decoding: $0, as: UTF8.self) }
    }
}

/// Whether two strings have the same UTF-8 bytes (no Unicode normalization: cheap and enough
/// for names and keys).
func utf8Equal(_ a: String, _ b: some Collection<UInt8>) -> Bool {
    a.utf8.elementsEqual(b)
}
