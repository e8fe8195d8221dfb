// Where swiftlet's executables are, and building the missing ones on first use in a checkout
// (and the stale release tenders after its sources changed).
//
//   checkout:   <root>/.build/<config>/{swiftlet, swiftlet-cli}, tenders from <root>/.build/release
//   installed:  PREFIX/bin/swiftlet, PREFIX/libexec/swiftlet/{swiftlet-cli, swiftlet-hvt, swiftlet-spt,
//               swiftlet-hvt-debug, swiftlet-spt-debug}
//   SWIFTLET_TENDERS=DIR: the tenders in DIR (the test suite's own build: SwiftPM's lock keeps
//               `swift test` from building release ones)
//
// Tenders are always release builds (an unoptimized one serves half the requests per second);
// the `-debug` tenders are release builds too, only with the GDB server and core files (Tender).
import CRunShim
import SwiftletABI

public struct Installation: Sendable {
    /// The folder holding `swiftlet-cli` (and, when installed, the tenders).
    public let toolsFolder: String
    /// The Swiftlet package root, when running from its .build folder.
    public let checkout: String?

    public static let fullCLIName = "swiftlet-cli"
    /// Set by the full CLI when it hands a built image back to the launcher (which then never
    /// hands `run` to the full CLI again), and by the launcher when it hands a virtio run, its
    /// network attached, to the full CLI (which then never hands it back).
    public static let handBackVariable = "SWIFTLET_HANDED_BACK"

    public init(toolsFolder: String, checkout: String?) {
        self.toolsFolder = toolsFolder
        self.checkout = checkout
    }

    /// Worked out from where this executable (the launcher or the full CLI) lives.
    public static func current() -> Installation {
        let folder = Host.folder(of: Host.executablePath)
        let libexec = "\(Host.folder(of: folder))/libexec/swiftlet"
        let tools = Host.kind(of: "\(folder)/\(fullCLIName)") == .missing && Host.isExecutable("\(libexec)/\(fullCLIName)")
            ? libexec : folder
        var checkout: String?
        let components = folder.split(separator: "/", omittingEmptySubsequences: false)
        if let build = components.lastIndex(of: ".build") {
            let root = components[..<build].joined(separator: "/")
            if Host.kind(of: "\(root)/Package.swift") == .regular { checkout = root }
        }
        return Installation(toolsFolder: tools, checkout: checkout)
    }

    public var fullCLI: String { "\(toolsFolder)/\(Self.fullCLIName)" }
    public var tendersFolder: String {
        Host.environment("SWIFTLET_TENDERS") ?? checkout.map { "\($0)/.build/release" } ?? toolsFolder
    }
    public func tender(_ tender: Tender) -> String { "\(tendersFolder)/\(tender.name)" }

    /// What to say when an installation lacks what a command needs and has no checkout to build
    /// it in. An installation holding only lean tenders (as a packaged OCI image does) is not a
    /// broken one: it was made without the GDB server and core writer.
    func missingRefusal(needCLI: Bool, tenders: [Tender]) -> Refusal {
        let absent = needCLI ? [fullCLI] : tenders.filter { !Host.isExecutable(tender($0)) }.map { tender($0) }
        let leanOnly = !needCLI && tenders.allSatisfy { $0.debug || Host.isExecutable(tender($0)) }
            && tenders.contains { $0.debug && Host.isExecutable(tender(Tender($0.target))) }
        if leanOnly {
            return Refusal("""
                --gdb and --core need the debug tender (\(absent.joined(separator: " and "))), and this installation holds only \
                the lean one, as a packaged OCI image does; debug the image where swiftlet is installed in full \
                (swift run swiftlet install in the Swiftlet checkout)
                """)
        }
        return Refusal("\(absent.joined(separator: " and ")) is missing; reinstall swiftlet (swift run swiftlet install in the Swiftlet checkout)")
    }

