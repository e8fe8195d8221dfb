// The HTTP server on the guest's TCP stack: accepts connections up to a cap, moves bytes
// between each TCP stream and its HTTPServerConnection, enforces the connections' deadlines,
// and writes the access log. Driven by the stack's run loop (`run()`), or by an
// application's own loop through `poll(now:)` and `pollAt()`. A turn visits only the
// connections with something to do: those TCP marked (input, an acknowledgment, a reset, a
// TCP timer) and those whose own deadline is due; an idle keep-alive connection costs a turn
// nothing. On shutdown (`beginShutdown()`,
// which `run()` calls when the tender reports SIGTERM) it drains: the port closes, requests
// under way are answered with `Connection: close`, idle connections close, and `isDrained`
// says when everything sent has been acknowledged.

public struct HTTPServerStatistics {
    public init() {}
    public var connectionsAccepted = 0
    public var connectionsRefused = 0
    public var requests = 0
    public var responses2xx = 0
    public var responses3xx = 0
    public var responses4xx = 0
    public var responses5xx = 0
    public var timeouts = 0
    public var activeConnections = 0
    /// Connections closed on our side (answered, timed out or refused with 503) that still
    /// drain what their clients send; each is reset at the latest `maximumLinger` after closing.
    public var lingeringConnections = 0
}

public final class HTTPServer {
    final class Session {
        let stream: TCPStream
        let connection: HTTPServerConnection
        /// TLS (or another layer) between the stream and the HTTP connection; nil: plain HTTP.
        let transport: (any SecureTransport)?
        /// Until the handshake is done, when it must be (nil once established, or plain HTTP).
        var handshakeDeadline: UInt64?
        /// The HTTP connection is finished and our close_notify is queued: the stream closes
        /// when the last records are out, or is dropped at this time.
        var closingDeadline: UInt64?
        /// The deadline of its live entry in the server's timers (nil: none).
        var timerAt: UInt64?

        init(stream: TCPStream, connection: HTTPServerConnection, transport: (any SecureTransport)?, handshakeDeadline: UInt64?) {
            self.stream = stream
            self.connection = connection
            self.transport = transport
            self.handshakeDeadline = handshakeDeadline
        }

        var deadline: UInt64? {
            if let closingDeadline { return closingDeadline }
            guard let handshakeDeadline else { return connection.deadline }
            return min(handshakeDeadline, connection.deadline ?? handshakeDeadline)
        }
    }

    /// A connection closed on our side. What the client still sends is read and dropped, so a
    /// client in the middle of a body can finish and read our answer (nginx's lingering close);
    /// it is forgotten when the client closes too, and reset when it does not in time. Without
    /// the reset, a client that never closes would keep the connection and its buffers for good
    /// (nothing in TCP ends FIN-WAIT-2 on its own).
    ///
    /// When the answer cut a request short (an error or a refusal before the request was read),
    /// the client is likely still sending: our FIN waits until it has been quiet for
    /// `quietBeforeFIN` (or closes first). passt (Debian's 2023-03 build, what `-p` runs) stops
    /// taking the guest's acknowledgments once the guest has sent its FIN, re-sends data it
    /// has already sent, and after a few windows spins in a loop for good: that port, and every
    /// other one it forwards, is dead. A client that reads our answer (its length is known)
    /// does not wait for the FIN, so holding it costs nothing.
    struct LingeringClose {
        let stream: TCPStream
        /// Our FIN is held until the client stops sending.
        var holdingFIN: Bool
        /// Extended by every byte the client sends...
        var quietUntil: UInt64
        /// ...but never past this, or a client trickling a byte at a time keeps it forever.
        let endsBy: UInt64
        /// The deadline of its live entry in the server's timers (nil: none).
        var timerAt: UInt64?

        init(_ stream: TCPStream, closedAt now: UInt64, holdingFIN: Bool) {
            self.stream = stream
            self.holdingFIN = holdingFIN
            quietUntil = now + (holdingFIN ? HTTPServer.quietBeforeFIN : HTTPServer.lingerTimeout)
            endsBy = now + HTTPServer.maximumLinger
        }

        var deadline: UInt64 { min(quietUntil, endsBy) }
    }

