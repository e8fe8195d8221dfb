// RFC 8259 JSON text to a JSONValue, in one pass over the bytes with bounded recursion.
// Decisions (the RFC leaves them to the parser, §8–9):
// - limits: the input size is checked before any work, and nesting deeper than `maxDepth`
//   stops at the opening bracket that goes too deep (so the stack use is bounded too);
// - strings must be UTF-8 (RFC 8259 §8.1): any invalid sequence is refused at its byte;
// - a `\u` escape of half a surrogate pair without its other half is refused (`loneSurrogate`),
//   since it has no UTF-8 form and replacing it would silently change the data;
// - a leading byte order mark is refused (§8.1: "MUST NOT add", parsers "MAY ignore");
// - duplicate keys are kept in order; lookups take the last (see JSONValue);
// - numbers keep their text whatever their size (see JSONNumber);
// - only space, tab, LF and CR count as whitespace; nothing may follow the value.

public struct JSONLimits: Sendable {
    /// How many arrays/objects may be open at once (`[[1]]` is depth 2).
    public var maxDepth: Int
    /// The longest input accepted, in bytes.
    public var maxInputSize: Int

    public init(maxDepth: Int = 64, maxInputSize: Int = 1 << 20) {
        self.maxDepth = maxDepth
        self.maxInputSize = maxInputSize
    }
}

