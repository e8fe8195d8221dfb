// The machine the virtio binding runs on, from CPL3: clocks, entropy, idling and the way out.
#if SWIFTLET_GUEST
import SwiftletABI

enum PVHMachine {
    nonisolated(unsafe) static var bootTSC: UInt64 = 0
    nonisolated(unsafe) static var tscHz: UInt64 = 0
    /// The TSC just before `main` (PVHBoot.attachDevices).
    nonisolated(unsafe) static var mainTSC: UInt64 = 0
    /// `swiftlet.timing` on the command line: print boot timing when the guest halts.
    nonisolated(unsafe) static var reportTiming = false
    nonisolated(unsafe) static var memoryEnd: UInt64 = 0

    // ---- Clock
    /// TSC frequency: CPUID (KVM's timing leaf, or leaf 0x15), else kvmclock's scale (KVM: QEMU,
    /// Firecracker), else counted against the LAPIC
    /// timer for 2 ms (TCG, and KVM without the timing leaf). The LAPIC timer ticks once per ns
    /// at divide-by-1 under QEMU and KVM (their APIC bus is 1 GHz); pvh.S set that divider. Not
    /// the PIT: microvm has no port 0x61 to read channel 2's output from. 0 if the timer stands.
    static func measureTSCFrequency() -> UInt64 {
        if let hz = TSCFrequency.fromCPUID({ PVHShim.cpuid($0, $1) }) { return hz }
        if let hz = KVMClock.tscFrequency { return hz }
        let lapic: UInt64 = 0xFEE0_0000
        let initialCount = lapic + 0x380, currentCount = lapic + 0x390
        swiftletMMIOWrite32(initialCount, UInt32.max)
        defer { swiftletMMIOWrite32(initialCount, 0) }       // stopped: no interrupt left pending
        let startCount = swiftletMMIORead32(currentCount)
        let startTSC = swiftlet_rdtsc()
        var elapsed: UInt32 = 0
        var reads = 0
        while elapsed < 2_000_000 {
            elapsed = startCount &- swiftletMMIORead32(currentCount)
            reads += 1
            if reads > 10_000_000 { return 0 }
        }
        return (swiftlet_rdtsc() &- startTSC) * 1_000_000_000 / UInt64(elapsed)
    }

    static func monotonicNanoseconds() -> UInt64 {
        guard tscHz != 0 else { return 0 }
        let ticks = swiftlet_rdtsc() &- bootTSC
        return ticks / tscHz * 1_000_000_000 + ticks % tscHz * 1_000_000_000 / tscHz
    }

    /// Wall clock: kvmclock's (KVM under QEMU or Firecracker, which has no CMOS RTC), else the
    /// CMOS RTC (QEMU under TCG), read once and advanced by the TSC. With neither, the Unix
    /// epoch plus uptime rather than a made-up date.
    static func wallClockNanoseconds() -> UInt64 {
        if rtcEpochNanoseconds == nil {
            if let wall = KVMClock.wallClockNanoseconds {
                rtcEpochNanoseconds = wall &- monotonicNanoseconds()
            } else {
                rtcEpochNanoseconds = readRTC().map { $0 &* 1_000_000_000 &- monotonicNanoseconds() } ?? 0
            }
        }
        return rtcEpochNanoseconds! &+ monotonicNanoseconds()
    }

    nonisolated(unsafe) private static var rtcEpochNanoseconds: UInt64? = nil

