// What `swiftlet run` was asked to do, parsed by the launcher without ArgumentParser (which
// loads Foundation). The full CLI declares the same options with ArgumentParser, for help,
// completion and errors; a FrontDoorTests case checks that the launcher takes every one.
public struct RunOptions: Equatable, Sendable {
    /// An image, or an application to build first.
    public var image: String
    public var target: Target?
    /// `--target virtio`: QEMU boots the image, run by the full CLI (Launch.execVirtio).
    public var virtio = false
    public var memory = "32M"
    public var publish: [PortForward] = []
    public var network: NetworkChoice?
    public var assets: String?
    /// QEMU's machine for the virtio target (which the full CLI runs).
    public var machine: String?
    /// `--gdb [HOST:]PORT`: the tender waits there for a debugger, the guest stopped.
    public var gdb: String?
    /// Show the tender command line and the toolchain's output instead of logging it.
    public var verbose = false
    /// `--pcap FILE` (bounded by `--pcap-limit SIZE`) and `--core DIR`, passed to the tender.
    public var pcap: String?
    public var pcapLimit: String?
    public var core: String?
    /// Passed to the tender as --grace-period when given (the tender's default is 10 s).
    public var gracePeriod: String?
    /// `--disk FILE` (repeatable) and `--disk-size SIZE` (for every disk created or grown).
    public var disks: [String] = []
    public var diskSize: String?
    public var guestArguments: [String] = []

    public init(image: String) { self.image = image }

    /// --gdb and --core are served by the debug tenders only (Tender).
    public var needsDebugTender: Bool { gdb != nil || core != nil }

    /// passt when ports are published, no network otherwise, unless --net says.
    public var effectiveNetwork: NetworkChoice { network ?? (publish.isEmpty ? .none : .passt) }

    /// What the tender is told to record: --pcap, --pcap-limit, --core with their values.
    public var recordingArguments: [String] {
        var words: [String] = []
        if let pcap { words += ["--pcap", pcap] }
        if let pcapLimit { words += ["--pcap-limit", pcapLimit] }
        if let core { words += ["--core", core] }
        return words
    }

    /// What the tender is told about disks: each `--disk FILE`, with `--disk-size SIZE` after it.
    public var diskArguments: [String] {
        disks.flatMap { ["--disk", $0] + (diskSize.map { ["--disk-size", $0] } ?? []) }
    }

    /// The options that take a value, and the flags, as `swiftlet run --help` lists them.
    public static let valueOptions = ["--target", "--mem", "-p", "--publish", "--net", "--assets", "--machine",
                                      "--pcap", "--pcap-limit", "--core", "--gdb", "--grace-period", "--disk", "--disk-size"]
    public static let flags = ["--verbose"]

    /// What the launcher makes of the words after `run`.
    public enum Parsed {
        case options(RunOptions)
        /// A malformed value: refused here, with what was expected.
        case invalid(String)
        /// Help, or an option this parser does not know: the full CLI parses it and explains.
        case forFullCLI
    }

    public static func parse(_ arguments: [String]) -> Parsed {
        var image: String?
        var options = RunOptions(image: "")
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            if argument == "--" {
                options.guestArguments = Array(arguments[index...])
                break
            }
            guard argument.hasPrefix("-"), argument != "-" else {
                guard image == nil else { return .forFullCLI }
                image = argument
                continue
            }
            if flags.contains(argument) {
                options.verbose = true
                continue
            }
            var name = argument
            var value: String
            if argument.hasPrefix("--"), let equals = argument.firstIndex(of: "=") {
                name = String(argument[..<equals])
                value = String(argument[argument.index(after: equals)...])
            } else {
                guard valueOptions.contains(name), index < arguments.count else { return .forFullCLI }
                value = arguments[index]
                index += 1
            }
            guard valueOptions.contains(name) else { return .forFullCLI }
            if let problem = options.set(name, to: value) { return .invalid(problem) }
        }
        guard let image else { return .forFullCLI }
        options.image = image
        return .options(options)
    }

    /// Sets one option; says what is wrong with a malformed value.
    private mutating func set(_ option: String, to value: String) -> String? {
        switch option {
        case "--target" where value == "virtio":
            virtio = true
            target = nil
        case "--target":
            virtio = false
            guard let target = Target(rawValue: value) else { return "--target \(value): expected hvt, spt or virtio" }
            self.target = target
        case "--mem":
            if let problem = Self.problem(value, by: OptionValue.memorySize) { return problem }
            memory = value
        case "--gdb": gdb = value
        case "--grace-period":
            if let problem = Self.problem(value, by: OptionValue.gracePeriod) { return problem }
            gracePeriod = value
        case "--machine":
            guard value == "microvm" || value == "q35" else { return "--machine \(value): expected microvm or q35" }
            machine = value
        case "-p", "--publish":
            guard let forward = PortForward(argument: value) else {
                return "\(option) \(value): expected HOST:GUEST or HOST:GUEST/udp, ports 1 to 65535 (e.g. -p 8080:80)"
            }
            publish.append(forward)
        case "--net":
            guard let network = NetworkChoice(argument: value) else { return "--net \(value): expected passt, tap:NAME or none" }
            self.network = network
        case "--pcap", "--core":
            guard !value.isEmpty else { return option == "--pcap" ? "--pcap needs a file name" : "--core needs a directory" }
            if option == "--pcap" { pcap = value } else { core = value }
        case "--pcap-limit":
            if let problem = Self.problem(value, by: OptionValue.pcapLimit) { return problem }
            pcapLimit = value
        case "--disk":
            guard !value.isEmpty else { return "--disk needs a file name" }
            disks.append(value)
        case "--disk-size":
            if let problem = Self.problem(value, by: OptionValue.diskSize) { return problem }
            diskSize = value
        default: assets = value
        }
        return nil
    }
}

extension RunOptions {
    /// What is wrong with a value the tender would refuse by the same rule (OptionValues/),
    /// found before anything starts.
    static func problem<Value>(_ value: String, by rule: (String) throws(OptionValueError) -> Value) -> String? {
        do { _ = try rule(value) } catch { return error.message }
        return nil
    }
}

public enum NetworkChoice: Equatable, Sendable {
    case none, passt, tap(String)

    public init?(argument: String) {
        switch argument {
        case "none": self = .none
        case "passt": self = .passt
        default:
            guard argument.hasPrefix("tap:"), argument.count > 4 else { return nil }
            self = .tap(String(argument.dropFirst(4)))
        }
    }
}

public struct PortForward: Equatable, Sendable {
    public var hostPort: UInt16
    public var guestPort: UInt16
    public var proto: String

    public init?(argument: String) {
        let parts = argument.split(separator: "/", maxSplits: 1)
        guard let first = parts.first else { return nil }
        proto = parts.count == 2 ? String(parts[1]) : "tcp"
        let ports = first.split(separator: ":")
        guard ["tcp", "udp"].contains(proto), ports.count == 2,
              let host = UInt16(ports[0]), let guest = UInt16(ports[1]), host > 0, guest > 0 else { return nil }
        hostPort = host
        guestPort = guest
    }

    /// Where a user reaches the port: a URL for the usual web ports, so it can be clicked.
    public var hostAddress: String {
        if proto == "tcp" && [80, 8080].contains(guestPort) { return "http://127.0.0.1:\(hostPort)/" }
        return "127.0.0.1:\(hostPort)"
    }
}
