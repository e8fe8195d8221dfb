// Text the tenders put in messages: hex numbers and target names, formatted one way everywhere.
import SwiftletABI

/// "0x1f" style hex.
func hex<T: BinaryInteger>(_ value: T) -> String { "0x" + String(value, radix: 16) }

public enum TargetNames {
    /// "hvt,spt" for a SWIFTLET_TARGET_* bit set; unknown bits shown in hex, "none" if empty.
    public static func describe(_ bits: UInt32) -> String {
        var names: [String] = []
        if bits & SWIFTLET_TARGET_HVT != 0 { names.append("hvt") }
        if bits & SWIFTLET_TARGET_SPT != 0 { names.append("spt") }
        if bits & SWIFTLET_TARGET_VIRTIO != 0 { names.append("virtio") }
        let unknown = bits & ~(SWIFTLET_TARGET_HVT | SWIFTLET_TARGET_SPT | SWIFTLET_TARGET_VIRTIO)
        if unknown != 0 { names.append(hex(unknown)) }
        return names.isEmpty ? "none" : names.joined(separator: ",")
    }
}
