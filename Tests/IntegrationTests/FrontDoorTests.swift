// The front door as a user meets it: refusals come at once, before anything is built, with exit
// status 125 (64 for a bad `new` name, ArgumentParser's usage status) and the next step; `run`
// picks a target the image allows and says so; first use builds release tenders with one line
// and keeps the toolchain's output in a log; the tender gets an empty environment; `install`
// makes swiftlet work from any folder.
import Foundation
import SwiftletABI
import SwiftletBuild
import TenderTestSupport
import Testing

@Suite struct FrontDoorTests {
    static let home = try! SwiftletHome.locate()

    func swiftlet(_ arguments: [String], environment: [String: String]? = nil, in folder: URL? = nil,
                  timeout: TimeInterval = 180) throws -> Harness.Outcome {
        try Harness.run(Harness.cli, arguments, timeout: timeout, environment: environment, in: folder)
    }

    func scratchFolder(_ name: String) throws -> URL {
        let folder = Harness.scratch.appendingPathComponent("\(name)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return folder
    }

    /// A copy of examples/hello that has never been built: a build would leave .build behind.
    func unbuiltApplication() throws -> URL {
        let app = try scratchFolder("app").appendingPathComponent("hello")
        try FileManager.default.copyItem(at: Self.home.root.appendingPathComponent("examples/hello"), to: app)
        try? FileManager.default.removeItem(at: app.appendingPathComponent(".build"))
        return app
    }

    /// An executable shell script.
    func script(_ url: URL, _ body: String) throws {
        try "#!/bin/sh\n\(body)\n".write(to: url, atomically: true, encoding: .utf8)
        chmod(url.path, 0o755)
    }

    func environment(_ changes: [String: String?]) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["SWIFTLET_TENDERS"] = Harness.productsFolder.path
        for (name, value) in changes { environment[name] = value }
        return environment
    }

    /// The exact command swiftlet prints for a missing Debian package.
    func installCommand(_ package: String) -> String {
        (getuid() == 0 ? "" : "sudo ") + "apt-get install -y \(package)"
    }

    func lines(_ text: String, containing needle: String) -> [Substring] {
        text.split(separator: "\n").filter { $0.contains(needle) }
    }

    // MARK: prerequisites, before any build

    @Test func missingPasstIsReportedBeforeBuilding() throws {
        let app = try unbuiltApplication()
        let emptyPath = try scratchFolder("empty-path")
        let result = try swiftlet(["run", "-p", "18090:80", app.path],
                                  environment: environment(["PATH": emptyPath.path, "SWIFTLET_NO_INSTALL": "1"]))
        #expect(result.status == 125, "stderr: \(result.stderr)")
        #expect(result.stderr.contains("passt (user-mode networking for -p) is not installed"), "stderr: \(result.stderr)")
        #expect(result.stderr.contains("install it with `\(installCommand("passt"))`"), "stderr: \(result.stderr)")
        #expect(!result.stderr.contains("Compiling"), "nothing may be built first: \(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: app.appendingPathComponent(".build").path))
    }

    @Test(.enabled(if: getuid() == 0, "skipped: installing passt is offered to root only"))
    func rootGetsPasstInstalledWithOneLine() throws {
        let app = try unbuiltApplication()
        let tools = try scratchFolder("fake-apt")
        let calls = tools.appendingPathComponent("calls")
        // A stand-in apt-get that records its arguments and fails, as one without a network would.
        try script(tools.appendingPathComponent("apt-get"), "echo \"$@\" >> '\(calls.path)'\necho 'E: Unable to locate package passt' >&2\nexit 100")
        let result = try swiftlet(["run", "-p", "18091:80", app.path],
                                  environment: environment(["PATH": tools.path, "XDG_CACHE_HOME": tools.path]))
        #expect(result.status == 125, "stderr: \(result.stderr)")
        let announced = lines(result.stderr, containing: "installing it: apt-get install -y passt")
        #expect(announced.count == 1, "one line says what is installed: \(result.stderr)")
        #expect(result.stderr.contains("installing passt failed"), "stderr: \(result.stderr)")
        #expect(result.stderr.contains("Unable to locate package passt"), "the log's tail is shown: \(result.stderr)")
        let recorded = (try? String(contentsOf: calls, encoding: .utf8)) ?? ""
        #expect(recorded == "install -y -q passt\nupdate -q\ninstall -y -q passt\n", "apt-get calls: \(recorded)")
        #expect(!FileManager.default.fileExists(atPath: app.appendingPathComponent(".build").path))
    }