extension JSONValue {
    /// Parses one JSON text (RFC 8259), e.g. a request body.
    public static func parse(_ bytes: [UInt8], limits: JSONLimits = JSONLimits()) throws(JSONError) -> JSONValue {
        let result: Result<JSONValue, JSONError> = bytes.withUnsafeBytes { input in
            do throws(JSONError) { return .success(try JSONParser.parse(input, limits: limits)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    public static func parse(_ text: String, limits: JSONLimits = JSONLimits()) throws(JSONError) -> JSONValue {
        try parse(Array(text.utf8), limits: limits)
    }
}

struct JSONParser {
    private let input: UnsafeRawBufferPointer
    private let limits: JSONLimits
    private var offset = 0
    private var depth = 0

    static func parse(_ input: UnsafeRawBufferPointer, limits: JSONLimits) throws(JSONError) -> JSONValue {
        guard input.count <= limits.maxInputSize else {
            throw JSONError(.tooLarge, offset: limits.maxInputSize,
                            "the input is \(input.count) bytes, over the limit of \(limits.maxInputSize)")
        }
        if input.count >= 3 && input[0] == 0xEF && input[1] == 0xBB && input[2] == 0xBF {
            throw JSONError(.byteOrderMark, offset: 0, "a byte order mark is not allowed before JSON text")
        }
        var parser = JSONParser(input: input, limits: limits)
        parser.skipWhitespace()
        let value = try parser.value()
        parser.skipWhitespace()
        guard parser.offset == input.count else { throw parser.expected("the end of the input") }
        return value
    }

    private init(input: UnsafeRawBufferPointer, limits: JSONLimits) {
        self.input = input
        self.limits = limits
    }

    // MARK: Values

    private mutating func value() throws(JSONError) -> JSONValue {
        guard offset < input.count else { throw expected("a value") }
        switch input[offset] {
        case Byte.openBrace: return try object()
        case Byte.openBracket: return try array()
        case Byte.quote: return .string(try string())
        case Byte.t: try literal("true"); return .bool(true)
        case Byte.f: try literal("false"); return .bool(false)
        case Byte.n: try literal("null"); return .null
        case Byte.minus, Byte.zero...Byte.nine: return .number(try number())
        default: throw expected("a value")
        }
    }

    private mutating func object() throws(JSONError) -> JSONValue {
        try enter()
        var members: [JSONMember] = []
        skipWhitespace()
        if peek() == Byte.closeBrace {
            offset += 1
            depth -= 1
            return .object(members)
        }
        while true {
            guard peek() == Byte.quote else { throw expected(members.isEmpty ? "a string key or '}'" : "a string key") }
            let key = try string()
            skipWhitespace()
            guard peek() == Byte.colon else { throw expected("':' after the key") }
            offset += 1
            skipWhitespace()
            members.append(JSONMember(key, try value()))
            skipWhitespace()
            switch peek() {
            case Byte.comma: offset += 1; skipWhitespace()
            case Byte.closeBrace: offset += 1; depth -= 1; return .object(members)
            default: throw expected("',' or '}'")
            }
        }
    }

    private mutating func array() throws(JSONError) -> JSONValue {
        try enter()
        var elements: [JSONValue] = []
        skipWhitespace()
        if peek() == Byte.closeBracket {
            offset += 1
            depth -= 1
            return .array(elements)
        }
        while true {
            elements.append(try value())
            skipWhitespace()
            switch peek() {
            case Byte.comma: offset += 1; skipWhitespace()
            case Byte.closeBracket: offset += 1; depth -= 1; return .array(elements)
            default: throw expected("',' or ']'")
            }
        }
    }

    /// Steps over an opening bracket or brace, unless it nests too deep.
    private mutating func enter() throws(JSONError) {
        guard depth < limits.maxDepth else {
            throw JSONError(.tooDeep, offset: offset, "nested deeper than the limit of \(limits.maxDepth)")
        }
        depth += 1
        offset += 1
    }

    private mutating func literal(_ word: StaticString) throws(JSONError) {
        let count = word.utf8CodeUnitCount
        for index in 0..<count {
            guard offset + index < input.count, input[offset + index] == word.utf8Start[index] else {
                let text = String(decoding: UnsafeRawBufferPointer(start: word.utf8Start, count: count), as: UTF8.self)
                throw JSONError(.syntax, offset: offset + index, "expected '" + text + "'")
            }
        }
        offset += count
    }

    // MARK: Numbers

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    private mutating func number() throws(JSONError) -> JSONNumber {
        let start = offset
        if peek() == Byte.minus { offset += 1 }
        if peek() == Byte.zero {
            offset += 1
        } else {
            guard digits() > 0 else { throw expected("a digit") }
        }
        if peek() == Byte.period {
            offset += 1
            guard digits() > 0 else { throw expected("a digit after '.'") }
        }
        if peek() == Byte.e || peek() == Byte.upperE {
            offset += 1
            if peek() == Byte.plus || peek() == Byte.minus { offset += 1 }
            guard digits() > 0 else { throw expected("a digit in the exponent") }
        }
        return JSONNumber(validatedText: String(decoding: UnsafeRawBufferPointer(rebasing: input[start..<offset]), as: UTF8.self))
    }

    private mutating func digits() -> Int {
        let start = offset
        while let byte = peek(), byte >= Byte.zero && byte <= Byte.nine { offset += 1 }
        return offset - start
    }

    // MARK: Strings

    /// A string from its opening quote. Without escapes the result is made straight from the
    /// input bytes; the first escape switches to a copy.
    private mutating func string() throws(JSONError) -> String {
        offset += 1
        let start = offset
        var copy: [UInt8]?
        while true {
            guard let byte = peek() else {
                throw JSONError(.syntax, offset: offset, "expected '\"' to end the string")
            }
            switch byte {
            case Byte.quote:
                offset += 1
                if let copy { return String(decoding: copy, as: UTF8.self) }
                return String(decoding: UnsafeRawBufferPointer(rebasing: input[start..<offset - 1]), as: UTF8.self)
            case Byte.backslash:
                if copy == nil { copy = Array(input[start..<offset]) }
                try escape(into: &copy!)
            case 0..<0x20:
                throw JSONError(.controlCharacter, offset: offset, "a control character must be escaped in a string")
            case 0x20..<0x80:
                copy?.append(byte)
                offset += 1
            default:
                let length = try utf8Sequence()
                copy?.append(contentsOf: input[offset..<offset + length])
                offset += length
            }
        }
    }

    /// The length of the well-formed UTF-8 sequence at `offset` (Unicode Table 3-7).
    private func utf8Sequence() throws(JSONError) -> Int {
        let lead = input[offset]
        let length: Int
        var secondRange: ClosedRange<UInt8> = 0x80...0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; secondRange = 0xA0...0xBF
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; secondRange = 0x80...0x9F
        case 0xF0: length = 4; secondRange = 0x90...0xBF
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; secondRange = 0x80...0x8F
        default: throw JSONError(.invalidUTF8, offset: offset, "invalid UTF-8 lead byte")
        }
        for index in 1..<length {
            let range = index == 1 ? secondRange : 0x80...0xBF
            guard offset + index < input.count, range.contains(input[offset + index]) else {
                throw JSONError(.invalidUTF8, offset: offset + index, "invalid UTF-8 sequence")
            }
        }
        return length
    }

    private mutating func escape(into bytes: inout [UInt8]) throws(JSONError) {
        let start = offset
        offset += 1
        guard let letter = peek() else { throw JSONError(.invalidEscape, offset: start, "unfinished escape") }
        offset += 1
        switch letter {
        case Byte.quote, Byte.backslash, Byte.slash: bytes.append(letter)
        case Byte.b: bytes.append(0x08)
        case Byte.f: bytes.append(0x0C)
        case Byte.n: bytes.append(0x0A)
        case Byte.r: bytes.append(0x0D)
        case Byte.t: bytes.append(0x09)
        case Byte.u:
            var scalar = try hex4(escapeAt: start)
            if scalar >= 0xD800 && scalar <= 0xDBFF {
                guard peek() == Byte.backslash, offset + 1 < input.count, input[offset + 1] == Byte.u else {
                    throw JSONError(.loneSurrogate, offset: start, "a high surrogate escape without its low half")
                }
                let second = offset
                offset += 2
                let low = try hex4(escapeAt: second)
                guard low >= 0xDC00 && low <= 0xDFFF else {
                    throw JSONError(.loneSurrogate, offset: start, "a high surrogate escape without its low half")
                }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            } else if scalar >= 0xDC00 && scalar <= 0xDFFF {
                throw JSONError(.loneSurrogate, offset: start, "a low surrogate escape without its high half")
            }
            appendUTF8(scalar, to: &bytes)
        default:
            throw JSONError(.invalidEscape, offset: start, "expected one of \"\\/bfnrtu after '\\'")
        }
    }

    private mutating func hex4(escapeAt start: Int) throws(JSONError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let byte = peek(), let digit = hexValue(byte) else {
                throw JSONError(.invalidEscape, offset: start, "expected four hex digits after '\\u'")
            }
            value = value << 4 | UInt32(digit)
            offset += 1
        }
        return value
    }

    // MARK: Bytes

    private func peek() -> UInt8? { offset < input.count ? input[offset] : nil }

    private mutating func skipWhitespace() {
        while let byte = peek(), byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { offset += 1 }
    }

    private func expected(_ what: String) -> JSONError {
        JSONError(.syntax, offset: offset, "expected \(what)")
    }

    private enum Byte {
        static let quote: UInt8 = 0x22, backslash: UInt8 = 0x5C, slash: UInt8 = 0x2F
        static let openBrace: UInt8 = 0x7B, closeBrace: UInt8 = 0x7D
        static let openBracket: UInt8 = 0x5B, closeBracket: UInt8 = 0x5D
        static let comma: UInt8 = 0x2C, colon: UInt8 = 0x3A, period: UInt8 = 0x2E
        static let minus: UInt8 = 0x2D, plus: UInt8 = 0x2B, zero: UInt8 = 0x30, nine: UInt8 = 0x39
        static let b: UInt8 = 0x62, e: UInt8 = 0x65, upperE: UInt8 = 0x45, f: UInt8 = 0x66, n: UInt8 = 0x6E
        static let r: UInt8 = 0x72, t: UInt8 = 0x74, u: UInt8 = 0x75
    }
}

/// Appends the UTF-8 form of a Unicode scalar value (not a surrogate).
func appendUTF8(_ scalar: UInt32, to bytes: inout [UInt8]) {
    switch scalar {
    case 0..<0x80:
        bytes.append(UInt8(scalar))
    case 0x80..<0x800:
        bytes.append(UInt8(0xC0 | scalar >> 6))
        bytes.append(UInt8(0x80 | scalar & 0x3F))
    case 0x800..<0x10000:
        bytes.append(UInt8(0xE0 | scalar >> 12))
        bytes.append(UInt8(0x80 | scalar >> 6 & 0x3F))
        bytes.append(UInt8(0x80 | scalar & 0x3F))
    default:
        bytes.append(UInt8(0xF0 | scalar >> 18))
        bytes.append(UInt8(0x80 | scalar >> 12 & 0x3F))
        bytes.append(UInt8(0x80 | scalar >> 6 & 0x3F))
        bytes.append(UInt8(0x80 | scalar & 0x3F))
    }
}