    /// How long a closed connection keeps draining what the client sends since the last byte
    /// received (nginx's lingering_timeout), and in all (nginx's lingering_time).
    static let lingerTimeout: UInt64 = 5_000_000_000
    static let maximumLinger: UInt64 = 30_000_000_000
    /// How long a client whose request we cut short must send nothing before our FIN goes out.
    static let quietBeforeFIN: UInt64 = 1_000_000_000
    /// The most input one `receive` is given.
    static let inputPiece = 16 * 1024

    public let stack: NetworkStack
    public let router: Router
    public let port: UInt16
    public let configuration: HTTPServerConfiguration
    public private(set) var statistics = HTTPServerStatistics()
    /// Where access-log lines go (each ends in a newline). The guest's default batches them
    /// on the console and hands them over once per turn.
    public var logSink: (UnsafeRawBufferPointer) -> Void
    private let listener: TCPListener
    private var isListening = true
    /// `beginShutdown()` was called: the server is draining.
    public private(set) var isShuttingDown = false
    /// What a slot of the server's table holds.
    enum Slot {
        case free
        case session(Session)
        case lingering(LingeringClose)
    }

    /// Open connections and closed ones still lingering, each in a slot whose index its stream
    /// keeps (`TCPStream.slot`): a turn finds a stream's session without hashing. A slot freed
    /// is taken again by the next connection.
    private var slots: [Slot] = []
    private var freeSlots: [Int] = []
    private var sessionCount = 0
    private var lingeringCount = 0
    /// The streams of both, which TCP marks when something happens to them.
    private let ready = TCPReadySet()
    /// A timer for each session and lingering close with a deadline, earliest first, by slot.
    /// An entry is live while its slot's owner's `timerAt` names it; others are stale and
    /// skipped (an entry left by a slot's earlier owner is stale too, unless the new owner's
    /// timer is at the same time: then the two entries mean the same). A deadline that moves
    /// later (each request moves the idle deadline) leaves the live entry in place: `pollAt`
    /// refiles it, in place, when it comes to the front (one sift-down, not one per request).
    private var timers = KeyTimers<Int>()
    /// Every session has been visited since `beginShutdown()` (each must learn of it).
    private var shutdownReachedSessions = false
    /// Sessions and lingering closes visited so far: a turn costs those with work, not all open.
    private(set) var visits = 0
    /// Makes each connection's TLS layer (nil: plain HTTP).
    private let security: (any SecureTransportFactory)?
    /// `serviceSecure`, referenced only by servers made with a security layer, so that an
    /// image without TLS links none of that path.
    private let secureService: ((HTTPServer, Session, any SecureTransport, HTTPTurn) -> Bool)?
    private var dates = HTTPDate()
    private let serverName: [UInt8]
    private var wallClock: HTTPWallClock
    private let bodyBudget: HTTPBodyBudget

    /// Listens on `port` of `stack`. `wallClock` gives nanoseconds since 1970 for `Date`
    /// headers; it is read once a minute and advanced with the monotonic clock in between.
    public convenience init(stack: NetworkStack, port: UInt16 = 80, router: Router,
                            configuration: HTTPServerConfiguration = HTTPServerConfiguration(),
                            wallClock: @escaping () -> Int64, logSink: @escaping (UnsafeRawBufferPointer) -> Void)
        throws(NetworkStack.SocketError) {
        try self.init(stack: stack, port: port, router: router, configuration: configuration, wallClock: wallClock,
                      logSink: logSink, security: nil, secureService: nil)
    }

    /// A server whose connections go through `security`'s layer (TLS: SwiftletTLS builds on this).
    public convenience init(stack: NetworkStack, port: UInt16, router: Router, configuration: HTTPServerConfiguration,
                            wallClock: @escaping () -> Int64, logSink: @escaping (UnsafeRawBufferPointer) -> Void,
                            security: any SecureTransportFactory) throws(NetworkStack.SocketError) {
        try self.init(stack: stack, port: port, router: router, configuration: configuration, wallClock: wallClock,
                      logSink: logSink, security: security, secureService: { $0.serviceSecure($1, $2, $3) })
    }

