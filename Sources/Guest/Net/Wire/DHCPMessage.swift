// DHCP messages (RFC 2131 §2, options RFC 2132): a validated representation with a
// bounds-checked parser and an emitter. After `init(parsing:)` accepts untrusted bytes,
// nothing about the value can trap.

/// BOOTP `op`.
public enum DHCPOperation: UInt8, Sendable {
    case request = 1
    case reply = 2
}

/// Option 53 (RFC 2132 §9.6).
public enum DHCPMessageType: UInt8, Sendable {
    case discover = 1
    case offer = 2
    case request = 3
    case decline = 4
    case ack = 5
    case nak = 6
    case release = 7
    case inform = 8
}

/// Option codes this implementation reads or writes.
public enum DHCPOptionCode {
    public static let pad: UInt8 = 0
    public static let subnetMask: UInt8 = 1
    public static let router: UInt8 = 3
    public static let dnsServers: UInt8 = 6
    public static let requestedAddress: UInt8 = 50
    public static let leaseTime: UInt8 = 51
    public static let overload: UInt8 = 52
    public static let messageType: UInt8 = 53
    public static let serverIdentifier: UInt8 = 54
    public static let parameterRequestList: UInt8 = 55
    public static let renewalTime: UInt8 = 58
    public static let rebindingTime: UInt8 = 59
    public static let clientIdentifier: UInt8 = 61
    public static let end: UInt8 = 255
}

/// One DHCP message. Options the client does not use are skipped when parsing and never
/// emitted; option 52 (overload) is ignored, so `sname`/`file` are never read as options.
public struct DHCPMessage: Equatable, Sendable {
    public var operation: DHCPOperation
    public var hops: UInt8 = 0
    public var transactionID: UInt32
    public var seconds: UInt16 = 0
    /// The BROADCAST bit of `flags`: ask the server to broadcast its reply.
    public var broadcast: Bool = false
    public var clientAddress: IPv4Address = .any        // ciaddr
    public var yourAddress: IPv4Address = .any          // yiaddr
    public var serverAddress: IPv4Address = .any        // siaddr
    public var relayAddress: IPv4Address = .any         // giaddr
    public var clientHardwareAddress: MACAddress        // chaddr (Ethernet only)

    public var messageType: DHCPMessageType?
    public var serverIdentifier: IPv4Address?
    public var requestedAddress: IPv4Address?
    /// Seconds; 0xFFFF_FFFF means infinite.
    public var leaseTime: UInt32?
    public var renewalTime: UInt32?
    public var rebindingTime: UInt32?
    public var subnetMask: IPv4Address?
    public var routers: [IPv4Address] = []
    public var dnsServers: [IPv4Address] = []
    public var parameterRequestList: [UInt8] = []
    public var clientIdentifier: [UInt8] = []

    // MARK: Layout

    static let opOffset = 0, htypeOffset = 1, hlenOffset = 2, hopsOffset = 3
    static let xidOffset = 4, secsOffset = 8, flagsOffset = 10
    static let ciaddrOffset = 12, yiaddrOffset = 16, siaddrOffset = 20, giaddrOffset = 24
    static let chaddrOffset = 28            // 16 bytes
    static let snameOffset = 44             // 64 bytes
    static let fileOffset = 108             // 128 bytes
    static let cookieOffset = 236
    public static let optionsOffset = 240
    public static let magicCookie: UInt32 = 0x6382_5363
    /// BOOTP's minimum message size (RFC 951); emitted messages are padded to it.
    public static let minimumLength = 300
    static let broadcastFlag: UInt16 = 0x8000

    public init(operation: DHCPOperation, transactionID: UInt32, clientHardwareAddress: MACAddress,
                messageType: DHCPMessageType?) {
        self.operation = operation
        self.transactionID = transactionID
        self.clientHardwareAddress = clientHardwareAddress
        self.messageType = messageType
    }

    // MARK: Parse

