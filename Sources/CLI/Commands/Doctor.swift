// `swiftlet doctor`: what this machine has for building and running unikernels, and the exact
// command for each missing piece.
import ArgumentParser
import SwiftletBuild
import SwiftletRun

struct Doctor: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check what swiftlet needs on this machine and say how to install what is missing.",
        discussion: "Exit status 1 when something needed to build or run images is missing, 0 otherwise.")

    struct Finding {
        var name: String
        /// What it is for, shown either way.
        var purpose: String
        /// What was found, or nil when it is missing.
        var found: String?
        /// The command (or step) that fixes it.
        var fix: String
        var required = false
    }

    func run() throws {
        let findings = [toolchain(), kvm(),
                        program("passt", package: "passt", purpose: "user-mode networking for run -p HOST:GUEST"),
                        program("ip", package: "iproute2", purpose: "creates tap interfaces for run --net tap:NAME"),
                        program("gdb", package: "gdb", purpose: "debugs a guest on spt: gdb --args swiftlet-spt IMAGE"),
                        tenders()]
        print("swiftlet \(SwiftletVersion.version), image ABI \(SwiftletVersion.abi)")
        for finding in findings {
            let state = finding.found == nil ? (finding.required ? "MISSING" : "missing") : "ok"
            print("\(pad(state, 8)) \(pad(finding.name, 16)) \(finding.found ?? finding.purpose)")
            if finding.found == nil { print("\(pad("", 8)) \(pad("", 16)) install: \(finding.fix)") }
        }
        let missing = findings.filter { $0.found == nil }
        print(missing.isEmpty ? "\nnothing is missing" : "\n\(missing.count) missing: \(missing.map(\.name).joined(separator: ", "))")
        if missing.contains(where: \.required) { throw ExitCode.failure }
    }

    func toolchain() -> Finding {
        let purpose = "Swift 6.3 with Embedded Swift: compiles applications into images"
        do {
            let toolchain = try Toolchain.locate()
            return Finding(name: "Swift toolchain", purpose: purpose,
                           found: "\(toolchain.versionLine ?? "swiftc") at \(toolchain.swiftc.deletingLastPathComponent().path)",
                           fix: "", required: true)
        } catch {
            return Finding(name: "Swift toolchain", purpose: "\(purpose): \(error)", found: nil,
                           fix: "a Swift 6.3 toolchain from https://swift.org/install/linux (e.g. unpacked into /opt/swift)", required: true)
        }
    }

    func kvm() -> Finding {
        let finding = Finding(name: "KVM", purpose: "runs images on hvt (without it they run on spt)", found: nil, fix: "")
        guard let problem = Prerequisites.kvmProblem else {
            return Finding(name: finding.name, purpose: finding.purpose, found: "/dev/kvm is usable: images run on hvt", fix: "")
        }
        var result = finding
        result.purpose = "\(problem); images run on spt instead"
        result.fix = problem.contains("kvm group")
            ? "sudo usermod -aG kvm $USER (then log in again)"
            : "enable virtualization for this machine and load the module (modprobe kvm_intel or kvm_amd)"
        return result
    }

    func program(_ name: String, package: String, purpose: String) -> Finding {
        Finding(name: name, purpose: purpose, found: Host.findProgram(name).map { "\($0): \(purpose)" },
                fix: Prerequisites.installCommand(package))
    }

    func tenders() -> Finding {
        let installation = Installation.current()
        let built = Target.allCases.allSatisfy { Host.isExecutable(installation.tender($0)) }
        let purpose = "release builds of swiftlet-hvt and swiftlet-spt"
        if built { return Finding(name: "tenders", purpose: purpose, found: "\(purpose) in \(installation.tendersFolder)", fix: "") }
        let fix = installation.checkout == nil
            ? "reinstall swiftlet (swift run swiftlet install, in the Swiftlet checkout)"
            : "nothing: the first `swiftlet run` builds them (or: swift build -c release --product swiftlet-hvt)"
        return Finding(name: "tenders", purpose: "\(purpose): not built yet", found: nil, fix: fix,
                       required: installation.checkout == nil)
    }

}
