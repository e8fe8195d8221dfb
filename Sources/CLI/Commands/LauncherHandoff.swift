// The full CLI hands images to the launcher, which owns the run path (Sources/CLI/Run):
// one place decides the target, starts passt and execs the tender.
import Foundation

enum LauncherHandoff {
    /// Set on a run that crossed between the launcher and this CLI once, so it never crosses back.
    static let handOverVariable = "SWIFTLET_HANDED_BACK"

    /// `swiftlet` beside this CLI (a build folder), or PREFIX/bin/swiftlet when installed
    /// (this CLI in PREFIX/libexec/swiftlet).
    static var launcher: URL {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let folder = URL(fileURLWithPath: executable).deletingLastPathComponent()
        let beside = folder.appendingPathComponent("swiftlet")
        let installed = folder.appendingPathComponent("../../bin/swiftlet").standardizedFileURL
        return FileManager.default.isExecutableFile(atPath: beside.path) ? beside : installed
    }

    /// Replaces this process with `swiftlet ARGUMENTS`, marked as handed back so the launcher
    /// never hands it to the full CLI again.
    static func exec(_ arguments: [String]) throws -> Never {
        setenv(handOverVariable, "1", 1)
        let path = launcher.path
        execv(path, (["swiftlet"] + arguments).map { strdup($0) } + [nil])
        throw UserError("cannot start \(path): \(String(cString: strerror(errno)))")
    }
}
