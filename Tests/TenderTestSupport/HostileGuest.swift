// Hand-assembled hostile guests: a few x86-64 instructions in an otherwise valid image, so
// an integration test can make exactly the call it means to attack with. On spt the guest
// runs in the tender's own process and can execute `syscall` itself, which is what the
// seccomp filter is for; on both targets it can make any hypercall with any argument.
import SwiftletABI
import TenderCore

public struct HostileGuest {
    public enum Register: UInt8 { case rax = 0, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8, r9, r10, r11, r12, r13, r14, r15 }

    /// Where the code starts (the entry point): the image's first page.
    public static let text = ELFImage.imageBase
    /// A writable page (the image's data segment) with `data` at its start.
    public static let data = ELFImage.imageBase + 0x1000
    /// Scratch memory the guest may write: the end of the data page (not the stack: on spt
    /// the tender's hypercall code runs on the guest's stack and would overwrite it).
    public static let scratch = ELFImage.imageBase + 0x1C00
    /// x86-64 Linux: exit_group(2).
    static let exitGroup: UInt64 = 231

    public private(set) var code: [UInt8]
    /// Initial contents of the data page.
    public var data: [UInt8] = []

    /// Starts with `mov rbx, rdi` (keep boot info) and `sub rsp, 8` (16-byte alignment for calls).
    public init() { code = [0x48, 0x89, 0xFB, 0x48, 0x83, 0xEC, 0x08] }

    /// movabs register, value
    public mutating func load(_ register: Register, _ value: UInt64) {
        code += [0x48 | (register.rawValue >= 8 ? 1 : 0), 0xB8 + (register.rawValue & 7)] + littleEndian(value)
    }

    /// Stores 8 bytes at `address`.
    public mutating func store(_ value: UInt64, at address: UInt64) {
        load(.rax, address)
        load(.rdx, value)
        code += [0x48, 0x89, 0x10]                          // mov [rax], rdx
    }

    /// A raw Linux system call: rax = number; rdi, rsi, rdx, r10, r8, r9 = arguments.
    public mutating func syscall(_ number: some BinaryInteger, _ arguments: UInt64...) {
        for (register, value) in zip([Register.rdi, .rsi, .rdx, .r10, .r8, .r9], arguments) { load(register, value) }
        load(.rax, UInt64(number))
        code += [0x0F, 0x05]
    }

    /// An endless loop (`jmp .`).
    public mutating func spin() { code += [0xEB, 0xFE] }

    /// exit_group(status) on spt (where the guest can make system calls).
    public mutating func exit(_ status: UInt8) { syscall(Self.exitGroup, UInt64(status)) }

    /// Hypercall `number` with `argument`, whichever target the guest booted on: a call to boot
    /// info's hypercall_entry on spt, a store into the hypercall page on hvt.
    public mutating func hypercall(_ number: swiftlet_hypercall, _ argument: UInt64) {
        let entry = UInt32(MemoryLayout<swiftlet_boot_info>.offset(of: \.hypercall_entry)!)
        code += [0x48, 0x8B, 0x83] + littleEndian(entry)    // mov rax, [rbx + entry]
        code += [0x48, 0x85, 0xC0]                          // test rax, rax
        var spt: [UInt8] = [0xBF] + littleEndian(number.rawValue)       // mov edi, number
        spt += [0x48, 0xBE] + littleEndian(argument)                     // movabs rsi, argument
        spt += [0xFF, 0xD0]                                              // call rax
        var hvt: [UInt8] = [0x48, 0xB8] + littleEndian(SWIFTLET_HVT_HYPERCALL_PAGE + 8 * UInt64(number.rawValue))
        hvt += [0x48, 0xBA] + littleEndian(argument) + [0x48, 0x89, 0x10] // movabs rdx, argument; mov [rax], rdx
        hvt += [0xEB, UInt8(spt.count)]                                   // jmp over the spt part
        code += [0x75, UInt8(hvt.count)]                                  // jnz spt
        code += hvt + spt
    }

    /// HALT with `status` (and a crash record at `crash`, if not 0), request at `scratch`.
    public mutating func halt(_ status: UInt8, crash: UInt64 = 0) {
        store(UInt64(status), at: Self.scratch)
        store(crash, at: Self.scratch + 8)
        hypercall(SWIFTLET_HC_HALT, Self.scratch)
    }

    /// HALT with the 32-bit `result` field at `address` as the exit status (a request's
    /// OUT field: swiftlet_result values are 0...4).
    public mutating func haltWithResult(at address: UInt64) {
        load(.rax, address)
        code += [0x8B, 0x10]                                // mov edx, [rax] (zero-extends)
        load(.rcx, Self.scratch)
        code += [0x48, 0x89, 0x11]                          // mov [rcx], rdx
        store(0, at: Self.scratch + 8)
        hypercall(SWIFTLET_HC_HALT, Self.scratch)
    }

    /// The image: code in an R-X page at `text`, `data` in an RW- page after it, the ABI note.
    public func image() -> [UInt8] {
        var builder = ELFBuilder(
            entry: Self.text,
            segments: [
                ELFBuilder.Segment(flags: ELF.pfR | ELF.pfX, vaddr: Self.text, data: code + [0x0F, 0x0B]),  // ud2 if it falls through
                ELFBuilder.Segment(flags: ELF.pfR | ELF.pfW, vaddr: Self.data, data: data, memsz: 0x1000),
            ],
            notes: [ELFBuilder.abiNote()])
        builder.includeSections = false
        return builder.build()
    }
}

private func littleEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
    withUnsafeBytes(of: value.littleEndian) { Array($0) }
}
