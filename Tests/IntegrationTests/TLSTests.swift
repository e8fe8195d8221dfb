// HTTPS (SwiftletTLS over BearSSL) end to end, on hvt and spt: examples/web built with a
// certificate this suite makes (`swiftlet cert`'s code, a CA of its own in the scratch folder),
// booted in a network namespace of its own, and real clients in that namespace:
//   curl --cacert (TLS 1.2, ALPN http/1.1, SNI, keep-alive) and refused above/below 1.2;
//   openssl s_client: no TLS 1.0/1.1, no CBC, the chain sent, close_notify, session resumption;
//   Python's ssl module; headless Chromium loading the page by name (https://swiftlet.test/,
//   mapped to the guest with --host-resolver-rules) with the test CA pinned by its SPKI hash,
//   and refusing it without the pin;
//   garbage, a truncated ClientHello and a silent client cut off while others are served;
//   two boots give different ServerHello randoms (the guest RNG seeds BearSSL).
// A probe application checks the certificate refusals at start (malformed, mismatched,
// expired, not yet valid, RSA-1024, missing) and serves RSA-2048 (ECDHE-RSA only, RSA key
// exchange refused). Every client has a time limit; namespaces are deleted.
import Foundation
import SwiftletBuild
import Testing

/// The test CA, and the images that use it; made once per run.
enum TLSFixture {
    static let folder = Harness.scratch.appendingPathComponent("tls")
    static let names = ["localhost", browserName, TapNamespace.guestAddress, "127.0.0.1"]
    /// The name Chromium loads the page by (its resolver maps it to the guest).
    static let browserName = "swiftlet.test"
    private static let lock = NSLock()
    nonisolated(unsafe) private static var made: (certificates: DevelopmentCertificates, web: URL, probe: URL)?

    static var certificates: DevelopmentCertificates { get throws { try prepare().certificates } }
    static var caFile: String { get throws { try certificates.certificateAuthority.path } }
    /// examples/web with tls/ holding a test certificate (ECDSA P-256, chain of two).
    static var webImage: URL { get throws { try prepare().web } }
    /// The probe application (below) with every certificate case in its tls/ folder.
    static var probeImage: URL { get throws { try prepare().probe } }

    private static func prepare() throws -> (certificates: DevelopmentCertificates, web: URL, probe: URL) {
        lock.lock()
        defer { lock.unlock() }
        if let made { return made }
        let home = try SwiftletHome.locate()
        let certificates = try DevelopmentCertificates(authority: folder.appendingPathComponent("ca"))
        let builder = ImageBuilder(toolchain: try Toolchain.locate(), home: home)

        let web = folder.appendingPathComponent("web")
        try? FileManager.default.removeItem(at: web)
        try FileManager.default.createDirectory(at: web, withIntermediateDirectories: true)
        for item in ["Package.swift", "Sources", "assets"] {
            try FileManager.default.copyItem(at: home.root.appendingPathComponent("examples/web/\(item)"), to: web.appendingPathComponent(item))
        }
        try certificates.issue(into: web.appendingPathComponent("tls"), names: names, days: 7, key: .ecdsa)
        let webImage = folder.appendingPathComponent("web-tls.swiftlet")
        _ = try builder.build(try Application(path: web.path), targets: Target.tenders, output: webImage)

        let probe = folder.appendingPathComponent("probe")
        try? FileManager.default.removeItem(at: probe)
        try FileManager.default.createDirectory(at: probe, withIntermediateDirectories: true)
        try probeSource.write(to: probe.appendingPathComponent("main.swift"), atomically: true, encoding: .utf8)
        try makeProbeFiles(in: probe.appendingPathComponent("tls"), certificates: certificates)
        let probeImage = folder.appendingPathComponent("tls_probe.swiftlet")
        _ = try builder.build(try Application(path: probe.path), targets: Target.tenders, output: probeImage)

        made = (certificates, webImage, probeImage)
        return made!
    }

