// HTTPS for Swiftlet guests: BearSSL (Debian's libbearssl.a, linked only into images whose
// application imports SwiftletTLS) behind the library OS's SecureTransport seam. The parts
// outside SWIFTLET_GUEST also build on the host, for the TLS fuzzer (Tests/Fuzz/TLSFuzzer.swift).
//
//     import Swiftlet
//     import SwiftletTLS
//     let tls = try TLSConfiguration.embedded()          // the application's tls/ folder
//     let https = try HTTPServer(stack: network, port: 443, router: router, tls: tls)
//
// TLS 1.2 only, ECDHE key exchange with AES-GCM or ChaCha20-Poly1305 (RSA key exchange, CBC
// and TLS 1.0/1.1 are never offered), ALPN http/1.1, SNI read for the log, BearSSL's session
// cache for resumption. Certificates: a PEM chain (leaf first) and its PEM key, ECDSA P-256
// (or P-384) or RSA of 2048 bits and more; refused at start when malformed, mismatched,
// expired or not yet valid, with the reason.
import CSwiftletTLS
import Swiftlet

public struct TLSError: Error {
    /// What is wrong, in one sentence that names the file where it can.
    public let message: String
}

public final class TLSConfiguration: SecureTransportFactory {
    /// One line per completed handshake (client, version, suite, SNI, ALPN) on the console.
    public var logHandshakes = true
    /// "ECDSA P-256", "RSA 2048", ...
    public let keyDescription: String
    /// Certificates sent to clients (the leaf and its intermediates).
    public let chainLength: Int
    /// The leaf's validity, in seconds since 1970.
    public let notBefore: Int64
    public let notAfter: Int64
    /// Handshakes completed since start.
    public private(set) var handshakes = 0

    private let credentials: OpaquePointer
    private let sessionCache: OpaquePointer?

    /// `certificateChain` and `privateKey` are PEM text; `now` (seconds since 1970) is checked
    /// against the certificate's validity (nil: not checked).
    public init(certificateChain: UnsafeRawBufferPointer, privateKey: UnsafeRawBufferPointer,
                now: Int64?, sessionCacheBytes: Int = 16 * 1024) throws(TLSError) {
        var problem = swiftlet_tls_problem()
        guard let parsed = swiftlet_tls_credentials_parse(certificateChain.baseAddress, certificateChain.count,
                                                          privateKey.baseAddress, privateKey.count, &problem) else {
            let reason = problem.message.map { String(cString: $0) } ?? "the certificate or key was refused"
            throw TLSError(message: problem.bearssl_error != 0 ? "\(reason) (BearSSL error \(problem.bearssl_error))" : reason)
        }
        let keyType = swiftlet_tls_credentials_key_type(parsed)
        let size = Int(swiftlet_tls_credentials_key_size(parsed))
        notBefore = swiftlet_tls_credentials_not_before(parsed)
        notAfter = swiftlet_tls_credentials_not_after(parsed)
        chainLength = swiftlet_tls_credentials_chain_count(parsed)
        if keyType == Int32(BR_KEYTYPE_EC) {
            guard size == Int(BR_EC_secp256r1) || size == Int(BR_EC_secp384r1) else {
                swiftlet_tls_credentials_free(parsed)
                throw TLSError(message: "the EC key is on a curve browsers do not accept for certificates; use P-256 (prime256v1) or P-384")
            }
            keyDescription = size == Int(BR_EC_secp256r1) ? "ECDSA P-256" : "ECDSA P-384"
        } else {
            guard size >= 2048 else {
                swiftlet_tls_credentials_free(parsed)
                throw TLSError(message: "the RSA key has \(size) bits; at least 2048 are needed")
            }
            keyDescription = "RSA \(size)"
        }
        if let now {
            if now > notAfter {
                swiftlet_tls_credentials_free(parsed)
                throw TLSError(message: "the certificate expired \(TLSConfiguration.days(now - notAfter)) ago (notAfter \(UTCDateTime(nanosecondsSinceEpoch: notAfter * 1_000_000_000).iso8601))")
            }
            if now < notBefore {
                swiftlet_tls_credentials_free(parsed)
                throw TLSError(message: "the certificate is not valid yet: it starts in \(TLSConfiguration.days(notBefore - now)) (notBefore \(UTCDateTime(nanosecondsSinceEpoch: notBefore * 1_000_000_000).iso8601))")
            }
        }
        credentials = parsed
        sessionCache = sessionCacheBytes > 0 ? swiftlet_tls_session_cache_new(sessionCacheBytes) : nil
    }

