// A libFuzzer harness over the HTTP server's connection state machine: two
// HTTPServerConnections (sharing one HTTPBodyBudget) fed bytes, drained with a limited write
// allowance, timed out and closed by the peer, answering through a Router (literal, `:param`,
// `**`, a throwing handler, a streamed body, an echo) whose fallback is StaticFiles over a small
// in-memory asset table.
//
// Build (from the repository root; the guest sources compile on the host when SWIFTLET_GUEST
// is not defined):
//   swiftc -sanitize=fuzzer,address -parse-as-library -module-name HTTPFuzzer \
//     -I Sources/ABI/include Tests/Fuzz/HTTPFuzzer.swift $(find Sources/Guest -name '*.swift') \
//     -o /tmp/http-fuzzer
// Run: FUZZER=http Tests/Fuzz/run.sh [seconds]
//
// Input format: a sequence of records, each
//     control:u8  length:u8  bytes[length]
// where only a feed (operation 0) carries `bytes` (its length clipped to what remains of the
// input); for the other operations `length` is their argument and no bytes follow, so those
// records are always two bytes.
// control bits:
//   0-1  operation:
//          0  feed `bytes` to the connection (a connection that is finished must produce no
//             more output; it is then replaced by a fresh one, as a new client would connect;
//             one dropped after a send timeout is replaced before the feed)
//          1  drain the connection with a write allowance of length*8 bytes
//          2  advance the clock by length*250 ms, then checkTimeouts on both connections
//             (an `.abort` drops that connection)
//          3  peerClosed on the connection (the client's FIN)
//   2    which connection: 0 = A, 1 = B
// Every input ends with both connections drained completely (a bounded loop), then released.
//
// Invariants (a violation traps, so libFuzzer reports it):
// - a connection's output, when non-empty, starts with "HTTP/1.1 " or "HTTP/1.0 ", and its first
//   response head (up to CRLFCRLF) has a 3-digit status; every recorded exchange has a status in
//   100...599;
// - once a connection has sent everything (finished, or drained at the end), its output is a
//   sequence of responses: interim 1xx heads, then one response per recorded exchange, in order,
//   with that exchange's status and a body framed as its head says (Content-Length, chunked, or
//   until close for HTTP/1.0; none for HEAD, 204 and 304);
// - a finished connection produces no output for further feeds;
// - the shared body budget never goes over its limit, and is back to 0 once both connections
//   are released.
// Every input starts from fresh connections, a fresh budget and the same clock (deterministic).
// HTTP_FUZZER_TRACE=1 prints each connection's output after each input.

#if canImport(Glibc)
import Glibc
#endif

// MARK: The application

/// An asset table in memory, laid out as `swiftlet build` embeds it (see EmbeddedAssets.swift):
/// a 16-byte header then 96-byte entries sorted by path bytes. Never freed (lives for the process).
private func makeCatalog() -> AssetCatalog {
    let files: [(path: String, type: String, bytes: [UInt8])] = [
        ("/a.css", "text/css; charset=utf-8", Array("body { color: red }\n".utf8)),
        ("/docs/index.html", "text/html; charset=utf-8", Array("<h1>docs</h1>\n".utf8)),
        ("/empty.txt", "text/plain; charset=utf-8", []),
        ("/index.html", "text/html; charset=utf-8", Array("<!doctype html><title>swiftlet</title>\n".utf8)),
        ("/logo.bin", "application/octet-stream", (0 ..< 300).map { UInt8(truncatingIfNeeded: $0 &* 7) }),
    ]
    let table = UnsafeMutableRawPointer.allocate(byteCount: AssetCatalog.headerSize + AssetCatalog.entrySize * files.count,
                                                 alignment: 8)
    table.storeBytes(of: AssetCatalog.magic.littleEndian, toByteOffset: 0, as: UInt64.self)
    table.storeBytes(of: UInt64(files.count).littleEndian, toByteOffset: 8, as: UInt64.self)
    for (index, file) in files.enumerated() {
        let entry = table + AssetCatalog.headerSize + AssetCatalog.entrySize * index
        let etag = Array("\"etag-\(index)\"".utf8)
        let pieces = [Array(file.path.utf8), Array(file.type.utf8), etag, file.bytes]
        for (slot, piece) in pieces.enumerated() {
            let block = UnsafeMutableRawPointer.allocate(byteCount: max(1, piece.count), alignment: 16)
            piece.withUnsafeBytes { if let base = $0.baseAddress { block.copyMemory(from: base, byteCount: piece.count) } }
            entry.storeBytes(of: UInt64(UInt(bitPattern: block)).littleEndian, toByteOffset: slot * 16, as: UInt64.self)
            entry.storeBytes(of: UInt64(piece.count).littleEndian, toByteOffset: slot * 16 + 8, as: UInt64.self)
        }
        for byte in 0 ..< 32 { entry.storeBytes(of: UInt8(truncatingIfNeeded: byte &+ index), toByteOffset: 64 + byte, as: UInt8.self) }
    }
    return AssetCatalog(tableAddress: UnsafeRawPointer(table))
}

