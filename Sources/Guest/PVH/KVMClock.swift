// kvmclock (pvclock), KVM's paravirtual clock: the TSC's scale to nanoseconds and the wall
// clock, registered with two MSR writes (shim calls) and then read at CPL3 from guest memory.
// Present under KVM (QEMU -accel kvm, Firecracker); TCG has none.
#if SWIFTLET_GUEST
import SwiftletABI

enum KVMClock {
    static let systemTimeMSR: UInt32 = 0x4B56_4D01   // MSR_KVM_SYSTEM_TIME_NEW
    static let wallClockMSR: UInt32 = 0x4B56_4D00    // MSR_KVM_WALL_CLOCK_NEW
    static let clocksource2: UInt32 = 1 << 3         // KVM_FEATURE_CLOCKSOURCE2

    /// The last 64 bytes of the boot info area (outside the argument block; one page): the
    /// 32-byte pvclock_vcpu_time_info, then the 12-byte pvclock_wall_clock.
    static let area = SWIFTLET_GUEST_BASE + SWIFTLET_BOOTINFO_OFFSET + SWIFTLET_BOOTINFO_SIZE - 64
    static let reservedBytes = 64

    nonisolated(unsafe) private static var registered: Bool? = nil

    static var isAvailable: Bool {
        if let registered { return registered }
        let signature = PVHShim.cpuid(0x4000_0000)
        // "KVMKVMKVM\0\0\0" in ebx, ecx, edx.
        let kvm = signature.ebx == 0x4B4D_564B && signature.ecx == 0x564B_4D56 && signature.edx == 0x0000_004D
        let available = kvm && signature.eax >= 0x4000_0001 && PVHShim.cpuid(0x4000_0001).eax & clocksource2 != 0
        if available {
            PVHShim.writeMSR(systemTimeMSR, PVHDevices.physicalAddress(area) | 1)
        }
        registered = available
        return available
    }

    private static func load<T>(_ offset: UInt64, as type: T.Type) -> T {
        UnsafeRawPointer(bitPattern: UInt(area + offset))!.load(as: T.self)
    }

    /// (1e9 << 32) / tsc_to_system_mul, shifted back by tsc_shift.
    static var tscFrequency: UInt64? {
        guard isAvailable else { return nil }
        let multiplier = UInt64(load(24, as: UInt32.self))
        let shift = Int(load(28, as: Int8.self))
        guard multiplier != 0 else { return nil }
        let hz = (1_000_000_000 << 32) / multiplier
        return shift >= 0 ? hz >> UInt64(shift) : hz << UInt64(-shift)
    }

    /// Nanoseconds since the Unix epoch now: the wall clock at kvmclock's zero plus its time.
    static var wallClockNanoseconds: UInt64? {
        guard isAvailable else { return nil }
        PVHShim.writeMSR(wallClockMSR, PVHDevices.physicalAddress(area + 32))
        let seconds = UInt64(load(36, as: UInt32.self)), nanoseconds = UInt64(load(40, as: UInt32.self))
        guard seconds != 0 else { return nil }
        return seconds * 1_000_000_000 + nanoseconds + systemTime
    }

    /// kvmclock's nanoseconds: system_time at tsc_timestamp, plus the TSC since, scaled.
    static var systemTime: UInt64 {
        let stamp = load(8, as: UInt64.self), base = load(16, as: UInt64.self)
        let multiplier = UInt64(load(24, as: UInt32.self))
        let shift = Int(load(28, as: Int8.self))
        var delta = swiftlet_rdtsc() &- stamp
        delta = shift >= 0 ? delta << UInt64(shift) : delta >> UInt64(-shift)
        let product = delta.multipliedFullWidth(by: multiplier)
        return base &+ (product.high << 32 | product.low >> 32)
    }
}
#endif
