// ELFImage: parse and validate a static x86-64 ELF64 Swiftlet image, then load it into
// guest memory. The image is hostile input: every field is range- and overflow-checked,
// and a bad image is refused with an ELFError naming what is wrong; nothing traps.
import SwiftletABI

/// Why an image was refused.
public enum ELFError: Error, Equatable, CustomStringConvertible {
    case truncatedHeader(fileSize: UInt64)
    case badMagic(found: [UInt8])
    case notELF64(elfClass: UInt8)
    case notLittleEndian(encoding: UInt8)
    case badVersion(UInt32)
    case wrongMachine(UInt16)
    case notExecutable(type: UInt16)
    case badProgramHeaderEntrySize(UInt16)
    case tooManyProgramHeaders(UInt16)
    case programHeadersOutsideFile(offset: UInt64, count: UInt16, fileSize: UInt64)
    case noLoadableSegments
    case notStatic(segment: Int, type: UInt32)
    case fileSizeExceedsMemorySize(segment: Int, fileSize: UInt64, memorySize: UInt64)
    case segmentOutsideFile(segment: Int, offset: UInt64, size: UInt64, fileSize: UInt64)
    case segmentAddressOverflow(segment: Int, vaddr: UInt64, memorySize: UInt64)
    case segmentBelowImageBase(segment: Int, vaddr: UInt64, imageBase: UInt64)
    case segmentBeyondMemory(segment: Int, end: UInt64, memoryEnd: UInt64)
    case segmentsOverlap(first: Int, second: Int, firstEnd: UInt64, secondStart: UInt64)
    case writableAndExecutable(segment: Int)
    case writableAndExecutableSharePage(first: Int, second: Int, page: UInt64)
    case badAlignment(segment: Int, align: UInt64)
    case entryNotExecutable(entry: UInt64)
    case malformedNote(segment: Int, offset: UInt64, reason: String)
    case noteAreasExceedFile(total: UInt64, fileSize: UInt64)
    case duplicateABINote
    case invalidMemorySize(UInt64)
    case missingABINote
    case abiVersionMismatch(found: UInt32, expected: UInt32)
    case targetNotSupported(targets: UInt32, target: UInt32)
    case loadFailed(segment: Int, GuestMemoryError)
    case segmentUnreadable(segment: Int, offset: UInt64, size: UInt64)

