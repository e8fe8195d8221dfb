// Router: literals, `:name` and `{name}` parameters, `*` and `**`, the most specific route
// winning, 404, 405 with Allow (HEAD implied by GET), OPTIONS, HEAD through GET, thrown
// errors as their status, percent-decoding of segments, and query values.
import Testing
@testable import Swiftlet

@Suite struct RouterTests {
    static func request(_ method: String, _ target: String, body: String = "") -> HTTPRequest {
        let head = HTTPRequestHead(method: Array(method.utf8), target: Array(target.utf8), version: .http11,
                                   headers: HTTPHeaders(), keepAlive: true, expectContinue: false)
        return HTTPRequest(head: head, body: Array(body.utf8))
    }

    static func body(_ response: HTTPResponse) -> String {
        guard case .bytes(let bytes) = response.body else { return "" }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func makeRouter() -> Router {
        let router = Router()
        router.get("/") { _ in .text("home") }
        router.get("/users/:id") { request in .text("user \(request.parameters["id"] ?? "?")") }
        router.get("/users/me") { _ in .text("me") }
        router.get("/users/{id}/posts/:post") { request in
            .text("post \(request.parameters["id"] ?? "?")/\(request.parameters["post"] ?? "?")")
        }
        router.put("/users/:id") { request in .text("put \(request.parameters["id"] ?? "?") \(request.bodyString)") }
        router.get("/files/**") { request in .text("file \(String(decoding: request.parameters.catchAll ?? [], as: UTF8.self))") }
        router.get("/any/*/end") { _ in .text("any") }
        router.get("/fail") { _ throws(HTTPError) in throw HTTPError(.internalServerError, "it broke") }
        router.get("/teapot") { _ throws(HTTPError) in throw HTTPError(HTTPStatus(code: 418)) }
        router.get("/search") { request in .text("q=\(request.query("q") ?? "-") n=\(request.query("n") ?? "-")") }
        return router
    }

    @Test(arguments: [
        ("GET", "/", 200, "home"),
        ("GET", "/users/42", 200, "user 42"),
        ("GET", "/users/me", 200, "me"),                       // literal beats parameter
        ("GET", "/users/a%20b", 200, "user a b"),              // decoded per segment
        ("GET", "/users/a%2Fb", 200, "user a/b"),              // an encoded slash stays in its segment
        ("GET", "/users//42/", 200, "user 42"),                // empty segments do not count
        ("GET", "/users/7/posts/9", 200, "post 7/9"),
        ("PUT", "/users/5", 200, "put 5 data"),
        ("GET", "/files/a/b/c.txt", 200, "file a/b/c.txt"),
        ("GET", "/files", 200, "file "),
        ("GET", "/any/thing/end", 200, "any"),
        ("GET", "/any/thing/else", 404, "Not Found\n"),
        ("GET", "/nope", 404, "Not Found\n"),
        ("GET", "/users", 404, "Not Found\n"),
        ("GET", "/fail", 500, "it broke\n"),
        ("GET", "/search?q=swift+lang&n=%31", 200, "q=swift lang n=1"),
        ("GET", "/search?x=1", 200, "q=- n=-"),
    ])
    func routes(_ method: String, _ target: String, _ status: Int, _ text: String) {
        let response = Self.makeRouter().respond(to: Self.request(method, target, body: "data"))
        #expect(response.status.code == status)
        #expect(Self.body(response) == text)
    }

    @Test func unknownStatusesKeepTheirCode() {
        let response = Self.makeRouter().respond(to: Self.request("GET", "/teapot"))
        #expect(response.status.code == 418)
    }

    @Test func wrongMethodsGet405WithAllow() {
        let router = Self.makeRouter()
        let response = router.respond(to: Self.request("DELETE", "/users/1"))
        #expect(response.status == .methodNotAllowed)
        #expect(response.headers["Allow"] == "GET, PUT, HEAD")
        let options = router.respond(to: Self.request("OPTIONS", "/users/1"))
        #expect(options.status == .noContent)
        #expect(options.headers["Allow"] == "GET, PUT, HEAD")
    }

    @Test func headRunsTheGetHandler() {
        let response = Self.makeRouter().respond(to: Self.request("HEAD", "/users/3"))
        #expect(response.status == .ok)
        #expect(Self.body(response) == "user 3")  // the connection drops the body, keeping its length
    }

    @Test func theFallbackAnswersOnlyGetAndHeadMisses() {
        let router = Self.makeRouter()
        router.fallback { request in request.path == Array("/static".utf8) ? .text("static") : nil }
        #expect(Self.body(router.respond(to: Self.request("GET", "/static"))) == "static")
        #expect(router.respond(to: Self.request("POST", "/static")).status == .notFound)
        #expect(router.respond(to: Self.request("GET", "/other")).status == .notFound)
    }

    @Test func failuresAreCounted() {
        let router = Self.makeRouter()
        _ = router.respond(to: Self.request("GET", "/fail"))
        _ = router.respond(to: Self.request("GET", "/teapot"))
        #expect(router.handlerFailures == 1)
    }
}

@Suite struct HTTPMessageFormatTests {
    @Test func imfFixdate() {
        #expect(String(decoding: HTTPDate.imfFixdate(secondsSinceEpoch: 784_111_777), as: UTF8.self) == "Sun, 06 Nov 1994 08:49:37 GMT")
        #expect(String(decoding: HTTPDate.imfFixdate(secondsSinceEpoch: 0), as: UTF8.self) == "Thu, 01 Jan 1970 00:00:00 GMT")
        #expect(String(decoding: HTTPDate.imfFixdate(secondsSinceEpoch: 1_795_784_061), as: UTF8.self) == "Fri, 27 Nov 2026 12:54:21 GMT")
        #expect(String(decoding: HTTPDate.commonLogFormat(secondsSinceEpoch: 784_111_777), as: UTF8.self) == "06/Nov/1994:08:49:37 +0000")
        var cache = HTTPDate()
        let first = cache.text(nanosecondsSinceEpoch: 784_111_777_100_000_000)
        #expect(cache.text(nanosecondsSinceEpoch: 784_111_777_900_000_000) == first)
        #expect(cache.text(nanosecondsSinceEpoch: 784_111_778_000_000_000) != first)
    }

