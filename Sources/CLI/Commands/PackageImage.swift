// `swiftlet package APP|IMAGE [--target spt|hvt|virtio] [-p PORT]... [--mem SIZE] [--grace-period SECONDS]
//                    [--layer-compression gzip|none] [-o DIR|FILE.tar] [--tag NAME:TAG] [--kube FILE [--host-port PORT]]`
//
// An OCI image of one layer that runs the unikernel the way `swiftlet run` does:
//
//   /usr/bin/swiftlet                 the launcher (static), the entrypoint
//   /usr/bin/swiftlet-spt|hvt         the lean release tender (static)
//   /app/NAME.swiftlet                the unikernel image
// (all three without DWARF: DebugInfoStripper)
//   /usr/bin/passt + its libc, /etc/passwd (passt drops root to `nobody`), /tmp   only with -p
//
// A tender cannot open a tap in a default container, so with -p the launcher starts passt
// inside the container: passt owns the container's PORT and forwards it to the guest's PORT;
// the runtime publishes the container's port as usual (`podman run -p 8080:PORT`).
//
// --target virtio packages QEMU instead (QEMUFiles): the entrypoint is qemu-system-x86_64 itself,
// booting the image as a PVH kernel on microvm, KVM or TCG, with its user network forwarding
// each PORT; no launcher, tender or passt in the layer.
import ArgumentParser
import Foundation
import SwiftletBuild
import TenderCore

