// The guest half of bench/storage.py: KeyValueStore on --disk, timed inside the guest.
//   commits N      N single small puts, each committed (durable) before the next: commits/s
//   concurrent N C N small puts by C client tasks at once, each put committed (durable) before
//                  that client's next, through `commit() async` (group commit): commits/s
//   bulk N SIZE    N puts of SIZE-byte values under 10-byte keys, one commit: seconds
//   extra N SIZE   N more keys after the bulk ones, one commit (the log after the checkpoint
//                  that the next open replays, as the peers' killed writer leaves them a WAL)
//   reads N        N point gets of random existing keys: reads/s
//   open           open the store (after the host killed the last writer): milliseconds
// Each prints "result NAME COUNT NANOSECONDS" (integers: the host does the division); with
// "spin" last, the guest then waits to be killed. Commits go through `commit() async`, the call
// a server's tasks make.
import Swiftlet
import _Concurrency

func key(_ number: Int) -> [UInt8] {
    var digits = Array(String(number).utf8)
    while digits.count < 9 { digits.insert(0x30, at: 0) }
    return [0x6B] + digits   // "k000000042"
}

func next(_ state: inout UInt64, below bound: Int) -> Int {
    state ^= state << 13; state ^= state >> 7; state ^= state << 17
    return Int(state % UInt64(max(1, bound)))
}

func report(_ name: String, _ count: Int, since start: UInt64) {
    print("result \(name) \(count) \(SystemClock.uptimeNanoseconds - start)")
}

/// One client of "concurrent": `count` commits of its own keys; how many failed.
func client(_ store: KeyValueStore, _ number: Int, commits count: Int) async -> Int {
    var failures = 0
    for commit in 0..<count {
        do throws(StoreError) {
            try store.put(Array("c\(number)-\(commit % 1000)".utf8), Array("value \(commit)".utf8))
            try await store.commit()
        } catch { failures += 1 }
    }
    return failures
}

@main struct Bench {
    static func main() async {
        guard let disk = BlockDevice.first else { print("storage: no --disk"); exit(2) }
        var arguments = Array(CommandLine.arguments.dropFirst())
        let spin = arguments.last == "spin"
        if spin { arguments.removeLast() }
        let started = SystemClock.uptimeNanoseconds
        let store: KeyValueStore
        do throws(StoreError) { store = try KeyValueStore(device: disk) } catch { print("storage: \(error.description)"); exit(3) }
        let openNanoseconds = SystemClock.uptimeNanoseconds - started
        print("result open \(store.count) \(openNanoseconds) replayed_bytes \(store.recovery.replayedBytes) tail_bytes \(store.recovery.tailBytes) checkpoint_entries \(store.recovery.checkpointEntries)")
        var bulkLoaded = store.count
        var index = 0
        while index < arguments.count {
            let command = arguments[index]
            let count = index + 1 < arguments.count ? Int(arguments[index + 1]) ?? 0 : 0
            index += 2
            do throws(StoreError) {
                switch command {
                case "commits":
                    let start = SystemClock.uptimeNanoseconds
                    for number in 0..<count {
                        try store.put(Array("c\(number % 1000)".utf8), Array("value \(number)".utf8))
                        try await store.commit()
                    }
                    report("commits", count, since: start)
                case "concurrent":
                    let clients = max(1, index < arguments.count ? Int(arguments[index]) ?? 8 : 8)
                    index += 1
                    let groups = store.commitGroups
                    let start = SystemClock.uptimeNanoseconds
                    var tasks: [Task<Int, Never>] = []
                    for number in 0..<clients { tasks.append(Task { await client(store, number, commits: count / clients) }) }
                    var failures = 0
                    for task in tasks { failures += await task.value }
                    print("result concurrent \(count / clients * clients) \(SystemClock.uptimeNanoseconds - start) clients \(clients) groups \(store.commitGroups - groups)")
                    if failures > 0 { print("storage: \(failures) concurrent commits failed") }
                case "bulk":
                    let size = index < arguments.count ? Int(arguments[index]) ?? 100 : 100
                    index += 1
                    let value = [UInt8](repeating: 0x61, count: size)
                    let start = SystemClock.uptimeNanoseconds
                    for number in 0..<count { try store.put(key(number), value) }
                    try await store.commit()
                    report("bulk", count, since: start)
                    bulkLoaded = count
                case "extra":
                    let size = index < arguments.count ? Int(arguments[index]) ?? 100 : 100
                    index += 1
                    let value = [UInt8](repeating: 0x62, count: size)
                    let start = SystemClock.uptimeNanoseconds
                    for number in bulkLoaded..<bulkLoaded + count { try store.put(key(number), value) }
                    try await store.commit()
                    report("extra", count, since: start)
                case "reads":
                    var state: UInt64 = 0x9E37_79B9_7F4A_7C15   // xorshift64: the same keys every run
                    let keys = bulkLoaded
                    var found = 0
                    let start = SystemClock.uptimeNanoseconds
                    for _ in 0..<count where store.get(key(next(&state, below: keys))) != nil { found += 1 }
                    report("reads", count, since: start)
                    if found != count { print("storage: only \(found) of \(count) keys found") }
                default:
                    print("storage: unknown command \(command)")
                    exit(2)
                }
            } catch {
                print("storage: \(command) failed: \(error.description)")
                exit(1)
            }
        }
        print("storage: done")
        if spin { while true { _ = GuestNIC.waitForInput(until: nil) } }
    }
}
