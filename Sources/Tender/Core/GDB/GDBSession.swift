// One GDB client's conversation with a stopped guest: answers every command that needs no
// running vCPU, keeps the software breakpoints, and says when the guest must run. The tender
// owns the socket and the vCPU; this type owns none, so it is tested with a simulated target.

/// Why the guest stopped, as the client hears it (GDB's own signal numbers, which on x86-64
/// match Linux's for these).
public enum GDBStop: Equatable, Sendable {
    /// An int3 the session inserted (SIGTRAP); the target reports the breakpoint's address as rip.
    case breakpoint
    /// One instruction done (SIGTRAP), or the first stop before the guest's first instruction.
    case trap
    /// A hardware watchpoint fired (SIGTRAP), just after the instruction that touched it.
    case watchpoint(GDBWatchpoint)
    /// The client's Ctrl-C (SIGINT).
    case interrupted
    /// The guest faulted (SIGSEGV, SIGILL for a Swift trap, SIGFPE, SIGABRT for a crash the
    /// guest reported itself); resuming ends it.
    case fault(signal: UInt8)
    /// The guest exited with a status: the session ends.
    case exited(status: Int32)
    /// The guest ended by a fatal signal: the session ends.
    case terminated(signal: UInt8)

    public static let sigint: UInt8 = 2, sigill: UInt8 = 4, sigtrap: UInt8 = 5, sigabrt: UInt8 = 6
    public static let sigfpe: UInt8 = 8, sigsegv: UInt8 = 11
}

/// What the session needs from the guest while it is stopped.
public protocol GDBTarget: AnyObject {
    func readRegisters() -> GDBRegisterFile?
    func writeRegisters(_ registers: GDBRegisterFile) -> Bool
    /// Guest bytes [address, address + count) through the checked accessor; nil if any is outside.
    func readMemory(at address: UInt64, count: Int) -> [UInt8]?
    func writeMemory(at address: UInt64, bytes: [UInt8]) -> Bool
    /// Loads the watchpoints into the guest's debug registers for its next run; false if this
    /// target cannot (the client then hears an error and can fall back to `set
    /// can-use-hw-watchpoints 0`, single-stepping).
    func setDebugRegisters(_ registers: X86DebugRegisters) -> Bool
}

public struct GDBSession {
    public enum Action: Equatable {
        /// Send this payload (framed by the caller).
        case reply([UInt8])
        /// Run the guest (one instruction if `step`), then send `stopReply(for:)`.
        case resume(step: Bool)
        /// Reply OK, remove the breakpoints, close the connection and let the guest run on.
        case detach
        /// End the guest now.
        case kill
    }

    public static let int3: UInt8 = 0xCC
    /// The most breakpoints a client may insert (each costs a table entry in the tender).
    public static let maximumBreakpoints = 4096

    /// Inserted breakpoints: address → the guest's byte that int3 replaced.
    public private(set) var breakpoints: [UInt64: UInt8] = [:]
    /// The client announced `swbreak+`: we report breakpoint stops as such, with rip already
    /// moved back onto the int3; otherwise GDB moves it back itself.
    public private(set) var clientReportsSoftwareBreakpoints = false
    public private(set) var lastStop = GDBStop.trap
    /// Inserted hardware watchpoints, as loaded into the guest's debug registers.
    public private(set) var watchpoints = X86DebugRegisters()

    public init() {}

    /// Handles one packet's payload.
    public mutating func handle(payload: [UInt8], target: GDBTarget) -> Action {
        do {
            return handle(try GDBCommand(payload: payload), target: target)
        } catch {
            return .reply(Self.error(1))
        }
    }