struct PackageImage: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "package",
        abstract: "Package an image (or an application, built first) as an OCI image for podman, docker and Kubernetes.",
        discussion: """
            Writes an OCI image layout folder, or when -o ends in .tar an OCI archive that is also a \
            docker-archive (`podman load -i`, `docker load -i`, `ctr images import` take it). The layer is \
            gzip-compressed unless --layer-compression none. The same inputs give the same manifest digest, printed on stdout. \
            spt runs under the runtime's default seccomp profile; hvt needs `--device /dev/kvm`. \
            --kube FILE also writes a Kubernetes Deployment + Service (probes on the first port, memory \
            from --mem) that `kubectl apply -f` and `podman kube play` take.
            """)

    @Argument(help: "An image built by `swiftlet build`, or an application to build first.")
    var image: String

    @Option(help: "The tender the container runs: spt (any container), hvt (needs --device /dev/kvm) or virtio (QEMU in the container: KVM with --device /dev/kvm, TCG without).")
    var target: Target = .spt

    @Option(name: [.customShort("p"), .customLong("port")],
            help: ArgumentHelp("A TCP port the guest serves on: exposed by the container and forwarded to the guest by passt inside it.",
                               valueName: "PORT"))
    var ports: [Int] = []

    @Option(help: "Guest memory, e.g. 32M.")
    var mem: String = "32M"

    @Option(name: .customLong("grace-period"),
            help: ArgumentHelp("Seconds the guest has to finish its requests after SIGTERM (the container's entrypoint passes it to `swiftlet run`; the manifest's terminationGracePeriodSeconds is 2 s more). 0 to 3600, default 10.",
                               valueName: "SECONDS"))
    var gracePeriod: String = "\(TenderOptions.defaultGracePeriod)"

    @Option(name: .customLong("layer-compression"), help: "gzip (application/vnd.oci.image.layer.v1.tar+gzip, reproducible) or none.")
    var compression: OCIImage.LayerCompression = .gzip

    @Option(name: .shortAndLong, help: "Where to write: a folder (OCI image layout) or FILE.tar (OCI archive and docker-archive in one). Default: NAME-TARGET.oci beside the image.")
    var output: String?

    @Option(help: "The image's name: NAME or NAME:TAG (default: the image's name, tag latest).")
    var tag: String?

    @Option(help: ArgumentHelp("Also write a Kubernetes Deployment + Service for the image to FILE (needs a --port: the probes use it).",
                               valueName: "FILE"))
    var kube: String?

    @Option(name: .customLong("host-port"),
            help: ArgumentHelp("With --kube: also publish the first port on the node's PORT (hostPort), for single-node runs such as `podman kube play`.",
                               valueName: "PORT"))
    var hostPort: Int?

    @Option(help: ArgumentHelp("Take the launcher and tenders from this folder instead of this installation's.", visibility: .hidden))
    var products: String?

    func run() throws {
        let guestMemory: UInt64
        do { guestMemory = try OptionValue.memorySize(mem) } catch { throw UserError(error.message) }
        if let bad = (ports + [hostPort].compactMap { $0 }).first(where: { !(1...65535).contains($0) }) {
            throw UserError("port \(bad) is not a TCP port (1-65535)")
        }
        let graceSeconds: UInt32
        do { graceSeconds = try OptionValue.gracePeriod(gracePeriod) } catch { throw UserError(error.message) }
        if kube != nil && ports.isEmpty { throw UserError("--kube needs a --port: the Service and the probes use the guest's port") }
        if hostPort != nil && kube == nil { throw UserError("--host-port is part of the Kubernetes manifest: give --kube FILE too") }

        var imagePath = image
        if !Run.isELF(image) {
            guard FileManager.default.fileExists(atPath: image) else { throw UserError("\(image) does not exist") }
            guard !image.hasSuffix(".swiftlet") else { throw UserError("\(image) is not a Swiftlet image (not an ELF file)") }
            imagePath = try Build.build(path: image, targets: target == .virtio ? [.virtio] : Target.tenders, output: nil).image.path
        }
        let imageURL = URL(fileURLWithPath: imagePath)
        let debugInfo = DebugInfoStripper()
        let unikernel = try debugInfo.stripped(Data(contentsOf: imageURL), name: imageURL.lastPathComponent)
        let note: (version: UInt32, targets: UInt32)
        do {
            guard let found = try ELFImage(bytes: [UInt8](unikernel)).abiNote else {
                throw UserError("\(imagePath) has no Swiftlet ABI note; build it with `swiftlet build`")
            }
            note = found
        } catch let error as UserError { throw error } catch {
            throw UserError("\(imagePath) is not a Swiftlet image: \(error)")
        }
        guard note.targets & target.noteBit != 0 else {
            throw UserError("\(imagePath) was built for \(TargetNames.describe(note.targets)), not \(target.rawValue); rebuild it with `swiftlet build --target \(target.rawValue)`")
        }

        let name = imageURL.deletingPathExtension().lastPathComponent
        let reference = try Self.reference(tag ?? name)
        let products = Products(override: products)
        let imageInContainer = "/app/\(name).swiftlet"
        var files = [OCIImage.File(path: imageInContainer, contents: unikernel, executable: false)]
        var entrypoint: [String]
        if target == .virtio {
            files += try QEMUFiles.collect()
            entrypoint = try QEMUFiles.entrypoint(image: imageInContainer, memoryBytes: guestMemory, ports: ports)
        } else {
            files += [
                OCIImage.File(path: "/usr/bin/swiftlet", contents: try debugInfo.stripped(products.staticExecutable(products.launcher), name: "swiftlet"),
                              executable: true),
                OCIImage.File(path: "/usr/bin/\("swiftlet-\(target.rawValue)")",
                              contents: try debugInfo.stripped(products.staticExecutable(products.tender(target)), name: "swiftlet-\(target.rawValue)"),
                              executable: true),
            ]
            if !ports.isEmpty { files += try PasstFiles.collect() }
            entrypoint = ["/usr/bin/swiftlet", "run", "--target", target.rawValue, "--mem", mem, "--grace-period", "\(graceSeconds)"]
            for port in ports { entrypoint += ["-p", "\(port):\(port)"] }
            entrypoint.append(imageInContainer)
        }
        // passt mounts an empty tmpfs on /tmp as its sandbox's root: it refuses to run without /tmp.
        let oci = OCIImage(
            files: files, scratchFolders: ports.isEmpty || target == .virtio ? [] : ["/tmp"], entrypoint: entrypoint, environment: ["PATH=/usr/bin"], exposedTCPPorts: ports.sorted(),
            labels: [
                "org.opencontainers.image.title": name,
                "org.swiftlet.abi-version": "\(note.version)",
                "org.swiftlet.image.targets": TargetNames.describe(note.targets),
                "org.swiftlet.image.size": "\(unikernel.count)",
                "org.swiftlet.image.sha256": String(OCIImage.digest(unikernel).dropFirst("sha256:".count)),
                "org.swiftlet.target": target.rawValue,
                "org.swiftlet.needs": target.containerNeeds,
                "org.swiftlet.grace-period": "\(graceSeconds)",
            ],
            reference: reference, compression: compression)
        let destination = URL(fileURLWithPath: output ?? imageURL.deletingPathExtension().path + "-\(target.rawValue).oci")
        let layout: OCIImage.Layout
        do { layout = try oci.write(to: destination) } catch let error as OCIError { throw UserError(error.description) }
        let layerSize = compression == .none ? formatSize(layout.layerSize)
            : "\(formatSize(layout.layerSize)) \(compression.rawValue), \(formatSize(layout.uncompressedLayerSize)) as tar"
        if let missing = debugInfo.missingTool { say("the layer's executables keep their DWARF: \(missing)") }
        say("wrote \(destination.path) (\(reference), layer \(layerSize): "
            + files.map { "\($0.path) \(formatSize($0.contents.count))" }.joined(separator: ", ") + ")")
        if let kube {
            let manifest = KubeManifest(name: KubeManifest.objectName(reference), image: reference, ports: ports, hostPort: hostPort,
                                        guestMemory: guestMemory, gracePeriodSeconds: Int(graceSeconds), needsKVM: target == .hvt)
            do { try Data(manifest.yaml.utf8).write(to: URL(fileURLWithPath: kube), options: .atomic) } catch {
                throw UserError("cannot write \(kube): \(error.localizedDescription)")
            }
            say("wrote \(kube) (Deployment + Service \(manifest.name): port \(ports[0]) probed, \(manifest.memoryMiB) MiB, "
                + "\(manifest.gracePeriodSeconds) s to drain on SIGTERM\(target == .hvt ? ", /dev/kvm from the node" : ""))")
        }
        print(layout.manifestDigest)
    }

    /// NAME[:TAG] as a full reference, NAME in the lowercase letters, digits and separators
    /// registries accept.
    static func reference(_ text: String) throws -> String {
        let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let name = parts[0].lowercased(), tag = parts.count > 1 ? parts[1] : "latest"
        let nameCharacters = Set("abcdefghijklmnopqrstuvwxyz0123456789._-/")
        let tagCharacters = nameCharacters.union("ABCDEFGHIJKLMNOPQRSTUVWXYZ").subtracting("/")
        guard !name.isEmpty, name.allSatisfy(nameCharacters.contains), name.first!.isLetter || name.first!.isNumber,
              !tag.isEmpty, tag.count <= 128, tag.allSatisfy(tagCharacters.contains) else {
            throw UserError("\(text) is not an image name: use NAME or NAME:TAG (letters, digits, '.', '_', '-'; '/' in NAME)")
        }
        return "\(name):\(tag)"
    }
}

