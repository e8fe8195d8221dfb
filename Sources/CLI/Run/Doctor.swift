// `swiftlet doctor`: what this machine has for building and running unikernels, and the exact
// command for each missing piece. It lives with the run path because it reports the same
// facts the run path acts on (KVM, passt, where the tenders are).
import CRunShim
import SwiftletABI

public enum Doctor {
    struct Finding {
        var name: String
        /// What it is for, or why it is missing.
        var purpose: String
        /// What was found, or nil when it is missing.
        var found: String?
        /// The command (or step) that installs it.
        var fix = ""
        var required = false
    }

    /// Prints the report; returns the exit status (1 when something required is missing).
    public static func run() -> Int32 {
        let findings = [toolchain(), kvm(),
                        program("passt", package: Passt.debianPackage, purpose: "user-mode networking for run -p HOST:GUEST"),
                        program("ip", package: "iproute2", purpose: "creates tap interfaces for run --net tap:NAME"),
                        program("gdb", package: "gdb", purpose: "debugs a guest: swiftlet run --gdb PORT IMAGE, then gdb IMAGE"),
                        musl(), tenders(debug: false), tenders(debug: true)]
        Console.print("swiftlet \(SWIFTLET_VERSION), image ABI \(SWIFTLET_ABI_VERSION)")
        for finding in findings {
            let state = finding.found == nil ? (finding.required ? "MISSING" : "missing") : "ok"
            Console.print("\(pad(state, 8)) \(pad(finding.name, 16)) \(finding.found ?? finding.purpose)")
            if finding.found == nil { Console.print("\(pad("", 8)) \(pad("", 16)) install: \(finding.fix)") }
        }
        let missing = findings.filter { $0.found == nil }
        Console.print(missing.isEmpty ? "\nnothing is missing" : "\n\(missing.count) missing: \(missing.map { $0.name }.joined(separator: ", "))")
        return missing.contains { $0.required } ? 1 : 0
    }

    /// Looks where `swiftlet build` looks (SWIFTLET_TOOLCHAIN, PATH, /opt/swift) for a swiftc
    /// with Embedded Swift beside it.
    static func toolchain() -> Finding {
        var finding = Finding(name: "Swift toolchain", purpose: "Swift 6.3 with Embedded Swift: compiles applications into images",
                              found: nil, fix: "a Swift 6.3 toolchain from https://swift.org/install/linux (e.g. unpacked into /opt/swift)",
                              required: true)
        var folders = Host.environment("SWIFTLET_TOOLCHAIN").map { ["\($0)/usr/bin"] } ?? []
        folders += (Host.environment("PATH") ?? "").split(separator: ":").map { String($0) } + ["/opt/swift/usr/bin"]
        guard let bin = folders.first(where: { Host.isExecutable("\($0)/swiftc") }) else { return finding }
        guard Host.kind(of: "\(Host.folder(of: bin))/lib/swift/embedded/x86_64-unknown-linux-gnu") == .directory else {
            finding.purpose = "the swiftc in \(bin) has no Embedded Swift for x86_64-unknown-linux-gnu"
            return finding
        }
        let version = Host.run("\(bin)/swiftc", ["--version"], captureOutput: true).output.split(separator: "\n").first
        finding.found = "\(version.map { String($0) } ?? "swiftc") at \(bin)"
        return finding
    }

    static func kvm() -> Finding {
        guard let problem = Prerequisites.kvmProblem else {
            return Finding(name: "KVM", purpose: "", found: "/dev/kvm is usable: images run on hvt")
        }
        let fix = access("/dev/kvm", F_OK) == 0
            ? "sudo usermod -aG kvm $USER (then log in again)"
            : "enable virtualization for this machine and load the module (modprobe kvm_intel or kvm_amd)"
        return Finding(name: "KVM", purpose: "\(problem); images run on spt instead", found: nil, fix: fix)
    }

    static func program(_ name: String, package: String, purpose: String) -> Finding {
        Finding(name: name, purpose: purpose, found: Host.findProgram(name).map { "\($0): \(purpose)" },
                fix: Prerequisites.installCommand(package))
    }

    static func musl() -> Finding {
        let purpose = "the C library the tenders are linked with (to build them)"
        return Finding(name: "musl", purpose: purpose, found: Musl.isInstalled ? "\(Musl.library): \(purpose)" : nil,
                       fix: Prerequisites.installCommand(Musl.debianPackage))
    }

    /// The lean tenders every run needs, or the debug ones that serve --gdb and --core.
    static func tenders(debug: Bool) -> Finding {
        let installation = Installation.current()
        let tenders = Target.allCases.map { Tender($0, debug: debug) }
        let name = debug ? "debug tenders" : "tenders"
        let purpose = "release builds of \(tenders.map { $0.name }.joined(separator: " and "))" + (debug ? ", for run --gdb and --core" : "")
        if tenders.allSatisfy({ Host.isExecutable(installation.tender($0)) }) {
            return Finding(name: name, purpose: purpose, found: "\(purpose) in \(installation.tendersFolder)")
        }
        guard installation.checkout != nil else {
            return Finding(name: name, purpose: "\(purpose): missing", found: nil,
                           fix: "reinstall swiftlet (swift run swiftlet install, in the Swiftlet checkout)", required: !debug)
        }
        let first = debug ? "the first `swiftlet run --gdb` or `--core`" : "the first `swiftlet run`"
        return Finding(name: name, purpose: "\(purpose): not built yet", found: nil,
                       fix: "nothing: \(first) builds them (or: swift build -c release --product \(tenders[0].name))")
    }

    static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }
}
