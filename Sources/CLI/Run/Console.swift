// What swiftlet says on its way to a tender: progress and refusals go to stderr, because stdout
// belongs to the guest.
import CRunShim

public enum Console {
    public static func say(_ text: String) { write("swiftlet: \(text)\n", to: 2) }

    /// For reports the user asked for (doctor).
    public static func print(_ text: String) { write(text + "\n", to: 1) }

    static func write(_ text: String, to fd: Int32) {
        var bytes = Array(text.utf8)
        var done = 0
        while done < bytes.count {
            let count = bytes.withUnsafeMutableBytes { CRunShim.write(fd, $0.baseAddress! + done, $0.count - done) }
            if count < 0 && run_shim_errno() == EINTR { continue }
            guard count > 0 else { return }
            done += count
        }
    }
}

/// Why `swiftlet run` will not start a guest. It exits with 125, the status a tender uses when
/// it refuses to start, so a script can tell it from the guest's own exit status; a malformed
/// option exits with 64, as the full CLI's usage errors do.
public struct Refusal: Error, CustomStringConvertible, Equatable {
    public static let exitStatus: Int32 = 125
    public static let usageStatus: Int32 = 64
    public let description: String
    public var status: Int32 = Refusal.exitStatus

    public init(_ description: String) { self.description = description }

    public static func usage(_ description: String) -> Refusal {
        var refusal = Refusal(description)
        refusal.status = usageStatus
        return refusal
    }

    public func exit() -> Never {
        Console.say(description)
        CRunShim.exit(status)
    }
}
