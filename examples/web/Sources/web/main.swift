// web: a small site and a JSON API in one unikernel, over HTTP on port 80 and HTTPS on 443.
// The files under assets/ are embedded into the image when it is built; routes below answer
// the rest. HTTPS uses the certificate and key in tls/ (embedded too, never served): make a
// development pair with `swiftlet cert examples/web`; without one, only HTTP is served.
//   swiftlet run examples/web -p 8080:80 -p 8443:443   then open http://127.0.0.1:8080/
//                                                      or https://localhost:8443/
// Guest arguments: log=off (no access log), header-timeout=SECONDS, idle-timeout=SECONDS,
// ip=ADDRESS/PREFIX gw=ADDRESS (instead of DHCP).
import Swiftlet
import SwiftletTLS

// Small per-connection buffers: pages are small, and a hundred clients fit in a few MiB. The
// receive buffer is the window each connection offers (8 KiB: any GET fits; bigger requests
// take more round trips). bench/WEB.md has the numbers behind the choice.
let network = Network.bringUp(sendBuffer: 16 * 1024, receiveBuffer: 8 * 1024)

let startedAt = SystemClock.uptimeNanoseconds
var server: HTTPServer?
var postsCounted = 0
var bytesCounted = 0

let router = Router()

router.get("/api/status") { _ in
    let memory = Memory.statistics
    let statistics = server?.statistics ?? HTTPServerStatistics()
    var status = JSONObject()
    status.add("uptime_ms", Int((SystemClock.uptimeNanoseconds - startedAt) / 1_000_000))
    status.add("requests", statistics.requests + 1)  // this one included
    status.add("connections", statistics.activeConnections)
    let tcp = network.tcpConnectionCounts
    status.add("tcp_active", tcp.active)
    status.add("tcp_time_wait", tcp.timeWait)
    status.add("memory_in_use", memory.bytesInUse)
    status.add("memory_peak", memory.peakBytesInUse)
    status.add("memory_free", memory.bytesFree)
    status.add("allocations", memory.allocationCount)  // bench/exits.py: heap allocations per request
    status.add("assets", AssetCatalog.embedded.count)
    return .json(status)
}

// Whatever is posted comes back, with its content type.
router.post("/api/echo") { request in
    HTTPResponse(contentType: request.headers["content-type"] ?? "application/octet-stream", body: .bytes(request.body))
}

// Counts what is posted: this body's bytes, words and lines, and the running totals.
router.post("/api/count") { request in
    postsCounted += 1
    bytesCounted += request.body.count
    var words = 0
    var lines = 0
    var inWord = false
    for byte in request.body {
        if byte == 10 { lines += 1 }
        let space = byte == 32 || byte == 9 || byte == 10 || byte == 13
        if !space && !inWord { words += 1 }
        inWord = !space
    }
    var counts = JSONObject()
    counts.add("bytes", request.body.count)
    counts.add("words", words)
    counts.add("lines", lines)
    counts.add("posts", postsCounted)
    counts.add("total_bytes", bytesCounted)
    return .json(counts)
}

// A typed JSON body: {"name": "Ada", "excited": true} → {"greeting": "Hello, Ada!"}. Malformed
// JSON gets 400 with the byte offset, a missing name 422, a body over 4 KiB 413.
struct GreetRequest: JSONDecodable {
    var name: String
    var excited: Bool

    init(json: JSONValue) throws(JSONError) {
        name = try json.require("name")
        excited = try json.optional("excited") ?? false
    }
}

router.post("/api/greet") { request throws(HTTPError) in
    let greet = try request.json(as: GreetRequest.self, limits: JSONLimits(maxDepth: 8, maxInputSize: 4096))
    return .json(["greeting": .string("Hello, \(greet.name)\(greet.excited ? "!" : ".")")])
}

router.get("/hello/:name") { request throws(HTTPError) in
    guard let name = request.parameters["name"], !name.isEmpty else { throw HTTPError(.badRequest, "name missing") }
    return .text("Hello, \(name)!\n")
}

router.serve(StaticFiles(.embedded))

do {
    server = try HTTPServer(stack: network, port: 80, router: router)
} catch {
    print("web: port 80 is taken")
    exit(1)
}
print("web: serving on \(network.address!) port 80 (\(AssetCatalog.embedded.count) assets embedded)")

var https: HTTPServer?
do throws(TLSError) {
    let tls = try TLSConfiguration.embedded()
    https = try? HTTPServer(stack: network, port: 443, router: router, tls: tls)
    print("web: HTTPS on port 443 (\(tls.keyDescription), \(tls.chainLength) certificate\(tls.chainLength == 1 ? "" : "s"))")
} catch {
    print("web: no HTTPS: \(error.message)")
}
HTTPServer.run([server!] + (https.map { [$0] } ?? []))
