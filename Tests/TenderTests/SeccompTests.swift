// Seccomp policies compiled to BPF and run in the interpreter. Nothing here installs a
// filter: that would kill the test runner at its next unlisted system call.

#if os(Linux)
import Glibc
import CTender
import Testing
import TestSupport
@testable import TenderCore

// KVM ioctl request numbers as the kernel sees them (_IO/_IOR/_IOW on 0xAE).
private let kvmRun: UInt64 = 0xAE80
private let kvmGetRegs: UInt64 = 0x8090_AE81
private let kvmSetRegs: UInt64 = 0x4090_AE82
private let kvmCreateVM: UInt64 = 0xAE01
private let auditArchI386: UInt32 = 0x4000_0003

private let vcpuFD: Int32 = 7
private let deviceFDs: [Int32] = [3, 4]

private func sc(_ nr: Int32, _ args: UInt64...) -> SeccompData { SeccompData(nr: nr, args: args) }

private func run(_ program: BPFProgram, _ data: SeccompData) throws -> SeccompAction {
    try program.evaluate(data)
}


/// Checks the compiled program against the policy's own meaning on random inputs built
/// from the values the policy mentions (and near misses of them).
private func differential(_ policy: SeccompPolicy, _ program: BPFProgram, iterations: Int, seed: UInt64) throws {
    var rng = SplitMix64(seed: seed)
    var numbers = policy.rules.map { Int32(bitPattern: $0.number) }
    numbers += [SYS_openat, SYS_execve, SYS_socket, SYS_ptrace, 1000, -1, 0x4000_0001, Int32.max]
    var values: [UInt64] = [0, 1, 2, ~0, 0xffff_ffff, 1 << 32, 0x8000_0000_0000_0000]
    for match in policy.rules.flatMap({ $0.alternatives.joined() }) {
        switch match {
        case .equals(_, let v): values.append(v)
        case .oneOf(_, let vs): values += vs
        case .maskedEquals(_, let m, let v): values += [v, v | ~m, m, v ^ 1]
        }
    }
    let near = values.flatMap { [$0, $0 ^ (1 << 32), $0 ^ 1, $0 &+ 1] }
    try program.validate()
    var allowed = 0
    for _ in 0..<iterations {
        let arch: UInt32 = rng.next() % 50 == 0 ? auditArchI386 : policy.architecture
        let args = (0..<6).map { _ in rng.next() % 10 == 0 ? rng.next() : near.randomElement(using: &rng)! }
        let data = SeccompData(nr: numbers.randomElement(using: &rng)!, arch: arch, args: args)
        let expected = policy.evaluate(data)
        let got = try program.evaluate(data, validate: false)
        #expect(got == expected, "nr \(data.nr) args \(data.args.map { String($0, radix: 16) })")
        if got != expected { return }
        if got == .allow { allowed += 1 }
    }
    #expect(allowed > iterations / 100, "the random inputs should hit allowed cases too (\(allowed))")
}

@Suite struct SeccompTests {
    // MARK: the constants written into Swift agree with the kernel headers

