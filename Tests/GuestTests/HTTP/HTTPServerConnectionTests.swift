// HTTPServerConnection without sockets: requests in (whole, pipelined, split at every byte),
// responses out in order with the server's framing, compared byte for byte; keep-alive and
// close; HEAD; 100-continue; parse errors answered then closed; the size limits answered the
// moment they are passed; backpressure; streamed bodies; every timeout.
import Foundation
import Testing
import TestSupport
@testable import Swiftlet

/// Drives one connection the way HTTPServer does, with a scripted clock and socket.
final class ConnectionDriver {
    var configuration: HTTPServerConfiguration
    let connection: HTTPServerConnection
    var sent: [UInt8] = []
    var exchanges: [HTTPExchange] = []
    /// How many bytes the "socket" accepts per write (nil: all).
    var writeAllowance: Int?
    var now: UInt64 = 1_000_000_000
    var respond: (HTTPRequest) -> HTTPResponse

    init(configuration: HTTPServerConfiguration = HTTPServerConfiguration(),
         bodyBudget: HTTPBodyBudget = HTTPBodyBudget(limit: .max),
         respond: @escaping (HTTPRequest) -> HTTPResponse = ConnectionDriver.describe) {
        self.configuration = configuration
        self.respond = respond
        connection = HTTPServerConnection(configuration: configuration, now: 1_000_000_000, bodyBudget: bodyBudget)
    }

    /// Answers with "METHOD TARGET BODYLENGTH".
    static func describe(_ request: HTTPRequest) -> HTTPResponse {
        .text("\(request.method.name) \(String(decoding: request.head.target, as: UTF8.self)) \(request.body.count)")
    }

    var turn: HTTPTurn {
        HTTPTurn(now: now, date: Array("Fri, 27 Nov 2026 13:14:21 GMT".utf8), server: Array("Swiftlet".utf8),
                 respond: respond, record: { self.exchanges.append($0) })
    }

    func feed(_ text: String) { feed(Array(text.utf8)) }

    func feed(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { connection.receive($0, turn) }
        drain()
    }

    func drain() {
        connection.drain(now: now) { bytes in
            let count = min(bytes.count, writeAllowance ?? bytes.count)
            sent += bytes[0..<count]
            if writeAllowance != nil { writeAllowance! -= count }
            return count
        }
    }

    var text: String { String(decoding: sent, as: UTF8.self) }

    func take() -> String {
        defer { sent = [] }
        return text
    }
}

/// Responses as they go on the wire, byte for byte (the driver fixes `Date` and `Server`).
enum Wire {
    static let server = "Server: Swiftlet"
    static let date = "Date: Fri, 27 Nov 2026 13:14:21 GMT"

    /// Status line and fields, each ending in CRLF, the empty line, then the body.
    static func response(_ statusLine: String, _ fields: [String], _ body: String = "") -> String {
        ([statusLine] + fields).map { $0 + "\r\n" }.joined() + "\r\n" + body
    }

    /// What `HTTPResponse.text` becomes: the handler's Content-Type, then Server, Date and the
    /// framing the server adds, and `Connection` when the connection will close (or, for
    /// HTTP/1.0, when it stays open).
    static func text(_ status: String, _ body: String, connection: String? = nil, version: String = "HTTP/1.1") -> String {
        response("\(version) \(status)", ["Content-Type: text/plain; charset=utf-8", server, date,
                                          "Content-Length: \(body.utf8.count)"] + (connection.map { ["Connection: \($0)"] } ?? []),
                 body)
    }

    /// The answer to a request the parser refused (or that timed out): the reason as text, then close.
    static func error(_ code: Int, _ reason: String) -> String {
        text("\(code) \(reason)", reason + "\n", connection: "close")
    }

    /// What the driver's default responder answers to a request.
    static func described(_ method: String, _ target: String, bodyLength: Int = 0, connection: String? = nil) -> String {
        text("200 OK", "\(method) \(target) \(bodyLength)", connection: connection)
    }
}

@Suite struct HTTPServerConnectionTests {
    @Test func answersAGetWithFramingDateAndServer() {
        let driver = ConnectionDriver()
        driver.feed("GET /hello?x=1 HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(driver.text == "HTTP/1.1 200 OK\r\n"
                + "Content-Type: text/plain; charset=utf-8\r\n"
                + "Server: Swiftlet\r\n"
                + "Date: Fri, 27 Nov 2026 13:14:21 GMT\r\n"
                + "Content-Length: 16\r\n"
                + "\r\n"
                + "GET /hello?x=1 0")
        #expect(!driver.connection.isFinished)
        #expect(driver.exchanges.count == 1 && driver.exchanges[0].status == 200 && driver.exchanges[0].bodyBytes == 16)
    }

