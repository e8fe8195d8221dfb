// The HTTP server's drain on shutdown, segment by segment on a real stack with an injected
// clock: the port closes (a new client is reset), a request under way is answered with
// `Connection: close`, idle keep-alive connections close at once, a response being sent is
// finished first, and `isDrained` waits until the clients have acknowledged everything.
import Testing
@testable import Swiftlet

@Suite struct HTTPServerShutdownTests {
    static let second: UInt64 = 1_000_000_000
    static let t0: UInt64 = 1_000 * second
    static let largeBody = [UInt8](repeating: 0x61, count: 100_000)

    static func makeServer() throws -> (HTTPServer, LinkPeers) {
        let peers = LinkPeers()
        var configuration = HTTPServerConfiguration()
        configuration.accessLog = false
        let router = Router()
        router.post("/echo") { request in HTTPResponse(contentType: "text/plain", body: .bytes(request.body)) }
        router.get("/large") { _ in HTTPResponse(contentType: "text/plain", body: .bytes(Self.largeBody)) }
        let server = try HTTPServer(stack: peers.stack, port: 80, router: router, configuration: configuration,
                                    wallClock: { 0 }, logSink: { _ in })
        peers.afterPoll = { now in server.poll(now: now) }
        return (server, peers)
    }

    @Test func aRequestUnderWayIsAnsweredIdleConnectionsCloseAndNewClientsAreRefused() throws {
        let (server, peers) = try Self.makeServer()
        var now = Self.t0
        let uploading = peers.client(port: 40000)
        #expect(try uploading.connect(now: now))
        try uploading.send("POST /echo HTTP/1.1\r\nHost: guest\r\nContent-Length: 10\r\n\r\nhello", now: now)
        let idle = peers.client(port: 40001)
        #expect(try idle.connect(now: now))
        try idle.send("GET /nothing HTTP/1.1\r\nHost: guest\r\n\r\n", now: now)
        #expect(idle.received.starts(with: Array("HTTP/1.1 404 ".utf8)) && !idle.receivedFIN, "kept alive")
        try idle.send(now: now)   // acknowledges the 404
        let answered = idle.received.count

        server.beginShutdown()
        now += Self.second / 10
        try peers.poll(now: now)
        #expect(idle.receivedFIN && !idle.receivedRST, "the idle keep-alive connection is closed politely")
        #expect(idle.received.count == answered, "with nothing more sent on it")
        #expect(!uploading.receivedFIN && uploading.received.isEmpty, "the upload under way goes on")
        #expect(!server.isDrained)

        let late = peers.client(port: 40002)
        #expect(try !late.connect(now: now), "the port is closed")
        #expect(late.receivedRST, "a new client is refused")

        now += Self.second
        try uploading.send("world", now: now)
        let answer = String(decoding: uploading.received, as: UTF8.self)
        #expect(answer.hasPrefix("HTTP/1.1 200 "), "answer: \(answer)")
        #expect(answer.contains("\r\nConnection: close\r\n"), "answer: \(answer)")
        #expect(answer.hasSuffix("\r\n\r\nhelloworld"), "answer: \(answer)")
        #expect(uploading.receivedFIN)
        #expect(!server.isDrained, "the answer is not acknowledged yet")
        try uploading.send(now: now)
        #expect(server.isDrained)
        #expect(server.statistics.requests == 2 && server.statistics.responses2xx == 1)
    }

    @Test func aResponseBeingSentIsFinishedBeforeTheConnectionCloses() throws {
        let (server, peers) = try Self.makeServer()
        var now = Self.t0
        let client = peers.client(port: 40000)
        #expect(try client.connect(now: now))
        try client.send("GET /large HTTP/1.1\r\nHost: guest\r\n\r\n", now: now)
        let head = String(decoding: client.received.prefix(200), as: UTF8.self)
        #expect(head.hasPrefix("HTTP/1.1 200 ") && !head.contains("Connection: close"), "sent before the shutdown: \(head)")
        #expect(client.received.count < Self.largeBody.count, "the body does not fit in one window")

        server.beginShutdown()
        var turns = 0
        while !client.receivedFIN && turns < 200 {
            now += Self.second / 100
            try client.send(now: now)   // acknowledges what arrived: the guest sends more
            turns += 1
        }
        #expect(client.receivedFIN && !client.receivedRST)
        let body = client.received.split(separator: 0x0A, omittingEmptySubsequences: false).last.map(Array.init) ?? []
        #expect(body == Self.largeBody, "the whole body (\(body.count) bytes), then the FIN")
        try client.send(now: now)
        #expect(server.isDrained)
    }

    @Test func drainedAtOnceWithoutConnections() throws {
        let (server, peers) = try Self.makeServer()
        #expect(!server.isDrained, "not shutting down")
        server.beginShutdown()
        #expect(!server.isDrained, "the port is still open until the next poll")
        try peers.poll(now: Self.t0)
        #expect(server.isDrained)
        #expect(try !peers.client(port: 40000).connect(now: Self.t0))
    }
}
