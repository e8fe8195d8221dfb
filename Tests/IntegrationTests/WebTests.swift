// The web example (examples/web) end to end, on every runnable target (hvt, spt, and virtio
// under QEMU: see `webTargets` for what runs there without KVM): the image is booted
// inside a network namespace of its own at 10.199.0.2 (TapNamespace), and Linux clients in
// that namespace talk to it on port 80: curl, Python's http.client and raw sockets (through
// Tests/Tools/web_client.py, which prints JSON), and headless Chromium. The checks:
//   static files byte-exact with types and ETags; 304, ranges (206/416) and HEAD;
//   keep-alive and pipelining; the JSON API (status, echo, count, chunked bodies,
//   100-continue) and the error statuses (404, 405, 400 + close, 414); 1,000 requests over
//   100 concurrent connections; 500 clients opening 2,000 connections at once without a reset;
//   a slowloris cut off by header-timeout= while others are served; the page as a browser
//   renders it (DOM and screenshot); the access log and log=off.
// Every client call has a time limit and every guest a watchdog; namespaces are deleted.
import Foundation
import SwiftletBuild
import Testing

/// examples/web running on `target` attached to the tap of a fresh namespace.
final class WebGuest {
    let target: Target
    let namespace: TapNamespace
    let address = TapNamespace.guestAddress
    private let process = Process()
    private let exit: Harness.ExitWatch
    private let consoleURL: URL
    private let errorsURL: URL
    private let watchdog: DispatchWorkItem
    private var stopped = false

    static var tool: String {
        get throws { try SwiftletHome.locate().root.appendingPathComponent("Tests/Tools/web_client.py").path }
    }

