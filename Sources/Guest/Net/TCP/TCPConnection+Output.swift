// Outgoing segments and timers: poll/pollAt, retransmission (RFC 6298), fast retransmit
// (RFC 5681/6582), Nagle and sender SWS avoidance, persist and keep-alive probes, delayed
// ACKs and window updates.

extension TCPConnection {
    /// Emits whatever is due at `now`: SYN/SYN-ACK, data, FIN, retransmissions, probes,
    /// ACKs, RSTs. `emit` receives each segment and its payload (valid only during the call).
    public mutating func poll(now: UInt64, emit: (TCPSegmentRepr, TCPPayload) -> Void) {
        defer {
            if let control = pendingControl {
                pendingControl = nil
                emit(control, .empty)
            }
        }
        switch state {
        case .closed, .listen:
            return
        case .timeWait:
            if let at = timeWaitAt, now >= at {
                enterClosed()
                return
            }
        case .finWait2:
            if let at = finWait2DeadlineAt, now >= at {
                enterClosed()
                return
            }
        default:
            break
        }

        if let at = retransmitAt, now >= at {
            retransmitTimeout(now: now)
            if state == .closed { return }
        }
        if let probe = pendingProbe {
            pendingProbe = nil
            sendProbe(probe, now: now, emit: emit)
        }
        if let at = persistAt, now >= at {
            sendPersistProbe(now: now, emit: emit)
        }
        if let at = keepAliveAt, now >= at {
            keepAliveTimeout(now: now, emit: emit)
            if state == .closed { return }
        }

        // SYN or SYN-ACK (first transmission or after a timeout rewound sendNext).
        if (state == .synSent || state == .synReceived) && sendNext == iss {
            let offerScale = state == .synSent ? configuration.windowScaling : windowScalingEnabled
            let options = TCPOptions(
                maximumSegmentSize: UInt16(clamping: configuration.maximumSegmentSize),
                windowScale: offerScale ? UInt8(offeredShift) : nil,
                sackPermitted: state == .synSent ? configuration.selectiveAcknowledgments : sackEnabled)
            transmit(sequence: iss, flags: .syn, ack: state == .synReceived, length: 0,
                     options: options, now: now, emit: emit)
            sendNext = iss + 1
            sendMax = TCPSequenceNumber.later(sendMax, sendNext)
            if rttSample == nil && retransmissions == 0 { rttSample = (sendNext, now) }
        }

        if fastRetransmitPending {
            fastRetransmitPending = false
            sendFastRetransmit(now: now, emit: emit)
        }

        var budget = 1 << 16  // bounded loop; each pass sends at least one octet or a FIN
        while budget > 0, let next = nextDataSegment() {
            budget -= 1
            let isNew = sendNext == sendMax
            transmit(sequence: sendNext, flags: next.fin ? .finPush : (next.length > 0 ? .psh : []),
                     ack: true, length: next.length, now: now, emit: emit)
            let end = sendNext + (next.length + (next.fin ? 1 : 0))
            if isNew && rttSample == nil && retransmissions == 0 {
                rttSample = (end, now)
            }
            sendNext = end
            sendMax = TCPSequenceNumber.later(sendMax, sendNext)
        }

        if state != .synSent && (ackNow || sackDue || windowUpdateDue || (delayedAckAt.map { now >= $0 } ?? false)) {
            // An ACK-only segment carries the highest sequence number sent (RFC 9293's
            // SND.NXT), not sendNext: after a timeout rewinds sendNext for go-back-N, a
            // sequence number the peer has already received makes it drop the segment as an
            // old duplicate, ACK and window update included (Linux does), and both sides stall.
            // Only ACK-only segments carry SACK blocks, so a data segment never outgrows the MSS.
            transmit(sequence: sendMax, flags: [], ack: true, length: 0, options: TCPOptions(sackBlocks: sackBlocks),
                     now: now, emit: emit)
            sackDue = false
        }
        updateTimers(now: now)
    }

