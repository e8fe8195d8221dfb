// Compiles a SeccompPolicy into a classic-BPF seccomp filter and installs it.
//
// Program shape (forward order):
//
//       ld  [arch]                      ; seccomp_data.arch
//       jeq #ARCH, +0, kill             ; another architecture: kill
//       ld  [nr]
//       jge #0x40000000, kill, +0       ; x32 ABI: kill (x86_64 only)
//   rule blocks, in policy order; each is entered and left with A = nr:
//       jeq #NR, +0, next-rule          ; unconditional rules: jeq #NR, allow, next-rule
//       alternative 1: argument checks, each failing to alternative 2, then -> allow
//       ...
//       alternative n: argument checks, each failing to the reload
//       ld  [nr]                        ; reload A, fall into the next rule
//   ret default-action                  ; KILL_PROCESS
//   ret KILL_PROCESS
//   ret ALLOW
//
// Classic BPF can only jump forward, and conditional jumps have 8-bit offsets. The program
// is therefore emitted backwards, from the last instruction to the first: every jump
// target already exists when the jump is emitted, so its exact distance is known. A
// conditional jump whose target is more than 255 instructions away gets a trampoline
// placed right after it: a copy of the target if the target is a `ret` (as good as the
// jump, and later jumps reuse the nearest copy), otherwise a `ja` with a 32-bit offset.
// No fix-up pass, and no jump can be out of range.

#if os(Linux)
import CTender
#endif

/// One classic-BPF instruction, laid out like `struct sock_filter` (8 bytes).
public struct BPFInstruction: Hashable, Sendable, CustomStringConvertible {
    public var code: UInt16
    public var jt: UInt8
    public var jf: UInt8
    public var k: UInt32

    public init(code: UInt16, jt: UInt8 = 0, jf: UInt8 = 0, k: UInt32 = 0) {
        self.code = code
        self.jt = jt
        self.jf = jf
        self.k = k
    }

    // Opcodes (<linux/filter.h>, <linux/bpf_common.h>); SeccompTests checks them against the headers.
    public static let ldAbsW: UInt16 = 0x20    // BPF_LD  | BPF_W | BPF_ABS
    public static let ldLenW: UInt16 = 0x80    // BPF_LD  | BPF_W | BPF_LEN
    public static let ldImm: UInt16 = 0x00     // BPF_LD  | BPF_IMM
    public static let ldMem: UInt16 = 0x60     // BPF_LD  | BPF_MEM
    public static let ldxLenW: UInt16 = 0x81   // BPF_LDX | BPF_W | BPF_LEN
    public static let ldxImm: UInt16 = 0x01    // BPF_LDX | BPF_IMM
    public static let ldxMem: UInt16 = 0x61    // BPF_LDX | BPF_MEM
    public static let st: UInt16 = 0x02        // BPF_ST
    public static let stx: UInt16 = 0x03       // BPF_STX
    public static let aluAndK: UInt16 = 0x54   // BPF_ALU | BPF_AND | BPF_K
    public static let ja: UInt16 = 0x05        // BPF_JMP | BPF_JA
    public static let jeqK: UInt16 = 0x15      // BPF_JMP | BPF_JEQ | BPF_K
    public static let jgtK: UInt16 = 0x25      // BPF_JMP | BPF_JGT | BPF_K
    public static let jgeK: UInt16 = 0x35      // BPF_JMP | BPF_JGE | BPF_K
    public static let jsetK: UInt16 = 0x45     // BPF_JMP | BPF_JSET | BPF_K
    public static let retK: UInt16 = 0x06      // BPF_RET | BPF_K
    public static let retA: UInt16 = 0x16      // BPF_RET | BPF_A
    public static let tax: UInt16 = 0x07       // BPF_MISC | BPF_TAX
    public static let txa: UInt16 = 0x87       // BPF_MISC | BPF_TXA

    /// `ld [offset]`: A = 32-bit word of seccomp_data at `offset`.
    public static func load(_ offset: UInt32) -> Self { Self(code: ldAbsW, k: offset) }
    /// `and #mask`: A &= mask.
    public static func and(_ mask: UInt32) -> Self { Self(code: aluAndK, k: mask) }
    /// `ret #value`.
    public static func ret(_ value: UInt32) -> Self { Self(code: retK, k: value) }
    /// `ja +offset`.
    public static func jump(_ offset: UInt32) -> Self { Self(code: ja, k: offset) }

