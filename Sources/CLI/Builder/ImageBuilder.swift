// Builds an application into a Swiftlet image: the guest library OS (compiled once and
// cached), the application module, the C shims and the static assets (AssetBundle.swift),
// linked at the ABI's fixed address.
import Foundation
import SwiftletABI
import TenderCore

/// The launcher (Sources/CLI/Run/Target.swift, Embedded Swift) has its own copy of this enum.
public enum Target: String, CaseIterable, Sendable {
    case hvt, spt
    /// A PVH kernel for QEMU and Firecracker, with its own ring-0 shim (Freestanding/Virtio).
    case virtio

    /// The SWIFTLET_TARGET_* bit stamped into the image note.
    public var noteBit: UInt32 {
        switch self {
        case .hvt: SWIFTLET_TARGET_HVT
        case .spt: SWIFTLET_TARGET_SPT
        case .virtio: SWIFTLET_TARGET_VIRTIO
        }
    }

    /// The targets an image is built for when none is named: the two tenders, which share one
    /// image (a virtio image carries the PVH shim and physical load addresses; ask for it).
    public static let tenders: [Target] = [.hvt, .spt]

    /// What a container running this target needs from its runtime (`swiftlet package`'s
    /// `org.swiftlet.needs` label, `swiftlet inspect`).
    public var containerNeeds: String {
        switch self {
        case .spt: "nothing beyond the default seccomp profile"
        case .hvt: "--device /dev/kvm"
        case .virtio: "--device /dev/kvm for speed (QEMU in the container falls back to TCG without it)"
        }
    }
}

public struct ImageBuilder: Sendable {
    public let toolchain: Toolchain
    public let home: SwiftletHome
    public var log: @Sendable (String) -> Void

    public init(toolchain: Toolchain, home: SwiftletHome, log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.toolchain = toolchain
        self.home = home
        self.log = log
    }

    // -g: images carry DWARF (file:line, frames, locals for gdb) unless built with --strip;
    // DWARF 4 and no clang-module breadcrumbs, which gdb cannot resolve (it warned about
    // every .pcm reference); DWARF names rather than mangled ones for gdb come with codegenFlags.
    // The debug sections are not loaded: they cost file size only.
    static let swiftFlags = [
        "-enable-experimental-feature", "Embedded", "-enable-experimental-feature", "Extern",
        "-target", Toolchain.guestTriple, "-wmo", "-Osize",
        "-g", "-dwarf-version=4", "-Xfrontend", "-no-clang-module-breadcrumbs",
        "-Xcc", "-ffreestanding", "-Xcc", "-fno-omit-frame-pointer",
        "-Xfrontend", "-disable-stack-protector",
    ] + nonAtomicReferenceCounting + fewerInlinedCalls
    /// At -Osize Swift's inliner still credits every call with the saving of the call itself (20
    /// in its cost model, divided by this factor, 2 by default), so callees were copied into
    /// every caller for that alone: String.append into each interpolation (~11 KB of examples/web),
    /// array growth, hashing. With 32 that credit is 0 and callees are inlined only where that
    /// removes work (constant arguments, closures): examples/web without HTTPS 242,120 -> 227,496
    /// bytes stripped. It costs HTTP speed: 2-6 % of GET / req/s in bench/web.py A/Bs (README);
    /// a hot callee that should stay inlined now needs @inline(__always). The tenders use the same
    /// flag (Package.swift), where no slowdown was seen.
    static let fewerInlinedCalls = ["-Xfrontend", "-sil-inline-caller-benefit-reduction-factor", "-Xfrontend", "32"]
    /// A guest is one vCPU with a cooperative executor, so its reference counts need no atomics:
    /// retains and releases become calls to Freestanding/refcount.c instead of inlined `lock`
    /// instructions. Swift's own LLVM passes must then be off: they treat a retain as touching
    /// no memory the program reads and move it below loads, but in Embedded Swift the uniqueness
    /// check of copy-on-write is an inlined load of the refcount, so a copy was mutated in
    /// place (Tests/Guests/arc-guest). Full-Swift images (FullRuntimeImage) get neither.
    static let nonAtomicReferenceCounting = [
        "-assume-single-threaded", "-Xfrontend", "-disable-swift-specific-llvm-optzns",
    ]
    static let cFlags = [
        "-target", Toolchain.guestTriple, "-gdwarf-4", "-O2", "-ffreestanding", "-fno-builtin", "-fno-stack-protector",
        "-fno-omit-frame-pointer", "-ffunction-sections", "-fdata-sections",
    ]
    /// Swift modules become objects in two steps: swiftc writes optimized LLVM IR, clang turns it
    /// into code (`-disable-llvm-passes`: no second optimization). swiftc has `-function-sections`
    /// but nothing like `-fdata-sections`, so every class's metadata shared one `.data` section,
    /// and since each metadata points at its class's methods, `--gc-sections` kept every class
    /// of the library OS (a key-value store and virtio drivers in hello). One section per symbol
    /// lets the linker drop what the program never reaches (hello: 117 KB stripped, now 42 KB).
    /// Code generation also writes the DWARF, so the flags for gdb's names (DebuggerNames) go here.
    /// Optimized modules are written as LLVM bitcode and compiled by the linker (`linkTimeFlags`).
    static func codegenFlags(optimized: Bool) -> [String] {
        ["-target", Toolchain.guestTriple, "-c", optimized ? "-O2" : "-O0", "-Xclang", "-disable-llvm-passes",
         "-ffunction-sections", "-fdata-sections"] + (optimized ? ["-flto=full"] : []) + DebuggerNames.linkageNameFlags
    }
    /// Link-time optimization over the library OS, SwiftletTLS and the application as one
    /// module: swiftc specializes and inlines within a module only, so each kept copies of the
    /// same generic code, and the library's public functions stayed whole however little of
    /// them the application reached (examples/web: 289,640 bytes stripped without it, 262,920
    /// with). Only LLVM's standard passes run here, as in swiftc, never Swift's own
    /// (`nonAtomicReferenceCounting`). The code is position-independent like clang's objects:
    /// the image sits above 4 GiB, out of reach of 32-bit absolute addresses. The linker writes
    /// the code and its DWARF, so it gets the flags for gdb's names too.
    static let linkTimeFlags = ["--lto-O2", "-mllvm", "-relocation-model=pic"] + DebuggerNames.linkageNameFlags

