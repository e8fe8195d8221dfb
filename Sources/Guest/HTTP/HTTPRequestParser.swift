// Incremental, sans-I/O HTTP/1.1 request parser (RFC 9112). Bytes are fed in any split;
// the parser emits a head, body chunks and an end-of-message event per request, then goes
// on with the next pipelined request. Any error is terminal: the parser reports it (with
// the status to answer) on every later feed, and the server is expected to close.
//
// Framing decisions (RFC 9112 §6): Transfer-Encoding and Content-Length together → 400;
// Transfer-Encoding must be exactly `chunked` (other valid codings → 501, an empty or
// malformed list → 400); differing Content-Length values → 400; neither → no body.
// Bare LF, bare CR, NUL and other control bytes in the head, and obs-fold, are rejected (400),
// as is an HTTP/1.1 request without exactly one Host field.

/// Limits enforced while parsing; exceeding one fails with the matching status.
public struct HTTPLimits: Equatable, Sendable {
    /// Longest request line (without CRLF) → 414.
    public var maxRequestLineLength: Int
    /// Total bytes of header lines including CRLFs (also applied to trailers) → 431.
    public var maxHeaderBytes: Int
    /// Most header fields → 431.
    public var maxHeaderCount: Int
    /// Largest body (declared Content-Length or sum of chunk sizes) → 413.
    public var maxBodySize: Int

    public init(maxRequestLineLength: Int = 8192, maxHeaderBytes: Int = 16384,
                maxHeaderCount: Int = 100, maxBodySize: Int = 1 << 20) {
        self.maxRequestLineLength = maxRequestLineLength
        self.maxHeaderBytes = maxHeaderBytes
        self.maxHeaderCount = maxHeaderCount
        self.maxBodySize = maxBodySize
    }
}

public enum HTTPVersion: Equatable {
    case http10
    case http11
}

/// A parse failure, named after the response status that should be answered.
public enum HTTPParseError: Error, Equatable {
    case badRequest             // 400
    case uriTooLong             // 414
    case headerFieldsTooLarge   // 431
    case contentTooLarge        // 413
    case notImplemented         // 501
    case versionNotSupported    // 505

    public var status: Int {
        switch self {
        case .badRequest: return 400
        case .uriTooLong: return 414
        case .headerFieldsTooLarge: return 431
        case .contentTooLarge: return 413
        case .notImplemented: return 501
        case .versionNotSupported: return 505
        }
    }
}

public struct HTTPHeaderField: Equatable {
    /// Name bytes as received (original case).
    public var name: [UInt8]
    /// Value bytes with surrounding whitespace removed. In a parsed request, a slice of the
    /// one buffer that holds all of its head's values: no allocation per field.
    public var valueBytes: ArraySlice<UInt8>

    /// The value in an array of its own (for a parsed request's field, a copy).
    public var value: [UInt8] {
        get { Array(valueBytes) }
        set { valueBytes = newValue[...] }
    }

    public init(name: [UInt8], value: [UInt8]) {
        self.init(name: name, valueBytes: value[...])
    }

    public init(name: [UInt8], valueBytes: ArraySlice<UInt8>) {
        self.name = name
        self.valueBytes = valueBytes
    }
}

/// Header fields in order of arrival, with case-insensitive (ASCII) lookup by name.
public struct HTTPHeaders: Equatable {
    public var fields: [HTTPHeaderField]

    public init(_ fields: [HTTPHeaderField] = []) { self.fields = fields }

    public var count: Int { fields.count }

    /// The first value for `name`, compared case-insensitively.
    public func first(_ name: String) -> [UInt8]? {
        for field in fields where httpNameMatches(field.name, name) { return field.value }
        return nil
    }

    /// Every value for `name`, in order.
    public func values(_ name: String) -> [[UInt8]] {
        var result: [[UInt8]] = []
        for field in fields where httpNameMatches(field.name, name) { result.append(field.value) }
        return result
    }

    public func contains(_ name: String) -> Bool { first(name) != nil }
}

