// podman as the container tests drive it: loading what `swiftlet package` writes, running and
// removing containers and pods, and polling a published port with curl (bounded).
import Foundation
import SwiftletBuild
import Testing

struct Podman {
    let executable: URL
    /// A containers.conf with what this kind of sandbox needs (platform-facts): the runc runtime
    /// (crun refuses cgroups in hybrid mode) and low container rlimits (without CAP_SYS_RESOURCE,
    /// podman's defaults fail with `setrlimit: Operation not permitted`; a guest needs a few).
    let configuration: URL

    /// podman and runc, or nil after saying loudly why the container tests cannot run (a
    /// failure under CI, which installs both).
    static func require() throws -> Podman? {
        let podman = ["/usr/bin/podman", "/usr/local/bin/podman"].first { FileManager.default.isExecutableFile(atPath: $0) }
        let runc = ["/usr/sbin/runc", "/usr/bin/runc", "/usr/local/bin/runc"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let podman, let runc else {
            Harness.toolIsMissing("podman or runc is not installed (apt-get install -y podman runc): the packaged image was not run in a container")
            return nil
        }
        guard getuid() == 0 else {
            Harness.toolIsMissing("the container tests run rootful podman (publishing ports, /dev/kvm): run the suite as root")
            return nil
        }
        let configuration = Harness.scratch.appendingPathComponent("containers-\(UUID().uuidString).conf")
        try """
            [containers]
            default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
            [engine]
            runtime = "\(runc)"

            """.write(to: configuration, atomically: true, encoding: .utf8)
        return Podman(executable: URL(fileURLWithPath: podman), configuration: configuration)
    }

    func run(_ arguments: [String], timeout: TimeInterval = 120) throws -> Harness.Outcome {
        var environment = Harness.environment
        environment["CONTAINERS_CONF"] = configuration.path
        return try Harness.run(executable, arguments, timeout: timeout, environment: environment)
    }

    /// `podman load -i ARCHIVE`, returning the name it loaded (e.g. localhost/NAME:TAG).
    func load(_ archive: URL) throws -> String? {
        let loaded = try run(["load", "-i", archive.path])
        #expect(loaded.status == 0, "podman load: \(loaded.stderr)")
        let line = loaded.stdout.split(separator: "\n").first { $0.hasPrefix("Loaded image: ") }
        return line.map { String($0.dropFirst("Loaded image: ".count)) }
    }

    /// Removes a container (at once, no grace period) and an image, ignoring ones already gone.
    func remove(container: String? = nil, image: String? = nil) {
        if let container { _ = try? run(["rm", "--force", "--time", "0", container]) }
        if let image { _ = try? run(["rmi", "--force", image]) }
    }

    /// The image `podman kube play` builds for a pod's infra container.
    static let pauseImage = "localhost/podman-pause"

    /// The IDs of every image in podman's store, or of those matching `reference`.
    func imageIDs(reference: String? = nil) throws -> Set<String> {
        let images = try run(["images", "--all", "--quiet", "--no-trunc"] + (reference.map { ["--filter", "reference=\($0)"] } ?? []))
        #expect(images.status == 0, "podman images: \(images.stderr)")
        return Set(images.stdout.split(separator: "\n").map(String.init))
    }

    /// The host pids and commands of a container's processes (`podman top`).
    func processes(_ container: String) throws -> [(pid: Int32, command: String)] {
        let top = try run(["top", container, "hpid", "comm"])
        return top.stdout.split(separator: "\n").dropFirst().compactMap { line in
            let words = line.split(whereSeparator: \.isWhitespace)
            guard words.count == 2, let pid = Int32(words[0]) else { return nil }
            return (pid, String(words[1]))
        }
    }

    /// A TCP port on 127.0.0.1 that nothing listens on now.
    static func unusedPort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 ? getsockname(fd, $0, &length) : -1 }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// GETs `url` with curl until it answers 200 or `attempts` × 0.25 s have passed; returns the
    /// last status ("000" when nothing answered) and body.
    static func poll(_ url: String, attempts: Int = 120) throws -> (status: String, body: String) {
        var last = (status: "000", body: "")
        for _ in 0..<attempts {
            let curl = try Harness.run(URL(fileURLWithPath: "/usr/bin/curl"),
                                       ["-s", "--max-time", "2", "-w", "\n%{http_code}", url], timeout: 5)
            let lines = curl.stdout.split(separator: "\n", omittingEmptySubsequences: false)
            last = (String(lines.last ?? "000"), lines.dropLast().joined(separator: "\n"))
            if last.status == "200" { break }
            Thread.sleep(forTimeInterval: 0.25)
        }
        return last
    }

    /// How many seccomp filters the kernel has installed on a host process (/proc/PID/status).
    static func seccompFilters(_ pid: Int32) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        let line = status.split(separator: "\n").first { $0.hasPrefix("Seccomp_filters:") }
        return line.flatMap { Int($0.split(separator: "\t").last ?? "") }
    }

    /// Starts an upload to 127.0.0.1:port (Tests/Tools/inflight_upload.py), runs `shutdown` beside
    /// it, lets the upload finish 1 s later (or never, when `finishing` is false), and returns its
    /// answer and what `shutdown` returned.
    static func uploadAcross(port: Int, finishing: Bool = true, _ shutdown: @escaping @Sendable () throws -> Harness.Outcome) throws
        -> (answer: [String: Any]?, shutdown: Harness.Outcome?) {
        let tool = try SwiftletHome.locate().root.appendingPathComponent("Tests/Tools/inflight_upload.py").path
        let client = Process()
        client.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        client.arguments = [tool, "127.0.0.1", "\(port)"]
        let input = Pipe(), output = Pipe()
        client.standardInput = input
        client.standardOutput = output
        let exit = Harness.ExitWatch(client)
        try client.run()
        exit.watch(client)
        let printed = Harness.Collected()
        let reader = DispatchGroup()
        DispatchQueue.global().async(group: reader) {
            while case let chunk = output.fileHandleForReading.availableData, !chunk.isEmpty { printed.append(chunk) }
        }
        defer { if !exit.hasEnded { kill(client.processIdentifier, SIGKILL) } }
        let ready = Date().addingTimeInterval(10)
        while !printed.text.contains("ready\n") && Date() < ready && !exit.hasEnded { Thread.sleep(forTimeInterval: 0.02) }
        guard printed.text.contains("ready\n") else {
            Issue.record("the upload did not start: \(printed.text)")
            return (nil, nil)
        }

        final class Result: @unchecked Sendable { var outcome: Harness.Outcome? }
        let result = Result(), finished = DispatchGroup()
        DispatchQueue.global().async(group: finished) { result.outcome = try? shutdown() }
        Thread.sleep(forTimeInterval: 1)            // the signal is in: the guest is draining
        guard finishing else {
            _ = finished.wait(timeout: .now() + 60)
            return (nil, result.outcome)
        }
        input.fileHandleForWriting.write(Data("go\n".utf8))
        _ = exit.wait(timeout: 30)
        _ = reader.wait(timeout: .now() + 5)
        _ = finished.wait(timeout: .now() + 60)
        let line = printed.text.split(separator: "\n").last.map(String.init) ?? ""
        return (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], result.outcome)
    }
}
