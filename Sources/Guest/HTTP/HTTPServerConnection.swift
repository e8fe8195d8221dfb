// One HTTP/1.1 connection, sans-I/O: bytes in, bytes out, time as an input. It parses
// requests as they arrive (pipelined ones too), asks the responder for each complete one in
// order, and queues the responses; the owner moves queued bytes to the socket as it takes
// them. Backpressure: while much output is unsent it stops taking input, so a client that
// pipelines without reading cannot grow the queue. Every wait has a deadline.

/// One answered request, for the access log and statistics.
public struct HTTPExchange {
    public var client: IPv4Address
    public var method: [UInt8]
    public var target: [UInt8]
    public var version: HTTPVersion
    public var status: Int
    /// Body bytes sent (nil when streamed: unknown when logged).
    public var bodyBytes: Int?
    public var receivedAt: UInt64
    public var answeredAt: UInt64
}

/// Request bodies are held whole until their handler runs; this caps what all connections
/// together may hold, so many large uploads at once get 503 instead of exhausting the heap.
public final class HTTPBodyBudget {
    public let limit: Int
    public private(set) var used = 0

    public init(limit: Int) { self.limit = limit }

    func take(_ count: Int) -> Bool {
        guard count <= limit - used else { return false }
        used += count
        return true
    }

    func give(_ count: Int) { used -= count }
}

/// What a connection needs from its server for one turn.
struct HTTPTurn {
    var now: UInt64
    /// The `Date` header value for this turn.
    var date: [UInt8]
    var server: [UInt8]
    var respond: (HTTPRequest) -> HTTPResponse
    var record: (HTTPExchange) -> Void
}

final class HTTPServerConnection {
    enum Phase: Equatable {
        case idle
        case head
        case body
    }

    enum TimeoutOutcome: Equatable {
        case none
        /// The connection will close after a 408 (or quietly, when it was idle).
        case closing
        /// The client does not read what we send: drop the connection.
        case abort
    }

    private enum Output {
        case bytes([UInt8])
        case borrowed(UnsafeRawBufferPointer)
        case stream(() -> [UInt8]?, chunked: Bool)
    }

    let configuration: HTTPServerConfiguration
    /// Who is at the other end (for the access log).
    let client: IPv4Address
    let bodyBudget: HTTPBodyBudget
    /// Bytes of the pending request's body taken from the budget.
    private var bodyBytesHeld = 0
    private var parser: HTTPRequestParser
    private var output: [Output] = []
    private var outputOffset = 0
    private var queuedBytes = 0
    private var pending: HTTPRequest?
    /// Reused by every feed, so parsing allocates no event list.
    private var events: [HTTPParseEvent] = []
    private(set) var phase = Phase.idle
    private(set) var closeAfterOutput = false
    private var phaseStartedAt: UInt64
    private var lastInputAt: UInt64
    private var lastOutputAt: UInt64
    private(set) var requestsAnswered = 0
    private var timedOut = false
    /// The server is shutting down: no response keeps the connection alive.
    private(set) var isShuttingDown = false

    init(configuration: HTTPServerConfiguration, now: UInt64, client: IPv4Address = .any,
         bodyBudget: HTTPBodyBudget = HTTPBodyBudget(limit: .max)) {
        self.configuration = configuration
        self.client = client
        self.bodyBudget = bodyBudget
        parser = HTTPRequestParser(limits: configuration.limits)
        phaseStartedAt = now
        lastInputAt = now
        lastOutputAt = now
    }

    deinit { bodyBudget.give(bodyBytesHeld) }

    /// Whether the owner should read more from the socket now.
    var wantsInput: Bool {
        !closeAfterOutput && queuedBytes < configuration.outputHighWater && !hasStreamQueued
    }

    var hasPendingOutput: Bool { !output.isEmpty }

    /// All output is sent and the connection should be closed.
    var isFinished: Bool { closeAfterOutput && output.isEmpty }

    /// The connection closes with a request only partly received, answered by an error or a
    /// refusal: its client may still be sending the rest. Not after a timeout: that client is
    /// slow by definition (a slowloris), and must not keep the connection longer.
    var closesMidRequest: Bool { closeAfterOutput && !timedOut && parser.phase != .betweenMessages }

    private var hasStreamQueued: Bool {
        output.contains { if case .stream = $0 { return true } else { return false } }
    }

    // MARK: Input

