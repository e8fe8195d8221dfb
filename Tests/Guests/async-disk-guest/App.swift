// async-disk-guest: BlockDevice's async calls on the event loop. A ticker task counts how often
// it runs while the main task writes, flushes and reads back 4 MiB through the async calls
// (16 slices each way): the ticker must run between the slices, and the data must come back.
import Swiftlet
import _Concurrency

nonisolated(unsafe) var ticks = 0
nonisolated(unsafe) var stop = false

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
            try await disk.write(at: 0, from: UnsafeRawBufferPointer(written))
            try await disk.flush()
            let duringWrite = ticks - before
            try await disk.read(at: 0, into: readBack)
            let duringRead = ticks - before - duringWrite
            let intact = (0..<bytes).allSatisfy { written[$0] == readBack[$0] }
            print("async-disk-guest: \(bytes) bytes, ticker ran \(duringWrite) times during the write, \(duringRead) during the read, data \(intact ? "intact" : "damaged")")
        } catch {
            print("async-disk-guest: \(error)")
        }
        stop = true
        await ticker.value
        exit(0)
    }
}
