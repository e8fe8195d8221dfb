// Turns a GuestCrash into the report a person reads: what happened, in which function,
// and a backtrace walked along the guest's frame pointers (bounded, every read checked).
public struct CrashReport {
    public static let maximumFrames = 64

    public let crash: GuestCrash
    public let frames: [UInt64]
    private let symbols: SymbolTable?

    public init(crash: GuestCrash, memory: GuestMemory, symbols: SymbolTable?) {
        self.crash = crash
        self.symbols = symbols
        self.frames = crash.registers.map { Self.walk($0, memory: memory) } ?? []
    }

    /// A report for frames walked elsewhere: the virtio guest walks its own stack and prints
    /// them (Sources/Guest/PVH/PVHCrash.swift), with `rip` first for a CPU exception.
    public init(crash: GuestCrash, frames: [UInt64], symbols: SymbolTable?) {
        self.crash = crash
        self.symbols = symbols
        self.frames = Array(frames.prefix(Self.maximumFrames))
    }

    /// Return addresses from `registers.rip` outwards. A frame is [saved rbp, return address];
    /// the chain must climb strictly upwards inside guest memory, or the walk stops.
    static func walk(_ registers: GuestCrash.Registers, memory: GuestMemory) -> [UInt64] {
        var frames: [UInt64] = registers.rip != 0 ? [registers.rip] : []
        var frame = registers.rbp
        while frames.count < maximumFrames, frame != 0, frame % 8 == 0 {
            // A successful load at `frame` means frame + 8 cannot overflow.
            guard let saved = try? memory.load(UInt64.self, at: GuestAddress(raw: frame)),
                  let caller = try? memory.load(UInt64.self, at: GuestAddress(raw: frame &+ 8))
            else { break }
            if caller == 0 { break }
            frames.append(caller)
            guard saved > frame else { break }
            frame = saved
        }
        return frames
    }

    /// The function that was running when the CPU faulted (not known for guest-reported crashes,
    /// whose first frame is the reporting code itself).
    public var faultingFunction: String? {
        if case .reported = crash.cause { return nil }
        return frames.first.flatMap { symbols?.symbolize($0)?.name }
    }

    public var text: String {
        var lines = ["guest crashed: \(crash.summary)"]
        if let function = faultingFunction {
            lines[0] += " in \(printable(function))"
        }
        if !frames.isEmpty {
            lines.append("backtrace:")
            for (index, address) in frames.enumerated() {
                // Return addresses point after the call; look up the call instruction itself.
                let lookup = index == 0 ? address : address &- 1
                var line = "  #\(index) \(hex(address))"
                if let symbol = symbols?.symbolize(lookup) {
                    line += " \(printable(symbol.name)) + \(hex(symbol.offset &+ (address &- lookup)))"
                }
                lines.append(line)
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
