// The hvt guest's supervisor structures (page tables, GDT, IDT, TSS, exception stubs), built
// by the tender in a guest-physical area the guest cannot see: its pages are supervisor-only,
// and the guest runs at CPL3 the whole time. Pure layout code: no KVM here, so it is testable.
import SwiftletABI

public struct X86SystemArea {
    public static let physicalBase: UInt64 = 0x10_0000
    public static let size: UInt64 = 0x10_0000

    // Offsets inside the area.
    static let pml4: UInt64 = 0x0000
    static let pdpt: UInt64 = 0x1000
    static let pdLow: UInt64 = 0x2000
    static let ptLow: UInt64 = 0x3000
    public static let gdt: UInt64 = 0x4000
    public static let idt: UInt64 = 0x5000
    public static let tss: UInt64 = 0x6000
    static let stubs: UInt64 = 0x7000
    public static let interruptStackTop: UInt64 = 0xA000
    static let pdHypercall: UInt64 = 0xB000
    static let ptHypercall: UInt64 = 0xC000
    static let ramDirectories: UInt64 = 0x10000   // 4 page directories: 4 GiB of RAM
    static let ramTables: UInt64 = 0x14000         // 4 KiB page tables for the image span
    static let maximumRAMTables = Int((size - ramTables) / 0x1000)

    public static let gdtEntries: [UInt64] = [
        0,
        0x00af_9b00_0000_ffff, // 0x08 kernel code (exception stubs only)
        0x00cf_9300_0000_ffff, // 0x10 kernel data
        0x00cf_f300_0000_ffff, // 0x18 user data
        0x00af_fb00_0000_ffff, // 0x20 user code: the guest
        0, 0,                  // 0x28 TSS (16 bytes), filled in
    ]
    public static let kernelCode: UInt16 = 0x08
    public static let kernelData: UInt16 = 0x10
    public static let userData: UInt16 = 0x18 | 3
    public static let userCode: UInt16 = 0x20 | 3
    public static let taskRegister: UInt16 = 0x28
    public static let tssLimit: UInt32 = 103

    /// Exceptions for which the CPU pushes an error code itself.
    static let vectorsWithErrorCode: Set<UInt8> = [8, 10, 11, 12, 13, 14, 17, 21, 29, 30]
    public static let stubSize: UInt64 = 16

    public struct Segment: Equatable {
        public var start: UInt64, end: UInt64, writable: Bool, executable: Bool
        public init(start: UInt64, end: UInt64, writable: Bool, executable: Bool) {
            self.start = start; self.end = end; self.writable = writable; self.executable = executable
        }
    }

    public enum LayoutError: Error, CustomStringConvertible {
        case imageTooLarge(UInt64)
        case unsupportedMemorySize(UInt64)
        public var description: String {
            switch self {
            case .imageTooLarge(let end): "image ends at \(end), too far for the hvt page tables"
            case .unsupportedMemorySize(let size): "guest memory of \(size) bytes: the page tables cover 2 MiB multiples up to 4 GiB"
            }
        }
    }

    // Page-table entry bits.
    static let present: UInt64 = 1, writable: UInt64 = 2, user: UInt64 = 4, huge: UInt64 = 0x80
    static let noExecute: UInt64 = 1 << 63

