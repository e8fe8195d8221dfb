// Static assets: the files of an application's assets/ folder (or `--assets DIR`), found,
// hashed and turned into an assembly file that embeds them, with a sorted table, in the image.
//
// Discovery: every regular file under the folder, recursively; names starting with "." (files
// and folders) are skipped; a symbolic link is followed only when it resolves inside the
// folder (else the build fails naming it). The URL path is "/" + the relative path with "/"
// separators; it must be printable ASCII without space, "%", "?" or "#" (no URL-encoding).
//
// The table (the contract with the guest's reader, Sources/Guest/HTTP/EmbeddedAssets.swift):
// global symbol `swiftlet_asset_table`, in read-only data, 8-byte aligned, little-endian:
//
//     u64 magic = 0x3154455353414C53   ("SLASSET1" as bytes: 'S','L','A','S','S','E','T','1')
//     u64 count
//     count entries of 96 bytes each, sorted by path bytes (plain byte-wise lexicographic order):
//       u64 path_address,         u64 path_length          URL path, e.g. "/index.html"
//       u64 content_type_address, u64 content_type_length  e.g. "text/html; charset=utf-8"
//       u64 etag_address,         u64 etag_length          strong ETag, quotes included
//       u64 data_address,         u64 data_length          the file (16-byte aligned)
//       u8  sha256[32]                                     SHA-256 of the file
//
// Addresses are absolute (the image is linked non-PIE at a fixed address). The section is
// marked SHF_GNU_RETAIN so --gc-sections keeps it even when the application never reads it
// (`swiftlet inspect` lists it). No assets: no table; the guest's weak reference is then NULL.
import Crypto
import Foundation

/// One file to embed.
public struct AssetFile: Equatable, Sendable {
    /// "/" + the path relative to the assets folder, e.g. "/css/site.css".
    public let urlPath: String
    /// Where the bytes come from.
    public let source: URL
    public let contentType: String
    public let size: Int
    /// SHA-256 of the contents (32 bytes).
    public let sha256: [UInt8]

    public init(urlPath: String, source: URL, contentType: String, size: Int, sha256: [UInt8]) {
        self.urlPath = urlPath
        self.source = source
        self.contentType = contentType
        self.size = size
        self.sha256 = sha256
    }

    /// A strong ETag: the first 32 hex digits of the SHA-256, in quotes.
    public var etag: String { "\"" + AssetBundle.hex(sha256.prefix(16)) + "\"" }
}

/// The assets of one build, sorted by URL path bytes.
public struct AssetBundle: Equatable, Sendable {
    public let folder: URL
    public let files: [AssetFile]

    public var totalBytes: Int { files.reduce(0) { $0 + $1.size } }

    /// "SLASSET1" read as a little-endian u64.
    public static let magic: UInt64 = 0x3154_4553_5341_4C53
    public static let entrySize = 96

    public init(folder: URL, files: [AssetFile]) {
        self.folder = folder
        self.files = files.sorted { Array($0.urlPath.utf8).lexicographicallyPrecedes(Array($1.urlPath.utf8)) }
    }

    /// Finds and hashes every file to embed under `folder` (see the top of this file).
    public init(folder: URL) throws(BuildError) {
        let root = folder.standardizedFileURL
        guard let realRoot = Self.realPath(root.path) else {
            throw .source("cannot read the assets folder \(root.path)")
        }
        var found: [AssetFile] = []
        try Self.walk(directory: root, realDirectory: realRoot, relative: [], realRoot: realRoot,
                      active: [realRoot], into: &found)
        self.init(folder: root, files: found)
    }

    // MARK: Discovery

