// spt under --gdb: the tender forks. The child is the ordinary spt tender — the same loading,
// the same seccomp filter, the same signal handlers — traced from its first instruction
// (PTRACE_TRACEME); the parent is the debugger's agent: it serves the GDB protocol (the same
// GDBServer and GDBSession as hvt) and drives the child with ptrace. int3 and single steps are
// ptrace stops, seen by the parent before any handler of the child, so neither the filter nor
// the crash handlers get in their way. The parent runs no guest code and is not confined.
import CTender
import SwiftletABI

final class SptDebuggee: GDBReattachableDebuggee {
    let child: pid_t
    /// The child's guest memory as an address range: used only to check ranges (the checked
    /// door), never dereferenced here; the bytes move through /proc/PID/mem.
    let guestRange: GuestMemory
    let memoryFile: Int32
    /// A signal the guest raised and the debugger was shown: delivered when it resumes.
    private var pendingSignal: Int32 = 0
    /// The agent keeps tracing after a detach, so the next client can attach.
    var reattachable: GDBReattachableDebuggee? { self }

    // <sys/ptrace.h> requests (an enum that imports awkwardly).
    static let traceMe = 0, peekUser = 3, pokeUser = 6, cont = 7, singleStep = 9, getRegisters = 12, setRegisters = 13
    static let getFPRegisters = 14, setOptions = 0x4200, detach = 17
    static let exitKill: UInt64 = 0x10_0000   // PTRACE_O_EXITKILL: the guest dies with its agent

    /// Forks. In the child (the guest-to-be), returns nil after PTRACE_TRACEME; in the parent,
    /// waits for the child's stop one instruction before the guest's entry and returns the debuggee.
    static func fork(memorySize: UInt64) throws(TenderError) -> SptDebuggee? {
        let pid = CTender.fork()
        guard pid >= 0 else { throw .system("--gdb: fork failed", errno: SystemError.last) }
        if pid == 0 {
            guard ctender_ptrace(Int(traceMe), 0, 0, 0) == 0 else {
                TenderExit.writeStandardError("swiftlet-spt: --gdb: PTRACE_TRACEME failed: \(SystemError.describe(SystemError.last))\n")
                _exit(SWIFTLET_EXIT_TENDER_ERROR)
            }
            return nil
        }
        let debuggee = try SptDebuggee(child: pid, memorySize: memorySize)
        // The child's int3 just before its jump into the guest (ctender_spt_enter_stopped);
        // one step more and rip is the guest's entry.
        guard case .stopped(SIGTRAP) = debuggee.wait() else { throw .guest("--gdb: the guest process did not reach its entry") }
        _ = ctender_ptrace(Int(setOptions), pid, 0, exitKill)
        guard ctender_ptrace(Int(singleStep), pid, 0, 0) == 0, case .stopped(SIGTRAP) = debuggee.wait() else {
            throw .guest("--gdb: cannot step the guest process to its entry")
        }
        return debuggee
    }

    private init(child: pid_t, memorySize: UInt64) throws(TenderError) {
        self.child = child
        guestRange = GuestMemory(base: UnsafeMutableRawPointer(bitPattern: UInt(SWIFTLET_GUEST_BASE))!, size: Int(memorySize))
        memoryFile = ctender_open("/proc/\(child)/mem", O_RDWR | O_CLOEXEC, 0)
        guard memoryFile >= 0 else { throw .system("--gdb: cannot open the guest process's memory", errno: SystemError.last) }
    }

    enum ChildState: Equatable {
        case stopped(Int32)
        case exited(Int32)
        case killed(Int32)
    }

    /// Waits for the child's next stop or end (nil with `blocking: false` if nothing happened yet).
    private func wait(blocking: Bool = true) -> ChildState? {
        var status: Int32 = 0
        while true {
            let result = waitpid(child, &status, blocking ? 0 : WNOHANG)
            if result == 0 { return nil }
            if result < 0 { if SystemError.last == EINTR { continue }; return .killed(SIGKILL) }
            // The <sys/wait.h> macros, which do not import.
            let low = status & 0x7F
            if low == 0 { return .exited((status >> 8) & 0xFF) }
            if low == 0x7F { return .stopped((status >> 8) & 0xFF) }
            return .killed(low)
        }
    }

    func resume(step: Bool, session: GDBSession, interrupted: () -> Bool) -> GDBResumeResult {
        let delivered = pendingSignal
        pendingSignal = 0
        guard ctender_ptrace(step ? Self.singleStep : Self.cont, child, 0, UInt64(delivered)) == 0 else {
            return .ended(.crash(GuestCrash(cause: .machine("--gdb: cannot resume the guest process: \(SystemError.describe(SystemError.last))"))))
        }
        return waitForStop(step: step, delivered: delivered, session: session, interrupted: interrupted)
    }

