// The vCPU loop: run the guest, classify each exit, serve hypercalls, stop on halt or crash.
import CTender
import SwiftletABI

extension VirtualMachine {
    /// Why `run(hypercalls:debugging:)` returned.
    enum Stop {
        /// The guest halted or crashed; the run is over.
        case ended(HypercallHandler.Outcome)
        /// Debugging only: a CPU exception in guest code, #DB and #BP included. The guest's own
        /// registers are back in the vCPU (the exception stub's frame undone), so the debugger
        /// sees the guest where it was; `crash` is what it means if the guest goes no further.
        case exception(vector: UInt8, crash: GuestCrash)
        /// Debugging only: KVM_RUN returned EINTR (the debugger sent something).
        case kicked
    }

    func runGuest(hypercalls: HypercallHandler) -> HypercallHandler.Outcome {
        while true {
            if case .ended(let outcome) = run(hypercalls: hypercalls, debugging: false) { return outcome }
        }
    }

    func run(hypercalls: HypercallHandler, debugging: Bool) -> Stop {
        while true {
            exits += 1
            if ctender_kvm_run(vcpu) != 0 {
                if SystemError.last == EINTR || SystemError.last == EAGAIN {
                    if debugging { return .kicked }
                    run.pointee.immediate_exit = 0
                    continue
                }
                return .ended(.crash(GuestCrash(cause: .machine("KVM_RUN failed: \(SystemError.describe(SystemError.last))"))))
            }
            switch Int32(run.pointee.exit_reason) {
            case KVM_EXIT_MMIO:
                let mmio = run.pointee.mmio
                let offset = mmio.phys_addr &- SWIFTLET_HVT_HYPERCALL_PAGE
                guard mmio.is_write == 1, mmio.len == 8, offset % 8 == 0, offset / 8 >= 1,
                      offset / 8 <= UInt64(SWIFTLET_HC_MAX.rawValue) else {
                    return .ended(.crash(crash(.exception(vector: 14, errorCode: 0, faultAddress: mmio.phys_addr))))
                }
                let argument = withUnsafeBytes(of: mmio.data) { $0.loadUnaligned(as: UInt64.self) }
                let outcome = hypercalls.handle(number: UInt32(offset / 8), argument: GuestAddress(raw: argument))
                if case .crash(var crash) = outcome, crash.registers == nil {
                    crash.registers = registerSnapshot()
                    crash.allRegisters = registers().map { allRegisters($0) }
                    return .ended(.crash(crash))
                }
                if outcome != .resume { return .ended(outcome) }
            case KVM_EXIT_HLT:
                guard let frame = exceptionFrame() else {
                    return .ended(.crash(crash(.machine("guest halted outside an exception stub"))))
                }
                let crash = exception(frame)
                guard debugging else { return .ended(.crash(crash)) }
                guard returnToGuest(frame) else {
                    return .ended(.crash(self.crash(.machine("cannot restore the guest's registers after exception \(frame.vector)"))))
                }
                return .exception(vector: frame.vector, crash: crash)
            case KVM_EXIT_SHUTDOWN:
                return .ended(.crash(crash(.machine("guest triple-faulted (an exception while handling an exception)"))))
            case KVM_EXIT_FAIL_ENTRY:
                return .ended(.crash(crash(.machine("KVM could not enter the guest (hardware entry failure \(run.pointee.fail_entry.hardware_entry_failure_reason))"))))
            case KVM_EXIT_INTERNAL_ERROR:
                return .ended(.crash(crash(.machine("KVM internal error \(run.pointee.internal.suberror) (an instruction the host cannot emulate?)"))))
            default:
                return .ended(.crash(crash(.machine("unexpected KVM exit \(run.pointee.exit_reason)"))))
            }
        }
    }

    private func crash(_ cause: GuestCrash.Cause) -> GuestCrash {
        GuestCrash(cause: cause, registers: registerSnapshot(), allRegisters: registers().map { allRegisters($0) })
    }

