// `swiftlet install [--prefix DIR]`: release builds of the launcher, the full CLI and the
// tenders (lean and debug), the guest library sources every image is compiled from, and shell completions,
// so that `swiftlet new/build/run` work from any folder:
//
//   PREFIX/bin/swiftlet                                    the launcher (static)
//   PREFIX/libexec/swiftlet/{swiftlet-cli,swiftlet-hvt,swiftlet-spt,swiftlet-hvt-debug,swiftlet-spt-debug}
//   PREFIX/share/swiftlet/{Package.swift,Sources/ABI,Sources/Guest,Sources/GuestTLS}
//   PREFIX/share/{bash-completion/completions/swiftlet,zsh/site-functions/_swiftlet,fish/vendor_completions.d/swiftlet.fish}
import ArgumentParser
import Foundation
import CRunShim
import SwiftletBuild

struct Install: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Install swiftlet under a prefix (default ~/.local), from this Swiftlet checkout.")

    @Option(help: "Where to install: PREFIX/bin/swiftlet, PREFIX/libexec/swiftlet, PREFIX/share/swiftlet.")
    var prefix: String = "~/.local"

    @Option(help: ArgumentHelp("Install these already-built products instead of building release ones.", visibility: .hidden))
    var products: String?

    /// The lean tenders, then their debug twins (--gdb, --core).
    static let tenders = Target.tenders.map { "swiftlet-\($0.rawValue)" } + Target.tenders.map { "swiftlet-\($0.rawValue)-debug" }
    static let executables = ["swiftlet", "swiftlet-cli"] + tenders

    func run() throws {
        let home = try SwiftletHome.locate()
        guard FileManager.default.fileExists(atPath: home.root.appendingPathComponent("Sources/CLI").path) else {
            throw UserError("install works from a Swiftlet checkout; \(home.root.path) is an installed copy")
        }
        let prefix = URL(fileURLWithPath: (self.prefix as NSString).expandingTildeInPath).standardizedFileURL
        let built = try products.map { URL(fileURLWithPath: $0) } ?? buildRelease(home)

        let bin = prefix.appendingPathComponent("bin")
        let libexec = prefix.appendingPathComponent("libexec/swiftlet")
        for executable in Self.executables {
            let folder = executable == "swiftlet" ? bin : libexec
            try replace(folder.appendingPathComponent(executable), with: built.appendingPathComponent(executable))
        }
        let share = prefix.appendingPathComponent("share/swiftlet")
        for sources in ["Sources/ABI", "Sources/Guest", "Sources/GuestTLS"] {
            try replace(share.appendingPathComponent(sources), with: home.root.appendingPathComponent(sources))
        }
        try write(Self.guestManifest, to: share.appendingPathComponent("Package.swift"))
        let completions = [
            (CompletionShell.bash, "bash-completion/completions/swiftlet"),
            (CompletionShell.zsh, "zsh/site-functions/_swiftlet"),
            (CompletionShell.fish, "fish/vendor_completions.d/swiftlet.fish"),
        ]
        for (shell, path) in completions {
            try write(SwiftletCommand.completionScript(for: shell), to: prefix.appendingPathComponent("share/\(path)"))
        }
        say("installed swiftlet \(SWIFTLET_VERSION) into \(prefix.path)")
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":")
        if !path.contains(where: { URL(fileURLWithPath: String($0)).standardizedFileURL == bin }) {
            say("\(bin.path) is not on PATH; add it: export PATH=\"\(bin.path):$PATH\"")
        }
    }

    /// Builds release products (one progress line; the toolchain's output goes to a log).
    func buildRelease(_ home: SwiftletHome) throws -> URL {
        let log = home.root.appendingPathComponent(".build/swiftlet-install.log")
        say("building release binaries (a few minutes; log: \(log.path))")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let output = try FileHandle(forWritingTo: log)
        defer { try? output.close() }
        for product in Self.executables {
            let build = Process()
            build.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            build.arguments = ["swift", "build", "--package-path", home.root.path, "-c", "release", "--product", product]
            build.standardOutput = output
            build.standardError = output
            try build.run()
            build.waitUntilExit()
            guard build.terminationStatus == 0 else {
                let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
                throw UserError("building \(product) failed:\n\(text.split(separator: "\n").suffix(15).joined(separator: "\n"))")
            }
        }
        return home.root.appendingPathComponent(".build/release")
    }

    /// Puts a copy of `source` at `destination` (file or folder), replacing what was there.
    func replace(_ destination: URL, with source: URL) throws {
        let manager = FileManager.default
        try manager.createDirectory(at: destination.deletingLastPathComponent(), withIntermediateDirectories: true)
        // Copy beside, then swap in (a running swiftlet keeps its old, unlinked file).
        let staging = destination.deletingLastPathComponent().appendingPathComponent(".\(destination.lastPathComponent).new")
        try? manager.removeItem(at: staging)
        try manager.copyItem(at: source.resolvingSymlinksInPath(), to: staging)
        try? manager.removeItem(at: destination)
        try manager.moveItem(at: staging, to: destination)
    }

    func write(_ text: String, to url: URL) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try text.write(to: url, atomically: true, encoding: .utf8)
    }

    /// The installed guest library as a package of its own: `swiftlet build` compiles its sources
    /// into every image, and applications made by `swiftlet new` depend on it (for editors).
    static let guestManifest = """
        // swift-tools-version: 6.0
        // Swiftlet's guest library, installed by `swiftlet install`.
        import PackageDescription

        let package = Package(
            name: "Swiftlet",
            products: [.library(name: "Swiftlet", targets: ["Swiftlet"])],
            targets: [
                .target(name: "SwiftletABI", path: "Sources/ABI"),
                .target(name: "Swiftlet", dependencies: ["SwiftletABI"], path: "Sources/Guest", exclude: ["Freestanding"]),
            ]
        )

        """
}