    func receive(_ bytes: UnsafeRawBufferPointer, _ turn: HTTPTurn) {
        guard !closeAfterOutput, !bytes.isEmpty else { return }
        lastInputAt = turn.now
        if phase == .idle {
            phase = .head
            phaseStartedAt = turn.now
        }
        parser.feed(bytes, into: &events)
        defer { events.removeAll(keepingCapacity: true) }
        var startedAnother = false
        for (index, event) in events.enumerated() {
            if closeAfterOutput { break }
            switch event {
            case .head(let head):
                pending = HTTPRequest(head: head)
                // A declared body is taken from the budget whole, before any of it arrives, and
                // held in one allocation of exactly its size: grown by appending, a 1 MiB body
                // would ask the heap for 2 MiB (and hold 3 MiB while copying), which an 8 MiB
                // guest under sixteen such uploads cannot give.
                if let length = head.declaredBodyLength, length > 0 {
                    guard holdBody(capacity: length) else {
                        refuseBody(turn)
                        break
                    }
                }
                // Ask for the body only when none of it came along with the head (RFC 9110 §10.1.1).
                if head.expectContinue && index == events.count - 1 && parser.isInBody {
                    enqueue(.bytes(HTTPResponseEncoder.continueLine), now: turn.now)
                }
            case .body(let chunk):
                guard let count = pending?.body.count, holdBody(capacity: count + chunk.count) else {
                    refuseBody(turn)
                    break
                }
                pending?.body += chunk
            case .end:
                if let request = pending { answer(request, turn) }
                pending = nil
                bodyBudget.give(bodyBytesHeld)
                bodyBytesHeld = 0
                startedAnother = true
            case .error(let error):
                answerError(error, turn)
            }
        }
        switch parser.phase {
        case .betweenMessages:
            if phase != .idle { phaseStartedAt = turn.now }
            phase = .idle
        case .head:
            if phase != .head || startedAnother { phaseStartedAt = turn.now }
            phase = .head
        case .body:
            phase = .body
        case .failed:
            break
        }
    }

    /// The server is shutting down: a request under way is still answered, with
    /// `Connection: close`; between requests, the connection closes once its output is sent.
    func beginShutdown() {
        isShuttingDown = true
        if parser.phase == .betweenMessages && pending == nil { closeAfterOutput = true }
    }

    /// The client finished sending (FIN). A partial request can never complete.
    func peerClosed() {
        closeAfterOutput = true
    }

    private func answer(_ request: HTTPRequest, _ turn: HTTPTurn) {
        let response = turn.respond(request)
        requestsAnswered += 1
        let keepAlive = request.head.keepAlive
        let bodyBytes = queue(response, method: request.method, version: request.version, keepAlive: keepAlive, turn)
        turn.record(HTTPExchange(client: client, method: request.head.method, target: request.head.target, version: request.version,
                                 status: response.status.code, bodyBytes: bodyBytes,
                                 receivedAt: phaseStartedAt, answeredAt: turn.now))
    }

    /// Makes room for `capacity` body bytes in the pending request, taking what the body's
    /// storage grows by from the budget: the budget counts what the heap gives, not what has
    /// arrived. A chunked body grows by doubling (amortized appends), never past the budget.
    private func holdBody(capacity: Int) -> Bool {
        guard capacity > bodyBytesHeld else { return true }
        let doubled = max(capacity, bodyBytesHeld * 2)
        let target: Int
        if bodyBudget.take(doubled - bodyBytesHeld) {
            target = doubled
        } else if bodyBudget.take(capacity - bodyBytesHeld) {
            target = capacity
        } else {
            return false
        }
        bodyBytesHeld = target
        pending?.body.reserveCapacity(target)
        return true
    }

    /// All connections together hold as much body as the budget allows: this one is told to
    /// come back later, and closed (its body would keep arriving).
    private func refuseBody(_ turn: HTTPTurn) {
        let response = HTTPResponse.error(.serviceUnavailable, message: "too many uploads at once; try again")
        let bodyBytes = queue(response, method: .get, version: .http11, keepAlive: false, turn)
        turn.record(HTTPExchange(client: client, method: pending?.head.method ?? [], target: pending?.head.target ?? [],
                                 version: pending?.version ?? .http11, status: 503, bodyBytes: bodyBytes,
                                 receivedAt: phaseStartedAt, answeredAt: turn.now))
        pending = nil
        bodyBudget.give(bodyBytesHeld)
        bodyBytesHeld = 0
    }

    private func answerError(_ error: HTTPParseError, _ turn: HTTPTurn) {
        let response = HTTPResponse.error(error.httpStatus)
        let bodyBytes = queue(response, method: .get, version: .http11, keepAlive: false, turn)
        turn.record(HTTPExchange(client: client, method: [], target: [], version: .http11, status: response.status.code,
                                 bodyBytes: bodyBytes, receivedAt: phaseStartedAt, answeredAt: turn.now))
    }

