// `swiftlet run IMAGE|PATH [--target hvt|spt] [--mem SIZE] [-- ARGS...]`
import ArgumentParser
import Foundation
import SwiftletBuild
import TenderCore

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run an image (or build and run an application) in a tender.",
        discussion: "Without --target, hvt is used when /dev/kvm is usable, spt otherwise.")

    @Argument(help: "An image built by `swiftlet build`, or an application to build first.")
    var image: String

    @Option(help: "hvt (KVM) or spt (seccomp process).")
    var target: Target?

    @Option(help: "Guest memory, e.g. 64M or 1G.")
    var mem: String = "32M"

    @Argument(parsing: .postTerminator, help: "Arguments for the guest, after --.")
    var arguments: [String] = []

    func run() throws {
        do { _ = try TenderOptions.parseMemorySize(mem) } catch { throw UserError("\(error)") }
        let chosen = target ?? Self.defaultTarget()
        let imagePath = try Self.isImage(image) ? image
            : Build.build(path: image, targets: Target.allCases, output: nil).image.path
        let tender = try Self.tender(for: chosen)
        let argv = [tender, "--mem", mem, imagePath, "--"] + arguments
        let cArguments = argv.map { strdup($0) } + [nil]
        execv(tender, cArguments)
        throw UserError("cannot start \(tender): \(String(cString: strerror(errno)))")
    }

    static func defaultTarget() -> Target {
        if access("/dev/kvm", R_OK | W_OK) == 0 { return .hvt }
        say("/dev/kvm is not usable here; running on spt (a seccomp-confined process) instead")
        return .spt
    }

    /// An ELF file is an image; anything else is an application to build.
    static func isImage(_ path: String) throws -> Bool {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw UserError("\(path) does not exist; build an image with `swiftlet build` or create an application with `swiftlet new NAME`")
        }
        if isDirectory.boolValue { return false }
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        return handle.readData(ofLength: 4) == Data([0x7F, 0x45, 0x4C, 0x46])
    }

    /// The tender binary: next to this executable, else on PATH; in a Swiftlet checkout where
    /// `swift run swiftlet` built only the CLI, build the tender the same way first.
    static func tender(for target: Target) throws -> String {
        let name = "swiftlet-\(target.rawValue)"
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let productsFolder = URL(fileURLWithPath: executable).deletingLastPathComponent()
        let beside = productsFolder.appendingPathComponent(name).path
        let onPath = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map { "\($0)/\(name)" }
        if let found = ([beside] + onPath).first(where: { FileManager.default.isExecutableFile(atPath: $0) }) {
            return found
        }
        if let home = try? SwiftletHome.locate(), productsFolder.path.hasPrefix(home.root.appendingPathComponent(".build").path) {
            say("building the \(target.rawValue) tender (first run)")
            let configuration = productsFolder.lastPathComponent == "release" ? "release" : "debug"
            let build = Process()
            build.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            build.arguments = ["swift", "build", "-c", configuration, "--product", name, "--package-path", home.root.path]
            build.standardOutput = FileHandle.standardError
            try build.run()
            build.waitUntilExit()
            if build.terminationStatus == 0, FileManager.default.isExecutableFile(atPath: beside) { return beside }
        }
        throw UserError("cannot find the \(name) tender next to swiftlet or on PATH; build it with `swift build` in the Swiftlet checkout")
    }
}

extension Target: ExpressibleByArgument {}
