// A tiny ELF64 writer for tests: valid static x86-64 images with chosen segments, notes
// and symbols, plus helpers to corrupt individual fields afterwards.
import SwiftletABI
@testable import TenderCore

struct ELFBuilder {
    struct Segment {
        var type: UInt32 = ELF.ptLoad
        var flags: UInt32
        var vaddr: UInt64
        var data: [UInt8]
        var memsz: UInt64? = nil       // default: data.count
        var align: UInt64 = 0x1000
        var name: String? = nil        // section name; default from flags
    }

    struct Note {
        var name: [UInt8]
        var type: UInt32
        var desc: [UInt8]
    }

    struct Symbol {
        var name: String
        var value: UInt64
        var size: UInt64
        var type: UInt8 = ELF.sttFunc
        var bind: UInt8 = ELF.stbGlobal
        var section: UInt16? = nil     // default: the first executable segment's section
        var nameOffset: UInt32? = nil  // override st_name (for corrupt tables)
    }

    static let imageBase = SWIFTLET_GUEST_BASE + SWIFTLET_IMAGE_OFFSET

    // Header fields (defaults: a valid static x86-64 executable).
    var elfClass: UInt8 = 2
    var dataEncoding: UInt8 = 1
    var identVersion: UInt8 = 1
    var type: UInt16 = ELF.typeExec
    var machine: UInt16 = ELF.machineX86_64
    var version: UInt32 = 1
    var entry: UInt64

    var segments: [Segment]
    var notes: [Note] = []
    /// Put the notes in a PT_NOTE segment (else only in a SHT_NOTE section).
    var notesInSegment = true
    var noteAlign: UInt64 = 4
    var symbols: [Symbol] = []
    /// Emit section headers (.text/.data..., .note.swiftlet, .symtab, .strtab, .shstrtab).
    var includeSections = true

    /// A valid two-segment image: text (R-X, 0x40 bytes of 0xCC) and data (RW-, 16 bytes of
    /// 0x11..0x20, memsz 0x100) one page apart, entry 4 bytes into text, ABI note for hvt+spt.
    static func standard() -> ELFBuilder {
        ELFBuilder(
            entry: imageBase + 4,
            segments: [
                Segment(flags: ELF.pfR | ELF.pfX, vaddr: imageBase, data: [UInt8](repeating: 0xCC, count: 0x40)),
                Segment(flags: ELF.pfR | ELF.pfW, vaddr: imageBase + 0x1000, data: Array(0x11 ... 0x20), memsz: 0x100),
            ],
            notes: [abiNote()])
    }

    static func abiNote(version: UInt32 = SWIFTLET_ABI_VERSION,
                        targets: UInt32 = SWIFTLET_TARGET_HVT | SWIFTLET_TARGET_SPT) -> Note {
        Note(name: Array(SWIFTLET_NOTE_NAME.utf8) + [0], type: SWIFTLET_NOTE_ABI, desc: littleEndian(version) + littleEndian(targets))
    }

    static func littleEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        withUnsafeBytes(of: value.littleEndian) { Array($0) }
    }

    /// Where things ended up in the last `build()`.
    struct Layout {
        var programHeaders: Int = ELF.headerSize
        var segmentData: [Int] = []
        var notes: Int? = nil
        var notesSize = 0
        var symtab: Int? = nil
        var strtab: Int? = nil
        var strtabSize = 0
        var shstrtab: Int? = nil
        var sectionHeaders: Int? = nil
        var sectionCount = 0
        var symtabSectionIndex: Int? = nil
        func programHeader(_ index: Int) -> Int { programHeaders + index * ELF.programHeaderSize }
        func sectionHeader(_ index: Int) -> Int { sectionHeaders! + index * ELF.sectionHeaderSize }
    }

    func build() -> [UInt8] { buildWithLayout().bytes }

    func buildWithLayout() -> (bytes: [UInt8], layout: Layout) {
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

        // Sections: [0] null, one per segment, notes, symtab, strtab, shstrtab.
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
    enum PH {
        static let type = 0, flags = 4, offset = 8, vaddr = 16, filesz = 32, memsz = 40, align = 48
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
    mutating func patch<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        replaceSubrange(offset ..< offset + MemoryLayout<T>.size, with: Swift.withUnsafeBytes(of: value.littleEndian) { Array($0) })
    }

    /// The little-endian value at `offset`.
    func readLE<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
        var value: T = 0
        for i in 0 ..< MemoryLayout<T>.size { value |= T(self[offset + i]) << (8 * i) }
        return value
    }
}

/// A heap buffer standing in for guest memory, filled with a marker byte.
final class TestGuestMemory {
    let pointer: UnsafeMutableRawPointer
    let memory: GuestMemory

    init(size: Int, fill: UInt8 = 0xAA) {
        pointer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 4096)
        pointer.initializeMemory(as: UInt8.self, repeating: fill, count: size)
        memory = GuestMemory(base: pointer, size: size)
    }

    deinit { pointer.deallocate() }

    /// Host bytes at guest address `address`.
    subscript(address: UInt64) -> UInt8 {
        pointer.load(fromByteOffset: Int(address - SWIFTLET_GUEST_BASE), as: UInt8.self)
    }
}