    @Test func constantsMatchKernelHeaders() {
        #expect(SeccompAction.allow.returnValue == SECCOMP_RET_ALLOW)
        #expect(SeccompAction.killProcess.returnValue == SECCOMP_RET_KILL_PROCESS)
        #expect(SeccompAction.killThread.returnValue == SECCOMP_RET_KILL_THREAD)
        #expect(SeccompAction.log.returnValue == SECCOMP_RET_LOG)
        #expect(SeccompAction.errno(1).returnValue == SECCOMP_RET_ERRNO | 1)
        #expect(SeccompAction.trap.returnValue == SECCOMP_RET_TRAP)
        #expect(SeccompPolicy.auditArchX86_64 == ctender_audit_arch_x86_64())
        #expect(SeccompPolicy.auditArchX86_64 == ctender_audit_arch_native())

        #expect(BPFInstruction.ldAbsW == UInt16(BPF_LD | BPF_W | BPF_ABS))
        #expect(BPFInstruction.aluAndK == UInt16(BPF_ALU | BPF_AND | BPF_K))
        #expect(BPFInstruction.ja == UInt16(BPF_JMP | BPF_JA))
        #expect(BPFInstruction.jeqK == UInt16(BPF_JMP | BPF_JEQ | BPF_K))
        #expect(BPFInstruction.jgeK == UInt16(BPF_JMP | BPF_JGE | BPF_K))
        #expect(BPFInstruction.jgtK == UInt16(BPF_JMP | BPF_JGT | BPF_K))
        #expect(BPFInstruction.jsetK == UInt16(BPF_JMP | BPF_JSET | BPF_K))
        #expect(BPFInstruction.retK == UInt16(BPF_RET | BPF_K))
        #expect(BPFInstruction.retA == UInt16(BPF_RET | BPF_A))
        #expect(BPFInstruction.tax == UInt16(BPF_MISC | BPF_TAX))
        #expect(BPFInstruction.txa == UInt16(BPF_MISC | BPF_TXA))
        #expect(Int32(BPF_MAXINSNS) == Int32(BPFProgram.maxInstructions))

        #expect(MemoryLayout<BPFInstruction>.size == MemoryLayout<sock_filter>.size)
        #expect(MemoryLayout<BPFInstruction>.stride == MemoryLayout<sock_filter>.stride)
        #expect(MemoryLayout<BPFInstruction>.offset(of: \.code) == MemoryLayout<sock_filter>.offset(of: \.code))
        #expect(MemoryLayout<BPFInstruction>.offset(of: \.jt) == MemoryLayout<sock_filter>.offset(of: \.jt))
        #expect(MemoryLayout<BPFInstruction>.offset(of: \.jf) == MemoryLayout<sock_filter>.offset(of: \.jf))
        #expect(MemoryLayout<BPFInstruction>.offset(of: \.k) == MemoryLayout<sock_filter>.offset(of: \.k))

        #expect(MemoryLayout<seccomp_data>.size == Int(SeccompData.size))
        #expect(MemoryLayout<seccomp_data>.offset(of: \.nr) == Int(SeccompData.nrOffset))
        #expect(MemoryLayout<seccomp_data>.offset(of: \.arch) == Int(SeccompData.archOffset))
        #expect(MemoryLayout<seccomp_data>.offset(of: \.instruction_pointer) == Int(SeccompData.instructionPointerOffset))
        #expect(MemoryLayout<seccomp_data>.offset(of: \.args) == Int(SeccompData.argLowOffset(0)))
    }

    @Test func seccompDataWordsAreLittleEndianHalves() {
        let d = SeccompData(nr: 9, arch: 0xc000_003e, instructionPointer: 0x1122_3344_5566_7788,
                            args: [0xaaaa_bbbb_cccc_dddd, 0, 0, 0, 0, 0x0102_0304_0506_0708])
        #expect(d.word(at: 0) == 9)
        #expect(d.word(at: 4) == 0xc000_003e)
        #expect(d.word(at: 8) == 0x5566_7788)
        #expect(d.word(at: 12) == 0x1122_3344)
        #expect(d.word(at: 16) == 0xcccc_dddd)
        #expect(d.word(at: 20) == 0xaaaa_bbbb)
        #expect(d.word(at: 56) == 0x0506_0708)
        #expect(d.word(at: 60) == 0x0102_0304)
        #expect(d.word(at: 64) == nil)
        #expect(d.word(at: 2) == nil)
    }

    // MARK: spt

    @Test func sptAllowsItsList() throws {
        let program = try SeccompPolicy.spt(consoleFDs: [1, 2], deviceFDs: deviceFDs).compile()
        let allowed: [SeccompData] = [
            sc(SYS_write, 1, 0x1000, 12), sc(SYS_write, 2), sc(SYS_write, 3), sc(SYS_write, 4),
            sc(SYS_writev, 1), sc(SYS_writev, 4),
            sc(SYS_read, 3), sc(SYS_read, 4), sc(SYS_readv, 3), sc(SYS_readv, 4),
            sc(SYS_ppoll, 0x1000, 2, 0x2000, 0, 8), sc(SYS_ppoll, 0, 0, 0x2000, 0),
            sc(SYS_clock_gettime, UInt64(CLOCK_MONOTONIC)), sc(SYS_clock_gettime, UInt64(CLOCK_REALTIME)),
            sc(SYS_exit_group, 0), sc(SYS_exit_group, 255),
        ]
        for d in allowed {
            #expect(try run(program, d) == .allow, "nr \(d.nr) args \(d.args)")
        }
    }