    public struct Result: Sendable {
        public let image: URL
        public let size: Int
        /// The embedded assets (nil when the application has no assets folder).
        public var assets: AssetBundle? = nil
    }

    /// Builds `application` into `output`, for the targets given (its note lists them all).
    /// With `unoptimized`, the application's own code is compiled -Onone (the library OS stays
    /// -Osize), so a debugger sees every local and each line in order.
    public func build(_ application: Application, targets: [Target], output: URL, strip: Bool = false,
                      unoptimized: Bool = false) throws(BuildError) -> Result {
        // async/await: Embedded Swift needs an explicit `import _Concurrency` for any async
        // code, and a module that imports it needs the concurrency runtime at link time; so
        // only such applications get the library OS built with its event loop, and the runtime.
        let concurrency = Self.importsConcurrency(application.sources)
        let runtime = try runtimeModule(concurrency: concurrency)
        // HTTPS: only applications that import SwiftletTLS get it and BearSSL linked in.
        let bearSSL = Self.imports(Self.tlsModuleName, in: application.sources) ? try BearSSLInstallation.locate() : nil
        let tls = try bearSSL.map { bearSSL throws(BuildError) in (module: try tlsModule(runtime: runtime, bearSSL: bearSSL), bearSSL: bearSSL) }
        // Private to this build: concurrent builds (of the same application too) must not share objects.
        let work = output.deletingLastPathComponent().appendingPathComponent(".\(output.lastPathComponent).\(UUID().uuidString).build")
        try makeDirectory(work)
        defer { try? FileManager.default.removeItem(at: work) }
        log("Compiling \(application.name) (\(application.sources.count) file\(application.sources.count == 1 ? "" : "s"))")
        let appObject = work.appendingPathComponent("\(application.name).o")
        // As with SwiftPM: a main.swift holds top-level code; otherwise a type is marked @main.
        let hasMainFile = application.sources.contains { $0.lastPathComponent == "main.swift" }
        let appFlags = unoptimized ? Self.swiftFlags.map { $0 == "-Osize" ? "-Onone" : $0 } : Self.swiftFlags
        var sources = application.sources.map(\.path)
        var modeFlags = hasMainFile ? [] : ["-parse-as-library"]
        if let index = application.sources.firstIndex(where: { $0.lastPathComponent == "main.swift" }),
           let rewritten = try asyncMain(for: application.sources[index], in: work) {
            log("main.swift awaits at top level: compiling its top-level code as an async main")
            sources[index] = rewritten.path
            // The default style quotes the rewritten file's lines under the user's line numbers.
            modeFlags = ["-parse-as-library", "-diagnostic-style", "llvm"]
        }
        // Every file sees the library OS (print of collections, JSON) without `import Swiftlet`.
        try compileSwift("compiling \(application.name)", appFlags + modeFlags + [
            "-I", home.abiInclude.path, "-I", runtime.path,
        ] + (tls.map { ["-I", $0.module.path] + home.tlsIncludes($0.bearSSL).flatMap { ["-Xcc", "-I", "-Xcc", $0] } } ?? []) + [
            "-module-name", application.name,
            "-Xfrontend", "-import-module", "-Xfrontend", "Swiftlet",
        ] + sources, into: appObject, optimized: !unoptimized, crashLogs: output.deletingLastPathComponent(), userCode: true)

        let targetBits = targets.reduce(UInt32(0)) { $0 | $1.noteBit }
        var shims: [URL] = []
        for source in home.freestandingCSources {
            // Prefixed: an application named like a shim (`runtime`, `string`) has an object of its own.
            let object = work.appendingPathComponent("freestanding-" + source.deletingPathExtension().lastPathComponent + ".o")
            try run("compiling \(source.lastPathComponent)", toolchain.clang, Self.cFlags + [
                "-I", home.abiInclude.path, "-DSWIFTLET_NOTE_TARGETS=\(targetBits)u",
                "-c", source.path, "-o", object.path,
            ])
            shims.append(object)
        }

        // Static assets: a generated table and the files, assembled into one object.
        var assets: AssetBundle? = nil
        var assetObjects: [URL] = []
        if let folder = application.assetsFolder {
            let bundle = try AssetBundle(folder: folder)
            if !bundle.files.isEmpty {
                let source = try bundle.writeAssembly(into: work)
                let object = work.appendingPathComponent("assets.o")
                // Run in `work`, so `.incbin "asset-N.bin"` names its copy without any path to quote.
                try run("assembling the assets", toolchain.clang, [
                    "-target", Toolchain.guestTriple, "-c", source.lastPathComponent, "-o", object.lastPathComponent,
                ], in: work)
                assetObjects.append(object)
                log(bundle.summary(relativeTo: application.root))
            }
            assets = bundle
        }

        let virtio = targets.contains(.virtio)
        if virtio {
            for source in home.virtioSources {
                let object = work.appendingPathComponent("virtio-" + source.deletingPathExtension().lastPathComponent + ".o")
                try run("assembling \(source.lastPathComponent)", toolchain.clang, Self.cFlags
                    + Self.virtioDefines.map { "-D\($0.key)=\($0.value)" } + ["-c", source.path, "-o", object.path])
                shims.append(object)
            }
        }

        var objects = [runtime.appendingPathComponent("Swiftlet.o"), appObject] + shims + assetObjects
        if let tls {
            objects.insert(tls.module.appendingPathComponent("SwiftletTLS.o"), at: 1)
            objects += try tlsObjects(application, bearSSL: tls.bearSSL, work: work)
        }
        log("Linking \(output.lastPathComponent)")
        if concurrency { objects.append(toolchain.embeddedLibraries.appendingPathComponent("libswift_Concurrency.a")) }
        objects.append(toolchain.embeddedLibraries.appendingPathComponent("libswiftUnicodeDataTables.a"))
        try run("linking", toolchain.linker, [
            "-static", "-nostdlib", "--gc-sections", "--no-undefined",
            // Segments are copied into guest memory (tenders pread them, PVH loaders copy them by
            // physical address), never mapped from the file, so their file offsets need not be
            // page-congruent: without this, 4 KiB of padding followed the ELF headers.
            "-z", "max-page-size=16",
            "-T", home.freestanding.appendingPathComponent("image.ld").path,
        ] + Self.linkTimeFlags + Self.linkerDefinitions(virtio: virtio).map { "--defsym=\($0.key)=\($0.value)" }
          + objects.map(\.path) + ["-o", output.path])
        if strip { try toolchain.strip(.all, output) } else { try prepareForDebuggers(output, work: work) }
        let size = (try? FileManager.default.attributesOfItem(atPath: output.path)[.size] as? Int) ?? 0
        return Result(image: output, size: size, assets: assets)
    }