public struct HTTPRequestHead: Equatable {
    public var method: [UInt8]
    public var target: [UInt8]
    public var version: HTTPVersion
    public var headers: HTTPHeaders
    /// HTTP/1.1: true unless `Connection: close`; HTTP/1.0: true only with `Connection: keep-alive`.
    public var keepAlive: Bool
    /// HTTP/1.1 request carrying `Expect: 100-continue`.
    public var expectContinue: Bool
    /// The body's length from `Content-Length`; nil for a chunked body (length unknown until
    /// its last chunk). 0 when the request has no body.
    public var declaredBodyLength: Int? = 0

    public var methodString: String { String(decoding: method, as: UTF8.self) }
    public var targetString: String { String(decoding: target, as: UTF8.self) }
}

public enum HTTPParseEvent: Equatable {
    case head(HTTPRequestHead)
    case body([UInt8])
    case end
    case error(HTTPParseError)
}

/// Where the parser is between and within messages.
public enum HTTPParserPhase: Equatable {
    /// Nothing of the next request has arrived (empty lines between requests count as nothing).
    case betweenMessages
    case head
    case body
    case failed
}

public struct HTTPRequestParser {
    private enum State {
        case requestLine
        case headers
        case body(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataCR
        case chunkDataLF
        case trailers
        case failed(HTTPParseError)
    }

    private static let cr: UInt8 = 13
    private static let lf: UInt8 = 10
    private static let maxChunkLineLength = 1024

    public let limits: HTTPLimits
    private var state: State = .requestLine
    private var line: [UInt8] = []
    private var pendingCR = false
    private var headerBytes = 0
    private var bodyTotal = 0
    private var method: [UInt8] = []
    private var target: [UInt8] = []
    private var version: HTTPVersion = .http11
    /// The head's fields so far: each name, and where its value lies in `values`.
    private var fieldRanges: [(name: [UInt8], value: Range<Int>)] = []
    /// Every value of the head, back to back. The head's fields are slices of it; once the
    /// application lets go of them, the next head reuses its storage.
    private var values: [UInt8] = []

    public init(limits: HTTPLimits = HTTPLimits()) {
        self.limits = limits
    }

    /// The terminal error, once one has occurred.
    public var error: HTTPParseError? {
        if case .failed(let error) = state { return error }
        return nil
    }

    public var phase: HTTPParserPhase {
        switch state {
        case .requestLine: return line.isEmpty && !pendingCR ? .betweenMessages : .head
        case .headers: return .head
        case .failed: return .failed
        case .body, .chunkSize, .chunkData, .chunkDataCR, .chunkDataLF, .trailers: return .body
        }
    }

    var isInBody: Bool { phase == .body }

    /// Consumes `bytes` and returns the events they complete. After an error the result
    /// ends with `.error`, and every later call returns just that error.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer) -> [HTTPParseEvent] {
        var events: [HTTPParseEvent] = []
        feed(bytes, into: &events)
        return events
    }

