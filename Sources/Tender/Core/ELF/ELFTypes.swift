// ELF64 constants and a bounds-checked little-endian reader over an image's bytes.
// Only what a static x86-64 executable loader, the symbolizer and `swiftlet inspect` need.

/// ELF constants (System V gABI, x86-64 psABI).
public enum ELF {
    // e_ident
    public static let magic: [UInt8] = [0x7F, 0x45, 0x4C, 0x46] // "\x7FELF"
    public static let identSize = 16
    public static let classOffset = 4, dataOffset = 5, identVersionOffset = 6
    public static let class64: UInt8 = 2
    public static let dataLittleEndian: UInt8 = 1
    public static let versionCurrent: UInt8 = 1

    // header
    public static let headerSize = 64
    public static let programHeaderSize = 56
    public static let sectionHeaderSize = 64
    public static let symbolSize = 24
    public static let typeExec: UInt16 = 2
    public static let machineX86_64: UInt16 = 62

    // program header types and flags
    public static let ptNull: UInt32 = 0
    public static let ptLoad: UInt32 = 1
    public static let ptDynamic: UInt32 = 2
    public static let ptInterp: UInt32 = 3
    public static let ptNote: UInt32 = 4
    public static let ptPhdr: UInt32 = 6
    public static let ptTLS: UInt32 = 7
    public static let pfX: UInt32 = 1, pfW: UInt32 = 2, pfR: UInt32 = 4

    // sections
    public static let shnUndef: UInt16 = 0
    public static let shnLoReserve: UInt16 = 0xFF00
    public static let shnAbs: UInt16 = 0xFFF1
    public static let shnXIndex: UInt16 = 0xFFFF
    public static let pnXNum: UInt16 = 0xFFFF
    public static let shtNull: UInt32 = 0
    public static let shtProgbits: UInt32 = 1
    public static let shtSymtab: UInt32 = 2
    public static let shtStrtab: UInt32 = 3
    public static let shtRela: UInt32 = 4
    public static let shtNote: UInt32 = 7
    public static let shtNobits: UInt32 = 8
    public static let shtDynsym: UInt32 = 11
    public static let shfWrite: UInt64 = 0x1
    public static let shfAlloc: UInt64 = 0x2
    public static let shfExecInstr: UInt64 = 0x4

    // symbols
    public static let sttNotype: UInt8 = 0
    public static let sttObject: UInt8 = 1
    public static let sttFunc: UInt8 = 2
    public static let sttSection: UInt8 = 3
    public static let sttFile: UInt8 = 4
    public static let stbLocal: UInt8 = 0
    public static let stbGlobal: UInt8 = 1
    public static let stbWeak: UInt8 = 2

    /// Human name of a section type, for `swiftlet inspect`.
    public static func sectionTypeName(_ type: UInt32) -> String {
        switch type {
        case shtNull: return "NULL"
        case shtProgbits: return "PROGBITS"
        case shtSymtab: return "SYMTAB"
        case shtStrtab: return "STRTAB"
        case shtRela: return "RELA"
        case shtNote: return "NOTE"
        case shtNobits: return "NOBITS"
        case shtDynsym: return "DYNSYM"
        case 14: return "INIT_ARRAY"
        case 15: return "FINI_ARRAY"
        case 0x6FFF_FFF6: return "GNU_HASH"
        case 0x7000_0001: return "X86_64_UNWIND"
        default: return "0x" + String(type, radix: 16)
        }
    }

    /// Human name of a program header type.
    public static func segmentTypeName(_ type: UInt32) -> String {
        switch type {
        case ptNull: return "NULL"
        case ptLoad: return "LOAD"
        case ptDynamic: return "DYNAMIC"
        case ptInterp: return "INTERP"
        case ptNote: return "NOTE"
        case ptPhdr: return "PHDR"
        case ptTLS: return "TLS"
        case 0x6474_E550: return "GNU_EH_FRAME"
        case 0x6474_E551: return "GNU_STACK"
        case 0x6474_E552: return "GNU_RELRO"
        case 0x6474_E553: return "GNU_PROPERTY"
        default: return "0x" + String(type, radix: 16)
        }
    }
}

