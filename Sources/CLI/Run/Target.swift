// The tenders an image may run on; its ABI note lists which (SWIFTLET_TARGET_* bits).
import SwiftletABI

public enum Target: String, CaseIterable, Sendable {
    case hvt, spt

    /// The SWIFTLET_TARGET_* bit stamped into the image note.
    public var noteBit: UInt32 { self == .hvt ? SWIFTLET_TARGET_HVT : SWIFTLET_TARGET_SPT }

    /// The tender's executable name.
    public var tenderName: String { "swiftlet-\(rawValue)" }

    /// The targets named by a note's bit set, in preference order (hvt first).
    public static func named(by bits: UInt32) -> [Target] { allCases.filter { bits & $0.noteBit != 0 } }
}
