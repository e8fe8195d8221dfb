/* pvh.S — the virtio target's ring-0 shim: the PVH entry, and everything that must run at CPL0.
 *
 * A VMM (QEMU -kernel, Firecracker) loads this ELF at its physical addresses and enters
 * swiftlet_pvh_start in 32-bit protected mode with %ebx = hvm_start_info. The application runs
 * at CPL3, as on hvt: on KVM-PVM hosts every CPL0 instruction is emulated (~1 µs each) and SSE
 * at CPL0 kills the guest. So CPL0 does only what CPL3 cannot: about 35 instructions from the
 * first one to the CPL3 entry (every table below is prebuilt data, nothing is computed at boot),
 * then shim calls (port I/O, halting with a timer, exiting) and the trap entry.
 *
 * Numbers derived from swiftlet_abi.h by the builder (ImageBuilder.virtioDefines), never restated:
 *   SWIFTLET_IMAGE_BASE       guest address the image is linked at (GUEST_BASE + IMAGE_OFFSET)
 *   SWIFTLET_GUEST_BASE       guest address of guest memory's start
 *   SWIFTLET_LOAD_DELTA       guest address - guest-physical address (GUEST_BASE - PHYS_BASE)
 *   SWIFTLET_PHYS_BASE        guest-physical address of GUEST_BASE (SWIFTLET_VIRTIO_PHYS_BASE)
 *   SWIFTLET_STACK_TOP        guest address of the initial stack top
 *   SWIFTLET_SYS_*            the shim calls' vector and numbers (SWIFTLET_VIRTIO_SYS_*)
 *   SWIFTLET_LOW_WINDOW, SWIFTLET_MMIO_BASE, SWIFTLET_EXIT_CRASH_VALUE (SWIFTLET_VIRTIO_*)
 *
 * Guest-physical memory (2 MiB pages unless said):
 *   [0, 1 GiB)                identity, supervisor only: this code, its tables, device MMIO at CPL0
 *   [0, 2 MiB)                also at guest address 1 GiB, user read-only: PVH start info, memory
 *                             map and command line, which the CPL3 binding reads
 *   [2 GiB, 4 GiB)            identity, user read-write, uncached: LAPIC, IOAPIC, virtio-mmio,
 *                             PCI ECAM and BARs, so drivers need no ring transition
 *   PHYS_BASE + x             at GUEST_BASE + x for x < 2 GiB - PHYS_BASE, user read-write; the
 *                             first 4 KiB (the stack guard page) unmapped
 * CPL0 code runs at its identity (physical) addresses, from supervisor pages.
 */
#define PHYS(symbol) ((symbol) - SWIFTLET_LOAD_DELTA)

/* The page tables below place these windows by their PDPT index (1 GiB each). */
    .if (SWIFTLET_LOW_WINDOW != 1 << 30) || (SWIFTLET_MMIO_BASE != 2 << 30) || (SWIFTLET_PHYS_BASE != 2 << 20)
    .error "pvh.S: the ABI's virtio layout changed; update the page tables"
    .endif

#define PTE_P   0x1
#define PTE_W   0x2
#define PTE_U   0x4
#define PTE_PWT 0x8
#define PTE_PCD 0x10
#define PTE_PS  0x80
#define PTE_NX  0x8000000000000000

#define KERNEL_CS 0x08
#define KERNEL_DS 0x10
#define USER_DS   0x23   /* 0x20 | RPL 3 */
#define USER_CS   0x2B   /* 0x28 | RPL 3 */
#define TSS_SEL   0x30

#define LAPIC     0xFEE00000
#define VECTOR_TIMER    32
#define VECTOR_SPURIOUS 0xFF

/* isa-debug-exit (QEMU: exits with value * 2 + 1) and the i8042 reset line (Firecracker). */
#define DEBUG_EXIT_PORT 0xF4
#define I8042_COMMAND   0x64
#define I8042_RESET     0xFE

/* ---- Trap vectors: 256 stubs of 16 bytes at SWIFTLET_IMAGE_BASE exactly (image.ld puts this
 * section first), so the IDT below can be prebuilt from constants: an IDT entry splits the
 * handler address into three fields, which no relocation can fill. The TSS follows at +4 KiB
 * for the same reason (its GDT descriptor splits the base). */
    .section .text.swiftlet_pvh_vectors, "ax"
    .code64
    .balign 4096
    .globl swiftlet_pvh_vectors
