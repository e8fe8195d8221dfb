// `swiftlet new NAME [--template hello|web] [--tls]`: a package that `swiftlet build NAME`
// turns into an image as is. With --tls the web template also serves HTTPS on 443, with a
// development certificate made by `swiftlet cert`'s code in NAME/tls (embedded, never served).
import ArgumentParser
import Foundation
import SwiftletBuild

struct New: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create a new Swiftlet application.")

    enum Template: String, ExpressibleByArgument, CaseIterable {
        case hello
        case web

        /// Whether the template runs an HTTP server that HTTPS can be added to.
        var serves: Bool { self == .web }
    }

    @Argument(help: "Name of the application (also its folder).")
    var name: String

    @Option(help: "What to start from: hello (prints a greeting) or web (an HTTP server with a page, its assets and a JSON endpoint).")
    var template: Template = .hello

    @Flag(help: "Serve HTTPS on 443 too (web template): a development certificate goes in NAME/tls, signed by the development CA of `swiftlet cert`.")
    var tls = false

    func validate() throws {
        let module = name.isEmpty ? "" : URL(fileURLWithPath: name).lastPathComponent
        if let problem = Application.moduleNameProblem(module) {
            throw ValidationError("\(problem). The name is the folder's and the Swift module's.")
        }
        if tls && !template.serves {
            throw ValidationError("--tls adds HTTPS to a server, and the \(template.rawValue) template has none: use --template web --tls")
        }
    }

    func run() throws {
        let root = URL(fileURLWithPath: name)
        let module = URL(fileURLWithPath: name).lastPathComponent
        guard !FileManager.default.fileExists(atPath: root.path) else {
            throw UserError("\(name) already exists; choose another name or remove it")
        }
        let sources = root.appendingPathComponent("Sources/\(module)")
        try FileManager.default.createDirectory(at: sources, withIntermediateDirectories: true)
        try Templates.package(name: module).write(to: root.appendingPathComponent("Package.swift"), atomically: true, encoding: .utf8)
        try ".build/\n".write(to: root.appendingPathComponent(".gitignore"), atomically: true, encoding: .utf8)
        switch template {
        case .hello:
            try Templates.main(name: module).write(to: sources.appendingPathComponent("main.swift"), atomically: true, encoding: .utf8)
            say("created \(name); run it with `swiftlet run \(name)`")
        case .web:
            try Templates.webMain(name: module, tls: tls).write(to: sources.appendingPathComponent("main.swift"), atomically: true, encoding: .utf8)
            let assets = root.appendingPathComponent("assets")
            try FileManager.default.createDirectory(at: assets, withIntermediateDirectories: true)
            try Templates.webIndex(name: module).write(to: assets.appendingPathComponent("index.html"), atomically: true, encoding: .utf8)
            try Templates.webStyle.write(to: assets.appendingPathComponent("style.css"), atomically: true, encoding: .utf8)
            guard tls else {
                say("created \(name); run it with `swiftlet run \(name) -p 8080:80` and open http://127.0.0.1:8080/")
                return
            }
            // A private key never goes into a repository.
            try ".build/\ntls/key.pem\n".write(to: root.appendingPathComponent(".gitignore"), atomically: true, encoding: .utf8)
            let certificates = try Cert.issue(for: root)
            try Templates.webTLSReadme(name: module, authority: certificates.certificateAuthority.path,
                                       spki: try certificates.authoritySPKIHash())
                .write(to: root.appendingPathComponent("README.md"), atomically: true, encoding: .utf8)
            say("created \(name); run it with `swiftlet run \(name) -p 8080:80 -p 8443:443` and open https://localhost:8443/ (\(name)/README.md says how to trust the development CA)")
        }
    }
}

enum Templates {
    static func package(name: String) -> String {
        let home = (try? SwiftletHome.locate().root.path) ?? "../swiftlet"
        return """
        // swift-tools-version: 6.0
        // A Swiftlet application. `swiftlet build` compiles Sources/\(name) into a unikernel image;
        // this manifest also lets editors (and `swift build`, on the host) see the Swiftlet module.
        import PackageDescription

        let package = Package(
            name: "\(name)",
            dependencies: [.package(path: "\(home)")],
            targets: [
                .executableTarget(name: "\(name)", dependencies: [.product(name: "Swiftlet", package: "Swiftlet")]),
            ]
        )

        """
    }

    static func main(name: String) -> String {
        """
        // \(name): a Swiftlet unikernel. Build and boot it with `swiftlet run \(name)`.
        import Swiftlet

        let arguments = CommandLine.arguments
        print("Hello from \(name)! It is \\(SystemClock.now.iso8601).")
        print("Arguments: \\(arguments.dropFirst().joined(separator: " "))")

        """
    }

