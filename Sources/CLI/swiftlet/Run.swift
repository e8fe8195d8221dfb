// `swiftlet run IMAGE|PATH [--target hvt|spt] [--mem SIZE] [-p HOST:GUEST]... [--net tap:NAME] [--assets DIR] [-- ARGS...]`
import ArgumentParser
import Foundation
import SwiftletBuild
import TenderCore

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run an image (or build and run an application) in a tender.",
        discussion: "Without --target, hvt is used when /dev/kvm is usable, spt otherwise.")

    @Argument(help: "An image built by `swiftlet build`, or an application to build first.")
    var image: String

    @Option(help: "hvt (KVM) or spt (seccomp process).")
    var target: Target?

    @Option(help: "Guest memory, e.g. 64M or 1G.")
    var mem: String = "32M"

    @Option(name: [.customShort("p"), .customLong("publish")],
            help: "Make guest port GUEST reachable at 127.0.0.1:HOST (HOST:GUEST, or HOST:GUEST/udp). Uses passt.")
    var publish: [PortForward] = []

    @Option(help: "Network: passt (user-mode, default when -p is given), tap:NAME (an existing tap interface), or none.")
    var net: NetworkChoice?

    @Option(help: "When building: folder of static files to embed (default: PATH/assets, if it exists).")
    var assets: String?

    @Argument(parsing: .postTerminator, help: "Arguments for the guest, after --.")
    var arguments: [String] = []

    func run() throws {
        do { _ = try TenderOptions.parseMemorySize(mem) } catch { throw UserError("\(error)") }
        let network = net ?? (publish.isEmpty ? .none : .passt)
        if case .tap = network, !publish.isEmpty {
            throw UserError("-p needs the passt network; with --net tap:NAME, reach the guest at its address on the tap")
        }
        let chosen = target ?? Self.defaultTarget()
        let isImage = try Self.isImage(image)
        if isImage, assets != nil {
            throw UserError("--assets applies when building an application; \(image) is already an image (rebuild it with `swiftlet build --assets DIR`)")
        }
        let imagePath = isImage ? image
            : try Build.build(path: image, targets: Target.allCases, output: nil, assets: assets).image.path
        let tender = try Self.tender(for: chosen)
        var netArguments: [String] = []
        switch network {
        case .none: break
        case .tap(let name): netArguments = ["--net", "tap:\(name)"]
        case .passt:
            let fd = try Passt.start(forwards: publish)
            netArguments = ["--net", "fd:\(fd)"]
            for forward in publish {
                say("guest port \(forward.guestPort)/\(forward.proto) is reachable at \(forward.hostAddress)")
            }
        }
        let argv = [tender, "--mem", mem] + netArguments + [imagePath, "--"] + arguments
        let cArguments = argv.map { strdup($0) } + [nil]
        execv(tender, cArguments)
        throw UserError("cannot start \(tender): \(String(cString: strerror(errno)))")
    }

    static func defaultTarget() -> Target {
        if access("/dev/kvm", R_OK | W_OK) == 0 { return .hvt }
        say("/dev/kvm is not usable here; running on spt (a seccomp-confined process) instead")
        return .spt
    }

    /// An ELF file is an image; anything else is an application to build.
    static func isImage(_ path: String) throws -> Bool {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw UserError("\(path) does not exist; build an image with `swiftlet build` or create an application with `swiftlet new NAME`")
        }
        if isDirectory.boolValue { return false }
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        return handle.readData(ofLength: 4) == Data([0x7F, 0x45, 0x4C, 0x46])
    }

    /// The tender binary: next to this executable, else on PATH; in a Swiftlet checkout where
    /// `swift run swiftlet` built only the CLI, build the tender the same way first.
    static func tender(for target: Target) throws -> String {
        let name = "swiftlet-\(target.rawValue)"
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let productsFolder = URL(fileURLWithPath: executable).deletingLastPathComponent()
        let beside = productsFolder.appendingPathComponent(name).path
        let onPath = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map { "\($0)/\(name)" }
        if let found = ([beside] + onPath).first(where: { FileManager.default.isExecutableFile(atPath: $0) }) {
            return found
        }
        if let home = try? SwiftletHome.locate(), productsFolder.path.hasPrefix(home.root.appendingPathComponent(".build").path) {
            say("building the \(target.rawValue) tender (first run)")
            let configuration = productsFolder.lastPathComponent == "release" ? "release" : "debug"
            let build = Process()
            build.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            build.arguments = ["swift", "build", "-c", configuration, "--product", name, "--package-path", home.root.path]
            build.standardOutput = FileHandle.standardError
            try build.run()
            build.waitUntilExit()
            if build.terminationStatus == 0, FileManager.default.isExecutableFile(atPath: beside) { return beside }
        }
        throw UserError("cannot find the \(name) tender next to swiftlet or on PATH; build it with `swift build` in the Swiftlet checkout")
    }
}

