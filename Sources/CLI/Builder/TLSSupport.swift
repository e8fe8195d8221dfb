// What an image needs for HTTPS, built and linked only when the application imports
// SwiftletTLS: the SwiftletTLS module (Sources/GuestTLS/TLS, cached like the library OS), its
// C glue and the libc pieces BearSSL asks for (Sources/GuestTLS/CBearSSL, Freestanding), the
// application's tls/ folder as a table of its own (never served), and Debian's libbearssl.a.
import Foundation
import TenderCore

/// Debian's libbearssl-dev: headers and the static library.
public struct BearSSLInstallation: Sendable {
    public let headers: URL
    public let archive: URL

    public static let package = "libbearssl-dev"

    public static func locate() throws(BuildError) -> BearSSLInstallation {
        let headers = URL(fileURLWithPath: "/usr/include/bearssl")
        let archive = ["/usr/lib/x86_64-linux-gnu/libbearssl.a", "/usr/lib/libbearssl.a", "/usr/local/lib/libbearssl.a"]
            .map { URL(fileURLWithPath: $0) }
            .first { FileManager.default.fileExists(atPath: $0.path) }
        guard FileManager.default.fileExists(atPath: headers.appendingPathComponent("bearssl.h").path), let archive else {
            throw .toolchain("this application imports SwiftletTLS, which links BearSSL: install it with `apt-get install -y \(package)` (headers in /usr/include/bearssl, libbearssl.a)")
        }
        return BearSSLInstallation(headers: headers, archive: archive)
    }
}

extension SwiftletHome {
    public var tlsRoot: URL { root.appendingPathComponent("Sources/GuestTLS") }
    var tlsSwiftSources: [URL] { Application.swiftFiles(in: tlsRoot.appendingPathComponent("TLS")) }
    /// The glue and the libc pieces, compiled into each TLS image.
    var tlsCSources: [URL] {
        ["CBearSSL", "Freestanding"].flatMap { folder in
            ((try? FileManager.default.contentsOfDirectory(at: tlsRoot.appendingPathComponent(folder), includingPropertiesForKeys: nil)) ?? [])
                .filter { $0.pathExtension == "c" }.sorted { $0.path < $1.path }
        }
    }
    /// -I folders for C and for Swift's importer: our <string.h> first, the glue's module map,
    /// then BearSSL's headers.
    func tlsIncludes(_ bearSSL: BearSSLInstallation) -> [String] {
        [tlsRoot.appendingPathComponent("Freestanding/include").path,
         tlsRoot.appendingPathComponent("CBearSSL/include").path, bearSSL.headers.path]
    }
}

extension ImageBuilder {
    static let tlsModuleName = "SwiftletTLS"

    /// The SwiftletTLS module + object for the library OS at `runtime`, cached by its sources.
    func tlsModule(runtime: URL, bearSSL: BearSSLInstallation) throws(BuildError) -> URL {
        let includes = home.tlsIncludes(bearSSL)
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for item in [runtime.path] + Self.codegenFlags(optimized: true) + includes + (home.tlsSwiftSources + [home.tlsRoot.appendingPathComponent("CBearSSL/include/swiftlet_tls.h")])
            .flatMap({ [$0.path, (try? String(contentsOf: $0, encoding: .utf8)) ?? ""] }) {
            for byte in item.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        }
        let cached = home.runtimeCache.appendingPathComponent("tls-" + String(hash, radix: 16))
        if FileManager.default.fileExists(atPath: cached.appendingPathComponent("SwiftletTLS.o").path) { return cached }
        log("Compiling SwiftletTLS (once per source change)")
        let staging = home.runtimeCache.appendingPathComponent("tls-\(String(hash, radix: 16)).\(UUID().uuidString).tmp")
        try makeDirectory(staging)
        try compileSwift("compiling SwiftletTLS", Self.swiftFlags + [
            "-parse-as-library", "-D", "SWIFTLET_GUEST", "-I", home.abiInclude.path, "-I", runtime.path,
        ] + includes.flatMap { ["-Xcc", "-I", "-Xcc", $0] } + [
            "-module-name", Self.tlsModuleName,
            "-emit-module", "-emit-module-path", staging.appendingPathComponent("SwiftletTLS.swiftmodule").path,
        ] + home.tlsSwiftSources.map(\.path), into: staging.appendingPathComponent("SwiftletTLS.o"), crashLogs: home.runtimeCache)
        if (try? FileManager.default.moveItem(at: staging, to: cached)) == nil {
            try? FileManager.default.removeItem(at: staging)
        }
        return cached
    }

    /// The TLS image's extra objects: the glue and libc pieces, the tls/ table if the
    /// application has that folder, then BearSSL's archive (last: it resolves what they need).
    func tlsObjects(_ application: Application, bearSSL: BearSSLInstallation, work: URL) throws(BuildError) -> [URL] {
        var objects: [URL] = []
        for source in home.tlsCSources {
            let object = work.appendingPathComponent("tls-" + source.deletingPathExtension().lastPathComponent + ".o")
            try run("compiling \(source.lastPathComponent)", toolchain.clang, Self.cFlags
                + home.tlsIncludes(bearSSL).flatMap { ["-I", $0] } + ["-c", source.path, "-o", object.path])
            objects.append(object)
        }
        let folder = application.root.appendingPathComponent("tls")
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: folder.path, isDirectory: &isDirectory), isDirectory.boolValue {
            let bundle = try AssetBundle(folder: folder)
            let tlsWork = work.appendingPathComponent("tls")
            try makeDirectory(tlsWork)
            let source = try bundle.writeAssembly(into: tlsWork, symbol: "swiftlet_tls_file_table")
            let object = tlsWork.appendingPathComponent("tls-files.o")
            try run("assembling the tls/ files", toolchain.clang, [
                "-target", Toolchain.guestTriple, "-c", source.lastPathComponent, "-o", object.lastPathComponent,
            ], in: tlsWork)
            objects.append(object)
            log("Embedding tls/ (\(bundle.files.count) file\(bundle.files.count == 1 ? "" : "s"), not served)")
        }
        objects.append(try fileSymbolMarker(SizeModules.bearSSLFileSymbol, work: work))
        objects.append(bearSSL.archive)
        return objects
    }

    /// An object holding only an STT_FILE symbol named `name`. BearSSL's objects have no file
    /// symbol, so the linker lists their local symbols after the one before them: this marker,
    /// linked just before the archive, lets `inspect --size` tell BearSSL from our own C.
    private func fileSymbolMarker(_ name: String, work: URL) throws(BuildError) -> URL {
        let source = work.appendingPathComponent("file-marker.s")
        let object = work.appendingPathComponent("file-marker.o")
        do { try ".file \"\(name)\"\n".write(to: source, atomically: true, encoding: .utf8) } catch {
            throw .output("cannot write \(source.path): \(error.localizedDescription)")
        }
        try run("assembling a file marker", toolchain.clang, ["-target", Toolchain.guestTriple, "-c", source.path, "-o", object.path])
        return object
    }
}