    /// What the review found allowed, and what a Swift process usually needs, all killed now.
    @Test func sptKillsEverythingElse() throws {
        let program = try SeccompPolicy.spt(consoleFDs: [1, 2], deviceFDs: deviceFDs).compile()
        let rw = UInt64(PROT_READ | PROT_WRITE)
        let forbidden: [SeccompData] = [
            sc(SYS_openat, UInt64(bitPattern: -100), 0x1000, 0), sc(SYS_open), sc(SYS_execve), sc(SYS_execveat),
            sc(SYS_socket, 2, 1, 0), sc(SYS_connect), sc(SYS_ptrace), sc(SYS_fork), sc(SYS_clone),
            sc(SYS_ioctl, 1, kvmRun), sc(SYS_kill), sc(SYS_prctl), sc(SYS_seccomp), sc(SYS_mremap),
            sc(SYS_write, 5), sc(SYS_write, 0), sc(SYS_write, 1 | (1 << 32)),  // high half checked too
            sc(SYS_read, 0), sc(SYS_read, 1), sc(SYS_readv, 0), sc(SYS_readv, 5), sc(SYS_pread64, 3), sc(SYS_pwrite64, 3),
            // memory: nothing grows, maps, or changes protection after confinement
            sc(SYS_brk, 0), sc(SYS_brk, 0x7fff_0000_0000),
            sc(SYS_mmap, 0, 2 << 30, rw, UInt64(MAP_PRIVATE | MAP_ANONYMOUS), ~0, 0),
            sc(SYS_mmap, 0, 4096, UInt64(PROT_READ), UInt64(MAP_SHARED), 3, 0),
            sc(SYS_mmap, 0, 4096, UInt64(PROT_EXEC)), sc(SYS_munmap, 0x1000, 4096), sc(SYS_madvise, 0x1000, 4096, 4),
            sc(SYS_mprotect, 0x1000, 4096, UInt64(PROT_READ)), sc(SYS_pkey_mprotect, 0x1000, 4096, UInt64(PROT_EXEC)),
            sc(SYS_setrlimit), sc(SYS_prlimit64),
            // signals: SIGTERM can be neither blocked nor ignored, and no forged signal frame
            sc(SYS_rt_sigprocmask, UInt64(SIG_BLOCK), 0x1000, 0, 8), sc(SYS_rt_sigaction, UInt64(SIGTERM), 0x1000, 0, 8),
            sc(SYS_rt_sigreturn), sc(SYS_sigaltstack),
            // waiting with a signal mask, other clocks, and the calls malloc's locks would need
            sc(SYS_ppoll, 0, 0, 0, 0x1000, 8), sc(SYS_pselect6), sc(SYS_epoll_pwait),
            sc(SYS_clock_gettime, UInt64(CLOCK_PROCESS_CPUTIME_ID)), sc(SYS_clock_gettime, UInt64(CLOCK_BOOTTIME)),
            sc(SYS_clock_gettime, 1 | (1 << 32)), sc(SYS_clock_nanosleep), sc(SYS_nanosleep),
            sc(SYS_futex, 0x1000, 0x80, 0), sc(SYS_getrandom), sc(SYS_exit, 0), sc(SYS_close, 3), sc(SYS_close_range),
        ]
        for d in forbidden {
            #expect(try run(program, d) == .killProcess, "nr \(d.nr) args \(d.args)")
        }
    }

    /// With shutdown signals: kill only towards the tender itself and only SIGTERM/SIGINT (the
    /// handlers re-raise the signal that ends the guest), alarm only with the grace period
    /// (alarm(0) would cancel the deadline), and the wake-up pipe writable. Nothing else moves:
    /// the signal mask and the handlers stay out of reach.
    @Test(arguments: [true, false])
    func shutdownRulesAreNarrow(hvt: Bool) throws {
        let shutdown = ShutdownSignals.Policy(wakeFD: 9, ownPID: 4242, gracePeriodSeconds: 10)
        let policy = hvt
            ? SeccompPolicy.hvt(vcpuFD: vcpuFD, consoleFDs: [1, 2], deviceFDs: deviceFDs, shutdown: shutdown, kvmRunRequests: [kvmRun])
            : SeccompPolicy.spt(consoleFDs: [1, 2], deviceFDs: deviceFDs, shutdown: shutdown)
        let program = try policy.compile()
        for allowed in [sc(SYS_kill, 4242, UInt64(SIGTERM)), sc(SYS_kill, 4242, UInt64(SIGINT)),
                        sc(SYS_alarm, 10), sc(SYS_write, 9)] {
            #expect(try run(program, allowed) == .allow, "nr \(allowed.nr) args \(allowed.args)")
        }
        let forbidden = [
            sc(SYS_kill, 1, UInt64(SIGTERM)), sc(SYS_kill, 0, UInt64(SIGTERM)), sc(SYS_kill, UInt64(bitPattern: -1), UInt64(SIGTERM)),
            sc(SYS_kill, 4242, UInt64(SIGKILL)), sc(SYS_kill, 4242, UInt64(SIGSTOP)), sc(SYS_kill, 4242, 0),
            sc(SYS_kill, 4242 | (1 << 32), UInt64(SIGTERM)), sc(SYS_tgkill, 4242, 4242, UInt64(SIGTERM)), sc(SYS_tkill, 4242, UInt64(SIGTERM)),
            sc(SYS_alarm, 0), sc(SYS_alarm, 11), sc(SYS_alarm, 10 | (1 << 32)), sc(SYS_setitimer, 0, 0x1000, 0),
            sc(SYS_timer_create), sc(SYS_timer_settime), sc(SYS_read, 9),
            sc(SYS_rt_sigprocmask, UInt64(SIG_BLOCK), 0x1000, 0, 8), sc(SYS_rt_sigaction, UInt64(SIGTERM), 0x1000, 0, 8),
            sc(SYS_rt_sigreturn), sc(SYS_sigaltstack),
        ]
        for call in forbidden {
            #expect(try run(program, call) == .killProcess, "nr \(call.nr) args \(call.args)")
        }
        let noGrace = ShutdownSignals.Policy(wakeFD: 9, ownPID: 4242, gracePeriodSeconds: 0)
        let withoutAlarm = SeccompPolicy.spt(consoleFDs: [1, 2], deviceFDs: deviceFDs, shutdown: noGrace)
        #expect(!withoutAlarm.rules.contains { $0.name == "alarm" }, "with no grace period there is no deadline to arm")
        #expect(try run(withoutAlarm.compile(), sc(SYS_alarm, 0)) == .killProcess)
    }

