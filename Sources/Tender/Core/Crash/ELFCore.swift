// `--core DIR`: an ELF core file of a crashed guest, the kind `gdb IMAGE CORE` opens. The
// guest's addresses are the image's link addresses on both tenders (hvt maps guest RAM at
// GUEST_BASE, spt maps it at GUEST_BASE in its own process), so the segments are written at
// the addresses gdb sees in the image's symbols. Pure layout here; CoreFile does the I/O.
import SwiftletABI

/// The x86-64 general registers in the order of Linux's `struct user_regs_struct`, which
/// is what NT_PRSTATUS carries (and what gdb reads back from a core).
public struct X86Registers: Equatable, Sendable {
    public enum Name: Int, CaseIterable, Sendable {
        case r15, r14, r13, r12, rbp, rbx, r11, r10, r9, r8, rax, rcx, rdx, rsi, rdi, origRax,
             rip, cs, eflags, rsp, ss, fsBase, gsBase, ds, es, fs, gs
    }

    public private(set) var values = [UInt64](repeating: 0, count: Name.allCases.count)

    public init() {}

    /// From 27 values already in `user_regs_struct` order (extra values ignored, missing ones 0).
    public init(userRegs: [UInt64]) {
        for (index, value) in userRegs.prefix(values.count).enumerated() { values[index] = value }
    }

    public subscript(_ name: Name) -> UInt64 {
        get { values[name.rawValue] }
        set { values[name.rawValue] = newValue }
    }
}

/// What a core says about the crash besides memory: the registers and the signal gdb names.
public struct CoreState: Equatable, Sendable {
    public var registers: X86Registers
    /// The Linux signal number matching the crash (SIGILL for a Swift trap, SIGSEGV, ...).
    public var signal: Int32
    public var pid: Int32
    /// Program name and arguments, as `ps` would show them (cut to 15 and 79 bytes).
    public var programName: String
    public var arguments: String

    public init(registers: X86Registers, signal: Int32, pid: Int32, programName: String, arguments: String) {
        self.registers = registers; self.signal = signal; self.pid = pid
        self.programName = programName; self.arguments = arguments
    }
}

/// The layout of an ET_CORE file: ELF header, program headers (one PT_NOTE, then a PT_LOAD
/// per memory run), the notes, then the memory runs, page-aligned.
public struct ELFCoreLayout: Equatable, Sendable {
    /// A piece of guest memory to write: `count` bytes at guest address `address`.
    public struct Run: Equatable, Sendable {
        public var address: UInt64
        public var count: UInt64
        public var flags: UInt32          // PF_R | PF_W | PF_X
        public var fileOffset: UInt64 = 0
        public init(address: UInt64, count: UInt64, flags: UInt32) {
            self.address = address; self.count = count; self.flags = flags
        }
    }

    public static let pfX: UInt32 = 1, pfW: UInt32 = 2, pfR: UInt32 = 4
    static let ntPrstatus: UInt32 = 1, ntPrpsinfo: UInt32 = 3
    static let prstatusSize = 336, prpsinfoSize = 136
    static let headerSize = 64, programHeaderSize = 56

    public private(set) var runs: [Run]
    public let state: CoreState

    public init(state: CoreState, runs: [Run]) {
        self.state = state
        self.runs = runs
        var offset = UInt64(headerBytes.count)
        offset = (offset + 4095) & ~4095
        for index in self.runs.indices {
            self.runs[index].fileOffset = offset
            offset += (self.runs[index].count + 4095) & ~4095
        }
    }

    /// The size of the whole file.
    public var fileSize: UInt64 {
        guard let last = runs.last else { return UInt64(headerBytes.count) }
        return last.fileOffset + last.count
    }

    /// Everything before the first memory run: ELF header, program headers, notes.
    public var headerBytes: [UInt8] {
        let notes = self.notes
        let phnum = 1 + runs.count
        let notesOffset = UInt64(Self.headerSize + phnum * Self.programHeaderSize)
        var bytes: [UInt8] = []
        // e_ident: ELF64, little-endian, version 1, System V ABI.
        bytes += [0x7F, 0x45, 0x4C, 0x46, 2, 1, 1, 0] + [UInt8](repeating: 0, count: 8)
        append(UInt16(4), to: &bytes)                 // ET_CORE
        append(UInt16(62), to: &bytes)                // EM_X86_64
        append(UInt32(1), to: &bytes)                 // EV_CURRENT
        append(UInt64(0), to: &bytes)                 // e_entry
        append(UInt64(Self.headerSize), to: &bytes)   // e_phoff
        append(UInt64(0), to: &bytes)                 // e_shoff
        append(UInt32(0), to: &bytes)                 // e_flags
        append(UInt16(Self.headerSize), to: &bytes)
        append(UInt16(Self.programHeaderSize), to: &bytes)
        append(UInt16(phnum), to: &bytes)
        append(UInt16(64), to: &bytes)                // e_shentsize (no sections)
        append(UInt16(0), to: &bytes)
        append(UInt16(0), to: &bytes)
        programHeader(type: 4, flags: 0, offset: notesOffset, address: 0, size: UInt64(notes.count), align: 4, to: &bytes)
        for run in runs {
            programHeader(type: 1, flags: run.flags, offset: run.fileOffset, address: run.address, size: run.count, align: 4096, to: &bytes)
        }
        return bytes + notes
    }