    /// The vCPU's general registers in core-file order. Segment selectors are the guest's
    /// (user code and data); fs_base comes from the special registers.
    private func allRegisters(_ regs: kvm_regs) -> X86Registers {
        var all = X86Registers()
        all[.r15] = regs.r15; all[.r14] = regs.r14; all[.r13] = regs.r13; all[.r12] = regs.r12
        all[.rbp] = regs.rbp; all[.rbx] = regs.rbx; all[.r11] = regs.r11; all[.r10] = regs.r10
        all[.r9] = regs.r9; all[.r8] = regs.r8; all[.rax] = regs.rax; all[.rcx] = regs.rcx
        all[.rdx] = regs.rdx; all[.rsi] = regs.rsi; all[.rdi] = regs.rdi; all[.origRax] = UInt64.max
        all[.rip] = regs.rip; all[.eflags] = regs.rflags; all[.rsp] = regs.rsp
        all[.cs] = UInt64(X86SystemArea.userCode); all[.ss] = UInt64(X86SystemArea.userData)
        all[.ds] = UInt64(X86SystemArea.userData); all[.es] = UInt64(X86SystemArea.userData)
        if let sregs = specialRegisters() {
            all[.fsBase] = sregs.fs.base; all[.gsBase] = sregs.gs.base
            all[.fs] = UInt64(sregs.fs.selector); all[.gs] = UInt64(sregs.gs.selector)
        }
        return all
    }

    private func registerSnapshot() -> GuestCrash.Registers? {
        registers().map { GuestCrash.Registers(rip: $0.rip, rsp: $0.rsp, rbp: $0.rbp) }
    }

    /// What an exception stub pushed before its `hlt` (X86SystemArea.writeStub): the vector,
    /// the error code, then the CPU's frame (rip, cs, rflags, rsp, ss).
    struct ExceptionFrame {
        var vector: UInt8, errorCode: UInt64, rip: UInt64, cs: UInt64, rflags: UInt64, rsp: UInt64, ss: UInt64
    }

    private func exceptionFrame() -> ExceptionFrame? {
        guard let regs = registers(), let offset = X86SystemArea.offset(of: regs.rsp, count: 7 * 8) else { return nil }
        let words = (0..<7).map { systemArea.loadUnaligned(fromByteOffset: offset + $0 * 8, as: UInt64.self) }
        return ExceptionFrame(vector: UInt8(truncatingIfNeeded: words[0]), errorCode: words[1], rip: words[2],
                              cs: words[3], rflags: words[4], rsp: words[5], ss: words[6])
    }

    /// An exception stub halted: the crash its frame describes.
    private func exception(_ frame: ExceptionFrame) -> GuestCrash {
        let faultAddress = frame.vector == 14 ? (specialRegisters()?.cr2 ?? 0) : 0
        let regs = registers() ?? kvm_regs()
        // The stub only pushed: every other register still holds the guest's value at the fault.
        var all = allRegisters(regs)
        all[.rip] = frame.rip; all[.cs] = frame.cs; all[.eflags] = frame.rflags; all[.rsp] = frame.rsp; all[.ss] = frame.ss
        return GuestCrash(
            cause: .exception(vector: frame.vector, errorCode: frame.errorCode, faultAddress: faultAddress),
            registers: .init(rip: frame.rip, rsp: frame.rsp, rbp: regs.rbp), allRegisters: all)
    }

    /// Undoes the exception's entry into its stub, as its `iretq` would: the guest's rip, rsp
    /// and flags from the frame, and its CPL3 code and stack segments. The stub changes no
    /// other register. (KVM_SET_GUEST_DEBUG cannot do this job here: under KVM-PVM, #BP and
    /// #DB raised at CPL3 reach the guest's IDT and never exit to the tender.)
    private func returnToGuest(_ frame: ExceptionFrame) -> Bool {
        guard var regs = registers(), var sregs = specialRegisters() else { return false }
        regs.rip = frame.rip
        regs.rsp = frame.rsp
        regs.rflags = frame.rflags
        sregs.cs = Self.guestCodeSegment
        sregs.ss = Self.guestDataSegment
        return ctender_kvm_set_regs(vcpu, &regs) == 0 && ctender_kvm_set_sregs(vcpu, &sregs) == 0
    }
}
