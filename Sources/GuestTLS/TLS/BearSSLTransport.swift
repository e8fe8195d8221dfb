// One TLS server connection: BearSSL's engine driven sans-I/O. The engine owns both record
// buffers; the server reads ciphertext from TCP straight into the input buffer and writes
// records straight from the output one.
import CSwiftletTLS
import Swiftlet

final class BearSSLTransport: SecureTransport {
    private let server: OpaquePointer
    private let engine: UnsafeMutablePointer<br_ssl_engine_context>
    private var handshakeDone = false

    init(server: OpaquePointer) {
        self.server = server
        engine = swiftlet_tls_server_engine(server)
    }

    deinit { swiftlet_tls_server_free(server) }

    var phase: SecureTransportPhase {
        let state = br_ssl_engine_current_state(engine)
        if state == UInt32(BR_SSL_CLOSED) {
            return br_ssl_engine_last_error(engine) == BR_ERR_OK ? .closed : .failed
        }
        if !handshakeDone && state & UInt32(BR_SSL_SENDAPP | BR_SSL_RECVAPP) != 0 { handshakeDone = true }
        return handshakeDone ? .established : .handshaking
    }

    func ciphertextSpace() -> UnsafeMutableRawBufferPointer? {
        var length = 0
        guard let buffer = br_ssl_engine_recvrec_buf(engine, &length), length > 0 else { return nil }
        return UnsafeMutableRawBufferPointer(start: buffer, count: length)
    }

    func ciphertextReceived(_ count: Int) { br_ssl_engine_recvrec_ack(engine, count) }

    func pendingCiphertext() -> UnsafeRawBufferPointer? {
        var length = 0
        guard let buffer = br_ssl_engine_sendrec_buf(engine, &length), length > 0 else { return nil }
        return UnsafeRawBufferPointer(start: buffer, count: length)
    }

    func ciphertextSent(_ count: Int) { br_ssl_engine_sendrec_ack(engine, count) }

    func plaintext() -> UnsafeRawBufferPointer? {
        var length = 0
        guard let buffer = br_ssl_engine_recvapp_buf(engine, &length), length > 0 else { return nil }
        return UnsafeRawBufferPointer(start: buffer, count: length)
    }

    func plaintextConsumed(_ count: Int) { br_ssl_engine_recvapp_ack(engine, count) }

    func write(_ bytes: UnsafeRawBufferPointer) -> Int {
        var length = 0
        guard !bytes.isEmpty, let buffer = br_ssl_engine_sendapp_buf(engine, &length), length > 0 else { return 0 }
        let count = min(length, bytes.count)
        UnsafeMutableRawPointer(buffer).copyMemory(from: bytes.baseAddress!, byteCount: count)
        br_ssl_engine_sendapp_ack(engine, count)
        return count
    }

    func flush() { br_ssl_engine_flush(engine, 0) }

    func close() { br_ssl_engine_close(engine) }

    /// "TLSv1.2 ECDHE-ECDSA-AES128-GCM-SHA256 sni=example.org alpn=http/1.1" (OpenSSL's names).
    var summary: String {
        let version = br_ssl_engine_get_version(engine) == UInt32(BR_TLS12) ? "TLSv1.2" : "TLS(\(br_ssl_engine_get_version(engine)))"
        let sni = String(cString: br_ssl_engine_get_server_name(engine))
        let alpn = br_ssl_engine_get_selected_protocol(engine).map { String(cString: $0) } ?? "-"
        return "\(version) \(Self.suiteName(engine.pointee.session.cipher_suite)) sni=\(sni.isEmpty ? "-" : sni) alpn=\(alpn)"
    }

    static func suiteName(_ suite: UInt16) -> String {
        switch Int32(suite) {
        case BR_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: "ECDHE-ECDSA-AES128-GCM-SHA256"
        case BR_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: "ECDHE-ECDSA-AES256-GCM-SHA384"
        case BR_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: "ECDHE-ECDSA-CHACHA20-POLY1305"
        case BR_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: "ECDHE-RSA-AES128-GCM-SHA256"
        case BR_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: "ECDHE-RSA-AES256-GCM-SHA384"
        case BR_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: "ECDHE-RSA-CHACHA20-POLY1305"
        default: "suite-\(suite)"
        }
    }
}
