// X86SystemArea: the hvt guest's page tables, GDT, IDT and TSS, checked by walking them the
// way the CPU would (4-level paging, permissions ANDed/ORed down the levels).
import SwiftletABI
import Testing
@testable import TenderCore

/// A built system area in a zeroed host buffer, with a software page walker over it.
private final class BuiltSystemArea {
    static let mib: UInt64 = 1 << 20
    static let base = SWIFTLET_GUEST_BASE
    static var text: X86SystemArea.Segment { X86SystemArea.Segment(start: base + mib, end: base + mib + 0x3000, writable: false, executable: true) }
    static var rodata: X86SystemArea.Segment { X86SystemArea.Segment(start: base + mib + 0x3000, end: base + mib + 0x5000, writable: false, executable: false) }
    static var data: X86SystemArea.Segment { X86SystemArea.Segment(start: base + mib + 0x5000, end: base + mib + 0x7800, writable: true, executable: false) }
    static var imageSegments: [X86SystemArea.Segment] { [text, rodata, data] }

    let area: UnsafeMutableRawPointer
    let memorySize: UInt64

    init(memorySize: UInt64 = 32 << 20, segments: [X86SystemArea.Segment] = BuiltSystemArea.imageSegments) throws {
        area = UnsafeMutableRawPointer.allocate(byteCount: Int(X86SystemArea.size), alignment: 4096)
        area.initializeMemory(as: UInt8.self, repeating: 0, count: Int(X86SystemArea.size))
        self.memorySize = memorySize
        do {
            try X86SystemArea.build(into: area, memorySize: memorySize, segments: segments)
        } catch {
            area.deallocate()
            throw error
        }
    }

    deinit { area.deallocate() }

    func qword(atAreaOffset offset: UInt64) -> UInt64 {
        area.load(fromByteOffset: Int(offset), as: UInt64.self)
    }

    struct Mapping: Equatable, CustomStringConvertible {
        var physical: UInt64
        var user: Bool
        var writable: Bool
        var noExecute: Bool
        var huge: Bool
        var description: String {
            "phys 0x\(String(physical, radix: 16)) \(user ? "U" : "S")\(writable ? "W" : "R")\(noExecute ? "NX" : "X")\(huge ? " 2M" : "")"
        }
    }

    enum WalkError: Error, Equatable {
        case tableOutsideArea(level: Int, physical: UInt64)
        case reservedBitSet(level: Int, entry: UInt64)
    }

    static let addressMask: UInt64 = 0x000F_FFFF_FFFF_F000

    /// Translates `virtual` like the MMU (CR3 = physicalBase), or nil if not present.
    /// Throws if a table pointer leads outside the area (the tables would be garbage).
    func translate(_ virtual: UInt64) throws -> Mapping? {
        var table = X86SystemArea.physicalBase // CR3
        var user = true, writable = true, noExecute = false
        for (level, shift) in [39, 30, 21, 12].enumerated() {
            guard table >= X86SystemArea.physicalBase, table - X86SystemArea.physicalBase <= X86SystemArea.size - 0x1000,
                  table & 0xFFF == 0 else {
                throw WalkError.tableOutsideArea(level: level, physical: table)
            }
            let index = (virtual >> UInt64(shift)) & 511
            let entry = qword(atAreaOffset: table - X86SystemArea.physicalBase + index * 8)
            if entry & 1 == 0 { return nil }
            user = user && entry & 4 != 0
            writable = writable && entry & 2 != 0
            noExecute = noExecute || entry & (1 << 63) != 0
            let address = entry & Self.addressMask
            let pageSize = entry & 0x80 != 0
            if level == 0 && pageSize { throw WalkError.reservedBitSet(level: level, entry: entry) }
            if level == 1 && pageSize { // 1 GiB page: not used by Swiftlet, but decode it anyway
                return Mapping(physical: (address & ~((1 << 30) - 1)) | (virtual & ((1 << 30) - 1)),
                               user: user, writable: writable, noExecute: noExecute, huge: true)
            }
            if level == 2 && pageSize {
                if address & 0x1F_F000 != 0 { throw WalkError.reservedBitSet(level: level, entry: entry) }
                return Mapping(physical: address | (virtual & 0x1F_FFFF),
                               user: user, writable: writable, noExecute: noExecute, huge: true)
            }
            if level == 3 {
                return Mapping(physical: address | (virtual & 0xFFF),
                               user: user, writable: writable, noExecute: noExecute, huge: false)
            }
            table = address
        }
        return nil
    }
}