    /// Queues a response; returns the body bytes it will send (nil: streamed).
    @discardableResult
    private func queue(_ response: HTTPResponse, method: HTTPMethod, version: HTTPVersion, keepAlive: Bool,
                       _ turn: HTTPTurn) -> Int? {
        let framing = HTTPBodyFraming(body: response.body, status: response.status, method: method, version: version)
        let keepAlive = keepAlive && framing != .untilClose && !isShuttingDown
        var head = HTTPResponseEncoder.head(response, framing: framing, version: version, keepAlive: keepAlive,
                                            date: turn.date, server: turn.server)
        if !keepAlive { closeAfterOutput = true }
        guard framing.sendsBody else {
            enqueue(.bytes(head), now: turn.now)
            return 0
        }
        switch response.body {
        case .empty:
            enqueue(.bytes(head), now: turn.now)
            return 0
        case .bytes(let bytes):
            if bytes.count <= 16 * 1024 {
                head += bytes
                enqueue(.bytes(head), now: turn.now)
            } else {
                enqueue(.bytes(head), now: turn.now)
                enqueue(.bytes(bytes), now: turn.now)
            }
            return bytes.count
        case .borrowed(let buffer):
            enqueue(.bytes(head), now: turn.now)
            if buffer.count > 0 { enqueue(.borrowed(buffer), now: turn.now) }
            return buffer.count
        case .stream(let next):
            enqueue(.bytes(head), now: turn.now)
            enqueue(.stream(next, chunked: framing == .chunked), now: turn.now)
            return nil
        }
    }

    private func enqueue(_ item: Output, now: UInt64) {
        if output.isEmpty { lastOutputAt = now }
        switch item {
        case .bytes(let bytes): queuedBytes += bytes.count
        case .borrowed(let buffer): queuedBytes += buffer.count
        case .stream: break
        }
        output.append(item)
    }

    // MARK: Output

    /// Offers queued bytes to `write` (which returns how many it took) until it takes less
    /// than offered or nothing is left. Streams are asked for their next piece only when the
    /// previous one is fully sent.
    func drain(now: UInt64, _ write: (UnsafeRawBufferPointer) -> Int) {
        while let first = output.first {
            switch first {
            case .bytes(let bytes):
                let written = bytes.withUnsafeBytes { offer(UnsafeRawBufferPointer(rebasing: $0[outputOffset...]), write, now) }
                if !finishFront(written: written, of: bytes.count) { return }
            case .borrowed(let buffer):
                let written = offer(UnsafeRawBufferPointer(rebasing: buffer[outputOffset...]), write, now)
                if !finishFront(written: written, of: buffer.count) { return }
            case .stream(let next, let chunked):
                guard let piece = next() else {
                    output.removeFirst()
                    if chunked { output.insert(.bytes(HTTPResponseEncoder.lastChunk), at: 0) }
                    continue
                }
                if piece.isEmpty { continue }
                let framed = chunked ? HTTPResponseEncoder.chunkHeader(piece.count) + piece + HTTPResponseEncoder.crlf : piece
                queuedBytes += framed.count
                output.insert(.bytes(framed), at: 0)
            }
        }
    }

    private func offer(_ bytes: UnsafeRawBufferPointer, _ write: (UnsafeRawBufferPointer) -> Int, _ now: UInt64) -> Int {
        let written = write(bytes)
        if written > 0 { lastOutputAt = now }
        return written
    }

    /// Accounts `written` bytes of the front item; true when it is done and was removed.
    private func finishFront(written: Int, of count: Int) -> Bool {
        outputOffset += written
        queuedBytes -= written
        guard outputOffset >= count else { return false }
        output.removeFirst()
        outputOffset = 0
        return true
    }

    // MARK: Time

    /// When `checkTimeouts` has something to do.
    var deadline: UInt64? {
        if isFinished { return nil }
        if !output.isEmpty { return lastOutputAt + configuration.sendTimeout }
        if closeAfterOutput { return nil }
        switch phase {
        // A connection that has not sent a single request gets only the header timeout:
        // holding many silent connections open is slowloris too.
        case .idle: return phaseStartedAt + (requestsAnswered == 0 ? configuration.headerTimeout : configuration.idleTimeout)
        case .head: return phaseStartedAt + configuration.headerTimeout
        case .body: return lastInputAt + configuration.bodyTimeout
        }
    }

    func checkTimeouts(_ turn: HTTPTurn) -> TimeoutOutcome {
        guard let deadline, turn.now >= deadline else { return .none }
        if !output.isEmpty { return .abort }
        timedOut = true
        if phase == .idle {
            closeAfterOutput = true
        } else {
            let bodyBytes = queue(.error(.requestTimeout), method: .get, version: .http11, keepAlive: false, turn)
            turn.record(HTTPExchange(client: client, method: pending?.head.method ?? [], target: pending?.head.target ?? [],
                                     version: .http11, status: 408, bodyBytes: bodyBytes,
                                     receivedAt: phaseStartedAt, answeredAt: turn.now))
        }
        return .closing
    }
}
