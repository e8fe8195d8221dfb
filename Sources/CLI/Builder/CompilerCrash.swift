// A crashed compiler prints a long LLVM stack dump that says nothing to an application's
// author. `swiftlet build` keeps it in a log file (for a bug report) and reports one line.
import Foundation

enum CompilerCrash {
    /// Whether `output` is a crashed compiler's: the frontend's stack dump, as the driver relays it.
    static func isCrash(_ output: String) -> Bool {
        output.contains("Stack dump:") || output.contains("Please submit a bug report")
            || output.contains("failed due to signal")
    }

    /// Writes the command and its output to a new log in `folder` (else the temporary folder)
    /// and returns the log's path.
    static func saveLog(_ output: String, arguments: [String], in folder: URL?) -> String {
        let stamp = ISO8601DateFormatter().string(from: Date()).replacingOccurrences(of: ":", with: "")
        let name = "swift-compiler-crash-\(stamp)-\(getpid()).log"
        let text = "$ " + arguments.joined(separator: " ") + "\n\n" + output
        for candidate in [folder, URL(fileURLWithPath: NSTemporaryDirectory())].compactMap({ $0 }) {
            let log = candidate.appendingPathComponent(name)
            if (try? FileManager.default.createDirectory(at: candidate, withIntermediateDirectories: true)) != nil,
               (try? text.write(to: log, atomically: true, encoding: .utf8)) != nil {
                return log.path
            }
        }
        return "(could not be written to \(folder?.path ?? NSTemporaryDirectory()))"
    }
}
