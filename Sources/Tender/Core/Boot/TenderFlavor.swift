// Which tender this is: lean (swiftlet-hvt, swiftlet-spt, what `swiftlet run` and container
// images use) or debug (swiftlet-hvt-debug, swiftlet-spt-debug: the same sources compiled with
// SWIFTLET_DEBUG_TENDER, adding the GDB server and core files), as Solo5 ships solo5-hvt and
// solo5-hvt-debug. A lean tender refuses --gdb and --core before anything starts; the branches
// that would serve them fold away, and --gc-sections drops what only they called.
public enum TenderFlavor {
    /// True in the debug tenders and in TenderCore (the CLI and the tests see everything).
    @inline(__always) public static var debugging: Bool {
        #if SWIFTLET_DEBUG_TENDER
        true
        #else
        false
        #endif
    }

    /// "swiftlet-hvt" → "swiftlet-hvt-debug".
    public static func debugName(of tender: String) -> String { tender + "-debug" }

    /// What a lean tender says when asked for `option` (--gdb or --core).
    static func refusal(_ option: String, tender: String) -> TenderError {
        .usage(option + " needs the debug tender, " + debugName(of: tender) + ": " + tender
            + " is built without the GDB server and core files (`swiftlet run` picks the debug tender for " + option + ")")
    }
}
