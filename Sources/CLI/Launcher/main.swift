// swiftlet, the front door. `swiftlet run IMAGE` goes from here straight to execve of the
// tender: this is a static executable that loads neither Foundation nor the dynamic Swift
// runtime, so it adds a fraction of a millisecond to a boot. Everything else (new, build,
// run APP, inspect, doctor, install, --help, --version, completions) is the full CLI,
// `swiftlet-cli`, which this execs with the same arguments.
#if canImport(Glibc)
import Glibc
#endif
import SwiftletRun

let arguments = Array(CommandLine.arguments.dropFirst())
let installation = Installation.current()
var verbose = false

if arguments.first == "run", let options = RunOptions(parsing: Array(arguments.dropFirst())) {
    verbose = options.verbose
    do {
        try Prerequisites.check(options)
        if ImageFile.isImage(options.image) {
            try Launch.exec(options, image: options.image, installation: installation)
        }
        // An application: the full CLI builds it, then starts it through Launch.exec too.
        try installation.ensure(cli: true, tenders: true, verbose: verbose)
    } catch {
        error.exit()
    }
}

do { try installation.ensure(cli: true, tenders: false, verbose: verbose) } catch { error.exit() }
execv(installation.fullCLI, Host.cStrings(["swiftlet"] + arguments))
Refusal("cannot start \(installation.fullCLI): \(String(cString: strerror(errno)))").exit()
