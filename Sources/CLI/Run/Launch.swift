// The last step of `swiftlet run`: from an image file to execve of its tender.
import CRunShim

public enum Launch {
    /// Chooses the tender, attaches the network and replaces this process with the tender,
    /// whose exit status becomes swiftlet's. Returns only by throwing.
    ///
    /// The tender gets an empty environment: on spt the guest shares the tender's address
    /// space, and the user's environment (tokens, paths) is none of its business.
    public static func exec(_ options: RunOptions, image: String, installation: Installation) throws(Refusal) -> Never {
        // An image whose note cannot be read goes to the default tender, which says what is wrong.
        let choice = try TargetChoice.choose(image: image, imageTargets: ImageFile.targets(of: image) ?? Target.allCases,
                                             requested: options.target, kvmProblem: Prerequisites.kvmProblem)
        if let notice = choice.notice { Console.say(notice) }
        try installation.ensure(cli: false, tenders: [choice.target], verbose: options.verbose)

        var tenderArguments = ["--mem", options.memory] + options.recordingArguments
        var guestArguments = options.guestArguments
        switch options.effectiveNetwork {
        case .none: break
        case .tap(let name): tenderArguments += ["--net", "tap:\(name)"]
        case .passt:
            let passt = try Passt.start(try Prerequisites.passt(), forwards: options.publish, verbose: options.verbose)
            tenderArguments += ["--net", "fd:\(passt.tenderFD)"]
            guestArguments = passt.guestArguments + guestArguments
            for forward in options.publish {
                Console.say("guest port \(forward.guestPort)/\(forward.proto) is reachable at \(forward.hostAddress)")
            }
        }
        let tender = installation.tender(choice.target)
        let argv = [tender] + tenderArguments + [image, "--"] + guestArguments
        if options.verbose { Console.say("exec (empty environment): \(argv.joined(separator: " "))") }
        execve(tender, Host.cStrings(argv), Host.cStrings([]))
        throw Refusal("cannot start \(tender): \(Host.errorText)")
    }
}
