// JSON through the router and a connection, byte for byte: `request.json(as:)` decoding a
// body, `.json(value)` answering, and the refusals: 400 with the byte offset for malformed
// JSON, 413 for a body over the JSON size limit (the connection stays usable), 422 for JSON of
// the wrong shape.
import Testing
@testable import Swiftlet

private struct Greeting: JSONCodable {
    var name: String
    var times: Int

    init(name: String, times: Int) { self.name = name; self.times = times }

    init(json: JSONValue) throws(JSONError) {
        name = try json.require("name")
        times = try json.optional("times") ?? 1
    }

    var json: JSONValue { ["name": name.json, "times": times.json] }
}

@Suite struct JSONRoutingTests {
    static func driver() -> ConnectionDriver {
        let router = Router()
        router.post("/greet") { request throws(HTTPError) in
            let greeting = try request.json(as: Greeting.self, limits: JSONLimits(maxDepth: 4, maxInputSize: 64))
            return .json(["hello": greeting.name.json, "repeat": greeting.times.json, "echo": greeting.json], status: .created)
        }
        router.post("/raw") { request throws(HTTPError) in
            let value = try request.json()
            return .json(["members": (value.members?.count ?? 0).json])
        }
        return ConnectionDriver(respond: { router.respond(to: $0) })
    }

    static func post(_ path: String, _ body: String) -> String {
        "POST \(path) HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
    }

    static func json(_ status: String, _ body: String) -> String {
        Wire.response("HTTP/1.1 \(status)", ["Content-Type: application/json", Wire.server, Wire.date,
                                             "Content-Length: \(body.utf8.count)"], body)
    }

    @Test func decodesTheBodyAndAnswersWithJSON() {
        let driver = Self.driver()
        driver.feed(Self.post("/greet", #"{"name": "Ada \u00e9", "times": 2}"#))
        #expect(driver.take() == Self.json("201 Created", #"{"hello":"Ada é","repeat":2,"echo":{"name":"Ada é","times":2}}"#))
        driver.feed(Self.post("/raw", #"{"a":1,"b":[],"a":2}"#))
        #expect(driver.take() == Self.json("200 OK", #"{"members":3}"#))
        #expect(!driver.connection.isFinished)
    }

    @Test func malformedJSONIs400WithTheByteOffset() {
        let driver = Self.driver()
        driver.feed(Self.post("/greet", #"{"name": "Ada" "times": 2}"#))
        #expect(driver.take() == Wire.text("400 Bad Request", "invalid JSON at byte 15: expected ',' or '}'\n"))
        driver.feed(Self.post("/raw", "[\"\u{1}\"]"))
        #expect(driver.take() == Wire.text("400 Bad Request", "invalid JSON at byte 2: a control character must be escaped in a string\n"))
        driver.feed(Self.post("/raw", ""))
        #expect(driver.take() == Wire.text("400 Bad Request", "invalid JSON at byte 0: expected a value\n"))
        driver.feed(Self.post("/greet", "[[[[[1]]]]]"))
        #expect(driver.take() == Wire.text("400 Bad Request", "invalid JSON at byte 4: nested deeper than the limit of 4\n"))
        #expect(!driver.connection.isFinished)  // the request was well framed: the connection goes on
    }

    @Test func aBodyOverTheJSONLimitIs413() {
        let driver = Self.driver()
        let body = #"{"name": ""# + String(repeating: "x", count: 60) + #""}"#
        driver.feed(Self.post("/greet", body))
        #expect(driver.take() == Wire.text("413 Content Too Large", "JSON body of 72 bytes is over the limit of 64\n"))
        driver.feed(Self.post("/greet", #"{"name":"ok"}"#))
        #expect(driver.take() == Self.json("201 Created", #"{"hello":"ok","repeat":1,"echo":{"name":"ok","times":1}}"#))
    }

    @Test func theWrongShapeIs422() {
        let driver = Self.driver()
        driver.feed(Self.post("/greet", #"{"times": 2}"#))
        #expect(driver.take() == Wire.text("422 Unprocessable Content", "unexpected JSON: name: missing member\n"))
        driver.feed(Self.post("/greet", #"{"name": "a", "times": "2"}"#))
        #expect(driver.take() == Wire.text("422 Unprocessable Content", "unexpected JSON: times: expected an integer, found a string\n"))
    }
}
