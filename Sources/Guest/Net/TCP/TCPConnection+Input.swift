// Arriving segments: RFC 9293 §3.10.7 ("SEGMENT ARRIVES"), step by step.

extension TCPConnection {
    /// Processes one segment addressed to this connection (the caller has demultiplexed it
    /// and verified its checksum). `source` is the sender's address, used in LISTEN to
    /// learn the remote endpoint. Replies are produced by the next `poll`.
    public mutating func process(_ segment: TCPSegmentRepr, payload: UnsafeRawBufferPointer, now: UInt64,
                                 from source: IPv4Address? = nil) {
        guard segment.destinationPort == local.port else { return }
        switch state {
        case .closed:
            pendingControl = TCPSegmentRepr.reset(answering: segment, payloadCount: payload.count)
        case .listen:
            processInListen(segment, payloadCount: payload.count, source: source)
        case .synSent:
            guard segment.sourcePort == remote.port else { return }
            processInSynSent(segment, now: now)
        default:
            guard segment.sourcePort == remote.port else { return }
            processSynchronized(segment, payload: payload, now: now)
        }
        updateTimers(now: now)
    }

    // MARK: LISTEN

    mutating func processInListen(_ segment: TCPSegmentRepr, payloadCount: Int, source: IPv4Address?) {
        if segment.flags.contains(.rst) { return }
        if segment.flags.contains(.ack) {
            pendingControl = TCPSegmentRepr.reset(answering: segment, payloadCount: payloadCount)
            return
        }
        guard segment.flags.contains(.syn) else { return }
        remote = TCPEndpoint(address: source ?? .any, port: segment.sourcePort)
        // Data carried on the SYN is not kept (not acknowledged, so the peer resends it).
        acceptPeerSYN(segment)
        sendWL2 = iss
        state = .synReceived
    }

    // MARK: SYN-SENT

    mutating func processInSynSent(_ segment: TCPSegmentRepr, now: UInt64) {
        let flags = segment.flags
        if let ack = segment.ack, ack <= iss || ack > sendMax {
            if !flags.contains(.rst) {
                pendingControl = reset(at: ack)
            }
            return
        }
        if flags.contains(.rst) {
            // Acceptable only with an acceptable ACK (RFC 9293 §3.10.7.3, RFC 5961 §3).
            if segment.ack != nil {
                error = .refused
                enterClosed()
            }
            return
        }
        guard flags.contains(.syn) else { return }
        acceptPeerSYN(segment)
        if let ack = segment.ack {
            sendWL2 = ack
            acknowledgeSYN(ack, now: now)
            enterEstablished(now: now)
            ackNow = true
        } else {
            // Simultaneous open: SYN-RECEIVED, and our SYN goes out again as a SYN-ACK.
            sendWL2 = iss
            state = .synReceived
            sendNext = iss
            retransmitAt = nil
        }
    }

    /// Our SYN is acknowledged (either handshake direction).
    mutating func acknowledgeSYN(_ ack: TCPSequenceNumber, now: UInt64) {
        sendUnacknowledged = ack
        if sendNext < ack { sendNext = ack }
        if let sample = rttSample, sample.sequence <= ack {
            updateRTT(sample: now &- sample.sentAt)
        }
        rttSample = nil
        retransmitAt = nil
        retransmissions = 0
    }

    // MARK: Synchronized states (and SYN-RECEIVED)