    /// The child was resumed: waits until it stops (sending it SIGINT when `interrupted()`
    /// says the client pressed Ctrl-C) or ends.
    private func waitForStop(step: Bool, delivered: Int32, session: GDBSession, interrupted: () -> Bool) -> GDBResumeResult {
        var interruptSent = false
        while true {
            var state = step ? wait() : nil
            while state == nil {
                state = wait(blocking: false)
                if state == nil && !interruptSent && interrupted() {
                    CTender.kill(child, SIGINT)
                    interruptSent = true
                }
                if state == nil { usleep(2000) }
            }
            // Ctrl-C landed in tender code (a hypercall, the vDSO's clock), where the client
            // has no symbols. Stepping out one instruction at a time can livelock in the vDSO's
            // seqlock on a busy machine (each step outlasts a clock tick, so the read retries
            // forever), so the guest runs on to where the hypercall returns to it, and stops
            // there at the agent's request (ctender_spt_stop_point).
            if interruptSent, case .stopped(SIGINT)? = state, let rip = readRegisters()?["rip"],
               !guestRange.contains(GuestAddress(raw: rip), count: 1), requestStopAtHypercallReturn(true),
               ctender_ptrace(Self.cont, child, 0, 0) == 0 {
                continue
            }
            return stopped(state!, step: step, delivered: delivered, interruptSent: interruptSent, session: session)
        }
    }

    private func stopped(_ state: ChildState, step: Bool, delivered: Int32, interruptSent: Bool, session: GDBSession) -> GDBResumeResult {
        switch state {
        case .exited(let status):
            return .ended(delivered != 0 && status == SWIFTLET_EXIT_CRASH
                ? .crash(GuestCrash(cause: .signal(number: delivered, code: 0, faultAddress: 0))) : .halt(status: status))
        case .killed(let signal):
            return .ended(.crash(GuestCrash(cause: .signal(number: signal, code: 0, faultAddress: 0))))
        case .stopped(SIGTRAP):
            if let watchpoint = takeWatchpointHit(session.watchpoints) { return .stopped(.watchpoint(watchpoint)) }
            guard !step, let registers = readRegisters() else { return .stopped(.trap) }
            if interruptSent && requestStopAtHypercallReturn(false) && !guestRange.contains(GuestAddress(raw: registers["rip"]), count: 1) {
                return stepIntoGuestCode()   // the stop point's int3: a few instructions from the guest
            }
            let address = registers["rip"] &- 1
            guard session.isBreakpoint(at: address) else { return .stopped(.trap) }
            if session.clientReportsSoftwareBreakpoints {
                var moved = registers
                moved["rip"] = address
                _ = writeRegisters(moved)
            }
            return .stopped(.breakpoint)
        case .stopped(SIGINT) where interruptSent:
            return stepIntoGuestCode()
        case .stopped(let signal):
            pendingSignal = signal   // the guest's own fault: its handler reports it on resume
            return .stopped(.fault(signal: UInt8(truncatingIfNeeded: signal)))
        }
    }

    /// Sets (or clears) the child's request to stop where its hypercall returns to the guest:
    /// the same address in the child as here, since the child is a fork of this process.
    /// Clearing returns whether the child took the request (it clears the byte before its int3).
    @discardableResult
    private func requestStopAtHypercallReturn(_ on: Bool) -> Bool {
        let address = off_t(Int64(bitPattern: ctender_spt_stop_request_address()))
        var was: UInt8 = 0
        guard pread(memoryFile, &was, 1, address) == 1 else { return false }
        var value: UInt8 = on ? 1 : 0
        return pwrite(memoryFile, &value, 1, address) == 1 && (on || was == 0)
    }

    /// From the stop point back into the guest's code: the few instructions of the hypercall's
    /// return, stepped, within a bound.
    private func stepIntoGuestCode() -> GDBResumeResult {
        for _ in 0..<100_000 {
            guard let rip = readRegisters()?["rip"], !guestRange.contains(GuestAddress(raw: rip), count: 1) else { break }
            guard ctender_ptrace(Self.singleStep, child, 0, 0) == 0 else { break }
            switch wait() {
            case .stopped(SIGTRAP)?: continue
            case .exited(let status)?: return .ended(.halt(status: status))
            case .killed(let signal)?: return .ended(.crash(GuestCrash(cause: .signal(number: signal, code: 0, faultAddress: 0))))
            default: return .stopped(.interrupted)
            }
        }
        return .stopped(.interrupted)
    }

