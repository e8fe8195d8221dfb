// A libFuzzer harness over HTTPS as the guest serves it: an HTTPServer with SwiftletTLS
// (BearSSL's server engine behind the SecureTransport seam, `HTTPServer.serviceSecure`) on a
// network stack, and up to two clients on a second stack, the two joined by memory links. Each
// client writes raw bytes straight into its TCP stream (ClientHellos, records, garbage) and/or
// runs a BearSSL client engine that completes real handshakes, so the fuzzer's bytes also reach
// the server encrypted: as HTTP requests behind TLS, and as records tampered with after
// encryption. Between inputs nothing is kept but the server's certificate.
//
// Build and run: FUZZER=tls Tests/Fuzz/run.sh [seconds]. The harness, the guest library and
// Sources/GuestTLS/TLS compile into one module (named Swiftlet: their `import Swiftlet` is then
// ignored), with Sources/GuestTLS/CBearSSL/swiftlet_tls.c and Debian's libbearssl.a.
//
// Input format: a sequence of records, each
//     control:u8  length:u8  bytes[length]
// where only operations 0 and 2 carry `bytes` (clipped to what remains of the input); for the
// others `length` is their argument and no bytes follow.
// control bits:
//   0-2  operation:
//          0  raw: write `bytes` into the client's TCP stream as they are (opening a
//             connection first if the client has none)
//          1  handshake: start a BearSSL client engine on the connection (SNI "localhost",
//             ALPN http/1.1) unless one runs; the exchange below drives it
//          2  request: give `bytes` to the client engine as application data (they go out
//             once its handshake is done)
//          3  tamper: XOR `length` | 1 into byte `length` (modulo its size) of the next record
//             the client engine sends (before a handshake: its ClientHello)
//          4  clock: advance by length*250 ms
//          5  close_notify from the client engine
//          6  FIN from the client (its slot opens a fresh connection at its next raw/handshake)
//          7  reset from the client (RST; the slot likewise starts over)
//   3    which client: 0 = A, 1 = B
// After each record the two stacks exchange frames until quiet (bounded). At the end of the
// input both clients send FIN, the clock moves past every server deadline, and the server must
// be back to nothing.
//
// Invariants (a violation traps, so libFuzzer reports it):
// - everything the server sends on a connection is a sequence of well-formed TLS records
//   (content type 20-23, version 3.x, length at most 2^14 + 2048): it never answers in the
//   clear, however garbled the input;
// - what a client engine decrypts starts with "HTTP/1.1 " or "HTTP/1.0 ": plaintext behind TLS
//   reaches the HTTP server and only its responses come back;
// - a client engine whose bytes were not touched (no raw writes, no tampering), whose only
//   request was `pageRequest`, which sent no close_notify before it and for which no time
//   passed gets the page: a clean handshake
//   and request always work, whatever the other client does;
// - at the end, no session and no lingering connection is left in the server and its stack
//   holds no connection but those in TIME-WAIT.
// TLS_FUZZER_TRACE=1 prints each client's handshake state and what it decrypted.

import CSwiftletTLS
#if canImport(Glibc)
import Glibc
#endif

// MARK: The server's certificate

