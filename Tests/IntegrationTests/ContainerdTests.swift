// The archive `swiftlet package -o FILE.tar` writes is also what containerd imports: `ctr images
// import` of it, `ctr run` of the image in a network namespace the test creates (a veth pair
// with a default route: passt inside the container needs one to start), GET / through passt
// answers 200, and `ctr tasks kill` (SIGTERM) ends the guest after it drained. The test runs
// its own containerd (state, root and socket in the test's scratch folder), so it neither
// needs nor touches a system containerd, and removes everything it made.
//
// Not under containerd's default seccomp profile (`ctr run --seccomp`, Docker's profile): it
// denies unshare(CLONE_NEWUSER), and passt then refuses to start ("Couldn't create user
// namespace"); podman's profile allows it (PodmanTests). The tender's own filter is there either
// way (checked below).
import Foundation
import SwiftletBuild
import Testing

@Suite(.serialized) struct ContainerdTests {
    @Test func ctrImportsAndRunsThePackagedArchive() throws {
        guard let containerd = try Containerd.start() else { return }
        defer { containerd.stop() }
        let archive = Harness.scratch.appendingPathComponent("web-ctr-\(UUID().uuidString).tar")
        let reference = "swiftlet-ctr-test:spt-\(getpid())"
        let packaged = try Harness.run(Harness.cli, ["package", try Harness.example("web").path, "-p", "80", "--mem", "16M",
                                                     "--tag", reference, "-o", archive.path], timeout: 300)
        try #require(packaged.status == 0, "swiftlet package: \(packaged.stderr)")

        let imported = try containerd.ctr(["images", "import", archive.path], timeout: 120)
        try #require(imported.status == 0, "ctr images import: \(imported.stdout)\(imported.stderr)")
        let images = try containerd.ctr(["images", "ls", "--quiet"])
        #expect(images.stdout.split(separator: "\n").contains { $0 == reference || $0 == "docker.io/library/\(reference)" },
                "ctr images ls: \(images.stdout)")
        let name = images.stdout.split(separator: "\n").map(String.init).first { $0.hasSuffix(reference) } ?? reference

        let namespace = try VethNamespace("ctr")
        let log = Harness.scratch.appendingPathComponent("ctr-web-\(UUID().uuidString).log")
        let container = "swiftlet-ctr-web-\(getpid())"
        let started = try containerd.ctr(["run", "--detach", "--log-uri", "file://\(log.path)",
                                          "--with-ns", "network:/var/run/netns/\(namespace.name)", name, container])
        defer {
            _ = try? containerd.ctr(["tasks", "kill", "--signal", "SIGKILL", container])
            _ = try? containerd.ctr(["tasks", "delete", "--force", container])
            _ = try? containerd.ctr(["containers", "delete", container])
        }
        try #require(started.status == 0, "ctr run: \(started.stdout)\(started.stderr)")

        var answer = ""
        for _ in 0..<60 where !answer.hasSuffix("200") {
            answer = try namespace.run(["/usr/bin/curl", "-s", "--max-time", "2", "-w", "\n%{http_code}", "http://127.0.0.1:80/"]).stdout
            if !answer.hasSuffix("200") { Thread.sleep(forTimeInterval: 0.25) }
        }
        let printed = { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }
        #expect(answer.hasSuffix("200") && answer.contains("<title>Swiftlet"), "GET / through ctr: \(answer.suffix(200)); log:\n\(printed())")

        let tasks = try containerd.ctr(["tasks", "ls"])
        let pid = tasks.stdout.split(separator: "\n").first { $0.hasPrefix(container) }?.split(separator: " ", omittingEmptySubsequences: true)
            .dropFirst().first.flatMap { Int32($0) }
        #expect(pid.flatMap(Podman.seccompFilters) == 1, "the tender's own filter on pid \(pid.map { "\($0)" } ?? "?"): \(tasks.stdout)")

        let killed = try containerd.ctr(["tasks", "kill", container])
        #expect(killed.status == 0, "ctr tasks kill: \(killed.stderr)")
        var state = ""
        for _ in 0..<40 where !state.contains("STOPPED") {
            Thread.sleep(forTimeInterval: 0.25)
            state = try containerd.ctr(["tasks", "ls"]).stdout
        }
        #expect(state.contains("STOPPED"), "the task did not stop within 10 s of SIGTERM: \(state)")
        #expect(printed().contains("http: shutdown requested") && printed().contains("http: drained"), "log:\n\(printed())")
    }
}