    static let pipeline = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nPOST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
        + "POST /3 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\nGET /4 HTTP/1.1\r\nHost: a\r\n\r\n"

    @Test func pipelinedRequestsAreAnsweredInOrderHoweverTheyAreSplit() {
        let expected = Wire.described("GET", "/1") + Wire.described("POST", "/2", bodyLength: 5)
            + Wire.described("POST", "/3", bodyLength: 5) + Wire.described("GET", "/4")
        let whole = ConnectionDriver()
        whole.feed(Self.pipeline)
        #expect(whole.text == expected)
        let bytes = Array(Self.pipeline.utf8)
        for cut in 1..<bytes.count {
            let driver = ConnectionDriver()
            driver.feed(Array(bytes[..<cut]))
            driver.feed(Array(bytes[cut...]))
            #expect(driver.text == expected, "split at \(cut)")
        }
        let trickle = ConnectionDriver()
        for byte in bytes { trickle.feed([byte]) }
        #expect(trickle.text == expected)
    }

    @Test func connectionCloseAndHTTP10() {
        let close = ConnectionDriver()
        close.feed("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET /ignored HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(close.text == Wire.described("GET", "/", connection: "close"))
        #expect(close.connection.isFinished)

        let old = ConnectionDriver()
        old.feed("GET / HTTP/1.0\r\n\r\n")
        #expect(old.text == Wire.text("200 OK", "GET / 0", connection: "close", version: "HTTP/1.0"))
        #expect(old.connection.isFinished)

        let oldKeepAlive = ConnectionDriver()
        oldKeepAlive.feed("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        #expect(oldKeepAlive.text == Wire.text("200 OK", "GET / 0", connection: "keep-alive", version: "HTTP/1.0"))
        #expect(!oldKeepAlive.connection.isFinished)
    }

    @Test func headSendsTheLengthButNoBody() {
        let driver = ConnectionDriver { _ in .text("twelve bytes") }
        driver.feed("HEAD / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n")
        let full = Wire.text("200 OK", "twelve bytes")
        #expect(driver.text == String(full.dropLast(12)) + full)  // the HEAD answer has no body
    }

    @Test func noContentStatusesHaveNoBodyOrLength() {
        let driver = ConnectionDriver { _ in HTTPResponse(status: .notModified, body: .bytes([1, 2, 3])) }
        driver.feed("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(driver.text == Wire.response("HTTP/1.1 304 Not Modified", [Wire.server, Wire.date]))
    }

    @Test func continueIsSentOnlyWhenTheBodyIsAwaited() {
        let waiting = ConnectionDriver()
        waiting.feed("POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
        #expect(waiting.take() == "HTTP/1.1 100 Continue\r\n\r\n")
        waiting.feed("data")
        #expect(waiting.text == Wire.described("POST", "/up", bodyLength: 4))

        let eager = ConnectionDriver()
        eager.feed("POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\nda")
        eager.feed("ta")
        #expect(eager.text == Wire.described("POST", "/up", bodyLength: 4))

        let empty = ConnectionDriver()
        empty.feed("GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n")
        #expect(empty.text == Wire.described("GET", "/"))
    }

    @Test(arguments: [
        ("GET / HTTP/1.1\nHost: a\r\n\r\n", 400, "Bad Request"),
        ("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400, "Bad Request"),
        ("GET / HTTP/2.0\r\n\r\n", 505, "HTTP Version Not Supported"),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "Not Implemented"),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999\r\n\r\n", 413, "Content Too Large"),
    ])
    func parseErrorsAreAnsweredThenClosed(_ request: String, _ status: Int, _ reason: String) {
        let driver = ConnectionDriver()
        driver.feed("GET /first HTTP/1.1\r\nHost: a\r\n\r\n" + request + "GET /never HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(driver.text == Wire.described("GET", "/first") + Wire.error(status, reason))
        #expect(driver.connection.isFinished)
        #expect(driver.exchanges.last?.status == status)
    }

    // MARK: Limits: answered the moment they are passed

    /// A request exactly at one of `limits`, or one byte past it, what the server must answer,
    /// and after how many bytes of the request that answer must be complete: past a limit,
    /// right at the first byte over it (the line is not over yet, no timeout has run).
    struct LimitCase: CustomStringConvertible {
        var description: String
        var request: [UInt8]
        var expected: String
        var answeredAfter: Int

        static func all(_ limits: HTTPLimits) -> [LimitCase] {
            // "GET /" + target + " HTTP/1.1" is the request line: 14 bytes besides the target.
            func line(_ length: Int) -> (line: String, target: String) {
                let target = "/" + String(repeating: "a", count: length - 14)
                return ("GET \(target) HTTP/1.1", target)
            }
            // Header bytes count every header line with its CRLF and the final empty line:
            // "Host: a\r\n", "X: " + value + "\r\n", "\r\n" are 16 besides the value.
            func head(_ headerBytes: Int) -> String {
                "GET / HTTP/1.1\r\nHost: a\r\nX: " + String(repeating: "b", count: headerBytes - 16) + "\r\n\r\n"
            }
            let atLine = line(limits.maxRequestLineLength), overLine = line(limits.maxRequestLineLength + 1)
            let atLineRequest = Array((atLine.line + "\r\nHost: a\r\n\r\n").utf8)
            let atHead = Array(head(limits.maxHeaderBytes).utf8)
            let requestLine = "GET / HTTP/1.1\r\n".utf8.count
            return [
                LimitCase(description: "request line at the limit", request: atLineRequest,
                          expected: Wire.described("GET", atLine.target), answeredAfter: atLineRequest.count),
                LimitCase(description: "request line one byte over", request: Array((overLine.line + "\r\nHost: a\r\n\r\n").utf8),
                          expected: Wire.error(414, "URI Too Long"), answeredAfter: limits.maxRequestLineLength + 1),
                LimitCase(description: "header section at the limit", request: atHead,
                          expected: Wire.described("GET", "/"), answeredAfter: atHead.count),
                LimitCase(description: "header section one byte over", request: Array(head(limits.maxHeaderBytes + 1).utf8),
                          expected: Wire.error(431, "Request Header Fields Too Large"),
                          answeredAfter: requestLine + limits.maxHeaderBytes + 1),
                LimitCase(description: "one field twice the limit", request: Array(head(2 * limits.maxHeaderBytes).utf8),
                          expected: Wire.error(431, "Request Header Fields Too Large"),
                          answeredAfter: requestLine + limits.maxHeaderBytes + 1),
            ]
        }
    }

    static func driver(_ limits: HTTPLimits) -> ConnectionDriver {
        var configuration = HTTPServerConfiguration()
        configuration.limits = limits
        return ConnectionDriver(configuration: configuration)
    }

    static let smallLimits = HTTPLimits(maxRequestLineLength: 40, maxHeaderBytes: 64)

    @Test(arguments: [HTTPLimits(), smallLimits])
    func limitsAreAnsweredAsSoonAsTheyArePassedWholeOrCut(limits: HTTPLimits) {
        for limit in LimitCase.all(limits) {
            let whole = Self.driver(limits)
            whole.feed(limit.request)
            #expect(whole.text == limit.expected, "\(limit), whole")
            // Nothing before the deciding byte, everything with it: no line end, no timeout needed.
            let before = Self.driver(limits)
            before.feed(Array(limit.request[..<(limit.answeredAfter - 1)]))
            #expect(before.text.isEmpty, "\(limit): answered too early")
            before.feed([limit.request[limit.answeredAfter - 1]])
            #expect(before.text == limit.expected, "\(limit): not answered at byte \(limit.answeredAfter)")
        }
    }

    /// Every split of each request in two (with small limits: the same code, 100 times fewer bytes).
    @Test func limitsAreAnsweredTheSameHoweverTheRequestIsSplit() {
        for limit in LimitCase.all(Self.smallLimits) {
            for cut in 1..<limit.request.count {
                let driver = Self.driver(Self.smallLimits)
                driver.feed(Array(limit.request[..<cut]))
                driver.feed(Array(limit.request[cut...]))
                #expect(driver.text == limit.expected, "\(limit), split at \(cut)")
            }
        }
    }

    /// One byte at a time, 100 µs apart on the connection's clock, with the timeouts checked
    /// after each: the answer is complete at the deciding byte, long before any deadline, and
    /// it is the limit's status, not a 408.
    @Test(arguments: [HTTPLimits(), smallLimits])
    func limitsAreAnsweredBeforeAnyDeadlineWhenTrickled(limits: HTTPLimits) {
        for limit in LimitCase.all(limits) {
            let driver = Self.driver(limits)
            let deadline = driver.connection.deadline
            var answeredAt: Int?
            for (index, byte) in limit.request.enumerated() {
                driver.feed([byte])
                if answeredAt == nil && !driver.sent.isEmpty { answeredAt = index + 1 }
                driver.now += 100_000
                if driver.connection.isFinished { break }
                #expect(driver.connection.checkTimeouts(driver.turn) == .none, "\(limit): a timeout ran at byte \(index + 1)")
            }
            #expect(driver.text == limit.expected, "\(limit), one byte at a time")
            #expect(answeredAt == limit.answeredAfter, "\(limit)")
            let answer = driver.exchanges.last
            #expect(answer != nil && deadline != nil && answer!.answeredAt < deadline!, "\(limit): answered after the deadline")
        }
    }

    @Test func aClientThatDoesNotReadStopsBeingRead() {
        var configuration = HTTPServerConfiguration()
        configuration.outputHighWater = 1000
        let driver = ConnectionDriver(configuration: configuration) { _ in .text(String(repeating: "x", count: 600)) }
        driver.writeAllowance = 0
        driver.feed("GET /1 HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(driver.connection.wantsInput)
        driver.feed("GET /2 HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(!driver.connection.wantsInput)  // two unsent responses over the high-water mark
        driver.writeAllowance = 1_000_000
        driver.drain()
        #expect(driver.connection.wantsInput)
        #expect(driver.text == String(repeating: Wire.text("200 OK", String(repeating: "x", count: 600)), count: 2))
    }

    @Test func streamedBodiesAreChunkedAndPulledAsTheyDrain() {
        var pieces: [[UInt8]] = [Array("hello ".utf8), [], Array("world".utf8)]
        var pulls = 0
        let driver = ConnectionDriver { _ in
            HTTPResponse(body: .stream {
                pulls += 1
                return pieces.isEmpty ? nil : pieces.removeFirst()
            })
        }
        driver.writeAllowance = 0
        driver.feed("GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /after HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(pulls == 0)  // the head is not even sent yet
        driver.writeAllowance = 1_000_000
        driver.drain()
        let chunkedHead = Wire.response("HTTP/1.1 200 OK", [Wire.server, Wire.date, "Transfer-Encoding: chunked"])
        #expect(driver.text == chunkedHead + "6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n"
                + chunkedHead + "0\r\n\r\n")  // the second stream finds no pieces left

        let old = ConnectionDriver { _ in HTTPResponse(body: .stream { nil }) }
        old.feed("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        #expect(old.text == Wire.response("HTTP/1.0 200 OK", [Wire.server, Wire.date, "Connection: close"]))
        #expect(old.connection.isFinished)  // the body ends with the connection
    }

    @Test func anIdleConnectionIsClosedQuietly() {
        let driver = ConnectionDriver()
        driver.feed("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        _ = driver.take()
        #expect(driver.connection.deadline == driver.now + driver.configuration.idleTimeout)
        driver.now += driver.configuration.idleTimeout - 1
        #expect(driver.connection.checkTimeouts(driver.turn) == .none)
        driver.now += 1
        #expect(driver.connection.checkTimeouts(driver.turn) == .closing)
        driver.drain()
        #expect(driver.text.isEmpty)
        #expect(driver.connection.isFinished)
    }

    @Test func aConnectionThatNeverSpeaksIsClosedAfterTheHeaderTimeout() {
        let driver = ConnectionDriver()
        #expect(driver.connection.deadline == driver.now + driver.configuration.headerTimeout)
        driver.now += driver.configuration.headerTimeout
        #expect(driver.connection.checkTimeouts(driver.turn) == .closing)
        driver.drain()
        #expect(driver.text.isEmpty)
        #expect(driver.connection.isFinished)
    }

    @Test func aSlowlorisHeadGets408AtTheHeaderDeadlineEvenWhileBytesTrickleIn() {
        let driver = ConnectionDriver()
        let start = driver.now
        for byte in Array("GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ".utf8) {
            driver.feed([byte])
            if driver.connection.checkTimeouts(driver.turn) != .none { break }
            driver.now += 500_000_000
        }
        driver.drain()
        #expect(driver.now - start >= driver.configuration.headerTimeout)
        #expect(driver.text == Wire.error(408, "Request Timeout"))
        #expect(driver.connection.isFinished)
    }

    @Test func theHeaderClockRestartsForEachPipelinedRequest() {
        let driver = ConnectionDriver()
        driver.feed("GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HT")
        #expect(driver.connection.phase == .head)
        driver.now += 5_000_000_000
        driver.feed("TP/1.1\r\n\r\nGET /3 HT")
        driver.now += driver.configuration.headerTimeout - 1
        #expect(driver.connection.checkTimeouts(driver.turn) == .none)  // /3 started 5 s later
    }

    @Test func aStalledBodyGets408() {
        let driver = ConnectionDriver()
        driver.feed("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc")
        driver.now += driver.configuration.bodyTimeout
        #expect(driver.connection.checkTimeouts(driver.turn) == .closing)
        driver.drain()
        #expect(driver.text == Wire.error(408, "Request Timeout"))
    }

    @Test func aClientThatNeverReadsIsAborted() {
        let driver = ConnectionDriver()
        driver.writeAllowance = 0
        driver.feed("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        driver.now += driver.configuration.sendTimeout
        #expect(driver.connection.checkTimeouts(driver.turn) == .abort)
    }

    @Test func aHalfClosedClientGetsItsAnswersThenTheClose() {
        let driver = ConnectionDriver()
        driver.feed("GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HT")
        driver.connection.peerClosed()
        driver.drain()
        #expect(driver.text == Wire.described("GET", "/a"))
        #expect(driver.connection.isFinished)
    }

    @Test func uploadsTogetherStayWithinTheBodyBudget() {
        let budget = HTTPBodyBudget(limit: 10)
        var first: ConnectionDriver? = ConnectionDriver(bodyBudget: budget)
        first!.feed("POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 8\r\n\r\n1234567")
        #expect(budget.used == 8, "a declared body is held whole from its head on")
        let second = ConnectionDriver(bodyBudget: budget)
        second.feed("POST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n")
        #expect(second.text == Wire.text("503 Service Unavailable", "too many uploads at once; try again\n", connection: "close"),
                "refused at its head, before any of the body is sent")
        #expect(second.connection.isFinished)
        #expect(budget.used == 8, "the refused body gave its share back")
        first!.feed("8")
        #expect(first!.text == Wire.described("POST", "/a", bodyLength: 8))
        #expect(budget.used == 0, "an answered request gives its body's share back")
        first!.feed("POST /c HTTP/1.1\r\nHost: a\r\nContent-Length: 9\r\n\r\n1234")
        #expect(budget.used == 9)
        first = nil
        #expect(budget.used == 0, "a connection that goes away mid-body gives its share back")
    }

    /// A chunked body's length is known only at its end: it is charged for the storage it
    /// grows into (doubling), and finishes in exactly what is left when doubling would not fit.
    @Test func aChunkedUploadIsChargedForTheStorageItGrowsInto() {
        let budget = HTTPBodyBudget(limit: 14)
        let driver = ConnectionDriver(bodyBudget: budget)
        driver.feed("POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n")
        #expect(budget.used == 4)
        driver.feed("2\r\nef\r\n")
        #expect(budget.used == 8, "grown by doubling")
        driver.feed("6\r\nghijkl\r\n")
        #expect(budget.used == 12, "doubling to 16 does not fit: exactly what the body needs")
        driver.feed("0\r\n\r\n")
        #expect(driver.text == Wire.described("POST", "/a", bodyLength: 12))
        #expect(budget.used == 0)
        driver.feed("POST /b HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nf\r\n0123456789abcde\r\n")
        #expect(driver.text.hasSuffix(Wire.text("503 Service Unavailable", "too many uploads at once; try again\n", connection: "close")))
        #expect(budget.used == 0)
    }

    @Test func randomInputNeverTraps() {
        var generator = SplitMix64(seed: 7)
        for _ in 0..<300 {
            let driver = ConnectionDriver()
            let count = Int(generator.next() % 300)
            var bytes = (0..<count).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            if generator.next() % 2 == 0 { bytes = Array("GET / HTTP/1.1\r\nHost: a\r\n".utf8) + bytes }
            driver.feed(bytes)
            _ = driver.connection.checkTimeouts(driver.turn)
        }
    }
}
