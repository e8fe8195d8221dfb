// The tenders' allow-lists. Everything a tender may still do once the guest runs is listed
// here, one rule per system call, each with the reason it is needed; anything else kills
// the process. KVM ioctl request numbers come in as parameters (from the C shim), so this
// file needs no KVM headers.
//
// Nothing here lets the process grow, map, remap or re-protect memory, change its signal
// mask or handlers, or touch a descriptor it was not handed: the tender does not allocate
// from the kernel after confinement (Confinement.prepare grows the heap once, malloc is told
// never to mmap or trim), so on spt --mem plus Confinement.heapReserve is a hard bound.
//
// spt allow-list beside Solo5 spt's (tenders/spt/spt_core.c, spt_module_net.c, _block.c):
//
//   syscall        Swiftlet spt: argument constraint        Solo5 spt                     why
//   -------------  ---------------------------------------  ----------------------------  ------------------------------
//   write          fd in {1, 2} + device fds                fd == 1; fd == netfd          console (stdout, crash report
//                  + recording fds                                                        on stderr), frames out, --pcap
//   writev         fd in {1, 2} + device fds                (none)                        length-prefixed frames to passt
//                                                                                         (header + frame, one call)
//   read           fd in device fds                         fd == netfd                   frames in
//   ppoll          sigmask (arg 3) == NULL                  sigmask == NULL               the guest's yield; also its
//                                                                                         sleep when it has no devices
//   clock_gettime  clock in {REALTIME, MONOTONIC}           MONOTONIC; REALTIME           guest clocks when the vDSO
//                                                                                         falls back to the system call
//   exit_group     (any status)                             (any)                         the guest halts or crashes
//   pread64 /      (no block devices yet)                   fd == blockfd, len == block   block devices
//   pwrite64                                                size, off <= capacity - size
//
// Denied on purpose, although a Swift process usually makes them: brk, mmap, munmap, mremap,
// madvise, mprotect (the heap is reserved before confinement); rt_sigprocmask, rt_sigaction,
// rt_sigreturn, sigaltstack (a guest could block or ignore SIGTERM, or forge a signal frame
// whose mask blocks it: the crash handlers never return, they exit); futex (single thread,
// locks are never contended); getrandom (seeds are drawn before confinement); nanosleep and
// clock_nanosleep (ppoll with no descriptors sleeps); exit (no threads).
//
// hvt adds one rule: ioctl on the vCPU descriptor with KVM_RUN, KVM_GET_REGS, KVM_GET_SREGS.
//
// hvt under `--gdb` (and only then) adds what serving one debugger takes: read, write and
// close on the one connection (accepted, and the listener closed, before the filter goes on),
// more vCPU ioctls (set registers, read the FPU), and rt_sigreturn, because the debugger's
// bytes arrive as SIGIO, whose handler kicks the vCPU out of KVM_RUN. rt_sigreturn is denied
// on spt because the guest could forge a signal frame; an hvt guest makes no system calls.

#if os(Linux)
import Glibc
import CTender

extension SeccompPolicy {
    /// spt: the guest runs as code in this process, so the filter is the whole sandbox.
    public static func spt(consoleFDs: [Int32], deviceFDs: [Int32], recordingFDs: [Int32] = []) -> SeccompPolicy {
        SeccompPolicy(rules: commonRules(consoleFDs: consoleFDs, deviceFDs: deviceFDs, recordingFDs: recordingFDs))
    }

    /// hvt: the tender runs the vCPU loop; the guest itself never makes host system calls.
    /// `kvmRunRequests` are the ioctl request numbers allowed on `vcpuFD` (KVM_RUN,
    /// KVM_GET_REGS, ...), as the unsigned 64-bit values the kernel sees.
    public static func hvt(vcpuFD: Int32, consoleFDs: [Int32], deviceFDs: [Int32], recordingFDs: [Int32] = [],
                           kvmRunRequests: [UInt64], debugger: Debugger? = nil) -> SeccompPolicy {
        var rules: [SyscallRule] = []
        if !kvmRunRequests.isEmpty {
            // First: KVM_RUN is the hot path of every hvt exit.
            rules.append(SyscallRule(name: "ioctl", number: SYS_ioctl,
                                     arguments: [.equals(0, fd(vcpuFD)), .oneOf(1, kvmRunRequests)],
                                     why: "run the vCPU and read/write its state on guest exits"))
        }
        rules += commonRules(consoleFDs: consoleFDs, deviceFDs: deviceFDs, recordingFDs: recordingFDs)
        if let debugger { rules += debuggerRules(debugger, vcpuFD: vcpuFD) }
        return SeccompPolicy(rules: rules)
    }