    #if SWIFTLET_GUEST
    /// The certificate and key embedded from the application's `tls/` folder (`swiftlet
    /// build` embeds it, never served), checked against the wall clock.
    public static func embedded(certificate: String = "cert.pem", key: String = "key.pem") throws(TLSError) -> TLSConfiguration {
        let files = AssetCatalog(tableAddress: swiftlet_tls_files())
        guard !files.isEmpty else {
            throw TLSError(message: "no tls/ folder was embedded: put \(certificate) and \(key) in the application's tls/ folder (`swiftlet cert` makes a development pair)")
        }
        guard let chain = files.asset(forPath: Array(("/" + certificate).utf8)) else {
            throw TLSError(message: "tls/\(certificate) is missing from the image (the certificate chain, PEM, leaf first)")
        }
        guard let secret = files.asset(forPath: Array(("/" + key).utf8)) else {
            throw TLSError(message: "tls/\(key) is missing from the image (the private key, PEM)")
        }
        do {
            return try TLSConfiguration(certificateChain: chain.bytes, privateKey: secret.bytes,
                                        now: SystemClock.nowNanoseconds / 1_000_000_000)
        } catch {
            throw TLSError(message: "tls/\(certificate) and tls/\(key): \(error.message)")
        }
    }
    #endif

    deinit {
        swiftlet_tls_credentials_free(credentials)
        swiftlet_tls_session_cache_free(sessionCache)
    }

    /// Heap bytes each TLS connection holds (BearSSL's context and both record buffers).
    public static var bytesPerConnection: Int { swiftlet_tls_server_footprint() }

    public func makeTransport(client: IPv4Address) -> (any SecureTransport)? {
        #if SWIFTLET_GUEST
        // Leave room for the connection's TCP buffers and the HTTP side.
        guard Memory.statistics.bytesFree > 2 * Self.bytesPerConnection else { return nil }
        #endif
        var generator = SystemRandomNumberGenerator()
        var seed: (UInt64, UInt64, UInt64, UInt64) = (generator.next(), generator.next(), generator.next(), generator.next())
        let server = withUnsafeBytes(of: &seed) { swiftlet_tls_server_new(credentials, sessionCache, $0.baseAddress, $0.count) }
        seed = (0, 0, 0, 0)
        guard let server else { return nil }
        return BearSSLTransport(server: server)
    }

    public func established(_ transport: any SecureTransport, client: IPv4Address) {
        handshakes += 1
        guard logHandshakes else { return }
        print("tls: \(client) \(transport.summary)")
    }

    private static func days(_ seconds: Int64) -> String {
        seconds >= 86_400 ? "\(seconds / 86_400) days" : "\(seconds) seconds"
    }
}

#if SWIFTLET_GUEST
/// The address of the embedded tls/ table, or nil (Freestanding/tls_files.c).
@_extern(c, "swiftlet_tls_files")
func swiftlet_tls_files() -> UnsafeRawPointer?
#endif

/// BearSSL's checks (stack canary, _chk bounds) end the guest here (Freestanding/bearssl_libc.c).
@_cdecl("swiftlet_tls_fatal")
func tlsFatal(_ message: UnsafePointer<CChar>) -> Never {
    fatalError(String(cString: message))
}

#if SWIFTLET_GUEST
extension HTTPServer {
    /// HTTPS on `port`: every connection goes through TLS first; routes, static files,
    /// limits and timeouts are those of plain HTTP, and a handshake not done within
    /// `configuration.handshakeTimeout` is cut off. `configuration.accessLog` also turns the
    /// handshake lines on or off.
    public convenience init(stack: NetworkStack, port: UInt16 = 443, router: Router,
                            configuration: HTTPServerConfiguration = .fromGuestArguments(),
                            tls: TLSConfiguration) throws(NetworkStack.SocketError) {
        tls.logHandshakes = tls.logHandshakes && configuration.accessLog
        try self.init(stack: stack, port: port, router: router, configuration: configuration, security: tls)
    }
}
#endif