    mutating func processSynchronized(_ segment: TCPSegmentRepr, payload: UnsafeRawBufferPointer, now: UInt64) {
        let flags = segment.flags
        let sequence = segment.sequenceNumber
        let segmentLength = segment.sequenceLength(payloadCount: payload.count)
        if let interval = configuration.keepAliveInterval, keepAliveAt != nil {
            keepAliveAt = now &+ interval
            keepAliveProbes = 0
        }

        // A retransmitted SYN in SYN-RECEIVED: our SYN-ACK was lost; send it again.
        if state == .synReceived, flags.contains(.syn), !flags.contains(.ack), !flags.contains(.rst),
           sequence == irs {
            sendNext = iss
            return
        }

        // Simultaneous open: the peer's SYN-ACK repeats its SYN (one below RCV.NXT) and
        // acknowledges ours. Accept it as the ACK that completes the handshake (as Linux does).
        if state == .synReceived, !passiveOpen, flags.contains(.syn), !flags.contains(.rst),
           sequence == irs, let ack = segment.ack {
            completeHandshake(segment, sequence: sequence, ack: ack, now: now)
            return
        }

        // 1. Sequence number check.
        let window = receiveWindow
        let acceptable: Bool
        if window == 0 {
            // Special allowance: a segment exactly at RCV.NXT still has its ACK and RST
            // processed; any text is trimmed away below (and answered with an ACK). So has a
            // bare ACK from a peer whose SND.NXT ran ahead of our RCV.NXT (it sent what we
            // could not take, or misread a window, as passt does), within our buffer's reach:
            // RFC 9293 §3.10.7.4 asks for "special allowance ... to accept valid ACKs", and
            // ignoring them deadlocks both sides (our window stays shut until the peer
            // acknowledges what we sent, and such a peer never sends that ACK again).
            acceptable = sequence == receiveNext
                || (segmentLength == 0 && !flags.contains(.rst)
                    && sequence.isIn(receiveNext, receiveNext + (rx.capacity + 1)))
            if sequence != receiveNext { ackNow = true }  // tell it where we really are
        } else if segmentLength == 0 {
            // The right edge itself is allowed too (as Linux and BSD do): a peer that sent a
            // full window puts RCV.NXT + RCV.WND in its ACKs while a hole is outstanding, and
            // those ACKs must not be ignored.
            acceptable = sequence.isIn(receiveNext, receiveNext + (window + 1))
        } else {
            acceptable = sequence.isIn(receiveNext, receiveNext + window)
                || (sequence + (segmentLength - 1)).isIn(receiveNext, receiveNext + window)
        }
        if !acceptable {
            if !flags.contains(.rst) {
                ackNow = true
                if state == .timeWait && flags.contains(.fin) {
                    timeWaitAt = now &+ 2 &* configuration.maximumSegmentLifetime
                }
            }
            return
        }

        // 2. RST (RFC 9293 §3.10.7.4 with RFC 5961 §3.2): exact match resets, anything
        // else in the window draws a challenge ACK.
        if flags.contains(.rst) {
            guard sequence == receiveNext else {
                ackNow = true
                return
            }
            switch state {
            case .synReceived where passiveOpen:
                returnToListen()
            case .closing, .lastAck, .timeWait:
                enterClosed()
            default:
                error = .reset
                enterClosed()
                tx.clear()
            }
            return
        }

        // 4. SYN in a synchronized state: challenge ACK (RFC 5961 §4).
        if flags.contains(.syn) {
            if state == .synReceived && passiveOpen {
                returnToListen()
            } else {
                ackNow = true
            }
            return
        }

        // 5. ACK.
        guard let ack = segment.ack else { return }
        if state == .synReceived {
            guard completeHandshake(segment, sequence: sequence, ack: ack, now: now) else { return }
        } else {
            guard processAck(segment, ack: ack, payloadCount: payload.count, now: now) else { return }
        }

        // 7. Segment text, 8. FIN.
        switch state {
        case .established, .finWait1, .finWait2:
            processText(segment, payload: payload, now: now)
        default:
            break
        }
    }

