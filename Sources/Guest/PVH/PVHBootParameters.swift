// What a PVH loader tells the virtio binding, as plain values: the memory map and the kernel
// command line. Pure code (no platform), so it is tested on the host (Tests/GuestTests).
import SwiftletABI

/// One entry of the PVH memory map (struct hvm_memmap_table_entry).
public struct PVHMemoryRegion: Equatable, Sendable {
    public static let ram: UInt32 = 1
    public var start: UInt64
    public var size: UInt64
    public var type: UInt32
    public init(start: UInt64, size: UInt64, type: UInt32) {
        self.start = start
        self.size = size
        self.type = type
    }
    var end: UInt64 { start &+ size }
}

public enum PVHMemoryMap {
    /// Bytes of guest memory from `base` (guest-physical): the RAM that runs on without a gap
    /// from `base`, up to `limit`, whole pages. nil when `base` is not in RAM at all.
    /// (Reads entries through `region`: the boot calls this before there is a heap.)
    public static func usableBytes(count: Int, region: (Int) -> PVHMemoryRegion, from base: UInt64, limit: UInt64) -> UInt64? {
        func ramContaining(_ address: UInt64) -> PVHMemoryRegion? {
            for index in 0..<count {
                let entry = region(index)
                if entry.type == PVHMemoryRegion.ram && entry.start <= address && address < entry.end && entry.end > entry.start {
                    return entry
                }
            }
            return nil
        }
        guard var end = ramContaining(base)?.end else { return nil }
        // Firmware may report RAM in adjacent pieces.
        while end < limit, let next = ramContaining(end) { end = next.end }
        return (min(end, limit) - base) & ~0xFFF
    }

    public static func usableBytes(_ regions: [PVHMemoryRegion], from base: UInt64, limit: UInt64) -> UInt64? {
        usableBytes(count: regions.count, region: { regions[$0] }, from: base, limit: limit)
    }
}

/// The kernel command line (`qemu -append`, Firecracker's boot_args): the guest's arguments,
/// separated by spaces, with double quotes around an argument holding spaces and a backslash
/// before a literal `"` or `\` (as `swiftlet run` writes them). Words the VMM adds for a kernel
/// (`virtio_mmio.device=SIZE@BASE:IRQ`, which QEMU microvm and Firecracker append for each
/// virtio-mmio device) are taken out and kept for the drivers.
public enum KernelCommandLine {
    /// Splits `input` into words, writing each unescaped and NUL-terminated into `output`, and
    /// calls `keep` with it: a word it does not keep is taken back out. Returns the bytes of
    /// `output` used, nil if the words do not fit. Allocates nothing (the boot has no heap yet).
    public static func split(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer,
                             keep: (UnsafeRawBufferPointer) -> Bool) -> Int? {
        var used = 0, wordStart = 0
        var inWord = false, quoted = false, escaped = false
        func endWord() -> Bool {
            guard used < output.count else { return false }
            output[used] = 0
            let word = UnsafeRawBufferPointer(rebasing: output[wordStart..<used])
            used = keep(word) ? used + 1 : wordStart
            wordStart = used
            inWord = false
            return true
        }
        for byte in input {
            if byte == 0 { break }
            var literal = false
            if escaped {
                literal = true
                escaped = false
            } else if byte == UInt8(ascii: "\\") {
                escaped = true
                inWord = true
            } else if byte == UInt8(ascii: "\"") {
                quoted.toggle()
                inWord = true
            } else if !quoted && (byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\n")) {
                if inWord && !endWord() { return nil }
            } else {
                literal = true
            }
            if literal {
                guard used < output.count else { return nil }
                output[used] = byte
                used += 1
                inWord = true
            }
        }
        if inWord && !endWord() { return nil }
        return used
    }

    /// The words of `input`, for code that runs once there is a heap.
    public static func words(_ input: [UInt8]) -> [[UInt8]] {
        var words: [[UInt8]] = []
        var scratch = [UInt8](repeating: 0, count: input.count + 1)
        input.withUnsafeBytes { input in
            scratch.withUnsafeMutableBytes { output in
                _ = split(input, into: output) { word in
                    words.append(Array(word))
                    return true
                }
            }
        }
        return words
    }

    /// Words a VMM adds for a kernel rather than for the application: `virtio_mmio.device=…`
    /// (QEMU microvm and Firecracker announce each virtio-mmio device so), and `swiftlet.*`
    /// (options for this binding, e.g. `swiftlet.timing`).
    public static func isForTheKernel(_ word: UnsafeRawBufferPointer) -> Bool {
        word.starts(with: "virtio_mmio.device=".utf8) || word.starts(with: "swiftlet.".utf8)
    }
}

