// The DHCP client state machine (RFC 2131 §4.4), sans I/O: the caller feeds it received UDP
// payloads and the monotonic time in nanoseconds, and sends what `poll(now:)` returns from
// port 68 to port 67.
//
//   INIT → SELECTING → REQUESTING → BOUND → RENEWING → REBINDING
//            ↑______________ NAK, no answer, or lease expiry ______________|

/// An address lease, with absolute deadlines on the caller's monotonic clock (nanoseconds).
public struct DHCPLease: Equatable, Sendable {
    public var address: IPv4Address
    public var prefixLength: Int
    public var router: IPv4Address?
    public var dnsServers: [IPv4Address]
    public var serverIdentifier: IPv4Address
    /// Lease duration in seconds as granted (0xFFFF_FFFF: infinite).
    public var leaseSeconds: UInt32
    /// When the REQUEST that obtained this lease was first sent.
    public var acquiredAt: UInt64
    /// T1: start renewing with the leasing server (unicast). `UInt64.max` when infinite.
    public var renewAt: UInt64
    /// T2: start rebinding with any server (broadcast).
    public var rebindAt: UInt64
    /// The address must no longer be used after this instant.
    public var expiresAt: UInt64

    public var subnet: IPv4Subnet { IPv4Subnet(address: address, prefixLength: prefixLength) }
}

public struct DHCPClient: Sendable {
    public enum State: Equatable, Sendable {
        case initial, selecting, requesting, bound, renewing, rebinding
    }

    /// What the lease did; read with `nextEvent()`.
    public enum Event: Equatable, Sendable {
        case bound(DHCPLease)
        case renewed(DHCPLease)
        case lost
    }

    /// One UDP datagram to send from port 68 to port 67.
    public struct Output: Equatable, Sendable {
        public var payload: [UInt8]
        public var source: IPv4Address
        /// 255.255.255.255, or the leasing server when renewing.
        public var destination: IPv4Address
    }

    public static let clientPort: UInt16 = 68
    public static let serverPort: UInt16 = 67

    static let second: UInt64 = 1_000_000_000
    /// REQUESTs in REQUESTING before starting over (RFC 2131 §4.4.1 leaves the count open).
    static let maximumRequestAttempts = 4
    /// Minimum retransmission interval in RENEWING and REBINDING (RFC 2131 §4.4.5).
    static let minimumRenewInterval: UInt64 = 60 * second
    static let requestedParameters: [UInt8] = [
        DHCPOptionCode.subnetMask, DHCPOptionCode.router, DHCPOptionCode.dnsServers,
        DHCPOptionCode.leaseTime, DHCPOptionCode.renewalTime, DHCPOptionCode.rebindingTime,
    ]

    public let mac: MACAddress
    public private(set) var state: State = .initial
    public private(set) var lease: DHCPLease?
    /// The transaction ID of the exchange in progress.
    public private(set) var xid: UInt32
    /// Ask servers to broadcast replies while the client has no address.
    public var requestBroadcastReplies = true

    /// Seeded once from the generator given to `init`, so it stays a plain value.
    private var random: SplitMix64
    private var events: [Event] = []
    /// When to (re)transmit in SELECTING, REQUESTING, RENEWING and REBINDING.
    private var nextTransmit: UInt64 = 0
    /// Transmissions so far in the current exchange.
    private var attempts = 0
    /// When the current exchange first sent a message (for `secs` and lease deadlines).
    private var exchangeStart: UInt64 = 0
    private var offeredAddress: IPv4Address = .any
    private var offerServer: IPv4Address = .any
    private var offerLeaseSeconds: UInt32?

    /// `random` supplies the transaction IDs and the retransmission jitter.
    public init(mac: MACAddress, random: inout some RandomNumberGenerator) {
        self.mac = mac
        self.random = SplitMix64(seed: random.next())
        xid = self.random.nextXID()
    }

    // MARK: Driving

    /// When `poll(now:)` has work next; 0 means now.
    public func pollAt() -> UInt64? {
        switch state {
        case .initial: return 0
        case .selecting, .requesting: return nextTransmit
        case .bound: return lease.map { min($0.renewAt, $0.expiresAt) }
        case .renewing: return lease.map { min(nextTransmit, $0.rebindAt, $0.expiresAt) }
        case .rebinding: return lease.map { min(nextTransmit, $0.expiresAt) }
        }
    }

