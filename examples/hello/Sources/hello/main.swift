// hello: the smallest useful Swiftlet unikernel. It greets, echoes its arguments, reads the
// clocks, and exits with the status given by `--exit N` (0 otherwise).
import Swiftlet

let arguments = CommandLine.arguments
print("Hello from Swiftlet!")
print("arguments: \(arguments.count - 1)")
for (index, argument) in arguments.enumerated().dropFirst() {
    print("  [\(index)] \(argument)")
}
print("time: \(SystemClock.now.iso8601)")
print("uptime: \(SystemClock.uptimeNanoseconds / 1000) us")

if let flag = arguments.firstIndex(of: "--exit"), flag + 1 < arguments.count {
    guard let status = Int32(arguments[flag + 1]), (0...254).contains(status) else {
        print("--exit needs a status from 0 to 254")
        exit(2)
    }
    exit(status)
}