swiftlet_pvh_vectors:
    .set vector, 0
    .rept 256
    .balign 16
    .if (vector == 8) || (vector == 10) || (vector == 11) || (vector == 12) || (vector == 13) || (vector == 14) || (vector == 17) || (vector == 21) || (vector == 29) || (vector == 30)
    .else
    pushq $0                        /* no error code from the CPU: keep the frame uniform */
    .endif
    pushq $vector
    jmp pvh_trap
    .set vector, vector + 1
    .endr

    .balign 16
    .globl swiftlet_pvh_tss
swiftlet_pvh_tss:                       /* at SWIFTLET_IMAGE_BASE + 4 KiB (checked in image.ld) */
    .long 0
    .quad PHYS(pvh_kernel_stack_top)   /* RSP0: traps and interrupts taken from CPL3 */
    .fill 88, 1, 0
    .word 0
    .word 104                          /* I/O bitmap offset past the limit: no port access at CPL3 */

#define TSS_ADDRESS (SWIFTLET_IMAGE_BASE - SWIFTLET_LOAD_DELTA + 4096)

/* ---- Entry: 32-bit protected mode, paging off, %ebx = hvm_start_info (guest-physical). ---- */
    .section .text.swiftlet_pvh_start, "ax"
    .code32
    .globl swiftlet_pvh_start
swiftlet_pvh_start:
    rdtsc                               /* first instruction: the boot-time stamp */
    mov %eax, %esi
    mov %edx, %ebp
    mov $PHYS(pvh_pml4), %eax
    mov %eax, %cr3
    mov $0x620, %eax                    /* CR4: PAE | OSFXSR | OSXMMEXCPT */
    mov %eax, %cr4
    mov $0xC0000080, %ecx               /* EFER: LME | NXE */
    mov $0x900, %eax
    xor %edx, %edx
    wrmsr
    mov $0x80010033, %eax               /* CR0: PG | WP | NE | ET | MP | PE */
    mov %eax, %cr0
    lgdt PHYS(pvh_gdt_pointer)
    ljmp $KERNEL_CS, $PHYS(pvh_start64)

    .code64
pvh_start64:
    lea pvh_kernel_stack_top(%rip), %rsp
    mov $KERNEL_DS, %eax
    mov %eax, %ss
    mov $TSS_SEL, %eax
    ltr %ax
    lidt pvh_idt_pointer(%rip)
    mov $LAPIC, %eax                    /* LAPIC on, timer one-shot at 1 tick/ns (divide by 1) */
    movl $(0x100 | VECTOR_SPURIOUS), 0xF0(%rax)
    movl $VECTOR_TIMER, 0x320(%rax)
    movl $0xB, 0x3E0(%rax)
    mov $0xFF, %al                      /* mask the 8259 PICs: firmware left the PIT on vector 8 */
    outb %al, $0x21
    outb %al, $0xA1
    mov %ebx, %edi                      /* arg 1: hvm_start_info, guest-physical */
    shl $32, %rbp                       /* arg 2: the boot TSC stamp */
    mov %esi, %esi
    or %rbp, %rsi
    push $USER_DS
    movabs $SWIFTLET_STACK_TOP, %rax
    push %rax
    push $0x2                           /* RFLAGS: IF = 0; interrupts arrive only in pvh_halt */
    push $USER_CS
    movabs $pvh_enter_user, %rax
    push %rax
    iretq

/* ---- Shim calls: `int $SWIFTLET_SYS_VECTOR` (a DPL-3 gate) with %eax = SWIFTLET_SYS_*,
 * arguments in %rdi, %rsi, %rdx; result in %rax; %rcx clobbered.
 * KVM-PVM (measured): `syscall` from CPL3 jumps to LSTAR still at CPL3, and `int N` raises #UD
 * at the instruction; exceptions and iretq work as on hardware. So the #UD handler takes an
 * `int $SWIFTLET_SYS_VECTOR` it finds at the faulting rip for the shim call it is, and steps
 * over it; elsewhere (TCG, hardware) the gate is taken directly. */
pvh_invalid_opcode:
    mov 16(%rsp), %rcx
    cmpw $(0xCD | (SWIFTLET_SYS_VECTOR << 8)), (%rcx)
    jne pvh_exception
    addq $2, 16(%rsp)
pvh_shim_call:
    add $16, %rsp                       /* vector and the stub's 0: iretq wants rip on top */
    cmp $SWIFTLET_SYS_OUTS, %eax
    je pvh_outs
    cmp $SWIFTLET_SYS_HALT, %eax
    je pvh_halt
    cmp $SWIFTLET_SYS_IN8, %eax
    je pvh_in8
    cmp $SWIFTLET_SYS_OUT8, %eax
    je pvh_out8
    cmp $SWIFTLET_SYS_EXIT, %eax
    je pvh_exit
    cmp $SWIFTLET_SYS_WRMSR, %eax
    je pvh_wrmsr
    mov $-1, %rax
