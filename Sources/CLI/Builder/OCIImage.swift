// A standard OCI image (image-spec 1.0) of one layer, written as an image layout folder or as
// a tarball of that folder that is also a docker-archive (a `manifest.json` beside `index.json`,
// as `docker save` writes since Docker 25), so `podman load`, `docker load` and `ctr images
// import` all take it. The layer is gzip-compressed by default. Reproducible: tar entries are
// sorted with mtime 0, uid/gid 0 and fixed modes, the gzip header has no name and mtime 0,
// and JSON documents have sorted keys and a fixed `created`, so the same files give the same
// manifest digest.
import Crypto
import Foundation

public struct OCIImage {
    /// One file of the layer, at an absolute path inside the container.
    public struct File {
        public var path: String
        public var contents: Data
        public var executable: Bool
        public init(path: String, contents: Data, executable: Bool) {
            self.path = path
            self.contents = contents
            self.executable = executable
        }
    }

    public enum LayerCompression: String, CaseIterable {
        case gzip, none

        var mediaType: String {
            switch self {
            case .gzip: return "application/vnd.oci.image.layer.v1.tar+gzip"
            case .none: return "application/vnd.oci.image.layer.v1.tar"
            }
        }
    }

    public var files: [File]
    /// Empty folders anyone may write to (mode 1777), e.g. /tmp.
    public var scratchFolders: [String]
    public var entrypoint: [String]
    public var environment: [String]
    public var exposedTCPPorts: [Int]
    public var labels: [String: String]
    /// NAME:TAG, recorded as the manifest's `org.opencontainers.image.ref.name`.
    public var reference: String
    public var compression: LayerCompression

    public init(files: [File], scratchFolders: [String] = [], entrypoint: [String], environment: [String], exposedTCPPorts: [Int],
                labels: [String: String], reference: String, compression: LayerCompression = .gzip) {
        self.compression = compression
        self.files = files
        self.scratchFolders = scratchFolders
        self.entrypoint = entrypoint
        self.environment = environment
        self.exposedTCPPorts = exposedTCPPorts
        self.labels = labels
        self.reference = reference
    }

    /// The blobs and top-level documents of the layout, by path relative to its root.
    public struct Layout {
        public var entries: [(path: String, contents: Data)]
        public var manifestDigest: String
        /// The layer as stored (compressed or not) and as a tar.
        public var layerSize: Int
        public var uncompressedLayerSize: Int
        /// docker-archive's `manifest.json`, written into the tarball beside `index.json`.
        public var dockerManifest: Data
    }

    public func layout() throws -> Layout {
        let tar = TarArchive(entries: layerEntries()).bytes
        let layer: Data
        switch compression {
        case .gzip:
            do { layer = try Gzip.compress(tar) } catch { throw OCIError("cannot compress the layer: \(error)") }
        case .none:
            layer = tar
        }
        let config = try Self.json([
            "architecture": "amd64",
            "os": "linux",
            "created": Self.created,
            "config": [
                "Entrypoint": entrypoint,
                "Env": environment,
                "ExposedPorts": Dictionary(uniqueKeysWithValues: exposedTCPPorts.map { ("\($0)/tcp", [String: String]()) }),
                "Labels": labels,
                "WorkingDir": "/",
            ] as [String: Any],
            "rootfs": ["type": "layers", "diff_ids": [Self.digest(tar)]] as [String: Any],
            "history": [["created": Self.created, "created_by": "swiftlet package"]],
        ])
        let manifest = try Self.json([
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": Self.descriptor("application/vnd.oci.image.config.v1+json", config),
            "layers": [Self.descriptor(compression.mediaType, layer)],
        ])
        var manifestDescriptor = Self.descriptor("application/vnd.oci.image.manifest.v1+json", manifest)
        manifestDescriptor["annotations"] = ["org.opencontainers.image.ref.name": reference]
        let index = try Self.json([
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [manifestDescriptor],
        ])
        let blobs = [layer, config, manifest].map { (path: Self.blobPath($0), contents: $0) }
        let dockerManifest = try JSONSerialization.data(
            withJSONObject: [["Config": Self.blobPath(config), "RepoTags": [reference], "Layers": [Self.blobPath(layer)]]],
            options: [.sortedKeys, .withoutEscapingSlashes])
        return Layout(entries: [("oci-layout", try Self.json(["imageLayoutVersion": "1.0.0"])), ("index.json", index)] + blobs,
                      manifestDigest: Self.digest(manifest), layerSize: layer.count, uncompressedLayerSize: tar.count,
                      dockerManifest: dockerManifest)
    }

    static func blobPath(_ blob: Data) -> String { "blobs/sha256/" + digest(blob).dropFirst("sha256:".count) }

