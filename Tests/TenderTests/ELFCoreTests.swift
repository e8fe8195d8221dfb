// --core: the ELF core layout field by field, and which guest memory it keeps.
import Glibc
import SwiftletABI
import Testing
@testable import TenderCore

@Suite struct ELFCoreTests {
    static func u16(_ b: [UInt8], _ o: Int) -> UInt64 { UInt64(b[o]) | UInt64(b[o + 1]) << 8 }
    static func u32(_ b: [UInt8], _ o: Int) -> UInt64 { u16(b, o) | u16(b, o + 2) << 16 }
    static func u64(_ b: [UInt8], _ o: Int) -> UInt64 { u32(b, o) | u32(b, o + 4) << 32 }

    static func state() -> CoreState {
        var registers = X86Registers()
        registers[.rip] = 0x1_0010_2345
        registers[.rsp] = 0x1_000E_FF00
        registers[.r15] = 0x1515
        registers[.gs] = 0x6767
        return CoreState(registers: registers, signal: 4, pid: 4242, programName: "crash.swiftlet-with-a-long-name",
                         arguments: "crash.swiftlet overflow")
    }

    @Test func headerProgramHeadersAndNotesAreWhereGdbLooks() {
        let runs = [ELFCoreLayout.Run(address: 0x1_0000_1000, count: 0x2000, flags: 6),
                    ELFCoreLayout.Run(address: 0x1_0010_0000, count: 0x1800, flags: 5)]
        let layout = ELFCoreLayout(state: Self.state(), runs: runs)
        let b = layout.headerBytes
        #expect(Array(b[0..<8]) == [0x7F, 0x45, 0x4C, 0x46, 2, 1, 1, 0])
        #expect(Self.u16(b, 16) == 4)            // ET_CORE
        #expect(Self.u16(b, 18) == 62)           // EM_X86_64
        #expect(Self.u64(b, 32) == 64)           // e_phoff
        #expect(Self.u16(b, 54) == 56)           // e_phentsize
        #expect(Self.u16(b, 56) == 3)            // PT_NOTE + 2 PT_LOAD

        // PT_NOTE first, then the loads at page-aligned offsets after the headers.
        #expect(Self.u32(b, 64) == 4)
        let notesOffset = Int(Self.u64(b, 64 + 8)), notesSize = Int(Self.u64(b, 64 + 32))
        #expect(notesOffset == 64 + 3 * 56)
        #expect(notesOffset + notesSize == b.count)
        for (index, run) in runs.enumerated() {
            let ph = 64 + 56 * (index + 1)
            #expect(Self.u32(b, ph) == 1)                       // PT_LOAD
            #expect(Self.u32(b, ph + 4) == UInt64(run.flags))
            #expect(Self.u64(b, ph + 8) % 4096 == 0)
            #expect(Self.u64(b, ph + 16) == run.address)
            #expect(Self.u64(b, ph + 32) == run.count)         // filesz
            #expect(Self.u64(b, ph + 40) == run.count)         // memsz
        }
        #expect(layout.runs[0].fileOffset == 4096)
        #expect(layout.runs[1].fileOffset == 4096 + 0x2000)
        #expect(layout.fileSize == 4096 + 0x2000 + 0x1800)

        // NT_PRSTATUS: namesz 5, descsz 336, type 1, "CORE\0" padded; registers at 112.
        let prstatus = notesOffset
        #expect(Self.u32(b, prstatus) == 5)
        #expect(Self.u32(b, prstatus + 4) == 336)
        #expect(Self.u32(b, prstatus + 8) == 1)
        #expect(Array(b[prstatus + 12 ..< prstatus + 17]) == Array("CORE".utf8) + [0])
        let desc = prstatus + 20
        #expect(Self.u32(b, desc) == 4)                          // si_signo SIGILL
        #expect(Self.u16(b, desc + 12) == 4)                     // pr_cursig
        #expect(Self.u32(b, desc + 32) == 4242)                  // pr_pid
        #expect(Self.u64(b, desc + 112) == 0x1515)               // r15 first
        #expect(Self.u64(b, desc + 112 + 16 * 8) == 0x1_0010_2345) // rip is register 16
        #expect(Self.u64(b, desc + 112 + 19 * 8) == 0x1_000E_FF00) // rsp is register 19
        #expect(Self.u64(b, desc + 112 + 26 * 8) == 0x6767)      // gs last

        // NT_PRPSINFO: type 3, 136 bytes, name cut to 15 bytes and NUL-padded.
        let prpsinfo = desc + 336
        #expect(Self.u32(b, prpsinfo + 4) == 136)
        #expect(Self.u32(b, prpsinfo + 8) == 3)
        let info = prpsinfo + 20
        #expect(Self.u32(b, info + 24) == 4242)
        #expect(Array(b[info + 40 ..< info + 56]) == Array("crash.swiftlet-".utf8) + [0])
        #expect(Array(b[info + 56 ..< info + 56 + 23]) == Array("crash.swiftlet overflow".utf8))
        #expect(prpsinfo + 20 + 136 == b.count)
    }

    /// Untouched (zero) pages are left out, short zero gaps are kept inside a run, and the
    /// runs split where the protection changes.
    @Test func runsKeepTouchedMemoryOnly() {
        let page = 4096
        var memory = [UInt8](repeating: 0, count: 64 * page)
        let base: UInt64 = 0x1_0000_0000
        memory[1 * page + 5] = 1          // page 1
        memory[3 * page] = 1              // page 3, after a one-page gap: same run
        memory[40 * page + 100] = 1       // far away: its own run
        memory[41 * page] = 1             // in the "image" region: its own run, read-execute
        let regions: [(range: Range<UInt64>, flags: UInt32)] = [(base + 41 * 4096 ..< base + 42 * 4096, 5)]
        let runs = memory.withUnsafeBytes {
            ELFCoreLayout.runs(of: $0, base: base, from: base + 4096, regions: regions, mergeGap: 8 * 4096)
        }
        #expect(runs.map(\.address) == [base + 4096, base + 40 * 4096, base + 41 * 4096])
        #expect(runs.map(\.count) == [3 * 4096, 4096, 4096])
        #expect(runs.map(\.flags) == [6, 6, 5])

        let nothing = [UInt8](repeating: 0, count: 8 * page)
        #expect(nothing.withUnsafeBytes { ELFCoreLayout.runs(of: $0, base: base, from: base, regions: []) }.isEmpty)
    }

    @Test func crashesNameTheSignalAProcessWouldHaveDiedOf() {
        #expect(GuestCrash(cause: .exception(vector: 6, errorCode: 0, faultAddress: 0)).signalNumber == SIGILL)
        #expect(GuestCrash(cause: .exception(vector: 14, errorCode: 4, faultAddress: 8)).signalNumber == SIGSEGV)
        #expect(GuestCrash(cause: .signal(number: SIGBUS, code: 0, faultAddress: 0)).signalNumber == SIGBUS)
        #expect(GuestCrash(cause: .reported(kind: SWIFTLET_CRASH_OOM, message: "")).signalNumber == SIGABRT)
    }
}