    /// Prints whether tls/CERT and tls/KEY are accepted (and why not); with `serve`, serves
    /// HTTPS with them on port 443.
    static let probeSource = """
    import Swiftlet
    import SwiftletTLS

    var certificate = "cert.pem"
    var key = "key.pem"
    var serve = false
    for argument in CommandLine.arguments {
        if argument.hasPrefix("cert=") { certificate = String(argument.dropFirst(5)) }
        if argument.hasPrefix("key=") { key = String(argument.dropFirst(4)) }
        if argument == "serve" { serve = true }
    }
    do throws(TLSError) {
        let tls = try TLSConfiguration.embedded(certificate: certificate, key: key)
        print("tls-probe: accepted \\(tls.keyDescription), \\(tls.chainLength) certificates")
        if serve {
            let network = Network.bringUp()
            let router = Router()
            router.get("/") { _ in .text("probe over TLS\\n") }
            let server = try? HTTPServer(stack: network, port: 443, router: router, tls: tls)
            print("tls-probe: serving on \\(network.address!)")
            server!.run()
        }
    } catch {
        print("tls-probe: refused: \\(error.message)")
        exit(2)
    }
    """

    /// The probe's tls/ folder: good pairs (ECDSA, RSA-2048) and each kind of bad one.
    static func makeProbeFiles(in tls: URL, certificates: DevelopmentCertificates) throws {
        try certificates.issue(into: tls, names: names, days: 7, key: .ecdsa)
        let work = folder.appendingPathComponent("probe-work")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        try certificates.issue(into: work.appendingPathComponent("rsa"), names: names, days: 7, key: .rsa)
        try certificates.issue(into: work.appendingPathComponent("other"), names: names, days: 7, key: .ecdsa)
        func copy(_ from: String, _ to: String) throws {
            try FileManager.default.copyItem(at: work.appendingPathComponent(from), to: tls.appendingPathComponent(to))
        }
        try copy("rsa/cert.pem", "rsa-cert.pem")
        try copy("rsa/key.pem", "rsa-key.pem")
        try copy("other/key.pem", "other-key.pem")
        let good = try String(contentsOf: tls.appendingPathComponent("cert.pem"), encoding: .utf8)
        // Base64 that decodes, but to a truncated certificate: the first block cut in half.
        let lines = good.split(separator: "\n")
        let truncated = (lines.prefix(6) + ["-----END CERTIFICATE-----"]).joined(separator: "\n") + "\n"
        try truncated.write(to: tls.appendingPathComponent("truncated.pem"), atomically: true, encoding: .utf8)
        try "not a certificate at all\n".write(to: tls.appendingPathComponent("garbage.pem"), atomically: true, encoding: .utf8)
        let openssl = certificates.openssl
        func ssl(_ arguments: [String]) throws {
            let outcome = try Harness.run(openssl, arguments, in: work)
            guard outcome.status == 0 else { throw TapNamespace.SetupError(message: "openssl \(arguments): \(outcome.stderr)") }
        }
        try ssl(["req", "-newkey", "rsa:1024", "-nodes", "-keyout", tls.appendingPathComponent("rsa1024-key.pem").path,
                 "-x509", "-days", "7", "-subj", "/CN=localhost", "-out", tls.appendingPathComponent("rsa1024-cert.pem").path])
        // Past and future validity: `openssl ca` is the openssl 3.0 command that takes dates.
        try ssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                 "-keyout", tls.appendingPathComponent("dated-key.pem").path, "-subj", "/CN=localhost", "-out", "dated.csr"])
        try "".write(to: work.appendingPathComponent("index.txt"), atomically: true, encoding: .utf8)
        try "1000\n".write(to: work.appendingPathComponent("serial"), atomically: true, encoding: .utf8)
        try """
        [ca]
        default_ca = test
        [test]
        database = index.txt
        new_certs_dir = .
        serial = serial
        default_md = sha256
        policy = anything
        unique_subject = no
        [anything]
        commonName = supplied

        """.write(to: work.appendingPathComponent("ca.cnf"), atomically: true, encoding: .utf8)
        for (name, start, end) in [("expired", "20200101000000Z", "20200201000000Z"), ("future", "20990101000000Z", "20991231000000Z")] {
            try ssl(["ca", "-batch", "-config", "ca.cnf", "-notext", "-cert", certificates.certificateAuthority.path,
                     "-keyfile", certificates.authority.appendingPathComponent("ca-key.pem").path, "-in", "dated.csr",
                     "-startdate", start, "-enddate", end, "-out", tls.appendingPathComponent("\(name)-cert.pem").path])
        }
    }

    /// The ServerHello random (32 bytes) from `openssl s_client -msg` output.
    static func serverRandom(_ trace: String) -> [UInt8]? {
        let lines = trace.split(separator: "\n", omittingEmptySubsequences: false)
        guard let start = lines.firstIndex(where: { $0.hasPrefix("<<<") && $0.contains("ServerHello") && !$0.contains("Done") }) else { return nil }
        var bytes: [UInt8] = []
        for line in lines[(start + 1)...] {
            if line.hasPrefix("<<<") || line.hasPrefix(">>>") || line.trimmingCharacters(in: .whitespaces).isEmpty { break }
            bytes += line.split(separator: " ").compactMap { UInt8($0, radix: 16) }
        }
        // type (1), length (3), version (2), then the random.
        return bytes.count >= 38 ? Array(bytes[6..<38]) : nil
    }
}

