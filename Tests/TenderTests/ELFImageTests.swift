import SwiftletABI
import Testing
import TestSupport
@testable import TenderCore
import TenderTestSupport

private let base = ELFBuilder.imageBase        // GUEST_BASE + SWIFTLET_IMAGE_OFFSET
private let memorySize: UInt64 = 16 << 20
private typealias PH = ELFBuilder.PH

/// The error ELFImage refuses `bytes` with, or nil if it accepts them.
private func refusal(_ bytes: [UInt8], memorySize: UInt64 = memorySize) -> ELFError? {
    do { _ = try ELFImage(bytes: bytes, memorySize: memorySize); return nil } catch { return error }
}

@Suite struct ELFImageTests {
    @Test func validImageFields() throws {
        let image = try ELFImage(bytes: ELFBuilder.standard().build(), memorySize: memorySize)
        #expect(image.entry == base + 4)
        #expect(image.segments.count == 2)
        let text = image.segments[0], data = image.segments[1]
        #expect(text.index == 0 && text.vaddr == base && text.memsz == 0x40 && text.filesz == 0x40)
        #expect(text.flags == [.read, .execute] && text.flags.description == "R-X")
        #expect(data.index == 1 && data.vaddr == base + 0x1000 && data.filesz == 16 && data.memsz == 0x100)
        #expect(data.flags == [.read, .write] && data.flags.description == "RW-")
        #expect(text.align == 0x1000)
        #expect(image.imageEnd == base + 0x1100)
        #expect(image.minimumMemorySize == SWIFTLET_IMAGE_OFFSET + 0x1100)
        let note = try #require(image.abiNote)
        #expect(note.version == SWIFTLET_ABI_VERSION)
        #expect(note.targets == SWIFTLET_TARGET_HVT | SWIFTLET_TARGET_SPT)
        #expect(image.sections.map(\.name) == ["", ".text", ".data", ".note.swiftlet", ".shstrtab"])
        let textSection = try #require(image.section(named: ".text"))
        #expect(textSection.addr == base && textSection.size == 0x40 && textSection.isExecutable)
        #expect(image.contents(of: textSection).map(Array.init) == [UInt8](repeating: 0xCC, count: 0x40))
        try image.checkABI(target: SWIFTLET_TARGET_HVT)
        try image.checkABI(target: SWIFTLET_TARGET_SPT)
    }

    @Test func loadCopiesBytesAndZeroesBSS() throws {
        let image = try ELFImage(bytes: ELFBuilder.standard().build(), memorySize: 4 << 20)
        let guest = TestGuestMemory(size: 4 << 20, fill: 0xAA)
        try image.load(into: guest.memory)
        #expect((0 ..< 0x40).allSatisfy { guest[base + $0] == 0xCC })
        #expect(guest[base + 0x40] == 0xAA)                               // past text: untouched
        #expect((0 ..< 16).allSatisfy { guest[base + 0x1000 + $0] == UInt8(0x11 + $0) })
        #expect((16 ..< 0x100).allSatisfy { guest[base + 0x1000 + $0] == 0 })  // bss zeroed
        #expect(guest[base + 0x1100] == 0xAA)                             // past memsz: untouched
        #expect(guest[base - 1] == 0xAA)
    }

    @Test func loadIntoTooSmallMemoryFails() throws {
        let image = try ELFImage(bytes: ELFBuilder.standard().build(), memorySize: 4 << 20)
        let small = TestGuestMemory(size: Int(SWIFTLET_IMAGE_OFFSET) + 0x800)
        #expect(throws: ELFError.self) { try image.load(into: small.memory) }
        do { try image.load(into: small.memory) } catch {
            guard case .loadFailed(segment: 1, _) = error else { Issue.record("unexpected \(error)"); return }
            #expect(error.description.contains("could not load segment 1"))
        }
    }

