// HTTPRequestParser: valid requests (Content-Length, chunked, pipelined) give the same
// events whole, split at every single byte boundary and fed one byte at a time; each kind
// of bad input fails with the right status and the parser stays failed; random bytes never trap.
import Testing
import TestSupport
@testable import Swiftlet

@Suite struct HTTPRequestParserTests {

    // MARK: - Helpers

    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    /// Merges adjacent body events so results are comparable across splits.
    static func normalize(_ events: [HTTPParseEvent]) -> [HTTPParseEvent] {
        var result: [HTTPParseEvent] = []
        for event in events {
            if case .body(let more) = event, case .body(let previous)? = result.last {
                result[result.count - 1] = .body(previous + more)
            } else if case .body(let chunk) = event, chunk.isEmpty {
                continue
            } else {
                result.append(event)
            }
        }
        return result
    }

    static func parse(_ pieces: [[UInt8]], limits: HTTPLimits = HTTPLimits()) -> [HTTPParseEvent] {
        var parser = HTTPRequestParser(limits: limits)
        var events: [HTTPParseEvent] = []
        for piece in pieces {
            let produced = parser.feed(piece)
            events += produced
            if parser.error != nil { break }
        }
        return normalize(events)
    }

    /// Every way of feeding `input` checked: whole, two pieces at each boundary, byte by byte.
    static func allSplits(_ input: [UInt8], limits: HTTPLimits = HTTPLimits()) -> [HTTPParseEvent] {
        let whole = parse([input], limits: limits)
        for cut in 0...input.count {
            let split = parse([Array(input[..<cut]), Array(input[cut...])], limits: limits)
            #expect(split == whole, "split at \(cut)")
        }
        let single = parse(input.map { [$0] }, limits: limits)
        #expect(single == whole, "byte by byte")
        return whole
    }

    static func head(_ event: HTTPParseEvent?) -> HTTPRequestHead? {
        if case .head(let head)? = event { return head }
        return nil
    }

    static func status(_ text: String, limits: HTTPLimits = HTTPLimits()) -> Int? {
        let events = allSplits(bytes(text), limits: limits)
        if case .error(let error)? = events.last { return error.status }
        return nil
    }

    // MARK: - Valid requests