@Suite(.enabled(if: TapNamespace.available, "skipped: needs root and iproute2 to create a network namespace with a tap"),
       .serialized)
struct TLSTests {
    static func webGuest(_ target: Target, _ label: String, arguments: [String] = []) throws -> WebGuest {
        let guest = try WebGuest(target, "tls-\(label)", arguments: arguments, image: try TLSFixture.webImage)
        let deadline = Date().addingTimeInterval(5)
        while !guest.console.contains("web: HTTPS on port 443") && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        #expect(guest.console.contains("web: HTTPS on port 443 (ECDSA P-256, 2 certificates)"), "\(guest.console)")
        return guest
    }

    /// curl in the guest's namespace, the name `localhost` resolving to the guest (so SNI and
    /// the certificate's name are checked).
    static func curl(_ guest: WebGuest, _ arguments: [String]) throws -> Harness.Outcome {
        try guest.namespace.run(["curl", "-sS", "-v", "--max-time", "10", "--cacert", try TLSFixture.caFile,
                                 "--resolve", "localhost:443:\(guest.address)"] + arguments, timeout: 20)
    }

    static func openssl(_ guest: WebGuest, _ arguments: [String], input: String = "") throws -> Harness.Outcome {
        // The request is written after a pause, so the handshake is done when it goes.
        let script = "(sleep 0.5; printf '\(input)'; sleep 1) | timeout 10 openssl s_client -connect \(guest.address):443 " + arguments.joined(separator: " ")
        return try guest.namespace.run(["sh", "-c", script], timeout: 20)
    }

    // MARK: curl