pvh_return:
    iretq

pvh_outs:                               /* (port, bytes, count): one instruction for the string */
    mov %rdx, %rcx
    mov %edi, %edx
    rep outsb
    jmp pvh_return

pvh_in8:                                /* (port) -> byte */
    mov %edi, %edx
    xor %eax, %eax
    inb %dx, %al
    jmp pvh_return

pvh_out8:                               /* (port, byte) */
    mov %edi, %edx
    mov %esi, %eax
    outb %al, %dx
    jmp pvh_return

pvh_wrmsr:                              /* (msr, value): kvmclock's registration, the FS base */
    mov %edi, %ecx
    mov %rsi, %rax
    mov %rsi, %rdx
    shr $32, %rdx
    wrmsr
    jmp pvh_return

pvh_halt:                               /* (nanoseconds, 0 = no timer) -> interrupts seen (bit v-32) */
    test %edi, %edi
    jz 1f
    mov $LAPIC, %eax
    mov %edi, 0x380(%rax)               /* initial count: one-shot, 1 tick/ns */
1:  sti
    hlt                                 /* sti's shadow: no interrupt slips in before the hlt */
    cli
    xor %eax, %eax
    xchg %rax, pvh_pending(%rip)
    jmp pvh_return

pvh_exit:                               /* (isa-debug-exit value): never returns */
    mov %edi, %eax
    outb %al, $DEBUG_EXIT_PORT
pvh_reset:
    mov $I8042_RESET, %al
    outb %al, $I8042_COMMAND
    cli
2:  hlt
    jmp 2b

/* ---- Traps: [vector, error code, rip, cs, rflags, rsp, ss] on the stack. */
pvh_trap:
    cmpq $SWIFTLET_SYS_VECTOR, (%rsp)
    je pvh_shim_call
    cmpq $6, (%rsp)
    je pvh_invalid_opcode
    cmpq $32, (%rsp)
    jb pvh_exception
    push %rax                           /* an interrupt: note it, acknowledge it, go on */
    push %rcx
    mov 16(%rsp), %rcx
    cmp $VECTOR_SPURIOUS, %ecx
    je 1f
    sub $VECTOR_TIMER, %ecx
    lock bts %rcx, pvh_pending(%rip)
    mov $LAPIC, %eax
    movl $0, 0xB0(%rax)                 /* EOI */
1:  pop %rcx
    pop %rax
    add $16, %rsp
    iretq

pvh_exception:                          /* a fault: hand the frame to the CPL3 crash reporter */
    lock btsl $0, pvh_in_exception(%rip)
    jc pvh_double_fault
    lea pvh_crash_frame(%rip), %rax
    popq 0(%rax)                        /* vector */
    popq 8(%rax)                        /* error code */
    popq 16(%rax)                       /* rip */
    popq 24(%rax)                       /* cs */
    popq 32(%rax)                       /* rflags */
    popq 40(%rax)                       /* rsp */
    popq 48(%rax)                       /* ss */
    mov %rbp, 56(%rax)
    mov %cr2, %rcx
    mov %rcx, 64(%rax)
    movabs $pvh_crash_frame, %rdi       /* its guest address, for CPL3 */
    push $USER_DS
    movabs $pvh_crash_stack_top, %rax
    push %rax
    push $0x2
    push $USER_CS
    movabs $swiftlet_pvh_crash, %rax
    push %rax
    iretq

pvh_double_fault:                       /* a fault while reporting one: stop at once */
    mov $SWIFTLET_EXIT_CRASH_VALUE, %eax
    outb %al, $DEBUG_EXIT_PORT
    jmp pvh_reset

/* ---- CPL3 entry (guest addresses from here on). */
    .section .text.swiftlet_pvh_user, "ax"
pvh_enter_user:
    fninit
    xor %ebp, %ebp
    call swiftlet_pvh_boot              /* Swift (Sources/Guest/PVH/PVHBoot.swift): never returns */
    ud2

/* ---- Prebuilt tables. */
    .section .data.swiftlet_pvh_tables, "aw"
    .balign 4096
pvh_pml4:
    .quad PHYS(pvh_pdpt) + (PTE_P | PTE_W | PTE_U)
    .fill 511, 8, 0
pvh_pdpt:
    .quad PHYS(pvh_pd_identity) + (PTE_P | PTE_W)
    .quad PHYS(pvh_pd_window) + (PTE_P | PTE_W | PTE_U)
    .quad PHYS(pvh_pd_mmio_low) + (PTE_P | PTE_W | PTE_U)
    .quad PHYS(pvh_pd_mmio_low + 4096) + (PTE_P | PTE_W | PTE_U)
    .quad PHYS(pvh_pd_ram) + (PTE_P | PTE_W | PTE_U)
    .quad PHYS(pvh_pd_ram + 4096) + (PTE_P | PTE_W | PTE_U)
    .fill 506, 8, 0
