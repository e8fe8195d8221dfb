// `swiftlet package --kube`: the manifest is standard YAML a real parser reads (python3 yaml),
// with the Deployment and Service Kubernetes expects (probes on the guest's port, memory from
// --mem, the grace period), and `podman kube play` of it serves examples/web through the
// published port until `podman kube down`. Pods and images the test creates are removed.
import Foundation
import SwiftletBuild
import Testing

@Suite(.serialized) struct KubeTests {
    /// The manifest's documents as JSON, read by python3's yaml module (a parser that is not ours).
    func parse(_ manifest: URL) throws -> [[String: Any]]? {
        let script = "import json, sys, yaml; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))"
        let python = try Harness.run(URL(fileURLWithPath: "/usr/bin/python3"), ["-c", script, manifest.path], timeout: 30)
        if python.stderr.contains("No module named 'yaml'") {
            Harness.toolIsMissing("python3's yaml module is not installed (apt-get install -y python3-yaml): the manifest was not parsed")
            return nil
        }
        #expect(python.status == 0, "python3 yaml: \(python.stderr)")
        return try JSONSerialization.jsonObject(with: Data(python.stdout.utf8)) as? [[String: Any]]
    }

    /// A parsed value as canonical JSON text, to compare it with the expected one.
    func json(_ value: Any?) -> String {
        guard let value, let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .fragmentsAllowed]) else { return "nil" }
        return String(decoding: data, as: UTF8.self)
    }

    func package(_ target: Target, _ extra: [String], reference: String) throws -> (archive: URL, manifest: URL) {
        let folder = Harness.scratch.appendingPathComponent("kube-\(target)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let archive = folder.appendingPathComponent("web.tar"), manifest = folder.appendingPathComponent("web.yaml")
        let packaged = try Harness.run(Harness.cli, ["package", try Harness.example("web").path, "--target", target.rawValue, "-p", "80",
                                                     "--mem", "16M", "--tag", reference, "-o", archive.path, "--kube", manifest.path] + extra,
                                       timeout: 300)
        try #require(packaged.status == 0, "swiftlet package --kube: \(packaged.stderr)")
        return (archive, manifest)
    }

    @Test func manifestIsAStandardDeploymentAndService() throws {
        let (_, manifest) = try package(.hvt, ["--host-port", "18080", "--grace-period", "30"], reference: "registry.example/team/Web_App:1.0")
        guard let documents = try parse(manifest) else { return }
        #expect(documents.map { $0["kind"] as? String } == ["Deployment", "Service"])
        #expect(documents.map { $0["apiVersion"] as? String } == ["apps/v1", "v1"])
        let deployment = documents.first ?? [:], service = documents.last ?? [:]
        #expect((deployment["metadata"] as? [String: Any])?["name"] as? String == "web-app")

        let spec = deployment["spec"] as? [String: Any] ?? [:]
        let selector = (spec["selector"] as? [String: Any])?["matchLabels"] as? [String: String]
        let template = spec["template"] as? [String: Any] ?? [:]
        #expect(selector != nil && selector == (template["metadata"] as? [String: Any])?["labels"] as? [String: String])
        #expect((service["spec"] as? [String: Any])?["selector"] as? [String: String] == selector)
        let pod = template["spec"] as? [String: Any] ?? [:]
        #expect(pod["terminationGracePeriodSeconds"] as? Int == 32, "the guest's 30 s (--grace-period) plus 2 s before SIGKILL")

        let container = (pod["containers"] as? [[String: Any]])?.first ?? [:]
        #expect(container["image"] as? String == "registry.example/team/web_app:1.0")
        #expect(json(container["ports"]) == json([["containerPort": 80, "protocol": "TCP", "hostPort": 18080]]))
        for probe in ["readinessProbe", "livenessProbe"] {
            let get = (container[probe] as? [String: Any])?["httpGet"]
            #expect(json(get) == json(["path": "/", "port": 80]), "\(probe): \(container[probe] ?? "none")")
        }
        let resources = container["resources"] as? [String: [String: String]] ?? [:]
        #expect(resources["requests"]?["memory"] == "40Mi" && resources["limits"]?["memory"] == "40Mi", "16 MiB guest + 24 MiB: \(resources)")

        // hvt: /dev/kvm from the node as a character device.
        let volume = (pod["volumes"] as? [[String: Any]])?.first?["hostPath"] as? [String: String]
        #expect(volume == ["path": "/dev/kvm", "type": "CharDevice"])
        #expect((container["volumeMounts"] as? [[String: String]])?.first?["mountPath"] == "/dev/kvm")
        let servicePorts = (service["spec"] as? [String: Any])?["ports"]
        #expect(json(servicePorts) == json([["name": "tcp-80", "port": 80, "targetPort": 80, "protocol": "TCP"]]))

        let (_, sptManifest) = try package(.spt, [], reference: "web")
        guard let spt = try parse(sptManifest) else { return }
        let sptPod = ((spt.first?["spec"] as? [String: Any])?["template"] as? [String: Any])?["spec"] as? [String: Any] ?? [:]
        #expect(sptPod["volumes"] == nil, "spt needs no device: \(sptPod)")
        #expect(sptPod["terminationGracePeriodSeconds"] as? Int == 12, "the guest's default 10 s plus 2 s before SIGKILL")
    }

    @Test func kubeNeedsAPortAndHostPortNeedsKube() throws {
        let image = try Harness.example("web").path
        let noPort = try Harness.run(Harness.cli, ["package", image, "--kube", Harness.scratch.appendingPathComponent("x.yaml").path], timeout: 120)
        #expect(noPort.status != 0 && noPort.stderr.contains("--kube needs a --port"), "stderr: \(noPort.stderr)")
        let noKube = try Harness.run(Harness.cli, ["package", image, "-p", "80", "--host-port", "8080"], timeout: 120)
        #expect(noKube.status != 0 && noKube.stderr.contains("give --kube FILE too"), "stderr: \(noKube.stderr)")
    }

    @Test(arguments: runnableTargets)
    func podmanKubePlayServesUntilKubeDown(target: Target) throws {
        guard let podman = try Podman.require() else { return }
        let port = Podman.unusedPort()
        let reference = "swiftlet-kube-test:\(target)-\(getpid())"
        let (archive, manifest) = try package(target, ["--host-port", "\(port)"], reference: reference)
        let pausesBefore = try podman.imageIDs(reference: Podman.pauseImage)
        let loaded = try #require(try podman.load(archive))
        defer { podman.remove(image: loaded) }
        // kube play builds a pause image for the pod's infra container the first time: it goes too
        // (only that one: other suites load images of their own at the same time).
        defer { for image in (try? podman.imageIDs(reference: Podman.pauseImage).subtracting(pausesBefore)) ?? [] { podman.remove(image: image) } }
        defer { _ = try? podman.run(["kube", "down", manifest.path]) }
        #expect(loaded == "localhost/\(reference)")

        let played = try podman.run(["kube", "play", manifest.path])
        try #require(played.status == 0, "podman kube play: \(played.stdout)\n\(played.stderr)")
        let answer = try Podman.poll("http://127.0.0.1:\(port)/")
        let pod = "swiftlet-kube-test-pod-0"      // podman names a Deployment's pod NAME-pod-0
        let logs = try podman.run(["pod", "logs", pod])
        #expect(answer.status == "200" && answer.body.contains("<title>Swiftlet"),
                "GET / answered \(answer.status); pod log:\n\(logs.stdout)\n\(logs.stderr)")

        // An upload under way when the guest's container is stopped (SIGTERM, then SIGKILL after
        // the stop timeout) is finished and answered, and the guest then exits 0 by itself,
        // before the stop timeout. The container is stopped on its own first, as the kubelet
        // stops a pod's containers before its sandbox, and `kube down` then removes the pod:
        // podman 4.3's `kube down` stops with a timeout of 0, SIGKILL right after SIGTERM
        // (containers/podman#22397, fixed by #22398), and its `pod stop` stops the infra
        // container, and with it the pod's network, beside the others (graph-ordered stop,
        // infra last, is containers/podman#25169), so neither lets a request under way finish.
        let container = "\(pod)-swiftlet-kube-test"
        let downStarted = Date()
        let (upload, stopped) = try Podman.uploadAcross(port: port) { try podman.run(["stop", container]) }
        let stopSeconds = Date().timeIntervalSince(downStarted)
        #expect(upload?["status"] as? Int == 200 && upload?["body"] as? String == "helloworld",
                "the upload under way when podman stop began: \(upload ?? [:])")
        #expect(stopped?.status == 0, "podman stop: \(stopped?.stderr ?? "did not finish")")
        #expect(stopSeconds < 8, "podman stop took \(stopSeconds) s: the guest did not drain and exit within its grace period")
        let down = try podman.run(["kube", "down", manifest.path])
        #expect(down.status == 0, "podman kube down: \(down.stderr)")
        let died = try podman.run(["events", "--stream=false", "--since", Self.timestamp(downStarted.addingTimeInterval(-1)),
                                   "--filter", "event=died", "--filter", "container=\(container)",
                                   "--format", "{{.ContainerExitCode}}"])
        #expect(died.stdout.split(separator: "\n") == ["0"], "the guest's container ended with \(died.stdout) \(died.stderr)")
        let left = try podman.run(["pod", "exists", pod])
        #expect(left.status != 0, "the pod is still there after kube down")
    }

    static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: date)
    }
}
