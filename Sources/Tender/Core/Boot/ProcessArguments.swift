// The tender's command line: Embedded Swift has no CommandLine, so a C constructor keeps
// the argv that main received (CTender's libc.c).
import CTender

public enum ProcessArguments {
    /// The arguments after the program's name.
    public static func afterProgramName() -> [String] {
        guard let argv = ctender_argv() else { return [] }
        let count = Int(ctender_argc())
        guard count > 1 else { return [] }
        return (1..<count).map { argv[$0].map { String(cString: $0) } ?? "" }
    }
}
