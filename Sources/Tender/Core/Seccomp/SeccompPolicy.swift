// A seccomp policy as reviewable data: which system calls a tender may make, with which
// arguments, and why. BPFCompiler.swift turns it into a classic-BPF filter; the program
// it produces starts by checking the architecture (and rejecting the x32 ABI), then tries
// the rules in order, and ends in the default action (kill the process).

/// What a seccomp filter tells the kernel to do with a system call (the `SECCOMP_RET_*`
/// action in the high 16 bits of the filter's return value, with 16 bits of data).
public enum SeccompAction: Hashable, Sendable, CustomStringConvertible {
    case killProcess
    case killThread
    case trap
    case errno(UInt16)
    case userNotify
    case trace(UInt16)
    case log
    case allow

    // Values from <linux/seccomp.h>; SeccompTests checks them against the header.
    static let retKillProcess: UInt32 = 0x8000_0000
    static let retKillThread: UInt32 = 0x0000_0000
    static let retTrap: UInt32 = 0x0003_0000
    static let retErrno: UInt32 = 0x0005_0000
    static let retUserNotif: UInt32 = 0x7fc0_0000
    static let retTrace: UInt32 = 0x7ff0_0000
    static let retLog: UInt32 = 0x7ffc_0000
    static let retAllow: UInt32 = 0x7fff_0000
    static let actionMask: UInt32 = 0xffff_0000  // SECCOMP_RET_ACTION_FULL

    /// The 32-bit value a filter returns for this action.
    public var returnValue: UInt32 {
        switch self {
        case .killProcess: Self.retKillProcess
        case .killThread: Self.retKillThread
        case .trap: Self.retTrap
        case .errno(let e): Self.retErrno | UInt32(e)
        case .userNotify: Self.retUserNotif
        case .trace(let d): Self.retTrace | UInt32(d)
        case .log: Self.retLog
        case .allow: Self.retAllow
        }
    }

    /// Decodes a filter's return value the way the kernel does (unknown actions kill the process).
    public init(returnValue r: UInt32) {
        let data = UInt16(truncatingIfNeeded: r)
        switch r & Self.actionMask {
        case Self.retKillProcess: self = .killProcess
        case Self.retKillThread: self = .killThread
        case Self.retTrap: self = .trap
        case Self.retErrno: self = .errno(data)
        case Self.retUserNotif: self = .userNotify
        case Self.retTrace: self = .trace(data)
        case Self.retLog: self = .log
        case Self.retAllow: self = .allow
        default: self = .killProcess
        }
    }

    public var description: String {
        switch self {
        case .killProcess: "KILL_PROCESS"
        case .killThread: "KILL_THREAD"
        case .trap: "TRAP"
        case .errno(let e): "ERRNO(\(e))"
        case .userNotify: "USER_NOTIF"
        case .trace(let d): "TRACE(\(d))"
        case .log: "LOG"
        case .allow: "ALLOW"
        }
    }
}

/// A condition on one 64-bit system-call argument (`index` is 0...5). Both 32-bit halves
/// are compared, so a value with unexpected high bits never matches.
public enum ArgumentMatch: Hashable, Sendable, CustomStringConvertible {
    /// `args[index] == value`
    case equals(Int, UInt64)
    /// `args[index]` is one of `values` (which must not be empty)
    case oneOf(Int, [UInt64])
    /// `args[index] & mask == value` (e.g. `.maskedEquals(2, PROT_EXEC, 0)`: prot without exec).
    /// `value` must have no bits outside `mask`.
    case maskedEquals(Int, UInt64, UInt64)

    public var index: Int {
        switch self {
        case .equals(let i, _), .oneOf(let i, _), .maskedEquals(let i, _, _): i
        }
    }

    /// Whether `args` satisfies this condition (the meaning the compiled filter must have).
    public func matches(_ args: [UInt64]) -> Bool {
        let a = args[index]
        switch self {
        case .equals(_, let v): return a == v
        case .oneOf(_, let vs): return vs.contains(a)
        case .maskedEquals(_, let m, let v): return a & m == v
        }
    }