    /// RFC 9293 §3.10.7.4 fifth step for ESTABLISHED and later. Returns false when the
    /// segment must be dropped.
    mutating func processAck(_ segment: TCPSegmentRepr, ack: TCPSequenceNumber, payloadCount: Int,
                             now: UInt64) -> Bool {
        if ack > sendMax, let edge = probedEdge, ack <= edge {
            // The gap before a probe was filled: the peer holds the probe too.
            sendMax = ack
            sendNext = TCPSequenceNumber.later(sendNext, ack)
        }
        if let edge = probedEdge, sendMax >= edge { probedEdge = nil }
        if ack > sendMax {
            ackNow = true  // acknowledges something not yet sent
            return false
        }
        if ack < sendUnacknowledged { return true }  // old duplicate: ignore the ACK field
        let scaledWindow = Int(segment.window) << sendShift
        let flight = sendMax - sendUnacknowledged

        if ack == sendUnacknowledged {
            // RFC 5681 §2 duplicate ACK: no data, no SYN/FIN, same window, data outstanding.
            if payloadCount == 0 && !segment.flags.contains(.fin) && scaledWindow == sendWindow
                && flight > 0 && sendWindow > 0 && isDataState {
                duplicateAcks += 1
                if duplicateAcks == 3 && !inFastRecovery && ack >= recover {
                    // RFC 6582 §3.2 step 2: fast retransmit, enter recovery.
                    recover = sendMax
                    slowStartThreshold = max(flight / 2, 2 * sendMSS)
                    congestionWindow = slowStartThreshold + 3 * sendMSS
                    inFastRecovery = true
                    fastRetransmitPending = true
                    rttSample = nil  // Karn
                } else if inFastRecovery && duplicateAcks >= 3 {
                    congestionWindow = min(congestionWindow + sendMSS, 1 << 30)  // step 3: inflate
                }
            }
        } else {
            let acked = ack - sendUnacknowledged
            let dataAcked = min(acked, tx.count)
            let finAcked = finQueued && acked > tx.count
            tx.discard(dataAcked)
            sendUnacknowledged = ack
            if sendNext < ack { sendNext = ack }
            duplicateAcks = 0
            retransmissions = 0
            if let sample = rttSample, sample.sequence <= ack {
                updateRTT(sample: now &- sample.sentAt)
                rttSample = nil
            }
            var partial = false
            if inFastRecovery {
                if ack >= recover {
                    // Full acknowledgment (RFC 6582 §3.2 step 5, option 2).
                    congestionWindow = min(slowStartThreshold, max(sendMax - sendUnacknowledged, sendMSS) + sendMSS)
                    inFastRecovery = false
                } else {
                    // Partial acknowledgment: retransmit the next hole, deflate.
                    partial = true
                    fastRetransmitPending = true
                    congestionWindow = max(congestionWindow - acked + (acked >= sendMSS ? sendMSS : 0), sendMSS)
                }
            } else if congestionWindow < slowStartThreshold {
                // Slow start counts the octets acknowledged, up to one segment as we send them: with
                // segmentation offload one ACK covers a whole 64 KB segment the host cut up.
                congestionWindow += min(acked, sendBurst)
            } else {
                congestionWindow += max(1, sendMSS * max(sendMSS, min(acked, sendBurst)) / max(congestionWindow, 1))  // avoidance
            }
            congestionWindow = min(congestionWindow, 1 << 30)
            // Keep `recover` within reach of the window so wrapping comparisons stay valid
            // on long transfers; it only matters while it is ahead of SND.UNA.
            if !inFastRecovery && recover < sendUnacknowledged { recover = sendUnacknowledged }
            if sendUnacknowledged == sendMax {
                retransmitAt = nil
            } else if partial || retransmitAt != nil {
                retransmitAt = now &+ rto  // RFC 6298 §5.3
            }
            if finAcked {
                switch state {
                case .finWait1:
                    state = .finWait2
                    retransmitAt = nil
                case .closing:
                    enterTimeWait(now: now)
                case .lastAck:
                    enterClosed()
                    return false
                default:
                    break
                }
            }
        }

        // Window update (RFC 9293 §3.10.7.4): only from a newer segment.
        if sendWL1 < segment.sequenceNumber || (sendWL1 == segment.sequenceNumber && sendWL2 <= ack) {
            sendWindow = scaledWindow
            maximumSendWindow = max(maximumSendWindow, sendWindow)
            sendWL1 = segment.sequenceNumber
            sendWL2 = ack
            if persistAt != nil && sendWindow > 0 {
                // The window opened: leave persist mode and resend from the left edge.
                persistAt = nil
                persistBackoff = 0
                sendNext = sendUnacknowledged
            }
        }
        return true
    }