    /// Writes every structure into `area` (the host view of the system area, `size` bytes,
    /// zeroed), mapping guest RAM [GUEST_BASE, GUEST_BASE + memorySize) for CPL3.
    public static func build(into area: UnsafeMutableRawPointer, memorySize: UInt64, segments: [Segment]) throws(LayoutError) {
        // The four RAM page directories cover exactly 4 GiB; anything else would write past them.
        guard memorySize <= SWIFTLET_MEM_MAX, memorySize % (2 << 20) == 0 else { throw .unsupportedMemorySize(memorySize) }
        func entry(_ offset: UInt64, _ index: Int, _ value: UInt64) {
            area.storeBytes(of: value, toByteOffset: Int(offset) + index * 8, as: UInt64.self)
        }
        let base = physicalBase
        // Supervisor-only identity mapping of this area itself (needed for GDT/IDT/TSS/stubs).
        entry(pml4, 0, (base + pdpt) | present | writable | user)
        entry(pdpt, 0, (base + pdLow) | present | writable)
        entry(pdLow, 0, (base + ptLow) | present | writable)
        for page in 0..<Int(size / 0x1000) {
            let address = base + UInt64(page) * 0x1000
            let executable = address == base + stubs
            entry(ptLow, Int(address >> 12) & 511, address | present | (executable ? 0 : writable | noExecute))
        }

        // The hypercall page: user-writable, with no guest memory behind it, so each store exits.
        let page = SWIFTLET_HVT_HYPERCALL_PAGE
        entry(pdpt, Int(page >> 30) & 511, (base + pdHypercall) | present | writable | user)
        entry(pdHypercall, Int(page >> 21) & 511, (base + ptHypercall) | present | writable | user)
        entry(ptHypercall, Int(page >> 12) & 511, page | present | writable | user | noExecute)

        // Guest RAM: 4 KiB pages over the image span (guard page, read-only boot info, W^X
        // segments), 2 MiB pages for the rest of the heap.
        // At least the first chunk (guard page, boot info) gets small pages; the span is checked
        // before any arithmetic on it, so no segment end can underflow or overflow here.
        let imageEnd = max(segments.map { $0.end }.max() ?? 0, SWIFTLET_GUEST_BASE + SWIFTLET_IMAGE_OFFSET)
        guard imageEnd - SWIFTLET_GUEST_BASE <= UInt64(maximumRAMTables) << 21 else { throw .imageTooLarge(imageEnd) }
        let smallChunks = Int((imageEnd - SWIFTLET_GUEST_BASE + 0x1F_FFFF) >> 21)
        let chunks = Int(memorySize >> 21)
        for chunk in 0..<chunks {
            let virtual = SWIFTLET_GUEST_BASE + UInt64(chunk) << 21
            let gigabyte = Int(virtual >> 30)
            let directory = ramDirectories + UInt64(gigabyte - 4) * 0x1000
            entry(pdpt, gigabyte, (base + directory) | present | writable | user)
            if chunk < smallChunks {
                let table = ramTables + UInt64(chunk) * 0x1000
                entry(directory, Int(virtual >> 21) & 511, (base + table) | present | writable | user)
                for page in 0..<512 {
                    let address = virtual + UInt64(page) << 12
                    entry(table, page, pageEntry(address, segments: segments))
                }
            } else {
                entry(directory, Int(virtual >> 21) & 511, virtual | present | writable | user | huge | noExecute)
            }
        }

        for (index, value) in gdtEntries.enumerated() { entry(gdt, index, value) }
        let tssAddress = base + tss
        let tssLow = UInt64(tssLimit) | (tssAddress & 0xFFFF) << 16 | ((tssAddress >> 16) & 0xFF) << 32
            | UInt64(0x8B) << 40 | ((tssAddress >> 24) & 0xFF) << 56
        entry(gdt, 5, tssLow)
        entry(gdt, 6, tssAddress >> 32)

        // TSS: RSP0 for exceptions taken from CPL3; I/O bitmap offset past the limit (none).
        area.storeBytes(of: base + interruptStackTop, toByteOffset: Int(tss) + 4, as: UInt64.self)
        area.storeBytes(of: UInt16(104), toByteOffset: Int(tss) + 102, as: UInt16.self)

        for vector in 0..<32 {
            let stub = base + stubs + UInt64(vector) * stubSize
            writeStub(area + Int(stubs) + vector * Int(stubSize), vector: UInt8(vector))
            let low = (stub & 0xFFFF) | UInt64(kernelCode) << 16 | UInt64(0x8E) << 40 | ((stub >> 16) & 0xFFFF) << 48
            entry(idt, vector * 2, low)
            entry(idt, vector * 2 + 1, stub >> 32)
        }
    }

    /// One exception stub: make the stack look the same for every vector, then `hlt` so the
    /// tender sees KVM_EXIT_HLT and reads [vector, error code, rip, cs, rflags, rsp, ss].
    static func writeStub(_ at: UnsafeMutableRawPointer, vector: UInt8) {
        var code: [UInt8] = vectorsWithErrorCode.contains(vector) ? [] : [0x6A, 0x00] // push $0
        code += [0x6A, vector, 0xF4, 0xEB, 0xFD]                                      // push $v; hlt; jmp .-1
        for (index, byte) in code.enumerated() { at.storeBytes(of: byte, toByteOffset: index, as: UInt8.self) }
    }

    static func pageEntry(_ address: UInt64, segments: [Segment]) -> UInt64 {
        let offset = address - SWIFTLET_GUEST_BASE
        if offset < SWIFTLET_STACK_BOTTOM { return 0 }
        if offset >= SWIFTLET_BOOTINFO_OFFSET && offset < SWIFTLET_BOOTINFO_OFFSET + SWIFTLET_BOOTINFO_SIZE {
            return address | present | user | noExecute
        }
        let covering = segments.filter { $0.start < address + 0x1000 && $0.end > address }
        if covering.isEmpty { return address | present | writable | user | noExecute }
        var value = address | present | user
        if covering.contains(where: { $0.writable }) { value |= writable }
        if !covering.contains(where: { $0.executable }) { value |= noExecute }
        return value
    }

    /// Host offset of a guest-physical address inside this area, if it is one.
    public static func offset(of physical: UInt64, count: UInt64) -> Int? {
        guard physical >= physicalBase, count <= size, physical - physicalBase <= size - count else { return nil }
        return Int(physical - physicalBase)
    }
}
