// The HTTP server's closed connections on a real stack, segment by segment with an injected
// clock: each one closed on our side (answered, or refused with 503) is gone, its TCP state
// and buffers with it, once its client closes too or within bounded time if it never does.
import Testing
@testable import Swiftlet

@Suite struct HTTPServerLingerTests {
    static let second: UInt64 = 1_000_000_000
    static let t0: UInt64 = 1_000 * second

    /// A server on port 80 that serves `maximumConnections` at once, on a stack on a memory link.
    static func makeServer(maximumConnections: Int = 8) throws -> (HTTPServer, LinkPeers) {
        let peers = LinkPeers()
        var configuration = HTTPServerConfiguration()
        configuration.maximumConnections = maximumConnections
        configuration.accessLog = false
        let server = try HTTPServer(stack: peers.stack, port: 80, router: Router(), configuration: configuration,
                                    wallClock: { 0 }, logSink: { _ in })
        peers.afterPoll = { now in server.poll(now: now) }
        return (server, peers)
    }

    @Test func aRefusedConnectionWhosePeerNeverClosesIsResetAndForgotten() throws {
        let (server, peers) = try Self.makeServer(maximumConnections: 1)
        let served = peers.client(port: 40000)
        #expect(try served.connect(now: Self.t0))
        let refused = peers.client(port: 40001)
        #expect(try refused.connect(now: Self.t0))
        #expect(refused.received == Array("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".utf8))
        #expect(server.statistics.connectionsRefused == 1)
        #expect(!refused.receivedFIN, "our FIN waits: the client may still be sending its request")
        try peers.poll(now: Self.t0 + HTTPServer.quietBeforeFIN - 1)
        #expect(!refused.receivedFIN)
        let finAt = Self.t0 + HTTPServer.quietBeforeFIN
        try peers.poll(now: finAt)
        #expect(refused.receivedFIN, "the client has been quiet: the FIN goes out")
        // The client acknowledges the 503 and our FIN but never closes: FIN-WAIT-2, which TCP
        // alone would keep (with its buffers) for good.
        try refused.send(now: finAt)
        weak let refusedStream = peers.stream(of: refused)
        #expect(refusedStream?.state == .finWait2)
        #expect(server.statistics.lingeringConnections == 1)
        #expect(peers.stack.tcpConnectionCounts.active == 2)
        #expect(server.pollAt() == finAt + HTTPServer.lingerTimeout, "the guest wakes for the linger deadline")

        try peers.poll(now: finAt + HTTPServer.lingerTimeout - 1)
        #expect(!refused.receivedRST && server.statistics.lingeringConnections == 1)
        try peers.poll(now: finAt + HTTPServer.lingerTimeout)
        #expect(refused.receivedRST)
        #expect(server.statistics.lingeringConnections == 0)
        #expect(peers.stack.tcpConnectionCounts == (active: 1, timeWait: 0), "only the served connection is left")
        #expect(refusedStream == nil, "nothing holds the refused connection or its buffers any more")
        #expect(!served.receivedRST && !served.receivedFIN && server.statistics.activeConnections == 1)
    }

    @Test func aRefusedConnectionWhosePeerClosesIsForgottenAtOnce() throws {
        let (server, peers) = try Self.makeServer(maximumConnections: 1)
        #expect(try peers.client(port: 40000).connect(now: Self.t0))
        let refused = peers.client(port: 40001)
        #expect(try refused.connect(now: Self.t0))
        try refused.send(fin: true, now: Self.t0 + 1)
        #expect(refused.receivedFIN && !refused.receivedRST, "its FIN releases ours at once")
        #expect(server.statistics.lingeringConnections == 0)
        try refused.send(now: Self.t0 + 2)  // acknowledges our FIN
        #expect(refused.unacknowledged == 0)
        #expect(peers.stack.tcpConnectionCounts == (active: 1, timeWait: 0), "the client closed first: no TIME-WAIT here")
    }