/// A self-signed ECDSA P-256 certificate for "localhost", valid until 2126, and its key: made
/// once with `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -days 36500`.
private let certificatePEM = """
-----BEGIN CERTIFICATE-----
MIIBlTCCATugAwIBAgIUXMLeVcPMIqdJwJnYrMbeYNALu3AwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTIwNDIyMzg1OFoYDzIxMjYxMTEw
MjIzODU4WjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAASDKolGKSaA5sLViKOsmiTNbGRbNHOBWZ2T81afv1nhnqgfrLcuczSX
cDovdzYxPmOxcnYchq2tdMwUpMrI/mOlo2kwZzAdBgNVHQ4EFgQUg+ulB+0/SVqW
lyvPKjyCqkyPTRswHwYDVR0jBBgwFoAUg+ulB+0/SVqWlyvPKjyCqkyPTRswDwYD
VR0TAQH/BAUwAwEB/zAUBgNVHREEDTALgglsb2NhbGhvc3QwCgYIKoZIzj0EAwID
SAAwRQIgEt7eVJJqhGbK77F+lBqd/nA0N3v2LQIRfNF4UESTSIUCIQC+gjfuDeci
Q5bGROAqvtg9E6RUN+rnibEXgM8BGBJKZA==
-----END CERTIFICATE-----

"""
private let keyPEM = """
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgPLhK3XPPg0joufI9
lSp/BOpI6WiSGBObixqUDBI8UxyhRANCAASDKolGKSaA5sLViKOsmiTNbGRbNHOB
WZ2T81afv1nhnqgfrLcuczSXcDovdzYxPmOxcnYchq2tdMwUpMrI/mOl
-----END PRIVATE KEY-----

"""
/// The certificate's public key (uncompressed point): the client engine trusts exactly this key.
nonisolated(unsafe) private let serverPublicKey: UnsafeMutablePointer<UInt8> = {
    let point: [UInt8] = [
        0x04, 0x83, 0x2a, 0x89, 0x46, 0x29, 0x26, 0x80, 0xe6, 0xc2, 0xd5, 0x88, 0xa3, 0xac, 0x9a, 0x24, 0xcd,
        0x6c, 0x64, 0x5b, 0x34, 0x73, 0x81, 0x59, 0x9d, 0x93, 0xf3, 0x56, 0x9f, 0xbf, 0x59, 0xe1, 0x9e, 0xa8,
        0x1f, 0xac, 0xb7, 0x2e, 0x73, 0x34, 0x97, 0x70, 0x3a, 0x2f, 0x77, 0x36, 0x31, 0x3e, 0x63, 0xb1, 0x72,
        0x76, 0x1c, 0x86, 0xad, 0xad, 0x74, 0xcc, 0x14, 0xa4, 0xca, 0xc8, 0xfe, 0x63, 0xa5,
    ]
    let bytes = UnsafeMutablePointer<UInt8>.allocate(capacity: point.count)
    bytes.initialize(from: point, count: point.count)
    return bytes
}()

nonisolated(unsafe) private let tls: TLSConfiguration = {
    let chain = Array(certificatePEM.utf8), key = Array(keyPEM.utf8)
    let parsed = chain.withUnsafeBytes { chain in
        key.withUnsafeBytes { key in Result { () throws(TLSError) in try TLSConfiguration(certificateChain: chain, privateKey: key, now: nil) } }
    }
    switch parsed {
    case .success(let configuration):
        configuration.logHandshakes = false
        return configuration
    case .failure(let error): fatalError("TLSFuzzer: the test certificate was refused: \(error.message)")
    }
}()

/// ALPN names for the client engine (C strings that live as long as the process).
nonisolated(unsafe) private let clientProtocols: UnsafeMutablePointer<UnsafePointer<CChar>?> = {
    let names = UnsafeMutablePointer<UnsafePointer<CChar>?>.allocate(capacity: 1)
    names[0] = UnsafePointer(strdup("http/1.1"))
    return names
}()

private let tlsTrace = getenv("TLS_FUZZER_TRACE") != nil

private func violated(_ message: String) -> Never {
    fatalError("TLSFuzzer invariant: \(message)")
}

// MARK: The application

private func makeTLSRouter() -> Router {
    let router = Router()
    router.get("/") { _ throws(HTTPError) in .text("home over TLS") }
    router.post("/echo") { request throws(HTTPError) in
        HTTPResponse(contentType: "application/octet-stream", body: .bytes(request.body))
    }
    router.get("/big") { _ throws(HTTPError) in .text(String(repeating: "0123456789abcdef", count: 2048)) }
    return router
}

nonisolated(unsafe) private let tlsRouter = makeTLSRouter()

private let serverMAC = MACAddress(0x02, 0, 0, 0, 0, 0x02)
private let clientMAC = MACAddress(0x02, 0, 0, 0, 0, 0x01)
private let serverIP = IPv4Address(10, 0, 0, 2)
private let clientIP = IPv4Address(10, 0, 0, 1)
private let second: UInt64 = 1_000_000_000
private let pageRequest = Array("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n".utf8)

// MARK: Checking what the server sends

/// Follows the server's side of one connection as TLS records: header by header, across reads.
private struct RecordFraming {
    private var header: [UInt8] = []
    private var bodyLeft = 0
    private(set) var records = 0

    mutating func take(_ bytes: ArraySlice<UInt8>, connection: String) {
        var index = bytes.startIndex
        while index < bytes.endIndex {
            if bodyLeft > 0 {
                let count = min(bodyLeft, bytes.endIndex - index)
                bodyLeft -= count
                index += count
                continue
            }
            header.append(bytes[index])
            index += 1
            guard header.count == 5 else { continue }
            let type = header[0], length = Int(header[3]) << 8 | Int(header[4])
            guard (20...23).contains(type), header[1] == 3, length <= 16384 + 2048 else {
                violated("\(connection): the server sent bytes that are not a TLS record: \(header) after \(records) records")
            }
            records += 1
            bodyLeft = length
            header = []
        }
    }
}

