// async-disk-guest: BlockDevice's batched calls. A ticker task counts how often it runs while
// the main task writes, flushes and reads back 4 MiB through the async calls (4 requests of
// 1 MiB: one BLOCK_BATCH exit each way, with the ticker running before it); two tasks writing
// at once share one exit; the poll-style calls (submit, poll, outcome) on their own; and a
// submission the tender refuses (a read into boot info, which the guest may not write) beside
// a good one: the tender refuses that batch whole, the bad ticket fails, and the good one,
// SKIPPED, is sent again by the next poll.
import Swiftlet
import SwiftletABI
import _Concurrency

nonisolated(unsafe) var ticks = 0
nonisolated(unsafe) var stop = false

/// The error `body` threw, if any (an async let of a throwing call would throw untyped errors).
func attempt(_ body: () async throws(BlockError) -> Void) async -> BlockError? {
    do throws(BlockError) { try await body(); return nil } catch { return error }
}

@main struct App {
    static func main() async {
        guard let disk = BlockDevice.first else {
            print("async-disk-guest: no disk")
            exit(2)
        }
        let ticker = Task {
            while !stop {
                ticks += 1
                await sleep(nanoseconds: 0)
            }
        }
        let bytes = 4 << 20
        let written = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes, alignment: 16)
        let readBack = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes, alignment: 16)
        for index in 0..<bytes { written[index] = UInt8(truncatingIfNeeded: index &* 13 &+ index >> 9) }
        do throws(BlockError) {
            let before = ticks
            var exits = disk.batchesSent
            try await disk.write(at: 0, from: UnsafeRawBufferPointer(written))
            let writeExits = disk.batchesSent - exits
            try await disk.flush()
            let duringWrite = ticks - before
            exits = disk.batchesSent
            try await disk.read(at: 0, into: readBack)
            let readExits = disk.batchesSent - exits
            let duringRead = ticks - before - duringWrite
            let intact = (0..<bytes).allSatisfy { written[$0] == readBack[$0] }
            print("async-disk-guest: \(bytes) bytes, write exits \(writeExits), read exits \(readExits), ticker ran \(duringWrite) times during the write, \(duringRead) during the read, data \(intact ? "intact" : "damaged")")

            // Two writers at once: each submits, yields, and the first to poll sends both.
            exits = disk.batchesSent
            let half = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(written)[0..<(1 << 20)])
            async let first = attempt { () async throws(BlockError) in try await disk.write(at: 6 << 20, from: half) }
            async let second = attempt { () async throws(BlockError) in try await disk.write(at: 7 << 20, from: half) }
            let failures = [await first, await second].compactMap { $0 }
            print("async-disk-guest: two writers, \(disk.batchesSent - exits) exits\(failures.isEmpty ? "" : ", failed")")

            // Poll-style: two submissions, nothing sent until poll, both done by one exit.
            exits = disk.batchesSent
            let one = try disk.submit([.write(at: 0, from: UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(written)[0..<4096])), .flush])
            let two = try disk.submit([.read(at: 0, into: UnsafeMutableRawBufferPointer(rebasing: readBack[0..<4096]))])
            let queued = disk.queuedRequests
            let pending = disk.outcome(of: one) == nil && disk.outcome(of: two) == nil
            let sent = disk.poll()
            let done = (try? disk.outcome(of: one)?.get()) != nil && (try? disk.outcome(of: two)?.get()) != nil
            var misaligned: BlockError?
            do { _ = try disk.submit([.write(at: 100, from: UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(written)[0..<512]))]) } catch { misaligned = error }
            print("async-disk-guest: poll-style queued \(queued), pending \(pending), sent \(sent) in \(disk.batchesSent - exits) exit, done \(done), misaligned \(misaligned.map { $0.description } ?? "accepted")")

            // Refused by the tender, beside a good submission queued after it.
            exits = disk.batchesSent
            let bootInfo = UnsafeMutableRawBufferPointer(start: UnsafeMutableRawPointer(bitPattern: UInt(SWIFTLET_GUEST_BASE + SWIFTLET_BOOTINFO_OFFSET)), count: 512)
            let bad = try disk.submit([.read(at: 0, into: bootInfo)])
            let good = try disk.submit([.write(at: 4096, from: UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(written)[0..<4096]))])
            disk.poll()
            let badOutcome = disk.outcome(of: bad).map { result in
                switch result { case .success: "ok"; case .failure(let error): error == .refused ? "refused" : "\(error)" }
            } ?? "pending"
            let goodPending = disk.outcome(of: good) == nil && disk.queuedRequests == 1
            try disk.complete(good)
            print("async-disk-guest: beside a refused read the good write was \(goodPending ? "requeued" : "not requeued") and done in \(disk.batchesSent - exits) exits, the read \(badOutcome)")
        } catch {
            print("async-disk-guest: \(error)")
        }
        stop = true
        await ticker.value
        exit(0)
    }
}
