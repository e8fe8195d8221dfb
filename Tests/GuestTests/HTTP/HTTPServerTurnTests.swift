// What one turn of the HTTP server costs, on a real stack segment by segment: it visits the
// connections TCP marked (a request, an acknowledgment, a FIN) and those whose own deadline is
// due, never the idle ones; and none of them is forgotten (timeouts fire on connections
// nothing else touches, an answer larger than the send buffer goes on as acknowledgments come,
// shutdown reaches every connection).
import Testing
@testable import Swiftlet

@Suite struct HTTPServerTurnTests {
    static let second: UInt64 = 1_000_000_000
    static let t0: UInt64 = 1_000 * second
    static let largeBody = [UInt8](repeating: 0x62, count: 40_000)
    static let request = "GET / HTTP/1.1\r\nHost: guest\r\n\r\n"

    static func makeServer(tcp settings: TCPSettings = TCPSettings()) throws -> (HTTPServer, LinkPeers) {
        let peers = LinkPeers(tcp: settings)
        var configuration = HTTPServerConfiguration()
        configuration.accessLog = false
        let router = Router()
        router.get("/") { _ in HTTPResponse(contentType: "text/plain", body: .bytes(Array("hello".utf8))) }
        router.get("/large") { _ in HTTPResponse(contentType: "text/plain", body: .bytes(Self.largeBody)) }
        let server = try HTTPServer(stack: peers.stack, port: 80, router: router, configuration: configuration,
                                    wallClock: { 0 }, logSink: { _ in })
        peers.afterPoll = { now in server.poll(now: now) }
        return (server, peers)
    }

    /// `count` clients, each connected and answered once, its answer acknowledged: idle
    /// keep-alive connections, nothing owed either way.
    static func idleClients(_ count: Int, _ peers: LinkPeers, now: UInt64) throws -> [LinkClient] {
        var clients: [LinkClient] = []
        for index in 0..<count {
            let client = peers.client(port: UInt16(40000 + index))
            #expect(try client.connect(now: now))
            try client.send(Self.request, now: now)
            #expect(String(decoding: client.received, as: UTF8.self).hasSuffix("\r\n\r\nhello"))
            try client.send(now: now)
            clients.append(client)
        }
        return clients
    }

    @Test func aTurnVisitsOnlyTheConnectionsWithWork() throws {
        let (server, peers) = try Self.makeServer()
        let clients = try Self.idleClients(8, peers, now: Self.t0)
        let visits = server.visits
        try peers.poll(now: Self.t0 + 1)
        try peers.poll(now: Self.t0 + 2)
        #expect(server.visits == visits, "idle connections cost a turn nothing")
        #expect(server.pollAt() == Self.t0 + HTTPServerConfiguration().idleTimeout, "only their idle deadline is filed")

        let answered = clients[5].received.count
        try clients[5].send(Self.request, now: Self.t0 + 3)
        #expect(server.visits == visits + 1, "the one a request arrived for")
        #expect(String(decoding: clients[5].received[answered...], as: UTF8.self).hasSuffix("\r\n\r\nhello"))
        try clients[5].send(now: Self.t0 + 4)  // the acknowledgment is a visit too (it may free send space)
        #expect(server.visits == visits + 2)
        #expect(server.statistics.activeConnections == 8 && server.statistics.requests == 9)
    }

    @Test func theIdleTimeoutClosesAConnectionNothingElseTouches() throws {
        let (server, peers) = try Self.makeServer()
        let idleTimeout = HTTPServerConfiguration().idleTimeout
        let early = try Self.idleClients(1, peers, now: Self.t0)[0]
        let late = peers.client(port: 41000)
        #expect(try late.connect(now: Self.t0 + Self.second))
        try late.send(Self.request, now: Self.t0 + Self.second)
        try late.send(now: Self.t0 + Self.second)
        #expect(server.pollAt() == Self.t0 + idleTimeout)

        let visits = server.visits
        try peers.poll(now: Self.t0 + idleTimeout - 1)
        #expect(!early.receivedFIN && server.visits == visits)
        try peers.poll(now: Self.t0 + idleTimeout)
        #expect(early.receivedFIN && !late.receivedFIN, "the first connection's deadline came, the second's not yet")
        #expect(server.visits == visits + 1, "only the connection whose deadline is due")
        #expect(server.pollAt() == Self.t0 + Self.second + idleTimeout)
        try peers.poll(now: Self.t0 + Self.second + idleTimeout)
        #expect(late.receivedFIN)
    }

