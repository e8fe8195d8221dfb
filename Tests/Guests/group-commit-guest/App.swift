// group-commit-guest: KeyValueStore's `commit() async` with eight client tasks committing at
// once, 25 commits each (a put, then an awaited commit). Group commit must gather them: far
// fewer groups (flushes) than commits. Then the disk is opened afresh and every acknowledged
// put must be there. Prints one line the test reads.
import Swiftlet
import _Concurrency

nonisolated(unsafe) var acknowledged: [[UInt8]] = []

func client(_ store: KeyValueStore, _ number: Int, commits: Int) async -> Int {
    var failures = 0
    for index in 0..<commits {
        let key = Array("client\(number)-\(index)".utf8)
        do throws(StoreError) {
            try store.put(key, Array("value \(index)".utf8))
            try await store.commit()
            acknowledged.append(key)
        } catch {
            failures += 1
        }
    }
    return failures
}

@main struct App {
    static func main() async {
        guard let disk = BlockDevice.first else {
            print("group-commit-guest: no disk")
            exit(2)
        }
        let store: KeyValueStore
        do throws(StoreError) { store = try KeyValueStore(device: disk) } catch {
            print("group-commit-guest: \(error.description)")
            exit(3)
        }
        let clients = 8, commits = 25
        var tasks: [Task<Int, Never>] = []
        for number in 0..<clients {
            tasks.append(Task { await client(store, number, commits: commits) })
        }
        var failures = 0
        for task in tasks { failures += await task.value }
        let reopened: KeyValueStore
        do throws(StoreError) { reopened = try KeyValueStore(device: disk) } catch {
            print("group-commit-guest: reopening: \(error.description)")
            exit(4)
        }
        let kept = acknowledged.filter { reopened.get($0) != nil }.count
        print("group-commit-guest: \(clients * commits) commits, \(failures) failed, \(store.commitGroups) groups, \(store.joinedCommits) joined, \(kept) of \(acknowledged.count) acknowledged found after reopening")
        exit(0)
    }
}