/// A containerd of the test's own: config, root, state and socket in the scratch folder.
final class Containerd {
    let folder: URL
    let socket: String
    let process: Process

    /// Starts it, or says loudly why the containerd test cannot run and returns nil.
    static func start() throws -> Containerd? {
        let containerd = ["/usr/bin/containerd", "/usr/local/bin/containerd"].first { FileManager.default.isExecutableFile(atPath: $0) }
        let runc = ["/usr/sbin/runc", "/usr/bin/runc"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let containerd, runc != nil, FileManager.default.isExecutableFile(atPath: "/usr/bin/ctr") else {
            Harness.toolIsMissing("containerd, ctr or runc is not installed (apt-get install -y containerd runc): `ctr images import` of the package was not checked")
            return nil
        }
        guard getuid() == 0 else {
            Harness.toolIsMissing("containerd runs containers as root only here: run the suite as root to check `ctr images import`")
            return nil
        }
        // A short folder name: the socket's path must fit sockaddr_un (108 bytes).
        let folder = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("ctrd-\(getpid())-\(UInt16.random(in: 0...UInt16.max))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let socket = folder.appendingPathComponent("sock").path
        let configuration = folder.appendingPathComponent("config.toml")
        try """
            version = 2
            root = "\(folder.path)/root"
            state = "\(folder.path)/state"
            [grpc]
              address = "\(socket)"
            [ttrpc]
              address = "\(socket).ttrpc"
            [debug]
              address = ""
            [metrics]
              address = ""

            """.write(to: configuration, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: containerd)
        process.arguments = ["--config", configuration.path]
        let log = folder.appendingPathComponent("containerd.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let output = try FileHandle(forWritingTo: log)
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let instance = Containerd(folder: folder, socket: socket, process: process)
        for _ in 0..<80 {
            if (try? instance.ctr(["version"], timeout: 5))?.status == 0 { return instance }
            Thread.sleep(forTimeInterval: 0.25)
        }
        let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        instance.stop()
        Issue.record("containerd did not answer within 20 s:\n\(text.suffix(2000))")
        return nil
    }

    private init(folder: URL, socket: String, process: Process) {
        self.folder = folder
        self.socket = socket
        self.process = process
    }

    func ctr(_ arguments: [String], timeout: TimeInterval = 60) throws -> Harness.Outcome {
        try Harness.run(URL(fileURLWithPath: "/usr/bin/ctr"), ["--address", socket] + arguments, timeout: timeout)
    }

    /// Removes its images, ends it and deletes its folder.
    func stop() {
        if let images = try? ctr(["images", "ls", "--quiet"]) {
            for image in images.stdout.split(separator: "\n") { _ = try? ctr(["images", "remove", String(image)]) }
        }
        if process.isRunning {
            process.terminate()
            for _ in 0..<40 where process.isRunning { Thread.sleep(forTimeInterval: 0.25) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        try? FileManager.default.removeItem(at: folder)
    }
}

/// A network namespace with a veth pair inside it, one end addressed with a default route
/// through the other: passt needs an interface with a default route to start. Nothing leaves
/// the namespace.
final class VethNamespace {
    let name: String

    init(_ label: String) throws {
        name = "swiftlet-\(label)-\(getpid())"
        for command in [["netns", "add", name],
                        ["-n", name, "link", "add", "veth0", "type", "veth", "peer", "name", "veth1"],
                        ["-n", name, "addr", "add", "10.198.0.1/24", "dev", "veth0"],
                        ["-n", name, "link", "set", "veth0", "up"],
                        ["-n", name, "link", "set", "veth1", "up"],
                        ["-n", name, "link", "set", "lo", "up"],
                        ["-n", name, "route", "add", "default", "via", "10.198.0.2", "dev", "veth0"]] {
            let result = try Harness.run(URL(fileURLWithPath: "/usr/sbin/ip"), command)
            guard result.status == 0 else { throw TapNamespace.SetupError(message: "ip \(command.joined(separator: " ")): \(result.stderr)") }
        }
    }

    deinit { _ = try? Harness.run(URL(fileURLWithPath: "/usr/sbin/ip"), ["netns", "del", name]) }

    func run(_ command: [String], timeout: TimeInterval = 30) throws -> Harness.Outcome {
        try Harness.run(URL(fileURLWithPath: "/usr/sbin/ip"), ["netns", "exec", name] + command, timeout: timeout)
    }
}