    public var description: String {
        switch self {
        case .equals(let i, let v): "arg\(i) == \(hex(v))"
        case .oneOf(let i, let vs): "arg\(i) in [\(vs.map { hex($0) }.joined(separator: ", "))]"
        case .maskedEquals(let i, let m, let v): "arg\(i) & \(hex(m)) == \(hex(v))"
        }
    }
}

/// One allowed system call. The call is allowed if ANY alternative matches; an alternative
/// matches if ALL its argument conditions hold; an alternative with no conditions allows
/// the call unconditionally. Several rules may name the same system call (they combine
/// with OR, like alternatives).
public struct SyscallRule: Hashable, Sendable, CustomStringConvertible {
    public var name: String
    public var number: UInt32
    public var alternatives: [[ArgumentMatch]]
    public var why: String

    /// A rule with one alternative: allowed when all of `arguments` hold (always, if empty).
    public init(name: String, number: some BinaryInteger, arguments: [ArgumentMatch] = [], why: String) {
        self.init(name: name, number: number, anyOf: [arguments], why: why)
    }

    /// A rule allowed when any of `alternatives` holds.
    public init(name: String, number: some BinaryInteger, anyOf alternatives: [[ArgumentMatch]], why: String) {
        self.name = name
        self.number = UInt32(truncatingIfNeeded: number)
        self.alternatives = alternatives
        self.why = why
    }

    public var isUnconditional: Bool { alternatives.contains { $0.isEmpty } }

    /// Whether this rule allows system call `nr` with `args` (the reference semantics).
    public func allows(nr: UInt32, args: [UInt64]) -> Bool {
        nr == number && alternatives.contains { alt in alt.allSatisfy { $0.matches(args) } }
    }

    public var description: String {
        let cond: String
        if isUnconditional {
            cond = "always"
        } else {
            cond = alternatives.map { $0.map { $0.description }.joined(separator: " && ") }
                .map { alternatives.count > 1 ? "(\($0))" : $0 }
                .joined(separator: " || ")
        }
        return "\(name) (\(number)): \(cond) — \(why)"
    }
}

/// A seccomp allow-list. Anything not allowed by a rule gets `defaultAction`; a system call
/// from another architecture, or through the x32 ABI, always kills the process.
public struct SeccompPolicy: Hashable, Sendable, CustomStringConvertible {
    public var rules: [SyscallRule]
    /// Action for anything no rule allows. Kill the process; `.log` is useful when bringing
    /// up a tender (the kernel logs the call instead of killing).
    public var defaultAction: SeccompAction
    /// The `AUDIT_ARCH_*` value system calls must carry (x86_64 by default).
    public var architecture: UInt32

    /// AUDIT_ARCH_X86_64 (EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE).
    public static let auditArchX86_64: UInt32 = 0xc000_003e
    /// On x86_64, system-call numbers with this bit set are the x32 ABI.
    public static let x32SyscallBit: UInt32 = 0x4000_0000

    public init(rules: [SyscallRule], defaultAction: SeccompAction = .killProcess,
                architecture: UInt32 = SeccompPolicy.auditArchX86_64) {
        self.rules = rules
        self.defaultAction = defaultAction
        self.architecture = architecture
    }

    /// What the policy decides for a system call (the reference semantics the compiled
    /// filter is tested against).
    public func evaluate(_ data: SeccompData) -> SeccompAction {
        guard data.arch == architecture else { return .killProcess }
        let nr = UInt32(bitPattern: data.nr)
        if architecture == Self.auditArchX86_64 && nr >= Self.x32SyscallBit { return .killProcess }
        return rules.contains { $0.allows(nr: nr, args: data.args) } ? .allow : defaultAction
    }