@Suite struct X86SystemAreaTests {
    static let base = SWIFTLET_GUEST_BASE
    static let mib: UInt64 = 1 << 20

    // MARK: Guest RAM

    @Test func guardPageAndNullAreNotMapped() throws {
        let built = try BuiltSystemArea()
        #expect(try built.translate(Self.base) == nil)
        #expect(try built.translate(Self.base + 0xFFF) == nil)
        #expect(try built.translate(0) == nil)
        #expect(try built.translate(0x1000) == nil)
        #expect(try built.translate(Self.base - 0x1000) == nil) // just below guest memory
        #expect(try built.translate(0x20_0000) == nil)          // just above the system area
    }

    @Test func stackPagesAreUserWritableNoExecute() throws {
        let built = try BuiltSystemArea()
        for offset in stride(from: SWIFTLET_STACK_BOTTOM, to: SWIFTLET_STACK_TOP, by: 0x1000) {
            let mapping = try #require(try built.translate(Self.base + offset), "stack page +0x\(String(offset, radix: 16))")
            #expect(mapping == .init(physical: Self.base + offset, user: true, writable: true, noExecute: true, huge: false))
        }
    }

    @Test func bootInfoPagesAreUserReadOnlyNoExecute() throws {
        let built = try BuiltSystemArea()
        for offset in stride(from: SWIFTLET_BOOTINFO_OFFSET, to: SWIFTLET_BOOTINFO_OFFSET + SWIFTLET_BOOTINFO_SIZE, by: 0x1000) {
            let mapping = try #require(try built.translate(Self.base + offset + 0x10))
            #expect(mapping == .init(physical: Self.base + offset + 0x10, user: true, writable: false, noExecute: true, huge: false))
        }
    }

    @Test func imageSegmentsKeepTheirPermissions() throws {
        let built = try BuiltSystemArea()
        func check(_ segment: X86SystemArea.Segment) throws {
            for page in stride(from: segment.start, to: segment.end, by: 0x1000) {
                let mapping = try #require(try built.translate(page))
                #expect(mapping.user, "\(mapping)")
                #expect(mapping.physical == page)
                #expect(mapping.writable == segment.writable, "page 0x\(String(page, radix: 16)): \(mapping)")
                #expect(mapping.noExecute == !segment.executable, "page 0x\(String(page, radix: 16)): \(mapping)")
                #expect(!mapping.huge)
            }
        }
        try check(BuiltSystemArea.text)
        try check(BuiltSystemArea.rodata)
        try check(BuiltSystemArea.data)
        // The text is really executable and read-only, the data really non-executable.
        let text = try #require(try built.translate(BuiltSystemArea.text.start + 0x123))
        #expect(!text.writable && !text.noExecute)
    }

    @Test func heapAfterTheImageIsWritableNoExecute() throws {
        let built = try BuiltSystemArea()
        // The rest of the small-page chunk after the image (data ends mid-page at +0x7800).
        for page in stride(from: Self.base + Self.mib + 0x8000, to: Self.base + 2 * Self.mib, by: 0x1000) {
            let mapping = try #require(try built.translate(page))
            #expect(mapping == .init(physical: page, user: true, writable: true, noExecute: true, huge: false))
        }
        // Then 2 MiB pages up to the end of memory.
        let hugeStart: UInt64 = Self.base + 2 * Self.mib
        let hugeEnd: UInt64 = Self.base + 32 * Self.mib
        let twoMiB = 0x20_0000
        for chunk in stride(from: hugeStart, to: hugeEnd, by: twoMiB) {
            let mapping = try #require(try built.translate(chunk + 0x1234))
            #expect(mapping == .init(physical: chunk + 0x1234, user: true, writable: true, noExecute: true, huge: true))
        }
    }

    @Test func hugePageRegion() throws {
        let built = try BuiltSystemArea()
        let address = Self.base + 20 * Self.mib + 0x4_5678
        let mapping = try #require(try built.translate(address))
        #expect(mapping.huge)
        #expect(mapping.user)
        #expect(mapping.writable)
        #expect(mapping.noExecute)
        #expect(mapping.physical == address) // identity: guest RAM is guest-physical GUEST_BASE...
    }

    @Test func nothingMappedPastTheEndOfMemory() throws {
        let built = try BuiltSystemArea()
        let end = Self.base + built.memorySize
        #expect(try built.translate(end - 1) != nil)
        #expect(try built.translate(end) == nil)
        #expect(try built.translate(end + 0x1000) == nil)
        #expect(try built.translate(end + 2 * Self.mib) == nil)
        #expect(try built.translate(Self.base + (1 << 30)) == nil) // the next GiB
        #expect(try built.translate(Self.base + (4 << 30)) == nil) // past the largest possible memory
        #expect(try built.translate(0x7FFF_FFFF_F000) == nil)
    }