    /// The numbers image.ld needs, from swiftlet_abi.h (never restated there). A virtio image is
    /// loaded by physical address: guest address GUEST_BASE + x lives at PHYS_BASE + x.
    static func linkerDefinitions(virtio: Bool) -> KeyValuePairs<String, String> {
        [
            "SWIFTLET_IMAGE_BASE": hex(SWIFTLET_GUEST_BASE + SWIFTLET_IMAGE_OFFSET),
            "SWIFTLET_LOAD_DELTA": hex(virtio ? SWIFTLET_GUEST_BASE - SWIFTLET_VIRTIO_PHYS_BASE : 0),
        ]
    }

    /// The numbers the ring-0 shim (Freestanding/Virtio/pvh.S) needs, from swiftlet_abi.h.
    static let virtioDefines: KeyValuePairs<String, String> = [
        "SWIFTLET_IMAGE_BASE": hex(SWIFTLET_GUEST_BASE + SWIFTLET_IMAGE_OFFSET),
        "SWIFTLET_LOAD_DELTA": hex(SWIFTLET_GUEST_BASE - SWIFTLET_VIRTIO_PHYS_BASE),
        "SWIFTLET_PHYS_BASE": hex(SWIFTLET_VIRTIO_PHYS_BASE),
        "SWIFTLET_STACK_TOP": hex(SWIFTLET_GUEST_BASE + SWIFTLET_STACK_TOP),
        "SWIFTLET_LOW_WINDOW": hex(SWIFTLET_VIRTIO_LOW_WINDOW),
        "SWIFTLET_MMIO_BASE": hex(SWIFTLET_VIRTIO_MMIO_BASE),
        "SWIFTLET_EXIT_CRASH_VALUE": "\(SWIFTLET_VIRTIO_EXIT_CRASH_VALUE)",
        "SWIFTLET_SYS_VECTOR": "\(SWIFTLET_VIRTIO_SYS_VECTOR)",
        "SWIFTLET_SYS_OUTS": "\(SWIFTLET_VIRTIO_SYS_OUTS)",
        "SWIFTLET_SYS_HALT": "\(SWIFTLET_VIRTIO_SYS_HALT)",
        "SWIFTLET_SYS_IN8": "\(SWIFTLET_VIRTIO_SYS_IN8)",
        "SWIFTLET_SYS_OUT8": "\(SWIFTLET_VIRTIO_SYS_OUT8)",
        "SWIFTLET_SYS_EXIT": "\(SWIFTLET_VIRTIO_SYS_EXIT)",
        "SWIFTLET_SYS_WRMSR": "\(SWIFTLET_VIRTIO_SYS_WRMSR)",
    ]