    /// Checks the policy can be compiled to a filter with the meaning it appears to have.
    public func validate() throws(SeccompError) {
        for rule in rules {
            if architecture == Self.auditArchX86_64 && rule.number >= Self.x32SyscallBit {
                throw .invalidPolicy("\(rule.name): system call number \(rule.number) is in the x32 range")
            }
            if rule.alternatives.isEmpty {
                throw .invalidPolicy("\(rule.name): a rule needs at least one alternative")
            }
            for match in rule.alternatives.joined() {
                guard (0..<6).contains(match.index) else {
                    throw .invalidPolicy("\(rule.name): argument index \(match.index) is not in 0...5")
                }
                switch match {
                case .equals: break
                case .oneOf(_, let values):
                    if values.isEmpty { throw .invalidPolicy("\(rule.name): oneOf with no values never matches") }
                case .maskedEquals(_, let mask, let value):
                    if value & ~mask != 0 {
                        throw .invalidPolicy("\(rule.name): \(match) never matches (value has bits outside mask)")
                    }
                }
            }
        }
    }

    /// The policy in review form: one line per rule.
    public var description: String {
        (["seccomp policy (arch \(hex(UInt64(architecture))), default \(defaultAction)):"]
            + rules.map { "  " + $0.description }).joined(separator: "\n")
    }
}

/// The input a seccomp filter sees (`struct seccomp_data`): 64 bytes, read as 32-bit words.
public struct SeccompData: Hashable, Sendable {
    public var nr: Int32
    public var arch: UInt32
    public var instructionPointer: UInt64
    /// Always six arguments.
    public var args: [UInt64]

    public init(nr: some BinaryInteger, arch: UInt32 = SeccompPolicy.auditArchX86_64,
                instructionPointer: UInt64 = 0, args: [UInt64] = []) {
        precondition(args.count <= 6, "a system call has at most six arguments")
        self.nr = Int32(truncatingIfNeeded: nr)
        self.arch = arch
        self.instructionPointer = instructionPointer
        self.args = args + Array(repeating: 0, count: 6 - args.count)
    }

    public static let size: UInt32 = 64
    public static let nrOffset: UInt32 = 0
    public static let archOffset: UInt32 = 4
    public static let instructionPointerOffset: UInt32 = 8
    /// Offset of the low 32 bits of argument `i` (little-endian; the high half is at +4).
    public static func argLowOffset(_ i: Int) -> UInt32 { 16 + 8 * UInt32(i) }
    public static func argHighOffset(_ i: Int) -> UInt32 { 20 + 8 * UInt32(i) }

    /// The 32-bit word at byte `offset` (which must be 4-aligned and below 64), as a
    /// little-endian machine loads it.
    public func word(at offset: UInt32) -> UInt32? {
        guard offset % 4 == 0, offset < Self.size else { return nil }
        switch offset {
        case 0: return UInt32(bitPattern: nr)
        case 4: return arch
        case 8: return UInt32(truncatingIfNeeded: instructionPointer)
        case 12: return UInt32(truncatingIfNeeded: instructionPointer >> 32)
        default:
            let i = Int(offset - 16) / 8
            return offset % 8 == 0 ? UInt32(truncatingIfNeeded: args[i]) : UInt32(truncatingIfNeeded: args[i] >> 32)
        }
    }
}

public enum SeccompError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The policy is malformed (see the message).
    case invalidPolicy(String)
    /// The compiled program is longer than the kernel accepts (BPF_MAXINSNS = 4096).
    case programTooLong(Int)
    /// The program would be rejected by the kernel's checker, or the interpreter cannot run it.
    case invalidProgram(String)
    /// prctl(PR_SET_NO_NEW_PRIVS) failed.
    case noNewPrivsFailed(errno: Int32)
    /// seccomp(SECCOMP_SET_MODE_FILTER) / prctl(PR_SET_SECCOMP) failed.
    case installFailed(errno: Int32)

    public var description: String {
        switch self {
        case .invalidPolicy(let m): "invalid seccomp policy: \(m)"
        case .programTooLong(let n): "seccomp filter has \(n) instructions (the kernel accepts at most 4096)"
        case .invalidProgram(let m): "invalid BPF program: \(m)"
        case .noNewPrivsFailed(let e): "prctl(PR_SET_NO_NEW_PRIVS) failed (errno \(e))"
        case .installFailed(let e): "installing the seccomp filter failed (errno \(e))"
        }
    }
}