    @Test func aHeadsValuesLieBackToBackInOneBuffer() throws {
        var parser = HTTPRequestParser()
        let events = parser.feed(Self.bytes("GET / HTTP/1.1\r\nHost: a.example\r\nAccept:  */* \r\nX-Trace: 1, 2\r\n\r\n"))
        let head = try #require(Self.head(events.first))
        let values = head.headers.fields.map(\.valueBytes)
        #expect(values.map { Array($0) } == [Self.bytes("a.example"), Self.bytes("*/*"), Self.bytes("1, 2")])
        let starts = values.map { value in value.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) } }
        #expect(starts[1] == starts[0] + UInt(values[0].count) && starts[2] == starts[1] + UInt(values[1].count),
                "one allocation for every value, not one per field")
    }

    @Test func aHeadTheApplicationKeepsIsUnchangedByTheNextRequest() throws {
        var parser = HTTPRequestParser()
        let first = try #require(Self.head(parser.feed(Self.bytes("GET /1 HTTP/1.1\r\nHost: one\r\nX-A: aaaa\r\n\r\n")).first))
        let second = try #require(Self.head(parser.feed(Self.bytes("GET /2 HTTP/1.1\r\nHost: two\r\nX-A: bbbb\r\n\r\n")).first))
        #expect(first.headers.first("host") == Self.bytes("one") && first.headers.first("x-a") == Self.bytes("aaaa"))
        #expect(second.headers.first("host") == Self.bytes("two") && second.headers.first("x-a") == Self.bytes("bbbb"))
    }

    @Test func simpleGet() throws {
        let events = Self.allSplits(Self.bytes("GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\nAccept:  */* \r\n\r\n"))
        #expect(events.count == 2)
        let head = try #require(Self.head(events.first))
        #expect(head.method == Self.bytes("GET"))
        #expect(head.methodString == "GET")
        #expect(head.targetString == "/index.html?q=1")
        #expect(head.version == .http11)
        #expect(head.keepAlive)
        #expect(!head.expectContinue)
        #expect(head.headers.count == 2)
        #expect(head.headers.first("HOST") == Self.bytes("example.com"))
        #expect(head.headers.first("accept") == Self.bytes("*/*"))
        #expect(head.headers.fields[0].name == Self.bytes("Host"))
        #expect(head.headers.first("missing") == nil)
        #expect(events[1] == .end)
    }

    @Test func headAndKeepAliveRules() throws {
        let events = Self.allSplits(Self.bytes("HEAD / HTTP/1.0\r\n\r\nHEAD / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\nConnection: foo, CLOSE\r\n\r\n"))
        #expect(events.count == 6)
        let first = try #require(Self.head(events[0]))
        #expect(first.methodString == "HEAD" && first.version == .http10 && !first.keepAlive)
        let second = try #require(Self.head(events[2]))
        #expect(second.keepAlive)
        let third = try #require(Self.head(events[4]))
        #expect(!third.keepAlive)
        #expect(events[1] == .end && events[3] == .end && events[5] == .end)
    }

    @Test func postWithContentLength() throws {
        let events = Self.allSplits(Self.bytes("POST /submit HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\nExpect: 100-Continue\r\n\r\nhello world"))
        #expect(events.count == 3)
        let head = try #require(Self.head(events[0]))
        #expect(head.methodString == "POST")
        #expect(head.expectContinue)
        #expect(events[1] == .body(Self.bytes("hello world")))
        #expect(events[2] == .end)
    }

    @Test func chunkedPost() throws {
        let input = "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "5;name=value\r\nhello\r\nB \r\n, chunked!!\r\n0\r\nX-Trailer: yes\r\n\r\n"
        let events = Self.allSplits(Self.bytes(input))
        #expect(events.count == 3)
        let head = try #require(Self.head(events[0]))
        #expect(head.headers.first("transfer-encoding") == Self.bytes("chunked"))
        #expect(events[1] == .body(Self.bytes("hello, chunked!!")))
        #expect(events[2] == .end)
    }

    @Test func pipelinedRequests() throws {
        let input = "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET /b HTTP/1.1\r\nHost: a\r\n\r\n"
            + "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nxy\r\n0\r\n\r\n"
        let events = Self.allSplits(Self.bytes(input))
        #expect(events.count == 8)
        #expect(Self.head(events[0])?.targetString == "/a")
        #expect(events[1] == .body(Self.bytes("abc")))
        #expect(events[2] == .end)
        #expect(Self.head(events[3])?.targetString == "/b")
        #expect(events[4] == .end)
        #expect(Self.head(events[5])?.targetString == "/c")
        #expect(events[6] == .body(Self.bytes("xy")))
        #expect(events[7] == .end)
    }

    @Test func leadingEmptyLinesAndRepeatedEqualContentLength() {
        let events = Self.allSplits(Self.bytes("\r\nPUT /x HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\ncontent-length: 2, 2\r\n\r\nok"))
        #expect(events.count == 3)
        #expect(events[1] == .body(Self.bytes("ok")))
    }

    // MARK: - Errors

    @Test func malformedIs400() {
        let bad = [
            "GET / HTTP/1.1\nHost: a\r\n\r\n",                           // bare LF in request line
            "GET / HTTP/1.1\r\nHost: a\n\r\n",                           // bare LF in header
            "GET / HTTP/1.1\r\nHost: a\rX\r\n\r\n",                      // bare CR
            "GET / HTTP/1.1\r\nHost: a\r\n continued\r\n\r\n",           // obs-fold
            "GET /\u{0} HTTP/1.1\r\nHost: a\r\n\r\n",                               // NUL in target
            "GET / HTTP/1.1\r\nHost: a\r\nX: a\u{0}b\r\n\r\n",                      // NUL in value
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabc",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 4\r\n\r\nabc",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",   // invalid chunk size
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\r\n",    // empty chunk size
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3x\r\nabc\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n",  // missing CRLF after data
            "GET / HTTP/1.1\r\nHost: a\r\nBad Name: a\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\n: a\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n",
            "GET /  HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET\r\n\r\n",
            "G(T / HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET / HTTP/1.1 \r\n\r\n",
            "GET / http/1.1\r\n\r\n",
            "GET / HTTP/11\r\n\r\n",
        ]
        for input in bad {
            #expect(Self.status(input) == 400, "\(input.debugDescription)")
        }
    }

    @Test func http11NeedsExactlyOneHost() {
        #expect(Self.status("GET / HTTP/1.1\r\n\r\n") == 400)
        #expect(Self.status("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n") == 400)
        #expect(Self.allSplits(Self.bytes("GET / HTTP/1.1\r\nHost:\r\n\r\n")).last == .end)  // empty is allowed
        #expect(Self.allSplits(Self.bytes("GET / HTTP/1.0\r\n\r\n")).last == .end)           // 1.0 may omit it
    }

    @Test func unsupportedTransferEncoding() {
        #expect(Self.status("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n") == 501)
        #expect(Self.status("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n") == 501)
        #expect(Self.status("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,\r\n\r\n") == 400)
    }

    @Test func versionNotSupported() {
        #expect(Self.status("GET / HTTP/2.0\r\n\r\n") == 505)
        #expect(Self.status("GET / HTTP/1.2\r\n\r\n") == 505)
        #expect(Self.status("GET / HTTP/0.9\r\n\r\n") == 505)
    }

    @Test func limits() {
        let limits = HTTPLimits(maxRequestLineLength: 32, maxHeaderBytes: 64, maxHeaderCount: 3, maxBodySize: 10)
        #expect(Self.status("GET /\(String(repeating: "a", count: 40)) HTTP/1.1\r\nHost: a\r\n\r\n", limits: limits) == 414)
        #expect(Self.status("GET / HTTP/1.1\r\nHost: a\r\nX: \(String(repeating: "b", count: 80))\r\n\r\n", limits: limits) == 431)
        #expect(Self.status("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", limits: limits) == 431)
        #expect(Self.status("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n", limits: limits) == 413)
        #expect(Self.status("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n", limits: limits) == 413)
        #expect(Self.status("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n5\r\n", limits: limits) == 413)
        #expect(Self.status("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFFFFFF\r\n", limits: limits) == 413)
        #expect(Self.status("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: \(String(repeating: "c", count: 80))\r\n\r\n", limits: limits) == 431)
        // Exactly at the limits is fine (request line of 32 bytes, body of 10).
        let ok = Self.allSplits(Self.bytes("POST /\(String(repeating: "a", count: 17)) HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123456789"), limits: limits)
        #expect(ok.last == .end)
    }

    /// A line past its limit fails at its first byte over, long before its CRLF (a client that
    /// never ends the line must not be left to the header timeout).
    @Test func anOverLongLineFailsBeforeItEnds() {
        let limits = HTTPLimits(maxRequestLineLength: 32, maxHeaderBytes: 64)
        var line = HTTPRequestParser(limits: limits)
        #expect(line.feed(Array("GET /\(String(repeating: "a", count: 27))".utf8)).isEmpty)  // 32 bytes: still fine
        #expect(line.feed(Array("a".utf8)) == [.error(.uriTooLong)])
        var field = HTTPRequestParser(limits: limits)
        // Header bytes: "Host: a\r\n" (9) + "X: " (3) + 52 = 64, then one more.
        #expect(field.feed(Array("GET / HTTP/1.1\r\nHost: a\r\nX: \(String(repeating: "b", count: 52))".utf8)).isEmpty)
        #expect(field.feed(Array("b".utf8)) == [.error(.headerFieldsTooLarge)])
    }

    @Test func errorIsTerminal() {
        var parser = HTTPRequestParser(limits: HTTPLimits())
        let first = parser.feed(Self.bytes("GET / HTTP/3.0\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"))
        #expect(first == [.error(.versionNotSupported)])
        #expect(parser.error == .versionNotSupported)
        #expect(parser.feed(Self.bytes("GET / HTTP/1.1\r\nHost: a\r\n\r\n")) == [.error(.versionNotSupported)])
    }

    @Test func randomBytesNeverTrap() {
        var rng = SplitMix64(seed: 0x4854_5450)
        let alphabet = Self.bytes("GET POST / HTTP/1.1\r\nHost: a\r\n:chunked Content-Length Transfer-Encoding 0123456789abcdef;\t ")
        let limits = HTTPLimits(maxRequestLineLength: 64, maxHeaderBytes: 256, maxHeaderCount: 8, maxBodySize: 512)
        for round in 0..<2000 {
            let length = rng.next(below: 300)
            var buffer: [UInt8] = []
            let structured = round % 2 == 0
            if structured { buffer = Self.bytes("POST / HTTP/1.1\r\nHost: a\r\n") }
            for _ in 0..<length {
                buffer.append(structured ? alphabet[rng.next(below: alphabet.count)] : UInt8(truncatingIfNeeded: rng.next()))
            }
            var parser = HTTPRequestParser(limits: limits)
            var offset = 0
            while offset < buffer.count {
                let take = 1 + rng.next(below: 16)
                let end = min(buffer.count, offset + take)
                _ = parser.feed(Array(buffer[offset..<end]))
                offset = end
            }
        }
    }
}
