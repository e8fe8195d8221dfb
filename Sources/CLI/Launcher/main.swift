// swiftlet, the front door. `swiftlet run IMAGE` goes from here straight to execve of the
// tender. This is Embedded Swift linked statically: there is no Swift runtime to start and no
// Foundation to load, so it costs about what a C launcher would (bench/cli.py). `doctor` is
// answered here too. Everything else (new, build, run APP, inspect, install, --help,
// --version, completions) is the full CLI, `swiftlet-cli`, which this execs with the same
// arguments; after building an application it execs this launcher again to run the image.
import CRunShim
import SwiftletRun

/// Runs the image, answers doctor, or hands the command to the full CLI; never returns.
func launch(_ arguments: [String]) -> Never {
    let installation = Installation.current()
    var verbose = false

    switch arguments.first {
    case "run":
        switch RunOptions.parse(Array(arguments.dropFirst())) {
        case .options(let options):
            verbose = options.verbose
            do throws(Refusal) {
                try Prerequisites.check(options)
                if ImageFile.isImage(options.image) {
                    if options.virtio || (options.target == nil && ImageFile.isVirtioOnly(options.image)) {
                        try Launch.execVirtio(options, image: options.image, installation: installation)
                    }
                    if options.machine != nil {
                        throw Refusal("--machine applies to --target virtio (QEMU); \(options.image) runs on a tender")
                    }
                    try Launch.exec(options, image: options.image, installation: installation)
                }
                // An application: the full CLI builds it, then hands the image back to this launcher.
                try installation.ensure(cli: true, tenders: Target.allCases.map { Tender($0, debug: options.needsDebugTender) },
                                        verbose: verbose)
            } catch {
                error.exit()
            }
        case .invalid(let problem):
            Refusal.usage(problem).exit()
        case .forFullCLI:
            if Host.environment(Installation.handBackVariable) != nil {
                Refusal("swiftlet-cli handed back run options the launcher cannot parse: \(arguments.joined(separator: " "))").exit()
            }
        }
    case "doctor" where arguments.count == 1:
        exit(Doctor.run())
    default:
        break
    }

    do throws(Refusal) { try installation.ensure(cli: true, tenders: [], verbose: verbose) } catch { error.exit() }
    execv(installation.fullCLI, Host.cStrings(["swiftlet"] + arguments))
    Refusal("cannot start \(installation.fullCLI): \(Host.errorText)").exit()
}

launch(Array(Host.arguments.dropFirst()))