/// Where the launcher and the release tenders come from: this installation (PREFIX/bin/swiftlet
/// and the tenders beside swiftlet-cli), a checkout (.build/release, where `swiftlet run`
/// builds them), SWIFTLET_TENDERS, or a folder given with --products.
struct Products {
    let launcher: URL
    let tenders: URL

    init(override: String?) {
        let cli = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0])
        let folder = cli.deletingLastPathComponent()
        if let override {
            launcher = URL(fileURLWithPath: override).appendingPathComponent("swiftlet")
            tenders = URL(fileURLWithPath: override)
            return
        }
        let components = folder.pathComponents
        let checkout = components.lastIndex(of: ".build").map { URL(fileURLWithPath: components[..<$0].joined(separator: "/")) }
        let environment = ProcessInfo.processInfo.environment["SWIFTLET_TENDERS"].map { URL(fileURLWithPath: $0) }
        tenders = environment ?? checkout.map { $0.appendingPathComponent(".build/release") } ?? folder
        let sibling = folder.appendingPathComponent("swiftlet")
        launcher = FileManager.default.isExecutableFile(atPath: sibling.path)
            ? sibling : folder.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("bin/swiftlet")
    }

    /// The lean tender: a container runs its image, never a debugger, so the GDB server and
    /// core writer of swiftlet-TARGET-debug stay out.
    func tender(_ target: Target) -> URL { tenders.appendingPathComponent("swiftlet-\(target.rawValue)") }

    /// The executable's bytes, refused if it is missing or needs a dynamic loader.
    func staticExecutable(_ url: URL) throws -> Data {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw UserError("\(url.path) is missing; build it (swift build -c release --product \(url.lastPathComponent)) or reinstall swiftlet")
        }
        guard Self.isStaticELF(data) else {
            throw UserError("\(url.path) is not a static executable; the container has no libraries for it")
        }
        return data
    }

    /// An x86-64 ELF executable without a PT_INTERP segment.
    static func isStaticELF(_ data: Data) -> Bool {
        let bytes = [UInt8](data)
        func read(_ offset: Int, _ count: Int) -> Int? {
            guard offset >= 0, offset + count <= bytes.count else { return nil }
            return (0..<count).reduce(0) { $0 | Int(bytes[offset + $1]) << (8 * $1) }
        }
        guard bytes.starts(with: [0x7F, 0x45, 0x4C, 0x46, 2]), let table = read(32, 8), let size = read(54, 2), let count = read(56, 2) else { return false }
        for index in 0..<count {
            guard let type = read(table + index * size, 4) else { return false }
            if type == 3 { return false }                                   // PT_INTERP
        }
        return true
    }
}

