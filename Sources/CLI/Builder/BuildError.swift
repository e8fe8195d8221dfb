// Why an image build failed, always with the next step for the user.
public enum BuildError: Error, CustomStringConvertible, Equatable {
    case toolchain(String)
    case source(String)
    case compile(step: String, output: String)
    case output(String)

    public var description: String {
        switch self {
        case .toolchain(let message), .source(let message), .output(let message): message
        case .compile(let step, let output): "\(step) failed:\n\(output)"
        }
    }
}