    public init(parsing buffer: UnsafeRawBufferPointer) throws(WireError) {
        guard buffer.count >= Self.optionsOffset else { throw .truncated }
        guard let operation = DHCPOperation(rawValue: buffer[Self.opOffset]) else { throw .malformed("DHCP op") }
        guard buffer[Self.htypeOffset] == 1, buffer[Self.hlenOffset] == 6 else { throw .unsupported("DHCP hardware type") }
        guard buffer.readUInt32(at: Self.cookieOffset) == Self.magicCookie else { throw .malformed("DHCP magic cookie") }

        self.operation = operation
        hops = buffer[Self.hopsOffset]
        transactionID = buffer.readUInt32(at: Self.xidOffset)
        self.seconds = buffer.readUInt16(at: Self.secsOffset)
        broadcast = buffer.readUInt16(at: Self.flagsOffset) & Self.broadcastFlag != 0
        clientAddress = IPv4Address(reading: buffer, at: Self.ciaddrOffset)
        yourAddress = IPv4Address(reading: buffer, at: Self.yiaddrOffset)
        serverAddress = IPv4Address(reading: buffer, at: Self.siaddrOffset)
        relayAddress = IPv4Address(reading: buffer, at: Self.giaddrOffset)
        clientHardwareAddress = MACAddress(reading: buffer, at: Self.chaddrOffset)

        var index = Self.optionsOffset
        var sawEnd = false
        // Every iteration advances `index` by at least one byte, so the loop is bounded.
        while index < buffer.count {
            let code = buffer[index]
            if code == DHCPOptionCode.pad { index += 1; continue }
            if code == DHCPOptionCode.end { sawEnd = true; break }
            guard index + 1 < buffer.count else { throw .truncated }
            let length = Int(buffer[index + 1])
            let start = index + 2
            guard start + length <= buffer.count else { throw .truncated }
            try parseOption(code: code, buffer: buffer, start: start, length: length)
            index = start + length
        }
        guard sawEnd else { throw .malformed("DHCP options without end") }
    }

    private mutating func parseOption(code: UInt8, buffer: UnsafeRawBufferPointer,
                                      start: Int, length: Int) throws(WireError) {
        func address() throws(WireError) -> IPv4Address {
            guard length == 4 else { throw .malformed("DHCP option length") }
            return IPv4Address(reading: buffer, at: start)
        }
        func seconds() throws(WireError) -> UInt32 {
            guard length == 4 else { throw .malformed("DHCP option length") }
            return buffer.readUInt32(at: start)
        }
        func addresses() throws(WireError) -> [IPv4Address] {
            guard length >= 4, length % 4 == 0 else { throw .malformed("DHCP option length") }
            var list: [IPv4Address] = []
            var offset = start
            while offset < start + length {
                list.append(IPv4Address(reading: buffer, at: offset))
                offset += 4
            }
            return list
        }
        func bytes() -> [UInt8] {
            var list: [UInt8] = []
            list.reserveCapacity(length)
            for offset in start..<(start + length) { list.append(buffer[offset]) }
            return list
        }

        switch code {
        case DHCPOptionCode.messageType:
            guard length == 1 else { throw .malformed("DHCP option length") }
            guard let type = DHCPMessageType(rawValue: buffer[start]) else { throw .malformed("DHCP message type") }
            messageType = type
        case DHCPOptionCode.serverIdentifier: serverIdentifier = try address()
        case DHCPOptionCode.requestedAddress: requestedAddress = try address()
        case DHCPOptionCode.subnetMask: subnetMask = try address()
        case DHCPOptionCode.leaseTime: leaseTime = try seconds()
        case DHCPOptionCode.renewalTime: renewalTime = try seconds()
        case DHCPOptionCode.rebindingTime: rebindingTime = try seconds()
        case DHCPOptionCode.router: routers = try addresses()
        case DHCPOptionCode.dnsServers: dnsServers = try addresses()
        case DHCPOptionCode.parameterRequestList: parameterRequestList = bytes()
        case DHCPOptionCode.clientIdentifier:
            guard length >= 2 else { throw .malformed("DHCP option length") }
            clientIdentifier = bytes()
        case DHCPOptionCode.overload:
            // Options continued in sname/file are not read; the length is still checked.
            guard length == 1 else { throw .malformed("DHCP option length") }
        default:
            break
        }
    }

    // MARK: Emit

    /// Lists are cut to what one option (255 bytes) can carry.
    static let maximumAddresses = 63

