// One KVM virtual machine with one vCPU, set up to enter a Swiftlet guest directly in
// 64-bit mode at CPL3 (CPL0 is emulated, and slow, on KVM-PVM hosts).
import CTender
import SwiftletABI

final class VirtualMachine {
    let kvm: Int32
    let vm: Int32
    let vcpu: Int32
    let run: UnsafeMutablePointer<kvm_run>
    let memory: GuestMemory
    let systemArea: UnsafeMutableRawPointer
    /// Returns from KVM_RUN so far (--count-exits).
    var exits = 0

    init(memorySize: UInt64) throws(TenderError) {
        kvm = ctender_open("/dev/kvm", O_RDWR | O_CLOEXEC, 0)
        guard kvm >= 0 else {
            throw .system("cannot open /dev/kvm (no KVM here? use the spt target: `swiftlet run --target spt`)", errno: SystemError.last)
        }
        guard ctender_kvm_api_version(kvm) == 12 else { throw .guest("unsupported KVM API version") }
        vm = ctender_kvm_create_vm(kvm)
        guard vm >= 0 else { throw .system("KVM_CREATE_VM failed", errno: SystemError.last) }

        do { memory = try GuestMemory(size: Int(memorySize)) } catch {
            throw .system("cannot map \(memorySize) bytes of guest memory", errno: SystemError.last)
        }
        guard let area = mmap(nil, Int(X86SystemArea.size), PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0), area != UnsafeMutableRawPointer(bitPattern: -1) else {
            throw .system("cannot map the system area", errno: SystemError.last)
        }
        systemArea = area
        guard ctender_kvm_set_memory(vm, 0, X86SystemArea.physicalBase, X86SystemArea.size, area) == 0,
              ctender_kvm_set_memory(vm, 1, SWIFTLET_GUEST_BASE, memorySize, memory.base) == 0 else {
            throw .system("KVM_SET_USER_MEMORY_REGION failed", errno: SystemError.last)
        }

        vcpu = ctender_kvm_create_vcpu(vm, 0)
        guard vcpu >= 0 else { throw .system("KVM_CREATE_VCPU failed", errno: SystemError.last) }
        let runSize = ctender_kvm_vcpu_mmap_size(kvm)
        guard runSize > 0, let shared = mmap(nil, Int(runSize), PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0),
              shared != UnsafeMutableRawPointer(bitPattern: -1) else {
            throw .system("cannot map the vCPU run structure", errno: SystemError.last)
        }
        run = shared.bindMemory(to: kvm_run.self, capacity: 1)
        guard ctender_kvm_setup_cpuid(kvm, vcpu) == 0 else { throw .system("KVM_SET_CPUID2 failed", errno: SystemError.last) }
    }

    /// The guest's TSC frequency, for its monotonic clock (0 if KVM cannot say).
    var tscHz: UInt64 {
        let khz = ctender_kvm_tsc_khz(vcpu)
        return khz > 0 ? UInt64(khz) * 1000 : 0
    }

    func prepare(segments: [X86SystemArea.Segment], entry: UInt64, stackTop: UInt64, bootInfo: UInt64) throws(TenderError) {
        do {
            try X86SystemArea.build(into: systemArea, memorySize: UInt64(memory.size), segments: segments)
        } catch {
            throw .image("\(error)")
        }
        var sregs = kvm_sregs()
        guard ctender_kvm_get_sregs(vcpu, &sregs) == 0 else { throw .system("KVM_GET_SREGS failed", errno: SystemError.last) }
        let base = X86SystemArea.physicalBase
        sregs.cr3 = base
        sregs.cr4 = 0x20 | 0x200 | 0x400                       // PAE, OSFXSR, OSXMMEXCPT
        sregs.cr0 = 0x1 | 0x2 | 0x10 | 0x20 | 0x10000 | 0x8000_0000 // PE, MP, ET, NE, WP, PG
        sregs.efer = 0x100 | 0x400 | 0x800                     // LME, LMA, NXE
        sregs.gdt = kvm_dtable(base: base + X86SystemArea.gdt, limit: UInt16(X86SystemArea.gdtEntries.count * 8 - 1), padding: (0, 0, 0))
        sregs.idt = kvm_dtable(base: base + X86SystemArea.idt, limit: 32 * 16 - 1, padding: (0, 0, 0))
        let data = Self.guestDataSegment
        sregs.cs = Self.guestCodeSegment
        sregs.ss = data; sregs.ds = data; sregs.es = data; sregs.fs = data; sregs.gs = data
        // C code built with -fstack-protector (Debian's BearSSL) reads its canary at %fs:0x28.
        sregs.fs.base = bootInfo + ctender_boot_info_stack_guard_offset()
            - UInt64(SWIFTLET_STACK_GUARD_FS_OFFSET)
        sregs.tr = kvm_segment(base: base + X86SystemArea.tss, limit: X86SystemArea.tssLimit,
                               selector: X86SystemArea.taskRegister, type: 0xB,
                               present: 1, dpl: 0, db: 0, s: 0, l: 0, g: 0, avl: 0, unusable: 0, padding: 0)
        sregs.ldt = kvm_segment(base: 0, limit: 0, selector: 0, type: 0x2,
                                present: 0, dpl: 0, db: 0, s: 0, l: 0, g: 0, avl: 0, unusable: 1, padding: 0)
        guard ctender_kvm_set_sregs(vcpu, &sregs) == 0 else { throw .system("KVM_SET_SREGS failed", errno: SystemError.last) }

        var regs = kvm_regs()
        regs.rip = entry
        regs.rsp = stackTop - 8        // as if `call`ed: the SysV ABI's entry alignment
        regs.rdi = bootInfo
        regs.rflags = 0x2
        guard ctender_kvm_set_regs(vcpu, &regs) == 0 else { throw .system("KVM_SET_REGS failed", errno: SystemError.last) }
    }

    /// The guest's 64-bit code and data segments, at CPL3.
    static let guestCodeSegment = kvm_segment(base: 0, limit: 0xFFFF_FFFF, selector: X86SystemArea.userCode, type: 0xB,
                                              present: 1, dpl: 3, db: 0, s: 1, l: 1, g: 1, avl: 0, unusable: 0, padding: 0)
    static let guestDataSegment = kvm_segment(base: 0, limit: 0xFFFF_FFFF, selector: X86SystemArea.userData, type: 0x3,
                                              present: 1, dpl: 3, db: 1, s: 1, l: 0, g: 1, avl: 0, unusable: 0, padding: 0)

    func registers() -> kvm_regs? {
        var regs = kvm_regs()
        return ctender_kvm_get_regs(vcpu, &regs) == 0 ? regs : nil
    }

    func specialRegisters() -> kvm_sregs? {
        var sregs = kvm_sregs()
        return ctender_kvm_get_sregs(vcpu, &sregs) == 0 ? sregs : nil
    }
}