    @Test func theEncoderOwnsFramingAndRefusesHeaderInjection() {
        var response = HTTPResponse.text("hi")
        response.headers.add("Content-Length", "999")
        response.headers.add("Connection", "keep-alive")
        response.headers.add("X-Evil", "a\r\nSet-Cookie: b")
        let head = String(decoding: HTTPResponseEncoder.head(response, framing: .length(2), version: .http11, keepAlive: false,
                                                             date: Array("D".utf8), server: []), as: UTF8.self)
        #expect(head == "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nX-Evil: a  Set-Cookie: b\r\n"
            + "Date: D\r\nContent-Length: 2\r\nConnection: close\r\n\r\n")
    }

    @Test func chunkHeadersAreHex() {
        #expect(HTTPResponseEncoder.chunkHeader(0) == Array("0\r\n".utf8))
        #expect(HTTPResponseEncoder.chunkHeader(10) == Array("a\r\n".utf8))
        #expect(HTTPResponseEncoder.chunkHeader(0x1a3f) == Array("1a3f\r\n".utf8))
    }

    @Test func jsonEscapes() {
        var object = JSONObject()
        object.add("n", 42)
        object.add("s", "a\"b\\c\nd\u{1}é")
        object.add("t", true)
        var inner = JSONObject()
        inner.add("x", -1)
        inner.add("u", UInt64.max)
        inner.add("f", false)
        object.add("o", inner)
        object.add("v", JSONValue.array([.null, .string("q")]))
        #expect(object.text == #"{"n":42,"s":"a\"b\\c\nd\u0001é","t":true,"o":{"x":-1,"u":18446744073709551615,"f":false},"v":[null,"q"]}"#)
        #expect(JSONObject().text == "{}")
        let response = HTTPResponse.json(inner)
        guard case .bytes(let body) = response.body else { Issue.record("not bytes"); return }
        #expect(body == Array(#"{"x":-1,"u":18446744073709551615,"f":false}"#.utf8))
        #expect(response.headers.first("content-type") == Array("application/json".utf8))
    }

    @Test func serverArguments() {
        let configuration = HTTPServerConfiguration(arguments: ["web", "log=off", "header-timeout=2", "idle-timeout=5",
                                                                "max-connections=9", "ip=10.0.0.2/24", "bogus"])
        #expect(!configuration.accessLog)
        #expect(configuration.headerTimeout == 2_000_000_000)
        #expect(configuration.idleTimeout == 5_000_000_000)
        #expect(configuration.maximumConnections == 9)
        #expect(HTTPServerConfiguration(arguments: ["log=on"]).accessLog)
        #expect(!HTTPServerConfiguration(arguments: ["log=0"]).accessLog)
        #expect(HTTPServerConfiguration(arguments: ["log=", "log=OFF", "log=off "]).accessLog)
    }

    @Test func serverArgumentsThatAreNotNumbersKeepTheDefaults() {
        let defaults = HTTPServerConfiguration()
        for value in ["", "x", "-1", "+2", "2s", " 2", "0x10", "99999999999999999999"] {
            let configuration = HTTPServerConfiguration(arguments: ["header-timeout=\(value)", "handshake-timeout=\(value)",
                                                                    "idle-timeout=\(value)", "max-connections=\(value)"])
            #expect(configuration.headerTimeout == defaults.headerTimeout, "\(value)")
            #expect(configuration.handshakeTimeout == defaults.handshakeTimeout, "\(value)")
            #expect(configuration.idleTimeout == defaults.idleTimeout, "\(value)")
            #expect(configuration.maximumConnections == defaults.maximumConnections, "\(value)")
        }
        #expect(HTTPServerConfiguration(arguments: ["max-connections=0"]).maximumConnections == defaults.maximumConnections)
        // Seconds whose nanoseconds overflow UInt64 are refused, not a trap; the largest that fit are taken.
        #expect(HTTPServerConfiguration(arguments: ["idle-timeout=18446744074"]).idleTimeout == defaults.idleTimeout)
        #expect(HTTPServerConfiguration(arguments: ["idle-timeout=18446744073"]).idleTimeout == 18_446_744_073_000_000_000)
        #expect(HTTPServerConfiguration(arguments: ["handshake-timeout=0"]).handshakeTimeout == 0)
    }

    @Test func accessLogLinesAreCommonLogFormat() {
        let exchange = HTTPExchange(client: IPv4Address(10, 0, 0, 2), method: Array("GET".utf8), target: Array("/a\"b\u{1}".utf8), version: .http11,
                                    status: 200, bodyBytes: 12, receivedAt: 0, answeredAt: 0)
        let line = String(decoding: AccessLogLine.format(exchange, wallSeconds: 784_111_777), as: UTF8.self)
        #expect(line == "10.0.0.2 - - [06/Nov/1994:08:49:37 +0000] \"GET /a?b? HTTP/1.1\" 200 12\n")
    }
}