/// Where an image's bytes come from: the whole file in memory (`swiftlet inspect`, tests), or
/// an open file read on demand (`ImageFile`: the tenders, which never read DWARF or other
/// sections they do not use). Offsets are file offsets; `count` is the file's size, and every
/// range is checked against it before a source is asked for it.
public protocol ELFBytes: AnyObject, Sendable {
    /// The size of the file.
    var count: UInt64 { get }
    /// Calls `body` with the bytes [offset, offset + length), which lie inside the file; false
    /// if they cannot be read (a file source's read failed, or it was closed). Not generic, so
    /// that Embedded Swift can call it through `any ELFBytes`.
    func withBytes(offset: UInt64, length: Int, _ body: (UnsafeRawBufferPointer) -> Void) -> Bool
    /// Copies [offset, offset + destination.count), inside the file, into `destination`
    /// (guest memory, when a tender loads a segment); false if they cannot be read.
    func copy(offset: UInt64, into destination: UnsafeMutableRawBufferPointer) -> Bool
}

/// A whole file held in memory.
public final class ELFMemoryBytes: ELFBytes {
    public let bytes: [UInt8]
    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public var count: UInt64 { UInt64(bytes.count) }

    public func withBytes(offset: UInt64, length: Int, _ body: (UnsafeRawBufferPointer) -> Void) -> Bool {
        bytes.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[Int(offset) ..< Int(offset) + length])) }
        return true
    }

    public func copy(offset: UInt64, into destination: UnsafeMutableRawBufferPointer) -> Bool {
        withBytes(offset: offset, length: destination.count) { destination.copyMemory(from: $0) }
    }
}

/// Copies of a few ranges of a file (a symbol table and its strings, say), kept after the file
/// is closed. Reads inside one range succeed; any other read fails, as a closed file's would.
public final class ELFRetainedRanges: ELFBytes {
    public let count: UInt64
    private let ranges: [(offset: UInt64, bytes: [UInt8])]

    /// Nil if a range cannot be read from `source`.
    public init?(_ source: any ELFBytes, ranges wanted: [(offset: UInt64, length: UInt64)]) {
        var ranges: [(offset: UInt64, bytes: [UInt8])] = []
        for range in wanted {
            let (end, overflow) = range.offset.addingReportingOverflow(range.length)
            guard !overflow, end <= source.count else { return nil }
            var bytes: [UInt8] = []
            guard source.withBytes(offset: range.offset, length: Int(range.length), { bytes = Array($0) }) else { return nil }
            ranges.append((range.offset, bytes))
        }
        count = source.count
        self.ranges = ranges
    }

    public func withBytes(offset: UInt64, length: Int, _ body: (UnsafeRawBufferPointer) -> Void) -> Bool {
        for range in ranges where offset >= range.offset && offset - range.offset <= UInt64(range.bytes.count)
            && UInt64(length) <= UInt64(range.bytes.count) - (offset - range.offset) {
            let start = Int(offset - range.offset)
            range.bytes.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[start ..< start + length])) }
            return true
        }
        return false
    }

    public func copy(offset: UInt64, into destination: UnsafeMutableRawBufferPointer) -> Bool {
        withBytes(offset: offset, length: destination.count) { destination.copyMemory(from: $0) }
    }
}

/// Bounds-checked little-endian reads from a file image. Every read returns nil instead of
/// reading out of range; offsets are UInt64 so callers can pass untrusted file fields as is.
struct ELFReader {
    let source: any ELFBytes

    init(_ source: any ELFBytes) { self.source = source }
    init(bytes: [UInt8]) { self.init(ELFMemoryBytes(bytes)) }

    var count: UInt64 { source.count }

    /// Whether [offset, offset + length) lies inside the file (overflow-checked).
    func contains(offset: UInt64, length: UInt64) -> Bool {
        let (end, overflow) = offset.addingReportingOverflow(length)
        return !overflow && end <= count
    }

    /// Whether [offset, offset + count * size) lies inside the file (overflow-checked).
    func contains(offset: UInt64, count items: UInt64, size: UInt64) -> Bool {
        let (length, overflow) = items.multipliedReportingOverflow(by: size)
        return !overflow && contains(offset: offset, length: length)
    }

    /// Calls `body` with [offset, offset + length), or returns nil if out of range or unreadable.
    func withBytes<R>(offset: UInt64, length: UInt64, _ body: (UnsafeRawBufferPointer) -> R) -> R? {
        guard contains(offset: offset, length: length) else { return nil }
        var result: R?
        guard source.withBytes(offset: offset, length: Int(length), { result = body($0) }) else { return nil } // length <= count <= Int.max
        return result
    }

    private func load<T: FixedWidthInteger & BitwiseCopyable>(_: T.Type, _ offset: UInt64) -> T? {
        withBytes(offset: offset, length: UInt64(MemoryLayout<T>.size)) { T(littleEndian: $0.loadUnaligned(as: T.self)) }
    }