/// Drops DWARF from the Swiftlet executables a layer carries (`llvm-objcopy --strip-debug`):
/// a container runs them and never debugs them, and DWARF is most of their bytes (a release
/// tender 3.0 MB with it, ~0.4 MB without). Symbol tables stay: crash reports name the guest's
/// functions from them, and perf on the node names the tender's.
struct DebugInfoStripper {
    let toolchain: Toolchain? = try? Toolchain.locate()
    /// Why nothing is stripped, when no llvm-objcopy is found.
    var missingTool: String? { toolchain?.objcopy == nil ? "no llvm-objcopy in the Swift toolchain (or none found on PATH)" : nil }

    func stripped(_ executable: Data, name: String) throws -> Data {
        guard let toolchain, toolchain.objcopy != nil else { return executable }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("swiftlet-package-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let input = folder.appendingPathComponent(name), output = folder.appendingPathComponent("\(name).stripped")
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try executable.write(to: input)
        } catch {
            throw UserError("cannot strip DWARF from \(name) for the layer: \(error.localizedDescription)")
        }
        do { try toolchain.strip(.debugInfo, input, into: output) } catch { throw UserError(error.description) }
        guard let result = FileManager.default.contents(atPath: output.path) else {
            throw UserError("llvm-objcopy wrote no \(output.path) when stripping DWARF from \(name)")
        }
        return result
    }
}

/// passt and what it loads (it is not a static executable), plus the `nobody` user it drops to.
enum PasstFiles {
    static func collect() throws -> [OCIImage.File] {
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
            .map { "\($0)/passt" }.first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let passt = path.map({ URL(fileURLWithPath: $0).resolvingSymlinksInPath() }) else {
            throw UserError("-p needs passt in the container and passt is not installed here: apt-get install -y passt")
        }
        var files = [OCIImage.File(path: "/usr/bin/passt", contents: try Data(contentsOf: passt), executable: true)]
        files += try libraryFiles(of: passt.path)
        files.append(OCIImage.File(path: "/etc/passwd", contents: Data("root:x:0:0:root:/:/nonexistent\nnobody:x:65534:65534:nobody:/:/nonexistent\n".utf8),
                                   executable: false))
        files.append(OCIImage.File(path: "/etc/group", contents: Data("root:x:0:\nnogroup:x:65534:\n".utf8), executable: false))
        return files
    }