    /// Advances timers and returns a message to send, if one is due.
    public mutating func poll(now: UInt64) -> Output? {
        switch state {
        case .initial:
            return startDiscovery(now: now)
        case .selecting:
            guard now >= nextTransmit else { return nil }
            return transmitDiscover(now: now)
        case .requesting:
            guard now >= nextTransmit else { return nil }
            if attempts >= Self.maximumRequestAttempts { return startDiscovery(now: now) }
            return transmitSelectingRequest(now: now)
        case .bound, .renewing, .rebinding:
            guard let lease else { return startDiscovery(now: now) }
            if now >= lease.expiresAt {
                loseLease()
                return startDiscovery(now: now)
            }
            if now >= lease.rebindAt && state != .rebinding {
                beginExchange(.rebinding, now: now)
            } else if now >= lease.renewAt && state == .bound {
                beginExchange(.renewing, now: now)
            } else if state == .bound || now < nextTransmit {
                return nil
            }
            return transmitLeaseRequest(now: now, lease: lease)
        }
    }

    /// Takes one received UDP payload (sent to port 68). Replies for another transaction
    /// or another hardware address, and malformed payloads, are ignored.
    public mutating func receive(_ payload: UnsafeRawBufferPointer, now: UInt64) {
        guard let message = try? DHCPMessage(parsing: payload),
              message.operation == .reply, message.transactionID == xid,
              message.clientHardwareAddress == mac, let type = message.messageType
        else { return }
        switch (state, type) {
        case (.selecting, .offer):
            guard !message.yourAddress.isUnspecified, !message.yourAddress.isBroadcast,
                  let server = message.serverIdentifier else { return }
            offeredAddress = message.yourAddress
            offerServer = server
            offerLeaseSeconds = message.leaseTime
            state = .requesting
            attempts = 0
            nextTransmit = now
        case (.requesting, .ack):
            guard message.yourAddress == offeredAddress,
                  message.serverIdentifier == nil || message.serverIdentifier == offerServer
            else { return }
            bind(message, server: offerServer, now: now)
        case (.requesting, .nak):
            guard message.serverIdentifier == nil || message.serverIdentifier == offerServer else { return }
            restart()
        case (.renewing, .ack), (.rebinding, .ack):
            guard let lease, !message.yourAddress.isUnspecified else { return }
            bind(message, server: message.serverIdentifier ?? lease.serverIdentifier, now: now)
        case (.renewing, .nak), (.rebinding, .nak):
            loseLease()
            restart()
        default:
            return
        }
    }

    public mutating func receive(_ payload: [UInt8], now: UInt64) {
        payload.withUnsafeBytes { receive($0, now: now) }
    }

    /// The oldest event not yet taken.
    public mutating func nextEvent() -> Event? {
        events.isEmpty ? nil : events.removeFirst()
    }

    // MARK: Transitions

    private mutating func restart() {
        state = .initial
        lease = nil
        xid = random.nextXID()
    }

    @inline(never)  // two callers had a copy each (~350 bytes)
    private mutating func loseLease() {
        if lease != nil { events.append(.lost) }
        lease = nil
        state = .initial
    }

    private mutating func beginExchange(_ next: State, now: UInt64) {
        state = next
        xid = random.nextXID()
        attempts = 0
        exchangeStart = now
    }

    private mutating func startDiscovery(now: UInt64) -> Output {
        beginExchange(.selecting, now: now)
        return transmitDiscover(now: now)
    }