    @Test(arguments: runnableTargets)
    func curlGetsThePageOverTLS12WithALPNAndSNI(target: Target) throws {
        let guest = try Self.webGuest(target, "curl")
        let index = try String(contentsOf: SwiftletHome.locate().root.appendingPathComponent("examples/web/assets/index.html"), encoding: .utf8)
        let page = try Self.curl(guest, ["https://localhost/", "https://localhost/hello/tls"])
        #expect(page.status == 0, "curl: \(page.stderr.suffix(3000))")
        #expect(page.stdout == index + "Hello, tls!\n", "the page and the route, byte for byte, over one connection")
        #expect(page.stderr.contains("SSL connection using TLSv1.2 / ECDHE-ECDSA-"), "\(page.stderr.suffix(3000))")
        #expect(page.stderr.contains("ALPN: server accepted http/1.1"), "\(page.stderr.suffix(3000))")
        #expect(page.stderr.contains("Re-using existing connection") || page.stderr.contains("Reusing existing"),
                "the second request should reuse the TLS connection (keep-alive): \(page.stderr.suffix(3000))")
        #expect(page.stderr.contains("SSL certificate verify ok"), "\(page.stderr.suffix(3000))")
        #expect(guest.console.contains("tls: \(TapNamespace.hostAddress) TLSv1.2 ECDHE-ECDSA-") && guest.console.contains("sni=localhost alpn=http/1.1"),
                "the guest logs the handshake with SNI and ALPN: \(guest.console.suffix(2000))")
        #expect(guest.console.contains("\"GET /hello/tls HTTP/1.1\" 200"), "\(guest.console.suffix(2000))")

        // The same server, asked for TLS 1.3 only or at most TLS 1.1, refuses.
        let tls13 = try Self.curl(guest, ["--tlsv1.3", "https://localhost/"])
        #expect(tls13.status != 0, "TLS 1.3 only should fail (the guest speaks 1.2): \(tls13.stderr.suffix(2000))")
        let tls11 = try Self.curl(guest, ["--tlsv1.0", "--tls-max", "1.1", "--ciphers", "DEFAULT@SECLEVEL=0", "https://localhost/"])
        #expect(tls11.status != 0, "TLS 1.1 at most should fail: \(tls11.stderr.suffix(2000))")
        // A client that does not trust the test CA is refused by curl (the chain is really checked).
        let untrusted = try guest.namespace.run(["curl", "-sS", "--max-time", "10", "--resolve", "localhost:443:\(guest.address)",
                                                 "https://localhost/"], timeout: 20)
        #expect(untrusted.status == 60, "without --cacert curl should refuse the certificate (60): \(untrusted.status) \(untrusted.stderr)")
        #expect(!guest.errors.contains("crash"), "\(guest.errors)")
    }

    // MARK: openssl s_client

    @Test(arguments: runnableTargets)
    func opensslSeesOnlyTLS12AEADSuitesTheChainAndCloseNotify(target: Target) throws {
        let guest = try Self.webGuest(target, "openssl")
        let ca = try TLSFixture.caFile
        let good = try Self.openssl(guest, ["-tls1_2", "-servername", "localhost", "-CAfile", ca, "-showcerts", "-msg"],
                                    input: "GET /hello/openssl HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n")
        let out = good.stdout
        #expect(out.contains("Protocol  : TLSv1.2") && out.contains("Verify return code: 0 (ok)"), "\(out.suffix(3000))")
        #expect(out.components(separatedBy: "-----BEGIN CERTIFICATE-----").count - 1 == 2, "the chain (leaf and CA) is sent: \(out.prefix(4000))")
        #expect(out.contains("Hello, openssl!"), "\(out.suffix(3000))")
        #expect(out.contains("<<< TLS 1.2, Alert [length 0002], warning close_notify"),
                "the guest ends the connection with close_notify: \(out.suffix(3000))")

        // Offered only what we refuse (the client allows everything: SECLEVEL=0), the handshake fails.
        let refusals: [(String, [String])] = [
            ("TLS 1.0", ["-tls1", "-cipher", "DEFAULT@SECLEVEL=0"]),
            ("TLS 1.1", ["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"]),
            ("CBC suites", ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA384:ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA@SECLEVEL=0"]),
        ]
        for (what, arguments) in refusals {
            let refused = try Self.openssl(guest, arguments)
            #expect(refused.stdout.contains("Cipher is (NONE)") && !refused.stdout.contains("-----BEGIN CERTIFICATE-----"),
                    "\(what) must be refused: \(refused.stdout.suffix(1500)) \(refused.stderr.suffix(1500))")
        }
        // Each AEAD suite works when it is the only one offered.
        for suite in ["ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305"] {
            let one = try Self.openssl(guest, ["-tls1_2", "-cipher", suite, "-CAfile", ca])
            #expect(one.stdout.contains("Cipher is \(suite)"), "\(suite): \(one.stdout.suffix(1500))")
        }
        // Session resumption from BearSSL's cache.
        let session = Harness.scratch.appendingPathComponent("tls-session-\(target)")
        _ = try Self.openssl(guest, ["-tls1_2", "-sess_out", session.path])
        let resumed = try Self.openssl(guest, ["-tls1_2", "-sess_in", session.path])
        #expect(resumed.stdout.contains("Reused, TLSv1.2"), "the second handshake resumes the session: \(resumed.stdout.suffix(2000))")
    }

    // MARK: Python

    static let pythonClient = """
    import json, socket, ssl, sys
    address, ca = sys.argv[1], sys.argv[2]
    context = ssl.create_default_context(cafile=ca)
    context.set_alpn_protocols(["h2", "http/1.1"])
    with socket.create_connection((address, 443), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(b"GET /api/status HTTP/1.1\\r\\nHost: localhost\\r\\n\\r\\n" * 2)
            data = b""
            while data.count(b"HTTP/1.1 200 OK") < 2 or not data.endswith(b"}"):
                chunk = tls.recv(65536)
                if not chunk: break
                data += chunk
            print(json.dumps({"version": tls.version(), "alpn": tls.selected_alpn_protocol(), "cipher": tls.cipher()[0],
                              "answers": data.count(b"HTTP/1.1 200 OK"), "tail": data[-200:].decode(errors="replace")}))
    """

    @Test(arguments: runnableTargets)
    func pythonSSLModule(target: Target) throws {
        let guest = try Self.webGuest(target, "python")
        let ran = try guest.namespace.run(["python3", "-c", Self.pythonClient, guest.address, try TLSFixture.caFile], timeout: 30)
        let json = try #require(JSON(parsing: ran.stdout), "python: \(ran.stdout) \(ran.stderr)")
        #expect(json["version"].string == "TLSv1.2", "\(json)")
        #expect(json["alpn"].string == "http/1.1", "\(json)")
        #expect(json["cipher"].string?.hasPrefix("ECDHE-ECDSA-") == true && json["cipher"].string?.contains("CBC") == false, "\(json)")
        #expect(json["answers"].int == 2, "two pipelined requests over TLS, two answers: \(json)")
        #expect(json["tail"].string?.contains("\"memory_in_use\"") == true, "\(json)")
    }

    // MARK: A browser

    /// Two things kept this test out. Chromium uses TLS False Start: its request follows its
    /// Finished at once, before the server's Finished has arrived; until the server sent its own
    /// handshake records before reading more, the two often arrived together and BearSSL refused
    /// the request (ERR_EMPTY_RESPONSE, 4 loads in 6 by hand). And under `swift test` Chromium
    /// started while tap0's IPv6 link-local address was still tentative: duplicate address
    /// detection ending half a second later is an address change to its network-change notifier,
    /// and the load failed with ERR_INTERNET_DISCONNECTED. TapNamespace now gives tap0 no IPv6.
    @Test(arguments: runnableTargets)
    func headlessChromiumLoadsThePageOverHTTPSByName(target: Target) throws {
        guard let chromium = WebTests.chromium else {
            Harness.toolIsMissing("chromium is not installed (apt-get install -y chromium): the HTTPS browser test could not run")
            return
        }
        // Before the guest: openssl is not started while a tender runs.
        let spki = try TLSFixture.certificates.authoritySPKIHash()
        let guest = try Self.webGuest(target, "browser")
        let home = Harness.scratch.appendingPathComponent("chromium-tls-\(target)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: home) }
        let url = "https://\(TLSFixture.browserName)/"
        func load(trusting: [String]) throws -> Harness.Outcome {
            try guest.namespace.run(["env", "HOME=\(home.path)", chromium, "--headless", "--no-sandbox", "--disable-gpu",
                                     "--disable-dev-shm-usage", "--no-first-run", "--user-data-dir=\(home.path)/profile",
                                     "--host-resolver-rules=MAP \(TLSFixture.browserName) \(guest.address)"] + trusting
                                    + ["--virtual-time-budget=5000", "--dump-dom", url], timeout: 90)
        }
        // Without the test CA trusted, the browser refuses the certificate: the page never loads.
        let untrusted = try load(trusting: [])
        #expect(!untrusted.stdout.contains("<title>Swiftlet"), "an untrusted certificate must not be accepted: \(untrusted.stdout.prefix(500))")
        #expect(untrusted.stderr.contains("ERR_CERT_AUTHORITY_INVALID"), "chromium should name the unknown CA: \(untrusted.stderr.suffix(2000))")
        let dump = try load(trusting: ["--ignore-certificate-errors-spki-list=\(spki)"])
        #expect(dump.status == 0, "chromium: \(dump.stderr.suffix(3000))")
        let title = dump.stdout.firstMatch(of: /<title>([^<]*)<\/title>/).map { String($0.1) }
        #expect(title?.contains("Swiftlet") == true, "title: \(title ?? "none")\n\(dump.stdout.prefix(2000)) \(dump.stderr.suffix(2000))\nguest: \(guest.console.suffix(2000))")
        let section = dump.stdout.firstMatch(of: /<section[^>]*id="status"[^>]*>/).map { String($0.0) }
        #expect(section?.contains("data-state=\"live\"") == true, "app.js fetched /api/status over HTTPS: \(section ?? "missing")")
        // The name went out as SNI, and ALPN chose HTTP/1.1.
        #expect(guest.console.contains("sni=\(TLSFixture.browserName) alpn=http/1.1"), "chromium's handshake in the log: \(guest.console.suffix(2000))")
        #expect(guest.console.contains("\"GET /app.js HTTP/1.1\" 200"), "\(guest.console.suffix(2000))")
        #expect(guest.console.contains("\"GET /api/status HTTP/1.1\" 200"), "\(guest.console.suffix(2000))")
    }

    // MARK: Hostile clients

    static let hostileClients = """
    import json, os, socket, ssl, sys, time
    address, ca = sys.argv[1], sys.argv[2]
    context = ssl.create_default_context(cafile=ca)
    # A real ClientHello, of which the truncated client sends only the first 60 bytes.
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    probe = context.wrap_bio(incoming, outgoing, server_hostname="localhost")
    try:
        probe.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = outgoing.read()
    start = time.time()
    silent = socket.create_connection((address, 443), timeout=10)
    truncated = socket.create_connection((address, 443), timeout=10)
    truncated.sendall(hello[:60])
    garbage = socket.create_connection((address, 443), timeout=10)
    garbage.sendall(b"GET / HTTP/1.1\\r\\nHost: localhost\\r\\n\\r\\n" + os.urandom(2000))
    def ending(sock, limit):
        sock.settimeout(limit)
        began = time.time()
        try:
            while True:
                if not sock.recv(4096):
                    return ["closed", time.time() - start]
        except socket.timeout:
            return ["still open", time.time() - start]
        except ConnectionResetError:
            return ["reset", time.time() - start]
    result = {"garbage": ending(garbage, 3)}
    # Others are served meanwhile, each within a second.
    served = []
    for _ in range(3):
        began = time.time()
        with socket.create_connection((address, 443), timeout=10) as raw:
            with context.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(b"GET /hello/meanwhile HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n")
                data = b""
                while True:
                    chunk = tls.recv(4096)
                    if not chunk: break
                    data += chunk
        served.append([data.endswith(b"Hello, meanwhile!\\n"), time.time() - began])
    result["served"] = served
    result["silent"] = ending(silent, 10)
    result["truncated"] = ending(truncated, 10)
    print(json.dumps(result))
    """

    @Test(arguments: runnableTargets)
    func garbageTruncatedAndStalledHandshakesAreCutOffWhileOthersAreServed(target: Target) throws {
        let guest = try Self.webGuest(target, "hostile", arguments: ["handshake-timeout=2"])
        let ran = try guest.namespace.run(["python3", "-c", Self.hostileClients, guest.address, try TLSFixture.caFile], timeout: 60)
        let json = try #require(JSON(parsing: ran.stdout), "python: \(ran.stdout) \(ran.stderr)")
        let garbage = json["garbage"]
        #expect(garbage[0].string != "still open" && (garbage[1].double ?? 99) < 1.5, "garbage is cut off at once: \(json)")
        for served in json["served"].array {
            #expect(served[0].bool == true && (served[1].double ?? 99) < 2.0, "others are served meanwhile: \(json)")
        }
        for stalled in ["silent", "truncated"] {
            let ending = json[stalled]
            #expect(ending[0].string != "still open", "\(stalled): cut off by handshake-timeout=2: \(json)")
            let after = ending[1].double ?? 0
            #expect(after > 1.8 && after < 4.5, "\(stalled): cut off after the 2 s handshake timeout, not before nor much later: \(json)")
        }
        let status = try Self.curl(guest, ["https://localhost/api/status"])
        // The count is the server's as of the previous turn: this request's own connection may not be in it yet.
        #expect(status.stdout.contains("\"connections\":0,") || status.stdout.contains("\"connections\":1,"),
                "none of the hostile connections is left: \(status.stdout)")
    }

    // MARK: Randomness

    @Test(arguments: runnableTargets)
    func twoBootsGiveDifferentServerRandoms(target: Target) throws {
        var randoms: [[UInt8]] = []
        for boot in 0..<2 {
            let guest = try Self.webGuest(target, "random\(boot)")
            let trace = try Self.openssl(guest, ["-tls1_2", "-msg"])
            let random = try #require(TLSFixture.serverRandom(trace.stdout), "no ServerHello in: \(trace.stdout.prefix(3000))")
            randoms.append(random)
            guest.stop()
        }
        // The first four bytes may be the clock (RFC 5246's gmt_unix_time); the rest is the DRBG's.
        #expect(randoms[0][4...] != randoms[1][4...], "two boots, same random: the guest's RNG did not seed BearSSL")
        #expect(Set(randoms[0][4...]).count > 8, "a random should not be a constant pattern: \(randoms[0])")
    }

    // MARK: Certificates at start

    @Test(arguments: runnableTargets)
    func certificatesAreCheckedAtStartWithAClearReason(target: Target) throws {
        let image = try TLSFixture.probeImage
        let cases: [(arguments: [String], expected: String)] = [
            ([], "tls-probe: accepted ECDSA P-256, 2 certificates"),
            (["cert=rsa-cert.pem", "key=rsa-key.pem"], "tls-probe: accepted RSA 2048, 2 certificates"),
            (["cert=garbage.pem"], "refused: tls/garbage.pem and tls/key.pem: the certificate file holds no PEM CERTIFICATE block"),
            (["cert=truncated.pem"], "refused: tls/truncated.pem and tls/key.pem: the first certificate (the server's own) is malformed"),
            (["key=garbage.pem"], "the key file holds no PEM PRIVATE KEY"),
            (["key=other-key.pem"], "the private key does not belong to the first certificate"),
            (["cert=expired-cert.pem", "key=dated-key.pem"], "the certificate expired"),
            (["cert=future-cert.pem", "key=dated-key.pem"], "the certificate is not valid yet"),
            (["cert=rsa1024-cert.pem", "key=rsa1024-key.pem"], "the RSA key has 1024 bits; at least 2048 are needed"),
            (["cert=missing.pem"], "tls/missing.pem is missing from the image"),
        ]
        for (arguments, expected) in cases {
            let ran = try Harness.run(Harness.tender(target), ["--mem", "16M", image.path, "--"] + arguments)
            #expect(ran.stdout.contains(expected), "\(arguments): expected «\(expected)», the guest said: \(ran.stdout) \(ran.stderr)")
            #expect(ran.status == (expected.hasPrefix("tls-probe: accepted") ? 0 : 2), "\(arguments): status \(ran.status)")
        }
    }

    @Test(arguments: runnableTargets)
    func rsa2048ServesECDHERSAAndRefusesRSAKeyExchange(target: Target) throws {
        let namespace = try TapNamespace("tls-rsa-\(target)")
        let ca = try TLSFixture.caFile
        let address = TapNamespace.guestAddress
        let ecdheRSA = "ECDHE-RSA-AES128-GCM-SHA256"
        let script = """
        for cipher in \(ecdheRSA) AES128-GCM-SHA256 AES256-SHA; do
          echo "== $cipher"; echo | timeout 10 openssl s_client -tls1_2 -cipher "$cipher@SECLEVEL=0" -CAfile \(ca) -connect \(address):443 2>&1 | grep -E "Cipher is|Verify return code"
        done
        """
        let (client, guest) = try namespace.withGuest(try TLSFixture.probeImage, target: target,
                                                      arguments: ["ip=\(address)/24", "cert=rsa-cert.pem", "key=rsa-key.pem", "serve"],
                                                      client: ["sh", "-c", "sleep 1; " + script])
        let sections = client.stdout.components(separatedBy: "== ").dropFirst()
        #expect(sections.count == 3, "\(client.stdout) \(client.stderr)")
        for section in sections {
            if section.hasPrefix(ecdheRSA) {
                #expect(section.contains("Cipher is \(ecdheRSA)") && section.contains("Verify return code: 0 (ok)"), "\(section)")
            } else {
                #expect(section.contains("Cipher is (NONE)"), "RSA key exchange must be refused: \(section)")
            }
        }
        #expect(guest.stdout.contains("tls-probe: accepted RSA 2048"), "\(guest.stdout) \(guest.stderr)")
    }

    // MARK: Size

    @Test func imagesWithoutTLSLinkNoBearSSL() throws {
        guard let nm = ["/usr/bin/nm", "/usr/bin/llvm-nm"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            Harness.toolIsMissing("nm is missing (apt-get install -y binutils): the BearSSL symbol check could not run")
            return
        }
        func symbols(_ image: URL) throws -> [Substring] {
            let listed = try Harness.run(URL(fileURLWithPath: nm), [image.path])
            return listed.stdout.split(separator: "\n").compactMap { $0.split(separator: " ").last }
        }
        let plain = try symbols(Harness.example("echo"))
        let tls = try symbols(TLSFixture.webImage)
        #expect(!plain.isEmpty && !plain.contains { $0.hasPrefix("br_") || $0.contains("SwiftletTLS") }, "an image without TLS has no BearSSL symbol")
        #expect(tls.contains("br_ssl_hs_server_run") && tls.contains("br_prng_seeder_system"), "the TLS image links BearSSL's server")
        // The replaced /dev/urandom seeder is not linked: no file system calls in a guest.
        #expect(!tls.contains("open") && !tls.contains("read") && !tls.contains("__errno_location"), "sysrng.o must not be linked")
    }
}
