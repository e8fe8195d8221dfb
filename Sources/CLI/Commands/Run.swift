// `swiftlet run IMAGE|PATH [--target hvt|spt] [--mem SIZE] [-p HOST:GUEST]... [--net tap:NAME] [--assets DIR] [--verbose] [-- ARGS...]`
//
// The launcher (Sources/CLI/Launcher) runs an image without coming here; this command parses
// the same options with ArgumentParser for help and errors, and builds applications.
import ArgumentParser
import SwiftletBuild
import SwiftletRun

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run an image (or build and run an application) in a tender.",
        discussion: """
            Without --target: hvt when /dev/kvm is usable and the image allows it, spt otherwise \
            (said in one line). Tenders are release builds, built on first use in a checkout. \
            Exit status: the guest's; 255 if it crashed; 125 if swiftlet or the tender refused to start it.
            """)

    @Argument(help: "An image built by `swiftlet build`, or an application to build first.")
    var image: String

    @Option(help: "hvt (KVM) or spt (seccomp process); default: what the image and the machine allow.")
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

    @Flag(help: "Show the tender's command line, and the toolchain's output instead of logging it.")
    var verbose = false

    @Argument(parsing: .postTerminator, help: "Arguments for the guest, after --.")
    var arguments: [String] = []

    var options: RunOptions {
        var options = RunOptions(image: image)
        options.target = target
        options.memory = mem
        options.publish = publish
        options.network = net
        options.assets = assets
        options.verbose = verbose
        options.guestArguments = arguments
        return options
    }

    func run() throws {
        let options = options
        do {
            try Prerequisites.check(options)
            let installation = Installation.current()
            if ImageFile.isImage(image) {
                try Launch.exec(options, image: image, installation: installation)
            }
            try installation.ensure(cli: false, tenders: true, verbose: verbose)
            let built = try Build.build(path: image, targets: Target.allCases, output: nil, assets: assets)
            try Launch.exec(options, image: built.image.path, installation: installation)
        } catch let refusal as Refusal {
            refusal.exit()
        }
    }
}

extension Target: ExpressibleByArgument {}

extension NetworkChoice: ExpressibleByArgument {}

extension PortForward: ExpressibleByArgument {}
