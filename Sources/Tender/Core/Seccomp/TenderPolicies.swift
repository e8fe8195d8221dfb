// The tenders' allow-lists. Everything a tender may still do once the guest runs is listed
// here, one rule per system call, each with the reason it is needed; anything else kills
// the process. KVM ioctl request numbers come in as parameters (from the C shim), so this
// file needs no KVM headers.
//
// Nothing here lets the process grow, map, remap or re-protect memory, change its signal
// mask or handlers, or touch a descriptor it was not handed: the tender does not allocate
// from the kernel after confinement (Confinement.prepare maps the heap's reserve once, and the
// tenders' malloc, CShimMusl/tender_heap.c, never maps or unmaps after that), so on spt --mem
// plus Confinement.heapReserve is a hard bound.
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
//   readv          fd in device fds                         (none)                        a tap's virtio-net header and
//                                                                                         frame in one call
//   ioctl          fd in device fds, TUNSETOFFLOAD with     (none: no offload)            NET_CONFIGURE turns on a tap's
//                  CSUM|TSO4 exactly                                                      checksum and TSO offload
//   ppoll          sigmask (arg 3) == NULL                  sigmask == NULL               the guest's yield; also its
//                                                                                         sleep when it has no devices
//   clock_gettime  clock in {REALTIME, MONOTONIC}           MONOTONIC; REALTIME           guest clocks when the vDSO
//                                                                                         falls back to the system call
//   exit_group     (any status)                             (any)                         the guest halts or crashes
//   kill           pid == the tender's own, SIGTERM or SIGINT (none)                          a shutdown signal that ends
//                                                                                         the guest re-raises itself
//   alarm          seconds == the grace period (if not 0)   (none)                        the grace period's deadline
//   pread64 /      fd == diskfd, len < 2 MiB, off < the     fd == blockfd, len == block   block devices
//   pwrite64       power of two at or above the capacity    size, off <= capacity - size  (the exact rules, alignment
//                  (per disk)                                                             and off + len <= capacity, are
//                                                                                         BlockRequestCheck's, before)
//   fdatasync      fd == diskfd                             (none: no flush)              BLOCK_FLUSH
//
// Denied on purpose, although a Swift process usually makes them: brk, mmap, munmap, mremap,
// madvise, mprotect (the heap is reserved before confinement); rt_sigprocmask, rt_sigaction,
// rt_sigreturn, sigaltstack (a guest could block or ignore SIGTERM, or forge a signal frame
// whose mask blocks it: the crash handlers never return, they exit); futex (single thread,
// locks are never contended); getrandom (seeds are drawn before confinement); nanosleep and
// clock_nanosleep (ppoll with no descriptors sleeps); exit (no threads). The shutdown signal
// handlers (Sources/Tender/CShim/shutdown.c) need none of these: they are installed before
// confinement with SA_RESETHAND | SA_NODEFER, and resume the guest without rt_sigreturn.
//
// hvt adds one rule: ioctl on the vCPU descriptor with KVM_RUN, KVM_GET_REGS, KVM_GET_SREGS
// (before the tap's ioctl rule, as the hot path).
//
// hvt with exitless network rings (a second CPU, a guest that attaches them) adds read and write
// on the rings' two eventfds and futex (wait/wake, private) for the lock of the tenders' malloc,
// which the vCPU thread and the I/O thread share (a contended musl mutex waits and wakes with
// FUTEX_PRIVATE_FLAG). The filter is installed with TSYNC, so the I/O thread runs under it too.
//
// hvt under `--gdb` (and only then) adds what serving one debugger takes: read, write and
// close on the one connection (accepted, and the listener closed, before the filter goes on),
// more vCPU ioctls (set registers, read the FPU), and rt_sigreturn, because the debugger's
// bytes arrive as SIGIO, whose handler kicks the vCPU out of KVM_RUN. rt_sigreturn is denied
// on spt because the guest could forge a signal frame; an hvt guest makes no system calls.

#if os(Linux)
import CTender
import SwiftletABI

