// swiftlet: the front door. new → build → run → inspect.
import ArgumentParser
import Foundation
import SwiftletBuild

@main
struct SwiftletCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "swiftlet",
        abstract: "Build Swift applications into unikernels and run them.",
        subcommands: [New.self, Build.self, Run.self, Inspect.self])
}

enum TargetOption: String, ExpressibleByArgument, CaseIterable {
    case hvt, spt, all

    var targets: [Target] {
        switch self {
        case .hvt: [.hvt]
        case .spt: [.spt]
        case .all: Target.allCases
        }
    }
}

/// Progress and results go to stderr; stdout belongs to the guest.
func say(_ text: String) {
    FileHandle.standardError.write(Data("swiftlet: \(text)\n".utf8))
}

struct UserError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

func formatSize(_ bytes: Int) -> String {
    bytes < 10_240 ? "\(bytes) B" : "\(bytes / 1024) KB"
}
