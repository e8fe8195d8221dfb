// Why a wire-format view or representation refused a packet. Shared by every protocol in Wire/.

/// The one error type of the wire layer (typed throws: `throws(WireError)`).
///
/// - `truncated`: the buffer is shorter than the packet's own fields say it must be.
/// - `malformed`: a field holds a value the protocol forbids (the reason names it).
/// - `badChecksum`: the checksum does not verify.
/// - `unsupported`: well-formed, but something this stack does not handle (the reason names it).
public enum WireError: Error, Sendable {
    case truncated
    case malformed(StaticString)
    case badChecksum
    case unsupported(StaticString)
}
