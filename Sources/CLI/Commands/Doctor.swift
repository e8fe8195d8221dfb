// `swiftlet doctor` is answered by the launcher (Sources/CLI/Run/Doctor.swift), which knows the
// run path's facts; this declaration gives it help and shell completion.
import ArgumentParser

struct Doctor: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check what swiftlet needs on this machine and say how to install what is missing.",
        discussion: "Exit status 1 when something needed to build or run images is missing, 0 otherwise.")

    func run() throws {
        try LauncherHandoff.exec(["doctor"])
    }
}