    /// The table in TenderPolicies.swift is the closing note's spt allow-list: keep them equal.
    @Test func sptAllowListIsTheDocumentedOne() {
        let policy = SeccompPolicy.spt(consoleFDs: [1, 2], deviceFDs: deviceFDs)
        #expect(policy.rules.map(\.name) == ["write", "writev", "read", "readv", "ioctl", "ppoll", "clock_gettime", "exit_group"])
        #expect(SeccompPolicy.spt(consoleFDs: [1, 2], deviceFDs: []).rules.map(\.name)
            == ["write", "writev", "ppoll", "clock_gettime", "exit_group"])
        let shutdown = ShutdownSignals.Policy(wakeFD: 9, ownPID: 4242, gracePeriodSeconds: 10)
        #expect(SeccompPolicy.spt(consoleFDs: [1, 2], deviceFDs: deviceFDs, shutdown: shutdown).rules.map(\.name)
            == ["write", "writev", "read", "readv", "ioctl", "ppoll", "clock_gettime", "exit_group", "kill", "alarm"])
    }

    /// NET_CONFIGURE's TUNSETOFFLOAD: on a device descriptor, with the one set of flags.
    @Test func tapOffloadIoctlIsTheOneRequestWithItsFlags() throws {
        let request = ctender_tap_offload_request(), flags = ctender_tap_offload_flags()
        for policy in [SeccompPolicy.spt(consoleFDs: [1, 2], deviceFDs: deviceFDs),
                       SeccompPolicy.hvt(vcpuFD: vcpuFD, consoleFDs: [1, 2], deviceFDs: deviceFDs, kvmRunRequests: [kvmRun])] {
            let program = try policy.compile()
            #expect(try run(program, sc(SYS_ioctl, 3, request, flags)) == .allow)
            #expect(try run(program, sc(SYS_ioctl, 4, request, flags)) == .allow)
            #expect(try run(program, sc(SYS_ioctl, 1, request, flags)) == .killProcess)       // not a device
            #expect(try run(program, sc(SYS_ioctl, 3, request, flags | 0x10)) == .killProcess) // other offloads
            #expect(try run(program, sc(SYS_ioctl, 3, request, 0)) == .killProcess)
            #expect(try run(program, sc(SYS_ioctl, 3, request + 1, flags)) == .killProcess)   // another request
        }
        #expect(SeccompPolicy.spt(consoleFDs: [1, 2], deviceFDs: []).rules.allSatisfy { $0.name != "ioctl" })
    }

    @Test func sptWithoutDevicesAllowsNoReads() throws {
        let policy = SeccompPolicy.spt(consoleFDs: [1, 2], deviceFDs: [])
        #expect(!policy.rules.contains { $0.name == "read" })
        let program = try policy.compile()
        #expect(try run(program, sc(SYS_write, 2)) == .allow)
        #expect(try run(program, sc(SYS_write, 3)) == .killProcess)
        #expect(try run(program, sc(SYS_read, 0)) == .killProcess)
    }

    // MARK: hvt

    @Test func hvtIoctlOnlyOnTheVCPUWithGivenRequests() throws {
        let program = try SeccompPolicy.hvt(vcpuFD: vcpuFD, consoleFDs: [1, 2], deviceFDs: deviceFDs,
                                            kvmRunRequests: [kvmRun, kvmGetRegs, kvmSetRegs]).compile()
        #expect(try run(program, sc(SYS_ioctl, 7, kvmRun)) == .allow)
        #expect(try run(program, sc(SYS_ioctl, 7, kvmGetRegs, 0x7fff_0000)) == .allow)
        #expect(try run(program, sc(SYS_ioctl, 7, kvmSetRegs)) == .allow)
        #expect(try run(program, sc(SYS_write, 1)) == .allow)
        #expect(try run(program, sc(SYS_read, 4)) == .allow)

        #expect(try run(program, sc(SYS_ioctl, 8, kvmRun)) == .killProcess)          // another fd
        #expect(try run(program, sc(SYS_ioctl, 3, kvmRun)) == .killProcess)          // a device fd
        #expect(try run(program, sc(SYS_ioctl, 7, kvmCreateVM)) == .killProcess)     // another request
        #expect(try run(program, sc(SYS_ioctl, 7, 0)) == .killProcess)
        #expect(try run(program, sc(SYS_ioctl, 7, kvmRun | (1 << 32))) == .killProcess)   // high bits
        #expect(try run(program, sc(SYS_ioctl, 7 | (1 << 32), kvmRun)) == .killProcess)
        // A sign-extended _IOR value is not the value the kernel sees from a correct caller.
        #expect(try run(program, sc(SYS_ioctl, 7, UInt64(bitPattern: Int64(Int32(bitPattern: UInt32(kvmGetRegs)))))) == .killProcess)
        #expect(try run(program, sc(SYS_write, 7)) == .killProcess)                  // the vcpu fd is not writable
        #expect(try run(program, sc(SYS_openat)) == .killProcess)
        #expect(try run(program, sc(SYS_execve)) == .killProcess)
        #expect(try run(program, sc(SYS_mmap, 0, 4096, UInt64(PROT_EXEC))) == .killProcess)
    }

    @Test func hvtPutsIoctlFirst() {
        let policy = SeccompPolicy.hvt(vcpuFD: vcpuFD, consoleFDs: [1], deviceFDs: [], kvmRunRequests: [kvmRun])
        #expect(policy.rules.first?.name == "ioctl")
        #expect(SeccompPolicy.hvt(vcpuFD: vcpuFD, consoleFDs: [1], deviceFDs: [], kvmRunRequests: [])
            .rules.allSatisfy { $0.name != "ioctl" })
    }

    /// --gdb on hvt adds rules for the one connection only; without it nothing changes.
    @Test func hvtDebuggerRulesAreTheConnectionsOnly() throws {
        let connection: Int32 = 9
        let plain = SeccompPolicy.hvt(vcpuFD: vcpuFD, consoleFDs: [1, 2], deviceFDs: [], kvmRunRequests: [kvmRun])
        let debugging = SeccompPolicy.hvt(vcpuFD: vcpuFD, consoleFDs: [1, 2], deviceFDs: [], kvmRunRequests: [kvmRun],
                                          debugger: .init(connectionFD: connection, vcpuStateRequests: [kvmSetRegs]))
        #expect(Set(debugging.rules.map(\.name)).subtracting(plain.rules.map(\.name)) == ["read", "close", "rt_sigreturn"])
        for rule in debugging.rules where !plain.rules.contains(rule) { #expect(rule.why.hasPrefix("--gdb:"), "\(rule.name)") }
        let plainProgram = try plain.compile(), program = try debugging.compile()
        let fd = UInt64(connection)
        for call in [sc(SYS_read, fd), sc(SYS_write, fd), sc(SYS_close, fd), sc(SYS_rt_sigreturn), sc(SYS_ioctl, UInt64(vcpuFD), kvmSetRegs)] {
            #expect(try run(program, call) == .allow)
            #expect(try run(plainProgram, call) == .killProcess)
        }
        // Still nothing on any other descriptor, and no new way to open, map or exec.
        for call in [sc(SYS_read, 3), sc(SYS_write, 3), sc(SYS_close, 1), sc(SYS_ioctl, fd, kvmSetRegs), sc(SYS_accept, fd),
                     sc(SYS_socket), sc(SYS_openat), sc(SYS_execve), sc(SYS_mmap), sc(SYS_rt_sigaction)] {
            #expect(try run(program, call) == .killProcess)
        }
        try differential(debugging, program, iterations: 20_000, seed: 7)
    }

    @Test func everyRuleSaysWhy() {
        for policy in [SeccompPolicy.spt(consoleFDs: [1, 2], deviceFDs: deviceFDs),
                       SeccompPolicy.hvt(vcpuFD: vcpuFD, consoleFDs: [1, 2], deviceFDs: deviceFDs, kvmRunRequests: [kvmRun]),
                       SeccompPolicy.hvt(vcpuFD: vcpuFD, consoleFDs: [1, 2], deviceFDs: deviceFDs, kvmRunRequests: [kvmRun],
                                         debugger: .init(connectionFD: 9, vcpuStateRequests: [kvmSetRegs]))] {
            for rule in policy.rules {
                #expect(!rule.why.isEmpty && !rule.why.contains("\n"), "\(rule.name)")
                #expect(policy.description.contains(rule.why))
            }
        }
    }

    @Test func tenderPoliciesMatchTheirReferenceSemantics() throws {
        let policies = [
            SeccompPolicy.spt(consoleFDs: [1, 2], deviceFDs: deviceFDs),
            SeccompPolicy.hvt(vcpuFD: vcpuFD, consoleFDs: [1, 2], deviceFDs: deviceFDs,
                              kvmRunRequests: [kvmRun, kvmGetRegs, kvmSetRegs]),
        ]
        for (n, policy) in policies.enumerated() {
            let program = try policy.compile()
            #expect(program.instructions.count < 128, "\(program.instructions.count) instructions")
            try differential(policy, program, iterations: 20_000, seed: UInt64(n) + 1)
        }
    }

    // MARK: architecture and ABI

    @Test func wrongArchitectureIsKilled() throws {
        let program = try SeccompPolicy.spt(consoleFDs: [1, 2], deviceFDs: deviceFDs).compile()
        #expect(try run(program, SeccompData(nr: SYS_write, arch: auditArchI386, args: [1])) == .killProcess)
        #expect(try run(program, SeccompData(nr: SYS_exit_group, arch: 0, args: [])) == .killProcess)
        #expect(try run(program, SeccompData(nr: SYS_exit_group, arch: 0xc000_00b7, args: [])) == .killProcess)  // aarch64
        // First instructions: load arch, compare, kill; load nr, reject x32.
        let i = program.instructions
        #expect(i[0] == .load(SeccompData.archOffset))
        #expect(i[1].code == BPFInstruction.jeqK && i[1].k == SeccompPolicy.auditArchX86_64 && i[1].jt == 0)
        #expect(i[2 + Int(i[1].jf)] == .ret(SECCOMP_RET_KILL_PROCESS))
    }

    @Test func x32IsKilled() throws {
        let program = try SeccompPolicy.spt(consoleFDs: [1, 2], deviceFDs: deviceFDs).compile()
        for nr in [SYS_write, SYS_exit_group, SYS_getrandom, 0] {
            #expect(try run(program, sc(0x4000_0000 | nr, 1)) == .killProcess)
        }
        #expect(try run(program, sc(-1)) == .killProcess)
        // Even a policy that names every low number cannot be reached through x32.
        let all = SeccompPolicy(rules: (0..<512).map { SyscallRule(name: "n\($0)", number: $0, why: "test") })
        let p = try all.compile()
        #expect(try run(p, sc(511)) == .allow)
        #expect(try run(p, sc(0x4000_0000 | 1)) == .killProcess)
        #expect(try run(p, sc(512)) == .killProcess)
    }

    @Test func defaultActionIsConfigurableButArchChecksStillKill() throws {
        var policy = SeccompPolicy.spt(consoleFDs: [1], deviceFDs: [])
        policy.defaultAction = .log
        let program = try policy.compile()
        #expect(try run(program, sc(SYS_openat)) == .log)
        #expect(try run(program, sc(SYS_write, 1)) == .allow)
        #expect(try run(program, sc(0x4000_0000 | SYS_write, 1)) == .killProcess)
        #expect(try run(program, SeccompData(nr: SYS_write, arch: auditArchI386, args: [1])) == .killProcess)
    }

    // MARK: argument matching

    @Test func argumentMatchesCompareBothHalves() throws {
        let policy = SeccompPolicy(rules: [
            SyscallRule(name: "a", number: 10, arguments: [.equals(5, 0x1_0000_0002)], why: "t"),
            SyscallRule(name: "b", number: 11, arguments: [.maskedEquals(0, 0xff00_0000_0000_0004, 0x1200_0000_0000_0000)], why: "t"),
            SyscallRule(name: "c", number: 12, arguments: [.oneOf(3, [1, 0x2_0000_0001, 0x2_0000_0005, ~0])], why: "t"),
            SyscallRule(name: "d", number: 13, anyOf: [[.equals(0, 1), .equals(1, 2)], [.equals(0, 3)]], why: "t"),
            SyscallRule(name: "d", number: 13, arguments: [.equals(2, 9)], why: "t"),  // same nr again: OR
        ])
        let p = try policy.compile()
        #expect(try run(p, sc(10, 0, 0, 0, 0, 0, 0x1_0000_0002)) == .allow)
        #expect(try run(p, sc(10, 0, 0, 0, 0, 0, 0x2)) == .killProcess)
        #expect(try run(p, sc(10, 0, 0, 0, 0, 0, 0x2_0000_0002)) == .killProcess)
        #expect(try run(p, sc(11, 0x12ff_ffff_ffff_fffb)) == .allow)
        #expect(try run(p, sc(11, 0x1200_0000_0000_0000)) == .allow)
        #expect(try run(p, sc(11, 0x1200_0000_0000_0004)) == .killProcess)
        #expect(try run(p, sc(11, 0x1300_0000_0000_0000)) == .killProcess)
        for v: UInt64 in [1, 0x2_0000_0001, 0x2_0000_0005, ~0] {
            #expect(try run(p, sc(12, 0, 0, 0, v)) == .allow)
        }
        for v: UInt64 in [0, 5, 0x1_0000_0001, 0x2_0000_0002, 0xffff_ffff, 0xffff_ffff_0000_0001] {
            #expect(try run(p, sc(12, 0, 0, 0, v)) == .killProcess)
        }
        #expect(try run(p, sc(13, 1, 2)) == .allow)
        #expect(try run(p, sc(13, 3, 7)) == .allow)
        #expect(try run(p, sc(13, 0, 0, 9)) == .allow)
        #expect(try run(p, sc(13, 1, 3)) == .killProcess)
        #expect(try run(p, sc(13, 2, 2)) == .killProcess)
        try differential(policy, p, iterations: 20_000, seed: 42)
    }

    @Test func invalidPoliciesAreRejected() {
        func rejects(_ rule: SyscallRule) -> Bool {
            do { _ = try SeccompPolicy(rules: [rule]).compile(); return false } catch { return true }
        }
        #expect(rejects(SyscallRule(name: "x", number: 1, arguments: [.equals(6, 0)], why: "")))
        #expect(rejects(SyscallRule(name: "x", number: 1, arguments: [.equals(-1, 0)], why: "")))
        #expect(rejects(SyscallRule(name: "x", number: 1, arguments: [.oneOf(0, [])], why: "")))
        #expect(rejects(SyscallRule(name: "x", number: 1, arguments: [.maskedEquals(0, 4, 5)], why: "")))
        #expect(rejects(SyscallRule(name: "x", number: 1, anyOf: [], why: "")))
        #expect(rejects(SyscallRule(name: "x", number: 0x4000_0001, why: "")))
        #expect(!rejects(SyscallRule(name: "x", number: 1, arguments: [.maskedEquals(0, 4, 4)], why: "")))
    }

    // MARK: long jumps

    @Test func largePolicyUsesLongJumpsAndStaysCorrect() throws {
        // 300 rules of every kind, including one whose body is far longer than 255
        // instructions, so conditional jumps across it need `ja` trampolines.
        var rules: [SyscallRule] = []
        for i in 0..<300 {
            let nr = UInt32(i < 150 ? i : 1000 + i)  // skip the real low numbers halfway
            let rule: SyscallRule
            switch i % 6 {
            case 0: rule = SyscallRule(name: "u\(i)", number: nr, why: "unconditional")
            case 1: rule = SyscallRule(name: "e\(i)", number: nr, arguments: [.equals(0, UInt64(i))], why: "equals")
            case 2: rule = SyscallRule(name: "o\(i)", number: nr,
                                       arguments: [.oneOf(1, [UInt64(i), UInt64(i) << 32, 7, 1 << 40])], why: "oneOf")
            case 3: rule = SyscallRule(name: "m\(i)", number: nr,
                                       arguments: [.maskedEquals(2, 0xf0f0_0000_0000_00f0, UInt64(i & 0xf) << 4)], why: "masked")
            case 4: rule = SyscallRule(name: "a\(i)", number: nr,
                                       anyOf: [[.equals(0, 1), .equals(1, UInt64(i))], [.oneOf(3, [2, 3, 4])]], why: "alternatives")
            default:
                if i == 149 || i == 5 {
                    rule = SyscallRule(name: "big\(i)", number: nr,
                                       arguments: [.equals(0, 99), .oneOf(4, (0..<400).map { UInt64($0) * 3 + ($0 % 2 == 0 ? 0 : 1 << 33) })],
                                       why: "huge body")
                } else {
                    rule = SyscallRule(name: "d\(i)", number: UInt32(i - 1 < 150 ? i - 1 : 1000 + i - 1),
                                       arguments: [.equals(5, 0xdead_beef_0000_0000 | UInt64(i))], why: "duplicate nr")
                }
            }
            rules.append(rule)
        }
        let policy = SeccompPolicy(rules: rules)
        let program = try policy.compile()
        let code = program.instructions

        // All jumps land inside the program (validate() checks exactly this, as the kernel does).
        #expect(code.count <= BPFProgram.maxInstructions)
        try program.validate()
        for (pc, i) in code.enumerated() where i.isConditionalJump {
            #expect(pc + 1 + Int(i.jt) < code.count && pc + 1 + Int(i.jf) < code.count)
        }
        // The long-jump path was taken: unconditional jumps further than 8 bits can reach.
        let longJumps = code.filter { $0.code == BPFInstruction.ja && $0.k > 255 }
        #expect(!longJumps.isEmpty)

        // Every rule's allowed case is allowed, and each rule's near misses are decided as
        // the policy says (another rule with the same number may still allow them).
        for rule in rules {
            var args = [UInt64](repeating: 0, count: 6)
            for m in rule.alternatives[0] {
                switch m {
                case .equals(let i, let v): args[i] = v
                case .oneOf(let i, let vs): args[i] = vs.last!
                case .maskedEquals(let i, _, let v): args[i] = v
                }
            }
            let d = SeccompData(nr: rule.number, args: args)
            #expect(try run(program, d) == .allow, "\(rule)")
            var miss = d
            miss.args = args.map { $0 ^ (1 << 32) }
            #expect(try run(program, miss) == policy.evaluate(miss), "\(rule)")
        }
        #expect(try run(program, sc(Int32(SYS_execve) + 2000)) == .killProcess)
        try differential(policy, program, iterations: 30_000, seed: 7)
    }

    @Test func farReturnsAreCopiedNotJumpedTo() throws {
        // 400 unconditional rules: every `jeq nr` wants the single `ret ALLOW` at the end.
        let policy = SeccompPolicy(rules: (0..<400).map { SyscallRule(name: "n\($0)", number: $0, why: "t") })
        let program = try policy.compile()
        let allows = program.instructions.filter { $0 == .ret(SECCOMP_RET_ALLOW) }
        #expect(allows.count > 1 && allows.count < 10, "\(allows.count) copies of ret ALLOW")
        #expect(program.instructions.count < 420)
        for nr in 0..<400 { #expect(try run(program, sc(Int32(nr))) == .allow) }
        #expect(try run(program, sc(400)) == .killProcess)
    }

    @Test func tooLongProgramIsRejected() {
        let huge = SeccompPolicy(rules: [
            SyscallRule(name: "x", number: 1, arguments: [.oneOf(0, (0..<5000).map(UInt64.init))], why: "t"),
        ])
        #expect(throws: SeccompError.self) { try huge.compile() }
    }

    // MARK: the interpreter and the checker themselves

    @Test func interpreterRunsHandwrittenPrograms() throws {
        // A = nr; X = A; A = 3; A += X; A &= 0xff; jset #4 -> ret A, else ret #1
        let p = BPFProgram(instructions: [
            .load(0),
            BPFInstruction(code: BPFInstruction.tax),
            BPFInstruction(code: BPFInstruction.ldImm, k: 3),
            BPFInstruction(code: UInt16(BPF_ALU | BPF_ADD | BPF_X)),
            .and(0xff),
            BPFInstruction(code: BPFInstruction.jsetK, jt: 0, jf: 1, k: 4),
            BPFInstruction(code: BPFInstruction.retA),
            .ret(1),
        ])
        #expect(try BPFInterpreter.run(p, on: sc(1)) == 4)   // 1 + 3 = 4: bit 2 set -> ret A
        #expect(try BPFInterpreter.run(p, on: sc(0)) == 1)   // 3: bit 2 clear
        #expect(try BPFInterpreter.run(p, on: sc(0x1fe)) == 1)  // (0x1fe + 3) & 0xff = 1
    }

    @Test func checkerRejectsWhatTheKernelWould() {
        let bad: [[BPFInstruction]] = [
            [],
            [.load(0)],                                             // no final return
            [.jump(1), .ret(0)],                                     // ja past the end
            [BPFInstruction(code: BPFInstruction.jeqK, jt: 1, jf: 0, k: 0), .ret(0)],
            [.load(64), .ret(0)],                                    // beyond seccomp_data
            [.load(2), .ret(0)],                                     // unaligned
            [BPFInstruction(code: UInt16(BPF_LD | BPF_H | BPF_ABS), k: 0), .ret(0)],  // not allowed in seccomp
            [BPFInstruction(code: UInt16(BPF_ALU | BPF_DIV | BPF_K), k: 0), .ret(0)],
            Array(repeating: .ret(0), count: BPFProgram.maxInstructions + 1),
        ]
        for p in bad {
            #expect(throws: SeccompError.self) { try BPFProgram(instructions: p).validate() }
        }
        #expect(throws: Never.self) { try BPFProgram(instructions: [.ret(0)]).validate() }
    }

    @Test func disassemblyIsReadable() throws {
        let program = try SeccompPolicy.hvt(vcpuFD: vcpuFD, consoleFDs: [1], deviceFDs: [], kvmRunRequests: [kvmRun]).compile()
        let text = program.description
        #expect(text.contains("ld [4]  ; arch"))
        #expect(text.contains("ret KILL_PROCESS"))
        #expect(text.contains("ret ALLOW"))
        #expect(text.contains("jeq #0xae80"))
    }
}
#endif
