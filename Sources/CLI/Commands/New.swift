// `swiftlet new NAME [--template hello|web]`: a package that `swiftlet build NAME` turns into
// an image as is.
import ArgumentParser
import Foundation
import SwiftletBuild

struct New: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create a new Swiftlet application.")

    enum Template: String, ExpressibleByArgument, CaseIterable {
        case hello
        case web
    }

    @Argument(help: "Name of the application (also its folder).")
    var name: String

    @Option(help: "What to start from: hello (prints a greeting) or web (an HTTP server with a page, its assets and a JSON endpoint).")
    var template: Template = .hello

    func validate() throws {
        let module = name.isEmpty ? "" : URL(fileURLWithPath: name).lastPathComponent
        if let problem = Application.moduleNameProblem(module) {
            throw ValidationError("\(problem). The name is the folder's and the Swift module's.")
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
            try Templates.webMain(name: module).write(to: sources.appendingPathComponent("main.swift"), atomically: true, encoding: .utf8)
            let assets = root.appendingPathComponent("assets")
            try FileManager.default.createDirectory(at: assets, withIntermediateDirectories: true)
            try Templates.webIndex(name: module).write(to: assets.appendingPathComponent("index.html"), atomically: true, encoding: .utf8)
            try Templates.webStyle.write(to: assets.appendingPathComponent("style.css"), atomically: true, encoding: .utf8)
            say("created \(name); run it with `swiftlet run \(name) -p 8080:80` and open http://127.0.0.1:8080/")
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

    static func webMain(name: String) -> String {
        """
        // \(name): a Swiftlet web server. Files in assets/ are embedded into the image at build
        // time; the routes below answer the rest. Run: swiftlet run \(name) -p 8080:80
        import Swiftlet

        let network = Network.bringUp(sendBuffer: 16 * 1024, receiveBuffer: 8 * 1024)

        let router = Router()

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

        let server = try! HTTPServer(stack: network, port: 80, router: router)
        print("\(name): serving on \\(network.address!) port 80")
        server.run()

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
          <script>
            fetch("/api/hello?name=browser").then(r => r.json())
              .then(j => document.getElementById("greeting").textContent = j.message);
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
