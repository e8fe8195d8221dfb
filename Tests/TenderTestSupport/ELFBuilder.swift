// A tiny ELF64 writer for tests: valid static x86-64 images with chosen segments, notes
// and symbols, plus helpers to corrupt individual fields afterwards.
import SwiftletABI
import TenderCore

public struct ELFBuilder {
    public struct Segment {
        public var type: UInt32 = ELF.ptLoad
        public var flags: UInt32
        public var vaddr: UInt64
        public var data: [UInt8]
        public var memsz: UInt64? = nil       // default: data.count
        public var align: UInt64 = 0x1000
        public var name: String? = nil        // section name; default from flags

        public init(type: UInt32 = ELF.ptLoad, flags: UInt32, vaddr: UInt64, data: [UInt8], memsz: UInt64? = nil,
                    align: UInt64 = 0x1000, name: String? = nil) {
            self.type = type; self.flags = flags; self.vaddr = vaddr; self.data = data
            self.memsz = memsz; self.align = align; self.name = name
        }
    }

    public struct Note {
        public var name: [UInt8]
        public var type: UInt32
        public var desc: [UInt8]

        public init(name: [UInt8], type: UInt32, desc: [UInt8]) { self.name = name; self.type = type; self.desc = desc }
    }

    public struct Symbol {
        public var name: String
        public var value: UInt64
        public var size: UInt64
        public var type: UInt8 = ELF.sttFunc
        public var bind: UInt8 = ELF.stbGlobal
        public var section: UInt16? = nil     // default: the first executable segment's section
        public var nameOffset: UInt32? = nil  // override st_name (for corrupt tables)

        public init(name: String, value: UInt64, size: UInt64, type: UInt8 = ELF.sttFunc, bind: UInt8 = ELF.stbGlobal,
                    section: UInt16? = nil, nameOffset: UInt32? = nil) {
            self.name = name; self.value = value; self.size = size; self.type = type; self.bind = bind
            self.section = section; self.nameOffset = nameOffset
        }
    }

    public static let imageBase = SWIFTLET_GUEST_BASE + SWIFTLET_IMAGE_OFFSET

    // Header fields (defaults: a valid static x86-64 executable).
    public var elfClass: UInt8 = 2
    public var dataEncoding: UInt8 = 1
    public var identVersion: UInt8 = 1
    public var type: UInt16 = ELF.typeExec
    public var machine: UInt16 = ELF.machineX86_64
    public var version: UInt32 = 1
    public var entry: UInt64

    public var segments: [Segment]
    public var notes: [Note] = []
    /// Put the notes in a PT_NOTE segment (else only in a SHT_NOTE section).
    public var notesInSegment = true
    public var noteAlign: UInt64 = 4
    public var symbols: [Symbol] = []
    /// Emit section headers (.text/.data..., .note.swiftlet, .symtab, .strtab, .shstrtab).
    public var includeSections = true
    /// Bytes of a non-loaded `.debug_info` section (0x5A...) between the notes and the symbols,
    /// as DWARF sits in real images; 0 for none.
    public var debugInfoSize = 0

    public init(entry: UInt64, segments: [Segment], notes: [Note] = []) {
        self.entry = entry
        self.segments = segments
        self.notes = notes
    }

    /// A valid two-segment image: text (R-X, 0x40 bytes of 0xCC) and data (RW-, 16 bytes of
    /// 0x11..0x20, memsz 0x100) one page apart, entry 4 bytes into text, ABI note for hvt+spt.
    public static func standard() -> ELFBuilder {
        ELFBuilder(
            entry: imageBase + 4,
            segments: [
                Segment(flags: ELF.pfR | ELF.pfX, vaddr: imageBase, data: [UInt8](repeating: 0xCC, count: 0x40)),
                Segment(flags: ELF.pfR | ELF.pfW, vaddr: imageBase + 0x1000, data: Array(0x11 ... 0x20), memsz: 0x100),
            ],
            notes: [abiNote()])
    }

    public static func abiNote(version: UInt32 = SWIFTLET_ABI_VERSION,
                        targets: UInt32 = SWIFTLET_TARGET_HVT | SWIFTLET_TARGET_SPT) -> Note {
        Note(name: Array(SWIFTLET_NOTE_NAME.utf8) + [0], type: SWIFTLET_NOTE_ABI, desc: littleEndian(version) + littleEndian(targets))
    }