    /// `feed` appending to `events`, so a caller can reuse one array for every feed.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer, into events: inout [HTTPParseEvent]) {
        if case .failed(let error) = state { events.append(.error(error)); return }
        var index = 0
        let count = bytes.count
        while index < count {
            switch state {
            case .failed:
                return  // fail() already appended the error
            case .body(let remaining):
                let take = min(remaining, count - index)
                events.append(.body(Array(bytes[index..<(index + take)])))
                index += take
                if take == remaining {
                    finishMessage(&events)
                } else {
                    state = .body(remaining: remaining - take)
                }
            case .chunkData(let remaining):
                let take = min(remaining, count - index)
                events.append(.body(Array(bytes[index..<(index + take)])))
                index += take
                state = take == remaining ? .chunkDataCR : .chunkData(remaining: remaining - take)
            case .chunkDataCR:
                if bytes[index] != Self.cr { fail(.badRequest, &events); continue }
                index += 1
                state = .chunkDataLF
            case .chunkDataLF:
                if bytes[index] != Self.lf { fail(.badRequest, &events); continue }
                index += 1
                state = .chunkSize
            case .requestLine, .headers, .chunkSize, .trailers:
                // Ordinary bytes are taken a run at a time; CR, LF and NUL one by one.
                let run = pendingCR ? 0 : Self.plainRun(bytes, from: index)
                if run > 0 {
                    lineBytes(UnsafeRawBufferPointer(rebasing: bytes[index..<(index + run)]), &events)
                    index += run
                } else {
                    let byte = bytes[index]
                    index += 1
                    lineByte(byte, &events)
                }
            }
        }
    }

    /// Convenience for byte arrays.
    public mutating func feed(_ bytes: [UInt8]) -> [HTTPParseEvent] {
        bytes.withUnsafeBytes { feed($0) }
    }

    // MARK: - Line-oriented states

    private mutating func fail(_ error: HTTPParseError, _ events: inout [HTTPParseEvent]) {
        state = .failed(error)
        events.append(.error(error))
        line.removeAll()
        fieldRanges = []
    }

    private mutating func lineByte(_ byte: UInt8, _ events: inout [HTTPParseEvent]) {
        guard countHeaderBytes(1, &events) else { return }
        if pendingCR {
            pendingCR = false
            if byte != Self.lf { fail(.badRequest, &events); return }  // bare CR
            completeLine(&events)
            return
        }
        if byte == Self.cr { pendingCR = true; return }
        if byte == Self.lf || byte == 0 { fail(.badRequest, &events); return }  // bare LF, NUL
        line.append(byte)
        checkLineLimit(&events)
    }

    /// Header and trailer bytes (with their CRLFs) count toward the header limit; false once
    /// `count` more bytes exceed it (the parser has failed).
    private mutating func countHeaderBytes(_ count: Int, _ events: inout [HTTPParseEvent]) -> Bool {
        switch state {
        case .headers, .trailers:
            headerBytes += count
            if headerBytes > limits.maxHeaderBytes { fail(.headerFieldsTooLarge, &events); return false }
        default: break
        }
        return true
    }

    /// Fails when the line being collected outgrows its state's limit: the request line's,
    /// or a chunk-size line's.
    private mutating func checkLineLimit(_ events: inout [HTTPParseEvent]) {
        switch state {
        case .requestLine:
            if line.count > limits.maxRequestLineLength { fail(.uriTooLong, &events) }
        case .chunkSize:
            if line.count > Self.maxChunkLineLength { fail(.badRequest, &events) }
        default: break
        }
    }

    /// How many bytes from `start` on are neither CR, LF nor NUL.
    private static func plainRun(_ bytes: UnsafeRawBufferPointer, from start: Int) -> Int {
        var end = start
        while end < bytes.count {
            let byte = bytes[end]
            if byte == cr || byte == lf || byte == 0 { break }
            end += 1
        }
        return end - start
    }

    /// `lineByte` for a run of bytes that are neither CR, LF nor NUL, with the same limits.
    private mutating func lineBytes(_ run: UnsafeRawBufferPointer, _ events: inout [HTTPParseEvent]) {
        guard countHeaderBytes(run.count, &events) else { return }
        line.append(contentsOf: run)
        checkLineLimit(&events)
    }

    private mutating func completeLine(_ events: inout [HTTPParseEvent]) {
        // The line buffer keeps its capacity from line to line and request to request: a
        // request head costs no allocations for its lines.
        defer { line.removeAll(keepingCapacity: true) }
        switch state {
        case .requestLine:
            if line.isEmpty { return }  // RFC 9112 §2.2: ignore empty lines before a request
            if let error = parseRequestLine(line) { fail(error, &events) }
        case .headers:
            if line.isEmpty {
                endOfHead(&events)
            } else if let error = parseHeaderLine(line) {
                fail(error, &events)
            }
        case .chunkSize:
            parseChunkSize(line, &events)
        case .trailers:
            if line.isEmpty {
                finishMessage(&events)
            } else if line[0] == 0x20 || line[0] == 0x09 || line.firstIndex(of: 0x3A) == nil {
                fail(.badRequest, &events)
            }
        default:
            break
        }
    }

    private mutating func parseRequestLine(_ bytes: [UInt8]) -> HTTPParseError? {
        guard let firstSpace = bytes.firstIndex(of: 0x20), firstSpace > 0 else { return .badRequest }
        let methodBytes = HTTPCommonBytes.array(bytes[0..<firstSpace], sharing: HTTPCommonBytes.methods)
        for byte in methodBytes where !isTokenByte(byte) { return .badRequest }
        let rest = bytes[(firstSpace + 1)...]
        guard let secondSpace = rest.firstIndex(of: 0x20), secondSpace > rest.startIndex else { return .badRequest }
        let targetBytes = Array(rest[rest.startIndex..<secondSpace])
        for byte in targetBytes where byte <= 0x20 || byte == 0x7F { return .badRequest }
        let versionBytes = rest[(secondSpace + 1)...]
        // HTTP-version = "HTTP/" DIGIT "." DIGIT
        guard versionBytes.count == 8, asciiEquals(versionBytes.prefix(5), "HTTP/") else { return .badRequest }
        let major = versionBytes[versionBytes.startIndex + 5], dot = versionBytes[versionBytes.startIndex + 6]
        let minor = versionBytes[versionBytes.startIndex + 7]
        guard dot == 0x2E, isDigit(major), isDigit(minor) else { return .badRequest }
        if major != 0x31 { return .versionNotSupported }
        switch minor {
        case 0x30: version = .http10
        case 0x31: version = .http11
        default: return .versionNotSupported
        }
        method = methodBytes
        target = targetBytes
        fieldRanges.removeAll(keepingCapacity: true)
        values.removeAll(keepingCapacity: true)
        headerBytes = 0
        state = .headers
        return nil
    }

    private mutating func parseHeaderLine(_ bytes: [UInt8]) -> HTTPParseError? {
        if bytes[0] == 0x20 || bytes[0] == 0x09 { return .badRequest }  // obs-fold
        guard let colon = bytes.firstIndex(of: 0x3A), colon > 0 else { return .badRequest }
        for index in 0..<colon where !isTokenByte(bytes[index]) { return .badRequest }
        var start = colon + 1
        var end = bytes.count
        while start < end, bytes[start] == 0x20 || bytes[start] == 0x09 { start += 1 }
        while end > start, bytes[end - 1] == 0x20 || bytes[end - 1] == 0x09 { end -= 1 }
        for index in start..<end {
            let byte = bytes[index]
            if (byte < 0x20 && byte != 0x09) || byte == 0x7F { return .badRequest }
        }
        if fieldRanges.count >= limits.maxHeaderCount { return .headerFieldsTooLarge }
        let valueStart = values.count
        values.append(contentsOf: bytes[start..<end])
        fieldRanges.append((HTTPCommonBytes.array(bytes[0..<colon], sharing: HTTPCommonBytes.fieldNames),
                            valueStart..<values.count))
        return nil
    }

    private mutating func endOfHead(_ events: inout [HTTPParseEvent]) {
        let headers = HTTPHeaders(fieldRanges.map { HTTPHeaderField(name: $0.name, valueBytes: values[$0.value]) })
        fieldRanges.removeAll(keepingCapacity: true)
        // One pass over the fields for everything framing and persistence depend on.
        var hosts = 0
        var transferEncodings: [ArraySlice<UInt8>] = []
        var contentLengths: [ArraySlice<UInt8>] = []
        var connectionOptions: [ArraySlice<UInt8>] = []
        var expect: ArraySlice<UInt8>?
        for field in headers.fields {
            switch field.name.first.map({ $0 | 0x20 }) {
            case 0x68 where httpNameMatches(field.name, "host"): hosts += 1
            case 0x74 where httpNameMatches(field.name, "transfer-encoding"): transferEncodings.append(field.valueBytes)
            case 0x63 where httpNameMatches(field.name, "content-length"): contentLengths.append(field.valueBytes)
            case 0x63 where httpNameMatches(field.name, "connection"): connectionOptions.append(field.valueBytes)
            case 0x65 where httpNameMatches(field.name, "expect"): if expect == nil { expect = field.valueBytes }
            default: break
            }
        }
        // RFC 9112 §3.2: an HTTP/1.1 request carries exactly one Host (which may be empty).
        if version == .http11 && hosts != 1 { fail(.badRequest, &events); return }
        if !transferEncodings.isEmpty && !contentLengths.isEmpty { fail(.badRequest, &events); return }

        var chunked = false
        var length = 0
        if !transferEncodings.isEmpty {
            var codings: [ArraySlice<UInt8>] = []
            for value in transferEncodings { codings += splitList(value) }
            if codings.isEmpty { fail(.badRequest, &events); return }
            for coding in codings {
                if coding.isEmpty { fail(.badRequest, &events); return }
                for byte in coding where !isTokenByte(byte) { fail(.badRequest, &events); return }
            }
            guard codings.count == 1, asciiEqualsIgnoringCase(codings[0], "chunked") else {
                fail(.notImplemented, &events); return
            }
            chunked = true
        } else if !contentLengths.isEmpty {
            var declared: Int? = nil
            for value in contentLengths {
                for item in splitList(value) {
                    guard let parsed = parseDecimal(item) else { fail(.badRequest, &events); return }
                    if let previous = declared, previous != parsed { fail(.badRequest, &events); return }
                    declared = parsed
                }
            }
            guard let declaredLength = declared else { fail(.badRequest, &events); return }
            if declaredLength < 0 || declaredLength > limits.maxBodySize { fail(.contentTooLarge, &events); return }
            length = declaredLength
        }

        // `close` wins over `keep-alive` wherever it appears.
        var keepAlive = version == .http11
        var close = false
        for value in connectionOptions {
            for option in splitList(value) {
                if asciiEqualsIgnoringCase(option, "close") { close = true }
                if version == .http10 && asciiEqualsIgnoringCase(option, "keep-alive") { keepAlive = true }
            }
        }
        if close { keepAlive = false }
        var expectContinue = false
        if version == .http11, let expect {
            expectContinue = asciiEqualsIgnoringCase(expect, "100-continue")
        }

        events.append(.head(HTTPRequestHead(method: method, target: target, version: version,
                                            headers: headers, keepAlive: keepAlive,
                                            expectContinue: expectContinue,
                                            declaredBodyLength: chunked ? nil : length)))
        bodyTotal = 0
        if chunked {
            state = .chunkSize
        } else if length > 0 {
            state = .body(remaining: length)
        } else {
            finishMessage(&events)
        }
    }

    private mutating func parseChunkSize(_ bytes: [UInt8], _ events: inout [HTTPParseEvent]) {
        var size = 0
        var digits = 0
        var index = 0
        while index < bytes.count, let value = hexValue(bytes[index]) {
            if size > (Int.max >> 4) { fail(.contentTooLarge, &events); return }
            size = size << 4 | Int(value)
            digits += 1
            index += 1
        }
        if digits == 0 { fail(.badRequest, &events); return }
        // Anything after the size must be chunk extensions: BWS ";" ... (ignored).
        while index < bytes.count, bytes[index] == 0x20 || bytes[index] == 0x09 { index += 1 }
        if index < bytes.count && bytes[index] != 0x3B { fail(.badRequest, &events); return }
        if size > limits.maxBodySize - bodyTotal { fail(.contentTooLarge, &events); return }
        bodyTotal += size
        if size == 0 {
            headerBytes = 0
            state = .trailers
        } else {
            state = .chunkData(remaining: size)
        }
    }

    private mutating func finishMessage(_ events: inout [HTTPParseEvent]) {
        events.append(.end)
        state = .requestLine
        headerBytes = 0
        bodyTotal = 0
        method = []
        target = []
    }
}