    /// `--gdb` on hvt: the connected client and the vCPU ioctls a debugger needs beyond KVM_RUN's.
    public struct Debugger: Equatable, Sendable {
        public var connectionFD: Int32
        public var vcpuStateRequests: [UInt64]
        public init(connectionFD: Int32, vcpuStateRequests: [UInt64]) {
            self.connectionFD = connectionFD
            self.vcpuStateRequests = vcpuStateRequests
        }
    }

    private static func debuggerRules(_ debugger: Debugger, vcpuFD: Int32) -> [SyscallRule] {
        let connection = fd(debugger.connectionFD)
        var rules = [
            SyscallRule(name: "read", number: SYS_read, arguments: [.equals(0, connection)],
                        why: "--gdb: packets from the debugger"),
            SyscallRule(name: "write", number: SYS_write, arguments: [.equals(0, connection)],
                        why: "--gdb: replies to the debugger"),
            SyscallRule(name: "close", number: SYS_close, arguments: [.equals(0, connection)],
                        why: "--gdb: hang up on detach or kill (the guest may run on without it)"),
            SyscallRule(name: "rt_sigreturn", number: SYS_rt_sigreturn,
                        why: "--gdb: return from the SIGIO handler that kicks the vCPU when the debugger sends Ctrl-C (an hvt guest makes no system calls, so cannot forge a frame)"),
        ]
        if !debugger.vcpuStateRequests.isEmpty {
            rules.append(SyscallRule(name: "ioctl", number: SYS_ioctl,
                                     arguments: [.equals(0, fd(vcpuFD)), .oneOf(1, debugger.vcpuStateRequests)],
                                     why: "--gdb: write registers (breakpoints, steps, the debugger's G/P) and read the FPU"))
        }
        return rules
    }

    private static func fd(_ fd: Int32) -> UInt64 {
        precondition(fd >= 0, "seccomp policy: negative file descriptor \(fd)")
        return UInt64(fd)
    }

    /// `recordingFDs`: files opened before confinement that the tender appends to (the
    /// --pcap capture): `write` only, never `read`.
    private static func commonRules(consoleFDs: [Int32], deviceFDs: [Int32], recordingFDs: [Int32]) -> [SyscallRule] {
        let streams = (consoleFDs + deviceFDs).map(fd)
        let writable = streams + recordingFDs.map(fd)
        let readable = deviceFDs.map(fd)

        var rules: [SyscallRule] = []
        if !writable.isEmpty {
            rules.append(SyscallRule(name: "write", number: SYS_write, arguments: [.oneOf(0, writable)],
                                     why: "console output from the guest, crash reports, device (net) writes, and the --pcap capture the user asked for"))
        }
        if !streams.isEmpty {
            rules.append(SyscallRule(name: "writev", number: SYS_writev, arguments: [.oneOf(0, streams)],
                                     why: "a frame and its length prefix to passt in one call"))
        }
        if !readable.isEmpty {
            rules.append(SyscallRule(name: "read", number: SYS_read, arguments: [.oneOf(0, readable)],
                                     why: "device (net) reads for the guest"))
        }
        rules += [
            SyscallRule(name: "ppoll", number: SYS_ppoll, arguments: [.equals(3, 0)],
                        why: "the guest's yield (device input or a deadline), and its sleep without devices; a NULL sigmask, so no signal can be blocked while waiting"),
            SyscallRule(name: "clock_gettime", number: SYS_clock_gettime,
                        arguments: [.oneOf(0, [UInt64(CLOCK_REALTIME), UInt64(CLOCK_MONOTONIC)])],
                        why: "the guest's wall and monotonic clocks when the vDSO falls back to the system call"),
            SyscallRule(name: "exit_group", number: SYS_exit_group,
                        why: "the guest halts or crashes: end the tender with its status"),
        ]
        return rules
    }
}
#endif
