// The guest console: `print` lands here a byte at a time; we hand it to the tender a line
// (or a full buffer) at a time, since each hand-over is a VM exit on hvt.
#if SWIFTLET_GUEST
import SwiftletABI
#endif

public enum Console {
    private static let capacity = 4096
    nonisolated(unsafe) private static var buffer: UnsafeMutablePointer<UInt8>? = nil
    nonisolated(unsafe) private static var count = 0

    /// Writes bytes to the console, after anything still buffered.
    public static func write(_ bytes: UnsafeRawBufferPointer) {
        flush()
        Platform.consoleWrite(bytes)
    }

    public static func write(_ text: String) {
        var text = text
        text.withUTF8 { write(UnsafeRawBufferPointer($0)) }
    }

    /// Buffers bytes without handing them over at newlines; `flush()` or a full buffer does.
    /// A server logging many lines per turn then pays one hand-over (one VM exit) for all.
    public static func queue(_ bytes: UnsafeRawBufferPointer) {
        for byte in bytes { append(byte, flushAtNewline: false) }
    }

    static func append(_ byte: UInt8, flushAtNewline: Bool = true) {
        let storage = buffer ?? {
            let fresh = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
            buffer = fresh
            return fresh
        }()
        storage[count] = byte
        count += 1
        if (flushAtNewline && byte == 10) || count == capacity { flush() }
    }

    /// Hands everything buffered to the tender. Called at every newline and before exit.
    public static func flush() {
        if count > 0 { handOver() }
    }

    /// flush's work, in one place: inlined, the console write was copied into each of its
    /// callers (five in examples/web, ~220 bytes each); the check stays inline.
    @inline(never)
    private static func handOver() {
        guard let buffer else { return }
        Platform.consoleWrite(UnsafeRawBufferPointer(start: buffer, count: count))
        count = 0
    }
}
