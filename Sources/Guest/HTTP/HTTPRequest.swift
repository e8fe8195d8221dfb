// A complete request as handlers see it: method, path split from the query, headers, the
// whole body, and the parameters the router captured from the path.

public struct HTTPRequest {
    public let head: HTTPRequestHead
    public let method: HTTPMethod
    /// The target's path, still percent-encoded (`/a%20b`); `pathString` decodes it.
    public let path: [UInt8]
    /// The target's query without the `?` (empty when there is none).
    public let rawQuery: [UInt8]
    public var body: [UInt8]
    /// Values captured by the route's `:name` / `{name}` segments and its `**` tail.
    public var parameters = HTTPParameters()

    public init(head: HTTPRequestHead, body: [UInt8] = []) {
        self.head = head
        self.method = HTTPMethod(head.method)
        self.body = body
        let target = head.target
        if let mark = target.firstIndex(of: 0x3F) {
            path = Array(target[..<mark])
            rawQuery = Array(target[(mark + 1)...])
        } else {
            path = target
            rawQuery = []
        }
    }

    public var headers: HTTPHeaders { head.headers }
    public var version: HTTPVersion { head.version }
    public var pathString: String { String(decoding: percentDecoded(path[...]), as: UTF8.self) }
    public var bodyString: String { String(decoding: body, as: UTF8.self) }

    /// The first query value for `name` (`?name=value&...`), with `+` and %XX decoded.
    public func query(_ name: String) -> String? {
        for pair in rawQuery.split(separator: 0x26, omittingEmptySubsequences: true) {
            let equals = pair.firstIndex(of: 0x3D) ?? pair.endIndex
            let key = percentDecoded(pair[pair.startIndex..<equals], plusAsSpace: true)
            guard utf8Equal(name, key) else { continue }
            let value = equals < pair.endIndex ? pair[(equals + 1)...] : pair[pair.endIndex...]
            return String(decoding: percentDecoded(value, plusAsSpace: true), as: UTF8.self)
        }
        return nil
    }
}

/// Named values captured from the path, in route order.
public struct HTTPParameters {
    public private(set) var names: [[UInt8]] = []
    public private(set) var values: [[UInt8]] = []
    /// What a trailing `**` matched (without the leading slash), if the route has one.
    public internal(set) var catchAll: [UInt8]?

    public init() {}

    mutating func append(name: [UInt8], value: [UInt8]) {
        names.append(name)
        values.append(value)
    }

    public subscript(name: String) -> String? {
        for index in names.indices where utf8Equal(name, names[index]) {
            return String(decoding: values[index], as: UTF8.self)
        }
        return nil
    }

    /// `self[name]` as an integer; nil when missing or not a decimal number.
    public func int(_ name: String) -> Int? {
        self[name].flatMap { Int($0) }
    }

    public var isEmpty: Bool { names.isEmpty && catchAll == nil }
}

/// Decodes %XX escapes (and `+` as space in queries); invalid escapes stay as they are. Not
/// inlined: paths rarely have escapes, and query parameters and static files had a copy each.
@inline(never)
func percentDecoded(_ bytes: ArraySlice<UInt8>, plusAsSpace: Bool = false) -> [UInt8] {
    var result: [UInt8] = []
    result.reserveCapacity(bytes.count)
    var index = bytes.startIndex
    while index < bytes.endIndex {
        let byte = bytes[index]
        if byte == 0x25, index + 2 < bytes.endIndex,
           let high = hexValue(bytes[index + 1]), let low = hexValue(bytes[index + 2]) {
            result.append(high << 4 | low)
            index += 3
            continue
        }
        result.append(plusAsSpace && byte == 0x2B ? 0x20 : byte)
        index += 1
    }
    return result
}