    @Test func abiChecks() throws {
        var builder = ELFBuilder.standard()
        builder.notes = [ELFBuilder.abiNote(version: 99, targets: SWIFTLET_TARGET_SPT)]
        let image = try ELFImage(bytes: builder.build(), memorySize: memorySize)
        #expect(throws: ELFError.abiVersionMismatch(found: 99, expected: SWIFTLET_ABI_VERSION)) {
            try image.checkABI(target: SWIFTLET_TARGET_SPT)
        }
        #expect(throws: ELFError.targetNotSupported(targets: SWIFTLET_TARGET_SPT, target: SWIFTLET_TARGET_HVT)) {
            try image.checkABI(target: SWIFTLET_TARGET_HVT, version: 99)
        }
        builder.notes = []
        let bare = try ELFImage(bytes: builder.build(), memorySize: memorySize)
        #expect(bare.abiNote == nil)
        #expect(throws: ELFError.missingABINote) { try bare.checkABI(target: SWIFTLET_TARGET_HVT) }
    }

    @Test func abiNoteAmongOtherNotes() throws {
        var builder = ELFBuilder.standard()
        builder.notes = [
            .init(name: Array("GNU".utf8) + [0], type: 3, desc: [UInt8](repeating: 0xAB, count: 20)),
            .init(name: Array("Swiftlet".utf8) + [0], type: 1, desc: [1, 2, 3]), // right name, other type
            ELFBuilder.abiNote(targets: SWIFTLET_TARGET_HVT),
        ]
        for align: UInt64 in [4, 8] {
            builder.noteAlign = align
            let note = try #require(try ELFImage(bytes: builder.build(), memorySize: memorySize).abiNote)
            #expect(note.targets == SWIFTLET_TARGET_HVT)
        }
    }

    @Test func abiNoteInSectionOnly() throws {
        var builder = ELFBuilder.standard()
        builder.notesInSegment = false
        let image = try ELFImage(bytes: builder.build(), memorySize: memorySize)
        #expect(image.abiNote?.version == SWIFTLET_ABI_VERSION)
    }

    @Test func malformedNotes() throws {
        let (bytes, layout) = ELFBuilder.standard().buildWithLayout()
        let notes = try #require(layout.notes)
        // namesz so large that name end overflows 32 bits / the note area.
        var huge = bytes
        huge.patch(UInt32.max, at: notes)
        guard case .malformedNote(segment: 2, offset: UInt64(notes), let reason)? = refusal(huge) else {
            Issue.record("expected malformedNote, got \(String(describing: refusal(huge)))"); return
        }
        #expect(reason.contains("name size"))
        // descsz past the end.
        var desc = bytes
        desc.patch(UInt32(0xFFFF_FFF0), at: notes + 4)
        #expect(refusal(desc).map { if case .malformedNote = $0 { true } else { false } } == true)
        // An ABI note whose descriptor is too short.
        var builder = ELFBuilder.standard()
        builder.notes = [.init(name: Array("Swiftlet".utf8) + [0], type: SWIFTLET_NOTE_ABI, desc: [1, 0, 0, 0])]
        #expect(refusal(builder.build()).map { if case .malformedNote = $0 { true } else { false } } == true)
        // Two ABI notes.
        builder.notes = [ELFBuilder.abiNote(), ELFBuilder.abiNote()]
        #expect(refusal(builder.build()).map { if case .malformedNote = $0 { true } else { false } } == true)
        // PT_NOTE outside the file.
        var outside = bytes
        outside.patch(UInt64.max - 2, at: layout.programHeader(2) + PH.offset)
        #expect(refusal(outside).map { if case .segmentOutsideFile(segment: 2, _, _, _) = $0 { true } else { false } } == true)
        // A malformed note only in a section is ignored (sections are advisory).
        var sectionOnly = ELFBuilder.standard()
        sectionOnly.notesInSegment = false
        let (sectionBytes, sectionLayout) = sectionOnly.buildWithLayout()
        var corrupted = sectionBytes
        corrupted.patch(UInt32.max, at: sectionLayout.notes!)
        #expect(try ELFImage(bytes: corrupted, memorySize: memorySize).abiNote == nil)
    }

    @Test func truncatedAtEveryLength() {
        var builder = ELFBuilder.standard()
        builder.includeSections = false // so that every byte belongs to a segment, a note or a header
        let bytes = builder.build()
        #expect(refusal(bytes) == nil)
        for length in 0 ..< bytes.count {
            #expect(refusal(Array(bytes[..<length])) != nil, "prefix of \(length) bytes was accepted")
        }
        // With sections the tail is optional; no prefix may trap, and symbols never trap either.
        var withSymbols = ELFBuilder.standard()
        withSymbols.symbols = [.init(name: "f", value: base, size: 4)]
        let full = withSymbols.build()
        for length in 0 ... full.count {
            if let image = try? ELFImage(bytes: Array(full[..<length]), memorySize: memorySize) {
                _ = image.symbolTable().symbolize(base + 1)
            }
        }
    }

    @Test func headerChecks() {
        let good = ELFBuilder.standard().build()
        var b = good; b[0] = 0x7E
        #expect(refusal(b) == .badMagic(found: [0x7E, 0x45, 0x4C, 0x46]))
        b = good; b[4] = 1
        #expect(refusal(b) == .notELF64(elfClass: 1))
        b = good; b[5] = 2
        #expect(refusal(b) == .notLittleEndian(encoding: 2))
        b = good; b[6] = 0
        #expect(refusal(b) == .badVersion(0))
        b = good; b.patch(UInt32(2), at: 20)
        #expect(refusal(b) == .badVersion(2))
        b = good; b.patch(UInt16(183), at: 18) // EM_AARCH64
        #expect(refusal(b) == .wrongMachine(183))
        b = good; b.patch(UInt16(3), at: 16)   // ET_DYN
        #expect(refusal(b) == .notExecutable(type: 3))
        #expect(refusal(b)!.description.contains("ET_DYN"))
        b = good; b.patch(UInt16(1), at: 16)   // ET_REL
        #expect(refusal(b) == .notExecutable(type: 1))
        #expect(refusal([]) == .truncatedHeader(fileSize: 0))
        #expect(refusal(Array(good[..<63])) == .truncatedHeader(fileSize: 63))
    }

    @Test func programHeaderTableChecks() {
        let good = ELFBuilder.standard().build()
        var b = good; b.patch(UInt16(0xFFFE), at: 56)      // huge phnum
        #expect(refusal(b) == .programHeadersOutsideFile(offset: 64, count: 0xFFFE, fileSize: UInt64(good.count)))
        b = good; b.patch(UInt16(0xFFFF), at: 56)          // PN_XNUM
        #expect(refusal(b) == .tooManyProgramHeaders(0xFFFF))
        b = good; b.patch(UInt16(0), at: 56)
        #expect(refusal(b) == .noLoadableSegments)
        b = good; b.patch(UInt16(32), at: 54)              // phentsize
        #expect(refusal(b) == .badProgramHeaderEntrySize(32))
        b = good; b.patch(UInt64.max - 10, at: 32)         // phoff + size overflows
        #expect(refusal(b) == .programHeadersOutsideFile(offset: UInt64.max - 10, count: 3, fileSize: UInt64(good.count)))
        b = good; b.patch(UInt64(good.count - 8), at: 32)  // table runs off the end
        #expect(refusal(b).map { if case .programHeadersOutsideFile = $0 { true } else { false } } == true)
    }

    @Test func segmentBeyondFile() {
        let (good, layout) = ELFBuilder.standard().buildWithLayout()
        var b = good; b.patch(UInt64(good.count - 8), at: layout.programHeader(1) + PH.offset)
        let error = refusal(b)
        #expect(error == .segmentOutsideFile(segment: 1, offset: UInt64(good.count - 8), size: 16, fileSize: UInt64(good.count)))
        #expect(error?.description == "segment 1 extends past the end of the file (offset 0x\(String(good.count - 8, radix: 16)), size 0x10, file size 0x\(String(good.count, radix: 16)))")
        b = good; b.patch(UInt64.max - 4, at: layout.programHeader(0) + PH.offset) // offset + filesz overflows
        #expect(refusal(b).map { if case .segmentOutsideFile(segment: 0, _, _, _) = $0 { true } else { false } } == true)
        b = good; b.patch(UInt64(1 << 40), at: layout.programHeader(0) + PH.filesz)
        b.patch(UInt64(1 << 40), at: layout.programHeader(0) + PH.memsz)
        #expect(refusal(b).map { if case .segmentOutsideFile(segment: 0, _, _, _) = $0 { true } else { false } } == true)
    }

    @Test func fileSizeLargerThanMemorySize() {
        let (good, layout) = ELFBuilder.standard().buildWithLayout()
        var b = good; b.patch(UInt64(8), at: layout.programHeader(1) + PH.memsz)
        #expect(refusal(b) == .fileSizeExceedsMemorySize(segment: 1, fileSize: 16, memorySize: 8))
    }

    @Test func overlappingSegments() {
        var builder = ELFBuilder.standard()
        builder.segments[1].vaddr = base + 0x20 // inside text [base, base + 0x40)
        #expect(refusal(builder.build()) == .segmentsOverlap(first: 0, second: 1, firstEnd: base + 0x40, secondStart: base + 0x20))
        builder.segments[1].vaddr = base - 0x10 + 0x100000 // far away: fine
        #expect(refusal(builder.build()) == nil)
        builder.segments[1].vaddr = base + 0x40 // adjacent, but writable data in the text page: W^X
        #expect(refusal(builder.build()) == .writableAndExecutableSharePage(first: 0, second: 1, page: base))
        builder.segments[1].flags = ELF.pfR      // adjacent read-only data: fine
        #expect(refusal(builder.build()) == nil)
        builder.segments[1].flags = ELF.pfR | ELF.pfW
        builder.segments[1].vaddr = base + 0x3F // one byte overlap
        #expect(refusal(builder.build()) != nil)
        // Overlap found regardless of program header order.
        builder.segments[1].vaddr = base
        builder.segments[0].vaddr = base + 0x80
        builder.entry = base + 0x84
        #expect(refusal(builder.build()) == .segmentsOverlap(first: 1, second: 0, firstEnd: base + 0x100, secondStart: base + 0x80))
    }

    @Test func writableAndExecutableSegmentIsRefused() {
        var builder = ELFBuilder.standard()
        builder.segments[0].flags = ELF.pfR | ELF.pfW | ELF.pfX
        #expect(refusal(builder.build()) == .writableAndExecutable(segment: 0))
        builder.segments[0].flags = ELF.pfW | ELF.pfX
        #expect(refusal(builder.build()) == .writableAndExecutable(segment: 0))
        let message = ELFError.writableAndExecutable(segment: 0).description
        #expect(message.contains("writable and executable"))
    }

    /// hvt maps whole pages, so writable bytes in an executable page would make the page W+X.
    @Test func writableAndExecutableSegmentsSharingAPageAreRefused() {
        var builder = ELFBuilder.standard()
        // Data starts in the last page of text; in either program header order.
        builder.segments[0].data = [UInt8](repeating: 0xCC, count: 0x1800)
        builder.segments[1].vaddr = base + 0x1800
        #expect(refusal(builder.build()) == .writableAndExecutableSharePage(first: 0, second: 1, page: base + 0x1000))
        builder.segments.swapAt(0, 1)
        #expect(refusal(builder.build()) == .writableAndExecutableSharePage(first: 1, second: 0, page: base + 0x1000))
        builder.segments.swapAt(0, 1)
        // A read-only segment between them in the same page does not hide the clash.
        builder.segments[1].vaddr = base + 0x1900
        builder.segments.append(ELFBuilder.Segment(flags: ELF.pfR, vaddr: base + 0x1800, data: [1, 2, 3]))
        #expect(refusal(builder.build()) == .writableAndExecutableSharePage(first: 0, second: 1, page: base + 0x1000))
        // Data on the next page: accepted.
        builder.segments[1].vaddr = base + 0x2000
        #expect(refusal(builder.build()) == nil)
    }

    @Test func addressRange() {
        var builder = ELFBuilder.standard()
        builder.segments[1].vaddr = SWIFTLET_GUEST_BASE + 0x1000 // in the stack area
        #expect(refusal(builder.build()) == .segmentBelowImageBase(segment: 1, vaddr: SWIFTLET_GUEST_BASE + 0x1000, imageBase: base))
        builder.segments[1].vaddr = 0x1000 // below GUEST_BASE entirely
        #expect(refusal(builder.build()) != nil)

        builder = ELFBuilder.standard()
        builder.segments[1].vaddr = SWIFTLET_GUEST_BASE + (4 << 20) - 0x80 // ends past 4 MiB
        let end = SWIFTLET_GUEST_BASE + (4 << 20) + 0x80
        #expect(refusal(builder.build(), memorySize: 4 << 20)
            == .segmentBeyondMemory(segment: 1, end: end, memoryEnd: SWIFTLET_GUEST_BASE + (4 << 20)))
        #expect(refusal(builder.build(), memorySize: 8 << 20) == nil)
        // validate(memorySize:) re-checks a parsed image for another size.
        let image = try? ELFImage(bytes: builder.build())
        #expect(image != nil)
        #expect(throws: ELFError.self) { try image?.validate(memorySize: 4 << 20) }
        #expect(throws: ELFError.invalidMemorySize(UInt64.max)) { try image?.validate(memorySize: UInt64.max) }

        builder = ELFBuilder.standard()
        builder.segments[1].vaddr = UInt64.max - 0x10 // vaddr + memsz wraps
        #expect(refusal(builder.build()) == .segmentAddressOverflow(segment: 1, vaddr: UInt64.max - 0x10, memorySize: 0x100))
        builder.segments[1].vaddr = UInt64.max - 0x100 // ends exactly at 2^64 - 1: far beyond memory
        #expect(refusal(builder.build()).map { if case .segmentBeyondMemory = $0 { true } else { false } } == true)
    }

    @Test func entryPoint() {
        var builder = ELFBuilder.standard()
        builder.entry = base + 0x1004 // in the data segment
        #expect(refusal(builder.build()) == .entryNotExecutable(entry: base + 0x1004))
        builder.entry = base + 0x40 // one past text
        #expect(refusal(builder.build()) == .entryNotExecutable(entry: base + 0x40))
        builder.entry = 0
        #expect(refusal(builder.build()) == .entryNotExecutable(entry: 0))
        builder.entry = base + 0x3F
        #expect(refusal(builder.build()) == nil)
    }

    @Test func dynamicImagesRefused() {
        for type in [ELF.ptInterp, ELF.ptDynamic] {
            var builder = ELFBuilder.standard()
            builder.segments.append(.init(type: type, flags: ELF.pfR, vaddr: 0, data: Array("/lib/ld.so\0".utf8)))
            #expect(refusal(builder.build()) == .notStatic(segment: 2, type: type))
        }
        #expect(ELFError.notStatic(segment: 2, type: ELF.ptInterp).description.contains("PT_INTERP"))
    }

    @Test func otherSegmentChecks() {
        var builder = ELFBuilder.standard()
        builder.segments[0].align = 0x1800
        #expect(refusal(builder.build()) == .badAlignment(segment: 0, align: 0x1800))
        builder.segments[0].align = 0
        #expect(refusal(builder.build()) == nil)
        // Only non-load segments.
        builder = ELFBuilder.standard()
        builder.segments = [.init(type: 0x6474_E551, flags: ELF.pfR | ELF.pfW, vaddr: 0, data: [])] // GNU_STACK
        #expect(refusal(builder.build()) == .noLoadableSegments)
        // An empty PT_LOAD is ignored; other segment types are ignored.
        builder = ELFBuilder.standard()
        builder.segments.append(.init(flags: ELF.pfR, vaddr: base + 0x8000, data: []))
        builder.segments.append(.init(type: 0x6474_E551, flags: ELF.pfR | ELF.pfW, vaddr: 0, data: [], align: 16))
        let image = try? ELFImage(bytes: builder.build(), memorySize: memorySize)
        #expect(image?.segments.count == 2)
    }

    @Test func malformedSectionTableDoesNotRejectImage() throws {
        let (good, layout) = ELFBuilder.standard().buildWithLayout()
        var corruptions: [[UInt8]] = []
        var b = good; b.patch(UInt64(good.count + 100), at: 40); corruptions.append(b) // e_shoff past end
        b = good; b.patch(UInt64.max - 3, at: 40); corruptions.append(b)              // e_shoff overflow
        b = good; b.patch(UInt16(40), at: 58); corruptions.append(b)                  // e_shentsize
        b = good; b.patch(UInt16(0xFFF0), at: 60); corruptions.append(b)              // e_shnum
        b = good; b.patch(UInt16(99), at: 62); corruptions.append(b)                  // e_shstrndx
        b = good; b.patch(UInt32(0xFFFF_FF00), at: layout.sectionHeader(1)); corruptions.append(b) // sh_name
        b = good; b.patch(UInt64.max, at: layout.sectionHeader(layout.sectionCount - 1) + 24); corruptions.append(b)
        for bytes in corruptions {
            let image = try ELFImage(bytes: bytes, memorySize: memorySize)
            #expect(image.sections.isEmpty)
            #expect(image.segments.count == 2)
            #expect(image.abiNote != nil) // from PT_NOTE
            #expect(image.symbolTable().isEmpty)
        }
        // No section headers at all.
        var builder = ELFBuilder.standard()
        builder.includeSections = false
        #expect(try ELFImage(bytes: builder.build(), memorySize: memorySize).sections.isEmpty)
    }

    /// Deterministic random corruption: parsing, symbols and symbolizing must never trap.
    @Test func randomCorruptionNeverTraps() {
        var builder = ELFBuilder.standard()
        builder.symbols = [.init(name: "$e5crash5CrashV8overflowyS2iFZ", value: base, size: 0x20),
                           .init(name: "swift_retain", value: base + 0x20, size: 0, type: ELF.sttNotype)]
        let good = builder.build()
        var rng = SplitMix64(seed: 0x5EED)
        var accepted = 0
        let guest = TestGuestMemory(size: 2 << 20)
        for _ in 0 ..< 3000 {
            var b = good
            for _ in 0 ..< Int(rng.next() % 4 + 1) {
                let at = Int(rng.next() % UInt64(b.count))
                switch rng.next() % 3 {
                case 0: b[at] = UInt8(truncatingIfNeeded: rng.next())
                case 1: b[at] = 0xFF
                default: if at + 8 <= b.count { b.patch(rng.next(), at: at) }
                }
            }
            if let image = try? ELFImage(bytes: b, memorySize: memorySize) {
                accepted += 1
                let symbols = image.symbolTable()
                _ = symbols.symbolize(base + rng.next() % 0x40)
                _ = symbols.sizeByModule()
                _ = try? image.load(into: guest.memory)
            }
        }
        #expect(accepted > 0)
    }
}


