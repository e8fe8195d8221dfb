// The seam where TLS sits between a TCP stream and an HTTP connection, sans-I/O on both sides:
// ciphertext in from the stream and out to it, plaintext in from HTTP and out to it. The
// library OS only knows this protocol; SwiftletTLS (BearSSL) implements it, so images that do
// not import SwiftletTLS link no TLS code at all.

public enum SecureTransportPhase: Equatable {
    /// The handshake is under way: no application data yet.
    case handshaking
    /// Application data flows.
    case established
    /// Closed cleanly (close_notify sent and, when the peer sent one, received).
    case closed
    /// The peer broke the protocol (or the handshake failed): cut the connection.
    case failed
}

/// One connection's security layer. Buffers belong to the layer: the owner reads ciphertext
/// from the stream straight into `ciphertextSpace()` and writes from `pendingCiphertext()`.
public protocol SecureTransport: AnyObject {
    var phase: SecureTransportPhase { get }

    /// Room for ciphertext from the network; nil when the layer takes none now (its decrypted
    /// data has not been read yet, or it is closed).
    func ciphertextSpace() -> UnsafeMutableRawBufferPointer?
    /// `count` bytes were put at the start of the last `ciphertextSpace()`.
    func ciphertextReceived(_ count: Int)

    /// Ciphertext to send; nil when there is none.
    func pendingCiphertext() -> UnsafeRawBufferPointer?
    /// The network took `count` bytes of the last `pendingCiphertext()`.
    func ciphertextSent(_ count: Int)

    /// Decrypted bytes the peer sent; nil when there are none now.
    func plaintext() -> UnsafeRawBufferPointer?
    /// The owner used `count` bytes of the last `plaintext()`.
    func plaintextConsumed(_ count: Int)

    /// Takes plaintext to encrypt; returns how much it took (0 while earlier records are unsent).
    func write(_ bytes: UnsafeRawBufferPointer) -> Int
    /// Turns what `write` took into records now, rather than waiting for a full one.
    func flush()
    /// Starts a clean close (TLS close_notify).
    func close()
    /// What was agreed, for the log ("TLSv1.2 ECDHE-ECDSA-AES128-GCM-SHA256 sni=… alpn=…").
    var summary: String { get }
}

/// Makes the layer for each accepted connection of a server.
public protocol SecureTransportFactory: AnyObject {
    /// nil when no layer can be made now (the heap is short): the connection is refused.
    func makeTransport(client: IPv4Address) -> (any SecureTransport)?
    /// Called once per connection when its handshake completes (for logs).
    func established(_ transport: any SecureTransport, client: IPv4Address)
}
