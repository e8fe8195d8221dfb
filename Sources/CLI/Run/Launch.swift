// The last step of `swiftlet run`: from an image file to execve of its tender, or of the full
// CLI, which runs QEMU for the virtio target.
import CRunShim

public enum Launch {
    /// Chooses the tender (the target's debug tender for --gdb or --core), attaches the network and replaces this process with the tender,
    /// whose exit status becomes swiftlet's. Returns only by throwing.
    ///
    /// The tender gets an empty environment: on spt the guest shares the tender's address
    /// space, and the user's environment (tokens, paths) is none of its business.
    public static func exec(_ options: RunOptions, image: String, installation: Installation) throws(Refusal) -> Never {
        // An image whose note cannot be read goes to the default tender, which says what is wrong.
        let choice = try TargetChoice.choose(image: image, imageTargets: ImageFile.targets(of: image) ?? Target.allCases,
                                             requested: options.target, kvmProblem: Prerequisites.kvmProblem)
        if let notice = choice.notice { Console.say(notice) }
        // The lean tender unless a debugging feature is asked for.
        let chosen = Tender(choice.target, debug: options.needsDebugTender)
        try installation.ensure(cli: false, tenders: [chosen], verbose: options.verbose)

        let network = try attachNetwork(options)
        let tender = installation.tender(chosen)
        if options.diskSize != nil && options.disks.isEmpty { throw Refusal("--disk-size applies with --disk FILE") }
        let shutdown = options.gracePeriod.map { ["--grace-period", $0] } ?? []
        let argv = [tender, "--mem", options.memory] + shutdown + options.recordingArguments + options.diskArguments
            + (options.gdb.map { ["--gdb", $0] } ?? []) + network.options
            + [image, "--"] + network.guestArguments
        if options.verbose { Console.say("exec (empty environment): \(argv.joined(separator: " "))") }
        execve(tender, Host.cStrings(argv), Host.cStrings([]))
        throw Refusal("cannot start \(tender): \(Host.errorText)")
    }

    /// `--target virtio`: the full CLI runs QEMU, as its parent, because it reads the console
    /// (crash line, exit status). The network is attached here all the same, so one place
    /// starts passt: its end of the socketpair crosses the exec as `--net fd:N`, which the full
    /// CLI gives QEMU. The hand-over mark tells the full CLI this run went through here.
    public static func execVirtio(_ options: RunOptions, image: String, installation: Installation) throws(Refusal) -> Never {
        guard options.core == nil else {
            throw Refusal("--core is the tenders' (hvt, spt): QEMU's memory is not theirs to write; under QEMU use its -s for gdb")
        }
        guard options.gdb == nil else {
            throw Refusal("--gdb is the tenders' (hvt, spt); under QEMU use its own gdb stub (-s)")
        }
        try installation.ensure(cli: true, tenders: [], verbose: options.verbose)
        let network = try attachNetwork(options)
        // --pcap and --pcap-limit: the full CLI records what QEMU's filter-dump sees.
        var words = ["swiftlet", "run", "--target", "virtio", "--mem", options.memory] + network.options + options.recordingArguments
            + options.diskArguments
        if let machine = options.machine { words += ["--machine", machine] }
        if options.verbose { words.append("--verbose") }
        setenv(Installation.handBackVariable, "1", 1)
        execv(installation.fullCLI, Host.cStrings(words + [image, "--"] + network.guestArguments))
        throw Refusal("cannot start \(installation.fullCLI): \(Host.errorText)")
    }

    /// The `--net` option a tender (or the full CLI, for QEMU) gets, starting passt for `-p`,
    /// and the guest's arguments with any the network adds.
    static func attachNetwork(_ options: RunOptions) throws(Refusal) -> (options: [String], guestArguments: [String]) {
        switch options.effectiveNetwork {
        case .none:
            return ([], options.guestArguments)
        case .tap(let name):
            return (["--net", "tap:\(name)"], options.guestArguments)
        case .passt:
            let passt = try Passt.start(try Prerequisites.passt(), forwards: options.publish, verbose: options.verbose)
            for forward in options.publish {
                Console.say("guest port \(forward.guestPort)/\(forward.proto) is reachable at \(forward.hostAddress)")
            }
            return (["--net", "fd:\(passt.tenderFD)"], passt.guestArguments + options.guestArguments)
        }
    }
}
