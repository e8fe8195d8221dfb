// Process-wide state of the guest runtime: heap, randomness, clock and arguments.
#if SWIFTLET_GUEST
import SwiftletABI

enum Runtime {
    nonisolated(unsafe) static var heap: Heap! = nil
    nonisolated(unsafe) static var random: ChaCha20Random! = nil
    nonisolated(unsafe) static var tscClock: TSCClock? = nil
    nonisolated(unsafe) static var monotonicOrigin: UInt64 = 0
    nonisolated(unsafe) static var argc = 0
    nonisolated(unsafe) static var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = nil

    static func start(_ info: swiftlet_boot_info) {
        let heapStart = UnsafeMutableRawPointer(bitPattern: UInt(info.heap_start))!
        heap = Heap(start: heapStart, size: Int(info.heap_end - info.heap_start))
        heap.onFault = { fault, _ in
            switch fault {
            case .doubleFree: Crash.halt(kind: SWIFTLET_CRASH_ABORT, message: "free: double free")
            case .foreignPointer: Crash.halt(kind: SWIFTLET_CRASH_ABORT, message: "free: pointer not from the heap")
            case .corruptHeader: Crash.halt(kind: SWIFTLET_CRASH_ABORT, message: "free: heap block header corrupted")
            }
        }
        random = Boot.withRandomSeed { ChaCha20Random(seed: $0) }
        if info.tsc_hz != 0 {
            tscClock = TSCClock(hz: info.tsc_hz, origin: swiftlet_rdtsc())
        } else {
            monotonicOrigin = Platform.hostMonotonicNanoseconds()
        }
        let capacity = Int(info.argc) + 1
        argv = .allocate(capacity: capacity)
        argc = ArgumentBlock.parse(Boot.argumentBlock, argc: Int(info.argc), into: argv!, capacity: capacity)
        argv![argc] = nil
    }
}
#endif
