// The image `swiftlet package` writes runs in a real container runtime: `podman load` of the
// archive, `podman run -p` (spt as it is; hvt with --device /dev/kvm), and GET / through the
// published port answers 200 with the page. spt runs under the runtime's default seccomp
// profile and still installs its own filter on top. Every container and image is removed.
import Foundation
import SwiftletBuild
import Testing

@Suite(.serialized) struct PodmanTests {
    @Test func sptContainerServesThroughThePublishedPort() throws {
        try serve(.spt)
    }

    @Test(.enabled(if: Harness.kvmAvailable, "skipped: no /dev/kvm here — the hvt container (podman run --device /dev/kvm) did not run"))
    func hvtContainerServesThroughThePublishedPort() throws {
        try serve(.hvt)
    }

    func serve(_ target: Target) throws {
        guard let podman = try Podman.require() else { return }
        let archive = Harness.scratch.appendingPathComponent("web-\(target)-\(UUID().uuidString).tar")
        let reference = "swiftlet-podman-test:\(target)-\(getpid())"
        let packaged = try Harness.run(Harness.cli, ["package", try Harness.example("web").path, "--target", target.rawValue,
                                                     "-p", "80", "--tag", reference, "-o", archive.path], timeout: 300)
        try #require(packaged.status == 0, "swiftlet package: \(packaged.stderr)")
        let loaded = try #require(try podman.load(archive))
        defer { podman.remove(image: loaded) }
        #expect(loaded == "localhost/\(reference)")

        let container = "swiftlet-podman-test-\(target)-\(getpid())"
        defer { podman.remove(container: container) }
        let port = Podman.unusedPort()
        var arguments = ["run", "--detach", "--name", container, "--publish", "127.0.0.1:\(port):80"]
        if target == .hvt { arguments += ["--device", "/dev/kvm"] }
        let started = try podman.run(arguments + [loaded])
        try #require(started.status == 0, "podman run: \(started.stderr)")

        let answer = try Podman.poll("http://127.0.0.1:\(port)/")
        let logs = try podman.run(["logs", container])
        #expect(answer.status == "200" && answer.body.contains("<title>Swiftlet"),
                "GET / answered \(answer.status); container log:\n\(logs.stdout)\n\(logs.stderr)")
        #expect(logs.stdout.contains("\"GET / HTTP/1.1\" 200"), "the guest's access log: \(logs.stdout)")

        // Under the runtime's default profile (one filter) the tender adds its own (a second).
        let security = try podman.run(["inspect", container, "--format", "{{.HostConfig.SecurityOpt}}"])
        #expect(!security.stdout.contains("unconfined"), "the container ran without the default seccomp profile: \(security.stdout)")
        let tender = try podman.processes(container).first { $0.command == "swiftlet-\(target)" }
        let filters = tender.flatMap { Podman.seccompFilters($0.pid) }
        #expect(filters.map { $0 >= 2 } == true,
                "swiftlet-\(target) in the container: \(filters.map { "\($0)" } ?? "no") seccomp filters; the runtime's and the tender's expected")
    }
}
