// `swiftlet new NAME`: a package that `swiftlet build NAME` turns into an image as is.
import ArgumentParser
import Foundation
import SwiftletBuild

struct New: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create a new Swiftlet application.")

    @Argument(help: "Name of the application (also its folder).")
    var name: String

    func run() throws {
        let root = URL(fileURLWithPath: name)
        let module = URL(fileURLWithPath: name).lastPathComponent
        guard !FileManager.default.fileExists(atPath: root.path) else {
            throw UserError("\(name) already exists; choose another name or remove it")
        }
        let sources = root.appendingPathComponent("Sources/\(module)")
        try FileManager.default.createDirectory(at: sources, withIntermediateDirectories: true)
        try Templates.package(name: module).write(to: root.appendingPathComponent("Package.swift"), atomically: true, encoding: .utf8)
        try Templates.main(name: module).write(to: sources.appendingPathComponent("main.swift"), atomically: true, encoding: .utf8)
        try ".build/\n".write(to: root.appendingPathComponent(".gitignore"), atomically: true, encoding: .utf8)
        say("created \(name); run it with `swiftlet run \(name)`")
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
}