    var isConditionalJump: Bool { code & 0x07 == 0x05 && code & 0xf0 != 0x00 }
    var isReturn: Bool { code & 0x07 == 0x06 }

    public var description: String { BPFProgram.disassemble(self, at: nil) }
}

/// A classic-BPF seccomp filter.
public struct BPFProgram: Hashable, Sendable, CustomStringConvertible {
    public var instructions: [BPFInstruction]

    /// BPF_MAXINSNS: the longest program the kernel accepts.
    public static let maxInstructions = 4096

    public init(instructions: [BPFInstruction]) {
        self.instructions = instructions
    }

    /// Performs the checks the kernel makes when a seccomp filter is attached (classic-BPF
    /// checker plus seccomp's own opcode and offset rules), so a program that passes here
    /// is not rejected with EINVAL.
    public func validate() throws(SeccompError) {
        let n = instructions.count
        guard n > 0 else { throw .invalidProgram("empty program") }
        guard n <= Self.maxInstructions else { throw .programTooLong(n) }
        for (pc, i) in instructions.enumerated() {
            // The raw fields, not the disassembly: that would put the disassembler (5.5 KB)
            // into every tender for a message only a compiler bug can cause.
            func bad(_ why: String) -> SeccompError { .invalidProgram("\(pc): code \(hex(i.code)) k \(hex(i.k)): \(why)") }
            switch i.code {
            case BPFInstruction.ldAbsW:
                guard i.k % 4 == 0, i.k < SeccompData.size else { throw bad("load outside seccomp_data or unaligned") }
            case BPFInstruction.ldMem, BPFInstruction.ldxMem, BPFInstruction.st, BPFInstruction.stx:
                guard i.k < 16 else { throw bad("scratch memory index out of range") }
            case BPFInstruction.ldLenW, BPFInstruction.ldxLenW, BPFInstruction.ldImm, BPFInstruction.ldxImm,
                 BPFInstruction.tax, BPFInstruction.txa, BPFInstruction.retK, BPFInstruction.retA:
                break
            case BPFInstruction.ja:
                guard pc + 1 + Int(i.k) < n else { throw bad("jump past the end") }
            case 0x15, 0x1d, 0x25, 0x2d, 0x35, 0x3d, 0x45, 0x4d:  // jeq/jgt/jge/jset, K and X
                guard pc + 1 + Int(i.jt) < n, pc + 1 + Int(i.jf) < n else { throw bad("jump past the end") }
            case 0x04, 0x0c, 0x14, 0x1c, 0x24, 0x2c, 0x54, 0x5c, 0x44, 0x4c, 0xa4, 0xac, 0x84:
                break  // add sub mul and or xor (K, X), neg
            case 0x34:  // div K
                guard i.k != 0 else { throw bad("division by zero") }
            case 0x3c:  // div X
                break
            case 0x64, 0x74:  // lsh, rsh K
                guard i.k < 32 else { throw bad("shift by 32 or more") }
            case 0x6c, 0x7c:
                break
            default:
                throw bad("opcode not allowed in a seccomp filter")
            }
        }
        guard instructions[n - 1].isReturn else { throw .invalidProgram("the last instruction must be a return") }
    }

