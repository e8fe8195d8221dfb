// What `swiftlet run` was asked to do. The launcher parses it here, without ArgumentParser
// (which loads Foundation); the full CLI declares the same options with ArgumentParser and
// fills in the same struct. `RunOptionsTests` checks that both know the same options.
public struct RunOptions: Equatable, Sendable {
    /// An image, or an application to build first.
    public var image: String
    public var target: Target?
    public var memory = "32M"
    public var publish: [PortForward] = []
    public var network: NetworkChoice?
    public var assets: String?
    /// Show the tender command line and the toolchain's output instead of logging it.
    public var verbose = false
    public var guestArguments: [String] = []

    public init(image: String) { self.image = image }

    /// passt when ports are published, no network otherwise, unless --net says.
    public var effectiveNetwork: NetworkChoice { network ?? (publish.isEmpty ? .none : .passt) }

    /// The options that take a value, and the flags, as `swiftlet run --help` lists them.
    public static let valueOptions = ["--target", "--mem", "-p", "--publish", "--net", "--assets"]
    public static let flags = ["--verbose"]

    /// Parses what follows `run`. Nil for anything this parser does not fully understand (help,
    /// a typo, a malformed value): the full CLI then parses it and explains the problem.
    public init?(parsing arguments: [String]) {
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
                guard image == nil else { return nil }
                image = argument
                continue
            }
            if Self.flags.contains(argument) {
                options.verbose = true
                continue
            }
            var name = argument
            var value: String
            if let equals = argument.firstIndex(of: "="), argument.hasPrefix("--") {
                name = String(argument[..<equals])
                value = String(argument[argument.index(after: equals)...])
            } else {
                guard index < arguments.count else { return nil }
                value = arguments[index]
                index += 1
            }
            guard options.set(name, to: value) else { return nil }
        }
        guard let image else { return nil }
        options.image = image
        self = options
    }

    private mutating func set(_ option: String, to value: String) -> Bool {
        switch option {
        case "--target":
            guard let target = Target(rawValue: value) else { return false }
            self.target = target
        case "--mem": memory = value
        case "-p", "--publish":
            guard let forward = PortForward(argument: value) else { return false }
            publish.append(forward)
        case "--net":
            guard let network = NetworkChoice(argument: value) else { return false }
            self.network = network
        case "--assets": assets = value
        default: return false
        }
        return true
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
