// Everything that stops a tender before or outside the guest's control, with what to do next.
import CTender

public enum TenderError: Error, CustomStringConvertible {
    case usage(String)
    case image(String)
    case system(String, errno: Int32)
    case guest(String)

    public var description: String {
        switch self {
        case .usage(let message), .image(let message), .guest(let message): message
        case .system(let message, let code): "\(message): \(SystemError.describe(code))"
        }
    }
}

public enum SystemError {
    /// errno: C's macro, read and written through CTender (Embedded Swift has no Glibc overlay).
    public static var last: Int32 {
        get { ctender_errno() }
        set { ctender_set_errno(newValue) }
    }

    public static func describe(_ code: Int32) -> String {
        guard let text = strerror(code) else { return "errno \(code)" }
        return String(cString: text)
    }
}
