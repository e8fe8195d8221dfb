// Why a guest stopped abnormally, as the tender saw it.
import SwiftletABI

public struct GuestCrash: Equatable {
    public enum Cause: Equatable {
        /// A CPU exception (hvt) taken in the guest: vector, error code, faulting address (#PF).
        case exception(vector: UInt8, errorCode: UInt64, faultAddress: UInt64)
        /// A signal the guest raised (spt): SIGILL for a Swift trap, SIGSEGV, ...
        case signal(number: Int32, code: Int32, faultAddress: UInt64)
        /// The guest reported a fatal condition itself (out of memory, heap misuse, ...).
        case reported(kind: swiftlet_crash_kind, message: String)
        /// The guest asked for something no well-behaved guest asks for.
        case badHypercall(String)
        /// The CPU could not even deliver an exception (triple fault) or KVM gave up.
        case machine(String)
    }

    public struct Registers: Equatable {
        public var rip: UInt64
        public var rsp: UInt64
        public var rbp: UInt64
        public init(rip: UInt64, rsp: UInt64, rbp: UInt64) {
            self.rip = rip
            self.rsp = rsp
            self.rbp = rbp
        }
    }

    public var cause: Cause
    public var registers: Registers?
    /// Every general register at the crash, when the tender could read them (for --core).
    public var allRegisters: X86Registers?

    public init(cause: Cause, registers: Registers? = nil, allRegisters: X86Registers? = nil) {
        self.cause = cause
        self.registers = registers
        self.allRegisters = allRegisters
    }

    /// The Linux signal a process would have died of: what a core file names.
    public var signalNumber: Int32 {
        switch cause {
        case .exception(let vector, _, _):
            switch vector {
            case 6: return 4                  // SIGILL: a Swift trap (ud2)
            case 0, 16, 19: return 8          // SIGFPE
            case 1, 3: return 5               // SIGTRAP
            case 17: return 7                 // SIGBUS
            default: return 11                // SIGSEGV
            }
        case .signal(let number, _, _): return number
        case .reported: return 6              // SIGABRT
        case .badHypercall, .machine: return 11
        }
    }

    public var summary: String {
        switch cause {
        case .exception(let vector, let errorCode, let address):
            let name = Self.exceptionNames[Int(vector)] ?? "exception \(vector)"
            var text = vector == 6 ? "Swift runtime trap (\(name))" : name
            if vector == 14 { text += " at address \(hex(address)) (error code \(hex(errorCode)))" }
            else if vector == 13 && errorCode != 0 { text += " (error code \(hex(errorCode)))" }
            return text
        case .signal(let number, _, let address):
            switch number {
            case 4: return "Swift runtime trap (invalid opcode)"
            case 11: return "segmentation fault at address \(hex(address))"
            case 7: return "bus error at address \(hex(address))"
            case 8: return "arithmetic exception"
            case 5: return "breakpoint trap"
            default: return "signal \(number)"
            }
        case .reported(_, let message):
            return printable(message)
        case .badHypercall(let message): return "invalid hypercall: \(message)"
        case .machine(let message): return message
        }
    }

    static let exceptionNames: [Int: String] = [
        0: "divide error", 1: "debug exception", 3: "breakpoint", 4: "overflow", 5: "bound range exceeded",
        6: "invalid opcode", 7: "device not available", 8: "double fault", 10: "invalid TSS",
        11: "segment not present", 12: "stack fault", 13: "general protection fault", 14: "page fault",
        16: "x87 floating-point error", 17: "alignment check", 18: "machine check", 19: "SIMD floating-point error",
    ]
}