    /// Writes the layout as a folder (replacing an earlier layout there) or, for a path ending
    /// in `.tar`, as an OCI archive that is also a docker-archive.
    @discardableResult
    public func write(to destination: URL) throws -> Layout {
        let layout = try layout()
        let manager = FileManager.default
        if destination.pathExtension == "tar" {
            var entries: [TarArchive.Entry] = [.directory("blobs/"), .directory("blobs/sha256/")]
            entries += layout.entries.map { .file($0.path, $0.contents, mode: 0o644) }
            entries.append(.file("manifest.json", layout.dockerManifest, mode: 0o644))
            try TarArchive(entries: entries).bytes.write(to: destination)
            return layout
        }
        var isFolder: ObjCBool = false
        if manager.fileExists(atPath: destination.path, isDirectory: &isFolder) {
            let earlierLayout = destination.appendingPathComponent("oci-layout").path
            let empty = try isFolder.boolValue && manager.contentsOfDirectory(atPath: destination.path).isEmpty
            guard isFolder.boolValue, manager.fileExists(atPath: earlierLayout) || empty else {
                throw OCIError("\(destination.path) exists and is not an OCI image layout; choose another -o")
            }
            try manager.removeItem(at: destination)
        }
        try manager.createDirectory(at: destination.appendingPathComponent("blobs/sha256"), withIntermediateDirectories: true)
        for entry in layout.entries {
            try entry.contents.write(to: destination.appendingPathComponent(entry.path))
        }
        return layout
    }

    /// Every file with the folders above it, sorted by path.
    func layerEntries() -> [TarArchive.Entry] {
        var folders = Set<String>()
        for file in files {
            var parts = file.path.split(separator: "/").dropLast()
            while !parts.isEmpty {
                folders.insert(parts.joined(separator: "/") + "/")
                parts.removeLast()
            }
        }
        let scratch = Set(scratchFolders.map { String($0.drop { $0 == "/" }) + "/" })
        let entries = folders.subtracting(scratch).map { TarArchive.Entry.directory($0) }
            + scratch.map { TarArchive.Entry.directory($0, mode: 0o1777) }
            + files.map { .file(String($0.path.drop { $0 == "/" }), $0.contents, mode: $0.executable ? 0o755 : 0o644) }
        return entries.sorted { $0.path < $1.path }
    }

    static let created = "1970-01-01T00:00:00Z"

    public static func digest(_ data: Data) -> String {
        "sha256:" + SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }

    static func descriptor(_ mediaType: String, _ blob: Data) -> [String: Any] {
        ["mediaType": mediaType, "digest": digest(blob), "size": blob.count]
    }

    /// Canonical JSON: sorted keys, no escaped slashes.
    static func json(_ object: [String: Any]) throws -> Data {
        try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
    }
}

public struct OCIError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// A POSIX ustar archive with fixed metadata: owner 0:0, mtime 0, no user or group names.
struct TarArchive {
    struct Entry {
        var path: String
        var contents: Data
        var mode: Int
        var isDirectory: Bool

        static func directory(_ path: String, mode: Int = 0o755) -> Entry { Entry(path: path, contents: Data(), mode: mode, isDirectory: true) }
        static func file(_ path: String, _ contents: Data, mode: Int) -> Entry {
            Entry(path: path, contents: contents, mode: mode, isDirectory: false)
        }
    }

    var entries: [Entry]

    var bytes: Data {
        var archive = Data()
        for entry in entries {
            archive.append(header(entry))
            archive.append(entry.contents)
            archive.append(Data(count: (512 - entry.contents.count % 512) % 512))
        }
        archive.append(Data(count: 1024))
        return archive
    }

    private func header(_ entry: Entry) -> Data {
        precondition(entry.path.utf8.count <= 100, "tar path too long: \(entry.path)")
        var block = [UInt8](repeating: 0, count: 512)
        func put(_ text: String, at offset: Int) {
            for (index, byte) in text.utf8.enumerated() { block[offset + index] = byte }
        }
        func octal(_ value: Int, width: Int) -> String {
            let digits = String(value, radix: 8)
            return String(repeating: "0", count: width - 1 - digits.count) + digits
        }
        put(entry.path, at: 0)
        put(octal(entry.mode, width: 8), at: 100)
        put(octal(0, width: 8), at: 108)                                // uid
        put(octal(0, width: 8), at: 116)                                // gid
        put(octal(entry.contents.count, width: 12), at: 124)
        put(octal(0, width: 12), at: 136)                               // mtime
        put("        ", at: 148)                                        // checksum, counted as spaces
        put(entry.isDirectory ? "5" : "0", at: 156)
        put("ustar\u{0}00", at: 257)
        let checksum = block.reduce(0) { $0 + Int($1) }
        put(octal(checksum, width: 7) + "\u{0} ", at: 148)
        return Data(block)
    }
}
