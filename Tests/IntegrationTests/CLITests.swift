// The front door end to end: new → build → run → inspect, and errors that say what to do.
import Foundation
import SwiftletABI
import SwiftletBuild
import Testing

@Suite struct CLITests {
    func swiftlet(_ arguments: [String], in folder: URL) throws -> Harness.Outcome {
        try Harness.run(Harness.cli, arguments, timeout: 180, in: folder)
    }

    @Test func newBuildRunInspect() throws {
        let folder = Harness.scratch.appendingPathComponent("cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)

        let created = try swiftlet(["new", "greeter"], in: folder)
        #expect(created.status == 0, "stderr: \(created.stderr)")
        #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent("greeter/Sources/greeter/main.swift").path))
        #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent("greeter/Package.swift").path))

        let again = try swiftlet(["new", "greeter"], in: folder)
        #expect(again.status != 0)
        #expect(again.stderr.contains("already exists"))

        let built = try swiftlet(["build", "greeter"], in: folder)
        #expect(built.status == 0, "stderr: \(built.stderr)")
        #expect(built.stderr.contains("built "))
        let image = folder.appendingPathComponent("greeter/.build/swiftlet/greeter.swiftlet")
        #expect(FileManager.default.fileExists(atPath: image.path))

        for target in runnableTargets {
            let ran = try swiftlet(["run", "--target", target.rawValue, "greeter", "--", "hi", "there"], in: folder)
            #expect(ran.status == 0, "stderr: \(ran.stderr)")
            #expect(ran.stdout.contains("Hello from greeter!"))
            #expect(ran.stdout.contains("Arguments: hi there"))
        }

        let inspected = try swiftlet(["inspect", image.path], in: folder)
        #expect(inspected.status == 0, "stderr: \(inspected.stderr)")
        #expect(inspected.stdout.contains("ABI:         version \(SWIFTLET_ABI_VERSION)"), "\(inspected.stdout)")
        #expect(inspected.stdout.contains("containers:  hvt: --device /dev/kvm; spt: nothing beyond the default seccomp profile"),
                "stdout: \(inspected.stdout)")
        #expect(inspected.stdout.contains("targets:     hvt,spt"))
        #expect(inspected.stdout.contains("  hvt      KVM tender: needs /dev/kvm (\(Harness.kvmAvailable ? "usable here" : "not usable here"))"),
                "\(inspected.stdout)")
        #expect(inspected.stdout.contains("  spt      seccomp process tender: needs nothing beyond Linux seccomp"))
        #expect(inspected.stdout.contains("  virtio   not in this image (swiftlet build --target virtio)"))
        #expect(inspected.stdout.contains("entry:       0x\(String(SWIFTLET_GUEST_BASE + SWIFTLET_IMAGE_OFFSET, radix: 16))"), "\(inspected.stdout)")
        #expect(inspected.stdout.contains(".text"))
        #expect(inspected.stdout.contains("greeter"), "size by module should list the app module")
        #expect(inspected.stdout.contains("Swiftlet"))
    }

    /// The web template builds, embeds its assets and answers on a published port, the way
    /// its closing message tells the user to run it. Its visit count lives in a KeyValueStore
    /// on `--disk` when one is given: two boots on one disk count on from where the first
    /// stopped (each POST is answered once durable, so SIGTERM right after loses nothing);
    /// without a disk it runs and says the count is not kept.
    @Test func webTemplateServesItsPageAndAPIAndKeepsItsCountOnADisk() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/passt") else {
            Issue.record("passt is not installed (apt-get install passt): -p cannot be tested")
            return
        }
        let folder = Harness.scratch.appendingPathComponent("web-template-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let created = try swiftlet(["new", "site", "--template", "web"], in: folder)
        #expect(created.status == 0, "stderr: \(created.stderr)")
        #expect(created.stderr.contains("-p 8080:80"))
        #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent("site/assets/index.html").path))
        let built = try swiftlet(["build", "site"], in: folder)
        #expect(built.status == 0, "stderr: \(built.stderr)")
        #expect(built.stderr.contains("embedded 2 assets"), "stderr: \(built.stderr)")

        let target = runnableTargets.first!
        let image = folder.appendingPathComponent("site/.build/swiftlet/site.swiftlet")
        let curl = URL(fileURLWithPath: "/usr/bin/curl")
        /// Boots the image, waits for its page, then fetches `paths` (POST for /api/visits) and stops it.
        /// Each boot gets a port of its own: the last boot's passt may still hold its port a moment.
        func serve(port: Int, disk: [String], _ paths: [String]) throws -> (guest: Harness.Outcome, page: Harness.Outcome?, answers: [Harness.Outcome?]) {
            var page: Harness.Outcome?
            var answers: [Harness.Outcome?] = []
            let guest = try Harness.run(Harness.cli, ["run", "--target", target.rawValue, "-p", "\(port):80"] + disk + [image.path],
                                        timeout: 60) { process in
                // Retry until the guest has its DHCP lease and listens (bounded: 40 × 0.25 s).
                for _ in 0..<40 {
                    page = try? Harness.run(curl, ["-s", "--max-time", "2", "http://127.0.0.1:\(port)/"], timeout: 5)
                    if page?.stdout.contains("<title>site</title>") == true { break }
                    Thread.sleep(forTimeInterval: 0.25)
                }
                for path in paths {
                    let post = path == "/api/visits" ? ["-X", "POST"] : []
                    let status = path.hasSuffix("/x") ? ["-o", "/dev/null", "-w", "%{http_code}"] : []
                    answers.append(try? Harness.run(curl, ["-s", "--max-time", "2"] + post + status + ["http://127.0.0.1:\(port)\(path)"], timeout: 5))
                }
                kill(process.processIdentifier, SIGTERM)
            }
            return (guest, page, answers)
        }

        let port = 30000 + Int(getpid() % 10000)
        let bare = try serve(port: port, disk: [], ["/api/hello?name=Ann", "/api/square/x", "/api/visits"])
        #expect(bare.guest.stderr.contains("reachable at http://127.0.0.1:\(port)/"), "\(bare.guest.stderr)")
        #expect(bare.page?.stdout.contains("<title>site</title>") == true, "guest: \(bare.guest.stdout) \(bare.guest.stderr)")
        #expect(bare.answers[0]?.stdout.contains(#""message":"Hello, Ann!""#) == true, "\(bare.answers[0]?.stdout ?? "")")
        #expect(bare.answers[1]?.stdout == "400")
        #expect(bare.guest.stdout.contains(#""GET /api/hello?name=Ann HTTP/1.1" 200"#), "access log: \(bare.guest.stdout)")
        #expect(bare.guest.stdout.contains("site: 0 visits so far (no --disk: not kept across restarts)"), "\(bare.guest.stdout)")
        #expect(bare.answers[2]?.stdout == #"{"visits":1,"persisted":false}"#, "\(bare.answers[2]?.stdout ?? "")")

        let disk = ["--disk", folder.appendingPathComponent("site.img").path, "--disk-size", "1M"]
        let first = try serve(port: port + 1, disk: disk, ["/api/visits", "/api/visits"])
        #expect(first.guest.stdout.contains("site: 0 visits so far\n"), "\(first.guest.stdout) \(first.guest.stderr)")
        #expect(first.answers.map { $0?.stdout } == [#"{"visits":1,"persisted":true}"#, #"{"visits":2,"persisted":true}"#])
        let second = try serve(port: port + 2, disk: disk, ["/api/visits"])
        #expect(second.guest.stdout.contains("site: 2 visits so far\n"), "\(second.guest.stdout) \(second.guest.stderr)")
        #expect(second.answers.first??.stdout == #"{"visits":3,"persisted":true}"#, "\(second.guest.stdout)")
    }

    /// `new --template web --tls`: a project that serves HTTPS with a development certificate
    /// from `swiftlet cert`'s code (a CA of the test's own, through XDG_DATA_HOME), reached the way
    /// its closing message says, trusted with that CA only; tls/ is embedded, never served.
    @Test(arguments: runnableTargets)
    func webTemplateWithTLSServesHTTPS(target: Target) throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/passt") else {
            Issue.record("passt is not installed (apt-get install passt): -p cannot be tested")
            return
        }
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl") else {
            Harness.toolIsMissing("openssl is not installed (apt-get install -y openssl): `swiftlet new --tls` cannot make a certificate")
            return
        }
        let folder = Harness.scratch.appendingPathComponent("web-tls-template-\(target)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var environment = Harness.environment
        environment["XDG_DATA_HOME"] = folder.appendingPathComponent("data").path
        let authority = folder.appendingPathComponent("data/swiftlet/dev-ca/ca.pem")
        let created = try Harness.run(Harness.cli, ["new", "site", "--template", "web", "--tls"], timeout: 60,
                                      environment: environment, in: folder)
        #expect(created.status == 0, "stderr: \(created.stderr)")
        #expect(created.stderr.contains("-p 8443:443"), "\(created.stderr)")
        #expect(created.stderr.contains("made a development CA: \(authority.path)"), "\(created.stderr)")
        let site = folder.appendingPathComponent("site")
        let key = site.appendingPathComponent("tls/key.pem")
        #expect(FileManager.default.fileExists(atPath: site.appendingPathComponent("tls/cert.pem").path))
        #expect((try FileManager.default.attributesOfItem(atPath: key.path)[.posixPermissions] as? Int) == 0o600)
        #expect(try String(contentsOf: site.appendingPathComponent(".gitignore"), encoding: .utf8).contains("tls/key.pem"))
        let readme = try String(contentsOf: site.appendingPathComponent("README.md"), encoding: .utf8)
        #expect(readme.contains("curl --cacert \(authority.path) https://localhost:8443/"), "\(readme)")
        #expect(readme.contains("--ignore-certificate-errors-spki-list="), "\(readme)")
        #expect(try String(contentsOf: site.appendingPathComponent("Sources/site/main.swift"), encoding: .utf8).contains("import SwiftletTLS"))

        let built = try Harness.run(Harness.cli, ["build", "site"], timeout: 300, environment: environment, in: folder)
        #expect(built.status == 0, "stderr: \(built.stderr)")
        #expect(built.stderr.contains("Embedding tls/ (2 files, not served)"), "stderr: \(built.stderr)")

        let port = 20000 + Int(getpid() % 5000) * 2 + (target == .spt ? 1 : 0)
        var page: Harness.Outcome?
        var api: Harness.Outcome?
        var secret: Harness.Outcome?
        var untrusted: Harness.Outcome?
        let image = site.appendingPathComponent(".build/swiftlet/site.swiftlet")
        let curl = URL(fileURLWithPath: "/usr/bin/curl")
        let https = ["-sS", "--max-time", "5", "--cacert", authority.path]
        let guest = try Harness.run(Harness.cli, ["run", "--target", target.rawValue, "-p", "\(port):443", image.path],
                                    timeout: 300, environment: environment) { process in
            // Retry until the guest has its DHCP lease and listens, bounded in time: the first
            // `swiftlet run` in a checkout may build the release tenders before it boots.
            let deadline = Date().addingTimeInterval(240)
            while Date() < deadline {
                page = try? Harness.run(curl, https + ["https://localhost:\(port)/"], timeout: 10)
                if page?.stdout.contains("<title>site</title>") == true { break }
                Thread.sleep(forTimeInterval: 0.25)
            }
            api = try? Harness.run(curl, https + ["https://localhost:\(port)/api/hello?name=TLS"], timeout: 10)
            secret = try? Harness.run(curl, https + ["-o", "/dev/null", "-w", "%{http_code}", "https://localhost:\(port)/tls/key.pem"], timeout: 10)
            untrusted = try? Harness.run(curl, ["-sS", "--max-time", "5", "https://localhost:\(port)/"], timeout: 10)
            kill(process.processIdentifier, SIGTERM)
        }
        #expect(page?.stdout.contains("<title>site</title>") == true,
                "curl: \(page?.stderr ?? "never ran")\nguest: \(guest.stdout.suffix(2000)) \(guest.stderr.suffix(2000))")
        #expect(guest.stdout.contains("site: serving on") && guest.stdout.contains("port 80 and 443 (HTTPS, ECDSA P-256)"), "\(guest.stdout)")
        #expect(api?.stdout.contains(#""message":"Hello, TLS!""#) == true, "\(api?.stdout ?? "") \(api?.stderr ?? "")")
        #expect(secret?.stdout == "404", "the key must never be served: \(secret?.stdout ?? "")")
        #expect(untrusted?.status != 0 && untrusted?.stdout.isEmpty == true,
                "without the development CA, curl must refuse the certificate: \(untrusted?.stderr ?? "")")
        #expect(guest.stdout.contains("tls: ") && guest.stdout.contains("sni=localhost alpn=http/1.1"), "\(guest.stdout)")
    }

    @Test func tlsIsRefusedForATemplateWithoutAServer() throws {
        let folder = Harness.scratch.appendingPathComponent("tls-hello-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for arguments in [["new", "greeter", "--tls"], ["new", "greeter", "--template", "hello", "--tls"]] {
            let refused = try swiftlet(arguments, in: folder)
            #expect(refused.status != 0)
            #expect(refused.stderr.contains("--tls adds HTTPS to a server, and the hello template has none: use --template web --tls"),
                    "stderr: \(refused.stderr)")
            #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("greeter").path), "nothing is created")
        }
    }

    @Test func strippedBuildIsSmaller() throws {
        let folder = Harness.scratch.appendingPathComponent("strip-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let home = try SwiftletHome.locate()
        let hello = home.root.appendingPathComponent("examples/hello").path
        let full = folder.appendingPathComponent("full.swiftlet").path
        let stripped = folder.appendingPathComponent("stripped.swiftlet").path
        #expect(try swiftlet(["build", hello, "-o", full], in: folder).status == 0)
        #expect(try swiftlet(["build", hello, "--strip", "-o", stripped], in: folder).status == 0)
        let fullSize = try #require(FileManager.default.attributesOfItem(atPath: full)[.size] as? Int)
        let strippedSize = try #require(FileManager.default.attributesOfItem(atPath: stripped)[.size] as? Int)
        #expect(strippedSize < fullSize)
        let ran = try Harness.run(Harness.tender(.spt), [stripped])
        #expect(ran.status == 0)
        #expect(ran.stdout.contains("Hello from Swiftlet!"))
    }

    @Test func errorsSayWhatToDoNext() throws {
        let folder = Harness.scratch
        let missing = try swiftlet(["run", "no-such-app"], in: folder)
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("swiftlet new"), "stderr: \(missing.stderr)")

        let empty = folder.appendingPathComponent("empty-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        let nothing = try swiftlet(["build", empty.path], in: folder)
        #expect(nothing.status != 0)
        #expect(nothing.stderr.contains("no Swift sources"), "stderr: \(nothing.stderr)")

        let notImage = try swiftlet(["inspect", "/bin/true"], in: folder)
        #expect(notImage.status != 0)
        #expect(notImage.stderr.contains("not a Swiftlet image"), "stderr: \(notImage.stderr)")

        // Before building an application (the full CLI checks), and for an image (its tender refuses).
        let application = try SwiftletHome.locate().root.appendingPathComponent("examples/hello").path
        for target in [application, try Harness.example("hello").path] {
            let badMemory = try swiftlet(["run", "--mem", "lots", target], in: folder)
            #expect(badMemory.status != 0)
            #expect(badMemory.stderr.contains("64M"), "stderr: \(badMemory.stderr)")
            #expect(!badMemory.stderr.contains("Compiling"), "stderr: \(badMemory.stderr)")
        }
    }
}