    private init(stack: NetworkStack, port: UInt16, router: Router, configuration: HTTPServerConfiguration,
                 wallClock: @escaping () -> Int64, logSink: @escaping (UnsafeRawBufferPointer) -> Void,
                 security: (any SecureTransportFactory)?,
                 secureService: ((HTTPServer, Session, any SecureTransport, HTTPTurn) -> Bool)?)
        throws(NetworkStack.SocketError) {
        self.stack = stack
        self.security = security
        self.secureService = secureService
        self.router = router
        self.port = port
        self.configuration = configuration
        self.logSink = logSink
        self.wallClock = HTTPWallClock(read: wallClock)
        // Queue as many handshakes as the server will serve at once; the stack lowers this to
        // what its heap allows. A burst of new clients then waits in SYN-RECEIVED, never reset.
        listener = try stack.listenTCP(port: port, backlog: configuration.maximumConnections)
        serverName = Array(configuration.serverName.utf8)
        bodyBudget = HTTPBodyBudget(limit: configuration.maximumBufferedBodyBytes ?? Self.defaultBodyBudget)
    }

    private static var defaultBodyBudget: Int {
        #if SWIFTLET_GUEST
        return Memory.statistics.bytesFree / 4
        #else
        return .max
        #endif
    }

    /// Stops taking connections and lets the open ones finish: the next `poll` accepts what
    /// already completed its handshake, then closes the port (a new client is refused);
    /// requests under way are answered, with `Connection: close`; connections between
    /// requests close. Watch `isDrained`.
    public func beginShutdown() {
        isShuttingDown = true
    }

    /// Shutting down, and nothing is left to do: every connection answered and closed, and
    /// everything sent acknowledged by its client (until then TCP still holds it).
    public var isDrained: Bool {
        isShuttingDown && !isListening && sessionCount == 0 && slots.allSatisfy { slot in
            guard case .lingering(let closing) = slot else { return true }
            return !closing.holdingFIN && closing.stream.connection.sendQueueCount == 0
        }
    }

    /// Accepts, reads, answers and writes; call after the stack's poll, before it transmits.
    public func poll(now: UInt64) {
        let date = dates.text(nanosecondsSinceEpoch: wallClock.nanosecondsSinceEpoch(now: now))
        let turn = HTTPTurn(now: now, date: date, server: serverName,
                            respond: { [router] request in router.respond(to: request) },
                            record: { exchange in self.record(exchange) })
        while let stream = listener.accept() {
            guard sessionCount < configuration.maximumConnections else {
                refuse(stream, now: now)
                continue
            }
            var transport: (any SecureTransport)?
            if let security {
                guard let made = security.makeTransport(client: stream.remote.address) else {
                    refuse(stream, now: now)
                    continue
                }
                transport = made
            }
            statistics.connectionsAccepted += 1
            let connection = HTTPServerConnection(configuration: configuration, now: now, client: stream.remote.address,
                                                  bodyBudget: bodyBudget)
            occupy(slot(for: stream),
                   with: .session(Session(stream: stream, connection: connection, transport: transport,
                                          handshakeDeadline: security == nil ? nil : now + configuration.handshakeTimeout)),
                   by: stream)
            stream.readySet = ready
            ready.mark(stream)  // its request may have come with the handshake
        }
        if isShuttingDown && isListening {
            stack.closeListener(listener)
            isListening = false
        }
        if isShuttingDown && !shutdownReachedSessions {
            shutdownReachedSessions = true
            for case .session(let session) in slots { ready.mark(session.stream) }
        }
        while let due = timers.next, due.deadline <= now {
            _ = timers.popDue(at: now)
            guard let owner = timerOwner(due.key, deadline: due.deadline) else { continue }
            setTimerAt(nil, of: due.key)
            ready.mark(owner.stream)
        }
        ready.take { stream in visit(stream, turn) }
        compactTimers()
        statistics.activeConnections = sessionCount
        statistics.lingeringConnections = lingeringCount
    }

