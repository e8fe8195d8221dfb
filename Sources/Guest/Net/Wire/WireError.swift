// Why a wire-format view or representation refused a packet. Shared by every protocol in Wire/.

/// The one error type of the wire layer (typed throws: `throws(WireError)`).
///
/// - `truncated`: the buffer is shorter than the packet's own fields say it must be.
/// - `malformed`: a field holds a value the protocol forbids (the reason names it).
/// - `badChecksum`: the checksum does not verify.
/// - `unsupported`: well-formed, but something this stack does not handle (the reason names it).
/// - `bufferTooSmall`: an emitter's output buffer cannot hold what it would write.
public enum WireError: Error, Sendable {
    case truncated
    case malformed(StaticString)
    case badChecksum
    case unsupported(StaticString)
    case bufferTooSmall
}

/// Two errors are equal when their cases and their reasons' text are.
extension WireError: Equatable {
    public static func == (left: WireError, right: WireError) -> Bool {
        switch (left, right) {
        case (.truncated, .truncated), (.badChecksum, .badChecksum), (.bufferTooSmall, .bufferTooSmall):
            true
        case (.malformed(let a), .malformed(let b)), (.unsupported(let a), .unsupported(let b)):
            a.withUTF8Buffer { a in b.withUTF8Buffer { b in a.elementsEqual(b) } }
        default:
            false
        }
    }
}
