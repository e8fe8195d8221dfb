// The tenders' allow-lists. Everything a tender may still do once the guest runs is listed
// here, one rule per system call, each with the reason it is needed; anything else kills
// the process. KVM ioctl request numbers come in as parameters (from the C shim), so this
// file needs no KVM headers.

#if os(Linux)
import Glibc
import CTender

extension SeccompPolicy {
    /// spt: the guest runs as code in this process, so the filter is the whole sandbox.
    public static func spt(consoleFDs: [Int32], deviceFDs: [Int32]) -> SeccompPolicy {
        SeccompPolicy(rules: commonRules(consoleFDs: consoleFDs, deviceFDs: deviceFDs))
    }

    /// hvt: the tender runs the vCPU loop; the guest itself never makes host system calls.
    /// `kvmRunRequests` are the ioctl request numbers allowed on `vcpuFD` (KVM_RUN,
    /// KVM_GET_REGS, ...), as the unsigned 64-bit values the kernel sees.
    public static func hvt(vcpuFD: Int32, consoleFDs: [Int32], deviceFDs: [Int32],
                           kvmRunRequests: [UInt64]) -> SeccompPolicy {
        var rules: [SyscallRule] = []
        if !kvmRunRequests.isEmpty {
            // First: KVM_RUN is the hot path of every hvt exit.
            rules.append(SyscallRule(name: "ioctl", number: SYS_ioctl,
                                     arguments: [.equals(0, fd(vcpuFD)), .oneOf(1, kvmRunRequests)],
                                     why: "run the vCPU and read/write its state on guest exits"))
        }
        rules += commonRules(consoleFDs: consoleFDs, deviceFDs: deviceFDs)
        return SeccompPolicy(rules: rules)
    }

    private static func fd(_ fd: Int32) -> UInt64 {
        precondition(fd >= 0, "seccomp policy: negative file descriptor \(fd)")
        return UInt64(fd)
    }

    private static func commonRules(consoleFDs: [Int32], deviceFDs: [Int32]) -> [SyscallRule] {
        let writable = (consoleFDs + deviceFDs).map(fd)
        let readable = deviceFDs.map(fd)
        let noExec = ArgumentMatch.maskedEquals(2, UInt64(PROT_EXEC), 0)

        var rules: [SyscallRule] = []
        if !writable.isEmpty {
            rules += [
                SyscallRule(name: "write", number: SYS_write, arguments: [.oneOf(0, writable)],
                            why: "console output from the guest, and device (net/block) writes"),
                SyscallRule(name: "writev", number: SYS_writev, arguments: [.oneOf(0, writable)],
                            why: "gathered console/device writes (stdio and packet headers)"),
            ]
        }
        if !readable.isEmpty {
            rules += [
                SyscallRule(name: "read", number: SYS_read, arguments: [.oneOf(0, readable)],
                            why: "device (net/block) reads for the guest"),
                SyscallRule(name: "readv", number: SYS_readv, arguments: [.oneOf(0, readable)],
                            why: "scattered device reads for the guest"),
            ]
        }
        rules += [
            SyscallRule(name: "ppoll", number: SYS_ppoll,
                        why: "the guest's yield: wait for device input or a deadline"),
            SyscallRule(name: "clock_gettime", number: SYS_clock_gettime,
                        why: "guest monotonic/wall clock when the vDSO falls back to the syscall"),
            SyscallRule(name: "clock_nanosleep", number: SYS_clock_nanosleep,
                        why: "the guest's sleep without devices to poll"),
            SyscallRule(name: "nanosleep", number: SYS_nanosleep,
                        why: "older libc sleep path for the same"),
            SyscallRule(name: "exit_group", number: SYS_exit_group,
                        why: "the guest halts: end the tender with its exit status"),
            SyscallRule(name: "exit", number: SYS_exit,
                        why: "a runtime thread ends"),
            SyscallRule(name: "rt_sigreturn", number: SYS_rt_sigreturn,
                        why: "return from the tender's own signal handlers (crash reports, timers)"),
            SyscallRule(name: "rt_sigprocmask", number: SYS_rt_sigprocmask,
                        why: "libc and the Swift runtime block signals around critical sections"),
            SyscallRule(name: "getrandom", number: SYS_getrandom,
                        why: "entropy for the guest and for Swift's hashing seed"),
            SyscallRule(name: "brk", number: SYS_brk,
                        why: "malloc growing the heap"),
            SyscallRule(name: "mmap", number: SYS_mmap, arguments: [noExec],
                        why: "malloc and runtime allocations; never executable (prot & PROT_EXEC == 0)"),
            SyscallRule(name: "munmap", number: SYS_munmap,
                        why: "malloc returning memory"),
            SyscallRule(name: "madvise", number: SYS_madvise,
                        why: "malloc releasing pages (MADV_DONTNEED)"),
            SyscallRule(name: "mprotect", number: SYS_mprotect, arguments: [noExec],
                        why: "guard pages and RELRO; nothing becomes executable (prot & PROT_EXEC == 0)"),
            SyscallRule(name: "futex", number: SYS_futex,
                        why: "locks and once-initialisation in libc and the Swift runtime"),
        ]
        return rules
    }
}
#endif
