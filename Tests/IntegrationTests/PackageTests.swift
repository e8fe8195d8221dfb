// `swiftlet package`: the OCI image it writes is read by a real consumer (skopeo), carries the
// entrypoint, exposed port and labels, holds one layer with exactly the launcher, the tender,
// the image and passt (with its libraries), and is reproducible to the manifest digest; bad
// input is refused with a clear message and a non-zero exit.
import Foundation
import SwiftletABI
import SwiftletBuild
import Testing

@Suite struct PackageTests {
    static let skopeo: String? = ["/usr/bin/skopeo", "/usr/local/bin/skopeo"].first { FileManager.default.isExecutableFile(atPath: $0) }

    func package(_ arguments: [String], environment: [String: String]? = nil) throws -> Harness.Outcome {
        try Harness.run(Harness.cli, ["package"] + arguments, timeout: 300, environment: environment)
    }

    func scratch(_ name: String) -> URL { Harness.scratch.appendingPathComponent("\(name)-\(UUID().uuidString)") }

    /// Runs a tool and returns its stdout, recording its stderr if it fails.
    func tool(_ path: String, _ arguments: [String]) throws -> String {
        let result = try Harness.run(URL(fileURLWithPath: path), arguments, timeout: 120)
        #expect(result.status == 0, "\(path) \(arguments): \(result.stderr)")
        return result.stdout
    }

    /// One file of a gzip-compressed layer, extracted to a scratch folder.
    func extract(_ path: String, from layer: URL) throws -> URL {
        let folder = scratch("layer-file")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        _ = try tool("/usr/bin/tar", ["-xzf", layer.path, "-C", folder.path, path])
        return folder.appendingPathComponent(path)
    }

    /// An ELF file's section names, as the toolchain's llvm-objdump lists them.
    func sectionNames(_ file: URL) throws -> [String] {
        let objdump = try #require(Toolchain.locate().objcopy).deletingLastPathComponent().appendingPathComponent("llvm-objdump")
        return try tool(objdump.path, ["--section-headers", file.path]).split(separator: "\n")
            .compactMap { line in
                let fields = line.split(separator: " ")
                return fields.count > 2 && Int(fields[0]) != nil ? String(fields[1]) : nil
            }
    }

    /// skopeo, or nil after saying loudly that the consumer check cannot run (a failure under CI).
    func requireSkopeo() -> String? {
        if let skopeo = Self.skopeo { return skopeo }
        Harness.toolIsMissing("skopeo is not installed (apt-get install -y skopeo): the OCI image was not checked by a real consumer")
        return nil
    }

    @Test func webPackagesAsAReproducibleOCIImageSkopeoReads() throws {
        let image = try Harness.example("web")
        let first = scratch("web-oci"), second = scratch("web-oci-again"), archive = scratch("web").appendingPathExtension("tar")
        var digests: [String] = []
        for output in [first, second, archive] {
            let result = try package([image.path, "--port", "80", "--tag", "swiftlet-web:test", "-o", output.path])
            #expect(result.status == 0, "stderr: \(result.stderr)")
            digests.append(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        #expect(digests[0].hasPrefix("sha256:") && digests[0].count == 71, "stdout: \(digests[0])")
        #expect(Set(digests).count == 1, "the same inputs gave different manifest digests: \(digests)")
        let index = try Data(contentsOf: first.appendingPathComponent("index.json"))
        #expect(index == (try Data(contentsOf: second.appendingPathComponent("index.json"))))
        #expect(String(decoding: index, as: UTF8.self).contains("\"org.opencontainers.image.ref.name\":\"swiftlet-web:test\""))

        // The one layer, gzip-compressed reproducibly (no file name, mtime 0 in the gzip header),
        // and its diff_id the digest of the tar inside: exactly these files, owned by root, mtime 0.
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: first.appendingPathComponent("blobs/sha256/\(digests[0].dropFirst(7))"))) as? [String: Any]
        let layers = manifest?["layers"] as? [[String: Any]] ?? []
        #expect(layers.count == 1)
        #expect(layers.first?["mediaType"] as? String == "application/vnd.oci.image.layer.v1.tar+gzip", "layers: \(layers)")
        let layerDigest = (layers.first?["digest"] as? String ?? "").dropFirst(7)
        let layerFile = first.appendingPathComponent("blobs/sha256/\(layerDigest)")
        let gzipHeader = [UInt8](try Data(contentsOf: layerFile).prefix(10))
        #expect(gzipHeader.count == 10 && gzipHeader[0...3] == [0x1F, 0x8B, 8, 0] && gzipHeader[4...7] == [0, 0, 0, 0],
                "a gzip member with no flags (no name) and mtime 0: \(gzipHeader)")
        let tarDigest = try tool("/bin/sh", ["-c", "gzip -dc < \"$0\" | sha256sum", layerFile.path]).prefix(64)
        let configDigest = ((manifest?["config"] as? [String: Any])?["digest"] as? String ?? "").dropFirst(7)
        let configDocument = try JSONSerialization.jsonObject(with: Data(contentsOf: first.appendingPathComponent("blobs/sha256/\(configDigest)"))) as? [String: Any]
        let diffIDs = (configDocument?["rootfs"] as? [String: Any])?["diff_ids"] as? [String]
        #expect(diffIDs == ["sha256:\(tarDigest)"], "diff_ids \(diffIDs ?? []) against the layer's tar \(tarDigest)")

