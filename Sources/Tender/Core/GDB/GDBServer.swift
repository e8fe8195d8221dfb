// Serves one connected GDB client until the guest ends, the client detaches or kills it:
// frames and acknowledges packets, hands each to GDBSession, and runs the guest through the
// tender's GDBDebuggee (a KVM vCPU on hvt, a traced process on spt) when the session says so.
#if canImport(Glibc)
import Glibc
#endif
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
}

public final class GDBServer {
    public let fd: Int32
    private var decoder = GDBPacketDecoder()
    public private(set) var session = GDBSession()
    /// What arrived while the guest ran (besides Ctrl-C), handled once it stops.
    private var pending: [GDBInput] = []
    private var lastFrame: [UInt8] = []
    private var connected = true

    /// `fd`: the connected client, non-blocking.
    public init(fd: Int32) { self.fd = fd }

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

    /// Detach (or a lost connection): the guest's own bytes back, then it runs on undebugged.
    private func disconnect(_ debuggee: GDBDebuggee, reply: Bool) -> HypercallHandler.Outcome {
        if reply { sendPacket(Array("OK".utf8)) }
        session.removeAllBreakpoints(target: debuggee)
        close(fd)
        connected = false
        return debuggee.runFree()
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
            var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = ctender_ppoll(&entry, 1, -1)
            if ready < 0 && errno != EINTR { return false }
            if ready > 0 {
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
        if count < 0 { return errno == EAGAIN || errno == EINTR ? false : nil }
        pending += decoder.feed(buffer[..<count])
        return true
    }

    /// While the guest runs: takes what the client sent and says whether it includes Ctrl-C.
    private func readWhileRunning() -> Bool {
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
            if written < 0 && (errno == EINTR || errno == EAGAIN) {
                var entry = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                _ = ctender_ppoll(&entry, 1, 1_000_000_000)
                continue
            }
            return   // the client is gone; the next read says so
        }
    }
}
