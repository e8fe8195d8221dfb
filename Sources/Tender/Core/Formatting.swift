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

/// `text` from a guest or an image, made safe to print on a terminal or in a log: control
/// characters (C0, DEL, C1) and bidirectional overrides are written as escapes, so a guest
/// cannot end our line and forge one of the tender's own, or send terminal escape sequences.
public func printable(_ text: String) -> String {
    var result = ""
    result.unicodeScalars.reserveCapacity(text.unicodeScalars.count)
    for scalar in text.unicodeScalars {
        switch scalar.value {
        case 0x0A: result += "\\n"
        case 0x0D: result += "\\r"
        case 0x09: result += "\\t"
        case 0x00 ..< 0x20, 0x7F ..< 0xA0, 0x200E, 0x200F, 0x202A ... 0x202E, 0x2066 ... 0x2069:
            result += "\\u{" + String(scalar.value, radix: 16) + "}"
        default: result.unicodeScalars.append(scalar)
        }
    }
    return result
}