    /// The next time `poll` has work: 0 means "now" (any value ≤ now does), nil means only
    /// an arriving segment or a user call can create work.
    public func pollAt() -> UInt64? {
        if pendingControl != nil { return 0 }
        switch state {
        case .closed, .listen:
            return nil
        case .synSent, .synReceived:
            if sendNext == iss { return 0 }
        default:
            break
        }
        if ((ackNow || sackDue) && state != .synSent) || fastRetransmitPending || windowUpdateDue || nextDataSegment() != nil {
            return 0
        }
        var earliest: UInt64?
        func consider(_ candidate: UInt64?) {
            if let time = candidate { earliest = min(earliest ?? time, time) }
        }
        consider(retransmitAt)
        consider(persistAt)
        consider(delayedAckAt)
        consider(keepAliveAt)
        consider(timeWaitAt)
        if state == .finWait2 { consider(finWait2DeadlineAt) }
        return earliest
    }

    // MARK: Segment building

    /// Sends one segment carrying `length` octets of queued data from `sequence` (which
    /// must lie at or after sendUnacknowledged). Every segment but a SYN in SYN-SENT carries
    /// an ACK and our current window, so it also settles any pending ACK.
    mutating func transmit(sequence: TCPSequenceNumber, flags: TCPFlags, ack: Bool, length: Int,
                           options: TCPOptions = .none, now: UInt64,
                           emit: (TCPSegmentRepr, TCPPayload) -> Void) {
        let syn = flags.contains(.syn)
        let repr = segment(sequence: sequence, flags: flags, ack: ack, window: windowField(syn: syn),
                           options: options)
        if length > 0 {
            tx.withBytes(at: sequence - sendUnacknowledged, count: length) { emit(repr, $0) }
        } else {
            emit(repr, .empty)
        }
        if ack {
            advertisedEdge = receiveNext + announcedWindow(syn: syn)
            ackNow = false
            delayedAckAt = nil
            unacknowledgedReceived = 0
        }
        let occupies = length + (syn ? 1 : 0) + (flags.contains(.fin) ? 1 : 0)
        if occupies > 0 && retransmitAt == nil && persistAt == nil {
            retransmitAt = now &+ rto
        }
    }

    /// What the send loop would send next, after window, congestion window, Nagle and
    /// sender SWS avoidance (RFC 9293 §3.8.6.2.1), or nil. With segmentation offload a segment
    /// carries up to `sendBurst` octets.
    ///
    /// While data is in flight, the last segment of a full send buffer waits: the application
    /// can add nothing until an ACK frees room, so without it a retransmission timeout would
    /// have no new data to probe with (`newDataProbe`). An ACK frees room and the
    /// application's next write sends it; at worst it leaves one round trip late.
    func nextDataSegment() -> (length: Int, fin: Bool)? {
        guard isDataState else { return nil }
        let dataEnd = sendUnacknowledged + tx.count
        let unsent = max(0, dataEnd - sendNext)
        let window = min(sendWindow, congestionWindow)
        let usable = max(0, (sendUnacknowledged + window) - sendNext)
        var length = min(sendBurst, unsent, usable)
        let fin = finQueued && sendNext + length == dataEnd
        if length == 0 && !fin { return nil }
        let outstanding = sendMax != sendUnacknowledged
        if length == unsent && !fin && sendNext == sendMax && tx.isFull && outstanding {
            // The last segment of a full send buffer is kept for a probe.
            guard length > sendMSS else { return nil }
            length -= sendMSS
        }
        // Nagle and SWS avoidance apply to new data, not to go-back-N retransmission.
        if length > 0 && length < sendMSS && !fin && !(sendNext < sendMax) {
            if length == unsent {
                if configuration.nagle && outstanding { return nil }  // Nagle
            } else if length < maximumSendWindow / 2 && outstanding {
                return nil  // window-limited: wait for a useful window (SWS)
            }
        }
        return (length, fin)
    }