// MARK: - Byte helpers

/// Methods and field names that nearly every request repeats: a request shares these arrays
/// instead of allocating its own (a header field with a new name costs an allocation more).
enum HTTPCommonBytes {
    static let methods = words("GET HEAD POST PUT DELETE PATCH OPTIONS")
    static let fieldNames = words("""
        Host User-Agent Accept Accept-Encoding Accept-Language Connection Content-Length \
        Content-Type Cookie Referer Origin Cache-Control If-None-Match If-Modified-Since Range \
        Upgrade-Insecure-Requests host user-agent accept accept-encoding connection \
        content-length content-type
        """)

    /// The words of `list` (separated by spaces), each as its bytes: one loop, where a literal
    /// per word cost a conversion of its own (~1 KB of code).
    private static func words(_ list: StaticString) -> [[UInt8]] {
        var words: [[UInt8]] = []
        for word in ByteText(list).fields(separatedBy: UInt8(ascii: " ")) { words.append(Array(word.bytes)) }
        return words
    }

    /// The shared array equal to `bytes` (same case) from `table`, else a new one.
    static func array(_ bytes: ArraySlice<UInt8>, sharing table: [[UInt8]]) -> [UInt8] {
        for candidate in table where candidate.count == bytes.count && candidate.elementsEqual(bytes) { return candidate }
        return Array(bytes)
    }
}