/// The loader's work is bounded by the file size: a small image cannot make it copy or walk
/// gigabytes (issue 8: a 1.07 MB image took 411 MiB, 4,000 overlapping notes 21.6 s of CPU).
@Suite struct ELFWorkBoundTests {
    /// `bytes` with a new section header table at the end: the old headers plus `copies` copies
    /// of header `index` (indices of the old sections do not change).
    static func repeatingSection(_ index: Int, copies: Int, of bytes: [UInt8], layout: ELFBuilder.Layout) -> [UInt8] {
        var file = bytes
        while file.count % 8 != 0 { file.append(0) }
        let table = file.count
        file += bytes[layout.sectionHeaders! ..< layout.sectionHeaders! + layout.sectionCount * ELF.sectionHeaderSize]
        let header = bytes[layout.sectionHeader(index) ..< layout.sectionHeader(index) + ELF.sectionHeaderSize]
        for _ in 0 ..< copies { file += header }
        file.patch(UInt64(table), at: 40)
        file.patch(UInt16(layout.sectionCount + copies), at: 60)
        return file
    }

    /// 16 KiB of well-formed notes that are not the ABI note.
    static var junkNotes: [ELFBuilder.Note] {
        (0 ..< 512).map { _ in ELFBuilder.Note(name: Array("JUNK\0".utf8), type: 1, desc: [UInt8](repeating: 7, count: 12)) }
    }