    /// Steps seven and eight: queue text (in order or out of order), then the FIN.
    mutating func processText(_ segment: TCPSegmentRepr, payload: UnsafeRawBufferPointer, now: UInt64) {
        let hasFIN = segment.flags.contains(.fin)
        guard payload.count > 0 || hasFIN else { return }
        var data = payload
        var sequence = segment.sequenceNumber
        let skip = receiveNext - sequence
        if skip > 0 {
            data = UnsafeRawBufferPointer(rebasing: data[min(skip, data.count)...])
            sequence = receiveNext
        }
        let offset = sequence - receiveNext
        let room = max(0, rx.freeSpace - offset)
        let accepted = min(data.count, room)
        var recorded = true
        if accepted > 0 {
            if assembler.canAdd(start: offset, end: offset + accepted) {
                rx.writeUnallocated(offset: offset, from: UnsafeRawBufferPointer(rebasing: data[0..<accepted]))
                assembler.add(start: offset, end: offset + accepted)
                if offset > 0 { latestOutOfOrder = sequence }
            } else {
                recorded = false
            }
        }
        if hasFIN && recorded && accepted == data.count {
            remoteFinSequence = segment.sequenceNumber + payload.count
        }
        let holesBefore = !assembler.isEmpty
        let advanced = assembler.takeFront()
        rx.commit(advanced)
        receiveNext += advanced

        if let finSequence = remoteFinSequence, finSequence == receiveNext, !receivedFIN {
            receiveNext += 1
            receivedFIN = true
            remoteFinSequence = nil
            ackNow = true
            switch state {
            case .established:
                state = .closeWait
            case .finWait1:
                state = .closing
            case .finWait2:
                enterTimeWait(now: now)
            default:
                break
            }
        }

        if assembler.isEmpty { latestOutOfOrder = nil }

        // ACK policy: out of order, filling a hole, or trimmed → at once (RFC 5681 §4.2);
        // otherwise every second full-sized segment, or after the delayed-ACK timeout.
        if offset > 0 || accepted < data.count || !recorded || (holesBefore && advanced > accepted)
            || !assembler.isEmpty {
            ackNow = true
            sackDue = sackEnabled && !assembler.isEmpty
        } else if advanced > 0 {
            unacknowledgedReceived += advanced
            if configuration.delayedAckTimeout == nil || unacknowledgedReceived >= 2 * sendMSS {
                ackNow = true
            } else if delayedAckAt == nil, let delay = configuration.delayedAckTimeout {
                delayedAckAt = now &+ delay
            }
        }
    }

    /// SYN-RECEIVED → ESTABLISHED on an acceptable ACK; an unacceptable one gets a reset
    /// (RFC 9293 §3.10.7.4, fifth check). Returns whether the handshake completed.
    @discardableResult
    mutating func completeHandshake(_ segment: TCPSegmentRepr, sequence: TCPSequenceNumber,
                                    ack: TCPSequenceNumber, now: UInt64) -> Bool {
        guard sendUnacknowledged < ack && ack <= sendMax else {
            pendingControl = reset(at: ack)
            return false
        }
        acknowledgeSYN(ack, now: now)
        sendWindow = Int(segment.window) << sendShift
        maximumSendWindow = max(maximumSendWindow, sendWindow)
        sendWL1 = sequence
        sendWL2 = ack
        enterEstablished(now: now)
        return true
    }

    /// Takes in the peer's SYN: its initial sequence number, options and first window.
    mutating func acceptPeerSYN(_ segment: TCPSegmentRepr) {
        irs = segment.sequenceNumber
        receiveNext = irs + 1
        negotiate(segment.options, weOfferedScale: configuration.windowScaling)
        sendWindow = Int(segment.window)
        maximumSendWindow = sendWindow
        sendWL1 = segment.sequenceNumber
        advertisedEdge = receiveNext
    }

    /// A reset for a segment acknowledging `ack`, something we never sent (RFC 9293 §3.10.7).
    func reset(at ack: TCPSequenceNumber) -> TCPSegmentRepr {
        TCPSegmentRepr(sourcePort: local.port, destinationPort: remote.port, sequenceNumber: ack, flags: .rst, window: 0)
    }
}
