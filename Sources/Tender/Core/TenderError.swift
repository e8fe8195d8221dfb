// Everything that stops a tender before or outside the guest's control, with what to do next.
public enum TenderError: Error, CustomStringConvertible {
    case usage(String)
    case image(String)
    case system(String, errno: Int32)
    case guest(String)

    public var description: String {
        switch self {
        case .usage(let message), .image(let message), .guest(let message): message
        case .system(let message, let errno): "\(message): \(SystemError.describe(errno))"
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif

public enum SystemError {
    public static func describe(_ code: Int32) -> String {
        guard let text = strerror(code) else { return "errno \(code)" }
        return String(cString: text)
    }
}