// MARK: A client

/// A BearSSL client engine with a fixed seed, trusting the server's key and nothing else.
private final class ClientEngine {
    let context = UnsafeMutablePointer<br_ssl_client_context>.allocate(capacity: 1)
    let minimal = UnsafeMutablePointer<br_x509_minimal_context>.allocate(capacity: 1)
    let knownKey = UnsafeMutablePointer<br_x509_knownkey_context>.allocate(capacity: 1)
    let buffer = UnsafeMutableRawPointer.allocate(byteCount: Int(BR_SSL_BUFSIZE_BIDI), alignment: 16)
    var engine: UnsafeMutablePointer<br_ssl_engine_context> {
        UnsafeMutableRawPointer(context).assumingMemoryBound(to: br_ssl_engine_context.self)
    }

    init(seed: UInt8) {
        br_ssl_client_init_full(context, minimal, nil, 0)
        var key = br_ec_public_key(curve: Int32(BR_EC_secp256r1), q: serverPublicKey, qlen: 65)
        br_x509_knownkey_init_ec(knownKey, &key, UInt32(BR_KEYTYPE_KEYX | BR_KEYTYPE_SIGN))
        br_ssl_engine_set_x509(engine, UnsafeMutableRawPointer(knownKey).assumingMemoryBound(to: UnsafePointer<br_x509_class>?.self))
        br_ssl_engine_set_versions(engine, UInt32(BR_TLS12), UInt32(BR_TLS12))
        br_ssl_engine_set_buffer(engine, buffer, Int(BR_SSL_BUFSIZE_BIDI), 1)
        br_ssl_engine_set_protocol_names(engine, clientProtocols, 1)
        var entropy = [UInt8](repeating: seed, count: 32)
        br_ssl_engine_inject_entropy(engine, &entropy, entropy.count)
        guard br_ssl_client_reset(context, "localhost", 0) != 0 else { violated("the client engine did not start") }
    }

    deinit {
        context.deallocate()
        minimal.deallocate()
        knownKey.deallocate()
        buffer.deallocate()
    }

    var state: UInt32 { br_ssl_engine_current_state(engine) }
    var isClosed: Bool { state & UInt32(BR_SSL_CLOSED) != 0 }
    var error: Int32 { br_ssl_engine_last_error(engine) }
}

/// One client connection: its TCP stream on the client stack, what the server sent on it, and
/// optionally a client engine speaking TLS over it.
private final class Connection {
    let name: String
    let stream: TCPStream
    var engine: ClientEngine?
    /// Application data for the engine to send once it can.
    var outgoing: [UInt8] = []
    var tamper: (offset: Int, mask: UInt8)?
    /// Raw bytes or tampering went into the stream: the server may rightly refuse it.
    var disturbed = false
    /// The connection's only request was `pageRequest`, nothing else was done to it and no
    /// time passed: it must get the page.
    var askedForPage = false
    /// The clock moved while the connection had sent no request: the server may rightly have
    /// closed it at its header timeout (10 s), before a request sent later.
    var idledWithoutRequest = false
    /// The client engine sent close_notify: it sends no request after that.
    var closedByClient = false
    var requests = 0
    var decrypted: [UInt8] = []
    var framing = RecordFraming()
    /// Server bytes not yet given to the engine (it takes them as it can).
    var inbound: [UInt8] = []

    init(name: String, stream: TCPStream) {
        self.name = name
        self.stream = stream
    }

