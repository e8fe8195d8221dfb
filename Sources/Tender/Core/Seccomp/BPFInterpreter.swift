// A classic-BPF interpreter over seccomp_data, so filters can be tested without
// installing them (installing one in a test runner would kill the runner). It runs every
// instruction the kernel accepts in a seccomp filter (see BPFProgram.validate()), with
// the kernel's semantics: 32-bit A and X, 16 scratch words, forward jumps only.

public enum BPFInterpreter {
    /// Runs `program` on `data` and returns the filter's 32-bit result. With `validate`,
    /// first checks the program as the kernel would when loading it; without, only what is
    /// executed is checked (for running one validated program on many inputs).
    public static func run(_ program: BPFProgram, on data: SeccompData, validate: Bool = true) throws(SeccompError) -> UInt32 {
        if validate { try program.validate() }
        let code = program.instructions
        var a: UInt32 = 0
        var x: UInt32 = 0
        var memory = [UInt32](repeating: 0, count: 16)
        var pc = 0
        while pc < code.count {
            let i = code[pc]
            pc += 1
            switch i.code {
            case BPFInstruction.ldAbsW:
                guard let w = data.word(at: i.k) else { throw .invalidProgram("load at \(i.k)") }
                a = w
            case BPFInstruction.ldLenW: a = SeccompData.size
            case BPFInstruction.ldxLenW: x = SeccompData.size
            case BPFInstruction.ldImm: a = i.k
            case BPFInstruction.ldxImm: x = i.k
            case BPFInstruction.ldMem, BPFInstruction.ldxMem, BPFInstruction.st, BPFInstruction.stx:
                guard i.k < 16 else { throw .invalidProgram("\(pc - 1): scratch index \(i.k)") }
                switch i.code {
                case BPFInstruction.ldMem: a = memory[Int(i.k)]
                case BPFInstruction.ldxMem: x = memory[Int(i.k)]
                case BPFInstruction.st: memory[Int(i.k)] = a
                default: memory[Int(i.k)] = x
                }
            case BPFInstruction.tax: x = a
            case BPFInstruction.txa: a = x
            case BPFInstruction.retK: return i.k
            case BPFInstruction.retA: return a
            case BPFInstruction.ja: pc += Int(i.k)
            default:
                let operand = i.code & 0x08 != 0 ? x : i.k
                switch i.code & 0x07 {
                case 0x04:  // BPF_ALU
                    switch i.code & 0xf0 {
                    case 0x00: a &+= operand
                    case 0x10: a &-= operand
                    case 0x20: a &*= operand
                    case 0x30:
                        if operand == 0 { return 0 }  // the kernel aborts the program with 0
                        a /= operand
                    case 0x40: a |= operand
                    case 0x50: a &= operand
                    case 0x60: a = operand >= 32 ? 0 : a << operand
                    case 0x70: a = operand >= 32 ? 0 : a >> operand
                    case 0x80: a = 0 &- a
                    case 0xa0: a ^= operand
                    default: throw .invalidProgram("\(pc - 1): unsupported ALU op \(i)")
                    }
                case 0x05:  // BPF_JMP, conditional
                    let taken: Bool
                    switch i.code & 0xf0 {
                    case 0x10: taken = a == operand
                    case 0x20: taken = a > operand
                    case 0x30: taken = a >= operand
                    case 0x40: taken = a & operand != 0
                    default: throw .invalidProgram("\(pc - 1): unsupported jump \(i)")
                    }
                    pc += Int(taken ? i.jt : i.jf)
                default:
                    throw .invalidProgram("\(pc - 1): unsupported instruction \(i)")
                }
            }
        }
        throw .invalidProgram("ran off the end")  // validate() requires a final return
    }
}

extension BPFProgram {
    /// Runs the filter on `data` in the interpreter and decodes its action.
    public func evaluate(_ data: SeccompData, validate: Bool = true) throws(SeccompError) -> SeccompAction {
        SeccompAction(returnValue: try BPFInterpreter.run(self, on: data, validate: validate))
    }
}
