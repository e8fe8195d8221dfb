// Host tests for what the virtio binding makes of a PVH loader's input: the memory map, the
// kernel command line (arguments and the words meant for the kernel) and CPUID's TSC rate.
import Testing
@testable import Swiftlet

@Suite struct PVHBootParameterTests {
    let twoMiB: UInt64 = 0x20_0000

    @Test func memoryIsTheRAMThatRunsOnFromTheLoadAddress() {
        // microvm with -m 34M: low RAM, a hole, then RAM from 1 MiB.
        let map = [PVHMemoryRegion(start: 0, size: 0x9_FC00, type: 1), PVHMemoryRegion(start: 0x9_FC00, size: 0x400, type: 2),
                   PVHMemoryRegion(start: 0x10_0000, size: 0x210_0000 - 0x10_0000, type: 1)]
        #expect(PVHMemoryMap.usableBytes(map, from: twoMiB, limit: 1 << 31) == 0x210_0000 - twoMiB)
        // Adjacent RAM pieces count as one; a reserved piece ends it; the limit caps it.
        let pieces = [PVHMemoryRegion(start: 0x10_0000, size: 0x30_0000, type: 1), PVHMemoryRegion(start: 0x40_0000, size: 0x40_0000, type: 1),
                      PVHMemoryRegion(start: 0x80_0000, size: 0x10_0000, type: 2), PVHMemoryRegion(start: 0x90_0000, size: 0x100_0000, type: 1)]
        #expect(PVHMemoryMap.usableBytes(pieces, from: twoMiB, limit: 1 << 31) == 0x80_0000 - twoMiB)
        #expect(PVHMemoryMap.usableBytes(pieces, from: twoMiB, limit: 0x60_0000) == 0x40_0000)
        // No RAM at the load address (a VM below 2 MiB, or a map without it): nil, never a guess.
        #expect(PVHMemoryMap.usableBytes([PVHMemoryRegion(start: 0, size: 0x1F_0000, type: 1)], from: twoMiB, limit: 1 << 31) == nil)
        #expect(PVHMemoryMap.usableBytes([PVHMemoryRegion(start: 0, size: 0x400_0000, type: 2)], from: twoMiB, limit: 1 << 31) == nil)
        // An entry whose end wraps around is ignored.
        #expect(PVHMemoryMap.usableBytes([PVHMemoryRegion(start: 0x10_0000, size: UInt64.max, type: 1)], from: twoMiB, limit: 1 << 31) == nil)
    }

    func split(_ text: String, capacity: Int = 256) -> (kept: [String], dropped: [String])? {
        var kept: [String] = [], dropped: [String] = []
        var output = [UInt8](repeating: 0xAA, count: capacity)
        let input = Array(text.utf8)
        let used = input.withUnsafeBytes { input in
            output.withUnsafeMutableBytes { output in
                KernelCommandLine.split(input, into: output) { word in
                    let text = String(decoding: word, as: UTF8.self)
                    if KernelCommandLine.isForTheKernel(word) { dropped.append(text); return false }
                    kept.append(text)
                    return true
                }
            }
        }
        guard let used else { return nil }
        // The block holds exactly the kept words, each NUL-terminated.
        #expect(output[..<used].split(separator: 0, omittingEmptySubsequences: false).dropLast().map { String(decoding: $0, as: UTF8.self) } == kept)
        return (kept, dropped)
    }

    @Test func commandLineSplitsLikeSwiftletRunQuotes() {
        let result = split(#"  one "two words" "" q\"b\\ virtio_mmio.device=512@0xfeb00e00:12 swiftlet.timing  last"#)
        #expect(result?.kept == ["one", "two words", "", "q\"b\\", "last"])
        #expect(result?.dropped == ["virtio_mmio.device=512@0xfeb00e00:12", "swiftlet.timing"])
        #expect(split("")?.kept == [])
        #expect(split("tab\tand\nnewline")?.kept == ["tab", "and", "newline"])
        // Words that do not fit are refused, not cut.
        #expect(split("abcdefgh", capacity: 8) == nil)
        #expect(split("abcdefg", capacity: 8)?.kept == ["abcdefg"])
    }

    @Test func virtioMMIODescriptionsParseTheLinuxConvention() {
        #expect(VirtioMMIODescription(Array("virtio_mmio.device=512@0xfeb00e00:12".utf8)) == VirtioMMIODescription(base: 0xFEB0_0E00, size: 512, interrupt: 12))
        #expect(VirtioMMIODescription(Array("virtio_mmio.device=4K@0xd0000000:5".utf8)) == VirtioMMIODescription(base: 0xD000_0000, size: 4096, interrupt: 5))
        for bad in ["virtio_mmio.device=4K@0xd0000000", "virtio_mmio.device=@1:2", "virtio_mmio.device=1@0xzz:2",
                    "virtio_mmio.device=1@0xffffffffffffffffff:2", "other=1@2:3"] {
            #expect(VirtioMMIODescription(Array(bad.utf8)) == nil, "\(bad)")
        }
    }

    @Test func tscFrequencyFromCPUID() {
        // KVM's timing leaf, in kHz.
        #expect(TSCFrequency.fromCPUID { leaf, _ in
            switch leaf {
            case 0x4000_0000: (0x4000_0010, 0, 0, 0)
            case 0x4000_0010: (2_245_780, 0, 0, 0)
            default: (0, 0, 0, 0)
            }
        } == 2_245_780_000)
        // Leaf 0x15: crystal 25 MHz * 168 / 2.
        #expect(TSCFrequency.fromCPUID { leaf, _ in
            switch leaf {
            case 0: (0x16, 0, 0, 0)
            case 0x15: (2, 168, 25_000_000, 0)
            default: (0, 0, 0, 0)
            }
        } == 2_100_000_000)
        // Neither (TCG): nil, so the binding measures it.
        #expect(TSCFrequency.fromCPUID { _, _ in (0, 0, 0, 0) } == nil)
    }

    @Test func exitStatusesCrossIsaDebugExit() {
        #expect(PVHExit.value(forStatus: 0) == 1)
        #expect(PVHExit.value(forStatus: 123) == 124)
        #expect(PVHExit.value(forStatus: 200) == 126 && PVHExit.needsConsoleLine(200))
        #expect(PVHExit.value(forStatus: 255) == 127 && !PVHExit.needsConsoleLine(255))
        #expect(!PVHExit.needsConsoleLine(7))
    }
}
