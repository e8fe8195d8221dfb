// The application's own types to and from JSON, without Codable (unavailable in Embedded
// Swift) and without existentials: a type says how it reads itself from a JSONValue and how it
// writes itself as one. Written by hand, it stays short with the accessors below:
//
//     struct User: JSONCodable {
//         var name: String
//         var age: Int
//         var email: String?
//
//         init(json: JSONValue) throws(JSONError) {
//             name = try json.require("name")
//             age = try json.require("age")
//             email = try json.optional("email")
//         }
//
//         var json: JSONValue { ["name": name.json, "age": age.json, "email": email.json] }
//     }
//
// Why a protocol pair and not a macro or a reflection-based coder: Embedded Swift has no
// Mirror, and a macro needs a compiler plugin the guest build does not load; the hand-written
// form is a few lines per type, reads like the JSON it maps to, and makes renames, defaults
// and validation plain Swift. Errors say where they are (`address.city: expected a string,
// found null`), and everything is generic, so it specializes and needs no runtime metadata.

public protocol JSONDecodable {
    init(json: JSONValue) throws(JSONError)
}

public protocol JSONEncodable {
    var json: JSONValue { get }
}

public typealias JSONCodable = JSONDecodable & JSONEncodable

extension JSONValue {
    /// The member `key` as a `T`; throws `missingKey` when absent, `wrongType` when it does not fit.
    public func require<T: JSONDecodable>(_ key: String, as type: T.Type = T.self) throws(JSONError) -> T {
        guard case .object = self else { throw JSONError.mismatch(expected: "an object", found: self) }
        guard let member = self[key] else { throw JSONError(.missingKey, "missing member").inside(key) }
        do throws(JSONError) { return try T(json: member) } catch { throw error.inside(key) }
    }

    /// The member `key` as a `T`, or nil when it is absent or null; throws when it is something else.
    public func optional<T: JSONDecodable>(_ key: String, as type: T.Type = T.self) throws(JSONError) -> T? {
        guard case .object = self else { throw JSONError.mismatch(expected: "an object", found: self) }
        guard let member = self[key], member != .null else { return nil }
        do throws(JSONError) { return try T(json: member) } catch { throw error.inside(key) }
    }

    /// This value as a `T`.
    public func decode<T: JSONDecodable>(as type: T.Type = T.self) throws(JSONError) -> T {
        try T(json: self)
    }
}

extension JSONError {
    static func mismatch(expected: String, found value: JSONValue) -> JSONError {
        JSONError(.wrongType, "expected \(expected), found \(value.kindName)")
    }
}

// MARK: Standard types

extension JSONValue: JSONCodable {
    public init(json: JSONValue) { self = json }
    public var json: JSONValue { self }
}

extension Bool: JSONCodable {
    public init(json: JSONValue) throws(JSONError) {
        guard let value = json.bool else { throw .mismatch(expected: "a boolean", found: json) }
        self = value
    }
    public var json: JSONValue { .bool(self) }
}

extension String: JSONCodable {
    public init(json: JSONValue) throws(JSONError) {
        guard let value = json.string else { throw .mismatch(expected: "a string", found: json) }
        self = value
    }
    public var json: JSONValue { .string(self) }
}

extension Int: JSONCodable {
    public init(json: JSONValue) throws(JSONError) {
        guard let value = json.int else { throw .integerMismatch(json) }
        self = value
    }
    public var json: JSONValue { .number(JSONNumber(self)) }
}

extension Int64: JSONCodable {
    public init(json: JSONValue) throws(JSONError) {
        guard let value = json.int64 else { throw .integerMismatch(json) }
        self = value
    }
    public var json: JSONValue { .number(JSONNumber(self)) }
}

extension Double: JSONCodable {
    public init(json: JSONValue) throws(JSONError) {
        guard let number = json.number else { throw .mismatch(expected: "a number", found: json) }
        guard let value = number.double else { throw JSONError(.wrongType, "\(number.text) is beyond the range of Double") }
        self = value
    }
    /// Infinities and NaN have no JSON form: they become null.
    public var json: JSONValue { JSONNumber(self).map { .number($0) } ?? .null }
}

extension Array: JSONDecodable where Element: JSONDecodable {
    public init(json: JSONValue) throws(JSONError) {
        guard let elements = json.array else { throw .mismatch(expected: "an array", found: json) }
        var result: [Element] = []
        result.reserveCapacity(elements.count)
        for (index, element) in elements.enumerated() {
            do throws(JSONError) { result.append(try Element(json: element)) } catch { throw error.inside("[\(index)]") }
        }
        self = result
    }
}

extension Array: JSONEncodable where Element: JSONEncodable {
    public var json: JSONValue { .array(map { $0.json }) }
}

/// A missing optional member and an explicit null both decode to nil.
extension Optional: JSONDecodable where Wrapped: JSONDecodable {
    public init(json: JSONValue) throws(JSONError) {
        self = json == .null ? nil : try Wrapped(json: json)
    }
}

extension Optional: JSONEncodable where Wrapped: JSONEncodable {
    public var json: JSONValue { map { $0.json } ?? .null }
}

extension JSONError {
    static func integerMismatch(_ value: JSONValue) -> JSONError {
        if let number = value.number {
            return JSONError(.wrongType, number.isInteger ? "\(number.text) is out of range" : "expected an integer, found \(number.text)")
        }
        return .mismatch(expected: "an integer", found: value)
    }
}
