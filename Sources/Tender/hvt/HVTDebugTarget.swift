// The stopped vCPU and guest memory as a GDB client sees them (GDBTarget): registers from
// KVM_GET_REGS/SREGS/FPU in GDB's amd64 layout, memory through GuestMemory, the checked door
// (out of range: an E reply). The debugger may write guest code (its int3s), so it gets the
// whole of guest memory, not the guest's own restricted view; still never the system area.
import CTender

final class HVTDebugTarget: GDBTarget {
    let machine: VirtualMachine
    let memory: GuestMemory

    init(machine: VirtualMachine, memory: GuestMemory) {
        self.machine = machine
        self.memory = memory
    }

    func readRegisters() -> GDBRegisterFile? {
        guard let regs = machine.registers(), let sregs = machine.specialRegisters() else { return nil }
        var file = GDBRegisterFile()
        let general: [(String, UInt64)] = [
            ("rax", regs.rax), ("rbx", regs.rbx), ("rcx", regs.rcx), ("rdx", regs.rdx), ("rsi", regs.rsi),
            ("rdi", regs.rdi), ("rbp", regs.rbp), ("rsp", regs.rsp), ("r8", regs.r8), ("r9", regs.r9),
            ("r10", regs.r10), ("r11", regs.r11), ("r12", regs.r12), ("r13", regs.r13), ("r14", regs.r14),
            ("r15", regs.r15), ("rip", regs.rip), ("eflags", regs.rflags),
            ("cs", UInt64(sregs.cs.selector)), ("ss", UInt64(sregs.ss.selector)), ("ds", UInt64(sregs.ds.selector)),
            ("es", UInt64(sregs.es.selector)), ("fs", UInt64(sregs.fs.selector)), ("gs", UInt64(sregs.gs.selector)),
            ("fs_base", sregs.fs.base), ("gs_base", sregs.gs.base),
        ]
        for (name, value) in general { file[name] = value }
        var fpu = kvm_fpu()
        if ctender_kvm_get_fpu(machine.vcpu, &fpu) == 0 {
            withUnsafeBytes(of: fpu.fpr) { registers in
                for index in 0..<8 {
                    _ = file.set(X86RegisterLayout.number(of: "st\(index)")!, bytes: Array(registers[index * 16 ..< index * 16 + 10]))
                }
            }
            withUnsafeBytes(of: fpu.xmm) { registers in
                for index in 0..<16 {
                    _ = file.set(X86RegisterLayout.number(of: "xmm\(index)")!, bytes: Array(registers[index * 16 ..< index * 16 + 16]))
                }
            }
            // KVM keeps FXSAVE's abridged tag (a bit per register: in use); GDB shows the full one.
            let tag = (0..<8).reduce(UInt64(0)) { $0 | (fpu.ftwx & (1 << $1) != 0 ? 0 : 3) << (2 * UInt64($1)) }
            let x87: [(String, UInt64)] = [
                ("fctrl", UInt64(fpu.fcw)), ("fstat", UInt64(fpu.fsw)), ("ftag", tag),
                ("fioff", fpu.last_ip & 0xFFFF_FFFF), ("fiseg", fpu.last_ip >> 32),
                ("fooff", fpu.last_dp & 0xFFFF_FFFF), ("foseg", fpu.last_dp >> 32),
                ("fop", UInt64(fpu.last_opcode)), ("mxcsr", UInt64(fpu.mxcsr)),
            ]
            for (name, value) in x87 { file[name] = value }
        }
        return file
    }

    /// General registers, rip, the arithmetic flags and the fs/gs bases; a change to anything
    /// else (segment selectors, x87/SSE state) is refused rather than silently dropped.
    func writeRegisters(_ file: GDBRegisterFile) -> Bool {
        guard let current = readRegisters(), var regs = machine.registers(), var sregs = machine.specialRegisters() else { return false }
        for number in X86RegisterLayout.registers.indices
        where !X86RegisterLayout.debuggerWritable[number] && file.bytes(of: number) != current.bytes(of: number) {
            return false
        }
        regs.rax = file["rax"]; regs.rbx = file["rbx"]; regs.rcx = file["rcx"]; regs.rdx = file["rdx"]
        regs.rsi = file["rsi"]; regs.rdi = file["rdi"]; regs.rbp = file["rbp"]; regs.rsp = file["rsp"]
        regs.r8 = file["r8"]; regs.r9 = file["r9"]; regs.r10 = file["r10"]; regs.r11 = file["r11"]
        regs.r12 = file["r12"]; regs.r13 = file["r13"]; regs.r14 = file["r14"]; regs.r15 = file["r15"]
        regs.rip = file["rip"]
        regs.rflags = regs.rflags & ~X86RegisterLayout.debuggerWritableFlags | file["eflags"] & X86RegisterLayout.debuggerWritableFlags
        guard ctender_kvm_set_regs(machine.vcpu, &regs) == 0 else { return false }
        if sregs.fs.base != file["fs_base"] || sregs.gs.base != file["gs_base"] {
            sregs.fs.base = file["fs_base"]
            sregs.gs.base = file["gs_base"]
            guard ctender_kvm_set_sregs(machine.vcpu, &sregs) == 0 else { return false }
        }
        return true
    }

    func readMemory(at address: UInt64, count: Int) -> [UInt8]? {
        try? memory.copyOut(at: GuestAddress(raw: address), count: UInt64(count))
    }