    @Test func aKeptAliveConnectionsIdleDeadlineMovesWithEachRequest() throws {
        let (server, peers) = try Self.makeServer()
        let idleTimeout = HTTPServerConfiguration().idleTimeout
        let client = try Self.idleClients(1, peers, now: Self.t0)[0]
        let later = Self.t0 + idleTimeout / 2
        try client.send(Self.request, now: later)
        try client.send(now: later)
        // The entry filed after the first request is stale now: it wakes nothing and closes nothing.
        #expect(server.pollAt() == later + idleTimeout)
        try peers.poll(now: Self.t0 + idleTimeout)
        #expect(!client.receivedFIN)
        try peers.poll(now: later + idleTimeout)
        #expect(client.receivedFIN)
    }

    @Test func aSessionIsFoundByItsSlotAfterOtherConnectionsClosedAndTheirSlotsWereReused() throws {
        let (server, peers) = try Self.makeServer()
        let idleTimeout = HTTPServerConfiguration().idleTimeout
        let old = try Self.idleClients(4, peers, now: Self.t0)
        let freed = Set(try [old[1], old[2]].map { try #require(peers.stream(of: $0)?.slot) })
        #expect(freed.count == 2)
        for client in [old[1], old[2]] {
            try client.send(fin: true, now: Self.t0 + 1)
            #expect(client.receivedFIN)
            try client.send(now: Self.t0 + 1)  // acknowledges our FIN: TCP marks the stream once more
        }
        #expect(server.statistics.activeConnections == 2 && server.statistics.lingeringConnections == 0)

        // Two new clients take the two free slots; the closed connections' idle timers are
        // still filed under those slots.
        let reusedAt = Self.t0 + idleTimeout / 2
        let new = [peers.client(port: 41000), peers.client(port: 41001)]
        for client in new {
            #expect(try client.connect(now: reusedAt))
            try client.send(Self.request, now: reusedAt)
            try client.send(now: reusedAt)
        }
        #expect(Set(try new.map { try #require(peers.stream(of: $0)?.slot) }) == freed)
        #expect(server.statistics.activeConnections == 4)

        // Each connection's request reaches its own session and its answer its own client.
        let clients = [old[0], old[3]] + new
        for (index, client) in clients.enumerated() {
            let answered = client.received.count
            let visits = server.visits
            try client.send(Self.request, now: reusedAt + 1 + UInt64(index))
            #expect(server.visits == visits + 1)
            #expect(String(decoding: client.received[answered...], as: UTF8.self).hasSuffix("\r\n\r\nhello"))
            try client.send(now: reusedAt + 1 + UInt64(index))
        }
        #expect(server.statistics.requests == 4 + 2 + 4)

        // The old owners' timers come due: they close none of the new owners.
        try peers.poll(now: Self.t0 + idleTimeout)
        #expect(clients.allSatisfy { !$0.receivedFIN && !$0.receivedRST })
        try peers.poll(now: reusedAt + idleTimeout)
        #expect(clients.allSatisfy { !$0.receivedFIN }, "their deadlines moved with the last request")
        try peers.poll(now: reusedAt + 1 + idleTimeout + 3)
        #expect(clients.allSatisfy { $0.receivedFIN && !$0.receivedRST }, "and then the idle timeout closes each")
    }

    @Test func anAnswerLargerThanTheSendBufferGoesOnAsItIsAcknowledged() throws {
        var settings = TCPSettings()
        settings.sendBuffer = 4096
        let (server, peers) = try Self.makeServer(tcp: settings)
        let clients = try Self.idleClients(3, peers, now: Self.t0)
        let client = clients[1]
        let answered = client.received.count
        try client.send("GET /large HTTP/1.1\r\nHost: guest\r\n\r\n", now: Self.t0 + 1)
        var acknowledgments = 0
        while client.received.count < answered + Self.largeBody.count && acknowledgments < 100 {
            let visits = server.visits
            try client.send(now: Self.t0 + 2)  // nothing but an acknowledgment
            #expect(server.visits == visits + 1)
            acknowledgments += 1
        }
        #expect(client.received.suffix(Self.largeBody.count).elementsEqual(Self.largeBody))
        #expect(acknowledgments >= Self.largeBody.count / 4096, "each acknowledgment freed room for the next piece")
    }

    @Test func shutdownReachesEveryIdleConnection() throws {
        let (server, peers) = try Self.makeServer()
        let clients = try Self.idleClients(4, peers, now: Self.t0)
        server.beginShutdown()
        try peers.poll(now: Self.t0 + 1)
        #expect(clients.allSatisfy { $0.receivedFIN && !$0.receivedRST })
        for client in clients { try client.send(fin: true, now: Self.t0 + 2) }
        #expect(server.isDrained)
    }
}
