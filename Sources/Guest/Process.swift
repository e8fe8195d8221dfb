// What an application sees of its process: arguments, exit, clocks.
#if SWIFTLET_GUEST
import SwiftletABI

/// The guest's command line, as `CommandLine` on a hosted Swift platform.
public enum CommandLine {
    public static var argc: Int32 { Int32(Runtime.argc) }
    public static var unsafeArgv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?> { Runtime.argv! }

    public static var arguments: [String] {
        (0..<Runtime.argc).map { index in
            String(cString: UnsafePointer(Runtime.argv![index]!))
        }
    }

    /// Calls `body` with each argument's bytes, read in place from the boot block: no String is
    /// made. The library's own `key=value` settings are read so. Not inlined: each reader had
    /// its own copy of the loop.
    @inline(never)
    static func forEachArgument(_ body: (ByteText) -> Void) {
        ArgumentBlock.forEachArgument(in: Boot.argumentBlock, argc: Runtime.argc) { body(ByteText($0)) }
    }
}

#endif

/// Ends the unikernel with `status` (0...254), after flushing the console.
public func exit(_ status: Int32) -> Never {
    Console.flush()
    Platform.halt(status: status)
}

public enum SystemClock {
    /// Nanoseconds since an arbitrary origin at boot; never goes backwards.
    public static var uptimeNanoseconds: UInt64 { Platform.monotonicNanoseconds() }

    /// Wall-clock time from the host, in nanoseconds since the Unix epoch.
    public static var nowNanoseconds: Int64 { Platform.wallClockNanoseconds() }

    /// Wall-clock time from the host, broken down in UTC.
    public static var now: UTCDateTime { UTCDateTime(nanosecondsSinceEpoch: nowNanoseconds) }
}

#if SWIFTLET_GUEST
/// The guest heap's accounting: what is in use now, the most ever in use, what is left.
public enum Memory {
    public static var statistics: HeapStatistics { Runtime.heap.statistics }
}
#endif