    /// Write watchpoints only: KVM-PVM loads no debug registers for a CPL3 guest
    /// (KVM_SET_DEBUGREGS and KVM_SET_GUEST_DEBUG with USE_HW_BP both succeed, and nothing ever
    /// fires), so HVTDebuggee watches by stepping the guest and comparing the bytes, which sees
    /// writes but not reads: access watchpoints are refused.
    func setDebugRegisters(_ registers: X86DebugRegisters) -> Bool {
        registers.watchpoints.allSatisfy { $0.kind == .write }
    }

    func writeMemory(at address: UInt64, bytes: [UInt8]) -> Bool {
        guard let destination = try? memory.writableBytes(at: GuestAddress(raw: address), count: UInt64(bytes.count)) else { return false }
        destination.copyBytes(from: bytes)
        return true
    }
}

/// Running the vCPU for a debugger: TF for single steps, the guest's int3s and exceptions
/// routed through its exception stubs (ExitHandler's `.exception`), Ctrl-C as a vCPU kick.
final class HVTDebuggee: GDBDebuggee {
    let target: HVTDebugTarget
    let hypercalls: HypercallHandler
    /// A fault the debugger was shown: resuming ends the guest with it, as it would have ended.
    private var pendingCrash: GuestCrash?
    static let trapFlag: UInt64 = 0x100

    init(target: HVTDebugTarget, hypercalls: HypercallHandler) {
        self.target = target
        self.hypercalls = hypercalls
    }

    var machine: VirtualMachine { target.machine }

    func readRegisters() -> GDBRegisterFile? { target.readRegisters() }
    func writeRegisters(_ registers: GDBRegisterFile) -> Bool { target.writeRegisters(registers) }
    func readMemory(at address: UInt64, count: Int) -> [UInt8]? { target.readMemory(at: address, count: count) }
    func writeMemory(at address: UInt64, bytes: [UInt8]) -> Bool { target.writeMemory(at: address, bytes: bytes) }
    func setDebugRegisters(_ registers: X86DebugRegisters) -> Bool { target.setDebugRegisters(registers) }

    func resume(step: Bool, session: GDBSession, interrupted: () -> Bool) -> GDBResumeResult {
        let watchpoints = session.watchpoints.watchpoints
        guard !step, !watchpoints.isEmpty else { return run(step: step, session: session, interrupted: interrupted) }
        // Write watchpoints without debug registers (see HVTDebugTarget.setDebugRegisters): one
        // instruction at a time here in the tender, until a watched value changes or the guest
        // stops for anything else. Each step is a trip through the guest's #DB stub.
        var before = watchpoints.map { readMemory(at: $0.address, count: Int($0.length)) }
        while true {
            let result = run(step: true, session: session, interrupted: interrupted)
            guard case .stopped(.trap) = result else { return result }
            let now = watchpoints.map { readMemory(at: $0.address, count: Int($0.length)) }
            if let changed = watchpoints.indices.first(where: { before[$0] != now[$0] }) {
                return .stopped(.watchpoint(watchpoints[changed]))
            }
            before = now
        }
    }

    private func run(step: Bool, session: GDBSession, interrupted: () -> Bool) -> GDBResumeResult {
        if let crash = pendingCrash { return .ended(.crash(crash)) }
        guard setTrapFlag(step) else { return .ended(.crash(GuestCrash(cause: .machine("cannot set the vCPU's trap flag")))) }
        var interruptPending = false
        while true {
            machine.run.pointee.immediate_exit = 0
            switch machine.run(hypercalls: hypercalls, debugging: true) {
            case .ended(let outcome):
                return .ended(outcome)
            case .kicked:
                if interrupted() { interruptPending = true }
                // Only stop where the guest's own registers are in the vCPU, not inside an
                // exception stub (CPL0) on its way to the tender.
                if interruptPending, let sregs = machine.specialRegisters(), sregs.cs.selector & 3 == 3 {
                    _ = setTrapFlag(false)
                    return .stopped(.interrupted)
                }
            case .exception(let vector, let crash):
                switch vector {
                case 1 where step:
                    _ = setTrapFlag(false)
                    return .stopped(.trap)
                case 1:
                    _ = setTrapFlag(false)   // a step's trap the vCPU had not taken yet: carry on
                case 3:
                    _ = setTrapFlag(false)
                    guard let regs = machine.registers() else { return .ended(.crash(crash)) }
                    let address = regs.rip &- 1
                    guard session.isBreakpoint(at: address) else { return .stopped(.trap) }   // the guest's own int3
                    if session.clientReportsSoftwareBreakpoints { setRIP(address) }
                    return .stopped(.breakpoint)
                default:
                    pendingCrash = crash
                    return .stopped(.fault(signal: GDBServer.signal(for: crash)))
                }
                if interruptPending { return .stopped(.interrupted) }
            }
        }
    }

    func runFree() -> HypercallHandler.Outcome {
        if let crash = pendingCrash { return .crash(crash) }
        _ = setTrapFlag(false)
        machine.run.pointee.immediate_exit = 0
        return machine.runGuest(hypercalls: hypercalls)
    }

    func kill() -> HypercallHandler.Outcome {
        .crash(GuestCrash(cause: .machine("killed by the debugger"), registers: machine.registers().map {
            GuestCrash.Registers(rip: $0.rip, rsp: $0.rsp, rbp: $0.rbp)
        }))
    }

    private func setTrapFlag(_ on: Bool) -> Bool {
        guard var regs = machine.registers() else { return false }
        regs.rflags = on ? regs.rflags | Self.trapFlag : regs.rflags & ~Self.trapFlag
        return ctender_kvm_set_regs(machine.vcpu, &regs) == 0
    }

    private func setRIP(_ rip: UInt64) {
        guard var regs = machine.registers() else { return }
        regs.rip = rip
        _ = ctender_kvm_set_regs(machine.vcpu, &regs)
    }
}