private func makeRouter() -> Router {
    let router = Router()
    router.get("/") { _ throws(HTTPError) in .text("home") }
    router.get("/users/:id") { request throws(HTTPError) in
        .text("user " + String(decoding: request.parameters.values.first ?? [], as: UTF8.self))
    }
    router.get("/files/**") { request throws(HTTPError) in
        .text("file " + String(decoding: request.parameters.catchAll ?? [], as: UTF8.self))
    }
    router.get("/fail") { _ throws(HTTPError) in throw HTTPError(.internalServerError) }
    router.get("/stream") { _ throws(HTTPError) in
        var pieces: [[UInt8]] = [Array("one ".utf8), [], Array("two ".utf8), Array(repeating: 0x2E, count: 200)]
        return HTTPResponse(contentType: "text/plain", body: .stream({
            pieces.isEmpty ? nil : pieces.removeFirst()
        }))
    }
    router.post("/echo") { request throws(HTTPError) in
        HTTPResponse(contentType: "application/octet-stream", body: .bytes(request.body))
    }
    router.put("/echo") { request throws(HTTPError) in .text("\(request.body.count)") }
    let files = StaticFiles(makeCatalog())
    router.fallback { files.respond(to: $0) }
    return router
}

nonisolated(unsafe) private let router = makeRouter()
private let trace = getenv("HTTP_FUZZER_TRACE") != nil

private let configuration: HTTPServerConfiguration = {
    var configuration = HTTPServerConfiguration()
    configuration.limits = HTTPLimits(maxRequestLineLength: 512, maxHeaderBytes: 2048, maxHeaderCount: 20, maxBodySize: 4096)
    configuration.outputHighWater = 4096
    configuration.accessLog = false
    return configuration
}()
private let budgetLimit = 6000
private let start: UInt64 = 1_000_000_000
private let date: [UInt8] = Array("Fri, 27 Nov 2026 13:14:21 GMT".utf8)
private let serverName: [UInt8] = Array("Swiftlet".utf8)

// MARK: Checking output

private func fail(_ message: String) -> Never {
    fatalError("HTTPFuzzer invariant: \(message)")
}

/// One client slot: its current connection and everything that connection has sent.
private final class Slot {
    let name: String
    var connection: HTTPServerConnection?
    /// The first bytes the current connection sent (enough for the first response head).
    var prefix: [UInt8] = []
    var sent = 0
    /// Everything the current connection sent, and the exchanges it recorded (in order).
    var all: [UInt8] = []
    var exchanges: [HTTPExchange] = []

    init(_ name: String) { self.name = name }

    func open(_ now: UInt64, _ budget: HTTPBodyBudget) {
        connection = HTTPServerConnection(configuration: configuration, now: now, bodyBudget: budget)
        prefix = []
        sent = 0
        all = []
        exchanges = []
    }

    func record(_ bytes: UnsafeRawBufferPointer) {
        sent += bytes.count
        if prefix.count < 1024 { prefix += bytes.prefix(1024 - prefix.count) }
        all += bytes
    }