    public var description: String {
        switch self {
        case let .truncatedHeader(size):
            return "file is too short to be an ELF image (\(size) bytes, the ELF64 header alone is \(ELF.headerSize))"
        case let .badMagic(found):
            return "not an ELF file (magic \(found.map { elfHexByte($0) }.joined(separator: " ")), expected 7f 45 4c 46)"
        case let .notELF64(elfClass):
            return "not a 64-bit ELF file (EI_CLASS \(elfClass), expected 2 = ELFCLASS64)"
        case let .notLittleEndian(encoding):
            return "not a little-endian ELF file (EI_DATA \(encoding), expected 1 = ELFDATA2LSB)"
        case let .badVersion(version):
            return "unsupported ELF version \(version) (expected 1)"
        case let .wrongMachine(machine):
            return "image is built for machine \(machine), not x86-64 (EM_X86_64 = 62)"
        case let .notExecutable(type):
            let name = type == 1 ? "a relocatable object (ET_REL)" : type == 3 ? "a shared object or PIE (ET_DYN)"
                : type == 4 ? "a core file (ET_CORE)" : "of type \(type)"
            return "image is \(name), not a static executable (ET_EXEC)"
        case let .badProgramHeaderEntrySize(size):
            return "program header entry size is \(size), expected \(ELF.programHeaderSize)"
        case let .tooManyProgramHeaders(count):
            return "image declares \(count) program headers (extended numbering is not supported)"
        case let .programHeadersOutsideFile(offset, count, fileSize):
            return "program header table (offset \(hex(offset)), \(count) entries) extends past the end of the file (file size \(hex(fileSize)))"
        case .noLoadableSegments:
            return "image has no loadable (PT_LOAD) segments"
        case let .notStatic(segment, type):
            let what = type == ELF.ptInterp ? "an interpreter (PT_INTERP)" : "dynamic linking information (PT_DYNAMIC)"
            return "segment \(segment) requests \(what); Swiftlet images must be statically linked"
        case let .fileSizeExceedsMemorySize(segment, fileSize, memorySize):
            return "segment \(segment) has more file bytes than memory bytes (filesz \(hex(fileSize)) > memsz \(hex(memorySize)))"
        case let .segmentOutsideFile(segment, offset, size, fileSize):
            return "segment \(segment) extends past the end of the file (offset \(hex(offset)), size \(hex(size)), file size \(hex(fileSize)))"
        case let .segmentAddressOverflow(segment, vaddr, memorySize):
            return "segment \(segment) address range wraps around (vaddr \(hex(vaddr)), memsz \(hex(memorySize)))"
        case let .segmentBelowImageBase(segment, vaddr, imageBase):
            return "segment \(segment) starts at \(hex(vaddr)), below the image base \(hex(imageBase)) (link the image at GUEST_BASE + SWIFTLET_IMAGE_OFFSET)"
        case let .segmentBeyondMemory(segment, end, memoryEnd):
            return "segment \(segment) ends at \(hex(end)), past the end of guest memory \(hex(memoryEnd)); give the guest at least \(hex(end &- SWIFTLET_GUEST_BASE)) bytes of memory"
        case let .segmentsOverlap(first, second, firstEnd, secondStart):
            return "segments \(first) and \(second) overlap (segment \(first) ends at \(hex(firstEnd)), segment \(second) starts at \(hex(secondStart)))"
        case let .writableAndExecutable(segment):
            return "segment \(segment) is both writable and executable (RWX); Swiftlet maps images W^X, so link code and data into separate segments"
        case let .writableAndExecutableSharePage(first, second, page):
            return "segments \(first) and \(second) share the page at \(hex(page)), one writable and one executable; that page would be W+X, so start each segment on its own page (see image.ld)"
        case let .badAlignment(segment, align):
            return "segment \(segment) alignment \(hex(align)) is not a power of two"
        case let .entryNotExecutable(entry):
            return "entry point \(hex(entry)) is not inside an executable loadable segment"
        case let .malformedNote(segment, offset, reason):
            return "malformed note in segment \(segment) at file offset \(hex(offset)): \(reason)"
        case let .noteAreasExceedFile(total, fileSize):
            return "note segments cover \(hex(total)) bytes in a file of \(hex(fileSize)): notes overlap or repeat"
        case .duplicateABINote:
            return "image carries more than one Swiftlet ABI note"
        case let .invalidMemorySize(size):
            return "guest memory size \(hex(size)) does not fit the guest address space"
        case .missingABINote:
            return "image has no Swiftlet ABI note; build it with `swiftlet build`"
        case let .abiVersionMismatch(found, expected):
            return "image was built for Swiftlet ABI \(found), this tender speaks ABI \(expected); rebuild it with this `swiftlet build`"
        case let .targetNotSupported(targets, target):
            return "image was built for target \(TargetNames.describe(targets)), not \(TargetNames.describe(target)); rebuild it with `swiftlet build --target \(TargetNames.describe(target))`"
        case let .loadFailed(segment, error):
            return "could not load segment \(segment): \(error)"
        case let .segmentUnreadable(segment, offset, size):
            return "could not read segment \(segment) from the file (offset \(hex(offset)), size \(hex(size))): the file changed or cannot be read"
        }
    }
}