extension Target: ExpressibleByArgument {}

enum NetworkChoice: ExpressibleByArgument, Equatable {
    case none, passt, tap(String)

    init?(argument: String) {
        switch argument {
        case "none": self = .none
        case "passt": self = .passt
        default:
            guard argument.hasPrefix("tap:"), argument.count > 4 else { return nil }
            self = .tap(String(argument.dropFirst(4)))
        }
    }
}

struct PortForward: ExpressibleByArgument, Equatable {
    var hostPort: UInt16
    var guestPort: UInt16
    var proto: String

    init?(argument: String) {
        let parts = argument.split(separator: "/", maxSplits: 1)
        proto = parts.count == 2 ? String(parts[1]) : "tcp"
        let ports = parts[0].split(separator: ":")
        guard ["tcp", "udp"].contains(proto), ports.count == 2,
              let host = UInt16(ports[0]), let guest = UInt16(ports[1]), host > 0, guest > 0 else { return nil }
        hostPort = host
        guestPort = guest
    }

    /// Where a user reaches the port: a URL for the usual web ports, so it can be clicked.
    var hostAddress: String {
        if proto == "tcp" && [80, 8080].contains(guestPort) { return "http://127.0.0.1:\(hostPort)/" }
        return "127.0.0.1:\(hostPort)"
    }
}

/// passt, Debian's user-mode network: it owns the host ports, speaks DHCP/ARP to the guest and
/// carries its frames over a socketpair. It exits when the tender's end closes.
enum Passt {
    static let guestAddress = "10.0.2.15", prefix = "24", gateway = "10.0.2.2"

    /// Starts passt on one end of a socketpair; returns the other end, for the tender.
    static func start(forwards: [PortForward]) throws -> Int32 {
        let candidates: [String] = ["/usr/bin/passt", "/usr/local/bin/passt", "/usr/sbin/passt"]
        guard let passt = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw UserError("passt is not installed; install it (Debian/Ubuntu: apt-get install passt) or use --net tap:NAME")
        }
        // Both ends close-on-exec: passt gets its end as fd 3 (a dup, so inherited), and the
        // tender's end is made inheritable only after passt has started. If passt kept the
        // tender's end open, it would never see the tender exit.
        var fds: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
            throw UserError("cannot create a socketpair for passt: \(String(cString: strerror(errno)))")
        }
        var arguments = [passt, "--foreground", "--quiet", "--fd", "3",
                         "--address", guestAddress, "--netmask", prefix, "--gateway", gateway]
        for forward in forwards {
            arguments += [forward.proto == "udp" ? "--udp-ports" : "--tcp-ports", "\(forward.hostPort):\(forward.guestPort)"]
        }
        if forwards.allSatisfy({ $0.proto != "udp" }) { arguments += ["--udp-ports", "none"] }
        if forwards.allSatisfy({ $0.proto != "tcp" }) { arguments += ["--tcp-ports", "none"] }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        let devNull = open("/dev/null", O_WRONLY)
        if ProcessInfo.processInfo.environment["SWIFTLET_DEBUG"] == nil {
            posix_spawn_file_actions_adddup2(&actions, devNull, 2)
        }
        posix_spawn_file_actions_adddup2(&actions, devNull, 1)
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 3)
        var pid: pid_t = 0
        let cArguments = arguments.map { strdup($0) } + [nil]
        let result = posix_spawn(&pid, passt, &actions, nil, cArguments, environ)
        posix_spawn_file_actions_destroy(&actions)
        close(fds[1])
        close(devNull)
        guard result == 0 else { throw UserError("cannot start passt: \(String(cString: strerror(result)))") }
        _ = fcntl(fds[0], F_SETFD, 0)
        return fds[0]
    }
}
