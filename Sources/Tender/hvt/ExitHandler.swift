// The vCPU loop: run the guest, classify each exit, serve hypercalls, stop on halt or crash.
import CTender
import Glibc
import SwiftletABI
import TenderCore

extension VirtualMachine {
    func runGuest(hypercalls: HypercallHandler) -> HypercallHandler.Outcome {
        while true {
            if ctender_kvm_run(vcpu) != 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                return .crash(GuestCrash(cause: .machine("KVM_RUN failed: \(SystemError.describe(errno))")))
            }
            switch Int32(run.pointee.exit_reason) {
            case KVM_EXIT_MMIO:
                let mmio = run.pointee.mmio
                let offset = mmio.phys_addr &- SWIFTLET_HVT_HYPERCALL_PAGE
                guard mmio.is_write == 1, mmio.len == 8, offset % 8 == 0, offset / 8 >= 1,
                      offset / 8 <= UInt64(SWIFTLET_HC_MAX.rawValue) else {
                    return .crash(crash(.exception(vector: 14, errorCode: 0, faultAddress: mmio.phys_addr)))
                }
                let argument = withUnsafeBytes(of: mmio.data) { $0.loadUnaligned(as: UInt64.self) }
                let outcome = hypercalls.handle(number: UInt32(offset / 8), argument: GuestAddress(raw: argument))
                if case .crash(var crash) = outcome, crash.registers == nil {
                    crash.registers = registerSnapshot()
                    crash.allRegisters = registers().map { allRegisters($0) }
                    return .crash(crash)
                }
                if outcome != .resume { return outcome }
            case KVM_EXIT_HLT:
                return .crash(exception())
            case KVM_EXIT_SHUTDOWN:
                return .crash(crash(.machine("guest triple-faulted (an exception while handling an exception)")))
            case KVM_EXIT_FAIL_ENTRY:
                return .crash(crash(.machine("KVM could not enter the guest (hardware entry failure \(run.pointee.fail_entry.hardware_entry_failure_reason))")))
            case KVM_EXIT_INTERNAL_ERROR:
                return .crash(crash(.machine("KVM internal error \(run.pointee.internal.suberror) (an instruction the host cannot emulate?)")))
            default:
                return .crash(crash(.machine("unexpected KVM exit \(run.pointee.exit_reason)")))
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

    /// An exception stub halted: read the frame it left on the interrupt stack.
    private func exception() -> GuestCrash {
        guard let regs = registers(),
              let offset = X86SystemArea.offset(of: regs.rsp, count: 7 * 8) else {
            return crash(.machine("guest halted outside an exception stub"))
        }
        let frame = (0..<7).map { systemArea.loadUnaligned(fromByteOffset: offset + $0 * 8, as: UInt64.self) }
        let faultAddress = frame[0] == 14 ? (specialRegisters()?.cr2 ?? 0) : 0
        // The stub only pushed: every other register still holds the guest's value at the fault.
        var all = allRegisters(regs)
        all[.rip] = frame[2]; all[.cs] = frame[3]; all[.eflags] = frame[4]; all[.rsp] = frame[5]; all[.ss] = frame[6]
        return GuestCrash(
            cause: .exception(vector: UInt8(truncatingIfNeeded: frame[0]), errorCode: frame[1], faultAddress: faultAddress),
            registers: .init(rip: frame[2], rsp: frame[5], rbp: regs.rbp), allRegisters: all)
    }
}
