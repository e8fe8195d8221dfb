/* x86.c — the few instructions the virtio binding (Sources/Guest/PVH) needs that Swift cannot
 * express: CPUID (also asked by the store's CRC-32C on every target), RDRAND/RDSEED, and the
 * shim call into pvh.S. Compiled into every image; the linker drops what nothing calls. */
#include <stdint.h>
#include "swiftlet_abi.h"

void swiftlet_cpuid(uint32_t leaf, uint32_t subleaf, uint32_t registers[4]) {
    __asm__ __volatile__("cpuid"
                         : "=a"(registers[0]), "=b"(registers[1]), "=c"(registers[2]), "=d"(registers[3])
                         : "a"(leaf), "c"(subleaf));
}

/* 1 with a value in *out, 0 if the CPU had no entropy ready. */
int swiftlet_rdseed64(uint64_t *out) {
    unsigned char ok;
    __asm__ __volatile__("rdseed %0; setc %1" : "=r"(*out), "=qm"(ok));
    return ok;
}

int swiftlet_rdrand64(uint64_t *out) {
    unsigned char ok;
    __asm__ __volatile__("rdrand %0; setc %1" : "=r"(*out), "=qm"(ok));
    return ok;
}

uint64_t swiftlet_pvh_call(uint32_t number, uint64_t a, uint64_t b, uint64_t c) {
    uint64_t result;
    __asm__ __volatile__("int %[vector]"
                         : "=a"(result), "+D"(a), "+S"(b), "+d"(c)
                         : [vector] "i"(SWIFTLET_VIRTIO_SYS_VECTOR), "a"(number)
                         : "rcx", "memory");
    return result;
}

/* The first address past the image (image.ld), where the heap may start. */
uint64_t swiftlet_image_end(void) {
    extern char __image_end[];
    return (uint64_t)(uintptr_t)__image_end;
}

/* Device registers (LAPIC, and virtio's through the MMIO window): each access happens, once. */
uint32_t swiftlet_mmio_read32(uint64_t address) { return *(volatile uint32_t *)(uintptr_t)address; }
void swiftlet_mmio_write32(uint64_t address, uint32_t value) { *(volatile uint32_t *)(uintptr_t)address = value; }