    /// The shared libraries and loader `executable` needs, each at the path the loader looks it up at.
    static func libraryFiles(of executable: String) throws -> [OCIImage.File] {
        try libraries(of: executable).map {
            OCIImage.File(path: $0, contents: try Data(contentsOf: URL(fileURLWithPath: $0).resolvingSymlinksInPath()), executable: true)
        }
    }

    /// The shared libraries and loader `ldd` names, by the path the loader looks them up at.
    static func libraries(of executable: String) throws -> [String] {
        let ldd = Process()
        ldd.executableURL = URL(fileURLWithPath: "/usr/bin/ldd")
        ldd.arguments = [executable]
        let pipe = Pipe()
        ldd.standardOutput = pipe
        ldd.standardError = FileHandle.nullDevice
        do { try ldd.run() } catch { throw UserError("cannot run ldd to find \(executable)'s libraries: \(error)") }
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        ldd.waitUntilExit()
        guard ldd.terminationStatus == 0 else { throw UserError("ldd \(executable) failed (exit status \(ldd.terminationStatus))") }
        return text.split(separator: "\n").compactMap { line in
            let words = line.split(whereSeparator: \.isWhitespace).map(String.init).filter { $0.hasPrefix("/") }
            return words.first
        }
    }
}

/// QEMU for `--target virtio`: the emulator, the libraries ldd names for it and its TCG module,
/// and the two ROMs microvm boots a PVH kernel with. QEMU is the entrypoint itself (its user
/// network forwards the ports), so nothing else runs in the container.
enum QEMUFiles {
    static let qemu = "/usr/bin/qemu-system-x86_64"
    /// Where QEMU looks for its accelerator modules (beside its binary: ../lib/ARCH/qemu).
    static let modules = "/usr/lib/x86_64-linux-gnu/qemu"
    /// microvm's firmware (qboot) and the option ROM that loads a PVH kernel.
    static let firmware = ["/usr/share/qemu/bios-microvm.bin", "/usr/share/qemu/pvh.bin"]

    static func collect() throws -> [OCIImage.File] {
        guard FileManager.default.isExecutableFile(atPath: qemu) else {
            throw UserError("--target virtio packages QEMU and it is not installed here: apt-get install -y qemu-system-x86")
        }
        var files = [OCIImage.File(path: qemu, contents: try Data(contentsOf: URL(fileURLWithPath: qemu).resolvingSymlinksInPath()), executable: true)]
        var libraries = Set(try PasstFiles.libraries(of: qemu))
        let tcg = "\(modules)/accel-tcg-x86_64.so"
        if FileManager.default.fileExists(atPath: tcg) {     // TCG is a module in Debian's build: the fallback without /dev/kvm
            files.append(OCIImage.File(path: tcg, contents: try Data(contentsOf: URL(fileURLWithPath: tcg)), executable: true))
            libraries.formUnion(try PasstFiles.libraries(of: tcg))
        }
        for library in libraries.sorted() {
            files.append(OCIImage.File(path: library, contents: try Data(contentsOf: URL(fileURLWithPath: library).resolvingSymlinksInPath()),
                                       executable: true))
        }
        for rom in firmware {
            guard let contents = FileManager.default.contents(atPath: URL(fileURLWithPath: rom).resolvingSymlinksInPath().path) else {
                throw UserError("\(rom) is missing: QEMU's firmware (apt-get install -y qemu-system-x86 qemu-system-data)")
            }
            files.append(OCIImage.File(path: rom, contents: contents, executable: false))
        }
        return files
    }

    /// QEMU's command line: microvm, KVM when the container has /dev/kvm and TCG otherwise, the
    /// console on stdout (container logs), and each port forwarded by QEMU's user network.
    static func entrypoint(image: String, memoryBytes: UInt64, ports: [Int]) throws -> [String] {
        var command = QEMUCommand(image: image, memoryBytes: memoryBytes, kvm: true)
        command.qemu = qemu
        command.kvmOrTCG = true
        command.network = ports.isEmpty ? nil : .user(forwardedPorts: ports)
        do { return try command.arguments() } catch { throw UserError(error.description) }
    }
}

extension OCIImage.LayerCompression: ExpressibleByArgument {}