    /// Boots the guest with `ip=` plus `arguments` and waits for its "serving" line. The
    /// watchdog kills it after `lifetime` seconds whatever the test is doing.
    /// `image`: another build of the example (TLSTests: one with a test certificate).
    init(_ target: Target, _ label: String, arguments: [String] = [], tenderArguments: [String] = [],
         wrapper: [String] = [], memory: String = "32M", lifetime: TimeInterval = 240, image: URL? = nil) throws {
        self.target = target
        let image = try image ?? (target == .virtio ? try VirtioHarness.image("web") : try Harness.example("web"))
        namespace = try TapNamespace("web-\(label)-\(target)")
        consoleURL = Harness.scratch.appendingPathComponent("web-\(label)-\(target).console")
        errorsURL = Harness.scratch.appendingPathComponent("web-\(label)-\(target).stderr")
        _ = FileManager.default.createFile(atPath: consoleURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errorsURL.path, contents: nil)
        // virtio: swiftlet runs QEMU (KVM where usable, else TCG), its virtio-net device on the tap.
        let runner = target == .virtio
            ? [Harness.productsFolder.appendingPathComponent("swiftlet-cli").path, "run", "--target", "virtio"]
            : [Harness.tender(target).path]
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        process.arguments = ["netns", "exec", namespace.name] + wrapper + runner + ["--mem", memory, "--net", "tap:tap0"]
            + tenderArguments + [image.path, "--", "ip=\(address)/24"] + arguments
        process.standardOutput = try FileHandle(forWritingTo: consoleURL)
        process.standardError = try FileHandle(forWritingTo: errorsURL)
        exit = Harness.ExitWatch(process)
        try process.run()
        exit.watch(process)
        // Signals go to the process group (Process makes the child a leader): QEMU too for virtio.
        let group = -process.processIdentifier
        watchdog = DispatchWorkItem { kill(group, SIGKILL) }
        DispatchQueue.global().asyncAfter(deadline: .now() + lifetime, execute: watchdog)

        let ready = "web: serving on \(address) port 80"
        let startup: TimeInterval = target == .virtio ? 60 : 15
        let deadline = Date().addingTimeInterval(startup)
        while !console.contains(ready) {
            guard !exit.hasEnded, Date() < deadline else {
                let output = stop()
                throw TapNamespace.SetupError(message: "web on \(target) did not start serving within \(Int(startup)) s: \(output)")
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    deinit { _ = stop() }

    /// The tender's process id (`ip netns exec` execs it), or the wrapper's.
    var pid: pid_t { process.processIdentifier }

    /// How the tender ended, if it did within `timeout` seconds.
    func ending(timeout: TimeInterval) -> Harness.Ending? { exit.wait(timeout: timeout) }

    /// Whether the tender still runs, or how it ended: for messages about a client that failed.
    var state: String {
        guard let ending = exit.wait(timeout: 0) else { return "is still running" }
        let how = ending.signal.map { "died by signal \($0)" } ?? "exited with status \(ending.status)"
        return how + ", saying on stderr: \(errors.suffix(1000))"
    }

    /// What the guest printed so far (its console: the tender's stdout).
    var console: String { (try? String(contentsOf: consoleURL, encoding: .utf8)) ?? "" }
    var errors: String { (try? String(contentsOf: errorsURL, encoding: .utf8)) ?? "" }

    /// Stops the guest (SIGTERM, then SIGKILL after 5 s); returns its console and stderr.
    @discardableResult
    func stop() -> String {
        if !stopped {
            stopped = true
            watchdog.cancel()
            if !exit.hasEnded {
                kill(-process.processIdentifier, SIGTERM)
                if exit.wait(timeout: 5) == nil {
                    kill(-process.processIdentifier, SIGKILL)
                    if exit.wait(timeout: Harness.exitAfterKillTimeout) == nil {
                        Issue.record("web on \(target): not seen exiting \(Harness.exitAfterKillTimeout) s after SIGKILL")
                    }
                }
            }
        }
        return "console:\n\(console)\nstderr:\n\(errors)"
    }

    /// Runs a web_client.py command inside the namespace and returns its JSON.
    func client(_ command: String, _ arguments: [String] = [], timeout: TimeInterval = 30) throws -> JSON {
        let outcome = try namespace.run(["python3", try Self.tool, address, command] + arguments, timeout: timeout)
        guard outcome.status == 0, let json = JSON(parsing: outcome.stdout) else {
            throw ClientError(message: "web_client.py \(command) \(arguments.joined(separator: " ").prefix(200)) "
                              + "exited \(outcome.status): \(outcome.stdout.prefix(2000)) \(outcome.stderr.prefix(2000)); "
                              + "the guest \(state)")
        }
        return json
    }

    /// `curl` inside the namespace: the body goes to a file, the response head to stdout.
    func curl(_ path: String, _ extra: [String] = []) throws -> (head: String, body: [UInt8], outcome: Harness.Outcome) {
        let bodyFile = Harness.scratch.appendingPathComponent("curl-\(target)-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: bodyFile) }
        let outcome = try namespace.run(["curl", "-sS", "--max-time", "10", "-D", "-", "-o", bodyFile.path]
                                        + extra + ["http://\(address)\(path)"], timeout: 20)
        let body = (try? Data(contentsOf: bodyFile)).map { [UInt8]($0) } ?? []
        return (outcome.stdout, body, outcome)
    }

    struct ClientError: Error, CustomStringConvertible {
        let message: String
        var description: String { message }
    }
}

/// Read-only access to what JSONSerialization parsed.
struct JSON: CustomStringConvertible {
    let value: Any?

    init(_ value: Any?) { self.value = value }

    init?(parsing text: String) {
        guard let data = text.data(using: .utf8),
              let object = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) else { return nil }
        value = object
    }

    subscript(key: String) -> JSON { JSON((value as? [String: Any])?[key]) }
    subscript(index: Int) -> JSON {
        guard let array = value as? [Any], array.indices.contains(index) else { return JSON(nil) }
        return JSON(array[index])
    }

    var isNull: Bool { value == nil || value is NSNull }
    var int: Int? { (value as? NSNumber)?.intValue ?? (value as? Int) }
    var double: Double? { (value as? NSNumber)?.doubleValue ?? (value as? Double) }
    var bool: Bool? { value as? Bool }
    var string: String? { value as? String }
    var array: [JSON] { (value as? [Any])?.map { JSON($0) } ?? [] }
    /// A base64 field (bodies) decoded.
    var bytes: [UInt8]? { string.flatMap { Data(base64Encoded: $0) }.map { [UInt8]($0) } }

    /// A header from a response's `headers` list of [name, value] pairs (case-insensitive).
    func header(_ name: String) -> String? {
        for pair in self["headers"].array where pair[0].string?.lowercased() == name.lowercased() { return pair[1].string }
        return nil
    }

    var description: String {
        guard let value, JSONSerialization.isValidJSONObject(value),
              let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys]) else { return "\(value ?? "nil")" }
        return String(decoding: data.prefix(3000), as: UTF8.self)
    }
}

/// hvt and spt where they run, and virtio (QEMU microvm through `swiftlet run --target virtio
/// --net tap:tap0`) when qemu-system-x86_64 is installed (`virtioNeedsQEMU` says so loudly when
/// it is not). Under KVM the whole suite runs on virtio too (about two minutes more). Under TCG
/// (no usable /dev/kvm) only the representative part does, the tests on `webTargets` — curl,
/// Python's http.client and the Chromium render — since every instruction is emulated.
let webTargets: [Target] = runnableTargets + (VirtioHarness.qemuAvailable ? [.virtio] : [])
/// The load, API and edge-case tests: virtio only where QEMU can use KVM.
let webTargetsUnderKVM: [Target] = runnableTargets + (VirtioHarness.qemuAvailable && Harness.kvmAvailable ? [.virtio] : [])

@Suite(.enabled(if: TapNamespace.available, "skipped: needs root and iproute2 to create a network namespace with a tap"),
       .serialized)
struct WebTests {
    @Test(.enabled(if: !VirtioHarness.qemuAvailable))
    func virtioNeedsQEMU() {
        let message = "qemu-system-x86_64 is not installed (apt-get install -y qemu-system-x86): the web suite did not run on virtio"
        if ProcessInfo.processInfo.environment["CI"] == "true" {
            Issue.record(Comment(rawValue: message))
        } else {
            withKnownIssue(Comment(rawValue: message)) { Issue.record(Comment(rawValue: message)) }
        }
    }