@inline(__always) private func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }

func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case 0x30...0x39: return byte - 0x30
    case 0x41...0x46: return byte - 0x41 + 10
    case 0x61...0x66: return byte - 0x61 + 10
    default: return nil
    }
}

/// tchar (RFC 9110 §5.6.2).
private func isTokenByte(_ byte: UInt8) -> Bool {
    switch byte {
    case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
    case 0x21, 0x23, 0x24, 0x25, 0x26, 0x27, 0x2A, 0x2B, 0x2D, 0x2E, 0x5E, 0x5F, 0x60, 0x7C, 0x7E: return true
    default: return false
    }
}

@inline(__always) private func lowerASCII(_ byte: UInt8) -> UInt8 {
    byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte
}

/// Case-insensitive ASCII comparison of received bytes with a name.
func httpNameMatches(_ bytes: [UInt8], _ name: String) -> Bool {
    asciiEqualsIgnoringCase(bytes[...], name)
}

private func asciiEqualsIgnoringCase(_ bytes: ArraySlice<UInt8>, _ name: String) -> Bool {
    guard bytes.count == name.utf8.count else { return false }
    var index = bytes.startIndex
    for expected in name.utf8 {
        if lowerASCII(bytes[index]) != lowerASCII(expected) { return false }
        index += 1
    }
    return true
}