    /// Builds what is missing of the full CLI and the release `tenders` (a checkout only), with
    /// one progress line; the toolchain's output goes to a log unless `verbose`. In a checkout it
    /// also rebuilds (incrementally) the lean tenders and those asked for that are stale, saying
    /// why in that line; a debug tender is built the first time one is asked for. An
    /// installation may hold only the tenders it needs (a packaged OCI image holds one).
    public func ensure(cli: Bool, tenders: [Tender], verbose: Bool) throws(Refusal) {
        let needCLI = cli && !Host.isExecutable(fullCLI)
        let missing = !tenders.allSatisfy { Host.isExecutable(tender($0)) }
        let stale = missing ? nil : tenders.lazy.compactMap { staleness(of: $0) }.first
        guard needCLI || missing || stale != nil else { return }
        guard let checkout, Host.environment("SWIFTLET_TENDERS") == nil || !missing else {
            throw missingRefusal(needCLI: needCLI, tenders: tenders)
        }
        let configuration = toolsFolder.hasSuffix("/release") ? "release" : "debug"
        var builds: [(configuration: String, product: String)] = []
        if needCLI { builds.append((configuration, Self.fullCLIName)) }
        let candidates = Tender.lean + tenders.filter { !Tender.lean.contains($0) }
        let rebuilt = missing || stale != nil
            ? candidates.filter { !Host.isExecutable(tender($0)) || staleness(of: $0) != nil } : []
        builds += rebuilt.map { ("release", $0.name) }
        if !rebuilt.isEmpty { try Prerequisites.musl() }
        let log = verbose ? nil : "\(checkout)/.build/swiftlet-first-use.log"
        let logNote = log.map { "log: \($0)" }
        if needCLI || missing {
            // A checkout that has run images before builds a debug tender on the first --gdb or --core.
            let absent = rebuilt.filter { !Host.isExecutable(tender($0)) }
            let tenders = absent.allSatisfy { $0.debug }
                ? "the debug tender \(absent.map { $0.name }.joined(separator: " and "))" : "the release tenders"
            let what = [needCLI ? "the swiftlet CLI" : nil, missing ? tenders : nil].compactMap { $0 }
            Console.say("first use: building \(what.joined(separator: " and ")) (takes a few minutes\(logNote.map { "; \($0)" } ?? ""))")
        } else if let stale {
            Console.say("rebuilding the release tenders: \(stale)\(logNote.map { " (\($0))" } ?? "")")
        }
        let swift = Host.findProgram("swift") ?? "/opt/swift/usr/bin/swift"
        for build in builds {
            let status = Host.run(swift, ["build", "--package-path", checkout, "-c", build.configuration, "--product", build.product], log: log).status
            guard status == 0 else {
                let excerpt = log.map { ":\n" + Host.tail(ofFile: $0, lines: 15) } ?? ""
                throw Refusal("building \(build.product) failed (swift build exit status \(status))\(excerpt)")
            }
        }
        // An up-to-date product is not relinked: its time is moved on so that the sources that
        // triggered this build (a touched Package.swift, say) do not trigger it on every run.
        for target in rebuilt { Host.touch(tender(target)) }
        if let still = tenders.lazy.compactMap({ staleness(of: $0) }).first {
            throw Refusal("rebuilt the release tenders, but \(still); see \(log ?? "the output above")")
        }
    }

    /// The checkout's paths the tenders are built from.
    static let tenderSources = ["Package.swift", "Sources/ABI", "Sources/Tender"]

    /// Why the checkout's release tender for `target` must be rebuilt before it runs, or nil: it
    /// speaks another ABI than this swiftlet (after a `git pull`, say), or a tender source is
    /// newer than it. Only a checkout's own tenders are judged; SWIFTLET_TENDERS and installed
    /// tenders are used as they are. Every `swiftlet run` asks, so it stays cheap: a note read
    /// from the tender's first pages and a stat per source file (in C), never a `swift build`.
    func staleness(of target: Tender) -> String? {
        guard let checkout, Host.environment("SWIFTLET_TENDERS") == nil else { return nil }
        let path = tender(target)
        guard let built = Host.modificationTime(of: path) else { return "\(target.name) is missing" }
        let version = ReadOnlyFile(path).flatMap { SwiftletNote($0, type: SWIFTLET_NOTE_TENDER)?.word(0) }
        guard version == SWIFTLET_ABI_VERSION else {
            let speaks = version.map { "speaks ABI \($0)" } ?? "carries no ABI note (an older build)"
            return "\(target.name) \(speaks) and this swiftlet speaks ABI \(SWIFTLET_ABI_VERSION)"
        }
        let changed = Self.tenderSources.first { run_shim_newest_modification("\(checkout)/\($0)") > built }
        return changed.map { "\($0) changed after \(target.name) was built" }
    }
}