/// A disk as the allow-list sees it: its descriptor and its capacity in bytes.
public struct TenderDisk: Equatable, Sendable {
    public var fd: Int32
    public var capacity: UInt64
    public init(fd: Int32, capacity: UInt64) {
        self.fd = fd
        self.capacity = capacity
    }
}

extension SeccompPolicy {
    /// spt: the guest runs as code in this process, so the filter is the whole sandbox.
    public static func spt(consoleFDs: [Int32], deviceFDs: [Int32], recordingFDs: [Int32] = [], disks: [TenderDisk] = [],
                           shutdown: ShutdownSignals.Policy? = nil) -> SeccompPolicy {
        SeccompPolicy(rules: commonRules(consoleFDs: consoleFDs, deviceFDs: deviceFDs, recordingFDs: recordingFDs, shutdown: shutdown) + diskRules(disks))
    }

    /// hvt: the tender runs the vCPU loop; the guest itself never makes host system calls.
    /// `kvmRunRequests` are the ioctl request numbers allowed on `vcpuFD` (KVM_RUN,
    /// KVM_GET_REGS, ...), as the unsigned 64-bit values the kernel sees.
    /// `ringFDs`: the exitless rings' eventfds (NetworkRings), when the I/O thread runs.
    public static func hvt(vcpuFD: Int32, consoleFDs: [Int32], deviceFDs: [Int32], recordingFDs: [Int32] = [],
                           disks: [TenderDisk] = [], shutdown: ShutdownSignals.Policy? = nil, kvmRunRequests: [UInt64], debugger: Debugger? = nil,
                           ringFDs: [Int32] = []) -> SeccompPolicy {
        var rules: [SyscallRule] = []
        if !kvmRunRequests.isEmpty {
            // First: KVM_RUN is the hot path of every hvt exit.
            rules.append(SyscallRule(name: "ioctl", number: SYS_ioctl,
                                     arguments: [.equals(0, fd(vcpuFD)), .oneOf(1, kvmRunRequests)],
                                     why: "run the vCPU and read/write its state on guest exits"))
        }
        rules += commonRules(consoleFDs: consoleFDs, deviceFDs: deviceFDs, recordingFDs: recordingFDs, shutdown: shutdown) + diskRules(disks)
        if let debugger { rules += debuggerRules(debugger, vcpuFD: vcpuFD) }
        if !ringFDs.isEmpty { rules += ringRules(ringFDs) }
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

    /// pread64/pwrite64 on each disk's descriptor only, with the length and offset bounded by
    /// masks (a classic-BPF filter compares for equality; the exact checks come before the call),
    /// and fdatasync on it for BLOCK_FLUSH.
    private static func diskRules(_ disks: [TenderDisk]) -> [SyscallRule] {
        guard !disks.isEmpty else { return [] }
        let lengthMask = ~(UInt64(SWIFTLET_BLOCK_IO_MAX) * 2 - 1)
        let transfers = disks.map { disk -> [ArgumentMatch] in
            var bound: UInt64 = 1
            while bound < disk.capacity && bound < 1 << 62 { bound <<= 1 }
            return [.equals(0, fd(disk.fd)), .maskedEquals(2, lengthMask, 0), .maskedEquals(3, ~(bound - 1), 0)]
        }
        return [
            SyscallRule(name: "pread64", number: SYS_pread64, anyOf: transfers,
                        why: "BLOCK_READ: the guest's disk, never another descriptor, never past the disk's size rounded up to a power of two"),
            SyscallRule(name: "pwrite64", number: SYS_pwrite64, anyOf: transfers,
                        why: "BLOCK_WRITE: as pread64"),
            SyscallRule(name: "fdatasync", number: SYS_fdatasync, anyOf: disks.map { [.equals(0, fd($0.fd))] },
                        why: "BLOCK_FLUSH: acknowledged writes onto stable storage"),
        ]
    }

    /// The exitless rings: a second thread, and the eventfds by which it and the vCPU thread
    /// wake each other. (Its device reads and writes, ppoll and clock are the common rules'.)
    private static func ringRules(_ ringFDs: [Int32]) -> [SyscallRule] {
        let eventFDs = ringFDs.map(fd)
        return [
            SyscallRule(name: "read", number: SYS_read, arguments: [.oneOf(0, eventFDs)],
                        why: "rings: drain the wake-ups (the guest's kicks, the I/O thread's signal to a sleeping POLL)"),
            SyscallRule(name: "write", number: SYS_write, arguments: [.oneOf(0, eventFDs)],
                        why: "rings: wake the other thread (a POLL sleeping while frames arrived; the I/O thread on a kick that exited)"),
            SyscallRule(name: "futex", number: SYS_futex,
                        arguments: [.oneOf(1, [ctender_futex_wait_private(), ctender_futex_wake_private()])],
                        why: "rings: malloc's lock, when the vCPU thread and the I/O thread allocate at once (private wait and wake only)"),
        ]
    }

    private static func fd(_ fd: Int32) -> UInt64 {
        precondition(fd >= 0, "seccomp policy: negative file descriptor \(fd)")
        return UInt64(fd)
    }

    /// `recordingFDs`: files opened before confinement that the tender appends to (the
    /// --pcap capture): `write` only, never `read`. `shutdown`: the wake-up pipe's write end
    /// (write only), and the shutdown signal handlers' kill and alarm.
    private static func commonRules(consoleFDs: [Int32], deviceFDs: [Int32], recordingFDs: [Int32],
                                    shutdown: ShutdownSignals.Policy?) -> [SyscallRule] {
        let streams = (consoleFDs + deviceFDs).map(fd)
        let writable = streams + recordingFDs.map(fd) + (shutdown.map { [fd($0.wakeFD)] } ?? [])
        let readable = deviceFDs.map(fd)

        var rules: [SyscallRule] = []
        if !writable.isEmpty {
            rules.append(SyscallRule(name: "write", number: SYS_write, arguments: [.oneOf(0, writable)],
                                     why: "console output from the guest, crash reports, device (net) writes, the --pcap capture the user asked for, and the byte that wakes the guest's poll for a shutdown request"))
        }
        if !streams.isEmpty {
            rules.append(SyscallRule(name: "writev", number: SYS_writev, arguments: [.oneOf(0, streams)],
                                     why: "a frame and its length prefix to passt in one call"))
        }
        if !readable.isEmpty {
            rules.append(SyscallRule(name: "read", number: SYS_read, arguments: [.oneOf(0, readable)],
                                     why: "device (net) reads for the guest"))
            rules.append(SyscallRule(name: "readv", number: SYS_readv, arguments: [.oneOf(0, readable)],
                                     why: "a tap's frame and its virtio-net header in one call"))
            rules.append(SyscallRule(name: "ioctl", number: SYS_ioctl,
                                     arguments: [.oneOf(0, readable), .equals(1, ctender_tap_offload_request()),
                                                 .equals(2, ctender_tap_offload_flags())],
                                     why: "NET_CONFIGURE: turn on a tap's checksum and TCP segmentation offload (TUNSETOFFLOAD with those flags only; a socket answers ENOTTY)"))
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
        if let shutdown {
            rules.append(SyscallRule(name: "kill", number: SYS_kill,
                                     arguments: [.equals(0, UInt64(UInt32(bitPattern: shutdown.ownPID))),
                                                 .oneOf(1, [UInt64(SIGTERM), UInt64(SIGINT)])],
                                     why: "a shutdown signal that ends the guest re-raises itself (its handler reset on delivery), so the tender dies by it as by an unhandled signal; towards this process only, these two signals only"))
            if shutdown.gracePeriodSeconds > 0 {
                rules.append(SyscallRule(name: "alarm", number: SYS_alarm,
                                         arguments: [.equals(0, UInt64(shutdown.gracePeriodSeconds))],
                                         why: "arm the grace period's deadline at the first shutdown request; with that period only, so it cannot be cancelled (alarm(0))"))
            }
        }
        return rules
    }
}
#endif
