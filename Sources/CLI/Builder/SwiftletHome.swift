// Where the Swiftlet sources the builder compiles into every image live: SWIFTLET_HOME, else
// PREFIX/share/swiftlet beside an installed CLI (PREFIX/libexec/swiftlet), else the checkout
// this CLI was built from.
import Foundation

public struct SwiftletHome: Sendable {
    public let root: URL

    public init(root: URL) { self.root = root }

    public static func locate(environment: [String: String] = ProcessInfo.processInfo.environment) throws(BuildError) -> SwiftletHome {
        let compiledIn = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let installed = URL(fileURLWithPath: executable).deletingLastPathComponent()
            .appendingPathComponent("../../share/swiftlet").standardizedFileURL
        let installedHasSources = FileManager.default.fileExists(atPath: installed.appendingPathComponent("Sources/Guest").path)
        let root = environment["SWIFTLET_HOME"].map { URL(fileURLWithPath: $0) } ?? (installedHasSources ? installed : compiledIn)
        let home = SwiftletHome(root: root)
        guard FileManager.default.fileExists(atPath: home.freestanding.appendingPathComponent("image.ld").path) else {
            throw .toolchain("Swiftlet's guest sources are not at \(root.path); set SWIFTLET_HOME to your Swiftlet checkout")
        }
        return home
    }

    public var abiInclude: URL { root.appendingPathComponent("Sources/ABI/include") }
    public var guestRoot: URL { root.appendingPathComponent("Sources/Guest") }
    public var freestanding: URL { guestRoot.appendingPathComponent("Freestanding") }
    /// The compiled library OS, kept beside its sources; in the user's cache folder when those
    /// are not writable (installed system-wide).
    public var runtimeCache: URL {
        let build = root.appendingPathComponent(".build")
        try? FileManager.default.createDirectory(at: build, withIntermediateDirectories: true)
        let writable = FileManager.default.isWritableFile(atPath: build.path)
        let environment = ProcessInfo.processInfo.environment
        let cache = environment["XDG_CACHE_HOME"] ?? ((environment["HOME"] ?? "/tmp") + "/.cache")
        return writable ? build.appendingPathComponent("swiftlet-runtime")
            : URL(fileURLWithPath: cache).appendingPathComponent("swiftlet/runtime")
    }
    public var guestSources: [URL] { Application.swiftFiles(in: guestRoot) }
    /// The freestanding C shims (libc subset, runtime forwarders, the ABI note).
    public var freestandingCSources: [URL] {
        ((try? FileManager.default.contentsOfDirectory(at: freestanding, includingPropertiesForKeys: nil)) ?? [])
            .filter { $0.pathExtension == "c" }.sorted { $0.path < $1.path }
    }

    /// The virtio target's ring-0 shim (PVH entry, tables, traps), linked into virtio images only.
    public var virtioSources: [URL] {
        ((try? FileManager.default.contentsOfDirectory(at: freestanding.appendingPathComponent("Virtio"), includingPropertiesForKeys: nil)) ?? [])
            .filter { ["S", "c"].contains($0.pathExtension) }.sorted { $0.path < $1.path }
    }

    /// FNV-1a over the guest sources, the ABI header and `extra`: the runtime cache key.
    func runtimeFingerprint(extra: [String]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ bytes: some Sequence<UInt8>) {
            for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        }
        let inputs = guestSources + [abiInclude.appendingPathComponent("swiftlet_abi.h")]
        for file in inputs {
            mix(file.path.utf8)
            mix((try? Data(contentsOf: file)) ?? Data())
        }
        for item in extra { mix(item.utf8) }
        return String(hash, radix: 16)
    }
}

extension SwiftletHome {
    /// Swiftlet's top-level declarations (types, functions, globals) → the folder under
    /// Sources/Guest that declares them ("Net", "HTTP", "Runtime", ...; "" for a file at the
    /// top), so `inspect --size` can tell the network stack from HTTP by symbol name.
    public var guestDeclarationFolders: [String: String] {
        var folders: [String: String] = [:]
        let keywords: Set<Substring> = ["struct", "class", "enum", "protocol", "actor", "func", "typealias", "var", "let"]
        let modifiers: Set<Substring> = ["public", "internal", "package", "private", "fileprivate", "final", "indirect", "nonisolated(unsafe)"]
        let rootPath = guestRoot.standardizedFileURL.path + "/"
        for file in guestSources {
            let relative = file.standardizedFileURL.path.replacingOccurrences(of: rootPath, with: "")
            let folder = relative.contains("/") ? String(relative.prefix { $0 != "/" }) : ""
            guard let text = try? String(contentsOf: file, encoding: .utf8) else { continue }
            for line in text.split(separator: "\n") where !(line.first?.isWhitespace ?? true) {
                // Only declarations at column 0 (top level): "public final class TCPConnection {".
                var words = line.split(separator: " ")[...]
                while let word = words.first, modifiers.contains(word) || word.hasPrefix("@") { words = words.dropFirst() }
                guard let keyword = words.first, keywords.contains(keyword), words.count > 1 else { continue }
                let name = words[words.startIndex + 1].prefix { $0.isLetter || $0.isNumber || $0 == "_" }
                if !name.isEmpty, folders[String(name)] == nil { folders[String(name)] = folder }
            }
        }
        return folders
    }
}