    /// The earliest connection deadline (header, body, idle, send or linger timeout); now
    /// when a connection has work already.
    public func pollAt() -> UInt64? {
        if !ready.isEmpty { return 0 }
        // The front entry must be live and its owner's deadline, or it wakes the loop for nothing.
        while let next = timers.next {
            let owner = timerOwner(next.key, deadline: next.deadline)
            if owner?.deadline == next.deadline { break }
            guard let owner, let deadline = owner.deadline else {
                _ = timers.popDue(at: next.deadline)  // stale, or its owner has no deadline now
                if owner != nil { setTimerAt(nil, of: next.key) }
                continue
            }
            setTimerAt(deadline, of: next.key)
            timers.refileNext(at: deadline)
        }
        return timers.next?.deadline
    }

    /// The session or lingering close whose live timer this entry is (nil: a stale entry),
    /// with its stream and its deadline now.
    private func timerOwner(_ slot: Int, deadline: UInt64) -> (stream: TCPStream, deadline: UInt64?)? {
        switch slots[slot] {
        case .session(let session): return session.timerAt == deadline ? (session.stream, session.deadline) : nil
        case .lingering(let closing): return closing.timerAt == deadline ? (closing.stream, closing.deadline) : nil
        case .free: return nil
        }
    }

    private func setTimerAt(_ deadline: UInt64?, of slot: Int) {
        switch slots[slot] {
        case .session(let session):
            session.timerAt = deadline
        case .lingering(var closing):
            closing.timerAt = deadline
            slots[slot] = .lingering(closing)
        case .free:
            break
        }
    }

    /// The slot for a new session, or for a connection that starts lingering: the stream's own
    /// when it has one (its session closed and lingers), else a free one.
    private func slot(for stream: TCPStream) -> Int {
        if let own = stream.slot { return own }
        if let free = freeSlots.popLast() { return free }
        slots.append(.free)
        return slots.count - 1
    }

    /// Puts `occupant`, a session or a lingering close of `stream`, in `slot` (from `slot(for:)`),
    /// in place of what was there (the stream's session, when it starts lingering).
    private func occupy(_ slot: Int, with occupant: Slot, by stream: TCPStream) {
        if case .session = slots[slot] { sessionCount -= 1 }
        if case .lingering = slots[slot] { lingeringCount -= 1 }
        slots[slot] = occupant
        stream.slot = slot
        if case .session = occupant { sessionCount += 1 }
        if case .lingering = occupant { lingeringCount += 1 }
    }

    /// Forgets a slot's session or lingering close; the slot goes to the next connection.
    private func release(_ slot: Int) {
        switch slots[slot] {
        case .session(let session):
            sessionCount -= 1
            session.stream.slot = nil
        case .lingering(let closing):
            lingeringCount -= 1
            closing.stream.slot = nil
        case .free:
            return
        }
        slots[slot] = .free
        freeSlots.append(slot)
    }

    /// One connection's turn: serves (or drains) it, then files its next deadline.
    private func visit(_ stream: TCPStream, _ turn: HTTPTurn) {
        guard let slot = stream.slot else { return }  // forgotten since TCP marked it
        switch slots[slot] {
        case .session(let session):
            visits += 1
            guard service(session, turn) else {
                // Unless it lingers now (closeAndLinger took the slot over).
                if case .session = slots[slot] { release(slot) }
                return
            }
            schedule(slot, at: session.deadline, timerAt: &session.timerAt)
        case .lingering(var closing):
            visits += 1
            guard linger(&closing, now: turn.now) else {
                release(slot)
                return
            }
            schedule(slot, at: closing.deadline, timerAt: &closing.timerAt)
            slots[slot] = .lingering(closing)
        case .free:
            break
        }
    }

    /// Files a timer for `slot` at `deadline` unless its live one, at `timerAt`, comes no later
    /// (`pollAt` refiles that one when it reaches the front; the due loop in `poll` visits the
    /// owner, which files again); `timerAt` is then the new entry's deadline.
    private func schedule(_ slot: Int, at deadline: UInt64?, timerAt: inout UInt64?) {
        guard let deadline, timerAt.map({ deadline < $0 }) ?? true else { return }
        timerAt = deadline
        timers.insert(slot, deadline: deadline)
    }