/// Splits a comma-separated list, trimming optional whitespace around each element and
/// dropping empty elements (RFC 9110 §5.6.1). The elements are slices of `value`.
private func splitList(_ value: ArraySlice<UInt8>) -> [ArraySlice<UInt8>] {
    var result: [ArraySlice<UInt8>] = []
    var rest = value
    while true {
        let comma = rest.firstIndex(of: 0x2C) ?? rest.endIndex
        var element = rest[rest.startIndex..<comma]
        while let first = element.first, first == 0x20 || first == 0x09 { element.removeFirst() }
        while let last = element.last, last == 0x20 || last == 0x09 { element.removeLast() }
        if !element.isEmpty { result.append(element) }
        guard comma < rest.endIndex else { return result }
        rest = rest[(comma + 1)...]
    }
}

/// 1*DIGIT as Int; nil when empty, not all digits or overflowing.
private func parseDecimal(_ bytes: ArraySlice<UInt8>) -> Int? {
    if bytes.isEmpty { return nil }
    var value = 0
    for byte in bytes {
        guard isDigit(byte) else { return nil }
        let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
        let (sum, overflow2) = times.addingReportingOverflow(Int(byte - 0x30))
        if overflow1 || overflow2 { return Int.max }
        value = sum
    }
    return value
}