    /// The whole output of a connection that has sent everything: a sequence of responses
    /// (interim 100s, then one per recorded exchange, in order), each framed as its head says.
    func checkAll() {
        var offset = 0
        var answered = 0
        while offset < all.count {
            let rest = Array(all[offset...])
            guard let end = headEnd(rest) else { fail("\(name): response \(answered + 1) has no complete head: \(text(rest.prefix(200)))") }
            let head = rest[..<end]
            guard head.count >= 13, head.starts(with: Array("HTTP/1.".utf8)), head[7] == 0x30 || head[7] == 0x31, head[8] == 0x20,
                  head[9...11].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), head[12] == 0x20 else {
                fail("\(name): response \(answered + 1) has a bad status line: \(text(head.prefix(60)))")
            }
            let status = Int(head[9] - 0x30) * 100 + Int(head[10] - 0x30) * 10 + Int(head[11] - 0x30)
            offset += end + 4
            if status < 200 { continue }
            guard answered < exchanges.count else {
                fail("\(name): more responses than recorded exchanges (\(exchanges.count)): \(text(head.prefix(60)))")
            }
            let exchange = exchanges[answered]
            answered += 1
            if exchange.status != status { fail("\(name): response \(answered) is \(status), recorded \(exchange.status)") }
            let lines = head.split(separator: 0x0A).map { $0.last == 0x0D ? $0.dropLast() : $0 }
            func field(_ name: StaticString) -> ArraySlice<UInt8>? {
                for line in lines.dropFirst() {
                    guard let colon = line.firstIndex(of: 0x3A), asciiEquals(line[..<colon], name) else { continue }
                    return line[(colon + 1)...].drop { $0 == 0x20 }
                }
                return nil
            }
            // HEAD is answered without its body, except when the 408/503 paths answer it.
            let isHead = asciiEquals(exchange.method, "HEAD") && status != 408 && status != 503
            if isHead || status == 204 || status == 304 { continue }
            if let length = field("Content-Length") {
                guard let count = Int(String(decoding: length, as: UTF8.self)), count >= 0, count <= all.count - offset else {
                    fail("\(name): response \(answered) Content-Length \(text(length)) but \(all.count - offset) bytes follow")
                }
                offset += count
            } else if let coding = field("Transfer-Encoding") {
                guard asciiEquals(coding, "chunked") else { fail("\(name): Transfer-Encoding \(text(coding))") }
                while true {
                    let chunk = Array(all[offset...])
                    guard let line = chunk.firstIndex(of: 0x0D), line > 0, line + 1 < chunk.count, chunk[line + 1] == 0x0A,
                          let size = Int(String(decoding: chunk[..<line], as: UTF8.self), radix: 16), size >= 0 else {
                        fail("\(name): response \(answered) has a bad chunk: \(text(chunk.prefix(40)))")
                    }
                    let dataEnd = line + 2 + size
                    guard dataEnd + 2 <= chunk.count, chunk[dataEnd] == 0x0D, chunk[dataEnd + 1] == 0x0A else {
                        fail("\(name): response \(answered) chunk of \(size) is not closed by CRLF")
                    }
                    offset += dataEnd + 2
                    if size == 0 { break }
                }
            } else {
                // Until close: the last response on this connection.
                guard head.starts(with: Array("HTTP/1.0".utf8)) else { fail("\(name): HTTP/1.1 response \(answered) has no framing") }
                offset = all.count
            }
        }
        if answered != exchanges.count {
            fail("\(name): \(exchanges.count) exchanges recorded but \(answered) responses sent")
        }
    }

    /// The output so far starts like a response; once the first head is complete, it has a
    /// three-digit status. `final`: nothing more will come, so the head must be complete.
    func check(final: Bool) {
        guard !prefix.isEmpty else { return }
        let start = Array("HTTP/1.x ".utf8)
        for (index, byte) in prefix.prefix(start.count).enumerated() where index != 7 && byte != start[index] {
            fail("\(name): output does not start with a status line: \(text(prefix.prefix(40)))")
        }
        if prefix.count >= 9 && prefix[7] != 0x31 && prefix[7] != 0x30 {
            fail("\(name): output starts with an unknown version: \(text(prefix.prefix(40)))")
        }
        guard let end = headEnd(prefix) else {
            if final || prefix.count >= 1024 { fail("\(name): first response head never ends: \(text(prefix.prefix(200)))") }
            return
        }
        let head = prefix[..<end]
        guard head.count >= 12, head[9...11].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              head.count == 12 || head[12] == 0x20 || head[12] == 0x0D else {
            fail("\(name): first response head has no 3-digit status: \(text(head.prefix(60)))")
        }
    }
}