    /// Drops the stale entries once they outnumber the live ones.
    private func compactTimers() {
        guard timers.count > 2 * (sessionCount + lingeringCount) + 64 else { return }
        var fresh = KeyTimers<Int>()
        for (slot, occupant) in slots.enumerated() {
            switch occupant {
            case .session(let session): if let at = session.timerAt { fresh.insert(slot, deadline: at) }
            case .lingering(let closing): if let at = closing.timerAt { fresh.insert(slot, deadline: at) }
            case .free: break
            }
        }
        timers = fresh
    }

    /// Serves one connection for this turn; false when it is over and can be forgotten.
    private func service(_ session: Session, _ turn: HTTPTurn) -> Bool {
        if let transport = session.transport, let secureService { return secureService(self, session, transport, turn) }
        let stream = session.stream
        let connection = session.connection
        let now = turn.now
        if stream.isClosed { return false }  // reset by the peer, or timed out in TCP
        // The parser reads the stream's receive buffer in place, a piece at a time so that
        // output can hold input back (`wantsInput`).
        while connection.wantsInput && stream.isReadable {
            if stream.read(maximum: Self.inputPiece, { connection.receive($0, turn) }) == 0 { break }
            connection.drain(now: now) { stream.write($0) }
        }
        guard keepsGoing(session, turn) else { return false }
        if connection.hasPendingOutput { connection.drain(now: now) { stream.write($0) } }
        if connection.isFinished {
            closeAndLinger(stream, now: now, holdingFIN: connection.closesMidRequest)
            return false
        }
        return true
    }

    /// `service` through a security layer: ciphertext between the stream and the layer,
    /// plaintext between the layer and the HTTP connection.
    private func serviceSecure(_ session: Session, _ transport: any SecureTransport, _ turn: HTTPTurn) -> Bool {
        let stream = session.stream
        let connection = session.connection
        let now = turn.now
        if stream.isClosed { return false }
        func send() {
            while let records = transport.pendingCiphertext() {
                let written = stream.write(records)
                if written > 0 { transport.ciphertextSent(written) }
                if written < records.count { break }
            }
        }
        func respond() {
            connection.drain(now: now) { transport.write($0) }
            transport.flush()
            send()
        }
        var progressed = true
        while progressed {
            progressed = false
            // What the layer has to send (handshake messages, alerts, our close_notify answering
            // theirs) goes out before it is given more input, as BearSSL's own I/O loop does: its
            // server takes application data only once its Finished is sent, and a client using
            // TLS False Start (Chromium) sends its request right behind its own Finished. Read
            // together, the request made the handshake fail and the browser got an empty answer.
            send()
            if transport.pendingCiphertext() == nil, stream.isReadable, let space = transport.ciphertextSpace() {
                let count = stream.read(into: space)
                if count > 0 {
                    transport.ciphertextReceived(count)
                    progressed = true
                }
            }
            while connection.wantsInput, let plaintext = transport.plaintext() {
                connection.receive(plaintext, turn)
                transport.plaintextConsumed(plaintext.count)
                respond()
                progressed = true
            }
        }
        if session.handshakeDeadline != nil && transport.phase != .handshaking {
            session.handshakeDeadline = nil
            if transport.phase == .established { security?.established(transport, client: stream.remote.address) }
        }
        switch transport.phase {
        case .failed:
            send()  // the alert, if the layer has one
            closeAndLinger(stream, now: now, holdingFIN: false)
            return false
        case .closed:
            // A clean close: their close_notify, answered by ours. Nothing more can be said.
            connection.peerClosed()
            if session.closingDeadline == nil { session.closingDeadline = now + configuration.sendTimeout }
        case .handshaking:
            // Draining: a connection that has not started a request yet closes, like an idle one.
            if isShuttingDown {
                stream.close()
                return false
            }
            if let deadline = session.handshakeDeadline, now >= deadline {
                statistics.timeouts += 1
                stream.abort()
                return false
            }
            if stream.isAtEnd {
                stream.close()
                return false
            }
            return true
        case .established:
            break
        }
        if let deadline = session.closingDeadline {
            send()
            if transport.pendingCiphertext() == nil {
                closeAndLinger(stream, now: now, holdingFIN: false)
                return false
            }
            if now >= deadline {
                stream.abort()
                return false
            }
            return true
        }
        guard keepsGoing(session, turn) else { return false }
        respond()
        if connection.isFinished {
            transport.close()
            send()
            session.closingDeadline = now + configuration.sendTimeout
            if transport.pendingCiphertext() == nil {
                closeAndLinger(stream, now: now, holdingFIN: false)
                return false
            }
        }
        return true
    }

