// The values of the tender options that `swiftlet run` passes on: sizes and the grace period.
// The launcher compiles this folder too (Sources/CLI/Run/OptionValues links it) and checks
// them before it starts passt or a build, so a bad value is refused before anything runs and
// in the same words as the tender, which checks them again.
import SwiftletABI

/// What is wrong with an option's value, said so that a user can mend it.
public struct OptionValueError: Error, Equatable {
    public let message: String
}

public enum OptionValue {
    public static let maximumGracePeriod: UInt32 = 3600

    /// `--mem`: "64M", "1G", "4194304" → bytes; in the ABI's range and 2 MiB aligned.
    public static func memorySize(_ text: String) throws(OptionValueError) -> UInt64 {
        guard let bytes = byteCount(text) else {
            throw OptionValueError(message: "memory size '\(text)' is not a number of bytes (examples: 64M, 1G)")
        }
        guard bytes >= SWIFTLET_MEM_MIN, bytes <= SWIFTLET_MEM_MAX else {
            throw OptionValueError(message: "memory size \(text) is outside \(SWIFTLET_MEM_MIN >> 20)M...\(SWIFTLET_MEM_MAX >> 30)G")
        }
        guard bytes % (2 << 20) == 0 else {
            throw OptionValueError(message: "memory size \(text) is not a multiple of 2M")
        }
        return bytes
    }

    /// `--disk-size`: a positive number of whole 512-byte blocks.
    public static func diskSize(_ text: String) throws(OptionValueError) -> UInt64 {
        guard let bytes = byteCount(text), bytes > 0, bytes % 512 == 0 else {
            throw OptionValueError(message: "--disk-size '\(text)' is not a positive multiple of 512 bytes (examples: 64M, 1G)")
        }
        return bytes
    }

    /// `--pcap-limit`: any number of bytes a file offset holds.
    public static func pcapLimit(_ text: String) throws(OptionValueError) -> Int {
        guard let bytes = byteCount(text), bytes <= UInt64(Int.max) else {
            throw OptionValueError(message: "--pcap-limit '\(text)' is not a number of bytes (examples: 16M, 1G)")
        }
        return Int(bytes)
    }

    /// `--grace-period`: "10" → 10; whole seconds (the deadline is alarm(2)), at most an hour.
    public static func gracePeriod(_ text: String) throws(OptionValueError) -> UInt32 {
        guard let seconds = Substring(text).bytesNumber(), seconds <= UInt64(maximumGracePeriod) else {
            throw OptionValueError(message: "grace period '\(text)' is not a whole number of seconds from 0 to \(maximumGracePeriod)")
        }
        return UInt32(seconds)
    }

    /// "64M", "1G", "4194304" → bytes, or nil if it is not such a number or overflows.
    public static func byteCount(_ text: String) -> UInt64? {
        var digits = Substring(text)
        var multiplier: UInt64 = 1
        switch digits.utf8.last {
        case UInt8(ascii: "k"), UInt8(ascii: "K"): multiplier = 1 << 10
        case UInt8(ascii: "m"), UInt8(ascii: "M"): multiplier = 1 << 20
        case UInt8(ascii: "g"), UInt8(ascii: "G"): multiplier = 1 << 30
        default: break
        }
        if multiplier != 1 { digits = Substring(digits.utf8.dropLast()) }
        guard let value = digits.bytesNumber(), case let (bytes, false) = value.multipliedReportingOverflow(by: multiplier) else {
            return nil
        }
        return bytes
    }
}
