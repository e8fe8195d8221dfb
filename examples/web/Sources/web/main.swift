// web: a small site and a JSON API in one unikernel. The files under assets/ are embedded
// into the image when it is built; routes below answer the rest.
//   swiftlet run examples/web -p 8080:80        then open http://127.0.0.1:8080/
// Guest arguments: log=off (no access log), header-timeout=SECONDS, idle-timeout=SECONDS,
// ip=ADDRESS/PREFIX gw=ADDRESS (instead of DHCP).
import Swiftlet

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
server!.run()