    static let memorySizes: [UInt64] = [4 << 20, 6 << 20, 64 << 20, 1 << 30, (1 << 30) + (2 << 20), 3 << 30, 4 << 30]

    @Test(arguments: memorySizes)
    func everyMemorySizeMapsExactlyItsRange(memorySize: UInt64) throws {
        let built = try BuiltSystemArea(memorySize: memorySize)
        let end = Self.base + memorySize
        let last = try #require(try built.translate(end - 8))
        #expect(last.physical == end - 8)
        #expect(last.user && last.writable && last.noExecute)
        #expect(try built.translate(end) == nil)
        // Each GiB boundary inside memory resolves through its own directory.
        for gigabyte in stride(from: Self.base + (1 << 30), to: end, by: 1 << 30) {
            #expect(try built.translate(gigabyte)?.physical == gigabyte)
            #expect(try built.translate(gigabyte - 8)?.physical == gigabyte - 8)
        }
    }

    @Test func noPageIsBothWritableAndExecutable() throws {
        let built = try BuiltSystemArea()
        for page in stride(from: Self.base, to: Self.base + 2 * Self.mib, by: 0x1000) {
            if let mapping = try built.translate(page) {
                #expect(!(mapping.writable && !mapping.noExecute), "W+X page at 0x\(String(page, radix: 16))")
            }
        }
        for page in stride(from: X86SystemArea.physicalBase, to: X86SystemArea.physicalBase + X86SystemArea.size, by: 0x1000) {
            if let mapping = try built.translate(page) {
                #expect(!(mapping.writable && !mapping.noExecute), "W+X page at 0x\(String(page, radix: 16))")
            }
        }
    }

    // MARK: Hypercall page and the area itself