    /// examples/hello made into an application that imports SwiftletTLS, never built.
    func unbuiltTLSApplication() throws -> URL {
        let app = try unbuiltApplication()
        let main = app.appendingPathComponent("Sources/hello/main.swift")
        try ("import SwiftletTLS\n" + String(contentsOf: main, encoding: .utf8)).write(to: main, atomically: true, encoding: .utf8)
        return app
    }

    /// SWIFTLET_BEARSSL_ROOT (the launcher's test seam) points BearSSL's presence check at an
    /// empty folder: the machine's own libbearssl-dev is not seen.
    @Test func missingBearSSLIsReportedBeforeBuilding() throws {
        let app = try unbuiltTLSApplication()
        let root = try scratchFolder("no-bearssl")
        let result = try swiftlet(["run", app.path],
                                  environment: environment(["SWIFTLET_BEARSSL_ROOT": root.path, "SWIFTLET_NO_INSTALL": "1"]))
        #expect(result.status == 125, "stderr: \(result.stderr)")
        #expect(result.stderr.contains("BearSSL (HTTPS for applications that import SwiftletTLS) is not installed; install it with `\(installCommand("libbearssl-dev"))`"),
                "stderr: \(result.stderr)")
        #expect(!result.stderr.contains("Compiling"), "nothing may be built first: \(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: app.appendingPathComponent(".build").path))

