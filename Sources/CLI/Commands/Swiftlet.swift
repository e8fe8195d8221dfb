// swiftlet-cli: the full front door (ArgumentParser, Foundation). The launcher `swiftlet` execs
// it for everything but running an image.
import ArgumentParser
import CRunShim
import Foundation
import SwiftletABI
import SwiftletBuild

@main
struct SwiftletCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "swiftlet",
        abstract: "Build Swift applications into unikernels and run them.",
        discussion: "Shell completion: swiftlet --generate-completion-script bash|zsh|fish (see README).",
        subcommands: [New.self, Build.self, Run.self, Inspect.self, Cert.self, PackageImage.self, Doctor.self, Install.self])

    @Flag(help: "Show swiftlet's version, the image ABI version and the toolchain that builds images.")
    var version = false

    func run() throws {
        guard version else { throw CleanExit.helpRequest(self) }
        print("swiftlet \(SWIFTLET_VERSION)")
        print("image ABI version \(SWIFTLET_ABI_VERSION) (Sources/ABI/include/swiftlet_abi.h)")
        do {
            let toolchain = try Toolchain.locate()
            print("toolchain: \(toolchain.versionLine ?? "unknown version") (\(toolchain.swiftc.path))")
        } catch {
            print("toolchain: none found (\(error))")
        }
    }
}

enum TargetOption: String, ExpressibleByArgument, CaseIterable {
    case hvt, spt, virtio, all

    var targets: [Target] {
        switch self {
        case .hvt: [.hvt]
        case .spt: [.spt]
        case .virtio: [.virtio]
        case .all: Target.tenders
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

/// `text` padded with spaces to `width` columns, for aligned listings.
func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
}