    /// A window update is owed when the window we could announce has grown by at least
    /// min(buffer/2, MSS) past the last one, and the last one was under half the buffer
    /// (receiver SWS avoidance, RFC 9293 §3.8.6.2.2).
    var windowUpdateDue: Bool {
        switch state {
        case .established, .finWait1, .finWait2:
            break
        default:
            return false
        }
        guard rx.capacity > 0 else { return false }
        let growth = (receiveNext + announcedWindow(syn: false)) - advertisedEdge
        let previous = advertisedEdge - receiveNext
        return growth > 0 && growth >= min(rx.capacity / 2, sendMSS) && previous < rx.capacity / 2
    }

    // MARK: Retransmission

    /// RFC 6298 §5.4–5.6 with go-back-N: back off, collapse cwnd (RFC 5681 §3.1), resend
    /// from the left edge. Karn: no RTT sample from retransmitted data.
    mutating func retransmitTimeout(now: UInt64) {
        retransmitAt = nil
        retransmissions += 1
        if retransmissions > configuration.maximumRetransmissions {
            giveUp()
            return
        }
        rto = min(rto &* 2, configuration.maximumRTO)
        rttSample = nil
        switch state {
        case .synSent, .synReceived:
            sendNext = iss
        default:
            pendingProbe = newDataProbe(outOfOrder: retransmissions % 2 == 1)
            let flight = sendMax - sendUnacknowledged
            slowStartThreshold = max(flight / 2, 2 * sendMSS)
            congestionWindow = sendMSS
            inFastRecovery = false
            fastRetransmitPending = false
            duplicateAcks = 0
            recover = sendMax
            sendNext = sendUnacknowledged
        }
    }

    /// Each timeout of a flight sends one segment of new data, when there is unsent data and
    /// the peer's window has room for it (cwnd may be exceeded by that one segment), and goes
    /// back to SND.UNA (the probe of RFC 8985 §7.3, beside the retransmission). A peer that
    /// lost only its ACK may drop a resent old segment without answering; new data makes it
    /// answer. A timeout that only probed would double the RTO once more for every segment
    /// lost at the left edge: on a lossy link with small windows that backed the RTO off past
    /// 30 s within a 512 KiB echo (bench/lossy_soak.py found it).
    ///
    /// Odd-numbered timeouts start the probe one octet past SND.NXT when they can: a
    /// receiver answers out-of-order data at once with a duplicate ACK (RFC 5681 §4.2),
    /// where new data in order may wait for a delayed ACK. passt 2023-03 needs exactly that:
    /// it updates the ACK it owes (from its host socket) without sending it whenever that
    /// socket turns writable while our window is shut, and from then on answers only a
    /// duplicate-ACK trigger (with everything it has received), at most once per value of
    /// the low 8 bits of what it has received; an echo then never moved again
    /// (TCPProbeTests). Even-numbered timeouts probe in order, which moves those bits on. A
    /// receiver that keeps an out-of-order probe acknowledges past SND.NXT once the octet
    /// between arrives (`probedEdge`). A full send buffer keeps its last segment back so
    /// there is new data to probe with (`nextDataSegment`).
    func newDataProbe(outOfOrder: Bool) -> (sequence: TCPSequenceNumber, length: Int)? {
        guard isDataState else { return nil }
        let unsent = (sendUnacknowledged + tx.count) - sendMax
        let room = (sendUnacknowledged + sendWindow) - sendMax
        let skip = outOfOrder && unsent >= 2 && room >= 2 ? 1 : 0
        let length = min(sendMSS, unsent - skip, room - skip)
        return length > 0 ? (sendMax + skip, length) : nil
    }

    mutating func sendProbe(_ probe: (sequence: TCPSequenceNumber, length: Int), now: UInt64,
                            emit: (TCPSegmentRepr, TCPPayload) -> Void) {
        transmit(sequence: probe.sequence, flags: .psh, ack: true, length: probe.length, now: now, emit: emit)
        let end = probe.sequence + probe.length
        if probe.sequence == sendMax {
            if sendNext == sendMax { sendNext = end }
            sendMax = end
        } else {
            probedEdge = end
        }
    }

