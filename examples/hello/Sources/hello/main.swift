// hello: the smallest useful Swiftlet unikernel. It greets, lists its arguments, reads the
// clocks, and exits with the status given by an `exit=N` argument (0 otherwise).
import Swiftlet

let arguments = CommandLine.arguments
print("Hello from Swiftlet!")
print("arguments: \(arguments.count - 1)")
for (index, argument) in arguments.enumerated().dropFirst() {
    print("  [\(index)] \(argument)")
}
print("time: \(SystemClock.now.iso8601)")
print("uptime: \(SystemClock.uptimeNanoseconds / 1000) us")

// Matching bytes rather than with String's `==` or `hasPrefix` keeps Unicode normalization
// tables (about 25 KB) out of the image; Embedded Swift links only what a program uses.
let exitPrefix = "exit=".utf8
if let request = arguments.last(where: { $0.utf8.starts(with: exitPrefix) }) {
    let digits = String(decoding: request.utf8.dropFirst(exitPrefix.count), as: UTF8.self)
    guard let status = Int32(digits), (0...254).contains(status) else {
        print("exit=N needs a status from 0 to 254")
        exit(2)
    }
    exit(status)
}