    /// What a connection, plain or secure, learns each turn once its input is read: the server
    /// is draining, the peer sent its FIN, a timeout passed. False when a timeout aborted it.
    private func keepsGoing(_ session: Session, _ turn: HTTPTurn) -> Bool {
        let connection = session.connection
        if isShuttingDown && !connection.isShuttingDown { connection.beginShutdown() }
        if session.stream.isAtEnd { connection.peerClosed() }
        switch connection.checkTimeouts(turn) {
        case .none: return true
        case .closing:
            statistics.timeouts += 1
            return true
        case .abort:
            statistics.timeouts += 1
            session.stream.abort()
            return false
        }
    }

    private func closeAndLinger(_ stream: TCPStream, now: UInt64, holdingFIN: Bool) {
        if !holdingFIN { stream.close() }
        var closing = LingeringClose(stream, closedAt: now, holdingFIN: holdingFIN)
        guard linger(&closing, now: now) else { return }
        stream.readySet = ready
        let slot = slot(for: stream)
        schedule(slot, at: closing.deadline, timerAt: &closing.timerAt)
        occupy(slot, with: .lingering(closing), by: stream)
    }

    /// Drops what a closed connection's client still sends; false when the connection is
    /// over: the client closed too, or was reset for keeping quiet (or sending) too long.
    private func linger(_ closing: inout LingeringClose, now: UInt64) -> Bool {
        let stream = closing.stream
        while stream.isReadable {
            if stream.read(maximum: .max, { _ in }) == 0 { break }
            closing.quietUntil = now + (closing.holdingFIN ? Self.quietBeforeFIN : Self.lingerTimeout)
        }
        if stream.isClosed { return false }
        if stream.isAtEnd {
            if closing.holdingFIN { stream.close() }
            return false
        }
        if now >= closing.deadline {
            guard closing.holdingFIN && now < closing.endsBy else {
                stream.abort()
                return false
            }
            stream.close()  // the client has gone quiet: now the FIN
            closing.holdingFIN = false
            closing.quietUntil = now + Self.lingerTimeout
        }
        return true
    }

    private func refuse(_ stream: TCPStream, now: UInt64) {
        statistics.connectionsRefused += 1
        guard security == nil else {  // a plain-text 503 means nothing to a TLS client
            closeAndLinger(stream, now: now, holdingFIN: false)
            return
        }
        let refusal = Array("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".utf8)
        _ = stream.write(refusal)
        closeAndLinger(stream, now: now, holdingFIN: true)  // its request is unread
    }

    private func record(_ exchange: HTTPExchange) {
        statistics.requests += 1
        switch exchange.status {
        case 200..<300: statistics.responses2xx += 1
        case 300..<400: statistics.responses3xx += 1
        case 400..<500: statistics.responses4xx += 1
        default: statistics.responses5xx += 1
        }
        guard configuration.accessLog else { return }
        let line = AccessLogLine.format(exchange,
                                        wallSeconds: wallClock.nanosecondsSinceEpoch(now: exchange.answeredAt) / 1_000_000_000)
        line.withUnsafeBytes { logSink($0) }
    }
}

/// Wall-clock time without a hypercall per read: one reading, advanced by the monotonic
/// clock, refreshed every minute.
struct HTTPWallClock {
    let read: () -> Int64
    private var base: Int64 = 0
    private var baseMonotonic: UInt64 = 0
    private var valid = false

    init(read: @escaping () -> Int64) { self.read = read }

    mutating func nanosecondsSinceEpoch(now: UInt64) -> Int64 {
        if !valid || now &- baseMonotonic > 60_000_000_000 {
            base = read()
            baseMonotonic = now
            valid = true
        }
        return base + Int64(truncatingIfNeeded: now &- baseMonotonic)
    }
}

