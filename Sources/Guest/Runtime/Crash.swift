// Guest-detected fatal conditions (out of memory, heap misuse, bad boot info): the guest
// stops with a crash record; the tender adds the backtrace from the frame pointer we pass.
#if SWIFTLET_GUEST
import SwiftletABI

enum Crash {
    static func halt(kind: swiftlet_crash_kind, message: StaticString) -> Never {
        halt(kind: kind, message: UnsafeRawBufferPointer(start: message.utf8Start, count: message.utf8CodeUnitCount))
    }

    static func outOfMemory(requested: Int) -> Never {
        var text = FixedTextBuffer()
        text.append("out of memory: requested ")
        text.append(decimal: Int64(requested))
        text.append(" bytes, ")
        if let heap = Runtime.heap {
            let statistics = heap.statistics
            text.append(decimal: Int64(statistics.bytesInUse))
            text.append(" in use, largest free block ")
            text.append(decimal: Int64(statistics.largestFreeBlock))
        }
        text.withBytes { halt(kind: SWIFTLET_CRASH_OOM, message: $0) }
    }

    /// Never inlined: every crash path would carry its own copy of the hypercall (the heap's
    /// fault handler had three).
    @inline(never)
    static func halt(kind: swiftlet_crash_kind, message: UnsafeRawBufferPointer) -> Never {
        Console.flush()
        var record = swiftlet_crash_record(
            kind: kind.rawValue,
            message_length: UInt32(min(message.count, Int(SWIFTLET_CRASH_MESSAGE_MAX))),
            message: UInt64(UInt(bitPattern: message.baseAddress)),
            rip: 0,
            rbp: swiftlet_frame_address())
        withUnsafeMutablePointer(to: &record) { pointer in
            var request = swiftlet_hc_halt(
                status: SWIFTLET_EXIT_CRASH, _pad: 0, crash: UInt64(UInt(bitPattern: pointer)))
            Hypercall.call(SWIFTLET_HC_HALT, &request)
        }
        while true {}
    }
}
#endif