    static func webMain(name: String, tls: Bool = false) -> String {
        let header = tls ? """
        // \(name): a Swiftlet web server over HTTP (port 80) and HTTPS (port 443). Files in assets/
        // are embedded into the image at build time; the routes below answer the rest. tls/ holds
        // the certificate and key (embedded too, never served; README.md says how to trust them).
        // Run: swiftlet run \(name) -p 8080:80 -p 8443:443 (add --disk \(name).img to keep its visit count)
        import Swiftlet
        import SwiftletTLS
        """ : """
        // \(name): a Swiftlet web server. Files in assets/ are embedded into the image at build
        // time; the routes below answer the rest. Run: swiftlet run \(name) -p 8080:80
        // (add --disk \(name).img to keep its visit count across restarts)
        import Swiftlet
        """
        let serving = tls ? """
        let http = try! HTTPServer(stack: network, port: 80, router: router)
        let certificate: TLSConfiguration
        do throws(TLSError) {
            certificate = try TLSConfiguration.embedded()   // tls/cert.pem and tls/key.pem
        } catch {
            print("\(name): no HTTPS: \\(error.message)")
            exit(1)
        }
        let https = try! HTTPServer(stack: network, port: 443, router: router, tls: certificate)
        print("\(name): serving on \\(network.address!) port 80 and 443 (HTTPS, \\(certificate.keyDescription))")
        HTTPServer.run([http, https])
        """ : """
        let server = try! HTTPServer(stack: network, port: 80, router: router)
        print("\(name): serving on \\(network.address!) port 80")
        server.run()
        """
        return """
        \(header)

        // State that survives restarts: a crash-safe key-value store on the disk given with
        // --disk FILE (created on first use). Without one, the count starts again at each boot.
        let store: KeyValueStore? = openStore()

        func openStore() -> KeyValueStore? {
            guard let disk = BlockDevice.first else { return nil }
            do {
                let store = try KeyValueStore(device: disk)
                for problem in store.recovery.problems { print("\(name): store damage: \\(problem)") }
                return store
            } catch {
                print("\(name): no store on \\(disk.name): \\(error.description)")
                return nil
            }
        }

        var visits = store?.get("visits").flatMap { Int(String(decoding: $0, as: UTF8.self)) } ?? 0
        print("\(name): \\(visits) visits so far" + (store == nil ? " (no --disk: not kept across restarts)" : ""))

        let network = Network.bringUp(sendBuffer: 16 * 1024, receiveBuffer: 8 * 1024)

        let router = Router()

        // Counts a visit; answers once the new count is durable (commit() returns after the flush).
        router.post("/api/visits") { _ throws(HTTPError) in
            visits += 1
            if let store {
                do throws(StoreError) {
                    try store.put("visits", "\\(visits)")
                    try store.commit()
                } catch {
                    throw HTTPError(.serviceUnavailable, error.description)
                }
            }
            var count = JSONObject()
            count.add("visits", visits)
            count.add("persisted", store != nil)
            return .json(count)
        }

        router.get("/api/hello") { request in
            var greeting = JSONObject()
            greeting.add("message", "Hello, \\(request.query("name") ?? "world")!")
            greeting.add("uptime_ms", Int(SystemClock.uptimeNanoseconds / 1_000_000))
            return .json(greeting)
        }

        // A handler that can fail says so with `throws(HTTPError)`; the client gets the status.
        router.get("/api/square/:number") { request throws(HTTPError) in
            guard let number = request.parameters.int("number"), abs(number) < 1 << 31 else {
                throw HTTPError(.badRequest, "not a number")
            }
            return .text("\\(number * number)\\n")
        }

        router.serve(StaticFiles(.embedded))

        \(serving)

        """
    }

    /// The --tls project's README: how to run it and how to trust its development CA.
    static func webTLSReadme(name: String, authority: String, spki: String) -> String {
        """
        # \(name)

        A Swiftlet web server over HTTP and HTTPS, made by `swiftlet new \(name) --template web --tls`.

        ```sh
        swiftlet run \(name) -p 8080:80 -p 8443:443
        curl --cacert \(authority) https://localhost:8443/
        ```

        ## The certificate

        `tls/cert.pem` (the server's certificate, then the CA's) and `tls/key.pem` are a
        development pair for `localhost` and `127.0.0.1`, valid 90 days, signed by the development
        CA of `swiftlet cert` (`\(authority)`, made once per user). `swiftlet build` embeds tls/
        beside the assets, in a table of its own that is never served. Make a new pair (other
        names, more days, RSA) with `swiftlet cert \(name) --name HOST --days N --key rsa`; for
        production, put your real chain and key in tls/ instead. `tls/key.pem` is a secret:
        .gitignore keeps it out of the repository.

        ## Trusting the development CA

        Trust it on your own machine only, never in production:

        - curl: `curl --cacert \(authority) https://localhost:8443/`
        - Python: `ssl.create_default_context(cafile="\(authority)")`
        - Chromium or Chrome, for this CA only:
          `chromium --ignore-certificate-errors-spki-list=\(spki) https://localhost:8443/`
        - Chromium, Chrome and Firefox on Linux (their NSS store; `apt-get install libnss3-tools`):
          `certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n "Swiftlet development CA" -i \(authority)`
        - The whole system (Debian, Ubuntu):
          `cp \(authority) /usr/local/share/ca-certificates/swiftlet-dev-ca.crt && update-ca-certificates`;
          undo with `rm` of that file and `update-ca-certificates --fresh`.

        """
    }

    static func webIndex(name: String) -> String {
        """
        <!doctype html>
        <html lang="en">
        <head>
          <meta charset="utf-8">
          <title>\(name)</title>
          <link rel="stylesheet" href="/style.css">
        </head>
        <body>
          <h1>\(name)</h1>
          <p id="greeting">Served by a Swift unikernel.</p>
          <p id="visits"></p>
          <script>
            fetch("/api/hello?name=browser").then(r => r.json())
              .then(j => document.getElementById("greeting").textContent = j.message);
            fetch("/api/visits", {method: "POST"}).then(r => r.json())
              .then(j => document.getElementById("visits").textContent = `Visit ${j.visits}` + (j.persisted ? "" : " (not kept: run with --disk)"));
          </script>
        </body>
        </html>

        """
    }

    static let webStyle = """
        body { font: 18px/1.5 system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; padding: 0 1rem; }
        h1 { color: #f05138; }

        """
}
