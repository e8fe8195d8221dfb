// Finds the compilers and linker an image build needs, with advice when they are missing.
import Foundation

public struct Toolchain: Sendable {
    public let swiftc: URL
    public let clang: URL
    public let linker: URL
    public let objcopy: URL?
    /// The Embedded Swift libraries for the guest's triple.
    public let embeddedLibraries: URL

    public static let guestTriple = "x86_64-unknown-linux-gnu"

    public static func locate(environment: [String: String] = ProcessInfo.processInfo.environment) throws(BuildError) -> Toolchain {
        var candidates: [URL] = []
        if let explicit = environment["SWIFTLET_TOOLCHAIN"] {
            candidates.append(URL(fileURLWithPath: explicit).appendingPathComponent("usr/bin"))
        }
        candidates += (environment["PATH"] ?? "").split(separator: ":").map { URL(fileURLWithPath: String($0)) }
        candidates.append(URL(fileURLWithPath: "/opt/swift/usr/bin"))
        let fileManager = FileManager.default
        guard let bin = candidates.first(where: { fileManager.isExecutableFile(atPath: $0.appendingPathComponent("swiftc").path) }) else {
            throw .toolchain("no `swiftc` found on PATH or in /opt/swift; install a Swift 6.x toolchain from swift.org (with Embedded Swift) or set SWIFTLET_TOOLCHAIN to its root")
        }
        func tool(_ name: String) -> URL? {
            let url = bin.appendingPathComponent(name)
            return fileManager.isExecutableFile(atPath: url.path) ? url : nil
        }
        guard let clang = tool("clang") else {
            throw .toolchain("the toolchain at \(bin.path) has no clang; use a complete swift.org toolchain")
        }
        guard let linker = tool("ld.lld") else {
            throw .toolchain("the toolchain at \(bin.path) has no ld.lld; use a complete swift.org toolchain")
        }
        let embedded = bin.deletingLastPathComponent()
            .appendingPathComponent("lib/swift/embedded/\(guestTriple)")
        guard fileManager.fileExists(atPath: embedded.path) else {
            throw .toolchain("the toolchain at \(bin.path) lacks Embedded Swift for \(guestTriple) (\(embedded.path)); use Swift 6.1 or newer from swift.org")
        }
        return Toolchain(swiftc: tool("swiftc")!, clang: clang, linker: linker, objcopy: tool("llvm-objcopy"), embeddedLibraries: embedded)
    }

    /// What `strip(_:_:into:)` takes out of an ELF file.
    public enum Strip: Sendable {
        /// Symbols and DWARF (`swiftlet build --strip`): crash reports then show bare addresses.
        case all
        /// DWARF only: the symbol tables stay for crash reports and perf.
        case debugInfo

        var objcopyFlag: String { self == .all ? "--strip-all" : "--strip-debug" }
        var what: String { self == .all ? "symbols and DWARF" : "DWARF" }
    }

    /// Takes `what` out of the ELF file `file` with llvm-objcopy: in place, or into `output`.
    /// An error names the file, the tool and what the tool said.
    public func strip(_ what: Strip, _ file: URL, into output: URL? = nil) throws(BuildError) {
        guard let objcopy else {
            throw .toolchain("no llvm-objcopy in the toolchain at \(swiftc.deletingLastPathComponent().path); cannot strip \(what.what) from \(file.path)")
        }
        let process = Process()
        process.executableURL = objcopy
        process.arguments = [what.objcopyFlag, file.path] + (output.map { [$0.path] } ?? [])
        let errors = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = errors
        do { try process.run() } catch {
            throw .toolchain("cannot start \(objcopy.path) to strip \(what.what) from \(file.path): \(error.localizedDescription)")
        }
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw .output("\(objcopy.path) could not strip \(what.what) from \(file.path): "
                          + message.trimmingCharacters(in: .whitespacesAndNewlines))
        }
    }

    /// The first line of `swiftc --version` ("Swift version 6.3 (swift-6.3-RELEASE)").
    public var versionLine: String? {
        let process = Process()
        process.executableURL = swiftc
        process.arguments = ["--version"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return nil }
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: output, as: UTF8.self).split(separator: "\n").first.map(String.init)
    }
}
