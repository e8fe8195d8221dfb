// Guest memory for spt: one fixed mapping at GUEST_BASE in this process, with the same
// protections hvt's page tables give (guard page, read-only boot info, W^X segments).
import CTender
import SwiftletABI

struct ProcessGuestSpace {
    let memory: GuestMemory

    init(memorySize: UInt64) throws(TenderError) {
        let wanted = UnsafeMutableRawPointer(bitPattern: UInt(SWIFTLET_GUEST_BASE))
        let flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE
        guard let base = mmap(wanted, Int(memorySize), PROT_READ | PROT_WRITE, flags, -1, 0),
              base != UnsafeMutableRawPointer(bitPattern: -1), base == wanted else {
            throw .system("cannot map guest memory at 0x\(String(SWIFTLET_GUEST_BASE, radix: 16))", errno: SystemError.last)
        }
        memory = GuestMemory(base: base, size: Int(memorySize))
    }

    func protect(segments: [ELFImage.Segment]) throws(TenderError) {
        func apply(_ start: UInt64, _ end: UInt64, _ protection: Int32) throws(TenderError) {
            let pageStart = start & ~4095, pageEnd = (end + 4095) & ~4095
            guard let address = UnsafeMutableRawPointer(bitPattern: UInt(pageStart)),
                  mprotect(address, Int(pageEnd - pageStart), protection) == 0 else {
                throw .system("cannot protect guest memory", errno: SystemError.last)
            }
        }
        let base = SWIFTLET_GUEST_BASE
        try apply(base, base + SWIFTLET_STACK_BOTTOM, PROT_NONE)
        try apply(base + SWIFTLET_BOOTINFO_OFFSET, base + SWIFTLET_BOOTINFO_OFFSET + SWIFTLET_BOOTINFO_SIZE, PROT_READ)
        for segment in segments {
            var protection = PROT_READ
            if segment.flags.contains(.write) { protection |= PROT_WRITE }
            if segment.flags.contains(.execute) { protection |= PROT_EXEC }
            try apply(segment.vaddr, segment.vaddr + segment.memsz, protection)
        }
    }
}
