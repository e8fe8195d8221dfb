// `swiftlet run --pcap` and `--core`, checked by the tools a user would read them with:
// tcpdump shows the handshake and the GET of a curl against examples/web; gdb opens the core
// of examples/crash at the trapping function. Bad paths are refused before the guest starts.
import Foundation
import SwiftletBuild
import Testing

@Suite struct RecordingTests {
    /// A Debian tool the check needs, or nil after saying loudly that it cannot run (a
    /// failure under CI, whose .ci/run installs it).
    static func tool(_ name: String) -> URL? {
        let path = "/usr/bin/\(name)"
        if FileManager.default.isExecutableFile(atPath: path) { return URL(fileURLWithPath: path) }
        Harness.toolIsMissing("\(name) is not installed (apt-get install -y \(name)): this check cannot run")
        return nil
    }

    static func folder(_ label: String) throws -> URL {
        let url = Harness.scratch.appendingPathComponent("\(label)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    // MARK: --core

    @Test(arguments: runnableTargets)
    func coreOfACrashOpensInGdbAtTheTrappingFunction(target: Target) throws {
        let image = try Harness.example("crash")
        let cores = try Self.folder("cores-\(target)")
        let result = try Harness.run(Harness.cli, ["run", "--target", target.rawValue, "--core", cores.path, image.path, "--", "overflow"])
        #expect(result.status == 255, "stderr: \(result.stderr)")
        #expect(result.stderr.contains("in crash.addOverflowing(_:)"), "stderr: \(result.stderr)")
        let files = try FileManager.default.contentsOfDirectory(atPath: cores.path)
        #expect(files.count == 1, "\(files)")
        let core = try #require(files.first.map { cores.appendingPathComponent($0) })
        #expect(result.stderr.contains("core written: \(core.path)"), "stderr: \(result.stderr)")
        // The core holds what the guest touched, not its whole 32 MiB.
        let size = try #require(try FileManager.default.attributesOfItem(atPath: core.path)[.size] as? Int)
        #expect(size > 4096 && size < 8 << 20, "core of \(size) bytes")

        guard let gdb = Self.tool("gdb") else { return }
        let session = try Harness.run(gdb, ["-batch", "-nx", "-ex", "bt", "-ex", "info registers rip", "-ex", "x/i $pc",
                                            image.path, core.path], timeout: 120)
        #expect(session.stdout.contains("Program terminated with signal SIGILL"), "gdb: \(session.stdout)\n\(session.stderr)")
        // The innermost function is the one that trapped, at the ud2 the tender reported, then its
        // caller. Images carry DWARF, so gdb first shows the trap's artificial inlined frame,
        // "Swift runtime failure: arithmetic overflow", at the same address.
        let frames = session.stdout.split(separator: "\n").filter { $0.hasPrefix("#") && !$0.contains("Swift runtime failure") }
        #expect(frames.first?.contains("addOverflowing") == true, "gdb bt: \(session.stdout)")
        #expect(frames.dropFirst().first?.contains("main") == true, "gdb bt: \(session.stdout)")
        #expect(session.stdout.contains("ud2"), "gdb x/i $pc: \(session.stdout)")
    }

    @Test(arguments: runnableTargets)
    func guestThatDoesNotCrashLeavesNoCoreFile(target: Target) throws {
        let image = try Harness.example("hello")
        let cores = try Self.folder("no-core-\(target)")
        let result = try Harness.run(Harness.cli, ["run", "--target", target.rawValue, "--core", cores.path, image.path])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stdout.contains("Hello from Swiftlet!"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: cores.path).isEmpty)
    }

    /// With --core the pid the user sees is the keeper's: a signal to it still stops the
    /// guest, the keeper ends by the same signal, and the unused file is gone.
    @Test(arguments: runnableTargets, [SIGTERM, SIGINT])
    func signalStopsASpinningGuestRunWithCoreAndLeavesNoFile(target: Target, signal: Int32) throws {
        let image = try Harness.example("crash")
        let cores = try Self.folder("signal-\(target)")
        let result = try Harness.run(Harness.debugTender(target), ["--core", cores.path, image.path, "spin"], timeout: 20) { process in
            Thread.sleep(forTimeInterval: 0.5)
            kill(process.processIdentifier, signal)
        }
        #expect(result.signal == signal, "status \(result.status), stderr: \(result.stderr)")
        #expect(result.stdout.contains("about to spin"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: cores.path).isEmpty)
    }

    @Test(arguments: runnableTargets)
    func unusableCoreFolderOrPcapFileIsRefusedBeforeTheGuestStarts(target: Target) throws {
        let hello = try Harness.example("hello")
        let file = Harness.scratch.appendingPathComponent("not-a-folder-\(target)")
        _ = FileManager.default.createFile(atPath: file.path, contents: Data())
        for folder in ["/nonexistent-swiftlet-folder", file.path] {
            let result = try Harness.run(Harness.cli, ["run", "--target", target.rawValue, "--core", folder, hello.path])
            #expect(result.status == 125, "--core \(folder): \(result.stderr)")
            #expect(result.stderr.contains("--core \(folder)"), "stderr: \(result.stderr)")
            #expect(!result.stdout.contains("Hello"), "the guest ran: \(result.stdout)")
        }
        let echo = try Harness.example("echo")
        let namespace = try TapNamespace.availableOrSkip("refuse-\(target)")
        guard let namespace else { return }
        let result = try namespace.run([Harness.cli.path, "run", "--target", target.rawValue, "--net", "tap:tap0",
                                        "--pcap", "/nonexistent-swiftlet-folder/x.pcap", echo.path])
        #expect(result.status == 125, "stderr: \(result.stderr)")
        #expect(result.stderr.contains("cannot write the packet capture /nonexistent-swiftlet-folder/x.pcap"), "stderr: \(result.stderr)")
        #expect(!result.stdout.contains("listening"), "the guest ran: \(result.stdout)")
    }

    // MARK: --pcap

    @Test(arguments: runnableTargets)
    func pcapOfACurlAgainstTheWebExampleShowsHandshakeAndGET(target: Target) throws {
        guard let namespace = try TapNamespace.availableOrSkip("pcap-\(target)") else { return }
        let image = try Harness.example("web")
        let capture = try Self.folder("pcap-\(target)").appendingPathComponent("web.pcap")
        let address = TapNamespace.guestAddress
        var client: Harness.Outcome?
        let guest = try namespace.run([Harness.cli.path, "run", "--target", target.rawValue, "--net", "tap:tap0",
                                       "--pcap", capture.path, image.path, "--", "ip=\(address)/24"], timeout: 100) { process in
            // Bounded: at most 50 tries, 1 s each, until the guest answers once (a loaded CI
            // machine once took over 20 s to get the guest up).
            client = try? namespace.run(["sh", "-c", "for i in $(seq 50); do curl -s -m 1 -o /dev/null -w '%{http_code}' http://\(address)/ && exit 0; sleep 0.2; done; exit 1"],
                                        timeout: 80)
            kill(process.processIdentifier, SIGTERM)
        }
        let answer = try #require(client)
        #expect(answer.stdout.hasSuffix("200"), "curl: \(answer.stdout) \(answer.stderr)\nguest: \(guest.stdout) \(guest.stderr)")

        guard let tcpdump = Self.tool("tcpdump") else { return }
        let read = try Harness.run(tcpdump, ["-r", capture.path, "-nn", "-A", "tcp port 80"], timeout: 60)
        #expect(read.status == 0, "tcpdump: \(read.stderr)")
        #expect(read.stderr.contains("link-type EN10MB (Ethernet)"), "tcpdump: \(read.stderr)")
        let lines = read.stdout.split(separator: "\n")
        // The handshake, each way: client SYN, guest SYN-ACK, client ACK.
        let syn = lines.firstIndex { $0.contains("\(TapNamespace.hostAddress).") && $0.contains("> \(address).80:") && $0.contains("Flags [S],") }
        let synAck = lines.firstIndex { $0.contains("\(address).80 > \(TapNamespace.hostAddress).") && $0.contains("Flags [S.],") }
        #expect(syn != nil && synAck != nil && syn! < synAck!, "tcpdump: \(read.stdout.prefix(3000))")
        #expect(read.stdout.contains("GET / HTTP/1.1"), "tcpdump -A: \(read.stdout.prefix(3000))")
        #expect(read.stdout.contains("HTTP/1.1 200"), "tcpdump -A: \(read.stdout.prefix(3000))")
    }

    /// The virtio target: QEMU's filter-dump, relayed by the CLI into the same kind of file.
    @Test(.enabled(if: VirtioHarness.qemuAvailable, "skipped: qemu-system-x86_64 is not installed"))
    func pcapOnTheVirtioTargetShowsHandshakeAndGET() throws {
        guard let namespace = try TapNamespace.availableOrSkip("pcap-virtio") else { return }
        let configuration = VirtioHarness.configurations.last!     // microvm, KVM where usable
        let image = try VirtioHarness.image("web")
        let capture = try Self.folder("pcap-virtio").appendingPathComponent("web.pcap")
        let address = TapNamespace.guestAddress
        var client: Harness.Outcome?
        let guest = try namespace.run(["timeout", "-s", "KILL", "120", "env", "SWIFTLET_VIRTIO_ACCEL=\(configuration.accel)",
                                       Harness.cli.path, "run", "--target", "virtio", "--machine", configuration.machine,
                                       "--net", "tap:tap0", "--pcap", capture.path, image.path, "--", "ip=\(address)/24"],
                                      timeout: 130) { process in
            // Bounded: at most 60 tries, 1 s each (TCG boots slowly), until the guest answers once.
            client = try? namespace.run(["sh", "-c", "for i in $(seq 60); do curl -s -m 1 -o /dev/null -w '%{http_code}' http://\(address)/ && exit 0; sleep 0.5; done; exit 1"],
                                        timeout: 100)
            kill(-process.processIdentifier, SIGTERM)
        }
        let answer = try #require(client)
        #expect(answer.stdout.hasSuffix("200"), "curl: \(answer.stdout)\nguest: \(guest.stdout) \(guest.stderr)")
        guard let tcpdump = Self.tool("tcpdump") else { return }
        let read = try Harness.run(tcpdump, ["-r", capture.path, "-nn", "-A", "tcp port 80"], timeout: 60)
        #expect(read.stderr.contains("link-type EN10MB (Ethernet)"), "tcpdump: \(read.stderr)")
        #expect(read.stdout.contains("> \(address).80: Flags [S],"), "tcpdump: \(read.stdout.prefix(3000))")
        #expect(read.stdout.contains("\(address).80 > \(TapNamespace.hostAddress)."), "tcpdump: \(read.stdout.prefix(3000))")
        #expect(read.stdout.contains("GET / HTTP/1.1"), "tcpdump -A: \(read.stdout.prefix(3000))")
    }

    @Test func pcapLimitKeepsTheFileWithinItsSize() throws {
        guard let namespace = try TapNamespace.availableOrSkip("pcap-limit") else { return }
        let target = runnableTargets.last!
        let image = try Harness.example("echo")
        let capture = try Self.folder("pcap-limit").appendingPathComponent("echo.pcap")
        let address = TapNamespace.guestAddress
        let limit = 4096
        let guest = try namespace.run([Harness.cli.path, "run", "--target", target.rawValue, "--net", "tap:tap0",
                                       "--pcap", capture.path, "--pcap-limit", "\(limit)", image.path, "--", "ip=\(address)/24"],
                                      timeout: 60) { process in
            Thread.sleep(forTimeInterval: 0.5)
            _ = try? namespace.run(["ping", "-c", "40", "-i", "0.01", "-W", "1", address], timeout: 20)
            kill(process.processIdentifier, SIGTERM)
        }
        let size = try #require(try FileManager.default.attributesOfItem(atPath: capture.path)[.size] as? Int)
        #expect(size <= limit && size > limit - 200, "capture of \(size) bytes for a limit of \(limit)")
        #expect(guest.stderr.contains("reached its limit of \(limit) bytes"), "stderr: \(guest.stderr)")
        guard let tcpdump = Self.tool("tcpdump") else { return }
        let read = try Harness.run(tcpdump, ["-r", capture.path, "-nn"], timeout: 60)
        #expect(read.status == 0 && read.stdout.contains("ICMP echo request"), "tcpdump: \(read.stdout) \(read.stderr)")
    }
}

extension TapNamespace {
    /// A namespace with a tap, or nil after saying (as a known issue) why the check is skipped.
    static func availableOrSkip(_ label: String) throws -> TapNamespace? {
        guard available else {
            withKnownIssue("skipped: needs root and iproute2 to create a network namespace with a tap") {
                Issue.record("no network namespace")
            }
            return nil
        }
        return try TapNamespace(label)
    }
}