/// `virtio_mmio.device=SIZE@BASE:IRQ` (SIZE with an optional K/M suffix, BASE in hex or
/// decimal), the Linux convention QEMU and Firecracker follow.
public struct VirtioMMIODescription: Equatable, Sendable {
    public var base: UInt64
    public var size: UInt64
    public var interrupt: UInt32

    public init(base: UInt64, size: UInt64, interrupt: UInt32) {
        self.base = base
        self.size = size
        self.interrupt = interrupt
    }

    public init?(_ word: [UInt8]) {
        let prefix = Array("virtio_mmio.device=".utf8)
        guard word.starts(with: prefix) else { return nil }
        let rest = Array(word.dropFirst(prefix.count))
        guard let at = rest.firstIndex(of: UInt8(ascii: "@")),
              let colon = rest[at...].firstIndex(of: UInt8(ascii: ":")) else { return nil }
        var sizeText = Array(rest[..<at])
        var shift: UInt64 = 0
        switch sizeText.last.map({ $0 | 0x20 }) {
        case UInt8(ascii: "k"): shift = 10; sizeText.removeLast()
        case UInt8(ascii: "m"): shift = 20; sizeText.removeLast()
        default: break
        }
        guard let size = Self.number(sizeText), let base = Self.number(Array(rest[(at + 1)..<colon])),
              let interrupt = Self.number(Array(rest[(colon + 1)...])), interrupt <= UInt64(UInt32.max)
        else { return nil }
        self.init(base: base, size: size << shift, interrupt: UInt32(interrupt))
    }

    /// A decimal or 0x-hexadecimal number that fits 48 bits (physical addresses and sizes).
    static func number(_ text: [UInt8]) -> UInt64? {
        var digits = text
        var radix: UInt64 = 10
        if digits.count > 2, digits[0] == UInt8(ascii: "0"), digits[1] | 0x20 == UInt8(ascii: "x") {
            radix = 16
            digits.removeFirst(2)
        }
        guard !digits.isEmpty, digits.count <= 16 else { return nil }
        var value: UInt64 = 0
        for digit in digits {
            let lower = digit | 0x20
            let number: UInt64
            switch digit {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): number = UInt64(digit - UInt8(ascii: "0"))
            default:
                guard radix == 16, lower >= UInt8(ascii: "a"), lower <= UInt8(ascii: "f") else { return nil }
                number = UInt64(lower - UInt8(ascii: "a") + 10)
            }
            guard number < radix else { return nil }
            value = value * radix + number
            if value >= 1 << 48 { return nil }
        }
        return value
    }
}

/// The TSC's frequency from CPUID, when the CPU or hypervisor says it: the hypervisor timing
/// leaf 0x40000010 (KVM under QEMU and Firecracker: TSC kHz), else leaf 0x15 (crystal ratio).
public enum TSCFrequency {
    public typealias CPUID = (_ leaf: UInt32, _ subleaf: UInt32) -> (eax: UInt32, ebx: UInt32, ecx: UInt32, edx: UInt32)

    public static func fromCPUID(_ cpuid: CPUID) -> UInt64? {
        let hypervisor = cpuid(0x4000_0000, 0)
        if hypervisor.eax >= 0x4000_0010 && hypervisor.eax < 0x4000_0100 {
            let khz = cpuid(0x4000_0010, 0).eax
            if khz != 0 { return UInt64(khz) * 1000 }
        }
        if cpuid(0, 0).eax >= 0x15 {
            let leaf = cpuid(0x15, 0)
            if leaf.eax != 0, leaf.ebx != 0, leaf.ecx != 0 {
                return UInt64(leaf.ecx) * UInt64(leaf.ebx) / UInt64(leaf.eax)
            }
        }
        return nil
    }
}

/// How a guest exit status crosses QEMU's isa-debug-exit (mapping in swiftlet_abi.h).
public enum PVHExit {
    public static func value(forStatus status: Int32) -> UInt8 {
        if status >= 0 && status <= Int32(SWIFTLET_VIRTIO_EXIT_STATUS_MAX) { return UInt8(status + 1) }
        if status == SWIFTLET_EXIT_CRASH { return UInt8(SWIFTLET_VIRTIO_EXIT_CRASH_VALUE) }
        return UInt8(SWIFTLET_VIRTIO_EXIT_OTHER_VALUE)
    }

    /// Statuses the value cannot carry are said on the console first ("swiftlet-exit N").
    public static func needsConsoleLine(_ status: Int32) -> Bool {
        value(forStatus: status) == UInt8(SWIFTLET_VIRTIO_EXIT_OTHER_VALUE)
    }
}
