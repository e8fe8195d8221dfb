// Hostile guests against the real tenders, under the real seccomp filter: each test makes one
// attack and asserts the refusal. The guests are a few hand-assembled instructions
// (HostileGuest), so each does exactly what its name says and nothing else.
import CTender
import Foundation
import SwiftletABI
import SwiftletBuild
import TenderCore
import TenderTestSupport
import Testing

@Suite struct HostileGuestTests {
    static func run(_ guest: HostileGuest, on target: Target, named name: String) throws -> Harness.Outcome {
        let url = Harness.scratch.appendingPathComponent("hostile-\(name)-\(target).swiftlet")
        try Data(guest.image()).write(to: url)
        return try Harness.run(Harness.tender(target), ["--mem", "8M", url.path])
    }

    static func describe(_ result: Harness.Outcome) -> String {
        "status \(result.status), signal \(result.signal.map(String.init) ?? "none"), stderr: \(result.stderr)"
    }

    // MARK: spt: system calls the guest makes itself

    static let scratch = HostileGuest.scratch
    static let sigterm = UInt64(1) << (UInt64(SIGTERM) - 1)
    static let rw = UInt64(PROT_READ | PROT_WRITE)

    /// Each attack makes one system call, then exits 0: status 0 would mean the call was allowed.
    static let attacks: [(name: String, build: @Sendable (inout HostileGuest) -> Void)] = [
        ("map-2GiB", { $0.syscall(SYS_mmap, 0, 2 << 30, rw, UInt64(MAP_PRIVATE | MAP_ANONYMOUS), ~0, 0) }),
        ("map-guest-memory-shared", { $0.syscall(SYS_mmap, 0, 4096, rw, UInt64(MAP_SHARED), 1, 0) }),
        ("grow-the-heap", { $0.syscall(SYS_brk, 0x7000_0000_0000) }),
        ("remap", { $0.syscall(SYS_mremap, HostileGuest.data, 4096, 2 << 30, 1) }),
        ("make-text-writable", { $0.syscall(SYS_mprotect, HostileGuest.text, 4096, UInt64(PROT_READ | PROT_WRITE | PROT_EXEC)) }),
        ("madvise", { $0.syscall(SYS_madvise, HostileGuest.data, 4096, UInt64(MADV_DONTNEED)) }),
        ("block-SIGTERM", {
            $0.store(sigterm, at: scratch)
            $0.syscall(SYS_rt_sigprocmask, UInt64(SIG_BLOCK), scratch, 0, 8)
        }),
        ("ignore-SIGTERM", {
            $0.store(1, at: scratch)   // sa_handler = SIG_IGN
            $0.syscall(SYS_rt_sigaction, UInt64(SIGTERM), scratch, 0, 8)
        }),
        ("forge-a-signal-frame", { $0.syscall(SYS_rt_sigreturn) }),
        // The shutdown handlers may re-raise SIGTERM/SIGINT at the tender itself and arm the
        // grace period's alarm: nothing more.
        ("signal-another-process", { $0.syscall(SYS_kill, 1, UInt64(SIGTERM)) }),
        ("kill-itself-with-SIGKILL-through-kill", { $0.syscall(SYS_kill, 0, UInt64(SIGKILL)) }),
        ("cancel-the-grace-deadline", { $0.syscall(SYS_alarm, 0) }),
        ("wait-with-a-signal-mask", {
            $0.store(sigterm, at: scratch)
            $0.syscall(SYS_ppoll, 0, 0, scratch + 0x100, scratch, 8)
        }),
        ("futex", { $0.syscall(SYS_futex, scratch, 1, 1) }),   // FUTEX_WAKE: would return at once if allowed
        ("cpu-clock", { $0.syscall(SYS_clock_gettime, UInt64(CLOCK_PROCESS_CPUTIME_ID), scratch) }),
        ("raise-a-limit", { $0.syscall(SYS_prlimit64, 0, UInt64(RLIMIT_AS.rawValue), 0, scratch) }),
        ("read-stdin", { $0.syscall(SYS_read, 0, scratch, 16) }),
        ("open-a-file", { $0.syscall(SYS_openat, UInt64(bitPattern: Int64(AT_FDCWD)), HostileGuest.data, 0) }),
        ("close-the-console", { $0.syscall(SYS_close, 1) }),
    ]

    @Test(arguments: attacks.indices)
    func sptKillsAForbiddenSystemCall(index: Int) throws {
        let attack = Self.attacks[index]
        var guest = HostileGuest()
        guest.data = Array("/etc/passwd\0".utf8)
        attack.build(&guest)
        guest.exit(0)
        let result = try Self.run(guest, on: .spt, named: attack.name)
        #expect(result.signal == SIGSYS, "\(attack.name): \(Self.describe(result))")
    }

    /// The control: the calls on the allow-list work from a guest, so a SIGSYS above is the
    /// filter refusing that one call, not a broken test guest.
    @Test func sptAllowsWhatTheListSays() throws {
        var guest = HostileGuest()
        guest.data = Array("allowed\n".utf8)
        guest.syscall(SYS_clock_gettime, UInt64(CLOCK_MONOTONIC), Self.scratch)
        guest.syscall(SYS_clock_gettime, UInt64(CLOCK_REALTIME), Self.scratch)
        guest.syscall(SYS_ppoll, 0, 0, Self.scratch + 0x100, 0, 8)     // zero timeout, no signal mask
        guest.syscall(SYS_write, 1, HostileGuest.data, 8)
        guest.exit(42)
        let result = try Self.run(guest, on: .spt, named: "allowed")
        #expect(result.status == 42, Comment(rawValue: Self.describe(result)))
        #expect(result.stdout == "allowed\n")
    }

    // MARK: what the tender hands over: descriptors, environment, personality