    /// After a detach, with a listener: the guest runs as if undebugged (its own signals go to
    /// its handlers) while the agent keeps tracing it, so the next client can stop it.
    func runFree(until connected: () -> Bool) -> GDBResumeResult {
        var signal = pendingSignal
        pendingSignal = 0
        while true {
            guard ctender_ptrace(Self.cont, child, 0, UInt64(signal)) == 0 else { return .ended(runFree()) }
            signal = 0
            while signal == 0 {
                switch wait(blocking: false) {
                case .exited(let status)?: return .ended(.halt(status: status))
                case .killed(let number)?: return .ended(.crash(GuestCrash(cause: .signal(number: number, code: 0, faultAddress: 0))))
                case .stopped(let number)?: signal = number   // delivered as if nobody traced it
                case nil:
                    if connected() { return waitForStop(step: false, delivered: 0, session: GDBSession(), interrupted: { true }) }
                    usleep(2000)
                }
            }
        }
    }

    func runFree() -> HypercallHandler.Outcome {
        _ = ctender_ptrace(Self.detach, child, 0, UInt64(pendingSignal))
        var status: Int32 = 0
        while waitpid(child, &status, 0) < 0 && SystemError.last == EINTR {}
        return .halt(status: status & 0x7F == 0 ? (status >> 8) & 0xFF : SWIFTLET_EXIT_CRASH)
    }

    func kill() -> HypercallHandler.Outcome {
        CTender.kill(child, SIGKILL)
        var status: Int32 = 0
        while waitpid(child, &status, 0) < 0 && SystemError.last == EINTR {}
        TenderExit.writeStandardError("swiftlet-spt: guest killed by the debugger\n")
        return .halt(status: SWIFTLET_EXIT_CRASH)
    }

    // MARK: - Debug registers (hardware watchpoints), through the kernel's ptrace view of them

    func setDebugRegisters(_ registers: X86DebugRegisters) -> Bool {
        // DR7 off while the addresses change: the kernel checks each address against DR7's shape.
        guard pokeDebugRegister(7, 0) else { return false }
        for (index, address) in registers.addresses.enumerated() where !pokeDebugRegister(index, address) { return false }
        return registers.isEmpty || pokeDebugRegister(7, registers.control)
    }

    /// After a SIGTRAP: the watchpoint that fired, if one did; DR6 is cleared for the next.
    private func takeWatchpointHit(_ watchpoints: X86DebugRegisters) -> GDBWatchpoint? {
        guard !watchpoints.isEmpty else { return nil }
        SystemError.last = 0
        let status = UInt64(bitPattern: Int64(ctender_ptrace(Self.peekUser, child, UInt64(ctender_user_debug_register_offset(6)), 0)))
        guard SystemError.last == 0, status & X86DebugRegisters.statusHitBits != 0 else { return nil }
        _ = pokeDebugRegister(6, 0)
        return watchpoints.hit(status: status)
    }

    private func pokeDebugRegister(_ index: Int, _ value: UInt64) -> Bool {
        ctender_ptrace(Self.pokeUser, child, UInt64(ctender_user_debug_register_offset(Int32(index))), value) == 0
    }

    // MARK: - GDBTarget

