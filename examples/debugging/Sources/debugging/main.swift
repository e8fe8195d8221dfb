// debugging: a guest to practise gdb on (README "Debugging"; the tests in GDBTests use it).
// `sum(upTo:)` has a loop and locals to step through and print; `spin` runs until the
// debugger interrupts it.
import Swiftlet

/// 1 + 2 + ... + n, one addition per turn of the loop.
@inline(never)
func sum(upTo n: Int) -> Int {
    var total = 0
    for value in 1...n {
        total &+= value
    }
    return total
}

/// Busy forever (until Ctrl-C in gdb, or the process is stopped).
@inline(never)
func spin() -> Never {
    var turns = 0
    while SystemClock.uptimeNanoseconds > 0 {
        turns &+= 1
    }
    fatalError("the clock went back to zero after \(turns) turns")
}

let arguments = CommandLine.arguments
if arguments.contains("spin") {
    print("spinning")
    spin()
}
let count = 9 + arguments.count   // 10 with no arguments; not a constant the compiler folds
let total = sum(upTo: count)
print("sum(upTo: \(count)) = \(total)")