        // Uncompressed on request: the same tar, so the same diff_id, under the plain media type.
        let plain = scratch("web-oci-plain")
        let uncompressed = try package([image.path, "--port", "80", "--tag", "swiftlet-web:test", "--layer-compression", "none", "-o", plain.path])
        #expect(uncompressed.status == 0, "stderr: \(uncompressed.stderr)")
        let plainManifest = try JSONSerialization.jsonObject(with: Data(contentsOf: plain.appendingPathComponent(
            "blobs/sha256/\(uncompressed.stdout.trimmingCharacters(in: .whitespacesAndNewlines).dropFirst(7))"))) as? [String: Any]
        let plainLayer = (plainManifest?["layers"] as? [[String: Any]])?.first
        #expect(plainLayer?["mediaType"] as? String == "application/vnd.oci.image.layer.v1.tar" && plainLayer?["digest"] as? String == "sha256:\(tarDigest)",
                "uncompressed layer: \(plainLayer ?? [:])")
        let listing = try tool("/usr/bin/tar", ["-tvf", layerFile.path, "--numeric-owner"])
        let files = listing.split(separator: "\n").filter { $0.hasPrefix("-") }.map { String($0.split(separator: " ").last!) }
        #expect(Set(files).isSuperset(of: ["app/web.swiftlet", "usr/bin/swiftlet", "usr/bin/swiftlet-spt", "usr/bin/passt",
                                             "etc/passwd", "lib64/ld-linux-x86-64.so.2"]), "layer: \(listing)")
        #expect(!files.contains("usr/bin/swiftlet-hvt"), "an spt image needs no hvt tender: \(listing)")
        #expect(listing.contains("drwxrwxrwt 0/0"), "passt needs /tmp (its sandbox mounts a tmpfs there): \(listing)")
        #expect(listing.split(separator: "\n").allSatisfy { $0.contains(" 0/0 ") && $0.contains("1970-01-01") }, "layer: \(listing)")

        // The executables come without DWARF (a container never debugs them) but keep their
        // symbol tables (crash reports name the guest's functions).
        #expect(try sectionNames(image).contains(".debug_info"), "the example image was expected to carry DWARF")
        for file in ["app/web.swiftlet", "usr/bin/swiftlet", "usr/bin/swiftlet-spt"] {
            let names = try sectionNames(extract(file, from: layerFile))
            #expect(!names.contains { $0.hasPrefix(".debug_") }, "\(file) in the layer carries DWARF: \(names)")
            #expect(names.contains(".symtab"), "\(file) in the layer lost its symbol table: \(names)")
        }
        let packagedImage = try Data(contentsOf: extract("app/web.swiftlet", from: layerFile))
        #expect(packagedImage.count < (try Data(contentsOf: image)).count / 2, "the packaged image is not smaller")

        guard let skopeo = requireSkopeo() else { return }
        // The .tar is an OCI archive and a docker-archive at once (manifest.json beside index.json).
        let docker = try JSONSerialization.jsonObject(with: Data(try tool(skopeo, ["inspect", "--config", "docker-archive:\(archive.path)"]).utf8)) as? [String: Any]
        #expect(((docker?["rootfs"] as? [String: Any])?["diff_ids"] as? [String]) == diffIDs, "docker-archive config: \(docker ?? [:])")
        let dockerSummary = try JSONSerialization.jsonObject(with: Data(try tool(skopeo, ["inspect", "docker-archive:\(archive.path)"]).utf8)) as? [String: Any]
        #expect((dockerSummary?["Labels"] as? [String: String])?["org.swiftlet.target"] == "spt", "docker-archive: \(dockerSummary ?? [:])")
        for source in ["oci:\(first.path)", "oci-archive:\(archive.path)"] {
            let inspected = try JSONSerialization.jsonObject(with: Data(try tool(skopeo, ["inspect", "--raw", source]).utf8)) as? [String: Any]
            #expect(inspected?["schemaVersion"] as? Int == 2, "\(source)")
            let summary = try JSONSerialization.jsonObject(with: Data(try tool(skopeo, ["inspect", source]).utf8)) as? [String: Any]
            #expect(summary?["Digest"] as? String == digests[0], "\(source): \(summary ?? [:])")
            #expect(summary?["Os"] as? String == "linux" && summary?["Architecture"] as? String == "amd64")
        }
        let document = try JSONSerialization.jsonObject(with: Data(try tool(skopeo, ["inspect", "--config", "oci:\(first.path)"]).utf8)) as? [String: Any]
        let config = document?["config"] as? [String: Any] ?? [:]
        #expect(config["Entrypoint"] as? [String] == ["/usr/bin/swiftlet", "run", "--target", "spt", "--mem", "32M", "--grace-period", "10", "-p", "80:80", "/app/web.swiftlet"])
        #expect((config["ExposedPorts"] as? [String: Any])?.keys.sorted() == ["80/tcp"])
        let labels = config["Labels"] as? [String: String] ?? [:]
        #expect(labels["org.swiftlet.abi-version"] == "\(SWIFTLET_ABI_VERSION)")
        #expect(labels["org.swiftlet.image.targets"] == "hvt,spt", "labels: \(labels)")
        #expect(labels["org.swiftlet.needs"] == "nothing beyond the default seccomp profile", "labels: \(labels)")
        #expect(labels["org.swiftlet.grace-period"] == "10", "labels: \(labels)")
        // The labels describe the image the container runs: the one in the layer.
        #expect(labels["org.swiftlet.image.size"] == "\(packagedImage.count)")
        let sha = try tool("/usr/bin/sha256sum", [extract("app/web.swiftlet", from: layerFile).path]).split(separator: " ").first.map(String.init)
        #expect(labels["org.swiftlet.image.sha256"] == sha, "labels: \(labels)")
    }

    @Test func badInputIsRefusedClearly() throws {
        let folder = scratch("bad")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let text = folder.appendingPathComponent("notes.swiftlet")
        try Data("not an image\n".utf8).write(to: text)
        let notImage = try package([text.path, "-o", folder.appendingPathComponent("a.oci").path])
        #expect(notImage.status != 0 && notImage.stderr.contains("is not a Swiftlet image"), "stderr: \(notImage.stderr)")

        let elf = folder.appendingPathComponent("true.swiftlet")
        try FileManager.default.copyItem(at: URL(fileURLWithPath: "/bin/true"), to: elf)
        let notSwiftlet = try package([elf.path, "-o", folder.appendingPathComponent("b.oci").path])
        #expect(notSwiftlet.status != 0 && notSwiftlet.stderr.contains("is not a Swiftlet image"), "stderr: \(notSwiftlet.stderr)")

        let image = try Harness.example("hello")
        let unknown = try package([image.path, "--target", "bogus"])
        #expect(unknown.status == 64 && unknown.stderr.contains("bogus"), "stderr: \(unknown.stderr)")
        // A hvt+spt image is no PVH kernel: QEMU could not boot it.
        let virtio = try package([image.path, "--target", "virtio", "-o", folder.appendingPathComponent("v.oci").path])
        #expect(virtio.status != 0 && virtio.stderr.contains("not virtio; rebuild it with `swiftlet build --target virtio`"), "stderr: \(virtio.stderr)")
        for grace in ["3601", "ten", "1.5"] {
            let badGrace = try package([image.path, "--grace-period", grace, "-o", folder.appendingPathComponent("g.oci").path])
            #expect(badGrace.status != 0 && badGrace.stderr.contains("grace period '\(grace)' is not a whole number of seconds from 0 to 3600"),
                    "stderr: \(badGrace.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("g.oci").path))
        let badTag = try package([image.path, "--tag", "Has Space:x"])
        #expect(badTag.status != 0 && badTag.stderr.contains("is not an image name"), "stderr: \(badTag.stderr)")

        let noTenders = folder.appendingPathComponent("no-tenders")
        try FileManager.default.createDirectory(at: noTenders, withIntermediateDirectories: true)
        var environment = Harness.environment
        environment["SWIFTLET_TENDERS"] = noTenders.path
        let output = folder.appendingPathComponent("c.oci")
        let missing = try package([image.path, "-o", output.path], environment: environment)
        #expect(missing.status != 0 && missing.stderr.contains("swiftlet-spt is missing"), "stderr: \(missing.stderr)")
        #expect(!FileManager.default.fileExists(atPath: output.path), "a refused package left \(output.path) behind")

        let occupied = folder.appendingPathComponent("occupied")
        try FileManager.default.createDirectory(at: occupied, withIntermediateDirectories: true)
        try Data("keep me".utf8).write(to: occupied.appendingPathComponent("precious"))
        let refused = try package([image.path, "-o", occupied.path])
        #expect(refused.status != 0 && refused.stderr.contains("is not an OCI image layout"), "stderr: \(refused.stderr)")
        #expect(FileManager.default.fileExists(atPath: occupied.appendingPathComponent("precious").path))
    }
}