pvh_pd_identity:
    .set page, 0
    .rept 512
    .quad (page << 21) | (PTE_P | PTE_W | PTE_PS)
    .set page, page + 1
    .endr
pvh_pd_window:
    .quad 0 | (PTE_P | PTE_U | PTE_PS | PTE_NX)
    .fill 511, 8, 0
pvh_pd_mmio_low:
    .set page, 0
    .rept 1024
    .quad (0x80000000 + (page << 21)) | (PTE_P | PTE_W | PTE_U | PTE_PS | PTE_PWT | PTE_PCD | PTE_NX)
    .set page, page + 1
    .endr
pvh_pd_ram:
    .quad PHYS(pvh_pt_ram) + (PTE_P | PTE_W | PTE_U)
    .set page, 1
    .rept 1023
    .quad (SWIFTLET_PHYS_BASE + (page << 21)) | (PTE_P | PTE_W | PTE_U | PTE_PS)
    .set page, page + 1
    .endr
pvh_pt_ram:
    .quad 0                             /* the stack guard page */
    .set page, 1
    .rept 511
    .quad (SWIFTLET_PHYS_BASE + (page << 12)) | (PTE_P | PTE_W | PTE_U)
    .set page, page + 1
    .endr

pvh_idt:
    .set vector, 0
    .rept 256
    .word (SWIFTLET_IMAGE_BASE - SWIFTLET_LOAD_DELTA + vector * 16) & 0xFFFF
    .word KERNEL_CS
    .byte 0
    .if (vector == 3) || (vector == SWIFTLET_SYS_VECTOR)
    .byte 0xEE                          /* DPL 3: shim calls; int3 reports a breakpoint, not a #GP */
    .else
    .byte 0x8E
    .endif
    .word ((SWIFTLET_IMAGE_BASE - SWIFTLET_LOAD_DELTA + vector * 16) >> 16) & 0xFFFF
    .long 0
    .long 0
    .set vector, vector + 1
    .endr

pvh_gdt:
    .quad 0
    .quad 0x00af9b000000ffff            /* 0x08 kernel code, 64-bit */
    .quad 0x00cf93000000ffff            /* 0x10 kernel data */
    .quad 0                             /* 0x18 unused */
    .quad 0x00cff3000000ffff            /* 0x20 user data */
    .quad 0x00affb000000ffff            /* 0x28 user code, 64-bit */
    .word 103                           /* 0x30 TSS, 64-bit available */
    .word TSS_ADDRESS & 0xFFFF
    .byte (TSS_ADDRESS >> 16) & 0xFF
    .byte 0x89
    .byte 0
    .byte (TSS_ADDRESS >> 24) & 0xFF
    .long 0
    .long 0
pvh_gdt_end:

    .balign 8
    .word 0
    .word 0
    .word 0
pvh_gdt_pointer:
    .word pvh_gdt_end - pvh_gdt - 1
    .long PHYS(pvh_gdt)
    .balign 8
    .word 0, 0, 0
pvh_idt_pointer:
    .word 256 * 16 - 1
    .quad PHYS(pvh_idt)

/* The XEN_ELFNOTE_PHYS32_ENTRY note: where a PVH loader enters (guest-physical, 32-bit).
 * 4-byte aligned, like every note: QEMU pads the name to the PT_NOTE's alignment. */
    .section .note.Xen, "a", @note
    .balign 4
    .long 4                             /* name size: "Xen\0" */
    .long 8                             /* descriptor size */
    .long 18                            /* XEN_ELFNOTE_PHYS32_ENTRY */
    .asciz "Xen"
    .quad PHYS(swiftlet_pvh_start)

    .section .bss.swiftlet_pvh, "aw", @nobits
    .balign 4096
pvh_kernel_stack:
    .fill 4096, 1, 0
pvh_kernel_stack_top:
    .globl swiftlet_pvh_crash_stack
swiftlet_pvh_crash_stack:
    .fill 16384, 1, 0
pvh_crash_stack_top:
    .balign 8
pvh_pending:        .quad 0             /* interrupts seen since the last halt: bit vector - 32 */
pvh_in_exception:   .quad 0
    .globl swiftlet_pvh_crash_frame
pvh_crash_frame:                        /* vector, error, rip, cs, rflags, rsp, ss, rbp, cr2 */
swiftlet_pvh_crash_frame:
    .fill 9, 8, 0