    private static func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }

    /// Adds the Swift function names gdb breaks on (DebuggerNames), and drops .debug_names:
    /// the linker concatenates each object's index instead of merging them, and gdb then
    /// ignores the section with a warning at every start (it is an index only).
    func prepareForDebuggers(_ image: URL, work: URL) throws(BuildError) {
        guard let objcopy = toolchain.objcopy else { return }
        let aliases = (try? ELFImage(bytes: Array(Data(contentsOf: image)))).map(DebuggerNames.objcopyArguments(for:)) ?? []
        // A response file: a big application has thousands of aliases.
        let arguments = work.appendingPathComponent("objcopy-arguments")
        do { try (aliases + ["--remove-section=.debug_names", image.path]).joined(separator: "\n").write(to: arguments, atomically: true, encoding: .utf8) } catch {
            throw .output("cannot write \(arguments.path): \(error.localizedDescription)")
        }
        try run("adding function names for gdb", objcopy, ["@" + arguments.path])
    }

    /// Whether any of `sources` imports _Concurrency (which async code needs in Embedded Swift).
    static func importsConcurrency(_ sources: [URL]) -> Bool { imports("_Concurrency", in: sources) }

    /// Whether any of `sources` has an `import MODULE` line (attributes before it allowed).
    static func imports(_ module: String, in sources: [URL]) -> Bool {
        sources.contains { source in
            guard let text = try? String(contentsOf: source, encoding: .utf8) else { return false }
            return text.split(whereSeparator: \.isNewline).contains { line in
                let words = line.split(whereSeparator: \.isWhitespace)
                guard let index = words.firstIndex(of: "import"), index + 1 < words.count else { return false }
                return words[index + 1] == module
                    && words[..<index].allSatisfy { $0.hasPrefix("@") }
            }
        }
    }

    /// The guest library OS as a Swift module + object, cached by a hash of its sources; with
    /// `concurrency`, the variant with the async/await event loop (Concurrency/EventLoop.swift).
    func runtimeModule(concurrency: Bool = false) throws(BuildError) -> URL {
        let defines = concurrency ? ["-D", "SWIFTLET_CONCURRENCY"] : []
        let key = home.runtimeFingerprint(extra: Self.swiftFlags + Self.codegenFlags(optimized: true) + defines + [toolchain.swiftc.path])
        let cached = home.runtimeCache.appendingPathComponent(key)
        if FileManager.default.fileExists(atPath: cached.appendingPathComponent("Swiftlet.o").path) {
            return cached
        }
        log("Compiling the Swiftlet library OS (once per toolchain and source change)")
        let staging = home.runtimeCache.appendingPathComponent("\(key).\(UUID().uuidString).tmp")
        try makeDirectory(staging)
        try compileSwift("compiling the Swiftlet library OS", Self.swiftFlags + [
            "-parse-as-library", "-D", "SWIFTLET_GUEST", "-I", home.abiInclude.path, "-module-name", "Swiftlet",
        ] + defines + [
            "-emit-module", "-emit-module-path", staging.appendingPathComponent("Swiftlet.swiftmodule").path,
        ] + home.guestSources.map(\.path), into: staging.appendingPathComponent("Swiftlet.o"), crashLogs: home.runtimeCache)
        // Another build may have finished the same module meanwhile; either copy is good.
        if (try? FileManager.default.moveItem(at: staging, to: cached)) == nil {
            try? FileManager.default.removeItem(at: staging)
        }
        return cached
    }

    /// main.swift rewritten into `work` when its top-level code awaits (TopLevelAwait.swift).
    private func asyncMain(for main: URL, in work: URL) throws(BuildError) -> URL? {
        guard let text = try? String(contentsOf: main, encoding: .utf8), TopLevelAwaitRewrite.mentionsAwait(text) else { return nil }
        let parse = Process()
        parse.executableURL = toolchain.swiftc
        parse.arguments = ["-frontend", "-dump-parse", main.path]
        let pipe = Pipe()
        parse.standardOutput = pipe
        parse.standardError = pipe
        guard (try? parse.run()) != nil else { return nil }
        let dump = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        parse.waitUntilExit()
        guard let rewritten = TopLevelAwaitRewrite.rewrite(source: text, path: main.path,
                                                            items: TopLevelAwaitRewrite.items(fromDump: dump)) else { return nil }
        let file = work.appendingPathComponent("main-async.swift")
        do { try rewritten.write(to: file, atomically: true, encoding: .utf8) } catch {
            throw .output("cannot write \(file.path): \(error.localizedDescription)")
        }
        return file
    }

    func makeDirectory(_ url: URL) throws(BuildError) {
        do { try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true) } catch {
            throw .output("cannot create \(url.path): \(error.localizedDescription)")
        }
    }

    /// Compiles Swift `arguments` (flags and sources of one module) into `object`, through LLVM
    /// IR beside it (see `codegenFlags`).
    func compileSwift(_ step: String, _ arguments: [String], into object: URL, optimized: Bool = true,
                      crashLogs: URL? = nil, userCode: Bool = false) throws(BuildError) {
        let ir = object.deletingPathExtension().appendingPathExtension("ll")
        defer { try? FileManager.default.removeItem(at: ir) }
        try run(step, toolchain.swiftc, arguments + ["-emit-ir", "-o", ir.path], crashLogs: crashLogs, userCode: userCode)
        try run(step + " (code generation)", toolchain.clang, Self.codegenFlags(optimized: optimized) + [ir.path, "-o", object.path],
                crashLogs: crashLogs)
    }

    /// Runs one build step. A crashed compiler's stack dump goes to a log file in `crashLogs`
    /// (else the system's temporary folder) and the error names it; with `userCode`, the
    /// compiler's diagnostics get Swiftlet's advice on Embedded restrictions.
    func run(_ step: String, _ tool: URL, _ arguments: [String], in directory: URL? = nil,
                     crashLogs: URL? = nil, userCode: Bool = false) throws(BuildError) {
        let process = Process()
        process.executableURL = tool
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = directory }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        do { try process.run() } catch {
            throw .toolchain("cannot start \(tool.path): \(error.localizedDescription)")
        }
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: output, as: UTF8.self)
        if process.terminationReason == .uncaughtSignal || CompilerCrash.isCrash(text) {
            throw .compilerCrash(step: step, log: CompilerCrash.saveLog(text, arguments: [tool.path] + arguments, in: crashLogs))
        }
        guard process.terminationStatus == 0 else {
            throw .compile(step: step, output: userCode ? EmbeddedGuidance.annotate(text) : text)
        }
        if userCode && EmbeddedGuidance.refusesBuild(text) {
            throw .compile(step: step, output: EmbeddedGuidance.annotate(text))
        }
    }
}
