// What swiftlet says on its way to a tender: progress and refusals go to stderr, because stdout
// belongs to the guest.
#if canImport(Glibc)
import Glibc
#endif

public enum Console {
    public static func say(_ text: String) {
        let line = "swiftlet: \(text)\n"
        var bytes = Array(line.utf8)
        var done = 0
        while done < bytes.count {
            let count = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress! + done, $0.count - done) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return }
            done += count
        }
    }
}

/// Why `swiftlet run` will not start a guest. It exits with 125, the status a tender uses when
/// it refuses to start, so a script can tell it from the guest's own exit status.
public struct Refusal: Error, CustomStringConvertible, Equatable {
    public static let exitStatus: Int32 = 125
    public let description: String

    public init(_ description: String) { self.description = description }

    public func exit() -> Never {
        Console.say(description)
        Glibc.exit(Self.exitStatus)
    }
}