    func readRegisters() -> GDBRegisterFile? {
        // musl's user_regs_struct has unsigned longs where glibc's has unsigned long longs: hence the conversions.
        var regs = user_regs_struct()
        guard withUnsafeMutablePointer(to: &regs, { ctender_ptrace(Self.getRegisters, child, 0, UInt64(UInt(bitPattern: $0))) }) == 0 else { return nil }
        var file = GDBRegisterFile()
        let values: [(String, UInt64)] = [
            ("rax", UInt64(regs.rax)), ("rbx", UInt64(regs.rbx)), ("rcx", UInt64(regs.rcx)), ("rdx", UInt64(regs.rdx)), ("rsi", UInt64(regs.rsi)),
            ("rdi", UInt64(regs.rdi)), ("rbp", UInt64(regs.rbp)), ("rsp", UInt64(regs.rsp)), ("r8", UInt64(regs.r8)), ("r9", UInt64(regs.r9)),
            ("r10", UInt64(regs.r10)), ("r11", UInt64(regs.r11)), ("r12", UInt64(regs.r12)), ("r13", UInt64(regs.r13)), ("r14", UInt64(regs.r14)),
            ("r15", UInt64(regs.r15)), ("rip", UInt64(regs.rip)), ("eflags", UInt64(regs.eflags)), ("cs", UInt64(regs.cs)), ("ss", UInt64(regs.ss)),
            ("ds", UInt64(regs.ds)), ("es", UInt64(regs.es)), ("fs", UInt64(regs.fs)), ("gs", UInt64(regs.gs)),
            ("fs_base", UInt64(regs.fs_base)), ("gs_base", UInt64(regs.gs_base)),
        ]
        for (name, value) in values { file[name] = value }
        var fpu = user_fpregs_struct()
        if withUnsafeMutablePointer(to: &fpu, { ctender_ptrace(Self.getFPRegisters, child, 0, UInt64(UInt(bitPattern: $0))) }) == 0 {
            withUnsafeBytes(of: fpu.st_space) { bytes in
                for index in 0..<8 { _ = file.set(X86RegisterLayout.number(of: "st\(index)")!, bytes: Array(bytes[index * 16 ..< index * 16 + 10])) }
            }
            withUnsafeBytes(of: fpu.xmm_space) { bytes in
                for index in 0..<16 { _ = file.set(X86RegisterLayout.number(of: "xmm\(index)")!, bytes: Array(bytes[index * 16 ..< index * 16 + 16])) }
            }
            let tag = (0..<8).reduce(UInt64(0)) { $0 | (UInt64(fpu.ftw) & (1 << $1) != 0 ? 0 : 3) << (2 * UInt64($1)) }
            let x87: [(String, UInt64)] = [
                ("fctrl", UInt64(fpu.cwd)), ("fstat", UInt64(fpu.swd)), ("ftag", tag), ("fop", UInt64(fpu.fop)),
                ("fioff", UInt64(fpu.rip) & 0xFFFF_FFFF), ("fiseg", UInt64(fpu.rip) >> 32),
                ("fooff", UInt64(fpu.rdp) & 0xFFFF_FFFF), ("foseg", UInt64(fpu.rdp) >> 32), ("mxcsr", UInt64(fpu.mxcsr)),
            ]
            for (name, value) in x87 { file[name] = value }
        }
        return file
    }

    func writeRegisters(_ file: GDBRegisterFile) -> Bool {
        guard let current = readRegisters() else { return false }
        for number in X86RegisterLayout.registers.indices
        where !X86RegisterLayout.debuggerWritable[number] && file.bytes(of: number) != current.bytes(of: number) {
            return false
        }
        var regs = user_regs_struct()
        guard withUnsafeMutablePointer(to: &regs, { ctender_ptrace(Self.getRegisters, child, 0, UInt64(UInt(bitPattern: $0))) }) == 0 else { return false }
        regs.rax = .init(file["rax"]); regs.rbx = .init(file["rbx"]); regs.rcx = .init(file["rcx"]); regs.rdx = .init(file["rdx"])
        regs.rsi = .init(file["rsi"]); regs.rdi = .init(file["rdi"]); regs.rbp = .init(file["rbp"]); regs.rsp = .init(file["rsp"])
        regs.r8 = .init(file["r8"]); regs.r9 = .init(file["r9"]); regs.r10 = .init(file["r10"]); regs.r11 = .init(file["r11"])
        regs.r12 = .init(file["r12"]); regs.r13 = .init(file["r13"]); regs.r14 = .init(file["r14"]); regs.r15 = .init(file["r15"])
        regs.rip = .init(file["rip"])
        regs.eflags = .init(UInt64(regs.eflags) & ~X86RegisterLayout.debuggerWritableFlags | file["eflags"] & X86RegisterLayout.debuggerWritableFlags)
        regs.fs_base = .init(file["fs_base"]); regs.gs_base = .init(file["gs_base"])
        return withUnsafeMutablePointer(to: &regs, { ctender_ptrace(Self.setRegisters, child, 0, UInt64(UInt(bitPattern: $0))) }) == 0
    }

    func readMemory(at address: UInt64, count: Int) -> [UInt8]? {
        guard (try? guestRange.offset(of: GuestAddress(raw: address), count: UInt64(count))) != nil else { return nil }
        var bytes = [UInt8](repeating: 0, count: count)
        let done = bytes.withUnsafeMutableBytes { pread(memoryFile, $0.baseAddress, count, off_t(Int64(bitPattern: address))) }
        return done == count ? bytes : nil
    }

    func writeMemory(at address: UInt64, bytes: [UInt8]) -> Bool {
        guard (try? guestRange.offset(of: GuestAddress(raw: address), count: UInt64(bytes.count))) != nil else { return false }
        let done = bytes.withUnsafeBytes { pwrite(memoryFile, $0.baseAddress, bytes.count, off_t(Int64(bitPattern: address))) }
        return done == bytes.count
    }
}
