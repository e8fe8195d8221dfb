// Crash reports on the virtio target. There is no tender to read guest memory, so the guest
// walks its own frame pointers and prints one machine-readable line, which `swiftlet run`
// turns into the report the tenders print (symbolized from the image: VirtioConsole in
// Sources/CLI/Builder); run by hand, the line still says what happened and where:
//   swiftlet-crash exception vector=14 error=0x6 address=0x0 frames=0x100101234,0x100100f00
//   swiftlet-crash reported kind=2 frames=0x... message=out of memory: ...
//   swiftlet-crash hypercall number=77 frames=0x...
#if SWIFTLET_GUEST
import SwiftletABI

enum PVHCrash {
    static let maximumFrames = 64

    /// A CPU exception at CPL3: pvh.S saved [vector, error, rip, cs, rflags, rsp, ss, rbp, cr2]
    /// and came here on its own stack.
    static func exception(_ frame: UnsafePointer<UInt64>) -> Never {
        var text = FixedTextBuffer()
        text.append("swiftlet-crash exception vector=")
        text.append(unsignedDecimal: frame[0])
        text.append(" error=")
        text.append(hex: frame[1])
        text.append(" address=")
        text.append(hex: frame[0] == 14 ? frame[8] : 0)
        text.append(" frames=")
        text.withBytes { PVHShim.write($0) }
        writeFrames(rip: frame[2], rbp: frame[7])
        PVHShim.write("\n")
        PVHMachine.exit(status: SWIFTLET_EXIT_CRASH)
    }

    /// A crash the guest reported itself (HALT with a crash record: Swift trap, out of memory).
    static func reported(_ record: swiftlet_crash_record) {
        Console.flush()
        var text = FixedTextBuffer()
        text.append("swiftlet-crash reported kind=")
        text.append(unsignedDecimal: UInt64(record.kind))
        text.append(" frames=")
        text.withBytes { PVHShim.write($0) }
        writeFrames(rip: record.rip, rbp: record.rbp)
        PVHShim.write(" message=")
        let length = min(Int(record.message_length), Int(SWIFTLET_CRASH_MESSAGE_MAX))
        if let message = UnsafeRawPointer(bitPattern: UInt(record.message)) {
            // One line: a newline in the message would end the report early.
            for index in 0..<length {
                var byte = message.load(fromByteOffset: index, as: UInt8.self)
                if byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") { byte = UInt8(ascii: " ") }
                withUnsafeBytes(of: &byte) { PVHShim.write($0) }
            }
        }
        PVHShim.write("\n")
    }

    static func badHypercall(_ number: UInt32) -> Never {
        var text = FixedTextBuffer()
        text.append("swiftlet-crash hypercall number=")
        text.append(unsignedDecimal: UInt64(number))
        text.append(" frames=")
        text.withBytes { PVHShim.write($0) }
        writeFrames(rip: 0, rbp: swiftlet_frame_address())
        PVHShim.write("\n")
        PVHMachine.exit(status: SWIFTLET_EXIT_CRASH)
    }

    /// `rip` (if known), then return addresses along the frame-pointer chain: each frame must lie
    /// in guest memory above the last, at most maximumFrames (as the tenders' CrashReport.walk).
    static func writeFrames(rip: UInt64, rbp: UInt64) {
        let low = SWIFTLET_GUEST_BASE + SWIFTLET_STACK_BOTTOM
        let high = PVHMachine.memoryEnd
        var count = 0
        func emit(_ address: UInt64) {
            var text = FixedTextBuffer()
            if count > 0 { text.append(",") }
            text.append(hex: address)
            text.withBytes { PVHShim.write($0) }
            count += 1
        }
        if rip != 0 { emit(rip) }
        var frame = rbp
        while count < maximumFrames, frame >= low, frame % 8 == 0, frame < high &- 16 {
            let words = UnsafePointer<UInt64>(bitPattern: UInt(frame))!
            let saved = words[0], caller = words[1]
            if caller == 0 { break }
            emit(caller)
            guard saved > frame else { break }
            frame = saved
        }
    }
}

@_cdecl("swiftlet_pvh_crash")
func swiftletPVHCrash(_ frame: UnsafePointer<UInt64>) -> Never {
    PVHCrash.exception(frame)
}
#endif