    /// Moves bytes between the stream and the engine; true if anything moved.
    func exchange() -> Bool {
        var moved = false
        var chunk = [UInt8](repeating: 0, count: 4096)
        while stream.isReadable {
            let count = chunk.withUnsafeMutableBytes { stream.read(into: $0) }
            if count == 0 { break }
            framing.take(chunk[0..<count], connection: name)
            if engine != nil { inbound += chunk[0..<count] }
            moved = true
        }
        guard let engine else { return moved }
        for _ in 0..<64 {
            var progressed = false
            let state = engine.state
            if state & UInt32(BR_SSL_CLOSED) != 0 { break }
            var length = 0
            if state & UInt32(BR_SSL_SENDREC) != 0, let records = br_ssl_engine_sendrec_buf(engine.engine, &length), length > 0 {
                if let tamper {
                    records[tamper.offset % length] ^= tamper.mask
                    self.tamper = nil
                    disturbed = true
                }
                let written = stream.write(UnsafeRawBufferPointer(start: records, count: length))
                if written > 0 {
                    br_ssl_engine_sendrec_ack(engine.engine, written)
                    progressed = true
                }
            }
            if state & UInt32(BR_SSL_RECVAPP) != 0, let plaintext = br_ssl_engine_recvapp_buf(engine.engine, &length), length > 0 {
                decrypted += UnsafeBufferPointer(start: plaintext, count: length)
                br_ssl_engine_recvapp_ack(engine.engine, length)
                progressed = true
            }
            if state & UInt32(BR_SSL_RECVREC) != 0, !inbound.isEmpty, let space = br_ssl_engine_recvrec_buf(engine.engine, &length), length > 0 {
                let count = min(length, inbound.count)
                space.update(from: inbound, count: count)
                inbound.removeFirst(count)
                br_ssl_engine_recvrec_ack(engine.engine, count)
                progressed = true
            }
            if state & UInt32(BR_SSL_SENDAPP) != 0, !outgoing.isEmpty, let space = br_ssl_engine_sendapp_buf(engine.engine, &length), length > 0 {
                let count = min(length, outgoing.count)
                space.update(from: outgoing, count: count)
                outgoing.removeFirst(count)
                br_ssl_engine_sendapp_ack(engine.engine, count)
                br_ssl_engine_flush(engine.engine, 0)
                progressed = true
            }
            if !progressed { break }
            moved = true
        }
        return moved
    }

    /// The checks on what this connection decrypted; `final`: the exchange is over.
    func check(final: Bool) {
        if decrypted.count >= 9 {
            let start = Array(decrypted.prefix(9))
            guard start == Array("HTTP/1.1 ".utf8) || start == Array("HTTP/1.0 ".utf8) else {
                violated("\(name): the client decrypted something other than an HTTP response: \(String(decoding: decrypted.prefix(60), as: UTF8.self).debugDescription)")
            }
        }
        if final, askedForPage, !disturbed, let engine, engine.error == BR_ERR_OK,
           !decrypted.starts(with: Array("HTTP/1.1 200 ".utf8)) || !String(decoding: decrypted, as: UTF8.self).contains("home over TLS") {
            violated("\(name): a clean handshake and GET / got \(String(decoding: decrypted.prefix(200), as: UTF8.self).debugDescription) (engine state \(engine.state))")
        }
    }
}

// MARK: The two stacks

private final class Network {
    let serverLink = MemoryLink(mac: serverMAC)
    let clientLink = MemoryLink(mac: clientMAC)
    let serverStack: NetworkStack
    let clientStack: NetworkStack
    let server: HTTPServer
    var now: UInt64 = 1_000 * second

    init() {
        serverStack = NetworkStack(device: serverLink, configuration: NetworkConfiguration(
            mode: .manual(IPv4Subnet(address: serverIP, prefixLength: 24))))
        clientStack = NetworkStack(device: clientLink, configuration: NetworkConfiguration(
            mode: .manual(IPv4Subnet(address: clientIP, prefixLength: 24))))
        var configuration = HTTPServerConfiguration()
        configuration.accessLog = false
        configuration.maximumConnections = 4
        configuration.limits = HTTPLimits(maxRequestLineLength: 512, maxHeaderBytes: 2048, maxHeaderCount: 20, maxBodySize: 4096)
        do {
            server = try HTTPServer(stack: serverStack, port: 443, router: tlsRouter, configuration: configuration,
                                    wallClock: { 1_796_000_000 * 1_000_000_000 }, logSink: { _ in }, security: tls)
        } catch {
            violated("cannot listen on 443: \(error)")
        }
    }

    /// Both stacks take turns until no frame moves (bounded), the clients exchanging between.
    func settle(_ connections: [Connection?]) {
        for _ in 0..<200 {
            _ = serverStack.turn(now: now) { now in
                server.poll(now: now)
                return true
            }
            let toClient = serverLink.take()
            clientLink.inbound += toClient
            clientStack.poll(now: now)
            var moved = false
            for connection in connections { if connection?.exchange() == true { moved = true } }
            clientStack.transmitPending(now: now)
            let toServer = clientLink.take()
            serverLink.inbound += toServer
            if toClient.isEmpty && toServer.isEmpty && !moved { return }
        }
    }

