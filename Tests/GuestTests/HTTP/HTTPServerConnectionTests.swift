// HTTPServerConnection without sockets: requests in (whole, pipelined, split at every byte),
// responses out in order with the server's framing; keep-alive and close; HEAD; 100-continue;
// parse errors answered then closed; backpressure; streamed bodies; every timeout.
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

/// Splits a stream of responses (Content-Length framed) into (head, body) pairs.
func splitResponses(_ text: String) -> [(head: String, body: String)] {
    var result: [(String, String)] = []
    var rest = Substring(text)
    while let end = rest.range(of: "\r\n\r\n") {
        let head = String(rest[..<end.lowerBound])
        rest = rest[end.upperBound...]
        var length = 0
        for line in head.split(separator: "\r\n") where line.lowercased().hasPrefix("content-length:") {
            length = Int(line.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) ?? 0
        }
        let body = String(rest.prefix(length))
        rest = rest.dropFirst(length)
        result.append((head, body))
    }
    return result
}

@Suite struct HTTPServerConnectionTests {
    @Test func answersAGetWithFramingDateAndServer() {
        let driver = ConnectionDriver()
        driver.feed("GET /hello?x=1 HTTP/1.1\r\nHost: a\r\n\r\n")
        let responses = splitResponses(driver.text)
        #expect(responses.count == 1)
        let head = responses[0].head
        #expect(head.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(head.contains("\r\nServer: Swiftlet"))
        #expect(head.contains("\r\nDate: Fri, 27 Nov 2026 13:14:21 GMT"))
        #expect(head.contains("\r\nContent-Length: 16"))
        #expect(!head.contains("Connection:"))
        #expect(responses[0].body == "GET /hello?x=1 0")
        #expect(!driver.connection.isFinished)
        #expect(driver.exchanges.count == 1 && driver.exchanges[0].status == 200 && driver.exchanges[0].bodyBytes == 16)
    }

    static let pipeline = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nPOST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
        + "POST /3 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\nGET /4 HTTP/1.1\r\nHost: a\r\n\r\n"

    @Test func pipelinedRequestsAreAnsweredInOrderHoweverTheyAreSplit() {
        let whole = ConnectionDriver()
        whole.feed(Self.pipeline)
        let bodies = splitResponses(whole.text).map(\.body)
        #expect(bodies == ["GET /1 0", "POST /2 5", "POST /3 5", "GET /4 0"])
        let bytes = Array(Self.pipeline.utf8)
        for cut in 1..<bytes.count {
            let driver = ConnectionDriver()
            driver.feed(Array(bytes[..<cut]))
            driver.feed(Array(bytes[cut...]))
            #expect(splitResponses(driver.text).map(\.body) == bodies, "split at \(cut)")
        }
        let trickle = ConnectionDriver()
        for byte in bytes { trickle.feed([byte]) }
        #expect(splitResponses(trickle.text).map(\.body) == bodies)
    }