    struct AssetFile {
        var path: String
        var bytes: [UInt8]
        /// The beginning of the Content-Type the server must send.
        var type: String
    }

    static let assetsFolder: URL = {
        let root = (try? SwiftletHome.locate().root) ?? URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        return root.appendingPathComponent("examples/web/assets")
    }()

    /// The files of examples/web/assets, as on disk.
    static func assets() throws -> [AssetFile] {
        let types = ["html": "text/html", "css": "text/css", "js": "text/javascript", "png": "image/png"]
        let names = try FileManager.default.contentsOfDirectory(atPath: assetsFolder.path).filter { !$0.hasPrefix(".") }.sorted()
        return try names.map { name in
            let bytes = [UInt8](try Data(contentsOf: assetsFolder.appendingPathComponent(name)))
            let type = try #require(types[(name as NSString).pathExtension], "no expected type for \(name)")
            return AssetFile(path: "/\(name)", bytes: bytes, type: type)
        }
    }

    static func headerValue(_ head: String, _ name: String) -> String? {
        for line in head.components(separatedBy: "\r\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == name.lowercased() {
                return parts[1].trimmingCharacters(in: .whitespaces)
            }
        }
        return nil
    }

    static func isQuotedETag(_ value: String?) -> Bool {
        guard let value, value.count > 2, value.hasPrefix("\""), value.hasSuffix("\"") else { return false }
        return !value.dropFirst().dropLast().contains("\"")
    }

    static func base64(_ text: String) -> String { Data(text.utf8).base64EncodedString() }

    // MARK: 1. Static files

    @Test(arguments: webTargets)
    func everyAssetIsServedByteExactWithItsTypeAndETag(target: Target) throws {
        let guest = try WebGuest(target, "files")
        let files = try Self.assets()
        #expect(files.count == 4, "examples/web/assets changed: \(files.map(\.path))")

        // The Harness builds through ImageBuilder like `swiftlet build`: assets/ must be embedded.
        let status = try guest.client("get", ["/api/status"])
        let statusJSON = try #require(JSON(parsing: String(decoding: status["body"].bytes ?? [], as: UTF8.self)))
        #expect(statusJSON["assets"].int == files.count, "the image should embed every file of assets/: \(statusJSON)")

        let index = try #require(files.first { $0.path == "/index.html" })
        var etags: [String: String] = [:]
        for (path, file) in files.map({ ($0.path, $0) }) + [("/", index)] {
            // curl
            let (head, body, outcome) = try guest.curl(path)
            #expect(outcome.status == 0, "curl \(path): \(outcome.stderr)")
            #expect(head.hasPrefix("HTTP/1.1 200 OK\r\n"), "curl \(path): \(head)")
            #expect(body == file.bytes, "curl \(path): \(body.count) bytes, differing from \(file.path) (\(file.bytes.count) bytes)")
            #expect(Self.headerValue(head, "Content-Type")?.hasPrefix(file.type) == true, "curl \(path): \(head)")
            #expect(Self.headerValue(head, "Content-Length") == "\(file.bytes.count)", "curl \(path): \(head)")
            let curlETag = Self.headerValue(head, "ETag")
            #expect(Self.isQuotedETag(curlETag), "curl \(path): ETag \(curlETag ?? "missing")")

            // Python http.client
            let response = try guest.client("get", [path])
            #expect(response["status"].int == 200, "python \(path): \(response)")
            #expect(response["body"].bytes == file.bytes, "python \(path): \(response["length"]) bytes, differing from \(file.path)")
            #expect(response.header("Content-Type")?.hasPrefix(file.type) == true, "python \(path): \(response)")
            #expect(response.header("ETag") == curlETag, "python \(path): the ETag should be the one curl got")
            etags[file.path] = curlETag
        }
        #expect(Set(etags.values).count == files.count, "each file should have its own ETag: \(etags)")
    }

    // MARK: 2. Conditional requests, ranges and HEAD