    func connect(_ name: String) -> Connection {
        do {
            return Connection(name: name, stream: try clientStack.connectTCP(to: TCPEndpoint(address: serverIP, port: 443), now: now))
        } catch {
            violated("the client stack cannot connect: \(error)")
        }
    }
}

// MARK: Driving

@_cdecl("__asan_default_options")
public func tlsFuzzerASanOptions() -> UnsafePointer<CChar> {
    UnsafeRawPointer(("detect_leaks=0" as StaticString).utf8Start).assumingMemoryBound(to: CChar.self)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func tlsFuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let network = Network()
    var slots: [Connection?] = [nil, nil]
    var finished: [Connection] = []
    var opened = 0
    func open(_ slot: Int) -> Connection {
        if let connection = slots[slot] { return connection }
        opened += 1
        let connection = network.connect(slot == 0 ? "A" : "B")
        slots[slot] = connection
        return connection
    }
    func retire(_ slot: Int) {
        guard let connection = slots[slot] else { return }
        finished.append(connection)
        slots[slot] = nil
    }

    let input = UnsafeBufferPointer(start: data, count: size)
    var offset = 0
    var seed: UInt8 = 1
    while offset < input.count {
        let control = input[offset]
        offset += 1
        var length = 0
        if offset < input.count { length = Int(input[offset]); offset += 1 }
        let operation = control & 0x07
        let carried = operation == 0 || operation == 2 ? min(length, input.count - offset) : 0
        let bytes = Array(input[offset ..< offset + carried])
        offset += carried
        let slot = Int((control >> 3) & 1)
        if operation != 1 { slots[slot]?.askedForPage = false }

        switch operation {
        case 0:
            let connection = open(slot)
            connection.disturbed = true
            _ = bytes.withUnsafeBytes { connection.stream.write($0) }
        case 1:
            let connection = open(slot)
            if connection.engine == nil {
                connection.engine = ClientEngine(seed: seed)
                seed &+= 1
            }
        case 2:
            let connection = open(slot)
            if connection.engine == nil {
                connection.engine = ClientEngine(seed: seed)
                seed &+= 1
            }
            connection.outgoing += bytes
            connection.requests += 1
            // Up to 4 connections the server serves at once: a fifth may rightly be refused.
            connection.askedForPage = bytes == pageRequest && connection.requests == 1 && !connection.disturbed && opened <= 4
                && !connection.idledWithoutRequest && !connection.closedByClient
        case 3:
            open(slot).tamper = (offset: length, mask: UInt8(truncatingIfNeeded: length) | 1)
        case 4:
            network.now += UInt64(length) * 250_000_000
            for connection in slots.compactMap({ $0 }) {
                connection.askedForPage = false
                if connection.requests == 0 { connection.idledWithoutRequest = true }
            }
        case 5:
            if let engine = slots[slot]?.engine {
                br_ssl_engine_close(engine.engine)
                slots[slot]?.closedByClient = true
            }
        case 6:
            slots[slot]?.stream.close()
            retire(slot)
        default:
            slots[slot]?.stream.abort()
            retire(slot)
        }
        network.settle(slots + finished)
        for connection in slots.compactMap({ $0 }) + finished { connection.check(final: false) }
    }

    // Let everything finish, then every connection closes and the clock passes every deadline.
    network.settle(slots + finished)
    for connection in slots.compactMap({ $0 }) + finished { connection.check(final: true) }
    for slot in 0..<2 {
        slots[slot]?.stream.close()
        retire(slot)
    }
    for _ in 0..<4 {
        network.now += 40 * second
        network.settle(finished)
    }
    let statistics = network.server.statistics
    if statistics.activeConnections != 0 || statistics.lingeringConnections != 0 {
        violated("the server still holds \(statistics.activeConnections) sessions and \(statistics.lingeringConnections) lingering connections after every client left")
    }
    if network.serverStack.tcpConnectionCounts.active != 0 {
        violated("the server's stack still holds \(network.serverStack.tcpConnectionCounts.active) connections after every client left")
    }
    if tlsTrace {
        for connection in finished {
            let state = connection.engine.map { "engine state \($0.state) error \($0.error)" } ?? "no engine"
            print("\(connection.name): \(connection.framing.records) records from the server, \(state), decrypted:\n\(String(decoding: connection.decrypted, as: UTF8.self))")
        }
    }
    return 0
}
