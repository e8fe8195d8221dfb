// The GDB remote protocol commands a Swiftlet guest understands, parsed from a packet's
// payload. A payload that names a known command but is malformed (bad hex, a missing field, a
// length past the packet limit) is `GDBCommandError`, answered with an `E` reply; a command
// this stub does not implement is `.unsupported`, answered with the empty reply the protocol
// prescribes, so the client falls back to something it does implement.

public enum GDBCommand: Equatable, Sendable {
    /// `qSupported[:features]`: the client's features (`swbreak+`, ...).
    case supported(clientFeatures: [String])
    /// `qXfer:features:read:ANNEX:OFFSET,LENGTH`: a slice of the target description.
    case readFeatures(annex: String, offset: Int, length: Int)
    /// `?`: why the target is stopped.
    case haltReason
    /// `g`
    case readRegisters
    /// `G XX...`: every register, in target-description order.
    case writeRegisters([UInt8])
    /// `p N`
    case readRegister(Int)
    /// `P N=XX...`
    case writeRegister(Int, [UInt8])
    /// `m ADDR,LENGTH`
    case readMemory(address: UInt64, length: Int)
    /// `M ADDR,LENGTH:XX...`
    case writeMemory(address: UInt64, bytes: [UInt8])
    /// `Z0,ADDR,KIND` / `z0,ADDR,KIND`: a software breakpoint.
    case insertBreakpoint(address: UInt64)
    case removeBreakpoint(address: UInt64)
    /// `Z2,ADDR,LENGTH` (write) / `Z4,...` (access) and their `z`: a hardware watchpoint.
    /// `Z1` (hardware breakpoint) and `Z3` (read watchpoint) are `.unsupported`.
    case insertWatchpoint(GDBWatchpoint)
    case removeWatchpoint(GDBWatchpoint)
    /// `c`, `s`, `C`/`S` with a signal, `vCont;...`: resume one step or until something happens.
    case resume(step: Bool, address: UInt64?)
    /// `vCont?`
    case resumeActions
    /// `k`, `vKill;PID`
    case kill
    /// `D`, `D;PID`
    case detach
    /// `qAttached`: we started the process, so "kill" is the right default on quit.
    case attached
    /// `qC`, `qfThreadInfo`, `qsThreadInfo`, `H...`, `T...`: one thread, always thread 1.
    case currentThread
    case threadList(first: Bool)
    case selectThread
    case threadAlive
    /// Anything else: answered with an empty packet.
    case unsupported
}

public struct GDBCommandError: Error, Equatable, Sendable, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

extension GDBCommand {
    /// Longest memory read served in one reply (two hex digits a byte, inside the packet size).
    public static let maximumMemoryRead = GDBPacketDecoder.maximumPayload / 2 - 16

    public init(payload: [UInt8]) throws(GDBCommandError) {
        guard let first = payload.first else { self = .unsupported; return }
        let body = payload.dropFirst()
        switch first {
        case UInt8(ascii: "?"): self = .haltReason
        case UInt8(ascii: "g"): self = .readRegisters
        case UInt8(ascii: "G"):
            guard let bytes = GDBHex.decode(body) else { throw GDBCommandError("G: register data is not hex") }
            self = .writeRegisters(bytes)
        case UInt8(ascii: "p"):
            self = .readRegister(try Self.registerNumber(body))
        case UInt8(ascii: "P"):
            let parts = body.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, let value = GDBHex.decode(parts[1]), !value.isEmpty else {
                throw GDBCommandError("P: expected N=VALUE in hex")
            }
            self = .writeRegister(try Self.registerNumber(parts[0]), value)
        case UInt8(ascii: "m"):
            let (address, length) = try Self.addressAndLength(body, command: "m")
            self = .readMemory(address: address, length: min(length, Self.maximumMemoryRead))
        case UInt8(ascii: "M"):
            let parts = body.split(separator: UInt8(ascii: ":"), maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2 else { throw GDBCommandError("M: expected ADDR,LENGTH:DATA") }
            let (address, length) = try Self.addressAndLength(parts[0], command: "M")
            guard let bytes = GDBHex.decode(parts[1]), bytes.count == length else {
                throw GDBCommandError("M: data is not \(length) bytes of hex")
            }
            self = .writeMemory(address: address, bytes: bytes)
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            let fields = body.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false)
            guard fields.count >= 3, let type = GDBHex.number(fields[0]), let address = GDBHex.number(fields[1]) else {
                throw GDBCommandError("Z/z: expected TYPE,ADDR,KIND")
            }
            let insert = first == UInt8(ascii: "Z")
            switch type {
            case 0:
                self = insert ? .insertBreakpoint(address: address) : .removeBreakpoint(address: address)
            case 2, 4:
                guard let length = GDBHex.number(fields[2]) else { throw GDBCommandError("Z/z: expected a length in hex") }
                let watchpoint = GDBWatchpoint(kind: type == 2 ? .write : .access, address: address, length: length)
                self = insert ? .insertWatchpoint(watchpoint) : .removeWatchpoint(watchpoint)
            default:
                self = .unsupported
            }
        case UInt8(ascii: "c"), UInt8(ascii: "s"):
            self = .resume(step: first == UInt8(ascii: "s"), address: try Self.optionalAddress(body))
        case UInt8(ascii: "C"), UInt8(ascii: "S"):
            // The signal is the guest's to receive; a unikernel has no handlers, so it is dropped.
            let parts = body.split(separator: UInt8(ascii: ";"), maxSplits: 1, omittingEmptySubsequences: false)
            guard GDBHex.number(parts[0]) != nil else { throw GDBCommandError("C/S: expected a signal number") }
            self = .resume(step: first == UInt8(ascii: "S"), address: try Self.optionalAddress(parts.count == 2 ? parts[1] : []))
        case UInt8(ascii: "k"): self = .kill
        case UInt8(ascii: "D"): self = .detach
        case UInt8(ascii: "H"): self = .selectThread
        case UInt8(ascii: "T"): self = .threadAlive
        case UInt8(ascii: "q"): self = try Self.query(body)
        case UInt8(ascii: "v"): self = try Self.verbose(body)
        default: self = .unsupported
        }
    }

