// The virtio binding's door into the ring-0 shim (Freestanding/Virtio/pvh.S): everything here
// needs CPL0 and costs a trap (under KVM-PVM a #UD round trip plus ~1 µs per shim instruction),
// so callers batch: a console write is one `rep outsb`, an idle wait one halt.
#if SWIFTLET_GUEST
import SwiftletABI

@_extern(c, "swiftlet_pvh_call")
func swiftletPVHCall(_ number: UInt32, _ a: UInt64, _ b: UInt64, _ c: UInt64) -> UInt64
@_extern(c, "swiftlet_cpuid")
func swiftletCPUID(_ leaf: UInt32, _ subleaf: UInt32, _ registers: UnsafeMutablePointer<UInt32>)
@_extern(c, "swiftlet_rdseed64")
func swiftletRDSEED(_ value: UnsafeMutablePointer<UInt64>) -> Int32
@_extern(c, "swiftlet_rdrand64")
func swiftletRDRAND(_ value: UnsafeMutablePointer<UInt64>) -> Int32
@_extern(c, "swiftlet_mmio_read32")
func swiftletMMIORead32(_ address: UInt64) -> UInt32
@_extern(c, "swiftlet_mmio_write32")
func swiftletMMIOWrite32(_ address: UInt64, _ value: UInt32)
@_extern(c, "swiftlet_image_end")
func swiftletImageEnd() -> UInt64

enum PVHShim {
    /// COM1, a 16550 on microvm, q35, pc and Firecracker. Written without waiting for the
    /// transmitter: a VMM's UART takes each byte at once (a real one would need LSR polling).
    static let serialPort: UInt64 = 0x3F8

    static func write(_ bytes: UnsafeRawBufferPointer, port: UInt64 = serialPort) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        _ = swiftletPVHCall(UInt32(SWIFTLET_VIRTIO_SYS_OUTS), port, UInt64(UInt(bitPattern: base)), UInt64(bytes.count))
    }

    static func write(_ text: StaticString) {
        write(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    static func out8(port: UInt64, _ value: UInt8) {
        _ = swiftletPVHCall(UInt32(SWIFTLET_VIRTIO_SYS_OUT8), port, UInt64(value), 0)
    }

    static func in8(port: UInt64) -> UInt8 {
        UInt8(truncatingIfNeeded: swiftletPVHCall(UInt32(SWIFTLET_VIRTIO_SYS_IN8), port, 0, 0))
    }

    /// Halts until an interrupt: the LAPIC timer armed for `nanoseconds` (capped at ~4.3 s; 0
    /// arms none), or a device's. Returns the interrupts seen meanwhile (bit vector - 32).
    static func halt(nanoseconds: UInt64) -> UInt64 {
        swiftletPVHCall(UInt32(SWIFTLET_VIRTIO_SYS_HALT), min(nanoseconds, UInt64(UInt32.max)), 0, 0)
    }

    static func writeMSR(_ msr: UInt32, _ value: UInt64) {
        _ = swiftletPVHCall(UInt32(SWIFTLET_VIRTIO_SYS_WRMSR), UInt64(msr), value, 0)
    }

    /// Ends the VM with an isa-debug-exit value (PVHExit), or by the i8042 reset line.
    static func exit(value: UInt8) -> Never {
        _ = swiftletPVHCall(UInt32(SWIFTLET_VIRTIO_SYS_EXIT), UInt64(value), 0, 0)
        while true {}
    }

    static func cpuid(_ leaf: UInt32, _ subleaf: UInt32 = 0) -> (eax: UInt32, ebx: UInt32, ecx: UInt32, edx: UInt32) {
        var registers: (UInt32, UInt32, UInt32, UInt32) = (0, 0, 0, 0)
        withUnsafeMutablePointer(to: &registers) { pointer in
            pointer.withMemoryRebound(to: UInt32.self, capacity: 4) { swiftletCPUID(leaf, subleaf, $0) }
        }
        return (registers.0, registers.1, registers.2, registers.3)
    }
}
#endif
