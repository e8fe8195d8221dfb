// Serves one connected GDB client until the guest ends, the client detaches or kills it:
// frames and acknowledges packets, hands each to GDBSession, and runs the guest through the
// tender's GDBDebuggee (a KVM vCPU on hvt, a traced process on spt) when the session says so.
import CTender

/// How a resumed guest came back.
public enum GDBResumeResult: Equatable {
    case stopped(GDBStop)
    case ended(HypercallHandler.Outcome)
}

/// The tender's side of a debugging session.
public protocol GDBDebuggee: GDBTarget {
    /// Runs the guest (one instruction if `step`) until it stops or ends. `interrupted` reads
    /// the connection without blocking and says whether the client pressed Ctrl-C; call it
    /// whenever the client may have sent something (hvt: KVM_RUN returned EINTR).
    func resume(step: Bool, session: GDBSession, interrupted: () -> Bool) -> GDBResumeResult
    /// The debugger is gone (detached, or its connection dropped; breakpoints already removed):
    /// run the guest to its end as if never debugged.
    func runFree() -> HypercallHandler.Outcome
    /// The client killed the guest.
    func kill() -> HypercallHandler.Outcome
    /// This debuggee if another client can attach after one detached, else nil (a requirement,
    /// not a cast: Embedded Swift has no dynamic casts to protocols).
    var reattachable: GDBReattachableDebuggee? { get }
}

extension GDBDebuggee {
    public var reattachable: GDBReattachableDebuggee? { nil }
}

/// A debuggee another client can attach to after one detached (spt: the agent keeps tracing).
public protocol GDBReattachableDebuggee: GDBDebuggee {
    /// Runs the guest undebugged until it ends (`.ended`) or `connected()` says a new client
    /// came; then stops the guest as Ctrl-C would and returns how it stopped.
    func runFree(until connected: () -> Bool) -> GDBResumeResult
}

public final class GDBServer {
    public private(set) var fd: Int32
    /// Where later clients connect (nil: one client only, then the listener was closed).
    private let listener: Int32?
    private var decoder = GDBPacketDecoder()
    public private(set) var session = GDBSession()
    /// What arrived while the guest ran (besides Ctrl-C), handled once it stops.
    private var pending: [GDBInput] = []
    private var lastFrame: [UInt8] = []
    private var connected = true

    /// `fd`: the connected client, non-blocking. `listener` (non-blocking): clients that come
    /// while one is connected are refused; after a detach the next one attaches.
    public init(fd: Int32, listener: Int32? = nil) {
        self.fd = fd
        self.listener = listener
    }

    public func serve(_ debuggee: GDBDebuggee) -> HypercallHandler.Outcome {
        while true {
            if pending.isEmpty {
                guard waitForInput() else { return disconnect(debuggee, reply: false) }
                continue
            }
            let input = pending.removeFirst()
            if let outcome = handle(input, debuggee) { return outcome }
        }
    }

    private func handle(_ input: GDBInput, _ debuggee: GDBDebuggee) -> HypercallHandler.Outcome? {
        switch input {
        case .packet(let payload):
            send([UInt8(ascii: "+")])
            switch session.handle(payload: payload, target: debuggee) {
            case .reply(let reply):
                sendPacket(reply)
            case .resume(let step):
                switch debuggee.resume(step: step, session: session, interrupted: { self.readWhileRunning() }) {
                case .stopped(let stop):
                    sendPacket(session.stopReply(for: stop))
                case .ended(let outcome):
                    sendPacket(session.stopReply(for: Self.ending(outcome)))
                    close(fd)
                    return outcome
                }
            case .detach:
                return disconnect(debuggee, reply: true)
            case .kill:
                sendPacket(Array("OK".utf8))
                close(fd)
                return debuggee.kill()
            }
        case .badChecksum:
            send([UInt8(ascii: "-")])
        case .oversized:
            send([UInt8(ascii: "+")])
            sendPacket(Array("E01".utf8))
        case .retransmit:
            send(lastFrame)
        case .acknowledged, .interrupt:
            break   // Ctrl-C while stopped: nothing to interrupt
        }
        return nil
    }