    private mutating func bind(_ ack: DHCPMessage, server: IPv4Address, now: UInt64) {
        let leaseSeconds = ack.leaseTime ?? offerLeaseSeconds ?? 3600
        let start = exchangeStart
        var renew: UInt64 = .max, rebind: UInt64 = .max, expiry: UInt64 = .max
        if leaseSeconds != UInt32.max {
            let leaseNanos = UInt64(leaseSeconds) * Self.second
            var t1 = UInt64(ack.renewalTime ?? 0) * Self.second
            var t2 = UInt64(ack.rebindingTime ?? 0) * Self.second
            if ack.rebindingTime == nil || t2 >= leaseNanos { t2 = leaseNanos / 8 * 7 }
            if ack.renewalTime == nil || t1 >= t2 { t1 = min(leaseNanos / 2, t2) }
            renew = saturatingDeadline(after: t1, from: start)
            rebind = saturatingDeadline(after: t2, from: start)
            expiry = saturatingDeadline(after: leaseNanos, from: start)
        }
        let previous = lease
        let new = DHCPLease(
            address: ack.yourAddress,
            prefixLength: ack.subnetMask.map(Self.prefixLength(mask:)) ?? Self.classfulPrefix(ack.yourAddress),
            router: ack.routers.first,
            dnsServers: ack.dnsServers,
            serverIdentifier: server,
            leaseSeconds: leaseSeconds,
            acquiredAt: start, renewAt: renew, rebindAt: rebind, expiresAt: expiry)
        lease = new
        state = .bound
        attempts = 0
        if let previous, previous.address == new.address {
            events.append(.renewed(new))
        } else {
            if previous != nil { events.append(.lost) }
            events.append(.bound(new))
        }
    }

    // MARK: Messages

    private mutating func transmitDiscover(now: UInt64) -> Output {
        var message = baseMessage(.discover, now: now)
        message.broadcast = requestBroadcastReplies
        scheduleBackoff(now: now)
        return Output(payload: message.bytes(), source: .any, destination: .broadcast)
    }

    /// The REQUEST answering an OFFER (RFC 2131 §4.3.2, SELECTING).
    private mutating func transmitSelectingRequest(now: UInt64) -> Output {
        if attempts == 0 { exchangeStart = now }
        var message = baseMessage(.request, now: now)
        message.broadcast = requestBroadcastReplies
        message.requestedAddress = offeredAddress
        message.serverIdentifier = offerServer
        scheduleBackoff(now: now)
        return Output(payload: message.bytes(), source: .any, destination: .broadcast)
    }

    /// The REQUEST extending a lease: unicast when renewing, broadcast when rebinding.
    private mutating func transmitLeaseRequest(now: UInt64, lease: DHCPLease) -> Output {
        var message = baseMessage(.request, now: now)
        message.clientAddress = lease.address
        let limit = state == .renewing ? lease.rebindAt : lease.expiresAt
        let remaining = limit > now ? limit - now : 0
        nextTransmit = min(saturatingDeadline(after: max(remaining / 2, Self.minimumRenewInterval), from: now), limit)
        attempts += 1
        let destination = state == .renewing ? lease.serverIdentifier : IPv4Address.broadcast
        return Output(payload: message.bytes(), source: lease.address, destination: destination)
    }

    private func baseMessage(_ type: DHCPMessageType, now: UInt64) -> DHCPMessage {
        var message = DHCPMessage(operation: .request, transactionID: xid,
                                  clientHardwareAddress: mac, messageType: type)
        let elapsed = now > exchangeStart ? (now - exchangeStart) / Self.second : 0
        message.seconds = UInt16(min(elapsed, UInt64(UInt16.max)))
        message.clientIdentifier = [1, mac.bytes.0, mac.bytes.1, mac.bytes.2,
                                    mac.bytes.3, mac.bytes.4, mac.bytes.5]
        message.parameterRequestList = Self.requestedParameters
        return message
    }

    /// RFC 2131 §4.1: 4 s, 8 s, 16 s, ... capped at 64 s, each randomized by ±1 s.
    private mutating func scheduleBackoff(now: UInt64) {
        let base = Self.second << UInt64(min(attempts + 2, 6))
        let jitter = random.next() % (2 * Self.second + 1)     // 0 ... 2 s
        nextTransmit = saturatingDeadline(after: base - Self.second + jitter, from: now)
        attempts += 1
    }

    // MARK: Helpers

    static func prefixLength(mask: IPv4Address) -> Int {
        var count = 0
        var value = mask.value
        while value & 0x8000_0000 != 0 && count < 32 {
            count += 1
            value <<= 1
        }
        return count
    }

    static func classfulPrefix(_ address: IPv4Address) -> Int {
        switch address.value >> 29 {
        case 0...3: return 8       // class A
        case 4, 5: return 16       // class B
        default: return 24
        }
    }
}

private extension SplitMix64 {
    /// A transaction id: the top 32 bits of the next draw.
    mutating func nextXID() -> UInt32 { UInt32(truncatingIfNeeded: next() >> 32) }
}