/// Common Log Format: `10.0.0.2 - - [27/Nov/2026:13:14:21 +0000] "GET / HTTP/1.1" 200 1234`
enum AccessLogLine {
    static func format(_ exchange: HTTPExchange, wallSeconds: Int64) -> [UInt8] {
        var line: [UInt8] = []
        line.reserveCapacity(128 + exchange.target.count)
        line += Array(exchange.client.description.utf8)
        line += Array(" - - [".utf8)
        line += HTTPDate.commonLogFormat(secondsSinceEpoch: wallSeconds)
        line += Array("] \"".utf8)
        if exchange.method.isEmpty {
            line.append(0x2D)
        } else {
            line += exchange.method
            line.append(0x20)
            // The target is the client's text: keep quotes and control bytes out of the log.
            for byte in exchange.target { line.append(byte < 0x20 || byte == 0x22 || byte >= 0x7F ? 0x3F : byte) }
            line += Array(exchange.version == .http10 ? " HTTP/1.0".utf8 : " HTTP/1.1".utf8)
        }
        line += [0x22, 0x20]
        appendDecimal(exchange.status, to: &line)
        line.append(0x20)
        if let bytes = exchange.bodyBytes { appendDecimal(bytes, to: &line) } else { line.append(0x2D) }
        line.append(0x0A)
        return line
    }
}

#if SWIFTLET_GUEST
extension HTTPServer {
    /// A server whose configuration comes from the guest's arguments (`log=off`, ...),
    /// logging to the console.
    public convenience init(stack: NetworkStack, port: UInt16 = 80, router: Router) throws(NetworkStack.SocketError) {
        try self.init(stack: stack, port: port, router: router,
                      configuration: .fromGuestArguments())
    }

    public convenience init(stack: NetworkStack, port: UInt16 = 80, router: Router,
                            configuration: HTTPServerConfiguration) throws(NetworkStack.SocketError) {
        try self.init(stack: stack, port: port, router: router, configuration: configuration,
                      wallClock: { SystemClock.nowNanoseconds }, logSink: { Console.queue($0) })
    }

    /// A server whose connections go through `security`'s layer (SwiftletTLS builds on this).
    public convenience init(stack: NetworkStack, port: UInt16, router: Router,
                            configuration: HTTPServerConfiguration,
                            security: any SecureTransportFactory) throws(NetworkStack.SocketError) {
        try self.init(stack: stack, port: port, router: router, configuration: configuration,
                      wallClock: { SystemClock.nowNanoseconds }, logSink: { Console.queue($0) }, security: security)
    }

    /// Serves until a shutdown is requested (SIGTERM or Ctrl-C to the tender), then drains
    /// and returns: every request under way answered, every connection closed. The tender
    /// ends the guest if that takes longer than its grace period.
    public func run() { Self.run([self]) }

    /// `run()` for several servers (HTTP on 80 and HTTPS on 443, say) on one loop: all drain
    /// together on shutdown.
    public static func run(_ servers: [HTTPServer]) {
        guard let stack = servers.first?.stack else { return }
        Shutdown.watch()
        var drainStartedAt: UInt64 = 0
        var allDrained: Bool { servers.allSatisfy { $0.isDrained } }
        stack.run(wakeAt: {
            if allDrained { return 0 }
            var soonest: UInt64?
            for server in servers { soonest = earliest(soonest, server.pollAt()) }
            return soonest
        }) { now in
            if allDrained {
                let requests = servers.reduce(0) { $0 + $1.statistics.requests }
                print("http: drained in \((now - drainStartedAt) / 1_000_000) ms; \(requests) requests served")
                return false
            }
            if Shutdown.isRequested && !servers.contains(where: { $0.isShuttingDown }) {
                drainStartedAt = now
                // Appended one by one: map and joined(separator:) cost ~1.4 KB for this line.
                var ports = ""
                for server in servers { ports += ports.isEmpty ? "\(server.port)" : ", \(server.port)" }
                let connections = servers.reduce(0) { $0 + $1.sessionCount }
                print("http: shutdown requested: closing port\(servers.count > 1 ? "s" : "") \(ports), finishing \(connections) connections")
                for server in servers { server.beginShutdown() }
            }
            for server in servers { server.poll(now: now) }
            Console.flush()
            return true
        }
    }
}
#endif