    /// Detach (or a lost connection): the guest's own bytes back, then it runs on undebugged,
    /// until it ends or, with a listener, the next client attaches and the session starts over.
    private func disconnect(_ debuggee: GDBDebuggee, reply: Bool) -> HypercallHandler.Outcome {
        if reply { sendPacket(Array("OK".utf8)) }
        session.removeAllBreakpoints(target: debuggee)
        close(fd)
        connected = false
        guard let listener, let reattachable = debuggee.reattachable else { return debuggee.runFree() }
        var next: Int32?
        switch reattachable.runFree(until: { next = Self.acceptWaiting(on: listener); return next != nil }) {
        case .ended(let outcome):
            if let next { close(next) }
            return outcome
        case .stopped(let stop):
            guard let next else { return debuggee.runFree() }
            fd = next
            // A new conversation: the client asks `?` first and hears this stop.
            session = GDBSession()
            _ = session.stopReply(for: stop)
            decoder = GDBPacketDecoder()
            pending = []
            lastFrame = []
            connected = true
            return serve(debuggee)
        }
    }

    /// A client waiting on `listener`, made non-blocking, or nil.
    private static func acceptWaiting(on listener: Int32) -> Int32? {
        let client = accept(listener, nil, nil)
        guard client >= 0 else { return nil }
        _ = ctender_set_nonblocking(client, 1)
        var noDelay: Int32 = 1
        _ = setsockopt(client, Int32(IPPROTO_TCP), TCP_NODELAY, &noDelay, socklen_t(MemoryLayout<Int32>.size))
        return client
    }

    /// One client at a time: anyone else who connects meanwhile is hung up on at once.
    private func refuseOtherClients() {
        guard let listener else { return }
        while let other = Self.acceptWaiting(on: listener) { close(other) }
    }

    /// The stop reply for a guest that ended: its exit status, or the signal of its crash.
    static func ending(_ outcome: HypercallHandler.Outcome) -> GDBStop {
        switch outcome {
        case .resume: .exited(status: 0)
        case .halt(let status): .exited(status: status)
        case .crash(let crash): .terminated(signal: signal(for: crash))
        }
    }

    /// The signal a Linux process would have died of.
    public static func signal(for crash: GuestCrash) -> UInt8 {
        switch crash.cause {
        case .exception(let vector, _, _):
            switch vector {
            case 0, 16, 19: GDBStop.sigfpe
            case 1, 3: GDBStop.sigtrap
            case 6: GDBStop.sigill
            default: GDBStop.sigsegv
            }
        case .signal(let number, _, _): UInt8(truncatingIfNeeded: number)
        case .reported, .badHypercall, .machine: GDBStop.sigabrt
        }
    }

    // MARK: - Bytes in and out

    /// Blocks until the client sends something (decoded into `pending`); false when it hung up.
    private func waitForInput() -> Bool {
        while true {
            var entries = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0), pollfd(fd: listener ?? -1, events: Int16(POLLIN), revents: 0)]
            let ready = ctender_ppoll(&entries, listener == nil ? 1 : 2, -1)
            if ready < 0 && SystemError.last != EINTR { return false }
            if ready > 0 && entries[1].revents != 0 { refuseOtherClients() }
            if ready > 0 && entries[0].revents != 0 {
                switch receive() {
                case .some(true): return true
                case .some(false): continue
                case .none: return false
                }
            }
        }
    }

    /// Reads what is there without blocking: true if bytes came, false if none, nil at EOF/error.
    private func receive() -> Bool? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if count == 0 { return nil }
        if count < 0 { return SystemError.last == EAGAIN || SystemError.last == EINTR ? false : nil }
        pending += decoder.feed(buffer[..<count])
        return true
    }

    /// While the guest runs: takes what the client sent and says whether it includes Ctrl-C.
    private func readWhileRunning() -> Bool {
        refuseOtherClients()
        guard connected, receive() != nil else { return false }
        guard let index = pending.firstIndex(of: .interrupt) else { return false }
        pending.remove(at: index)
        return true
    }

    private func sendPacket(_ payload: [UInt8]) {
        lastFrame = GDBPacketEncoder.frame(payload)
        send(lastFrame)
    }

    private func send(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if written > 0 { offset += written; continue }
            if written < 0 && (SystemError.last == EINTR || SystemError.last == EAGAIN) {
                var entry = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                _ = ctender_ppoll(&entry, 1, 1_000_000_000)
                continue
            }
            return   // the client is gone; the next read says so
        }
    }
}
