// `swiftlet build --full-swift`, a measured prototype (docs/full-swift-runtime.md): the
// application is ordinary Swift, compiled without Embedded and linked with the toolchain's
// static Swift runtime (libswiftCore.a: reflection, existentials, weak references, Codable)
// over a small single-threaded C library (Sources/Guest/Freestanding/FullRuntime), into an
// hvt/spt image. There is no library OS in it: console output, arguments and exit only.
import Foundation

extension ImageBuilder {
    /// The C library, math, std::string and link script of the prototype.
    func fullRuntimeFolder() -> URL { home.freestanding.appendingPathComponent("FullRuntime") }

    /// The toolchain's static Swift runtime (libswiftCore.a, swiftrt.o).
    var staticSwiftLibraries: URL {
        toolchain.swiftc.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("lib/swift_static/linux")
    }

    public func buildFullRuntime(_ application: Application, targets: [Target], output: URL,
                                 strip: Bool = false) throws(BuildError) -> Result {
        guard !targets.contains(.virtio) else {
            throw .source("--full-swift builds images for hvt and spt only (the prototype has no PVH entry)")
        }
        let core = staticSwiftLibraries.appendingPathComponent("libswiftCore.a")
        let registration = staticSwiftLibraries.appendingPathComponent("x86_64/swiftrt.o")
        guard FileManager.default.fileExists(atPath: core.path), FileManager.default.fileExists(atPath: registration.path) else {
            throw .toolchain("--full-swift needs the toolchain's static Swift runtime (\(core.path)); use a swift.org toolchain for Linux")
        }
        let work = output.deletingLastPathComponent().appendingPathComponent(".\(output.lastPathComponent).\(UUID().uuidString).build")
        try makeDirectory(work)
        defer { try? FileManager.default.removeItem(at: work) }

        log("Compiling \(application.name) as ordinary Swift (full runtime prototype)")
        let appObject = work.appendingPathComponent("\(application.name).o")
        let hasMainFile = application.sources.contains { $0.lastPathComponent == "main.swift" }
        try run("compiling \(application.name)", toolchain.swiftc, [
            "-target", Toolchain.guestTriple, "-O", "-wmo", "-module-name", application.name, "-c", "-o", appObject.path,
        ] + (hasMainFile ? [] : ["-parse-as-library"]) + application.sources.map(\.path),
            crashLogs: output.deletingLastPathComponent(), userCode: true)

        let folder = fullRuntimeFolder()
        let targetBits = targets.reduce(UInt32(0)) { $0 | $1.noteBit }
        var objects = [appObject, registration]
        for name in ["libc.c", "math.c", "cxx.cpp"] {
            let object = work.appendingPathComponent(name + ".o")
            // -mfsgsbase: libc.c gives hvt guests a thread pointer (the runtime's stack protector
            // reads its canary at %fs:40).
            try run("compiling \(name)", toolchain.clang, [
                "-target", Toolchain.guestTriple, "-O2", "-ffreestanding", "-fno-builtin", "-fno-stack-protector",
                "-fno-exceptions", "-fno-rtti", "-mfsgsbase", "-I", home.abiInclude.path,
                "-DSWIFTLET_NOTE_TARGETS=\(targetBits)u", "-c", folder.appendingPathComponent(name).path, "-o", object.path,
            ])
            objects.append(object)
        }
        // std::__detail::_Prime_rehash_policy (the runtime's unordered_map) from the system's
        // libstdc++: one object, which needs nothing else.
        let libstdcxx = try clangFile("libstdc++.a")
        let archiver = toolchain.linker.deletingLastPathComponent().appendingPathComponent("llvm-ar")
        try run("extracting hashtable_c++0x.o", archiver, ["x", libstdcxx, "hashtable_c++0x.o"], in: work)
        objects.append(work.appendingPathComponent("hashtable_c++0x.o"))
        objects.append(URL(fileURLWithPath: try clangFile(nil)))     // libgcc.a: 128-bit division

        log("Linking \(output.lastPathComponent) with the static Swift runtime")
        try run("linking", toolchain.linker, [
            "-static", "-nostdlib", "--gc-sections", "--no-undefined",
            "-T", folder.appendingPathComponent("image.ld").path,
        ] + Self.linkerDefinitions(virtio: false).map { "--defsym=\($0.key)=\($0.value)" }
          + objects.map(\.path) + [core.path, "-o", output.path])
        if strip { try toolchain.strip(.all, output) }
        let size = (try? FileManager.default.attributesOfItem(atPath: output.path)[.size] as? Int) ?? 0
        return Result(image: output, size: size)
    }

    /// `clang -print-file-name=NAME` (or `-print-libgcc-file-name` for nil): where the system's
    /// GCC keeps a library.
    private func clangFile(_ name: String?) throws(BuildError) -> String {
        let process = Process()
        process.executableURL = toolchain.clang
        process.arguments = name.map { ["-print-file-name=\($0)"] } ?? ["-print-libgcc-file-name"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { throw .toolchain("cannot run \(toolchain.clang.path): \(error.localizedDescription)") }
        let path = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        process.waitUntilExit()
        guard path.hasPrefix("/"), FileManager.default.fileExists(atPath: path) else {
            throw .toolchain("--full-swift needs \(name ?? "libgcc.a") from GCC (Debian: apt-get install g++); clang did not find it")
        }
        return path
    }
}
