// How a tender process ends: a guest status passed through, a crash report on stderr with
// SWIFTLET_EXIT_CRASH, or the tender's own error with SWIFTLET_EXIT_TENDER_ERROR.
import CTender
import SwiftletABI

public enum TenderExit {
    /// Runs `body` (the whole tender) and turns its result or error into the process exit.
    public static func run(name: String, _ body: () throws(TenderError) -> HypercallHandler.Outcome,
                           report: (GuestCrash) -> String) -> Never {
        restoreStopSignals()
        do {
            try Confinement.startClean()
            switch try body() {
            case .resume:
                _exit(0)
            case .halt(let status):
                _exit(status)
            case .crash(let crash):
                writeStandardError("\(name): " + report(crash))
                _exit(SWIFTLET_EXIT_CRASH)
            }
        } catch {
            writeStandardError("\(name): error: \(error)\n")
            _exit(SWIFTLET_EXIT_TENDER_ERROR)
        }
    }

    /// A guest that never makes a hypercall is stopped by the kernel's default action for
    /// these signals, so make sure a launcher did not leave them ignored or blocked.
    static func restoreStopSignals() {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in [SIGINT, SIGTERM, SIGHUP, SIGQUIT] {
            ctender_signal_default(signal)
            sigaddset(&set, signal)
        }
        sigprocmask(SIG_UNBLOCK, &set, nil)
    }

    public static func writeStandardError(_ text: String) {
        var text = text
        text.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = write(2, bytes.baseAddress! + offset, bytes.count - offset)
                if written <= 0 { if written < 0 && SystemError.last == EINTR { continue }; return }
                offset += written
            }
        }
    }
}