    /// Bytes `emit(into:)` writes: header, cookie, options, end, padding to 300.
    public var bufferLength: Int {
        var length = Self.optionsOffset + 1          // options + end
        if messageType != nil { length += 3 }
        if !clientIdentifier.isEmpty { length += 2 + min(clientIdentifier.count, 255) }
        if requestedAddress != nil { length += 6 }
        if serverIdentifier != nil { length += 6 }
        if leaseTime != nil { length += 6 }
        if renewalTime != nil { length += 6 }
        if rebindingTime != nil { length += 6 }
        if subnetMask != nil { length += 6 }
        if !routers.isEmpty { length += 2 + 4 * min(routers.count, Self.maximumAddresses) }
        if !dnsServers.isEmpty { length += 2 + 4 * min(dnsServers.count, Self.maximumAddresses) }
        if !parameterRequestList.isEmpty { length += 2 + min(parameterRequestList.count, 255) }
        return max(length, Self.minimumLength)
    }

    /// Writes the message at the start of `buffer` (at least `bufferLength` bytes) and
    /// returns the number of bytes written.
    @discardableResult
    public func emit(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        let length = bufferLength
        precondition(buffer.count >= length, "DHCP buffer too small")
        for index in 0..<length { buffer[index] = 0 }
        buffer[Self.opOffset] = operation.rawValue
        buffer[Self.htypeOffset] = 1
        buffer[Self.hlenOffset] = 6
        buffer[Self.hopsOffset] = hops
        buffer.writeUInt32(transactionID, at: Self.xidOffset)
        buffer.writeUInt16(self.seconds, at: Self.secsOffset)
        buffer.writeUInt16(broadcast ? Self.broadcastFlag : 0, at: Self.flagsOffset)
        clientAddress.write(to: buffer, at: Self.ciaddrOffset)
        yourAddress.write(to: buffer, at: Self.yiaddrOffset)
        serverAddress.write(to: buffer, at: Self.siaddrOffset)
        relayAddress.write(to: buffer, at: Self.giaddrOffset)
        clientHardwareAddress.write(to: buffer, at: Self.chaddrOffset)
        buffer.writeUInt32(Self.magicCookie, at: Self.cookieOffset)

        var index = Self.optionsOffset
        func header(_ code: UInt8, _ length: Int) {
            buffer[index] = code
            buffer[index + 1] = UInt8(length)
            index += 2
        }
        func address(_ code: UInt8, _ value: IPv4Address?) {
            guard let value else { return }
            header(code, 4)
            value.write(to: buffer, at: index)
            index += 4
        }
        func seconds(_ code: UInt8, _ value: UInt32?) {
            guard let value else { return }
            header(code, 4)
            buffer.writeUInt32(value, at: index)
            index += 4
        }
        func addresses(_ code: UInt8, _ list: [IPv4Address]) {
            guard !list.isEmpty else { return }
            let count = min(list.count, Self.maximumAddresses)
            header(code, 4 * count)
            for item in list.prefix(count) {
                item.write(to: buffer, at: index)
                index += 4
            }
        }
        func bytes(_ code: UInt8, _ list: [UInt8]) {
            guard !list.isEmpty else { return }
            let count = min(list.count, 255)
            header(code, count)
            for item in list.prefix(count) {
                buffer[index] = item
                index += 1
            }
        }

        if let messageType {
            header(DHCPOptionCode.messageType, 1)
            buffer[index] = messageType.rawValue
            index += 1
        }
        bytes(DHCPOptionCode.clientIdentifier, clientIdentifier)
        address(DHCPOptionCode.requestedAddress, requestedAddress)
        address(DHCPOptionCode.serverIdentifier, serverIdentifier)
        seconds(DHCPOptionCode.leaseTime, leaseTime)
        seconds(DHCPOptionCode.renewalTime, renewalTime)
        seconds(DHCPOptionCode.rebindingTime, rebindingTime)
        address(DHCPOptionCode.subnetMask, subnetMask)
        addresses(DHCPOptionCode.router, routers)
        addresses(DHCPOptionCode.dnsServers, dnsServers)
        bytes(DHCPOptionCode.parameterRequestList, parameterRequestList)
        buffer[index] = DHCPOptionCode.end
        return length
    }

    /// The emitted message as a new array.
    public func bytes() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: bufferLength)
        out.withUnsafeMutableBytes { _ = emit(into: $0) }
        return out
    }
}
