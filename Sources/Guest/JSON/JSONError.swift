// Why JSON text or a JSONValue was refused: what kind of problem, where (a byte offset into
// the input for parse errors), and a short description people can act on.

public struct JSONError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Kind: Equatable, Sendable {
        /// Something else was expected at `offset` (`detail` says what).
        case syntax
        /// A string holds bytes that are not UTF-8 (bad lead, bad continuation, overlong,
        /// an encoded surrogate or a code point above U+10FFFF).
        case invalidUTF8
        /// A control character (below U+0020) inside a string: RFC 8259 §7 wants it escaped.
        case controlCharacter
        /// A `\` not followed by one of `"\/bfnrt` or by `u` and four hex digits.
        case invalidEscape
        /// A `\uD800`–`\uDFFF` escape that is not half of a well-formed surrogate pair.
        case loneSurrogate
        /// A UTF-8 byte order mark before the text (RFC 8259 §8.1 lets parsers ignore it; we refuse).
        case byteOrderMark
        /// Arrays and objects nested deeper than `JSONLimits.maxDepth`.
        case tooDeep
        /// Input longer than `JSONLimits.maxInputSize`.
        case tooLarge
        /// Decoding into a type: a required object member is absent.
        case missingKey
        /// Decoding into a type: a value of the wrong kind, or a number out of range.
        case wrongType
    }

    public var kind: Kind
    /// The byte offset in the input where the problem starts; nil for errors found while
    /// decoding a `JSONValue` into a type (the value no longer knows where it came from).
    public var offset: Int?
    /// Decoding errors: where in the value, e.g. `user.tags[2]` (empty at the top level).
    public var path: String = ""
    /// What was expected or what is wrong, e.g. `expected ',' or ']'`.
    public var detail: String

    public init(_ kind: Kind, offset: Int? = nil, _ detail: String) {
        self.kind = kind
        self.offset = offset
        self.detail = detail
    }

    /// One line: `byte 12: expected ',' or ']'`, or `user.age: expected an integer, found a string`.
    public var description: String {
        if let offset { return "byte \(offset): \(detail)" }
        return path.isEmpty ? detail : path + ": " + detail
    }

    /// The same error seen from the enclosing object member (`key`) or array element (`[2]`).
    func inside(_ step: String) -> JSONError {
        var error = self
        if path.isEmpty || path.utf8.first == 0x5B {  // "[": an array index follows directly
            error.path = step + path
        } else {
            error.path = step + "." + path
        }
        return error
    }
}
