// The tenders an image may run on; its ABI note lists which (SWIFTLET_TARGET_* bits).
import SwiftletABI

public enum Target: String, CaseIterable, Sendable {
    case hvt, spt

    /// The SWIFTLET_TARGET_* bit stamped into the image note.
    public var noteBit: UInt32 { self == .hvt ? SWIFTLET_TARGET_HVT : SWIFTLET_TARGET_SPT }

    /// The targets named by a note's bit set, in preference order (hvt first).
    public static func named(by bits: UInt32) -> [Target] { allCases.filter { bits & $0.noteBit != 0 } }
}

/// A tender executable. Each target has two, as Solo5 has solo5-hvt and solo5-hvt-debug: the
/// lean `swiftlet-hvt` that `swiftlet run` and container images use, and `swiftlet-hvt-debug`,
/// built from the same sources with the GDB server and core files (the lean one refuses --gdb
/// and --core, naming the debug one).
public struct Tender: Equatable, Sendable {
    public let target: Target
    public let debug: Bool

    public init(_ target: Target, debug: Bool = false) {
        self.target = target
        self.debug = debug
    }

    /// The executable's name: swiftlet-hvt, swiftlet-hvt-debug, ...
    public var name: String { "swiftlet-\(target.rawValue)\(debug ? "-debug" : "")" }

    /// The lean tenders, which a checkout builds on first use.
    public static let lean = Target.allCases.map { Tender($0) }
    /// Every tender, lean and debug: what `swiftlet install` puts in libexec.
    public static let all = lean + Target.allCases.map { Tender($0, debug: true) }
}
