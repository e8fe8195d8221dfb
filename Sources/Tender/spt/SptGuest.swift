// Entering the guest and taking its calls back: hypercalls arrive as C calls on the guest's
// stack; a crash arrives as a signal, which we turn into the same report hvt gives.
import CTender
import SwiftletABI

enum SptGuest {
    nonisolated(unsafe) static var handler: HypercallHandler!
    nonisolated(unsafe) static var symbols: SymbolTable?
    nonisolated(unsafe) static var launch: GuestLaunch?

    static var hypercallEntry: UInt64 {
        UInt64(UInt(bitPattern: unsafeBitCast(ctender_spt_hypercall as @convention(c) (UInt32, UInt64) -> Void, to: UnsafeRawPointer.self)))
    }

    static func prepare(hypercalls: HypercallHandler, launch: GuestLaunch) {
        handler = hypercalls
        ctender_spt_set_handler(sptHypercall)
        self.symbols = launch.image.symbols
        self.launch = launch
        installCrashHandlers()
    }

    /// `stopped`: under --gdb, trap to the tracing parent one instruction before the entry.
    static func enter(entry: UInt64, bootInfo: UInt64, stackTop: UInt64, stopped: Bool = false) -> Never {
        if stopped { ctender_spt_enter_stopped(entry, bootInfo, stackTop) }
        ctender_spt_enter(entry, bootInfo, stackTop)
    }

    static func finish(_ outcome: HypercallHandler.Outcome) -> Never {
        switch outcome {
        case .resume: _exit(0)
        case .halt(let status): _exit(status)
        case .crash(let crash):
            let report = CrashReport(crash: crash, memory: handler.memory, symbols: symbols)
            TenderExit.writeStandardError("swiftlet-spt: " + report.text + (launch?.writeCore(crash, memory: handler.memory) ?? ""))
            _exit(SWIFTLET_EXIT_CRASH)
        }
    }

    /// Signals a guest can raise, taken on an alternate stack so a smashed guest stack
    /// cannot take the report down with it.
    private static func installCrashHandlers() {
        let stackSize = 256 << 10
        var stack = stack_t(ss_sp: malloc(stackSize), ss_flags: 0, ss_size: stackSize)
        sigaltstack(&stack, nil)
        let handler: @convention(c) (Int32, UnsafeMutableRawPointer?, UnsafeMutableRawPointer?) -> Void = { signal, info, context in
            var fault = ctender_fault_context()
            ctender_fault_context_from(context, info, signal, &fault)
            let all = withUnsafeBytes(of: fault.user_regs) { Array($0.bindMemory(to: UInt64.self)) }
            SptGuest.finish(.crash(GuestCrash(
                cause: .signal(number: signal, code: fault.code, faultAddress: fault.fault_address),
                registers: .init(rip: fault.rip, rsp: fault.rsp, rbp: fault.rbp),
                allRegisters: X86Registers(userRegs: all))))
        }
        for signal in [SIGILL, SIGSEGV, SIGBUS, SIGFPE, SIGTRAP] {
            ctender_catch_signal(signal, handler)
        }
    }
}

/// What `hypercall_entry` (ctender_spt_hypercall) calls, with the guest's stack pointer.
@_cdecl("swiftlet_spt_hypercall")
func sptHypercall(_ number: UInt32, _ argument: UInt64, _ guestStackPointer: UInt64) {
    let outcome = SptGuest.handler.handle(number: number, argument: GuestAddress(raw: argument), guestStackPointer: guestStackPointer)
    if outcome != .resume { SptGuest.finish(outcome) }
    ctender_spt_stop_point()   // under --gdb, after Ctrl-C: stop on the way back to the guest
}