    func u8(_ offset: UInt64) -> UInt8? { load(UInt8.self, offset) }
    func u16(_ offset: UInt64) -> UInt16? { load(UInt16.self, offset) }
    func u32(_ offset: UInt64) -> UInt32? { load(UInt32.self, offset) }
    func u64(_ offset: UInt64) -> UInt64? { load(UInt64.self, offset) }

    /// A copy of the bytes [offset, offset + length), or nil if out of range.
    func slice(offset: UInt64, length: UInt64) -> ArraySlice<UInt8>? {
        withBytes(offset: offset, length: length) { ArraySlice($0) }
    }

    /// The NUL-terminated string at `table.offset + index`, which must end (with its NUL)
    /// inside [table.offset, table.offset + table.size) within `maximumLength` bytes. Returns
    /// the bytes without the NUL. Looks at no more than `maximumLength + 1` bytes.
    func cString(inTableAt tableOffset: UInt64, size tableSize: UInt64, index: UInt64,
                 maximumLength: Int) -> ArraySlice<UInt8>? {
        guard index < tableSize, contains(offset: tableOffset, length: tableSize) else { return nil }
        let start = tableOffset + index                 // both inside the file, no overflow
        let length = min(tableSize - index, UInt64(maximumLength) + 1)
        return withBytes(offset: start, length: length) { bytes -> ArraySlice<UInt8>? in
            guard let nul = bytes.firstIndex(of: 0) else { return nil }
            return ArraySlice(bytes[..<nul])
        } ?? nil
    }
}

/// Raw ELF64 file header fields.
struct ELFHeader {
    var type: UInt16, machine: UInt16, version: UInt32
    var entry: UInt64, phoff: UInt64, shoff: UInt64
    var flags: UInt32
    var ehsize: UInt16, phentsize: UInt16, phnum: UInt16
    var shentsize: UInt16, shnum: UInt16, shstrndx: UInt16

    /// Reads the fixed 64-byte header; the caller has checked the file is that long.
    init?(_ r: ELFReader) {
        guard let type = r.u16(16), let machine = r.u16(18), let version = r.u32(20),
              let entry = r.u64(24), let phoff = r.u64(32), let shoff = r.u64(40),
              let flags = r.u32(48), let ehsize = r.u16(52), let phentsize = r.u16(54),
              let phnum = r.u16(56), let shentsize = r.u16(58), let shnum = r.u16(60),
              let shstrndx = r.u16(62) else { return nil }
        self.type = type; self.machine = machine; self.version = version
        self.entry = entry; self.phoff = phoff; self.shoff = shoff; self.flags = flags
        self.ehsize = ehsize; self.phentsize = phentsize; self.phnum = phnum
        self.shentsize = shentsize; self.shnum = shnum; self.shstrndx = shstrndx
    }
}

/// Raw ELF64 program header.
struct ELFProgramHeader {
    var type: UInt32, flags: UInt32
    var offset: UInt64, vaddr: UInt64, paddr: UInt64
    var filesz: UInt64, memsz: UInt64, align: UInt64

    init?(_ r: ELFReader, at o: UInt64) {
        guard r.contains(offset: o, length: UInt64(ELF.programHeaderSize)),
              let type = r.u32(o), let flags = r.u32(o + 4), let offset = r.u64(o + 8),
              let vaddr = r.u64(o + 16), let paddr = r.u64(o + 24), let filesz = r.u64(o + 32),
              let memsz = r.u64(o + 40), let align = r.u64(o + 48) else { return nil }
        self.type = type; self.flags = flags; self.offset = offset; self.vaddr = vaddr
        self.paddr = paddr; self.filesz = filesz; self.memsz = memsz; self.align = align
    }
}

/// Raw ELF64 section header.
struct ELFSectionHeader {
    var name: UInt32, type: UInt32
    var flags: UInt64, addr: UInt64, offset: UInt64, size: UInt64
    var link: UInt32, info: UInt32
    var addralign: UInt64, entsize: UInt64

    init?(_ r: ELFReader, at o: UInt64) {
        guard r.contains(offset: o, length: UInt64(ELF.sectionHeaderSize)),
              let name = r.u32(o), let type = r.u32(o + 4), let flags = r.u64(o + 8),
              let addr = r.u64(o + 16), let offset = r.u64(o + 24), let size = r.u64(o + 32),
              let link = r.u32(o + 40), let info = r.u32(o + 44), let addralign = r.u64(o + 48),
              let entsize = r.u64(o + 56) else { return nil }
        self.name = name; self.type = type; self.flags = flags; self.addr = addr
        self.offset = offset; self.size = size; self.link = link; self.info = info
        self.addralign = addralign; self.entsize = entsize
    }
}