    public static func littleEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        withUnsafeBytes(of: value.littleEndian) { Array($0) }
    }

    /// Where things ended up in the last `build()`.
    public struct Layout {
        public var programHeaders: Int = ELF.headerSize
        public var segmentData: [Int] = []
        public var notes: Int? = nil
        public var notesSize = 0
        public var debugInfo: Int? = nil
        public var symtab: Int? = nil
        public var strtab: Int? = nil
        public var strtabSize = 0
        public var shstrtab: Int? = nil
        public var sectionHeaders: Int? = nil
        public var sectionCount = 0
        public var symtabSectionIndex: Int? = nil
        public func programHeader(_ index: Int) -> Int { programHeaders + index * ELF.programHeaderSize }
        public func sectionHeader(_ index: Int) -> Int { sectionHeaders! + index * ELF.sectionHeaderSize }
    }

    public func build() -> [UInt8] { buildWithLayout().bytes }

    public func buildWithLayout() -> (bytes: [UInt8], layout: Layout) {
        var layout = Layout()
        let noteBlob = notes.flatMap { note -> [UInt8] in
            var out = le(UInt32(note.name.count)) + le(UInt32(note.desc.count)) + le(note.type)
            out += note.name; pad(&out, to: Int(noteAlign))
            out += note.desc; pad(&out, to: Int(noteAlign))
            return out
        }
        let phdrCount = segments.count + (notes.isEmpty || !notesInSegment ? 0 : 1)

        var file = [UInt8](repeating: 0, count: ELF.headerSize + phdrCount * ELF.programHeaderSize)
        for segment in segments {
            pad(&file, to: 16)
            layout.segmentData.append(file.count)
            file += segment.data
        }
        if !noteBlob.isEmpty {
            pad(&file, to: 8)
            layout.notes = file.count
            layout.notesSize = noteBlob.count
            file += noteBlob
        }

        if debugInfoSize > 0 {
            pad(&file, to: 8)
            layout.debugInfo = file.count
            file += [UInt8](repeating: 0x5A, count: debugInfoSize)
        }

        // Sections: [0] null, one per segment, notes, debug info, symtab, strtab, shstrtab.
        var sectionHeaders: [[UInt8]] = []
        var shstrtab: [UInt8] = [0]
        func name(_ s: String) -> UInt32 {
            let at = UInt32(shstrtab.count); shstrtab += Array(s.utf8) + [0]; return at
        }
        var firstTextSection: UInt16 = 0
        if includeSections {
            sectionHeaders.append([UInt8](repeating: 0, count: ELF.sectionHeaderSize))
            for (i, segment) in segments.enumerated() where segment.type == ELF.ptLoad {
                let exec = segment.flags & ELF.pfX != 0, write = segment.flags & ELF.pfW != 0
                let sectionName = segment.name ?? (exec ? ".text" : write ? ".data" : ".rodata")
                var flags = ELF.shfAlloc
                if exec { flags |= ELF.shfExecInstr }
                if write { flags |= ELF.shfWrite }
                if exec && firstTextSection == 0 { firstTextSection = UInt16(sectionHeaders.count) }
                sectionHeaders.append(sectionHeader(name: name(sectionName), type: ELF.shtProgbits, flags: flags,
                                                    addr: segment.vaddr, offset: UInt64(layout.segmentData[i]),
                                                    size: segment.memsz ?? UInt64(segment.data.count)))
            }
            if let notesAt = layout.notes {
                sectionHeaders.append(sectionHeader(name: name(".note.swiftlet"), type: ELF.shtNote, flags: 0, addr: 0,
                                                    offset: UInt64(notesAt), size: UInt64(noteBlob.count),
                                                    addralign: noteAlign))
            }
            if let debugAt = layout.debugInfo {
                sectionHeaders.append(sectionHeader(name: name(".debug_info"), type: ELF.shtProgbits, flags: 0, addr: 0,
                                                    offset: UInt64(debugAt), size: UInt64(debugInfoSize)))
            }
            if !symbols.isEmpty {
                var strtab: [UInt8] = [0]
                var symtab = [UInt8](repeating: 0, count: ELF.symbolSize) // null symbol
                for symbol in symbols {
                    let nameAt = symbol.nameOffset ?? UInt32(strtab.count)
                    strtab += Array(symbol.name.utf8) + [0]
                    symtab += le(nameAt) + [symbol.bind << 4 | symbol.type, 0]
                        + le(symbol.section ?? firstTextSection) + le(symbol.value) + le(symbol.size)
                }
                pad(&file, to: 8)
                layout.symtab = file.count
                file += symtab
                layout.strtab = file.count
                layout.strtabSize = strtab.count
                file += strtab
                let symtabIndex = sectionHeaders.count
                layout.symtabSectionIndex = symtabIndex
                sectionHeaders.append(sectionHeader(name: name(".symtab"), type: ELF.shtSymtab, flags: 0, addr: 0,
                                                    offset: UInt64(layout.symtab!), size: UInt64(symtab.count),
                                                    link: UInt32(symtabIndex + 1), entsize: UInt64(ELF.symbolSize)))
                sectionHeaders.append(sectionHeader(name: name(".strtab"), type: ELF.shtStrtab, flags: 0, addr: 0,
                                                    offset: UInt64(layout.strtab!), size: UInt64(strtab.count)))
            }
            let shstrIndex = sectionHeaders.count
            let shstrName = name(".shstrtab")
            layout.shstrtab = file.count
            file += shstrtab
            sectionHeaders.append(sectionHeader(name: shstrName, type: ELF.shtStrtab, flags: 0, addr: 0,
                                                offset: UInt64(layout.shstrtab!), size: UInt64(shstrtab.count)))
            pad(&file, to: 8)
            layout.sectionHeaders = file.count
            layout.sectionCount = sectionHeaders.count
            for header in sectionHeaders { file += header }
            file.patch(UInt64(layout.sectionHeaders!), at: 40)
            file.patch(UInt16(ELF.sectionHeaderSize), at: 58)
            file.patch(UInt16(sectionHeaders.count), at: 60)
            file.patch(UInt16(shstrIndex), at: 62)
        }

        // File header.
        file.replaceSubrange(0 ..< 4, with: ELF.magic)
        file[4] = elfClass; file[5] = dataEncoding; file[6] = identVersion
        file.patch(type, at: 16)
        file.patch(machine, at: 18)
        file.patch(version, at: 20)
        file.patch(entry, at: 24)
        file.patch(UInt64(ELF.headerSize), at: 32)           // e_phoff
        file.patch(UInt16(ELF.headerSize), at: 52)           // e_ehsize
        file.patch(UInt16(ELF.programHeaderSize), at: 54)
        file.patch(UInt16(phdrCount), at: 56)

        // Program headers.
        for (i, segment) in segments.enumerated() {
            writeProgramHeader(&file, at: layout.programHeader(i), type: segment.type, flags: segment.flags,
                               offset: UInt64(layout.segmentData[i]), vaddr: segment.vaddr,
                               filesz: UInt64(segment.data.count), memsz: segment.memsz ?? UInt64(segment.data.count),
                               align: segment.align)
        }
        if let notesAt = layout.notes, notesInSegment {
            writeProgramHeader(&file, at: layout.programHeader(segments.count), type: ELF.ptNote, flags: ELF.pfR,
                               offset: UInt64(notesAt), vaddr: 0, filesz: UInt64(noteBlob.count),
                               memsz: UInt64(noteBlob.count), align: noteAlign)
        }
        return (file, layout)
    }

    private func writeProgramHeader(_ file: inout [UInt8], at: Int, type: UInt32, flags: UInt32, offset: UInt64,
                                    vaddr: UInt64, filesz: UInt64, memsz: UInt64, align: UInt64) {
        file.patch(type, at: at)
        file.patch(flags, at: at + 4)
        file.patch(offset, at: at + 8)
        file.patch(vaddr, at: at + 16)
        file.patch(vaddr, at: at + 24)
        file.patch(filesz, at: at + 32)
        file.patch(memsz, at: at + 40)
        file.patch(align, at: at + 48)
    }

    private func sectionHeader(name: UInt32, type: UInt32, flags: UInt64, addr: UInt64, offset: UInt64,
                               size: UInt64, link: UInt32 = 0, entsize: UInt64 = 0,
                               addralign: UInt64 = 1) -> [UInt8] {
        le(name) + le(type) + le(flags) + le(addr) + le(offset) + le(size) + le(link) + le(UInt32(0))
            + le(addralign) + le(entsize)
    }
}