/// A validated, loadable static x86-64 ELF64 image.
public struct ELFImage: Sendable {
    /// Segment permission flags (PF_R / PF_W / PF_X).
    public struct Flags: OptionSet, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        public static let execute = Flags(rawValue: ELF.pfX)
        public static let write = Flags(rawValue: ELF.pfW)
        public static let read = Flags(rawValue: ELF.pfR)
        /// "R-X" style.
        public var description: String {
            (contains(.read) ? "R" : "-") + (contains(.write) ? "W" : "-") + (contains(.execute) ? "X" : "-")
        }
    }

    /// One PT_LOAD segment. `index` is its program header index (as in error messages).
    public struct Segment: Hashable, Sendable {
        public var index: Int
        public var vaddr: UInt64
        public var memsz: UInt64
        public var filesz: UInt64
        public var offset: UInt64
        public var align: UInt64
        public var flags: Flags
        /// One past the last byte (validated not to overflow).
        public var end: UInt64 { vaddr &+ memsz }
        public func contains(_ address: UInt64) -> Bool { address >= vaddr && address < end }
    }

    /// One section header (for symbols and `swiftlet inspect` only; never used to load).
    public struct Section: Hashable, Sendable {
        public var index: Int
        public var name: String
        public var type: UInt32
        public var flags: UInt64
        public var addr: UInt64
        public var offset: UInt64
        public var size: UInt64
        public var link: UInt32
        public var info: UInt32
        public var addralign: UInt64
        public var entsize: UInt64
        public var isExecutable: Bool { flags & ELF.shfExecInstr != 0 }
    }

    /// The file's bytes: all in memory, or read from the open file on demand (`ImageFile`).
    public let source: any ELFBytes
    /// The size of the file.
    public var fileSize: UInt64 { source.count }
    /// e_entry, inside an executable segment.
    public let entry: UInt64
    /// PT_LOAD segments with memsz > 0, in program header order.
    public let segments: [Segment]
    /// Highest vaddr + memsz over all segments: the heap may start here.
    public let imageEnd: UInt64
    /// The Swiftlet ABI note, if the image carries one.
    public let abiNote: (version: UInt32, targets: UInt32)?
    /// Section headers, or [] if absent or malformed.
    public let sections: [Section]
    /// Bytes of note areas walked looking for the ABI note: at most the file size for PT_NOTE
    /// segments, and as much again for SHT_NOTE sections.
    let noteBytesWalked: UInt64
    /// Longest section name kept; a longer one makes the section table malformed.
    static let maximumSectionNameLength = 256

    /// Lowest address an image may be linked at: GUEST_BASE + SWIFTLET_IMAGE_OFFSET.
    public static let imageBase: UInt64 = SWIFTLET_GUEST_BASE + SWIFTLET_IMAGE_OFFSET

    /// The smallest guest memory size the segments fit in.
    public var minimumMemorySize: UInt64 { imageEnd - SWIFTLET_GUEST_BASE }

    /// Parses and validates `bytes`. `memorySize` (bytes of guest memory from GUEST_BASE)
    /// bounds where segments may lie; see also `validate(memorySize:)`.
    public init(bytes: [UInt8], memorySize: UInt64 = SWIFTLET_MEM_MAX) throws(ELFError) {
        try self.init(source: ELFMemoryBytes(bytes), memorySize: memorySize)
    }

    /// Parses and validates the file `source` reads. Only the headers, note areas, section
    /// headers and their names are read here; segments are read when loaded.
    public init(source: any ELFBytes, memorySize: UInt64 = SWIFTLET_MEM_MAX) throws(ELFError) {
        let r = ELFReader(source)
        let fileSize = r.count

        // ---- File header
        guard fileSize >= UInt64(ELF.headerSize), let ident = r.slice(offset: 0, length: UInt64(ELF.identSize)),
              let header = ELFHeader(r) else {
            throw .truncatedHeader(fileSize: fileSize)
        }
        guard Array(ident.prefix(4)) == ELF.magic else { throw .badMagic(found: Array(ident.prefix(4))) }
        guard ident[ELF.classOffset] == ELF.class64 else { throw .notELF64(elfClass: ident[ELF.classOffset]) }
        guard ident[ELF.dataOffset] == ELF.dataLittleEndian else {
            throw .notLittleEndian(encoding: ident[ELF.dataOffset])
        }
        guard ident[ELF.identVersionOffset] == ELF.versionCurrent else {
            throw .badVersion(UInt32(ident[ELF.identVersionOffset]))
        }
        guard header.version == 1 else { throw .badVersion(header.version) }
        guard header.machine == ELF.machineX86_64 else { throw .wrongMachine(header.machine) }
        guard header.type == ELF.typeExec else { throw .notExecutable(type: header.type) }

        // ---- Program header table
        guard header.phnum != 0 else { throw .noLoadableSegments }
        guard header.phnum != ELF.pnXNum else { throw .tooManyProgramHeaders(header.phnum) }
        guard header.phentsize == ELF.programHeaderSize else {
            throw .badProgramHeaderEntrySize(header.phentsize)
        }
        guard r.contains(offset: header.phoff, count: UInt64(header.phnum), size: UInt64(ELF.programHeaderSize)) else {
            throw .programHeadersOutsideFile(offset: header.phoff, count: header.phnum, fileSize: fileSize)
        }

        var segments: [Segment] = []
        var notes: [(index: Int, header: ELFProgramHeader)] = []
        var sawLoad = false
        for index in 0 ..< Int(header.phnum) {
            let at = header.phoff + UInt64(index * ELF.programHeaderSize) // in file, checked above
            guard let ph = ELFProgramHeader(r, at: at) else {
                throw .programHeadersOutsideFile(offset: header.phoff, count: header.phnum, fileSize: fileSize)
            }
            switch ph.type {
            case ELF.ptInterp, ELF.ptDynamic:
                throw .notStatic(segment: index, type: ph.type)
            case ELF.ptNote:
                guard r.contains(offset: ph.offset, length: ph.filesz) else {
                    throw .segmentOutsideFile(segment: index, offset: ph.offset, size: ph.filesz, fileSize: fileSize)
                }
                notes.append((index, ph))
            case ELF.ptLoad:
                sawLoad = true
                guard ph.filesz <= ph.memsz else {
                    throw .fileSizeExceedsMemorySize(segment: index, fileSize: ph.filesz, memorySize: ph.memsz)
                }
                guard r.contains(offset: ph.offset, length: ph.filesz) else {
                    throw .segmentOutsideFile(segment: index, offset: ph.offset, size: ph.filesz, fileSize: fileSize)
                }
                guard ph.align == 0 || ph.align & (ph.align &- 1) == 0 else {
                    throw .badAlignment(segment: index, align: ph.align)
                }
                let (_, wraps) = ph.vaddr.addingReportingOverflow(ph.memsz)
                guard !wraps else { throw .segmentAddressOverflow(segment: index, vaddr: ph.vaddr, memorySize: ph.memsz) }
                guard ph.vaddr >= ELFImage.imageBase else {
                    throw .segmentBelowImageBase(segment: index, vaddr: ph.vaddr, imageBase: ELFImage.imageBase)
                }
                if ph.memsz == 0 { continue } // occupies nothing; nothing to load
                segments.append(Segment(index: index, vaddr: ph.vaddr, memsz: ph.memsz, filesz: ph.filesz,
                                        offset: ph.offset, align: ph.align, flags: Flags(rawValue: ph.flags)))
            default:
                continue // PT_GNU_STACK, PT_PHDR, PT_TLS, ...: nothing for the loader
            }
        }
        guard sawLoad, !segments.isEmpty else { throw .noLoadableSegments }

        // ---- Segments must not overlap (sort by address, compare neighbours).
        let sorted = segments.stablySorted { $0.vaddr < $1.vaddr }
        for i in 1 ..< max(1, sorted.count) where sorted[i - 1].end > sorted[i].vaddr {
            throw .segmentsOverlap(first: sorted[i - 1].index, second: sorted[i].index,
                                   firstEnd: sorted[i - 1].end, secondStart: sorted[i].vaddr)
        }

        try ELFImage.checkWriteXorExecute(sorted)

        // ---- Entry point inside an executable segment.
        guard segments.contains(where: { $0.flags.contains(.execute) && $0.contains(header.entry) }) else {
            throw .entryNotExecutable(entry: header.entry)
        }

        // ---- Sections (best effort) and the ABI note.
        let sections = ELFImage.parseSections(r, header)
        var abiNote: (version: UInt32, targets: UInt32)? = nil
        // Each byte of notes is walked at most once per kind of table: overlapping note areas
        // (thousands of PT_NOTE or SHT_NOTE entries over the same bytes) would be quadratic.
        var noteBytesWalked: UInt64 = 0
        for (index, ph) in notes {
            noteBytesWalked += ph.filesz        // each filesz <= file size: no overflow in 2^16 of them
            guard noteBytesWalked <= fileSize else { throw .noteAreasExceedFile(total: noteBytesWalked, fileSize: fileSize) }
            let found: (UInt32, UInt32)?
            do throws(NoteError) {
                found = try ELFImage.findABINote(r, offset: ph.offset, size: ph.filesz, align: ph.align)
            } catch {
                throw .malformedNote(segment: index, offset: error.offset, reason: error.reason)
            }
            if let found {
                guard abiNote == nil else { throw .duplicateABINote }
                abiNote = found
            }
        }
        if abiNote == nil {
            // Not in a PT_NOTE (e.g. a non-allocated note section): look in SHT_NOTE sections.
            // Sections are advisory, so a malformed one is skipped, not an error.
            var sectionBytesWalked: UInt64 = 0
            for section in sections where section.type == ELF.shtNote {
                let (total, overflow) = sectionBytesWalked.addingReportingOverflow(section.size)
                guard !overflow, total <= fileSize else { break }
                sectionBytesWalked = total
                noteBytesWalked += section.size
                if let found = try? ELFImage.findABINote(r, offset: section.offset, size: section.size,
                                                         align: section.addralign) {
                    abiNote = found
                    break
                }
            }
        }

        self.source = source
        self.entry = header.entry
        self.segments = segments
        self.imageEnd = segments.map { $0.end }.max() ?? ELFImage.imageBase
        self.abiNote = abiNote
        self.sections = sections
        self.noteBytesWalked = noteBytesWalked
        try validate(memorySize: memorySize)
    }

    /// Checks that every segment lies inside guest memory of `memorySize` bytes, i.e. inside
    /// [GUEST_BASE + SWIFTLET_IMAGE_OFFSET, GUEST_BASE + memorySize).
    public func validate(memorySize: UInt64) throws(ELFError) {
        let (memoryEnd, overflow) = SWIFTLET_GUEST_BASE.addingReportingOverflow(memorySize)
        guard !overflow else { throw .invalidMemorySize(memorySize) }
        for segment in segments where segment.end > memoryEnd {
            throw .segmentBeyondMemory(segment: segment.index, end: segment.end, memoryEnd: memoryEnd)
        }
    }

    /// Refuses an image without an ABI note, with another ABI version, or not built for
    /// `target` (one SWIFTLET_TARGET_* bit).
    public func checkABI(target: UInt32, version: UInt32 = SWIFTLET_ABI_VERSION) throws(ELFError) {
        guard let note = abiNote else { throw .missingABINote }
        guard note.version == version else { throw .abiVersionMismatch(found: note.version, expected: version) }
        guard note.targets & target == target else { throw .targetNotSupported(targets: note.targets, target: target) }
    }

    /// Copies every segment's file bytes straight from the source to its vaddr and zero-fills
    /// the rest (memsz - filesz), through GuestMemory's checked accessors.
    public func load(into memory: GuestMemory) throws(ELFError) {
        for segment in segments {
            let destination: UnsafeMutableRawBufferPointer
            do throws(GuestMemoryError) {
                destination = try memory.writableBytes(at: GuestAddress(raw: segment.vaddr), count: segment.filesz)
                try memory.fill(at: GuestAddress(raw: segment.vaddr + segment.filesz),
                                count: segment.memsz - segment.filesz)
            } catch {
                throw .loadFailed(segment: segment.index, error)
            }
            // offset/filesz were checked against the file's size in init; a file source can
            // still fail to read them (the file shrank since).
            guard source.copy(offset: segment.offset, into: destination) else {
                throw .segmentUnreadable(segment: segment.index, offset: segment.offset, size: segment.filesz)
            }
        }
    }

    /// A reader over the file, for the tables built from it (symbols, assets, sizes).
    var reader: ELFReader { ELFReader(source) }

    /// A copy of the file bytes of `section`, or nil for SHT_NOBITS or a section outside the file.
    public func contents(of section: Section) -> ArraySlice<UInt8>? {
        guard section.type != ELF.shtNobits else { return nil }
        return reader.slice(offset: section.offset, length: section.size)
    }

    /// Whether `section` has file bytes, all inside the file (without reading them).
    func hasContents(_ section: Section) -> Bool {
        section.type != ELF.shtNobits && reader.contains(offset: section.offset, length: section.size)
    }

    /// The first section called `name`.
    public func section(named name: String) -> Section? { sections.first { $0.name.bytesEqual(name) } }

    // MARK: - W^X

    /// Refuses any page that would be both writable and executable: a segment flagged W and X,
    /// or a writable and an executable segment sharing a page (tenders map whole pages, so the
    /// page would get both). `sorted` is in address order, non-overlapping.
    static func checkWriteXorExecute(_ sorted: [Segment]) throws(ELFError) {
        let pageSize: UInt64 = 4096
        // The last page the previous segments touched, and which of them made it W or X.
        var lastPage: (number: UInt64, writer: Int?, executor: Int?)? = nil
        for segment in sorted {
            guard !segment.flags.isSuperset(of: [.write, .execute]) else {
                throw .writableAndExecutable(segment: segment.index)
            }
            let first = segment.vaddr / pageSize, last = (segment.end - 1) / pageSize   // memsz > 0
            var page = (number: last,
                        writer: segment.flags.contains(.write) ? segment.index : nil,
                        executor: segment.flags.contains(.execute) ? segment.index : nil)
            if let previous = lastPage, previous.number == first {
                if let writer = previous.writer, let executor = page.executor {
                    throw .writableAndExecutableSharePage(first: writer, second: executor, page: first * pageSize)
                }
                if let executor = previous.executor, let writer = page.writer {
                    throw .writableAndExecutableSharePage(first: executor, second: writer, page: first * pageSize)
                }
                if first == last {
                    page.writer = page.writer ?? previous.writer
                    page.executor = page.executor ?? previous.executor
                }
            }
            lastPage = page
        }
    }

    // MARK: - Notes

    struct NoteError: Error { var offset: UInt64; var reason: String }

    /// Walks the notes in file range [offset, offset + size) and returns the Swiftlet ABI note's
    /// (abi_version, targets), if any. Notes are 4-byte aligned (8 if the segment or section
    /// says so, as for GNU property notes). Throws on a note that does not fit.
    static func findABINote(_ r: ELFReader, offset: UInt64, size: UInt64,
                            align: UInt64) throws(NoteError) -> (UInt32, UInt32)? {
        guard r.contains(offset: offset, length: size) else {
            throw NoteError(offset: offset, reason: "note area (size \(hex(size))) extends past the end of the file")
        }
        let alignment: UInt64 = align == 8 ? 8 : 4
        func alignUp(_ x: UInt64) -> UInt64 { (x + alignment - 1) & ~(alignment - 1) } // x <= 2^62 here
        let name = Array(SWIFTLET_NOTE_NAME.utf8)
        var found: (UInt32, UInt32)? = nil
        var position: UInt64 = 0 // relative to offset; offset + size is inside the file
        while size - position >= 12 {
            let at = offset + position
            guard let namesz = r.u32(at), let descsz = r.u32(at + 4), let type = r.u32(at + 8) else {
                throw NoteError(offset: at, reason: "note header outside the file")
            }
            let nameStart = position + 12
            let nameEnd = nameStart + UInt64(namesz)          // < 2^33 + size: no overflow
            guard nameEnd <= size else {
                throw NoteError(offset: at, reason: "name size \(hex(namesz)) runs past the end of the note area (size \(hex(size)))")
            }
            let descStart = alignUp(nameEnd)
            let descEnd = descStart + UInt64(descsz)
            guard descStart <= size, descEnd <= size else {
                throw NoteError(offset: at, reason: "descriptor size \(hex(descsz)) runs past the end of the note area (size \(hex(size)))")
            }
            guard let noteName = r.slice(offset: offset + nameStart, length: UInt64(namesz)) else {
                throw NoteError(offset: at, reason: "note name could not be read")
            }
            let nameMatches = noteName.elementsEqual(name + [0]) || noteName.elementsEqual(name)
            if nameMatches && type == SWIFTLET_NOTE_ABI {
                guard descsz >= 8 else {
                    throw NoteError(offset: at, reason: "Swiftlet ABI note descriptor is \(descsz) bytes, expected at least 8")
                }
                guard found == nil else { throw NoteError(offset: at, reason: "second Swiftlet ABI note") }
                let d = offset + descStart
                found = (r.u32(d) ?? 0, r.u32(d + 4) ?? 0) // in range: descEnd <= size
            }
            position = min(alignUp(descEnd), size)
        }
        return found
    }

    // MARK: - Sections

    /// Section headers with names, or [] if there are none or anything about them is wrong.
    static func parseSections(_ r: ELFReader, _ header: ELFHeader) -> [Section] {
        guard header.shoff != 0, header.shentsize == ELF.sectionHeaderSize,
              let first = ELFSectionHeader(r, at: header.shoff) else { return [] }
        // Extended numbering: a zero e_shnum / SHN_XINDEX e_shstrndx live in section 0.
        let count = header.shnum == 0 ? first.size : UInt64(header.shnum)
        let stringIndex = header.shstrndx == ELF.shnXIndex ? UInt64(first.link) : UInt64(header.shstrndx)
        guard count > 0, r.contains(offset: header.shoff, count: count, size: UInt64(ELF.sectionHeaderSize)) else {
            return []
        }
        var raw: [ELFSectionHeader] = []
        raw.reserveCapacity(Int(count))
        for i in 0 ..< count {
            guard let sh = ELFSectionHeader(r, at: header.shoff + i * UInt64(ELF.sectionHeaderSize)) else { return [] }
            raw.append(sh)
        }
        var names: ELFSectionHeader? = nil
        if stringIndex != UInt64(ELF.shnUndef) {
            guard stringIndex < count, raw[Int(stringIndex)].type != ELF.shtNobits else { return [] }
            names = raw[Int(stringIndex)]
        }
        var sections: [Section] = []
        sections.reserveCapacity(raw.count)
        for (index, sh) in raw.enumerated() {
            var name = ""
            if let names {
                guard let bytes = r.cString(inTableAt: names.offset, size: names.size, index: UInt64(sh.name),
                                            maximumLength: maximumSectionNameLength) else {
                    return []
                }
                name = String(decoding: bytes, as: UTF8.self)
            }
            sections.append(Section(index: index, name: name, type: sh.type, flags: sh.flags, addr: sh.addr,
                                    offset: sh.offset, size: sh.size, link: sh.link, info: sh.info,
                                    addralign: sh.addralign, entsize: sh.entsize))
        }
        return sections
    }
}

// MARK: - Formatting (file-private: other TenderCore files keep their own)

private func elfHexByte(_ byte: UInt8) -> String {
    let digits = String(byte, radix: 16)
    return digits.utf8.count == 1 ? "0" + digits : digits
}