    @Test func overlappingNoteSectionsAreWalkedAtMostOnceOver() throws {
        var builder = ELFBuilder.standard()
        builder.notes = Self.junkNotes
        builder.notesInSegment = false
        let (bytes, layout) = builder.buildWithLayout()
        let noteSection = 3   // null, .text, .data, .note.swiftlet
        let image = try ELFImage(bytes: Self.repeatingSection(noteSection, copies: 4000, of: bytes, layout: layout))
        #expect(image.sections.filter { $0.type == ELF.shtNote }.count == 4001)
        // Unbounded, this walked 4,001 x 16 KiB = 64 MiB; now at most the file.
        #expect(image.noteBytesWalked <= image.fileSize, "\(image.noteBytesWalked) bytes walked")
        #expect(image.abiNote == nil)
        #expect(throws: ELFError.missingABINote) { try image.checkABI(target: SWIFTLET_TARGET_HVT) }
    }

    @Test func overlappingNoteSegmentsAreRefused() throws {
        var builder = ELFBuilder.standard()
        // No ABI note among them: a repeated one is already refused as a duplicate at the second copy.
        builder.notes = Self.junkNotes
        builder.includeSections = false
        let (bytes, layout) = builder.buildWithLayout()
        // A new program header table: the three old entries, then 4,000 more copies of PT_NOTE.
        var file = bytes
        while file.count % 8 != 0 { file.append(0) }
        let table = file.count
        file += bytes[layout.programHeaders ..< layout.programHeaders + 3 * ELF.programHeaderSize]
        let note = bytes[layout.programHeader(2) ..< layout.programHeader(2) + ELF.programHeaderSize]
        for _ in 0 ..< 4000 { file += note }
        file.patch(UInt64(table), at: 32)
        file.patch(UInt16(4003), at: 56)
        guard case .noteAreasExceedFile(let total, let fileSize)? = refusal(file) else {
            Issue.record("4,001 overlapping PT_NOTE segments: \(String(describing: refusal(file)))"); return
        }
        #expect(total > fileSize && total <= 2 * fileSize)
    }