    @Test func connectionCloseAndHTTP10() {
        let close = ConnectionDriver()
        close.feed("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET /ignored HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(splitResponses(close.text).count == 1)
        #expect(close.text.contains("\r\nConnection: close\r\n"))
        #expect(close.connection.isFinished)

        let old = ConnectionDriver()
        old.feed("GET / HTTP/1.0\r\n\r\n")
        #expect(old.text.hasPrefix("HTTP/1.0 200 OK"))
        #expect(old.connection.isFinished)

        let oldKeepAlive = ConnectionDriver()
        oldKeepAlive.feed("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        #expect(oldKeepAlive.text.contains("\r\nConnection: keep-alive\r\n"))
        #expect(!oldKeepAlive.connection.isFinished)
    }

    @Test func headSendsTheLengthButNoBody() {
        let driver = ConnectionDriver { _ in .text("twelve bytes") }
        driver.feed("HEAD / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(driver.text.hasPrefix("HTTP/1.1 200 OK\r\n"))
        let parts = driver.text.components(separatedBy: "\r\n\r\n")
        #expect(parts.count == 3)
        #expect(parts[0].contains("Content-Length: 12"))
        #expect(parts[1].hasPrefix("HTTP/1.1 200 OK"))  // no body between the two heads
        #expect(parts[2] == "twelve bytes")
    }

    @Test func noContentStatusesHaveNoBodyOrLength() {
        let driver = ConnectionDriver { _ in HTTPResponse(status: .notModified, body: .bytes([1, 2, 3])) }
        driver.feed("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(driver.text.hasPrefix("HTTP/1.1 304 Not Modified\r\n"))
        #expect(!driver.text.contains("Content-Length"))
        #expect(driver.text.hasSuffix("\r\n\r\n"))
    }

    @Test func continueIsSentOnlyWhenTheBodyIsAwaited() {
        let waiting = ConnectionDriver()
        waiting.feed("POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
        #expect(waiting.take() == "HTTP/1.1 100 Continue\r\n\r\n")
        waiting.feed("data")
        #expect(splitResponses(waiting.text).map(\.body) == ["POST /up 4"])

        let eager = ConnectionDriver()
        eager.feed("POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\nda")
        eager.feed("ta")
        #expect(!eager.text.contains("100 Continue"))

        let empty = ConnectionDriver()
        empty.feed("GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n")
        #expect(!empty.text.contains("100 Continue"))
    }

    @Test(arguments: [
        ("GET / HTTP/1.1\nHost: a\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
        ("GET / HTTP/2.0\r\n\r\n", 505),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999\r\n\r\n", 413),
    ])
    func parseErrorsAreAnsweredThenClosed(_ request: String, _ status: Int) {
        let driver = ConnectionDriver()
        driver.feed("GET /first HTTP/1.1\r\nHost: a\r\n\r\n" + request + "GET /never HTTP/1.1\r\nHost: a\r\n\r\n")
        let responses = splitResponses(driver.text)
        #expect(responses.count == 2)
        #expect(responses[0].body == "GET /first 0")
        #expect(responses[1].head.hasPrefix("HTTP/1.1 \(status) "))
        #expect(responses[1].head.contains("Connection: close"))
        #expect(driver.connection.isFinished)
        #expect(driver.exchanges.last?.status == status)
    }

    @Test func longTargetsAndHeadersGet414And431() {
        let long = ConnectionDriver()
        long.feed("GET /" + String(repeating: "a", count: 9000) + " HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(long.text.hasPrefix("HTTP/1.1 414 "))
        let big = ConnectionDriver()
        big.feed("GET / HTTP/1.1\r\nHost: a\r\nX: " + String(repeating: "b", count: 20000) + "\r\n\r\n")
        #expect(big.text.hasPrefix("HTTP/1.1 431 "))
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
        #expect(splitResponses(driver.text).count == 2)
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
        let text = driver.text
        #expect(text.contains("Transfer-Encoding: chunked\r\n"))
        #expect(text.contains("\r\n\r\n6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\nHTTP/1.1 200 OK"))

        let old = ConnectionDriver { _ in HTTPResponse(body: .stream { nil }) }
        old.feed("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        #expect(!old.text.contains("chunked"))
        #expect(old.text.contains("Connection: close"))
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
        #expect(driver.text.hasPrefix("HTTP/1.1 408 Request Timeout\r\n"))
        #expect(driver.text.contains("Connection: close"))
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
        #expect(driver.text.hasPrefix("HTTP/1.1 408 "))
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
        #expect(splitResponses(driver.text).map(\.body) == ["GET /a 0"])
        #expect(driver.connection.isFinished)
    }

    @Test func uploadsTogetherStayWithinTheBodyBudget() {
        let budget = HTTPBodyBudget(limit: 10)
        var first: ConnectionDriver? = ConnectionDriver(bodyBudget: budget)
        first!.feed("POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 8\r\n\r\n1234567")
        #expect(budget.used == 7)
        let second = ConnectionDriver(bodyBudget: budget)
        second.feed("POST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n12345")
        #expect(second.text.hasPrefix("HTTP/1.1 503 Service Unavailable\r\n"))
        #expect(second.text.contains("Connection: close"))
        #expect(second.connection.isFinished)
        #expect(budget.used == 7, "the refused body gave its share back")
        first!.feed("8")
        #expect(splitResponses(first!.text).map(\.body) == ["POST /a 8"])
        #expect(budget.used == 0, "an answered request gives its body's share back")
        first!.feed("POST /c HTTP/1.1\r\nHost: a\r\nContent-Length: 9\r\n\r\n1234")
        #expect(budget.used == 4)
        first = nil
        #expect(budget.used == 0, "a connection that goes away mid-body gives its share back")
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