        // The same application without the import needs no BearSSL: the refusal above is the import's.
        let plain = try unbuiltApplication()
        let name = "swlnb\(getpid() % 100000)"
        let withoutImport = try swiftlet(["run", "--net", "tap:\(name)", plain.path],
                                         environment: environment(["SWIFTLET_BEARSSL_ROOT": root.path, "SWIFTLET_NO_INSTALL": "1"]))
        #expect(withoutImport.status == 125 && withoutImport.stderr.contains("there is no network interface named \(name)"),
                "stderr: \(withoutImport.stderr)")
        #expect(!withoutImport.stderr.contains("BearSSL"), "stderr: \(withoutImport.stderr)")
    }

    /// A stand-in apt-get "installs" libbearssl-dev into the seam's folder; the launcher goes on
    /// to the next check (a missing tap, refused at once), so nothing is built around the install.
    @Test(.enabled(if: getuid() == 0, "skipped: installing BearSSL is offered to root only"))
    func rootGetsBearSSLInstalledWithOneLineBeforeBuilding() throws {
        let app = try unbuiltTLSApplication()
        let root = try scratchFolder("bearssl-root")
        let tools = try scratchFolder("fake-apt-bearssl")
        let calls = tools.appendingPathComponent("calls")
        try script(tools.appendingPathComponent("apt-get"), """
            echo "$@" >> '\(calls.path)'
            /bin/mkdir -p '\(root.path)/usr/include/bearssl' '\(root.path)/usr/lib'
            echo '/* stand-in */' > '\(root.path)/usr/include/bearssl/bearssl.h'
            echo '!<arch>' > '\(root.path)/usr/lib/libbearssl.a'
            """)
        let name = "swlnc\(getpid() % 100000)"
        let result = try swiftlet(["run", "--net", "tap:\(name)", app.path],
                                  environment: environment(["PATH": tools.path, "XDG_CACHE_HOME": tools.path,
                                                            "SWIFTLET_BEARSSL_ROOT": root.path]))
        #expect(lines(result.stderr, containing: "installing it: apt-get install -y libbearssl-dev").count == 1,
                "one line says what is installed: \(result.stderr)")
        let recorded = (try? String(contentsOf: calls, encoding: .utf8)) ?? ""
        #expect(recorded == "install -y -q libbearssl-dev\n", "apt-get calls: \(recorded)")
        #expect(result.status == 125 && result.stderr.contains("there is no network interface named \(name)"),
                "after the install the next check runs: \(result.stderr)")
        #expect(!result.stderr.contains("installing libbearssl-dev failed"), "stderr: \(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: app.appendingPathComponent(".build").path))
    }

    @Test func missingTapIsRefusedAtOnceAndNotCreated() throws {
        let app = try unbuiltApplication()
        let name = "swlno\(getpid() % 100000)"
        let missing = try swiftlet(["run", "--net", "tap:\(name)", app.path])
        #expect(missing.status == 125, "stderr: \(missing.stderr)")
        #expect(missing.stderr.contains("there is no network interface named \(name)"), "stderr: \(missing.stderr)")
        #expect(missing.stderr.contains("ip tuntap add \(name) mode tap"))
        #expect(!FileManager.default.fileExists(atPath: "/sys/class/net/\(name)"), "no transient tap may be created")
        #expect(!FileManager.default.fileExists(atPath: app.appendingPathComponent(".build").path))

        let notTap = try swiftlet(["run", "--net", "tap:lo", try Harness.example("hello").path])
        #expect(notTap.status == 125)
        #expect(notTap.stderr.contains("lo is not a tap interface"), "stderr: \(notTap.stderr)")
    }

    @Test func doctorListsWhatIsMissingWithTheInstallCommand() throws {
        let emptyPath = try scratchFolder("doctor-path")
        let bare = try swiftlet(["doctor"], environment: environment(["PATH": emptyPath.path]))
        #expect(bare.status == 0, "passt and gdb are optional: \(bare.stdout) \(bare.stderr)")
        let passt = bare.stdout.split(separator: "\n").drop { !$0.hasPrefix("missing  passt") }.prefix(2)
        #expect(passt.count == 2, "stdout: \(bare.stdout)")
        #expect(passt.last?.contains("install: \(installCommand("passt"))") == true, "stdout: \(bare.stdout)")
        #expect(bare.stdout.contains("install: \(installCommand("gdb"))"), "stdout: \(bare.stdout)")
        #expect(lines(bare.stdout, containing: "KVM").count == 1)
        #expect(bare.stdout.contains("ok       Swift toolchain"), "stdout: \(bare.stdout)")

        let usual = try swiftlet(["doctor"])
        #expect(usual.status == 0)
        let passtFound = FileManager.default.isExecutableFile(atPath: "/usr/bin/passt")
        #expect(usual.stdout.contains("ok       passt") == passtFound, "stdout: \(usual.stdout)")
    }

    // MARK: the target comes from the image

    @Test func runPicksATargetTheImageAllowsAndSaysSo() throws {
        let folder = try scratchFolder("targets")
        let hello = Self.home.root.appendingPathComponent("examples/hello").path
        let sptOnly = folder.appendingPathComponent("spt.swiftlet").path
        let built = try swiftlet(["build", hello, "--target", "spt", "-o", sptOnly])
        #expect(built.status == 0, "stderr: \(built.stderr)")

        let ran = try swiftlet(["run", sptOnly, "--", "exit=7"])
        #expect(ran.status == 7, "stderr: \(ran.stderr)")
        #expect(ran.stdout.contains("Hello from Swiftlet!"))
        #expect(lines(ran.stderr, containing: "built for spt only; running it on spt").count == 1, "stderr: \(ran.stderr)")

        let refused = try swiftlet(["run", "--target", "hvt", sptOnly])
        #expect(refused.status == 125)
        #expect(refused.stderr.contains("is built for spt only, not hvt; run it with --target spt"), "stderr: \(refused.stderr)")
        #expect(refused.stdout.isEmpty)

        if Harness.kvmAvailable {
            let hvtOnly = folder.appendingPathComponent("hvt.swiftlet").path
            #expect(try swiftlet(["build", hello, "--target", "hvt", "-o", hvtOnly]).status == 0)
            let onHvt = try swiftlet(["run", hvtOnly])
            #expect(onHvt.status == 0, "stderr: \(onHvt.stderr)")
            #expect(onHvt.stderr.isEmpty, "the usual choice needs no notice: \(onHvt.stderr)")
        }
    }

    // MARK: names, version, completions

    @Test(arguments: ["bad name", "1st", "my-app", "café", ""])
    func newRefusesNamesThatAreNotModuleNames(name: String) throws {
        let folder = try scratchFolder("names")
        let result = try swiftlet(["new", name], in: folder)
        #expect(result.status == 64, "stderr: \(result.stderr)")
        #expect(result.stderr.contains("ASCII letters, digits and underscores, and does not start with a digit"), "stderr: \(result.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).isEmpty, "nothing may be created")
    }

    @Test func newRefusesTheNamesAnImageAlreadyUses() throws {
        let folder = try scratchFolder("taken")
        let result = try swiftlet(["new", "Swiftlet"], in: folder)
        #expect(result.status == 64)
        #expect(result.stderr.contains("taken by a module every image links"), "stderr: \(result.stderr)")
    }

    @Test func versionNamesTheABIAndTheToolchain() throws {
        func defined(_ name: String, in header: String) throws -> String {
            let text = try String(contentsOf: Self.home.root.appendingPathComponent(header), encoding: .utf8)
            let line = try #require(text.split(separator: "\n").first { $0.hasPrefix("#define \(name) ") })
            return String(line.split(separator: " ").last!.filter { $0.isNumber || $0 == "." })
        }
        let abi = try defined("SWIFTLET_ABI_VERSION", in: "Sources/ABI/include/swiftlet_abi.h")
        let version = try defined("SWIFTLET_VERSION", in: "Sources/CLI/RunShim/include/run_shim.h")
        let result = try swiftlet(["--version"])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stdout.hasPrefix("swiftlet \(version)\n"), "stdout: \(result.stdout)")
        #expect(result.stdout.contains("image ABI version \(abi) "), "stdout: \(result.stdout)")
        #expect(result.stdout.contains("toolchain: Swift version"), "stdout: \(result.stdout)")
    }

    @Test(arguments: ["bash", "zsh", "fish"])
    func completionScriptsKnowTheCommands(shell: String) throws {
        let result = try swiftlet(["--generate-completion-script", shell])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        for word in ["doctor", "install", "inspect", "publish", "target"] {
            #expect(result.stdout.contains(word), "\(shell) completion lacks \(word)")
        }
    }

    /// Every option `swiftlet run --help` declares is taken by the launcher itself: in a
    /// stand-in checkout without the full CLI, handing over would mean building it.
    @Test func launcherTakesEveryRunOptionTheFullCLIDeclares() throws {
        let help = try swiftlet(["run", "--help"])
        #expect(help.status == 0)
        // Option lines: "  -p, --publish <HOST:GUEST>   Make guest port…", "  --verbose   Show…".
        let optionLines = help.stdout.split(separator: "\n").filter { $0.hasPrefix("  -") }
        let declared = Set(optionLines.flatMap { line in
            line.split(whereSeparator: { $0 == " " || $0 == "," }).prefix { $0.hasPrefix("-") }.map(String.init)
        })
        let samples: [String: [String]] = [
            "--target": ["--target", "spt"], "--mem": ["--mem", "64M"], "-p": ["-p", "18097:80"],
            "--publish": ["--publish=18098:80"], "--net": ["--net", "none"], "--assets": ["--assets", "assets"],
            "--verbose": ["--verbose"], "--machine": ["--machine", "q35"],
            "--pcap": ["--pcap", Harness.scratch.appendingPathComponent("front-door.pcap").path],
            "--pcap-limit": ["--pcap-limit", "1M"], "--core": ["--core", Harness.scratch.path],
            // Port 0: the tender refuses it at once (a real port would wait for a debugger).
            "--gdb": ["--gdb", "0"],
            "--grace-period": ["--grace-period", "3"],
            "--disk": ["--disk", Harness.scratch.appendingPathComponent("front-door.img").path],
            "--disk-size": ["--disk", Harness.scratch.appendingPathComponent("front-door-sized.img").path, "--disk-size", "1M"],
        ]
        #expect(declared.subtracting(["-h", "--help"]) == Set(samples.keys), "swiftlet run --help: \(help.stdout)")

        let checkout = try StandInCheckout(self)
        let image = try Harness.example("hello").path
        for (option, words) in samples.sorted(by: { $0.key < $1.key }) {
            let result = try Harness.run(checkout.launcher, ["run"] + words + [image], environment: checkout.environment)
            #expect(!checkout.calls().contains("swiftlet-cli"), "\(option) was handed to the full CLI")
            if option == "--assets" {
                #expect(result.status == 125 && result.stderr.contains("already an image"), "stderr: \(result.stderr)")
            } else if option == "--machine" {
                #expect(result.status == 125 && result.stderr.contains("--target virtio"), "stderr: \(result.stderr)")
            } else if option == "--gdb" {
                // Reached the tender, which parsed and refused it.
                #expect(result.status == 125 && result.stderr.contains("--gdb 0: expected [HOST:]PORT"), "stderr: \(result.stderr)")
            } else if option == "--pcap" {
                // Reached the tender, which refuses: hello has no network to record.
                #expect(result.status == 125 && result.stderr.contains("no network device"), "stderr: \(result.stderr)")
            } else {
                #expect(result.status == 0, "\(option): \(result.stderr)")
                #expect(result.stdout.contains("Hello from Swiftlet!"), "\(option): \(result.stdout)")
            }
        }

        let malformed = try swiftlet(["run", "-p", "80", image])
        #expect(malformed.status == 64)
        #expect(malformed.stderr.contains("-p 80: expected HOST:GUEST"), "stderr: \(malformed.stderr)")
        let typo = try swiftlet(["run", "--targett", "spt", "app"])
        #expect(typo.status == 64)
        #expect(typo.stderr.contains("Unknown option '--targett'"), "stderr: \(typo.stderr)")
    }

    /// A value the tender would refuse is refused by the launcher, in the tender's words, before
    /// passt starts or anything is built: no "reachable" line for a port that never was.
    @Test func launcherRefusesBadOptionValuesBeforeStartingAnything() throws {
        let app = try unbuiltApplication()
        let image = try Harness.example("hello").path
        let tools = try scratchFolder("fake-passt")
        let passtCalls = tools.appendingPathComponent("calls")
        try script(tools.appendingPathComponent("passt"), "echo \"$@\" >> '\(passtCalls.path)'; exit 1")
        let user = environment(["PATH": tools.path + ":/usr/bin:/bin"])
        let cases: [(words: [String], message: String)] = [
            (["--mem", "3M"], "memory size 3M is not a multiple of 2M"),
            (["--mem", "1M"], "memory size 1M is outside 2M...4G"),
            (["--mem", "8T"], "memory size '8T' is not a number of bytes"),
            (["--disk", "refused.img", "--disk-size", "1000"], "--disk-size '1000' is not a positive multiple of 512 bytes"),
            (["--pcap", "refused.pcap", "--pcap-limit", "lots"], "--pcap-limit 'lots' is not a number of bytes"),
            (["--grace-period", "10s"], "grace period '10s' is not a whole number of seconds from 0 to 3600"),
        ]
        for (words, message) in cases {
            for target in [image, app.path] {
                let refused = try swiftlet(["run", "-p", "18099:80"] + words + [target], environment: user, in: tools)
                #expect(refused.status == 64, "\(words) \(target): \(refused.stderr)")
                #expect(refused.stderr.contains(message), "\(words): \(refused.stderr)")
                #expect(!(refused.stdout + refused.stderr).contains("reachable"), "\(words): \(refused.stderr)")
            }
        }
        #expect(!FileManager.default.fileExists(atPath: passtCalls.path), "passt was started")
        #expect(!FileManager.default.fileExists(atPath: app.appendingPathComponent(".build").path))
        #expect(!FileManager.default.fileExists(atPath: tools.appendingPathComponent("refused.img").path))
    }

    // MARK: the run path

    /// The launcher has no interpreter: no dynamic loader, Swift runtime or Foundation is loaded
    /// before it execs the tender.
    @Test func launcherIsAStaticExecutable() throws {
        let bytes = [UInt8](try Data(contentsOf: Harness.cli))
        func read<T: FixedWidthInteger>(_ offset: Int, as: T.Type) -> T {
            bytes[offset..<offset + MemoryLayout<T>.size].reversed().reduce(T(0)) { $0 << 8 | T($1) }
        }
        let programHeaders = Int(read(0x20, as: UInt64.self)), size = Int(read(0x36, as: UInt16.self))
        let count = Int(read(0x38, as: UInt16.self))
        let types = (0..<count).map { read(programHeaders + $0 * size, as: UInt32.self) }
        #expect(!types.isEmpty)
        #expect(!types.contains(3), "PT_INTERP: the launcher would be dynamically linked")
        #expect(!types.contains(2), "PT_DYNAMIC: the launcher would load shared libraries")
    }

    @Test func tenderGetsAnEmptyEnvironment() throws {
        let tenders = try scratchFolder("env-tenders")
        for target in Target.tenders {
            try script(tenders.appendingPathComponent("swiftlet-\(target.rawValue)"), "exec /usr/bin/env")
        }
        let result = try swiftlet(["run", try Harness.example("hello").path],
                                  environment: environment(["SWIFTLET_TENDERS": tenders.path, "SWIFTLET_TEST_SECRET": "hunter2"]))
        #expect(result.status == 0, "stderr: \(result.stderr)")
        for leaked in ["SWIFTLET_TEST_SECRET", "hunter2", "PATH=", "HOME="] {
            #expect(!result.stdout.contains(leaked), "the tender saw \(leaked): \(result.stdout)")
        }
    }

    /// A Swiftlet checkout as the launcher sees one: Package.swift, the launcher in
    /// .build/<triple>/debug, no full CLI and no release tenders. Its `swift` (first on PATH)
    /// prints the static linker's warning and "builds" a tender by copying the suite's; asked
    /// for anything else, it fails.
    struct StandInCheckout {
        let root: URL, launcher: URL, release: URL, tools: URL
        let environment: [String: String]

        init(_ tests: FrontDoorTests) throws {
            root = try tests.scratchFolder("checkout")
            try "// stand-in\n".write(to: root.appendingPathComponent("Package.swift"), atomically: true, encoding: .utf8)
            let products = root.appendingPathComponent(".build/x86_64-unknown-linux-gnu/debug")
            try FileManager.default.createDirectory(at: products, withIntermediateDirectories: true)
            launcher = products.appendingPathComponent("swiftlet")
            try FileManager.default.copyItem(at: Harness.cli, to: launcher)
            release = root.appendingPathComponent(".build/release")
            tools = try tests.scratchFolder("fake-swift")
            try tests.script(tools.appendingPathComponent("swift"), """
                echo "$@" >> '\(tools.path)/calls'
                echo "warning: Using 'dlopen' in statically linked applications requires at runtime the shared libraries" >&2
                for last; do :; done
                case "$last" in swiftlet-hvt|swiftlet-spt|swiftlet-hvt-debug|swiftlet-spt-debug) ;; *) exit 1 ;; esac
                /bin/mkdir -p '\(release.path)' && /bin/cp '\(Harness.productsFolder.path)'/"$last" '\(release.path)'/"$last"
                """)
            environment = tests.environment(["PATH": tools.path + ":/usr/bin:/bin", "SWIFTLET_TENDERS": nil])
        }

        func calls() -> String {
            (try? String(contentsOf: tools.appendingPathComponent("calls"), encoding: .utf8)) ?? ""
        }
    }

    /// The first run builds both release tenders under one line, the warning stays in the log,
    /// and the image runs on the tender in .build/release, without the full CLI.
    @Test func firstUseBuildsReleaseTendersWithOneLineAndNoToolchainNoise() throws {
        let checkout = try StandInCheckout(self)
        let image = try Harness.example("hello").path

        let first = try Harness.run(checkout.launcher, ["run", image, "--", "exit=7"], environment: checkout.environment)
        #expect(first.status == 7, "stderr: \(first.stderr)")
        #expect(first.stdout.contains("Hello from Swiftlet!"))
        #expect(lines(first.stderr, containing: "first use: building the release tenders").count == 1, "stderr: \(first.stderr)")
        #expect(!first.stderr.contains("dlopen"), "toolchain noise reached the user: \(first.stderr)")
        let log = try String(contentsOf: checkout.root.appendingPathComponent(".build/swiftlet-first-use.log"), encoding: .utf8)
        #expect(log.contains("dlopen"), "the toolchain's output belongs in the log")
        for target in Target.tenders {
            #expect(checkout.calls().contains("build --package-path \(checkout.root.path) -c release --product swiftlet-\(target.rawValue)"),
                    "calls: \(checkout.calls())")
        }

        let again = try Harness.run(checkout.launcher, ["run", "--verbose", image], environment: checkout.environment)
        #expect(again.status == 0, "stderr: \(again.stderr)")
        #expect(!again.stderr.contains("first use"))
        #expect(again.stderr.contains("exec (empty environment): \(checkout.release.path)/swiftlet-"), "stderr: \(again.stderr)")
    }

    /// --core and --gdb run the debug tender, built on first use beside the lean ones; every
    /// other run keeps to the lean tender.
    @Test func debuggingOptionsRunTheDebugTender() throws {
        let checkout = try StandInCheckout(self)
        let image = try Harness.example("hello").path
        let lean = try Harness.run(checkout.launcher, ["run", "--verbose", "--target", "spt", image], environment: checkout.environment)
        #expect(lean.status == 0, "stderr: \(lean.stderr)")
        #expect(lean.stderr.contains("exec (empty environment): \(checkout.release.path)/swiftlet-spt --mem"), "stderr: \(lean.stderr)")
        #expect(!checkout.calls().contains("-debug"), "a debug tender was built for a plain run: \(checkout.calls())")

        let cores = try scratchFolder("debug-tender-cores")
        let debug = try Harness.run(checkout.launcher, ["run", "--verbose", "--target", "spt", "--core", cores.path, image],
                                    environment: checkout.environment)
        #expect(debug.status == 0, "stderr: \(debug.stderr)")
        #expect(debug.stdout.contains("Hello from Swiftlet!"))
        #expect(lines(debug.stderr, containing: "first use: building the debug tender swiftlet-spt-debug").count == 1, "stderr: \(debug.stderr)")
        #expect(debug.stderr.contains("exec (empty environment): \(checkout.release.path)/swiftlet-spt-debug --mem"), "stderr: \(debug.stderr)")
        #expect(checkout.calls().contains("-c release --product swiftlet-spt-debug"), "calls: \(checkout.calls())")
    }

    /// A packaged OCI image holds the launcher and one lean tender in /usr/bin. It runs images;
    /// asked for --core or --gdb it says that this installation has no debug tender by design,
    /// not that it is broken.
    @Test func packagedLayoutSaysItHoldsOnlyTheLeanTender() throws {
        let bin = try scratchFolder("packaged").appendingPathComponent("usr/bin")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        let launcher = bin.appendingPathComponent("swiftlet")
        try FileManager.default.copyItem(at: Harness.cli, to: launcher)
        try FileManager.default.copyItem(at: Harness.productsFolder.appendingPathComponent("swiftlet-spt"),
                                         to: bin.appendingPathComponent("swiftlet-spt"))
        let image = try Harness.example("hello").path
        let user = environment(["SWIFTLET_TENDERS": nil])

        let plain = try Harness.run(launcher, ["run", "--target", "spt", image], environment: user)
        #expect(plain.status == 0, "stderr: \(plain.stderr)")
        #expect(plain.stdout.contains("Hello from Swiftlet!"))

        for debugging in [["--core", try scratchFolder("packaged-cores").path], ["--gdb", "127.0.0.1:0"]] {
            let refused = try Harness.run(launcher, ["run", "--target", "spt"] + debugging + [image], environment: user)
            #expect(refused.status != 0, "\(debugging[0]) ran without a debug tender")
            #expect(refused.stderr.contains("holds only the lean one, as a packaged OCI image does"), "stderr: \(refused.stderr)")
            #expect(refused.stderr.contains("\(bin.path)/swiftlet-spt-debug"), "stderr: \(refused.stderr)")
            #expect(!refused.stderr.contains("reinstall"), "stderr: \(refused.stderr)")
        }
    }

    /// After a `git pull` a checkout's release tenders may be older than their sources or speak
    /// an older ABI: `run` rebuilds them first (incrementally), with one line saying why, rather
    /// than letting the stale tender refuse the image with advice that does not fit. When nothing
    /// changed, no build runs.
    @Test func staleReleaseTendersAreRebuiltWithOneLineSayingWhy() throws {
        let checkout = try StandInCheckout(self)
        let image = try Harness.example("hello").path
        func builds() -> Int { checkout.calls().split(separator: "\n").filter { $0.hasPrefix("build ") }.count }
        func tender(_ target: Target) -> String { checkout.release.appendingPathComponent("swiftlet-\(target.rawValue)").path }
        let first = try Harness.run(checkout.launcher, ["run", image], environment: checkout.environment)
        #expect(first.status == 0, "stderr: \(first.stderr)")
        let firstUse = builds()
        #expect(firstUse == Target.tenders.count, "calls: \(checkout.calls())")

        // Tenders an hour older than the checkout's Package.swift.
        for target in Target.tenders {
            try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -3600)], ofItemAtPath: tender(target))
        }
        let sourcesChanged = try Harness.run(checkout.launcher, ["run", image], environment: checkout.environment)
        #expect(sourcesChanged.status == 0, "stderr: \(sourcesChanged.stderr)")
        #expect(sourcesChanged.stdout.contains("Hello from Swiftlet!"))
        #expect(lines(sourcesChanged.stderr, containing: "rebuilding the release tenders: Package.swift changed after swiftlet-").count == 1,
                "stderr: \(sourcesChanged.stderr)")
        #expect(builds() == firstUse + Target.tenders.count, "calls: \(checkout.calls())")

        // Stand-ins newer than every source whose tender note says ABI 1, as tenders built
        // before the ABI changed would. They must not be run.
        var standIn = ELFBuilder.standard()
        standIn.notes = [ELFBuilder.Note(name: Array(SWIFTLET_NOTE_NAME.utf8) + [0], type: SWIFTLET_NOTE_TENDER,
                                         desc: ELFBuilder.littleEndian(UInt32(1)))]
        for target in Target.tenders {
            try FileManager.default.removeItem(atPath: tender(target))
            try Data(standIn.build()).write(to: URL(fileURLWithPath: tender(target)))
            chmod(tender(target), 0o755)
        }
        let abiChanged = try Harness.run(checkout.launcher, ["run", image], environment: checkout.environment)
        #expect(abiChanged.status == 0, "stderr: \(abiChanged.stderr)")
        #expect(abiChanged.stdout.contains("Hello from Swiftlet!"))
        let said = lines(abiChanged.stderr, containing: "rebuilding the release tenders: swiftlet-")
        #expect(said.count == 1 && said[0].contains("speaks ABI 1 and this swiftlet speaks ABI \(SWIFTLET_ABI_VERSION)"),
                "stderr: \(abiChanged.stderr)")
        #expect(!abiChanged.stderr.contains("rebuild it with this"), "the stale tender ran: \(abiChanged.stderr)")
        #expect(builds() == firstUse + 2 * Target.tenders.count, "calls: \(checkout.calls())")

        let unchanged = try Harness.run(checkout.launcher, ["run", image], environment: checkout.environment)
        #expect(unchanged.status == 0, "stderr: \(unchanged.stderr)")
        #expect(!unchanged.stderr.contains("rebuilding"), "stderr: \(unchanged.stderr)")
        #expect(builds() == firstUse + 2 * Target.tenders.count, "nothing changed, nothing is built: \(checkout.calls())")
    }

    /// The tenders link musl statically, so a first use without musl-dev stops before any build
    /// with the exact command, or (as root) installs it with one line and then builds. The
    /// SWIFTLET_MUSL_ROOT seam hides the machine's own musl-dev from the presence check.
    @Test func firstUseWithoutMuslRefusesBeforeBuilding() throws {
        let checkout = try StandInCheckout(self)
        let root = try scratchFolder("no-musl")
        var environment = checkout.environment
        environment["SWIFTLET_MUSL_ROOT"] = root.path
        environment["SWIFTLET_NO_INSTALL"] = "1"
        let result = try Harness.run(checkout.launcher, ["run", try Harness.example("hello").path], environment: environment)
        #expect(result.status == 125, "stderr: \(result.stderr)")
        #expect(result.stderr.contains("musl (the C library the tenders are linked with) is not installed; install it with `\(installCommand("musl-dev"))`"),
                "stderr: \(result.stderr)")
        #expect(!checkout.calls().contains("build "), "nothing may be built without musl: \(checkout.calls())")
        #expect(!FileManager.default.fileExists(atPath: checkout.release.path))
    }

    @Test(.enabled(if: getuid() == 0, "skipped: installing musl-dev is offered to root only"))
    func rootGetsMuslInstalledWithOneLineThenTheTendersBuilt() throws {
        let checkout = try StandInCheckout(self)
        let root = try scratchFolder("musl-root")
        let calls = checkout.tools.appendingPathComponent("apt-calls")
        // A stand-in apt-get (first on PATH) that "installs" musl's libc.a into the seam's folder.
        try script(checkout.tools.appendingPathComponent("apt-get"), """
            echo "$@" >> '\(calls.path)'
            /bin/mkdir -p '\(root.path)/usr/lib/x86_64-linux-musl'
            echo '!<arch>' > '\(root.path)/usr/lib/x86_64-linux-musl/libc.a'
            """)
        var environment = checkout.environment
        environment["SWIFTLET_MUSL_ROOT"] = root.path
        environment["XDG_CACHE_HOME"] = checkout.tools.path
        let result = try Harness.run(checkout.launcher, ["run", try Harness.example("hello").path, "--", "exit=5"], environment: environment)
        #expect(lines(result.stderr, containing: "installing it: apt-get install -y musl-dev").count == 1,
                "one line says what is installed: \(result.stderr)")
        #expect(((try? String(contentsOf: calls, encoding: .utf8)) ?? "") == "install -y -q musl-dev\n")
        #expect(lines(result.stderr, containing: "first use: building the release tenders").count == 1, "stderr: \(result.stderr)")
        #expect(result.status == 5 && result.stdout.contains("Hello from Swiftlet!"), "then the tenders are built and run: \(result.stderr)")
    }

    // MARK: install

    @Test func installedSwiftletWorksFromAnyFolder() throws {
        let prefix = try scratchFolder("prefix")
        let installed = try swiftlet(["install", "--prefix", prefix.path, "--products", Harness.productsFolder.path])
        #expect(installed.status == 0, "stderr: \(installed.stderr)")
        for path in ["bin/swiftlet", "libexec/swiftlet/swiftlet-cli", "libexec/swiftlet/swiftlet-hvt", "libexec/swiftlet/swiftlet-spt",
                     "libexec/swiftlet/swiftlet-hvt-debug", "libexec/swiftlet/swiftlet-spt-debug",
                     "share/swiftlet/Package.swift", "share/swiftlet/Sources/ABI/include/swiftlet_abi.h",
                     "share/swiftlet/Sources/Guest/Freestanding/image.ld",
                     "share/bash-completion/completions/swiftlet", "share/zsh/site-functions/_swiftlet",
                     "share/fish/vendor_completions.d/swiftlet.fish"] {
            #expect(FileManager.default.fileExists(atPath: prefix.appendingPathComponent(path).path), "\(path) not installed")
        }

        let elsewhere = try scratchFolder("elsewhere")
        let path = prefix.appendingPathComponent("bin").path + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "")
        let user = environment(["PATH": path, "SWIFTLET_TENDERS": nil, "SWIFTLET_HOME": nil])
        let swiftlet = URL(fileURLWithPath: "/usr/bin/env")
        let created = try Harness.run(swiftlet, ["swiftlet", "new", "greeter"], environment: user, in: elsewhere)
        #expect(created.status == 0, "stderr: \(created.stderr)")
        let manifest = try String(contentsOf: elsewhere.appendingPathComponent("greeter/Package.swift"), encoding: .utf8)
        #expect(manifest.contains(prefix.appendingPathComponent("share/swiftlet").path), "manifest: \(manifest)")
        let ran = try Harness.run(swiftlet, ["swiftlet", "run", "--target", "spt", "greeter", "--", "hi"],
                                  timeout: 300, environment: user, in: elsewhere)
        #expect(ran.status == 0, "stderr: \(ran.stderr)")
        #expect(ran.stdout.contains("Hello from greeter!"), "stdout: \(ran.stdout)")
        #expect(ran.stdout.contains("Arguments: hi"))
    }
}
