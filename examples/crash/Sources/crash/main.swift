// crash: traps on purpose, so tests can check that both tenders report the trapping
// function with a symbolized backtrace. `crash overflow|bounds|nil|fatal|segv|oom|spin`
// (spin never makes a hypercall: the tender must still stop on SIGTERM or Ctrl-C).
import Swiftlet

@inline(never)
func addOverflowing(_ value: Int) -> Int {
    value + Int.max
}

@inline(never)
func readPastEnd(_ values: [Int], _ index: Int) -> Int {
    values[index]
}

@inline(never)
func unwrapNothing(_ value: Int?) -> Int {
    value!
}

@inline(never)
func failOnPurpose(_ reason: String) -> Never {
    fatalError(reason)
}

@inline(never)
func touchUnmappedMemory(_ address: UInt) -> UInt8 {
    UnsafePointer<UInt8>(bitPattern: address)!.pointee
}

@inline(never)
func exhaustMemory() -> Int {
    var blocks: [[UInt8]] = []
    while true { blocks.append([UInt8](repeating: 1, count: 1 << 20)) }
}

@inline(never)
func spinForever(_ seed: Int) -> Int {
    var value = seed
    while value != 0 { value = (value &* 6364136223846793005 &+ 1) | 1 }
    return value
}

let mode = CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : "overflow"
print("crash: about to \(mode)")
switch mode {
case "overflow": print(addOverflowing(CommandLine.arguments.count))
case "bounds": print(readPastEnd([1, 2, 3], CommandLine.arguments.count + 5))
case "nil": print(unwrapNothing(CommandLine.arguments.count > 100 ? 1 : nil))
case "fatal": failOnPurpose("the crash example was asked to fail")
case "segv": print(touchUnmappedMemory(UInt(CommandLine.arguments.count) * 8))
case "oom": print(exhaustMemory())
case "spin": print(spinForever(CommandLine.arguments.count))
default: print("unknown mode \(mode)")
}
print("crash: still alive, which is wrong")
exit(1)