    @Test func anAnswerThatCutsAnUploadShortHoldsItsFINWhileTheClientSends() throws {
        let (server, peers) = try Self.makeServer()
        let client = peers.client(port: 40000)
        #expect(try client.connect(now: Self.t0))
        try client.send("POST /upload HTTP/1.1\r\nHost: guest\r\nContent-Length: 10000000\r\n\r\n", now: Self.t0)
        #expect(client.received.starts(with: Array("HTTP/1.1 413 ".utf8)))
        #expect(!client.receivedFIN)
        // The upload goes on for 3 s, a kilobyte every 100 ms: taken and dropped, no FIN yet.
        var now = Self.t0
        for _ in 0..<30 {
            now += Self.second / 10
            try client.send(String(repeating: "b", count: 1000), now: now)
            #expect(!client.receivedFIN && !client.receivedRST)
        }
        #expect(client.unacknowledged == 0, "everything the client sent is acknowledged")
        #expect(server.statistics.lingeringConnections == 1)
        try peers.poll(now: now + HTTPServer.quietBeforeFIN - 1)
        #expect(!client.receivedFIN)
        try peers.poll(now: now + HTTPServer.quietBeforeFIN)
        #expect(client.receivedFIN && !client.receivedRST)
        try client.send(fin: true, now: now + HTTPServer.quietBeforeFIN + 1)
        #expect(server.statistics.lingeringConnections == 0 && !client.receivedRST)
    }

    @Test func aSlowlorisTimedOutGetsItsFINAtOnce() throws {
        let (server, peers) = try Self.makeServer()
        let client = peers.client(port: 40000)
        #expect(try client.connect(now: Self.t0))
        try client.send("GET / HTTP/1.1\r\nHost: guest\r\nX-Slow: ", now: Self.t0)
        var now = Self.t0
        while !client.receivedFIN && now < Self.t0 + 20 * Self.second {
            now += Self.second / 2
            try client.send("a", now: now)
        }
        #expect(client.received.starts(with: Array("HTTP/1.1 408 ".utf8)))
        #expect(client.receivedFIN && now == Self.t0 + HTTPServerConfiguration().headerTimeout,
                "the FIN comes with the 408 (at \((now - Self.t0) / Self.second) s), however the client trickles")
        #expect(server.statistics.timeouts == 1)
    }

    @Test func anAnswerThatClosesFilesTheLingeringClosesTimerInTheSessionsSlot() throws {
        let (server, peers) = try Self.makeServer()
        let client = peers.client(port: 40000)
        #expect(try client.connect(now: Self.t0))
        // The request comes late, so that the session's header timer (filed at the handshake, in
        // the same slot, stale once the connection lingers) is due before the linger timeout.
        let headerDeadline = Self.t0 + HTTPServerConfiguration().headerTimeout
        let closedAt = headerDeadline - 2 * Self.second
        try client.send("GET /nothing HTTP/1.1\r\nHost: guest\r\nConnection: close\r\n\r\n", now: closedAt)
        #expect(client.receivedFIN && server.statistics.lingeringConnections == 1)
        #expect(closedAt + HTTPServer.lingerTimeout > headerDeadline)
        #expect(server.pollAt() == closedAt + HTTPServer.lingerTimeout, "the lingering close's deadline")
        try peers.poll(now: headerDeadline)
        #expect(!client.receivedRST && server.statistics.lingeringConnections == 1)
        try peers.poll(now: closedAt + HTTPServer.lingerTimeout - 1)
        #expect(!client.receivedRST)
        try peers.poll(now: closedAt + HTTPServer.lingerTimeout)
        #expect(client.receivedRST, "the client never closed: reset at the linger timeout")
        #expect(server.statistics.lingeringConnections == 0 && server.pollAt() == nil)
    }

    @Test func aClientTricklingAfterTheAnswerIsResetAfterTheLingerLimit() throws {
        let (server, peers) = try Self.makeServer()
        let client = peers.client(port: 40000)
        #expect(try client.connect(now: Self.t0))
        try client.send("GET /nothing HTTP/1.1\r\nHost: guest\r\nConnection: close\r\n\r\n", now: Self.t0)
        #expect(client.received.starts(with: Array("HTTP/1.1 404 ".utf8)) && client.receivedFIN)
        // A byte a second, never a FIN: each byte is read and dropped, and each one alone would
        // keep the connection open for another linger timeout.
        var now = Self.t0
        while now + Self.second < Self.t0 + HTTPServer.maximumLinger {
            now += Self.second
            try client.send("x", now: now)
            #expect(!client.receivedRST, "reset \((now - Self.t0) / Self.second) s after closing")
        }
        #expect(server.statistics.lingeringConnections == 1)
        #expect(server.pollAt() == Self.t0 + HTTPServer.maximumLinger)
        try client.send("x", now: Self.t0 + HTTPServer.maximumLinger)
        #expect(client.receivedRST)
        #expect(server.statistics.lingeringConnections == 0 && server.statistics.activeConnections == 0)
        #expect(peers.stack.tcpConnectionCounts == (active: 0, timeWait: 0))
    }
}