private func headEnd(_ bytes: [UInt8]) -> Int? {
    guard bytes.count >= 4 else { return nil }
    for index in 0 ... bytes.count - 4
    where bytes[index] == 0x0D && bytes[index + 1] == 0x0A && bytes[index + 2] == 0x0D && bytes[index + 3] == 0x0A {
        return index
    }
    return nil
}

private func text<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
    String(decoding: bytes, as: UTF8.self).debugDescription
}

// MARK: Driving

private func turn(_ now: UInt64, _ slot: Slot) -> HTTPTurn {
    HTTPTurn(now: now, date: date, server: serverName, respond: { router.respond(to: $0) }, record: { exchange in
        if exchange.status < 100 || exchange.status > 599 { fail("exchange recorded with status \(exchange.status)") }
        slot.exchanges.append(exchange)
    })
}

/// Moves up to `allowance` queued bytes (nil: all) out of the slot's connection.
private func drain(_ slot: Slot, _ now: UInt64, allowance: Int?) {
    guard let connection = slot.connection else { return }
    var left = allowance ?? Int.max
    connection.drain(now: now) { bytes in
        let count = min(bytes.count, left)
        left -= count
        slot.record(UnsafeRawBufferPointer(rebasing: bytes[0 ..< count]))
        return count
    }
    slot.check(final: false)
}

@_cdecl("__asan_default_options")
public func asanDefaultOptions() -> UnsafePointer<CChar> {
    UnsafeRawPointer(("detect_leaks=0" as StaticString).utf8Start).assumingMemoryBound(to: CChar.self)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let budget = HTTPBodyBudget(limit: budgetLimit)
    var now = start
    let slots = [Slot("A"), Slot("B")]
    for slot in slots { slot.open(now, budget) }

    let input = UnsafeBufferPointer(start: data, count: size)
    var offset = 0
    while offset < input.count {
        let control = input[offset]
        offset += 1
        var length = 0
        if offset < input.count { length = Int(input[offset]); offset += 1 }
        // Only a feed carries bytes; for the other operations `length` is the argument.
        let carried = control & 0x03 == 0 ? min(length, input.count - offset) : 0
        let bytes = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(input)[offset ..< offset + carried])
        offset += carried
        let slot = slots[Int((control >> 2) & 1)]

        switch control & 0x03 {
        case 0:
            if slot.connection == nil { slot.open(now, budget) }
            let connection = slot.connection!
            let finished = connection.isFinished
            let before = slot.sent
            connection.receive(bytes, turn(now, slot))
            if finished {
                drain(slot, now, allowance: nil)
                if slot.sent != before || connection.hasPendingOutput {
                    fail("\(slot.name): a finished connection answered a feed: \(text(slot.prefix.prefix(200)))")
                }
                slot.check(final: true)
                slot.checkAll()
                slot.open(now, budget)
            }
        case 1:
            drain(slot, now, allowance: length * 8)
        case 2:
            now &+= UInt64(length) * 250_000_000
            for slot in slots {
                guard let connection = slot.connection else { continue }
                if connection.checkTimeouts(turn(now, slot)) == .abort {
                    slot.check(final: false)
                    slot.connection = nil
                    slot.prefix = []
                    slot.all = []
                    slot.exchanges = []
                }
            }
        default:
            slot.connection?.peerClosed()
        }
        if budget.used < 0 || budget.used > budget.limit { fail("body budget used \(budget.used) of \(budget.limit)") }
    }

    for slot in slots {
        var rounds = 0
        while let connection = slot.connection, connection.hasPendingOutput {
            rounds += 1
            if rounds > 1000 { fail("\(slot.name): output never drains") }
            drain(slot, now, allowance: nil)
        }
        slot.check(final: true)
        if slot.connection != nil { slot.checkAll() }
        if trace { print("\(slot.name): \(slot.sent) bytes, finished: \(slot.connection?.isFinished ?? true)\n\(String(decoding: slot.all, as: UTF8.self))") }
        slot.connection = nil
    }
    if budget.used != 0 { fail("body budget still holds \(budget.used) bytes after both connections were released") }
    return 0
}
