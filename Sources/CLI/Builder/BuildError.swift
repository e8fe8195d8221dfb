// Why an image build failed, always with the next step for the user.
public enum BuildError: Error, CustomStringConvertible, Equatable {
    case toolchain(String)
    case source(String)
    case compile(step: String, output: String)
    case output(String)
    /// A compiler crashed (its stack dump is in the file at `log`).
    case compilerCrash(step: String, log: String)

    public var description: String {
        switch self {
        case .toolchain(let message), .source(let message), .output(let message): message
        case .compile(let step, let output): "\(step) failed:\n\(output)"
        case .compilerCrash(let step, let log):
            "the Swift compiler crashed \(step); this is a compiler bug, not your code — log: \(log)"
        }
    }
}