    public mutating func handle(_ command: GDBCommand, target: GDBTarget) -> Action {
        switch command {
        case .supported(let features):
            clientReportsSoftwareBreakpoints = features.contains { $0.bytesEqual("swbreak+") }
            return .reply(Array("PacketSize=\(String(GDBPacketDecoder.maximumPayload, radix: 16));qXfer:features:read+;swbreak+;vContSupported+".utf8))
        case .readFeatures(let annex, let offset, let length):
            guard annex.bytesEqual("target.xml") else { return .reply(Self.error(0)) }
            let xml = Array(X86RegisterLayout.targetXML.utf8)
            guard offset <= xml.count else { return .reply(Self.error(1)) }
            let end = offset + min(length, xml.count - offset, GDBPacketDecoder.maximumPayload - 1)
            return .reply([UInt8(ascii: end == xml.count ? "l" : "m")] + xml[offset..<end])
        case .haltReason:
            return .reply(stopReply(for: lastStop))
        case .readRegisters:
            guard let registers = target.readRegisters() else { return .reply(Self.error(14)) }
            return .reply(GDBHex.encode(registers.bytes))
        case .writeRegisters(let bytes):
            guard let registers = GDBRegisterFile(bytes: bytes) else { return .reply(Self.error(22)) }
            return .reply(target.writeRegisters(registers) ? Self.ok : Self.error(14))
        case .readRegister(let number):
            guard let registers = target.readRegisters() else { return .reply(Self.error(14)) }
            guard let bytes = registers.bytes(of: number) else { return .reply(Self.error(22)) }
            return .reply(GDBHex.encode(Array(bytes)))
        case .writeRegister(let number, let bytes):
            guard var registers = target.readRegisters() else { return .reply(Self.error(14)) }
            guard registers.set(number, bytes: bytes) else { return .reply(Self.error(22)) }
            return .reply(target.writeRegisters(registers) ? Self.ok : Self.error(14))
        case .readMemory(let address, let length):
            guard var bytes = target.readMemory(at: address, count: length) else { return .reply(Self.error(14)) }
            hideBreakpoints(in: &bytes, at: address)
            return .reply(GDBHex.encode(bytes))
        case .writeMemory(let address, let bytes):
            return .reply(writeMemory(bytes, at: address, target: target) ? Self.ok : Self.error(14))
        case .insertBreakpoint(let address):
            if breakpoints[address] != nil { return .reply(Self.ok) }
            guard breakpoints.count < Self.maximumBreakpoints,
                  let original = target.readMemory(at: address, count: 1),
                  target.writeMemory(at: address, bytes: [Self.int3]) else { return .reply(Self.error(14)) }
            breakpoints[address] = original[0]
            return .reply(Self.ok)
        case .removeBreakpoint(let address):
            guard let original = breakpoints[address] else { return .reply(Self.ok) }
            guard target.writeMemory(at: address, bytes: [original]) else { return .reply(Self.error(14)) }
            breakpoints[address] = nil
            return .reply(Self.ok)
        case .insertWatchpoint(let watchpoint):
            var updated = watchpoints
            guard updated.insert(watchpoint) else { return .reply(Self.error(28)) }   // ENOSPC: 4 registers
            guard updated == watchpoints || target.setDebugRegisters(updated) else { return .reply(Self.error(14)) }
            watchpoints = updated
            return .reply(Self.ok)
        case .removeWatchpoint(let watchpoint):
            var updated = watchpoints
            updated.remove(watchpoint)
            guard updated == watchpoints || target.setDebugRegisters(updated) else { return .reply(Self.error(14)) }
            watchpoints = updated
            return .reply(Self.ok)
        case .resume(let step, let address):
            if let address {
                guard var registers = target.readRegisters() else { return .reply(Self.error(14)) }
                registers["rip"] = address
                guard target.writeRegisters(registers) else { return .reply(Self.error(14)) }
            }
            return .resume(step: step)
        case .resumeActions:
            return .reply(Array("vCont;c;C;s;S".utf8))
        case .kill:
            return .kill
        case .detach:
            return .detach
        case .attached:
            return .reply(Array("0".utf8))
        case .currentThread:
            return .reply(Array("QC1".utf8))
        case .threadList(let first):
            return .reply(Array((first ? "m1" : "l").utf8))
        case .selectThread, .threadAlive:
            return .reply(Self.ok)
        case .unsupported:
            return .reply([])
        }
    }

    /// The stop reply for `stop`, remembered for `?`.
    public mutating func stopReply(for stop: GDBStop) -> [UInt8] {
        lastStop = stop
        switch stop {
        case .breakpoint:
            return Array("T05thread:1;\(clientReportsSoftwareBreakpoints ? "swbreak:;" : "")".utf8)
        case .trap: return Array("T05thread:1;".utf8)
        case .watchpoint(let watchpoint):
            let reason = watchpoint.kind == .write ? "watch" : "awatch"
            return Array("T05\(reason):\(String(watchpoint.address, radix: 16));thread:1;".utf8)
        case .interrupted: return Array("T02thread:1;".utf8)
        case .fault(let signal): return Array("T\(Self.hex2(signal))thread:1;".utf8)
        case .exited(let status): return Array("W\(Self.hex2(UInt8(truncatingIfNeeded: status)))".utf8)
        case .terminated(let signal): return Array("X\(Self.hex2(signal))".utf8)
        }
    }

    /// Whether a trap at `address` (rip just past an int3) was one of our breakpoints.
    public func isBreakpoint(at address: UInt64) -> Bool { breakpoints[address] != nil }

    /// Puts every original byte back and clears the debug registers (detach, kill): the guest
    /// runs on as if never debugged.
    public mutating func removeAllBreakpoints(target: GDBTarget) {
        for (address, original) in breakpoints { _ = target.writeMemory(at: address, bytes: [original]) }
        breakpoints = [:]
        if !watchpoints.isEmpty {
            watchpoints = X86DebugRegisters()
            _ = target.setDebugRegisters(watchpoints)
        }
    }

    /// A memory write over an inserted breakpoint changes the byte restored on removal, and
    /// leaves the int3 in place.
    private mutating func writeMemory(_ bytes: [UInt8], at address: UInt64, target: GDBTarget) -> Bool {
        var patched = bytes
        for (offset, byte) in bytes.enumerated() {
            let (location, overflow) = address.addingReportingOverflow(UInt64(offset))
            if !overflow, breakpoints[location] != nil {
                breakpoints[location] = byte
                patched[offset] = Self.int3
            }
        }
        return target.writeMemory(at: address, bytes: patched)
    }

    /// The client sees the guest's own bytes where int3s are inserted.
    private func hideBreakpoints(in bytes: inout [UInt8], at address: UInt64) {
        guard !breakpoints.isEmpty else { return }
        for (location, original) in breakpoints where location >= address && location - address < UInt64(bytes.count) {
            bytes[Int(location - address)] = original
        }
    }

    static let ok = Array("OK".utf8)
    static func error(_ code: UInt8) -> [UInt8] { Array("E\(hex2(code))".utf8) }
    static func hex2(_ value: UInt8) -> String { String(decoding: GDBHex.encode([value]), as: UTF8.self) }
}