    private static func query(_ body: ArraySlice<UInt8>) throws(GDBCommandError) -> GDBCommand {
        let text = String(decoding: body, as: UTF8.self)
        if text.bytesEqual("Supported") || text.bytesStart(with: "Supported:") {
            let features = String(Substring(text.utf8.dropFirst(9).drop { $0 == UInt8(ascii: ":") }))
            return .supported(clientFeatures: features.bytesSplit(UInt8(ascii: ";")).map(String.init))
        }
        if let rest = text.bytes(after: "Xfer:features:read:") {
            let parts = String(rest).bytesSplit(UInt8(ascii: ":"), maxSplits: 1, omittingEmpty: false)
            let range = parts.count == 2 ? String(parts[1]).bytesSplit(UInt8(ascii: ","), omittingEmpty: false) : []
            guard range.count == 2, let offset = GDBHex.number(range[0].utf8), let length = GDBHex.number(range[1].utf8),
                  offset <= UInt64(Int32.max), length <= UInt64(Int32.max) else {
                throw GDBCommandError("qXfer:features:read: expected ANNEX:OFFSET,LENGTH")
            }
            return .readFeatures(annex: String(parts[0]), offset: Int(offset), length: Int(length))
        }
        switch ByteText(text) {
        case "C": return .currentThread
        case "fThreadInfo": return .threadList(first: true)
        case "sThreadInfo": return .threadList(first: false)
        default: return text.bytesStart(with: "Attached") ? .attached : .unsupported
        }
    }

    /// Thread ids in a vCont action that name our one thread.
    private static let ownThreadIDs: [StaticString] = ["1", "-1", "0", "p1.1", "p1.-1"]

    private static func verbose(_ body: ArraySlice<UInt8>) throws(GDBCommandError) -> GDBCommand {
        let text = String(decoding: body, as: UTF8.self)
        if text.bytesEqual("Cont?") { return .resumeActions }
        if text.bytesStart(with: "Kill") { return .kill }
        guard let actions = text.bytes(after: "Cont;") else { return .unsupported }
        // One thread: the first action that applies to it (no thread id, or thread 1 / -1 / 0) wins.
        for action in String(actions).bytesSplit(UInt8(ascii: ";"), omittingEmpty: false) {
            let parts = String(action).bytesSplit(UInt8(ascii: ":"), maxSplits: 1, omittingEmpty: false)
            if parts.count == 2 && !ownThreadIDs.contains(where: { parts[1].bytesEqual($0) }) { continue }
            switch parts[0].utf8.first {
            case UInt8(ascii: "c"), UInt8(ascii: "C"): return .resume(step: false, address: nil)
            case UInt8(ascii: "s"), UInt8(ascii: "S"): return .resume(step: true, address: nil)
            default: throw GDBCommandError("vCont: unsupported action '\(parts[0])'")
            }
        }
        throw GDBCommandError("vCont: no action for thread 1")
    }

    private static func registerNumber(_ text: ArraySlice<UInt8>) throws(GDBCommandError) -> Int {
        guard let number = GDBHex.number(text), number < 4096 else { throw GDBCommandError("expected a register number in hex") }
        return Int(number)
    }

    private static func addressAndLength(_ text: ArraySlice<UInt8>, command: String) throws(GDBCommandError) -> (UInt64, Int) {
        let parts = text.split(separator: UInt8(ascii: ","), maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, let address = GDBHex.number(parts[0]), let length = GDBHex.number(parts[1]) else {
            throw GDBCommandError("\(command): expected ADDR,LENGTH in hex")
        }
        guard length <= UInt64(GDBPacketDecoder.maximumPayload) else {
            throw GDBCommandError("\(command): length \(length) is past the packet size")
        }
        return (address, Int(length))
    }

    private static func optionalAddress(_ text: ArraySlice<UInt8>) throws(GDBCommandError) -> UInt64? {
        if text.isEmpty { return nil }
        guard let address = GDBHex.number(text) else { throw GDBCommandError("expected a resume address in hex") }
        return address
    }
}