extension ELFBuilder {
    /// Program header field offsets, for corrupting built images.
    public enum PH {
        public static let type = 0, flags = 4, offset = 8, vaddr = 16, filesz = 32, memsz = 40, align = 48
    }
}

private func le<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
    withUnsafeBytes(of: value.littleEndian) { Array($0) }
}

private func pad(_ bytes: inout [UInt8], to alignment: Int) {
    while bytes.count % alignment != 0 { bytes.append(0) }
}

extension Array where Element == UInt8 {
    /// Overwrites the little-endian bytes of `value` at `offset`.
    public mutating func patch<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        replaceSubrange(offset ..< offset + MemoryLayout<T>.size, with: Swift.withUnsafeBytes(of: value.littleEndian) { Array($0) })
    }

    /// The little-endian value at `offset`.
    public func readLE<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
        var value: T = 0
        for i in 0 ..< MemoryLayout<T>.size { value |= T(self[offset + i]) << (8 * i) }
        return value
    }
}

/// A heap buffer standing in for guest memory, filled with a marker byte.
public final class TestGuestMemory {
    public let pointer: UnsafeMutableRawPointer
    public let memory: GuestMemory

    public init(size: Int, fill: UInt8 = 0xAA) {
        pointer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 4096)
        pointer.initializeMemory(as: UInt8.self, repeating: fill, count: size)
        memory = GuestMemory(base: pointer, size: size)
    }

    deinit { pointer.deallocate() }

    /// Host bytes at guest address `address`.
    public subscript(address: UInt64) -> UInt8 {
        pointer.load(fromByteOffset: Int(address - SWIFTLET_GUEST_BASE), as: UInt8.self)
    }
}