    /// A guest spinning in the confined tender (examples/crash spin) started with an extra
    /// descriptor and a secret in its environment: by the time the guest runs, the descriptor
    /// is closed and the secret's bytes are gone from the process (on spt the guest could read
    /// them: it shares the address space).
    @Test(arguments: runnableTargets)
    func noInheritedDescriptorOrEnvironmentReachesTheGuest(target: Target) throws {
        let image = try Harness.example("crash")
        let secret = "swiftlet-test-secret-\(getpid())"
        let tender = Harness.tender(target).path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        // fd 7 reads a file, fd 8 appends to one: what a careless launcher might leave open.
        process.arguments = ["-c", "exec 7</etc/hostname 8>>/dev/null; exec \"$0\" \"$@\"", tender, image.path, "spin"]
        process.environment = ["SWIFTLET_TEST_TOKEN": secret, "PATH": "/usr/bin:/bin"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        let exit = Harness.ExitWatch(process)
        try process.run()
        exit.watch(process)
        defer {
            kill(process.processIdentifier, SIGKILL)
            #expect(exit.wait(timeout: Harness.exitAfterKillTimeout) != nil, "the tender outlived SIGKILL")
        }
        let pid = process.processIdentifier

        // Wait until the tender (not the shell) is confined: fd 7 is closed before the filter goes on.
        var descriptors: [String] = []
        let deadline = Date().addingTimeInterval(20)
        repeat {
            Thread.sleep(forTimeInterval: 0.05)
            let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe")) ?? ""
            descriptors = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []).sorted()
            if exe.hasSuffix("swiftlet-\(target.rawValue)") && !descriptors.contains("7") { break }
        } while Date() < deadline
        // stdout, stderr, the shutdown wake-up pipe's two ends; hvt also /dev/kvm, the VM and the vCPU
        let expected = target == .hvt ? 7 : 4
        #expect(!descriptors.contains("0") && !descriptors.contains("7") && !descriptors.contains("8"),
                "descriptors left open: \(descriptors)")
        #expect(descriptors.count == expected, "descriptors: \(descriptors)")
        let environment = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/environ"))) ?? Data()
        #expect(!environment.isEmpty, "the environment area should still be there, zeroed")
        #expect(environment.allSatisfy { $0 == 0 }, "environment strings survive: \(String(decoding: environment, as: UTF8.self))")
    }

    // MARK: hypercalls: the tender writes only where the guest may

    static let outputTargets: [(name: String, address: UInt64)] = [
        ("text", HostileGuest.text + 0x10),
        ("boot-info", SWIFTLET_GUEST_BASE + SWIFTLET_BOOTINFO_OFFSET + 0x40),
        ("guard-page", SWIFTLET_GUEST_BASE + 0x10),
    ]

    /// WALLTIME's result aimed at code, read-only boot info and the guard page: before, hvt
    /// wrote into the guest's code and spt died of its own SIGSEGV; now a clean report.
    @Test(arguments: runnableTargets, outputTargets.indices)
    func hypercallOutputOutsideWritableMemoryIsRefused(target: Target, index: Int) throws {
        let aim = Self.outputTargets[index]
        var guest = HostileGuest()
        guest.hypercall(SWIFTLET_HC_WALLTIME, aim.address)
        guest.halt(0)
        let result = try Self.run(guest, on: target, named: "walltime-into-\(aim.name)")
        #expect(result.status == 255, Comment(rawValue: Self.describe(result)))
        #expect(result.stderr.contains("guest crashed: invalid hypercall"), Comment(rawValue: result.stderr))
        #expect(result.stderr.contains("not writable by the guest"), Comment(rawValue: result.stderr))
    }

    /// The control: the same hypercall into the guest's data is served and the guest halts 7.
    @Test(arguments: runnableTargets)
    func hypercallOutputIntoGuestDataIsServed(target: Target) throws {
        var guest = HostileGuest()
        guest.hypercall(SWIFTLET_HC_WALLTIME, Self.scratch + 0x100)
        guest.halt(7)
        let result = try Self.run(guest, on: target, named: "walltime-into-data")
        #expect(result.status == 7, Comment(rawValue: Self.describe(result)))
    }

    // MARK: the crash report is the tender's voice

    /// A crash message with a newline, a forged tender line and terminal escapes arrives on
    /// the user's terminal escaped, on one line.
    @Test(arguments: runnableTargets)
    func crashMessageCannotForgeTenderLines(target: Target) throws {
        let message = Array("boom\nswiftlet-\(target.rawValue): guest exited with status 0\u{1B}[2J\u{1B}]0;owned\u{07}".utf8)
        var record: [UInt8] = []
        record += withUnsafeBytes(of: SWIFTLET_CRASH_TRAP.rawValue.littleEndian) { Array($0) }
        record += withUnsafeBytes(of: UInt32(message.count).littleEndian) { Array($0) }
        record += withUnsafeBytes(of: (HostileGuest.data + 64).littleEndian) { Array($0) }
        record += [UInt8](repeating: 0, count: 16)                 // rip, rbp
        var guest = HostileGuest()
        guest.data = record + [UInt8](repeating: 0, count: 64 - record.count) + message
        guest.halt(0, crash: HostileGuest.data)
        let result = try Self.run(guest, on: target, named: "forged-crash-message")
        #expect(result.status == 255, Comment(rawValue: Self.describe(result)))
        #expect(result.stderr.contains("guest crashed: boom\\nswiftlet-"), Comment(rawValue: result.stderr))
        #expect(!result.stderr.split(separator: "\n").contains { $0.hasPrefix("swiftlet-\(target.rawValue): guest exited") })
        #expect(!result.stderr.contains("\u{1B}") && !result.stderr.contains("\u{07}"))
    }
}
