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

    /// The bytes of argument `index` (0..<argc), read in place from the boot block: no String
    /// is made. The library's own `key=value` settings are read so, in a plain loop over the
    /// indices (a loop taking a closure was copied for each reader).
    @inline(never)
    static func argumentText(_ index: Int) -> ByteText {
        let start = UnsafeRawPointer(Runtime.argv![index]!)
        var count = 0
        while start.load(fromByteOffset: count, as: UInt8.self) != 0 { count += 1 }  // the block holds its NUL
        return ByteText(UnsafeRawBufferPointer(start: start, count: count))
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