    /// Installs this filter for the whole process (all threads) after setting no_new_privs.
    /// Irreversible: from here on, any system call the filter does not allow gets its action.
    public func install() throws(SeccompError) {
        try validate()
        #if os(Linux)
        let nnp = ctender_set_no_new_privs()
        if nnp != 0 { throw .noNewPrivsFailed(errno: -nnp) }
        precondition(MemoryLayout<BPFInstruction>.stride == MemoryLayout<sock_filter>.stride)
        let count = UInt16(instructions.count)
        let rc = instructions.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: sock_filter.self) { ctender_install_seccomp($0.baseAddress, count) }
        }
        if rc != 0 { throw .installFailed(errno: -rc) }
        #else
        throw .installFailed(errno: 38)  // ENOSYS: seccomp is Linux-only
        #endif
    }

    /// One instruction per line, with absolute jump targets.
    public var description: String {
        instructions.enumerated().map { pc, i in
            let n = String(pc)
            return String(repeating: " ", count: max(0, 4 - n.utf8.count)) + n + ": " + Self.disassemble(i, at: pc)
        }.joined(separator: "\n")
    }

    static func disassemble(_ i: BPFInstruction, at pc: Int?) -> String {
        func target(_ off: Int) -> String { pc.map { String($0 + 1 + off) } ?? "+\(off)" }
        let k = "#" + hex(UInt64(i.k))
        let jumps = ["jeq", "jgt", "jge", "jset"]
        switch i.code {
        case BPFInstruction.ldAbsW:
            let field: String
            switch i.k {
            case 0: field = "nr"
            case 4: field = "arch"
            case 8, 12: field = "ip" + (i.k == 8 ? ".lo" : ".hi")
            case 16..<SeccompData.size where i.k % 4 == 0:
                field = "arg\((i.k - 16) / 8)" + (i.k % 8 == 0 ? ".lo" : ".hi")
            default: field = "invalid"
            }
            return "ld [\(i.k)]  ; \(field)"
        case BPFInstruction.aluAndK: return "and \(k)"
        case BPFInstruction.ja: return "ja \(target(Int(i.k)))"
        case BPFInstruction.retK: return "ret \(SeccompAction(returnValue: i.k))"
        case BPFInstruction.retA: return "ret a"
        case BPFInstruction.ldImm: return "ld \(k)"
        case BPFInstruction.ldxImm: return "ldx \(k)"
        case BPFInstruction.tax: return "tax"
        case BPFInstruction.txa: return "txa"
        default:
            if i.isConditionalJump, (1...4).contains(Int(i.code >> 4)) {
                let src = i.code & 0x08 != 0 ? "x" : k
                return "\(jumps[Int(i.code >> 4) - 1]) \(src), \(target(Int(i.jt))), \(target(Int(i.jf)))"
            }
            return "code=\(hex(UInt64(i.code))) jt=\(i.jt) jf=\(i.jf) k=\(k)"
        }
    }
}

public enum BPFCompiler {
    /// Compiles `policy` into a seccomp filter (see the top of this file for its shape).
    public static func compile(_ policy: SeccompPolicy) throws(SeccompError) -> BPFProgram {
        try policy.validate()
        var e = ReverseEmitter()

        let allow = e.emit(.ret(SeccompAction.allow.returnValue))
        let kill = e.emit(.ret(SeccompAction.killProcess.returnValue))
        var next = policy.defaultAction == .killProcess ? kill : e.emit(.ret(policy.defaultAction.returnValue))

        for rule in policy.rules.reversed() {
            next = e.rule(rule, next: next, allow: allow)
        }

        if policy.architecture == SeccompPolicy.auditArchX86_64 {
            next = e.jump(BPFInstruction.jgeK, SeccompPolicy.x32SyscallBit, ifTrue: kill, ifFalse: next)
        }
        next = e.emit(.load(SeccompData.nrOffset))
        next = e.jump(BPFInstruction.jeqK, policy.architecture, ifTrue: next, ifFalse: kill)
        e.emit(.load(SeccompData.archOffset))

        let program = BPFProgram(instructions: e.reversed.reversed())
        try program.validate()
        return program
    }
}

extension SeccompPolicy {
    /// Compiles the policy into a classic-BPF seccomp filter.
    public func compile() throws(SeccompError) -> BPFProgram {
        try BPFCompiler.compile(self)
    }

    /// Compiles the policy and installs it for the whole process (see `BPFProgram.install()`).
    public func install() throws(SeccompError) {
        try compile().install()
    }
}

/// Builds a program from its last instruction to its first (see the top of this file).
struct ReverseEmitter {
    /// A position in the program, counted from its end (0 = last instruction).
    struct Label: Hashable {
        var fromEnd: Int
    }

    /// The instructions emitted so far, last instruction first.
    private(set) var reversed: [BPFInstruction] = []
    /// For each `ret #k` value, its copy nearest to where the next instruction goes.
    private var nearestReturn: [UInt32: Label] = [:]

    @discardableResult
    mutating func emit(_ i: BPFInstruction) -> Label {
        reversed.append(i)
        let label = Label(fromEnd: reversed.count - 1)
        if i.code == BPFInstruction.retK { nearestReturn[i.k] = label }
        return label
    }

    /// Offset a jump emitted now would need to reach `label`.
    private func distance(to label: Label) -> Int {
        precondition(label.fromEnd < reversed.count, "jump target not emitted yet")
        return reversed.count - 1 - label.fromEnd
    }

    /// A `ret` target may be replaced by its nearest copy.
    private func resolve(_ label: Label) -> Label {
        let i = reversed[label.fromEnd]
        if i.code == BPFInstruction.retK, let near = nearestReturn[i.k] { return near }
        return label
    }