    private func programHeader(type: UInt32, flags: UInt32, offset: UInt64, address: UInt64, size: UInt64,
                               align: UInt64, to bytes: inout [UInt8]) {
        append(type, to: &bytes)
        append(flags, to: &bytes)
        append(offset, to: &bytes)
        append(address, to: &bytes)        // p_vaddr
        append(UInt64(0), to: &bytes)      // p_paddr
        append(size, to: &bytes)           // p_filesz
        append(size, to: &bytes)           // p_memsz
        append(align, to: &bytes)
    }

    /// NT_PRSTATUS (signal, pid, registers) and NT_PRPSINFO (state, name, arguments).
    var notes: [UInt8] {
        var status = [UInt8](repeating: 0, count: Self.prstatusSize)
        put(UInt32(bitPattern: state.signal), at: 0, in: &status)       // si_signo
        put(UInt16(truncatingIfNeeded: state.signal), at: 12, in: &status) // pr_cursig
        put(UInt32(bitPattern: state.pid), at: 32, in: &status)         // pr_pid
        for (index, value) in state.registers.values.enumerated() { put(value, at: 112 + index * 8, in: &status) }

        var info = [UInt8](repeating: 0, count: Self.prpsinfoSize)
        info[1] = UInt8(ascii: "R")                                     // pr_sname
        put(UInt32(bitPattern: state.pid), at: 24, in: &info)
        info.replaceSubrange(40 ..< 40 + 15, with: cString(state.programName, room: 15))
        info.replaceSubrange(56 ..< 56 + 79, with: cString(state.arguments, room: 79))

        var bytes: [UInt8] = []
        note(type: Self.ntPrstatus, description: status, to: &bytes)
        note(type: Self.ntPrpsinfo, description: info, to: &bytes)
        return bytes
    }

    private func note(type: UInt32, description: [UInt8], to bytes: inout [UInt8]) {
        append(UInt32(5), to: &bytes)                   // "CORE\0"
        append(UInt32(description.count), to: &bytes)
        append(type, to: &bytes)
        bytes += Array("CORE".utf8) + [0, 0, 0, 0]      // name, padded to 4
        bytes += description
        while bytes.count % 4 != 0 { bytes.append(0) }
    }

    private func cString(_ text: String, room: Int) -> [UInt8] {
        let utf8 = Array(text.utf8.prefix(room))
        return utf8 + [UInt8](repeating: 0, count: room - utf8.count)
    }

    private func put<T: FixedWidthInteger>(_ value: T, at offset: Int, in bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes.replaceSubrange(offset ..< offset + $0.count, with: $0) }
    }

    private func append<T: FixedWidthInteger>(_ value: T, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes += $0 }
    }

    // MARK: Choosing the memory runs

    /// The runs of `memory` (the guest's RAM, `memory[0]` at guest address `base`) worth
    /// writing: everything from `start` on, except pages that are all zero (never touched),
    /// so a core is as large as what the guest used, at most its RAM. Gaps shorter than
    /// `mergeGap` are written anyway, so a core has few segments and few holes.
    /// `regions` give each address range its protection (the image's segments); the rest is RW.
    public static func runs(of memory: UnsafeRawBufferPointer, base: UInt64, from start: UInt64,
                            regions: [(range: Range<UInt64>, flags: UInt32)], mergeGap: UInt64 = 64 << 10) -> [Run] {
        let page: UInt64 = 4096
        let end = base + UInt64(memory.count)
        guard start >= base, start < end else { return [] }
        // Boundaries where the protection changes, page-aligned.
        var cuts = Set<UInt64>([start, end])
        for region in regions {
            for edge in [region.range.lowerBound & ~(page - 1), (region.range.upperBound + page - 1) & ~(page - 1)]
            where edge > start && edge < end { cuts.insert(edge) }
        }
        let boundaries = cuts.sorted()
        var runs: [Run] = []
        for (low, high) in zip(boundaries, boundaries.dropFirst()) {
            let flags = regions.first { $0.range.overlaps(low ..< high) }?.flags ?? (pfR | pfW)
            var address = low
            var current: Run?
            var zeroSince: UInt64?
            while address < high {
                let length = min(page, high - address)
                if !isZero(UnsafeRawBufferPointer(rebasing: memory[Int(address - base) ..< Int(address - base + length)])) {
                    if var run = current {
                        run.count = address + length - run.address      // a short zero gap joins the run
                        current = run
                    } else {
                        current = Run(address: address, count: length, flags: flags)
                    }
                    zeroSince = nil
                } else if let run = current {
                    let since = zeroSince ?? address
                    zeroSince = since
                    if address + length - since >= mergeGap {
                        runs.append(run)
                        current = nil
                        zeroSince = nil
                    }
                }
                address += length
            }
            if let run = current { runs.append(run) }
        }
        return runs
    }

    /// Word at a time: a debug build checks a 32 MiB guest in well under a second.
    static func isZero(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var offset = 0
        while offset + 8 <= bytes.count {
            if bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self) != 0 { return false }
            offset += 8
        }
        return bytes[offset...].allSatisfy { $0 == 0 }
    }
}