    /// Section names come from a section header string table; 4,000 headers all naming one
    /// 100 KB string would copy 400 MB. Names are capped, and a table with longer ones is
    /// treated as malformed (sections are advisory: the image still loads).
    @Test func longSectionNamesAreNotCopiedPerEntry() throws {
        var builder = ELFBuilder.standard()
        builder.segments.append(ELFBuilder.Segment(flags: ELF.pfR, vaddr: base + 0x2000,
                                                   data: [UInt8](repeating: 0x41, count: 100_000) + [0]))
        let (bytes, layout) = builder.buildWithLayout()
        var file = Self.repeatingSection(1, copies: 4000, of: bytes, layout: layout)
        file.patch(UInt16(3), at: 62)            // e_shstrndx: the 100 KB string's section
        let image = try ELFImage(bytes: file)
        #expect(image.sections.isEmpty)
        #expect(image.segments.count == 3)

        // A long but reasonable name is still read.
        builder.segments[0].name = String(repeating: "t", count: ELFImage.maximumSectionNameLength)
        #expect(try ELFImage(bytes: builder.build()).sections[1].name.count == ELFImage.maximumSectionNameLength)
    }

    /// 40,000 symbols all naming one 3,000-byte string: 120 MB of copies before; now the names
    /// read are bounded by the string table, and such a table counts as malformed.
    @Test func symbolNamesAreReadAtMostTwiceOver() throws {
        var builder = ELFBuilder.standard()
        let long = String(repeating: "s", count: 3000)
        builder.symbols = [ELFBuilder.Symbol(name: long, value: base, size: 4)]
            + (1 ..< 40_000).map { ELFBuilder.Symbol(name: "", value: base + UInt64($0 % 0x40), size: 1, nameOffset: 1) }
        let (bytes, layout) = builder.buildWithLayout()
        let image = try ELFImage(bytes: bytes)
        let (symbols, read) = SymbolTable.readSymbolsCountingWork(image)
        #expect(symbols.isEmpty)
        #expect(read <= 2 * UInt64(layout.strtabSize) + 65536 + UInt64(SymbolTable.maximumNameLength) + 1, "\(read) name bytes read")

        // An ordinary table is read whole, each name once.
        builder.symbols = (0 ..< 1000).map { ELFBuilder.Symbol(name: "function\($0)", value: base + UInt64($0 % 0x40), size: 1) }
        let ordinary = SymbolTable.readSymbolsCountingWork(try ELFImage(bytes: builder.build()))
        #expect(ordinary.symbols.count == 0x40)   // one per address
        #expect(ordinary.nameBytesRead == UInt64((0 ..< 1000).map { "function\($0)".utf8.count + 1 }.reduce(0, +)))
    }
}