    private static func walk(directory: URL, realDirectory: String, relative: [String], realRoot: String,
                             active: Set<String>, into found: inout [AssetFile]) throws(BuildError) {
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted() } catch {
            throw .source("cannot list \(directory.path): \(error.localizedDescription)")
        }
        for name in names where !name.hasPrefix(".") {
            let url = directory.appendingPathComponent(name)
            let components = relative + [name]
            let shown = components.joined(separator: "/")
            var info = stat()
            guard lstat(url.path, &info) == 0 else {
                throw .source("cannot read asset \(shown): \(String(cString: strerror(errno)))")
            }
            var real = realDirectory + "/" + name
            if info.st_mode & S_IFMT == S_IFLNK {
                guard let target = realPath(url.path), target == realRoot || target.hasPrefix(realRoot + "/") else {
                    throw .source("asset \(shown) is a symbolic link to outside the assets folder (or to nothing); only links that stay inside \(realRoot) are followed")
                }
                guard stat(target, &info) == 0 else {
                    throw .source("cannot read asset \(shown): \(String(cString: strerror(errno)))")
                }
                real = target
            }
            switch info.st_mode & S_IFMT {
            case S_IFDIR:
                guard !active.contains(real) else {
                    throw .source("asset folder \(shown) is a symbolic link to a folder that contains it (a loop)")
                }
                try walk(directory: url, realDirectory: real, relative: components, realRoot: realRoot,
                         active: active.union([real]), into: &found)
            case S_IFREG:
                let urlPath = "/" + shown
                try checkURLPath(urlPath, file: shown)
                let contents: Data
                do { contents = try Data(contentsOf: url) } catch {
                    throw .source("cannot read asset \(shown): \(error.localizedDescription)")
                }
                found.append(AssetFile(urlPath: urlPath, source: url, contentType: contentType(forPath: name),
                                       size: contents.count, sha256: Array(SHA256.hash(data: contents))))
            default:
                continue // sockets, pipes, devices: not files to serve
            }
        }
    }

    /// Paths go into the image verbatim and are matched against request targets byte for byte,
    /// so only what needs no URL-encoding is accepted.
    static func checkURLPath(_ path: String, file: String) throws(BuildError) {
        for byte in path.utf8 where byte <= 0x20 || byte >= 0x7F || byte == UInt8(ascii: "%")
            || byte == UInt8(ascii: "?") || byte == UInt8(ascii: "#") {
            let what = byte == 0x20 ? "a space" : byte >= 0x7F ? "a non-ASCII character"
                : byte < 0x20 ? "a control character" : "\"\(Character(Unicode.Scalar(byte)))\""
            throw .source("asset \(file) cannot be served as it is named: its name has \(what); use printable ASCII without spaces, %, ? or # (URL-encoding is not supported)")
        }
    }

    private static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    // MARK: Content types

    static let contentTypes: [String: String] = [
        "html": "text/html; charset=utf-8", "htm": "text/html; charset=utf-8",
        "css": "text/css; charset=utf-8",
        "js": "text/javascript; charset=utf-8", "mjs": "text/javascript; charset=utf-8",
        "json": "application/json",
        "txt": "text/plain; charset=utf-8",
        "svg": "image/svg+xml",
        "png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif",
        "webp": "image/webp", "ico": "image/x-icon",
        "woff": "font/woff", "woff2": "font/woff2",
        "wasm": "application/wasm",
        "xml": "application/xml",
        "pdf": "application/pdf",
        "mp4": "video/mp4", "webm": "video/webm",
    ]

    /// The Content-Type for a file name, by its extension (case-insensitive).
    public static func contentType(forPath name: String) -> String {
        let last = name.split(separator: "/").last.map(String.init) ?? name
        guard let dot = last.lastIndex(of: "."), dot != last.startIndex else { return "application/octet-stream" }
        return contentTypes[last[last.index(after: dot)...].lowercased()] ?? "application/octet-stream"
    }

    // MARK: The assembly file

    /// Writes `assets.s` and a copy of each file (`asset-N.bin`, so no path is ever quoted in
    /// the assembly) into `work`; returns the assembly file. A file that changed since it was
    /// hashed fails the build rather than embedding bytes that disagree with their hash.
    /// `symbol`: the table's name (the application's tls/ folder has its own, never served).
    public func writeAssembly(into work: URL, symbol: String = "swiftlet_asset_table") throws(BuildError) -> URL {
        for (index, file) in files.enumerated() {
            let copy = work.appendingPathComponent("asset-\(index).bin")
            do {
                let contents = try Data(contentsOf: file.source)
                guard contents.count == file.size, Array(SHA256.hash(data: contents)) == file.sha256 else {
                    throw BuildError.source("asset \(file.urlPath) changed during the build; build again")
                }
                try contents.write(to: copy)
            } catch let error as BuildError {
                throw error
            } catch {
                throw .output("cannot copy asset \(file.urlPath) into \(work.path): \(error.localizedDescription)")
            }
        }
        let assembly = work.appendingPathComponent("assets.s")
        do { try assemblySource(symbol: symbol).write(to: assembly, atomically: false, encoding: .utf8) } catch {
            throw .output("cannot write \(assembly.path): \(error.localizedDescription)")
        }
        return assembly
    }

    /// The assembly text: the table, then the strings, then the data (`.incbin "asset-N.bin"`,
    /// relative to the folder the assembler runs in).
    public func assemblySource(symbol: String = "swiftlet_asset_table") -> String {
        var lines = [
            "# Generated by swiftlet build: the embedded asset table (layout: Sources/CLI/Builder/AssetBundle.swift).",
            "\t.section .rodata.\(symbol),\"aR\",@progbits",
            "\t.balign 8",
            "\t.globl \(symbol)",
            "\t.type \(symbol),@object",
            "\(symbol):",
            "\t.quad 0x\(String(Self.magic, radix: 16))",
            "\t.quad \(files.count)",
        ]
        for (index, file) in files.enumerated() {
            lines += [
                "\t# \(index): \(file.urlPath) (\(file.size) bytes)",
                "\t.quad .Lswiftlet_asset_path_\(index), \(file.urlPath.utf8.count)",
                "\t.quad .Lswiftlet_asset_type_\(index), \(file.contentType.utf8.count)",
                "\t.quad .Lswiftlet_asset_etag_\(index), \(file.etag.utf8.count)",
                "\t.quad .Lswiftlet_asset_data_\(index), \(file.size)",
                "\t.byte " + file.sha256.map { String($0) }.joined(separator: ","),
            ]
        }
        lines.append("\t.size \(symbol), .-\(symbol)")
        for (index, file) in files.enumerated() {
            lines += [
                ".Lswiftlet_asset_path_\(index):", Self.byteDirective(file.urlPath),
                ".Lswiftlet_asset_type_\(index):", Self.byteDirective(file.contentType),
                ".Lswiftlet_asset_etag_\(index):", Self.byteDirective(file.etag),
            ]
        }
        for (index, _) in files.enumerated() {
            lines += ["\t.balign 16", ".Lswiftlet_asset_data_\(index):", "\t.incbin \"asset-\(index).bin\""]
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// A `.byte` list (never a quoted string, so nothing needs escaping).
    static func byteDirective(_ text: String) -> String {
        text.utf8.isEmpty ? "" : "\t.byte " + text.utf8.map { String($0) }.joined(separator: ",")
    }

    // MARK: Reporting

    /// "embedded 3 assets (24.1 KB) from assets/".
    public func summary(relativeTo root: URL) -> String {
        let rootPath = root.standardizedFileURL.path + "/"
        let shown = folder.path.hasPrefix(rootPath) ? String(folder.path.dropFirst(rootPath.count)) : folder.path
        return "embedded \(files.count) asset\(files.count == 1 ? "" : "s") (\(Self.formatBytes(totalBytes))) from \(shown)/"
    }

    /// 812 B, 24.1 KB, 3.2 MB.
    public static func formatBytes(_ bytes: Int) -> String {
        if bytes < 1024 { return "\(bytes) B" }
        let units = ["KB", "MB", "GB"]
        var value = Double(bytes) / 1024
        var unit = 0
        while value >= 1024 && unit < units.count - 1 { value /= 1024; unit += 1 }
        let tenths = Int((value * 10).rounded())
        return "\(tenths / 10).\(tenths % 10) \(units[unit])"
    }

    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in bytes { out += [digits[Int(byte >> 4)], digits[Int(byte & 15)]] }
        return String(decoding: out, as: UTF8.self)
    }
}