    /// Seconds since the Unix epoch from the CMOS RTC, or nil if it reads as absent.
    static func readRTC() -> UInt64? {
        func register(_ index: UInt8) -> UInt8 {
            PVHShim.out8(port: 0x70, index)
            return PVHShim.in8(port: 0x71)
        }
        var waits = 0
        while register(0x0A) & 0x80 != 0 {                  // update in progress: < 2 ms
            waits += 1
            if waits > 10_000 { return nil }
        }
        let status = register(0x0B)
        var fields = [register(0x00), register(0x02), register(0x04), register(0x07), register(0x08), register(0x09)]
        if fields.allSatisfy({ $0 == 0xFF }) { return nil }
        if status & 0x04 == 0 {                              // BCD
            fields = fields.map { ($0 & 0x0F) + ($0 >> 4) * 10 }
        }
        let (second, minute, day, month, year) = (UInt64(fields[0]), UInt64(fields[1]), fields[3], fields[4], fields[5])
        guard day >= 1, day <= 31, month >= 1, month <= 12 else { return nil }
        let days = UTCDateTime.daysSinceEpoch(year: 2000 + Int(year), month: Int(month), day: Int(day))
        return UInt64(days) * 86_400 + UInt64(fields[2]) * 3600 + minute * 60 + second
    }

    // ---- Entropy
    /// Fills the seed: RDSEED, else RDRAND (QEMU -cpu host or max), else TSC jitter around shim
    /// calls (each a trap into the VMM); true for the last, which the boot says aloud.
    static func randomSeed(into seed: UnsafeMutableRawBufferPointer) -> Bool {
        let hasRDSEED = PVHShim.cpuid(7).ebx & (1 << 18) != 0
        let hasRDRAND = PVHShim.cpuid(1).ecx & (1 << 30) != 0
        var weak = false
        for word in 0..<seed.count / 8 {
            var value: UInt64 = 0
            var done = false
            for _ in 0..<32 where !done {
                done = (hasRDSEED && swiftletRDSEED(&value) == 1) || (hasRDRAND && swiftletRDRAND(&value) == 1)
            }
            if !done {
                weak = true
                for _ in 0..<64 {
                    _ = PVHShim.in8(port: 0x80)
                    value = (value &* 0x9E37_79B9_7F4A_7C15) ^ swiftlet_rdtsc()
                }
            }
            seed.storeBytes(of: value, toByteOffset: word * 8, as: UInt64.self)
        }
        return weak
    }

    // ---- Idling and devices
    /// POLL: the ready set now, or after sleeping until a device has input or `timeout` ns pass.
    static func poll(timeout: UInt64) -> UInt64 {
        var ready = PVHDevices.readySet
        if ready != 0 || timeout == 0 { return ready }
        let start = monotonicNanoseconds()
        let deadline = start &+ timeout < start ? UInt64.max : start &+ timeout
        while ready == 0 {
            let now = monotonicNanoseconds()
            if now >= deadline { break }
            _ = PVHShim.halt(nanoseconds: deadline - now)
            ready = PVHDevices.readySet
        }
        return ready
    }

    // ---- The way out
    static func exit(status: Int32) -> Never {
        if reportTiming { printTiming() }
        if PVHExit.needsConsoleLine(status) {
            var text = FixedTextBuffer()
            text.append("swiftlet-exit ")
            text.append(decimal: Int64(status))
            text.append("\n")
            text.withBytes { PVHShim.write($0) }
        }
        PVHShim.exit(value: PVHExit.value(forStatus: status))
    }

    /// A problem found before the application could start: said on the console, then the
    /// tender-error status (125), as a tender refusing a bad configuration would.
    static func refuse(_ message: StaticString) -> Never {
        PVHShim.write("swiftlet (virtio): ")
        PVHShim.write(message)
        PVHShim.write("\n")
        exit(status: SWIFTLET_EXIT_TENDER_ERROR)
    }

    static func printTiming() {
        var text = FixedTextBuffer()
        text.append("swiftlet-timing first-instruction-to-main-ns=")
        let ticks = mainTSC &- bootTSC
        text.append(unsignedDecimal: tscHz == 0 ? 0 : ticks * 1_000_000 / (tscHz / 1000))
        text.append(" tsc-hz=")
        text.append(unsignedDecimal: tscHz)
        text.append("\n")
        text.withBytes { PVHShim.write($0) }
    }
}
#endif