    /// Resends the first unacknowledged segment without moving sendNext.
    mutating func sendFastRetransmit(now: UInt64, emit: (TCPSegmentRepr, TCPPayload) -> Void) {
        guard isDataState, sendNext != sendUnacknowledged else { return }
        let inFlight = sendNext - sendUnacknowledged
        let length = min(sendMSS, tx.count, inFlight)
        let fin = finQueued && length == tx.count && inFlight > tx.count
        guard length > 0 || fin else { return }
        rttSample = nil
        transmit(sequence: sendUnacknowledged, flags: fin ? .finPush : .psh, ack: true, length: length,
                 now: now, emit: emit)
    }

    /// Timed out: drop the connection (an RST tells a peer that may still be there).
    mutating func giveUp() {
        if state.isSynchronized {
            pendingControl = segment(sequence: sendMax, flags: .rst, ack: false, window: 0)
        }
        error = .timedOut
        enterClosed()
        tx.clear()
    }

    /// RFC 6298 §2.2–2.4 (G = configuration.clockGranularity), clamped to the configured
    /// minimum and maximum.
    mutating func updateRTT(sample: UInt64) {
        if let smoothed = smoothedRTT {
            let difference = smoothed > sample ? smoothed - sample : sample - smoothed
            rttVariance = (3 &* rttVariance &+ difference) / 4
            smoothedRTT = (7 &* smoothed &+ sample) / 8
        } else {
            smoothedRTT = sample
            rttVariance = sample / 2
        }
        let base = (smoothedRTT ?? sample) &+ max(configuration.clockGranularity, 4 &* rttVariance)
        rto = min(max(base, configuration.minimumRTO), configuration.maximumRTO)
    }

    // MARK: Persist and keep-alive

    var persistInterval: UInt64 {
        let base = max(rto, configuration.minimumRTO)
        let shift = min(persistBackoff, 16)
        return min(base << UInt64(shift), configuration.maximumRTO)
    }

    /// Zero-window probe (RFC 9293 §3.8.6.1): one octet at the left edge, then back off.
    mutating func sendPersistProbe(now: UInt64, emit: (TCPSegmentRepr, TCPPayload) -> Void) {
        guard isDataState, tx.count > 0 else {
            persistAt = nil
            return
        }
        transmit(sequence: sendUnacknowledged, flags: [], ack: true, length: 1, now: now, emit: emit)
        if sendNext == sendUnacknowledged { sendNext = sendUnacknowledged + 1 }
        sendMax = TCPSequenceNumber.later(sendMax, sendNext)
        persistBackoff += 1
        persistAt = now &+ persistInterval
    }

    /// Keep-alive probe: an ACK for the octet before sendNext, which the peer must answer.
    mutating func keepAliveTimeout(now: UInt64, emit: (TCPSegmentRepr, TCPPayload) -> Void) {
        guard let interval = configuration.keepAliveInterval,
              state == .established || state == .closeWait else {
            keepAliveAt = nil
            return
        }
        if sendMax == sendUnacknowledged && tx.count == 0 {
            if keepAliveProbes >= configuration.keepAliveProbeLimit {
                giveUp()
                return
            }
            keepAliveProbes += 1
            transmit(sequence: sendNext - 1, flags: [], ack: true, length: 0, now: now, emit: emit)
        }
        keepAliveAt = now &+ interval
    }

    /// Arms or disarms the retransmission and persist timers to match the send state.
    mutating func updateTimers(now: UInt64) {
        guard state != .closed && state != .listen else { return }
        if isDataState && sendWindow == 0 && tx.count > 0 {
            retransmitAt = nil
            if persistAt == nil { persistAt = now &+ persistInterval }
        } else if persistAt != nil {
            persistAt = nil
            persistBackoff = 0
        }
        if retransmitAt == nil && persistAt == nil && sendMax != sendUnacknowledged
            && state != .timeWait && state != .finWait2 {
            retransmitAt = now &+ rto
        }
        if keepAliveAt == nil, let interval = configuration.keepAliveInterval,
           state == .established || state == .closeWait {
            keepAliveAt = now &+ interval
        }
    }
}