    @Test(arguments: webTargetsUnderKVM)
    func conditionalRangeAndHeadRequests(target: Target) throws {
        let guest = try WebGuest(target, "ranges")
        let logo = try #require(try Self.assets().first(where: { $0.path == "/logo.png" }))
        let size = logo.bytes.count
        #expect(size > 100)
        let etag = try #require(try guest.client("get", ["/logo.png"]).header("ETag"))

        let notModified = try guest.client("get", ["/logo.png", "-H", "If-None-Match: \(etag)"])
        #expect(notModified["status"].int == 304, "\(notModified)")
        #expect(notModified["length"].int == 0)
        #expect(notModified.header("ETag") == etag)
        let otherTag = try guest.client("get", ["/logo.png", "-H", "If-None-Match: \"not-this-one\""])
        #expect(otherTag["status"].int == 200 && otherTag["body"].bytes == logo.bytes, "\(otherTag)")

        let first = try guest.client("get", ["/logo.png", "-H", "Range: bytes=0-99"])
        #expect(first["status"].int == 206, "\(first)")
        #expect(first.header("Content-Range") == "bytes 0-99/\(size)", "\(first)")
        #expect(first.header("Content-Length") == "100")
        #expect(first["body"].bytes == Array(logo.bytes[0..<100]))

        let suffix = try guest.client("get", ["/logo.png", "-H", "Range: bytes=-10"])
        #expect(suffix["status"].int == 206, "\(suffix)")
        #expect(suffix.header("Content-Range") == "bytes \(size - 10)-\(size - 1)/\(size)", "\(suffix)")
        #expect(suffix["body"].bytes == Array(logo.bytes[(size - 10)...]))

        let middle = try guest.client("get", ["/logo.png", "-H", "Range: bytes=1000-"])
        #expect(middle["status"].int == 206 && middle["body"].bytes == Array(logo.bytes[1000...]), "\(middle)")

        let unsatisfiable = try guest.client("get", ["/logo.png", "-H", "Range: bytes=\(size)-"])
        #expect(unsatisfiable["status"].int == 416, "\(unsatisfiable)")
        #expect(unsatisfiable.header("Content-Range") == "bytes */\(size)", "\(unsatisfiable)")

        let head = try guest.client("get", ["/logo.png", "-X", "HEAD"])
        #expect(head["status"].int == 200, "\(head)")
        #expect(head.header("Content-Length") == "\(size)", "\(head)")
        #expect(head.header("Content-Type") == "image/png")
        #expect(head["length"].int == 0)

        // On the wire (the server closes after each): nothing may follow the head of a HEAD
        // response or of a 304.
        for (request, status) in [("HEAD /logo.png HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n", "200 OK"),
                                  ("HEAD /api/status HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n", "200 OK"),
                                  ("GET /logo.png HTTP/1.1\r\nHost: web\r\nIf-None-Match: \(etag)\r\nConnection: close\r\n\r\n",
                                   "304 Not Modified")] {
            let raw = try guest.client("raw", [Self.base64(request)])
            let text = raw["text"].string ?? ""
            #expect(text.hasPrefix("HTTP/1.1 \(status)\r\n"), "\(request): \(text)")
            #expect(text.hasSuffix("\r\n\r\n") && text.components(separatedBy: "\r\n\r\n").count == 2,
                    "\(request): bytes after the head: \(text)")
            #expect(raw["ended"].string == "closed", "\(request): \(raw)")
        }
    }

    // MARK: 3. Keep-alive and pipelining

    @Test(arguments: webTargetsUnderKVM)
    func keepAliveReusesOneConnectionAndPipelinedResponsesComeInOrder(target: Target) throws {
        let guest = try WebGuest(target, "keepalive")
        let files = Dictionary(uniqueKeysWithValues: try Self.assets().map { ($0.path, $0.bytes) })
        let paths = ["/", "/style.css", "/api/status", "/app.js", "/logo.png", "/hello/again", "/index.html"]
        let kept = try guest.client("keepalive", paths)
        let responses = kept["responses"].array
        #expect(responses.count == paths.count)
        for (path, response) in zip(paths, responses) {
            #expect(response["status"].int == 200, "\(path): \(response)")
            #expect(response["socket_open"].bool == true && response["will_close"].bool == false,
                    "\(path): the server should keep the connection open: \(response)")
            if let bytes = files[path == "/" ? "/index.html" : path] { #expect(response["length"].int == bytes.count, "\(path)") }
        }
        #expect(Set(responses.compactMap { $0["local_port"].int }).count == 1, "one TCP connection for all: \(kept)")
        #expect(Set(responses.compactMap { $0["socket_id"].int }).count == 1, "http.client reconnected: \(kept)")

        let pipelined = try guest.client("pipeline", ["/style.css", "/api/status", "/app.js"])
        let answers = pipelined["responses"].array
        #expect(answers.count == 3, "\(pipelined)")
        #expect(answers.map { $0["status"].int } == [200, 200, 200], "\(pipelined)")
        #expect(answers[0]["body"].bytes == files["/style.css"], "first response should be style.css")
        #expect(answers[1].header("Content-Type") == "application/json")
        #expect(String(decoding: answers[1]["body"].bytes ?? [], as: UTF8.self).contains("\"uptime_ms\":"), "second: /api/status")
        #expect(answers[2]["body"].bytes == files["/app.js"], "third response should be app.js")
        #expect(pipelined["after"].string == "open" && pipelined["extra"].string == "",
                "nothing after the third response, connection still open: \(pipelined)")
    }

    // MARK: 4. The API and the error statuses

    @Test(arguments: webTargetsUnderKVM)
    func apiRoutesBodiesAndErrorStatuses(target: Target) throws {
        let guest = try WebGuest(target, "api")
        func body(_ response: JSON) -> JSON { JSON(parsing: String(decoding: response["body"].bytes ?? [], as: UTF8.self)) ?? JSON(nil) }

        // /api/status: numbers, and the request count grows.
        let first = try guest.client("get", ["/api/status"])
        let second = try guest.client("get", ["/api/status"])
        #expect(first["status"].int == 200 && first.header("Content-Type") == "application/json", "\(first)")
        for key in ["uptime_ms", "requests", "memory_in_use"] {
            #expect(body(first)[key].double != nil, "\(key) should be a number: \(body(first))")
        }
        let before = try #require(body(first)["requests"].int), after = try #require(body(second)["requests"].int)
        #expect(after > before, "requests should grow: \(before) then \(after)")
        #expect((body(first)["memory_in_use"].int ?? 0) > 0)

        // /api/echo: 100 KB of random bytes back, byte-exact, with the posted type.
        let echo = try guest.client("echo", ["102400"], timeout: 60)
        #expect(echo["status"].int == 200 && echo["equal"].bool == true && echo["received"].int == 102_400, "\(echo)")
        #expect(echo.header("Content-Type") == "application/x-test", "\(echo)")

        // /api/count: words, lines, bytes.
        let text = "the quick brown fox\njumps over\tthe lazy dog\n"
        let counted = body(try guest.client("count", [text]))
        #expect(counted["words"].int == 9 && counted["lines"].int == 2 && counted["bytes"].int == text.utf8.count, "\(counted)")

        // A chunked request body, to /api/count and (binary, 12,770 bytes) to /api/echo.
        let chunked = try guest.client("chunked")
        let chunkedCount = chunked["/api/count"]
        #expect(chunkedCount["status"].int == 200, "\(chunked)")
        #expect(body(chunkedCount)["bytes"].int == chunkedCount["sent_length"].int && body(chunkedCount)["words"].int == 5
                && body(chunkedCount)["lines"].int == 1,
                "\(body(chunkedCount))")
        let chunkedEcho = chunked["/api/echo"]
        #expect(chunkedEcho["status"].int == 200 && chunkedEcho["sha256"].string == chunkedEcho["sent_sha256"].string,
                "chunked echo differs: \(chunkedEcho["length"]) of \(chunkedEcho["sent_length"]) bytes")

        // Expect: 100-continue: the interim response comes before the body is sent.
        let continued = try guest.client("continue")
        #expect(continued["interim"]["status_line"].string == "HTTP/1.1 100 Continue", "\(continued)")
        #expect(continued["final"]["status"].int == 200, "\(continued)")
        #expect(continued["final"]["body"].bytes == Array((continued["sent"].string ?? "-").utf8), "\(continued)")

        // Misses: 404, and 405 with Allow.
        let missing = try guest.client("get", ["/no/such/page"])
        #expect(missing["status"].int == 404, "\(missing)")
        let delete = try guest.client("get", ["/api/status", "-X", "DELETE"])
        #expect(delete["status"].int == 405, "\(delete)")
        #expect(delete.header("Allow")?.contains("GET") == true, "\(delete)")

        // Malformed requests get 400 and the connection is closed; an 8 KB+ request line 414,
        // a 16 KB+ header section 431, at once (not 408 at the 10 s header timeout), even
        // though the guest's 8 KiB receive window makes the client send them in several flights.
        let field = { (count: Int) in "GET / HTTP/1.1\r\nHost: web\r\nX: \(String(repeating: "b", count: count))\r\n\r\n" }
        for (request, status) in [
            ("GET / HTTP/1.1\nHost: web\n\n", "400 Bad Request"),                                   // bare LF
            ("POST /api/echo HTTP/1.1\r\nHost: web\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", "400 Bad Request"),
            ("GET /\(String(repeating: "a", count: 8300)) HTTP/1.1\r\nHost: web\r\n\r\n", "414 URI Too Long"),
            ("GET /\(String(repeating: "a", count: 9000)) HTTP/1.1\r\nHost: web\r\n\r\n", "414 URI Too Long"),
            (field(16 * 1024), "431 Request Header Fields Too Large"),
            (field(33 * 1024), "431 Request Header Fields Too Large"),
        ] {
            let started = Date()
            let raw = try guest.client("raw", [Self.base64(request)])
            let seconds = Date().timeIntervalSince(started)
            // Before the 10 s header timeout, with room for the client's start on a loaded machine.
            #expect(seconds < 9, "\(request.prefix(40).debugDescription): answered after \(seconds) s")
            let label = request.prefix(60).debugDescription
            #expect((raw["text"].string ?? "").hasPrefix("HTTP/1.1 \(status)\r\n"), "\(label): \(raw)")
            #expect(raw["text"].string?.contains("\r\nConnection: close\r\n") == true, "\(label): \(raw)")
            #expect(raw["ended"].string == "closed", "\(label): the server should close: \(raw)")
        }
    }

    /// POST /api/greet decodes a JSONDecodable struct from the body: 200 with the greeting, 400
    /// naming the bad byte, 422 naming the missing member, 413 over the route's 4 KiB limit.
    @Test(arguments: webTargetsUnderKVM)
    func typedJSONBodiesAndTheirErrorStatuses(target: Target) throws {
        let guest = try WebGuest(target, "greet")
        func post(_ body: String) throws -> (status: Int?, body: String) {
            let file = Harness.scratch.appendingPathComponent("greet-\(target)-\(UUID().uuidString).json")
            defer { try? FileManager.default.removeItem(at: file) }
            try body.write(to: file, atomically: true, encoding: .utf8)
            let (head, answer, outcome) = try guest.curl("/api/greet", ["-H", "Content-Type: application/json",
                                                                        "--data-binary", "@\(file.path)"])
            #expect(outcome.status == 0, "curl: \(outcome.stderr); the guest \(guest.state)")
            let status = head.split(separator: " ").dropFirst().first.flatMap { Int($0) }
            return (status, String(decoding: answer, as: UTF8.self))
        }
        let greeted = try post(#"{"name": "Ada", "excited": true}"#)
        #expect(greeted.status == 200 && JSON(parsing: greeted.body)?["greeting"].string == "Hello, Ada!", "\(greeted)")
        let calm = try post(#"{"excited": false, "name": "Grace \u00e9"}"#)
        #expect(calm.status == 200 && JSON(parsing: calm.body)?["greeting"].string == "Hello, Grace é.", "\(calm)")
        // Byte 15 (counted from 0) is the second key's quote, where a ',' or '}' must come.
        let malformed = try post(#"{"name": "Ada" "excited": true}"#)
        #expect(malformed.status == 400 && malformed.body.contains("invalid JSON at byte 15"), "\(malformed)")
        let unnamed = try post(#"{"excited": true}"#)
        #expect(unnamed.status == 422 && unnamed.body.contains("name"), "\(unnamed)")
        let wrongType = try post(#"{"name": 7}"#)
        #expect(wrongType.status == 422 && wrongType.body.contains("name"), "\(wrongType)")
        let oversized = try post(#"{"name": ""# + String(repeating: "a", count: 5000) + #""}"#)
        #expect(oversized.status == 413, "\(oversized.status.map(String.init) ?? "no status") \(oversized.body.prefix(200))")
        let afterwards = try post(#"{"name": "Linus"}"#)
        #expect(afterwards.status == 200 && JSON(parsing: afterwards.body)?["greeting"].string == "Hello, Linus.", "\(afterwards)")
    }

    // MARK: 5. Load

    @Test(arguments: webTargetsUnderKVM)
    func thousandRequestsOverHundredConcurrentKeepAliveConnections(target: Target) throws {
        let guest = try WebGuest(target, "load")
        let started = Date()
        let load = try guest.client("load", ["100", "10", Self.assetsFolder.path], timeout: 90)
        let seconds = Date().timeIntervalSince(started)
        #expect(load["ok"].int == 1000, "\(load)")
        #expect(load["failed"].int == 0 && load["hung"].int == 0, "\(load)")
        #expect(load["reconnects"].int == 0, "every client should keep its one connection: \(load)")
        #expect(seconds < 60, "1,000 requests took \(seconds) s")
        print("web load on \(target): 1,000 requests over 100 connections in \(String(format: "%.2f", load["elapsed"].double ?? -1)) s")
        let status = try guest.client("get", ["/api/status"])
        #expect(status["status"].int == 200, "the server should still answer after the load: \(status)")
    }

    /// Every connection the server closes first sits in TIME-WAIT for a minute; 1,500 of them
    /// in a row (more than the connection cap once was) must all be served.
    @Test(arguments: webTargetsUnderKVM)
    func connectionsClosedByTheServerDoNotRunOutTheConnectionTable(target: Target) throws {
        let guest = try WebGuest(target, "churn")
        let churn = try guest.client("churn", ["1500", Self.assetsFolder.appendingPathComponent("index.html").path], timeout: 90)
        #expect(churn["ok"].int == 1500, "\(churn)")
        print("web churn on \(target): 1,500 connections closed by the server in \(String(format: "%.2f", churn["elapsed"].double ?? -1)) s")
        let status = try guest.client("get", ["/api/status"])
        #expect(status["status"].int == 200, "\(status)")
    }

    /// 500 clients at once, each making 4 requests on a new connection (`Connection: close`):
    /// far more handshakes at a time than a listen queue held once. Listen-queue overflow must
    /// make a client wait (a dropped SYN or ACK is retransmitted), never reset it: no errors.
    @Test(arguments: webTargetsUnderKVM)
    func aBurstOfFiveHundredNewConnectionsIsServedWithoutAReset(target: Target) throws {
        let guest = try WebGuest(target, "burst")
        let index = Self.assetsFolder.appendingPathComponent("index.html").path
        let burst = try guest.client("burst", ["500", "4", index], timeout: 150)
        #expect(burst["ok"].int == 2000 && burst["error_count"].int == 0, "\(burst)")
        print("web burst on \(target): 500 clients × 4 new connections in \(String(format: "%.2f", burst["elapsed"].double ?? -1)) s, "
              + "slowest \(String(format: "%.3f", burst["slowest"].double ?? -1)) s, \(burst["over_one_second"].int ?? -1) over 1 s")
        let status = try guest.client("get", ["/api/status"])
        #expect(status["status"].int == 200, "\(status)")
    }

    /// Past `max-connections` a client is told 503 and closed; those already in keep being served.
    @Test(arguments: webTargetsUnderKVM)
    func connectionsBeyondTheCapGet503(target: Target) throws {
        let guest = try WebGuest(target, "cap", arguments: ["max-connections=3"])
        let cap = try guest.client("cap", ["3"], timeout: 30)
        let extra = cap["extra"].string ?? ""
        #expect(extra.hasPrefix("HTTP/1.1 503 Service Unavailable\r\n"), "\(cap)")
        #expect(extra.contains("Connection: close"), "\(cap)")
        #expect(cap["held_statuses"].array.compactMap(\.int) == [200, 200, 200], "\(cap)")
    }

    /// Sixteen 1 MiB uploads at once into an 8 MiB guest: bodies are held whole until their
    /// handler runs, so without a shared budget this would exhaust the heap. Each upload is
    /// echoed intact or refused with 503; the guest stays up.
    @Test(arguments: webTargetsUnderKVM)
    func simultaneousLargeUploadsCannotExhaustAnEightMebibyteGuest(target: Target) throws {
        let guest = try WebGuest(target, "uploads", memory: "8M")
        let uploads = try guest.client("uploads", ["16", "1048576"], timeout: 120)
        let intact = uploads["intact"].int ?? 0
        let refused = uploads["refused"].int ?? 0
        #expect(intact + refused == 16, "every upload is either echoed intact or refused: \(uploads)")
        #expect(intact >= 1, "\(uploads)")
        let status = try guest.client("get", ["/api/status"])
        #expect(status["status"].int == 200, "the guest must still be serving: \(status)")
    }

    // MARK: 6. Slowloris

    @Test(arguments: webTargetsUnderKVM)
    func slowHeadersAreCutOffAfterTheHeaderTimeoutWhileOthersAreServed(target: Target) throws {
        let guest = try WebGuest(target, "slowloris", arguments: ["header-timeout=2"])
        let result = try guest.client("slowloris", ["0.5"], timeout: 40)
        let closedAfter = try #require(result["closed_after"].double)
        #expect(["closed", "reset"].contains(result["ended"].string ?? ""), "the server should close the slow connection: \(result)")
        #expect(closedAfter >= 1.9 && closedAfter <= 4.0, "closed after \(closedAfter) s; header-timeout is 2 s: \(result)")
        #expect((result["sent"].int ?? 0) < (result["head_length"].int ?? 0), "the head must not have completed: \(result)")
        let received = result["received"].string ?? ""
        // The server answers 408 before it closes (a bare close would also stop the attack).
        #expect(received.hasPrefix("HTTP/1.1 408 Request Timeout\r\n"), "a 408 is expected before the close: \(result)")

        let normal = result["normal"]
        #expect((normal["ok"].int ?? 0) >= 5 && normal["failed"].int == 0, "other clients should be served meanwhile: \(normal)")
        let slowest = normal["latencies"].array.compactMap(\.double).max() ?? 0
        #expect(slowest < 1.0, "a normal request took \(slowest) s during the slowloris")
        #expect(guest.console.contains("\" 408 "), "the 408 should be in the access log: \(guest.console.suffix(2000))")
    }

    // MARK: 7. A browser

    static let chromium: String? = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    @Test(arguments: webTargets)
    func headlessChromiumRendersThePageWithLiveStatus(target: Target) throws {
        guard let chromium = Self.chromium else {
            Harness.toolIsMissing("chromium is not installed (apt-get install -y chromium): the browser test could not run")
            return
        }
        let guest = try WebGuest(target, "browser")
        let home = Harness.scratch.appendingPathComponent("chromium-\(target)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: home) }
        func browse(_ extra: [String]) throws -> Harness.Outcome {
            try guest.namespace.run(["env", "HOME=\(home.path)", chromium, "--headless", "--no-sandbox", "--disable-gpu",
                                     "--disable-dev-shm-usage", "--no-first-run", "--user-data-dir=\(home.path)/profile",
                                     "--virtual-time-budget=5000"] + extra + ["http://\(guest.address)/"], timeout: 90)
        }

        let dump = try browse(["--dump-dom"])
        let dom = dump.stdout
        #expect(dump.status == 0, "chromium --dump-dom: \(dump.stderr.suffix(3000))")
        let title = dom.firstMatch(of: /<title>([^<]*)<\/title>/).map { String($0.1) }
        #expect(title?.contains("Swiftlet") == true, "title: \(title ?? "none")\n\(dom.prefix(3000))")
        let section = dom.firstMatch(of: /<section[^>]*id="status"[^>]*>/).map { String($0.0) }
        #expect(section?.contains("data-state=\"live\"") == true, "app.js should have filled the status: \(section ?? dom)")
        let requests = dom.firstMatch(of: /<dd id="requests">([^<]*)<\/dd>/).map { String($0.1) }
        #expect(requests.flatMap { Int($0) }.map { $0 > 0 } == true, "#requests should hold a number: \(requests ?? "missing")")
        #expect(guest.console.contains("\"GET /app.js HTTP/1.1\" 200"), "the browser should have fetched app.js")
        #expect(guest.console.contains("\"GET /api/status HTTP/1.1\" 200"), "app.js should have fetched /api/status")

        let screenshot = try SwiftletHome.locate().root.appendingPathComponent(".build/web-screenshot-\(target).png")
        try FileManager.default.createDirectory(at: screenshot.deletingLastPathComponent(), withIntermediateDirectories: true)
        try? FileManager.default.removeItem(at: screenshot)
        let shot = try browse(["--hide-scrollbars", "--window-size=1024,768", "--screenshot=\(screenshot.path)"])
        #expect(shot.status == 0, "chromium --screenshot: \(shot.stderr.suffix(3000))")
        print("web screenshot on \(target): \(screenshot.path)")
        // Decode the top rows: the right size, many colours, the header in the site's accent
        // colour (so style.css applied) and the page's light background below it.
        let png = try Harness.run(URL(fileURLWithPath: "/usr/bin/env"), ["python3", try WebGuest.tool, "-", "png", screenshot.path, "200"])
        let info = try #require(JSON(parsing: png.stdout), "png: \(png.stdout) \(png.stderr)")
        #expect(info["png"].bool == true && info["width"].int == 1024 && info["height"].int == 768, "\(info)")
        #expect((info["bytes"].int ?? 0) > 10_000, "a 1024×768 page should not compress to \(info["bytes"]) bytes")
        #expect((info["distinct_colors"].int ?? 0) > 20, "\(info)")
        let accent = info["pixels"]["5,5"].array.compactMap(\.int)
        #expect(accent.count == 3 && zip(accent, [0xF0, 0x51, 0x38]).allSatisfy { abs($0 - $1) <= 12 },
                "the header should be the accent colour #f05138: \(accent)")
        let paper = info["pixels"]["1019,199"].array.compactMap(\.int)
        #expect(paper.count == 3 && paper.allSatisfy { $0 >= 235 }, "the page background should be light: \(paper)")
    }

    // MARK: 8. Access log

    static var commonLogLine: Regex<(Substring, Substring, Substring, Substring, Substring)> { /^10\.199\.0\.1 - - \[\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000\] "([A-Z]+) (\S+) HTTP\/1\.[01]" (\d{3}) (\d+|-)$/ }

    @Test(arguments: webTargetsUnderKVM)
    func accessLogInCommonLogFormatUnlessLogIsOff(target: Target) throws {
        let index = try #require(try Self.assets().first(where: { $0.path == "/index.html" }))
        for logging in [true, false] {
            let guest = try WebGuest(target, logging ? "log" : "nolog", arguments: logging ? [] : ["log=off"])
            _ = try guest.curl("/")
            _ = try guest.curl("/nothing-here")
            _ = try guest.client("count", ["one two"])
            Thread.sleep(forTimeInterval: 0.2)
            let output = guest.stop()
            let lines = guest.console.split(separator: "\n").map(String.init)
            let logLines = lines.filter { $0.wholeMatch(of: Self.commonLogLine) != nil }
            if logging {
                #expect(logLines.contains { $0.hasSuffix("\"GET / HTTP/1.1\" 200 \(index.bytes.count)") }, "\(output)")
                #expect(logLines.contains { $0.hasSuffix("\"GET /nothing-here HTTP/1.1\" 404 10") }, "\(output)")
                #expect(logLines.contains { $0.contains("\"POST /api/count HTTP/1.1\" 200 ") }, "\(output)")
                #expect(logLines.count == 3, "one line per request: \(logLines)")
            } else {
                #expect(logLines.isEmpty, "log=off should print no access log: \(logLines)")
                #expect(!guest.console.contains("HTTP/1.1\""), "\(output)")
                #expect(guest.console.contains("web: serving"), "\(output)")
            }
        }
    }
}
