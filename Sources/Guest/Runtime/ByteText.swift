// The library's own start-up text — guest arguments (`key=value`), the lists in their values,
// built-in word lists — read as its UTF-8 bytes. String's `split`, `firstIndex(of:)`, `==` and
// `Int(text)` each link generic code and UTF-8 index checks of their own (parsing the arguments
// that way was ~8 KB of the web image), and `==` the Unicode tables; for ASCII, bytes answer
// the same.

/// ASCII text borrowed from its owner (the boot argument block, a literal, a String during
/// `withByteText`): valid as long as that is.
struct ByteText {
    let bytes: UnsafeRawBufferPointer

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    init(_ literal: StaticString) {
        bytes = UnsafeRawBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount)
    }

    var isEmpty: Bool { bytes.isEmpty }

    /// The same bytes as `literal`.
    func equals(_ literal: StaticString) -> Bool { asciiEquals(bytes, literal) }

    /// What comes before and after the first `separator`; nil if there is none.
    func split(at separator: UInt8) -> (before: ByteText, after: ByteText)? {
        guard let index = bytes.firstIndex(of: separator) else { return nil }
        return (ByteText(UnsafeRawBufferPointer(rebasing: bytes[..<index])),
                ByteText(UnsafeRawBufferPointer(rebasing: bytes[(index + 1)...])))
    }

    /// The non-empty runs between `separator`s, as `split(separator:)` cuts them, one at a time
    /// (split's array of pieces cost a specialization of its own).
    func fields(separatedBy separator: UInt8) -> ByteFields { ByteFields(rest: bytes, separator: separator) }

    /// The number these decimal digits spell, if it is at most `limit`; nil for no digits, a sign,
    /// a space or any other byte, or a larger number (however many digits).
    func decimal(atMost limit: UInt64 = .max) -> UInt64? {
        guard !bytes.isEmpty else { return nil }
        var value: UInt64 = 0
        for byte in bytes {
            guard byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") else { return nil }
            let digit = UInt64(byte - UInt8(ascii: "0"))
            guard digit <= limit, value <= (limit - digit) / 10 else { return nil }
            value = value * 10 + digit
        }
        return value
    }

    /// The text as a String (for messages; invalid UTF-8 is repaired).
    var string: String { String(decoding: bytes, as: UTF8.self) }
}

/// `ByteText.fields(separatedBy:)`.
struct ByteFields: Sequence, IteratorProtocol {
    fileprivate var rest: UnsafeRawBufferPointer
    fileprivate let separator: UInt8

    /// Not inlined: start-up code only, and `ip=` alone asked for three fields (~500 bytes).
    @inline(never)
    mutating func next() -> ByteText? {
        while rest.first == separator { rest = UnsafeRawBufferPointer(rebasing: rest.dropFirst()) }
        guard !rest.isEmpty else { return nil }
        let end = rest.firstIndex(of: separator) ?? rest.endIndex
        defer { rest = UnsafeRawBufferPointer(rebasing: rest[end...]) }
        return ByteText(UnsafeRawBufferPointer(rebasing: rest[..<end]))
    }
}

/// A `key=value` guest argument, the form the library's own settings take (`ip=`, `log=`...);
/// arguments without `=` are the application's.
struct KeyValueArgument {
    let key: ByteText
    let value: ByteText

    init?(_ argument: ByteText) {
        guard let (key, value) = argument.split(at: UInt8(ascii: "=")) else { return nil }
        self.key = key
        self.value = value
    }
}

extension String {
    /// Calls `body` with this string's UTF-8 bytes (the String path into byte parsers, for
    /// hosted code and tests; the guest reads its arguments in place).
    func withByteText<Result>(_ body: (ByteText) -> Result) -> Result {
        var text = self
        return text.withUTF8 { body(ByteText(UnsafeRawBufferPointer($0))) }
    }
}
