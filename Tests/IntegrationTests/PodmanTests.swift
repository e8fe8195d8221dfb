// The image `swiftlet package` writes runs in a real container runtime: `podman load` of the
// archive, `podman run -p` (spt as it is; hvt with --device /dev/kvm), and GET / through the
// published port answers 200 with the page; virtio runs QEMU in the container, with and
// without /dev/kvm. spt runs under the runtime's default seccomp
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

    /// virtio: QEMU is the container's entrypoint (the QEMU binary, its libraries and ROMs are in
    /// the layer), on KVM when the container is given /dev/kvm and on TCG when it is not; its
    /// user network forwards the published port to the guest.
    @Test func virtioContainerServesOnKVMAndFallsBackToTCG() throws {
        guard let podman = try Podman.require() else { return }
        let (loaded, container, port) = try start(podman, .virtio, packaging: ["--mem", "32M"])
        defer { podman.remove(container: container); podman.remove(image: loaded) }
        let log = try expectServes(podman, container, port)
        if Harness.kvmAvailable {
            #expect(!log.contains("falling back to tcg"), "QEMU was given /dev/kvm and did not use it: \(log)")
        } else {
            Harness.toolIsMissing("no /dev/kvm here: the virtio container ran on TCG only")
        }

        let tcg = container + "-tcg", tcgPort = Podman.unusedPort()
        let started = try podman.run(["run", "--detach", "--name", tcg, "--publish", "127.0.0.1:\(tcgPort):80"] + Self.qemuTimeout + [loaded])
        defer { podman.remove(container: tcg) }
        try #require(started.status == 0, "podman run without /dev/kvm: \(started.stderr)")
        let tcgLog = try expectServes(podman, tcg, tcgPort)
        #expect(tcgLog.contains("falling back to tcg"), "without /dev/kvm QEMU should say it runs on TCG: \(tcgLog)")
    }

    /// QEMU in a container is bounded like QEMU anywhere in the tests: conmon kills it after this.
    static let qemuTimeout = ["--timeout", "300"]

    /// `package --grace-period 1` reaches the tender through the entrypoint: with an upload held
    /// open, `podman stop` (SIGTERM, SIGKILL after podman's 10 s) ends when the guest's own 1 s
    /// deadline does, with the status of death by SIGTERM (143), not podman's SIGKILL (137).
    @Test func packagedGracePeriodBoundsTheDrain() throws {
        guard let podman = try Podman.require() else { return }
        let (loaded, container, port) = try start(podman, .spt, packaging: ["--grace-period", "1"])
        defer { podman.remove(container: container); podman.remove(image: loaded) }
        let answer = try Podman.poll("http://127.0.0.1:\(port)/")
        try #require(answer.status == "200", "GET / answered \(answer.status)")

        let started = Date()
        let (_, stopped) = try Podman.uploadAcross(port: port, finishing: false) { try podman.run(["stop", container]) }
        let seconds = Date().timeIntervalSince(started)
        #expect(stopped?.status == 0, "podman stop: \(stopped?.stderr ?? "did not finish")")
        #expect(seconds >= 0.9 && seconds < 5, "podman stop took \(seconds) s; the guest's 1 s grace period should end it")
        let status = try podman.run(["inspect", container, "--format", "{{.State.ExitCode}}"])
        let logs = try podman.run(["logs", container])
        #expect(status.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "143",
                "exit status \(status.stdout); log:\n\(logs.stdout)\(logs.stderr)")
        #expect(logs.stdout.contains("http: shutdown requested") && !logs.stdout.contains("http: drained"),
                "the guest saw the request and did not drain the held upload: \(logs.stdout)")
    }

    /// Packages examples/web for `target` (with `packaging` options), loads it and runs it with
    /// port 80 published on a free 127.0.0.1 port.
    func start(_ podman: Podman, _ target: Target, packaging: [String] = []) throws -> (image: String, container: String, port: Int) {
        let archive = Harness.scratch.appendingPathComponent("web-\(target)-\(UUID().uuidString).tar")
        let reference = "swiftlet-podman-test:\(target)-\(getpid())"
        let image = target == .virtio ? try VirtioHarness.image("web") : try Harness.example("web")
        let packaged = try Harness.run(Harness.cli, ["package", image.path, "--target", target.rawValue,
                                                     "-p", "80", "--tag", reference, "-o", archive.path] + packaging, timeout: 300)
        try #require(packaged.status == 0, "swiftlet package: \(packaged.stderr)")
        let loaded = try #require(try podman.load(archive))
        #expect(loaded == "localhost/\(reference)")
        let container = "swiftlet-podman-test-\(target)-\(getpid())"
        let port = Podman.unusedPort()
        var arguments = ["run", "--detach", "--name", container, "--publish", "127.0.0.1:\(port):80"]
        if target == .hvt || (target == .virtio && Harness.kvmAvailable) { arguments += ["--device", "/dev/kvm"] }
        if target == .virtio { arguments += Self.qemuTimeout }
        let started = try podman.run(arguments + [loaded])
        if started.status != 0 { podman.remove(container: container); podman.remove(image: loaded) }
        try #require(started.status == 0, "podman run: \(started.stderr)")
        return (loaded, container, port)
    }

    /// GET / through the published port answers the page, and the guest logged it; the
    /// container's log (stdout and stderr).
    func expectServes(_ podman: Podman, _ container: String, _ port: Int) throws -> String {
        let answer = try Podman.poll("http://127.0.0.1:\(port)/")
        let logs = try podman.run(["logs", container])
        #expect(answer.status == "200" && answer.body.contains("<title>Swiftlet"),
                "GET / answered \(answer.status); container log:\n\(logs.stdout)\n\(logs.stderr)")
        #expect(logs.stdout.contains("\"GET / HTTP/1.1\" 200"), "the guest's access log: \(logs.stdout)")
        return logs.stdout + logs.stderr
    }

    func serve(_ target: Target) throws {
        guard let podman = try Podman.require() else { return }
        let (loaded, container, port) = try start(podman, target)
        defer { podman.remove(container: container); podman.remove(image: loaded) }

        _ = try expectServes(podman, container, port)

        // Under the runtime's default profile (one filter) the tender adds its own (a second).
        let security = try podman.run(["inspect", container, "--format", "{{.HostConfig.SecurityOpt}}"])
        #expect(!security.stdout.contains("unconfined"), "the container ran without the default seccomp profile: \(security.stdout)")
        let tender = try podman.processes(container).first { $0.command == "swiftlet-\(target)" }
        let filters = tender.flatMap { Podman.seccompFilters($0.pid) }
        #expect(filters.map { $0 >= 2 } == true,
                "swiftlet-\(target) in the container: \(filters.map { "\($0)" } ?? "no") seccomp filters; the runtime's and the tender's expected")
    }
}
