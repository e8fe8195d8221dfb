// A Kubernetes Deployment and Service for a packaged image: standard objects only (apps/v1 and
// v1, no CRDs), so `kubectl apply`, kind and `podman kube play` read them alike.
import Foundation

public struct KubeManifest {
    /// The Deployment's, Service's and container's name: a DNS-1123 label.
    public var name: String
    /// The image reference as the cluster's runtime finds it (pushed to a registry, or loaded).
    public var image: String
    /// TCP ports the guest serves on (at least one); the first one is probed.
    public var ports: [Int]
    /// Publishes the first port on the node too (single-node runs: `podman kube play`, kind).
    public var hostPort: Int?
    public var guestMemory: UInt64
    /// How long the guest has to finish its requests after SIGTERM, in seconds.
    public var gracePeriodSeconds: Int
    /// hvt: the container needs /dev/kvm.
    public var needsKVM: Bool

    /// What the container holds besides the guest's memory, measured in podman with examples/web
    /// (release tender ~1.5 MB resident, passt ~1 MB, their page cache ~7 MB), with room to spare.
    public static let containerOverhead: UInt64 = 24 << 20

    /// Seconds the pod gets beyond the guest's grace period before the kubelet sends SIGKILL,
    /// so the guest's own deadline (a clean exit status) ends it, not the kill.
    public static let killMargin = 2

    public init(name: String, image: String, ports: [Int], hostPort: Int?, guestMemory: UInt64, gracePeriodSeconds: Int, needsKVM: Bool) {
        self.name = name
        self.image = image
        self.ports = ports
        self.hostPort = hostPort
        self.guestMemory = guestMemory
        self.gracePeriodSeconds = gracePeriodSeconds
        self.needsKVM = needsKVM
    }

    /// The guest's memory (which it may touch whole) plus the container's overhead, in MiB:
    /// requested and limited alike, so the pod is never evicted for using what it was given.
    public var memoryMiB: UInt64 { (guestMemory + Self.containerOverhead + (1 << 20) - 1) >> 20 }

    /// `NAME` from `[REGISTRY/]PATH/NAME[:TAG]`, as a DNS-1123 label (lowercase letters,
    /// digits and '-', at most 63, starting and ending with a letter or digit).
    public static func objectName(_ reference: String) -> String {
        let last = reference.split(separator: "/").last.map(String.init) ?? reference
        let bare = last.split(separator: ":").first.map(String.init) ?? last
        let mapped = bare.lowercased().map { $0.isLetter || $0.isNumber ? $0 : "-" }
        let trimmed = String(mapped.prefix(63)).trimmingCharacters(in: CharacterSet(charactersIn: "-"))
        return trimmed.isEmpty ? "swiftlet" : trimmed
    }

    public var yaml: String {
        let probePort = ports[0]
        let labels = "app.kubernetes.io/name: \(quoted(name))"
        let containerPorts = ports.enumerated().map { index, port in
            "            - containerPort: \(port)\n              protocol: TCP"
                + (index == 0 ? hostPort.map { "\n              hostPort: \($0)" } ?? "" : "")
        }.joined(separator: "\n")
        let servicePorts = ports.map { "    - name: tcp-\($0)\n      port: \($0)\n      targetPort: \($0)\n      protocol: TCP" }
            .joined(separator: "\n")
        let kvm = needsKVM ? """

                      volumeMounts:
                        - name: kvm
                          mountPath: /dev/kvm
                  # hvt needs /dev/kvm. A CharDevice hostPath is what podman kube play turns into
                  # --device /dev/kvm; on a real cluster the device cgroup also has to allow it: use a
                  # KVM device plugin (e.g. KubeVirt's, then add `devices.kubevirt.io/kvm: "1"` to the
                  # container's limits and drop this volume) on nodes with KVM, or --target spt.
                  volumes:
                    - name: kvm
                      hostPath:
                        path: /dev/kvm
                        type: CharDevice
            """ : ""
        return """
            # Written by `swiftlet package --kube`: a Deployment running the packaged image and a
            # Service in front of it. Memory: the guest's \(guestMemory >> 20) MiB plus \(Self.containerOverhead >> 20) MiB for the tender
            # and passt. On SIGTERM the guest finishes its requests within \(gracePeriodSeconds) s.
            apiVersion: apps/v1
            kind: Deployment
            metadata:
              name: \(quoted(name))
              labels:
                \(labels)
            spec:
              replicas: 1
              selector:
                matchLabels:
                  \(labels)
              template:
                metadata:
                  labels:
                    \(labels)
                spec:
                  terminationGracePeriodSeconds: \(gracePeriodSeconds + Self.killMargin)
                  containers:
                    - name: \(quoted(name))
                      image: \(quoted(image))
                      imagePullPolicy: IfNotPresent
                      ports:
            \(containerPorts)
                      readinessProbe:
                        httpGet:
                          path: /
                          port: \(probePort)
                        periodSeconds: 5
                        timeoutSeconds: 2
                        failureThreshold: 2
                      livenessProbe:
                        httpGet:
                          path: /
                          port: \(probePort)
                        periodSeconds: 10
                        timeoutSeconds: 2
                        failureThreshold: 3
                      resources:
                        requests:
                          cpu: 50m
                          memory: \(memoryMiB)Mi
                        limits:
                          memory: \(memoryMiB)Mi\(kvm)
            ---
            apiVersion: v1
            kind: Service
            metadata:
              name: \(quoted(name))
              labels:
                \(labels)
            spec:
              selector:
                \(labels)
              ports:
            \(servicePorts)

            """
    }

    /// A YAML double-quoted scalar (JSON string syntax, which YAML 1.2 reads as is).
    private func quoted(_ text: String) -> String {
        let escaped = text.unicodeScalars.map { scalar -> String in
            switch scalar {
            case "\"": return "\\\""
            case "\\": return "\\\\"
            case _ where scalar.value < 0x20: return String(format: "\\u%04x", scalar.value)
            default: return String(scalar)
            }
        }.joined()
        return "\"\(escaped)\""
    }
}