    /// Something right after the jump being emitted that leads to `label`.
    private mutating func trampoline(to label: Label) -> Label {
        let i = reversed[label.fromEnd]
        if i.code == BPFInstruction.retK { return emit(i) }
        return emit(.jump(UInt32(distance(to: label))))
    }

    /// `code #k, ifTrue, ifFalse`, with trampolines after it for targets out of 8-bit reach.
    /// Returns the label of the conditional jump itself.
    mutating func jump(_ code: UInt16, _ k: UInt32, ifTrue: Label, ifFalse: Label) -> Label {
        var t = ifTrue, f = ifFalse
        while true {
            t = resolve(t)
            f = resolve(f)
            let dt = distance(to: t), df = distance(to: f)
            if dt <= 255 && df <= 255 {
                return emit(BPFInstruction(code: code, jt: UInt8(dt), jf: UInt8(df), k: k))
            }
            let same = t == f
            if df > 255 {
                f = trampoline(to: f)
                if same { t = f }
            } else {
                t = trampoline(to: t)
            }
        }
    }

    /// A rule block; entered and left (towards `next`) with A = nr.
    mutating func rule(_ rule: SyscallRule, next: Label, allow: Label) -> Label {
        if rule.isUnconditional {
            return jump(BPFInstruction.jeqK, rule.number, ifTrue: allow, ifFalse: next)
        }
        precondition(next.fromEnd == reversed.count - 1, "the reload must fall through into the next rule")
        // All alternatives failed: argument loads clobbered A, so reload nr for the next rule.
        var entry = emit(.load(SeccompData.nrOffset))
        for alternative in rule.alternatives.reversed() {
            entry = conjunction(alternative, success: allow, fail: entry)
        }
        return jump(BPFInstruction.jeqK, rule.number, ifTrue: entry, ifFalse: next)
    }

    /// All of `matches` hold -> `success`; otherwise -> `fail`. Returns the entry.
    mutating func conjunction(_ matches: [ArgumentMatch], success: Label, fail: Label) -> Label {
        var entry = success
        for match in matches.reversed() {
            entry = argument(match, success: entry, fail: fail)
        }
        return entry
    }

    mutating func argument(_ match: ArgumentMatch, success: Label, fail: Label) -> Label {
        switch match {
        case .equals(let i, let value):
            return masked(i, mask: ~0, value: value, success: success, fail: fail)
        case .maskedEquals(let i, let mask, let value):
            return masked(i, mask: mask, value: value, success: success, fail: fail)
        case .oneOf(let i, let values):
            // Group by high half: per group, ld hi; jeq hi; ld lo; jeq lo1; jeq lo2; ... Emitted
            // backwards, so from the largest value down: one sort, and no Dictionary or Set
            // (whose hashing a tender otherwise never links).
            let descending = values.stablySorted(by: >)
            var nextGroup = fail
            var index = 0
            while index < descending.count {
                let high = UInt32(truncatingIfNeeded: descending[index] >> 32)
                var entry = fail
                while index < descending.count, UInt32(truncatingIfNeeded: descending[index] >> 32) == high {
                    let value = descending[index]
                    index += 1
                    if index > 1 && descending[index - 2] == value { continue }   // a duplicate
                    entry = jump(BPFInstruction.jeqK, UInt32(truncatingIfNeeded: value), ifTrue: success, ifFalse: entry)
                }
                entry = emit(.load(SeccompData.argLowOffset(i)))
                _ = jump(BPFInstruction.jeqK, high, ifTrue: entry, ifFalse: nextGroup)
                nextGroup = emit(.load(SeccompData.argHighOffset(i)))
            }
            return nextGroup
        }
    }

    /// `args[i] & mask == value`, high half first; a half with an empty mask is not checked
    /// (validate() made sure its value is 0 too).
    mutating func masked(_ i: Int, mask: UInt64, value: UInt64, success: Label, fail: Label) -> Label {
        var entry = success
        let halves: [(offset: UInt32, mask: UInt32, value: UInt32)] = [
            (SeccompData.argLowOffset(i), UInt32(truncatingIfNeeded: mask), UInt32(truncatingIfNeeded: value)),
            (SeccompData.argHighOffset(i), UInt32(truncatingIfNeeded: mask >> 32), UInt32(truncatingIfNeeded: value >> 32)),
        ]
        for half in halves where half.mask != 0 {
            entry = jump(BPFInstruction.jeqK, half.value, ifTrue: entry, ifFalse: fail)
            if half.mask != .max { emit(.and(half.mask)) }
            entry = emit(.load(half.offset))
        }
        return entry
    }
}