    @Test func hypercallPageIsUserWritableNoExecute() throws {
        let built = try BuiltSystemArea()
        let page = SWIFTLET_HVT_HYPERCALL_PAGE
        let mapping = try #require(try built.translate(page + 8 * UInt64(SWIFTLET_HC_HALT.rawValue)))
        #expect(mapping == .init(physical: page + 8 * UInt64(SWIFTLET_HC_HALT.rawValue),
                                 user: true, writable: true, noExecute: true, huge: false))
        // Only that one page: its neighbours are not mapped (a stray store must fault, not exit).
        #expect(try built.translate(page + 0x1000) == nil)
        #expect(try built.translate(page - 0x1000) == nil)
        // Not backed by guest RAM or by the system area.
        #expect(mapping.physical < X86SystemArea.physicalBase || mapping.physical >= X86SystemArea.physicalBase + X86SystemArea.size)
        #expect(mapping.physical < Self.base)
    }

    @Test func systemAreaIsSupervisorOnly() throws {
        let built = try BuiltSystemArea()
        var sawExecutable = false
        for page in stride(from: X86SystemArea.physicalBase, to: X86SystemArea.physicalBase + X86SystemArea.size, by: 0x1000) {
            let mapping = try #require(try built.translate(page), "area page 0x\(String(page, radix: 16))")
            #expect(!mapping.user, "area page 0x\(String(page, radix: 16)) is user-accessible")
            #expect(mapping.physical == page)
            if !mapping.noExecute { sawExecutable = true; #expect(page == X86SystemArea.physicalBase + X86SystemArea.stubs) }
        }
        #expect(sawExecutable) // the exception stubs must be runnable
        let stack = try #require(try built.translate(X86SystemArea.physicalBase + X86SystemArea.interruptStackTop - 8))
        #expect(stack.writable && !stack.user)
    }

    // MARK: Descriptor tables

    @Test func gdtHasUserSegmentsAndTSS() throws {
        let built = try BuiltSystemArea()
        func descriptor(_ selector: UInt16) -> UInt64 {
            built.qword(atAreaOffset: X86SystemArea.gdt + UInt64(selector >> 3) * 8)
        }
        func dpl(_ d: UInt64) -> UInt64 { (d >> 45) & 3 }
        func present(_ d: UInt64) -> Bool { d & (1 << 47) != 0 }
        func codeOrData(_ d: UInt64) -> Bool { d & (1 << 44) != 0 }
        func isCode(_ d: UInt64) -> Bool { d & (1 << 43) != 0 }
        func long(_ d: UInt64) -> Bool { d & (1 << 53) != 0 }

        #expect(built.qword(atAreaOffset: X86SystemArea.gdt) == 0) // null descriptor

        #expect(X86SystemArea.userCode & 3 == 3)
        #expect(X86SystemArea.userData & 3 == 3)
        let userCode = descriptor(X86SystemArea.userCode)
        #expect(present(userCode) && codeOrData(userCode) && isCode(userCode) && long(userCode))
        #expect(dpl(userCode) == 3)
        #expect(userCode & (1 << 54) == 0) // D must be clear for a 64-bit code segment
        let userData = descriptor(X86SystemArea.userData)
        #expect(present(userData) && codeOrData(userData) && !isCode(userData))
        #expect(userData & (1 << 41) != 0) // writable
        #expect(dpl(userData) == 3)

        let kernelCode = descriptor(X86SystemArea.kernelCode)
        #expect(present(kernelCode) && isCode(kernelCode) && long(kernelCode) && dpl(kernelCode) == 0)
        #expect(X86SystemArea.kernelCode & 3 == 0)

        // TSS: a 16-byte system descriptor whose base is the TSS in the area.
        let low = descriptor(X86SystemArea.taskRegister)
        let high = built.qword(atAreaOffset: X86SystemArea.gdt + UInt64(X86SystemArea.taskRegister >> 3) * 8 + 8)
        #expect(present(low))
        #expect(!codeOrData(low))
        #expect([0x9, 0xB].contains((low >> 40) & 0xF)) // 64-bit TSS (available or busy)
        #expect(dpl(low) == 0)
        let tssBase = ((low >> 16) & 0xFF_FFFF) | ((low >> 56) & 0xFF) << 24 | (high & 0xFFFF_FFFF) << 32
        #expect(tssBase == X86SystemArea.physicalBase + X86SystemArea.tss)
        let limit = (low & 0xFFFF) | ((low >> 48) & 0xF) << 16
        #expect(limit == UInt64(X86SystemArea.tssLimit))
        #expect(limit >= 103)
        // The GDT has room for every selector used.
        #expect(Int(X86SystemArea.taskRegister >> 3) + 1 < X86SystemArea.gdtEntries.count)
    }

    @Test func idtPointsIntoTheStubPage() throws {
        let built = try BuiltSystemArea()
        let stubPage = X86SystemArea.physicalBase + X86SystemArea.stubs
        var targets = Set<UInt64>()
        for vector in 0 ..< 32 {
            let low = built.qword(atAreaOffset: X86SystemArea.idt + UInt64(vector) * 16)
            let high = built.qword(atAreaOffset: X86SystemArea.idt + UInt64(vector) * 16 + 8)
            let target = (low & 0xFFFF) | ((low >> 48) & 0xFFFF) << 16 | (high & 0xFFFF_FFFF) << 32
            #expect(UInt16((low >> 16) & 0xFFFF) == X86SystemArea.kernelCode, "vector \(vector)")
            #expect(low & (1 << 47) != 0, "vector \(vector) not present")
            #expect((low >> 40) & 0xF == 0xE, "vector \(vector) is not an interrupt gate")
            #expect(high >> 32 == 0) // reserved
            #expect(target >= stubPage && target + X86SystemArea.stubSize <= stubPage + 0x1000, "vector \(vector)")
            targets.insert(target)
            // The stub itself pushes its vector number and halts.
            let offset = Int(target - X86SystemArea.physicalBase)
            let code = (0 ..< Int(X86SystemArea.stubSize)).map { built.area.load(fromByteOffset: offset + $0, as: UInt8.self) }
            let push = try #require(code.firstIndex(of: 0xF4), "vector \(vector): no hlt") // hlt
            #expect(push >= 2 && code[push - 2] == 0x6A && code[push - 1] == UInt8(vector), "vector \(vector): \(code)")
            // Executable and supervisor-only.
            let mapping = try #require(try built.translate(target))
            #expect(!mapping.noExecute && !mapping.user)
        }
        #expect(targets.count == 32) // one stub per vector
    }

    @Test func tssInterruptStack() throws {
        let built = try BuiltSystemArea()
        let rsp0 = built.area.loadUnaligned(fromByteOffset: Int(X86SystemArea.tss) + 4, as: UInt64.self)
        #expect(rsp0 == X86SystemArea.physicalBase + X86SystemArea.interruptStackTop)
        #expect(rsp0 > X86SystemArea.physicalBase && rsp0 <= X86SystemArea.physicalBase + X86SystemArea.size)
        // No I/O permission bitmap inside the limit: the guest gets no ports.
        let ioBase = built.area.load(fromByteOffset: Int(X86SystemArea.tss) + 102, as: UInt16.self)
        #expect(UInt32(ioBase) > X86SystemArea.tssLimit)
    }

    @Test func areaOffsetLookup() {
        let base = X86SystemArea.physicalBase
        #expect(X86SystemArea.offset(of: base, count: 8) == 0)
        #expect(X86SystemArea.offset(of: base + X86SystemArea.size - 8, count: 8) == Int(X86SystemArea.size - 8))
        #expect(X86SystemArea.offset(of: base + X86SystemArea.size - 4, count: 8) == nil)
        #expect(X86SystemArea.offset(of: base - 8, count: 8) == nil)
        #expect(X86SystemArea.offset(of: UInt64.max - 3, count: 8) == nil)
        #expect(X86SystemArea.offset(of: base, count: UInt64.max) == nil)
    }

    // MARK: Images that do not fit

    private func isImageTooLarge(_ segments: [X86SystemArea.Segment], memorySize: UInt64 = 4 << 30) -> Bool {
        let area = UnsafeMutableRawPointer.allocate(byteCount: Int(X86SystemArea.size), alignment: 4096)
        defer { area.deallocate() }
        area.initializeMemory(as: UInt8.self, repeating: 0, count: Int(X86SystemArea.size))
        do {
            try X86SystemArea.build(into: area, memorySize: memorySize, segments: segments)
            return false
        } catch {
            if case .imageTooLarge = error { return true }
            return false
        }
    }

    @Test(arguments: [UInt64]([(4 << 30) + (2 << 20), 8 << 30, (32 << 20) + 4096, .max]))
    func memorySizesTheTablesCannotCoverAreRefused(memorySize: UInt64) {
        let area = UnsafeMutableRawPointer.allocate(byteCount: Int(X86SystemArea.size), alignment: 4096)
        defer { area.deallocate() }
        area.initializeMemory(as: UInt8.self, repeating: 0, count: Int(X86SystemArea.size))
        #expect(throws: X86SystemArea.LayoutError.self) {
            try X86SystemArea.build(into: area, memorySize: memorySize, segments: BuiltSystemArea.imageSegments)
        }
    }

    @Test func imageTooLargeForTheTables() {
        let start = Self.base + Self.mib
        // A 1 GiB image needs 512 small-page tables; the area holds far fewer.
        #expect(isImageTooLarge([.init(start: start, end: Self.base + (1 << 30), writable: true, executable: false)]))
        #expect(isImageTooLarge([.init(start: start, end: Self.base + (4 << 30), writable: false, executable: true)]))
        // The largest span that fits builds; one byte more does not.
        let limit = Self.base + UInt64(X86SystemArea.maximumRAMTables) << 21
        #expect(!isImageTooLarge([.init(start: start, end: limit, writable: true, executable: false)]))
        #expect(isImageTooLarge([.init(start: start, end: limit + 1, writable: true, executable: false)]))
        // A small image is fine.
        #expect(!isImageTooLarge(BuiltSystemArea.imageSegments, memorySize: 32 << 20))
    }

    @Test func imageEndsNobodyCouldMapThrowInsteadOfTrapping() {
        let start = Self.base + Self.mib
        #expect(isImageTooLarge([.init(start: start, end: UInt64.max, writable: true, executable: false)]))
        #expect(isImageTooLarge([.init(start: start, end: UInt64.max - 0x1000, writable: true, executable: false)]))
    }

    @Test(arguments: 0 ..< 3)
    func degenerateSegmentsKeepTheGuardPageAndBootInfo(variant: Int) throws {
        let segments: [X86SystemArea.Segment] = [
            [],
            [X86SystemArea.Segment(start: 0x1000, end: 0x2000, writable: true, executable: true)],
            [X86SystemArea.Segment(start: 0, end: 0, writable: false, executable: true)],
        ][variant]
        let built = try BuiltSystemArea(segments: segments)
        #expect(try built.translate(Self.base) == nil)
        let bootInfo = try #require(try built.translate(Self.base + SWIFTLET_BOOTINFO_OFFSET))
        #expect(!bootInfo.writable && bootInfo.noExecute && !bootInfo.huge)
        let image = try #require(try built.translate(Self.base + SWIFTLET_IMAGE_OFFSET))
        #expect(image.writable && image.noExecute)
    }
}
