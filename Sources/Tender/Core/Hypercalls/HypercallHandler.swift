// Serves the guest's hypercalls for both tenders. The guest is hostile: every struct and
// every address inside it goes through GuestMemory's checked accessors, every length is
// bounded, and a request we cannot even read ends the guest with a clear reason.
import CTender
import SwiftletABI

public final class HypercallHandler {
    public enum Outcome: Equatable {
        case resume
        case halt(status: Int32)
        case crash(GuestCrash)
    }

    public private(set) var memory: GuestMemory
    public let consoleFD: Int32
    /// Indexed by the guest's device handle (the order of boot info's device list).
    public let networks: [NetworkDevice]
    /// Block devices come after the network devices in boot info: handle networks.count + i.
    public let blocks: [BlockDevice]
    /// SIGTERM and SIGINT for a guest that watches for them; without it, SHUTDOWN_WATCH
    /// answers a grace period of 0 (the signal ends the guest at once).
    public let shutdown: ShutdownSignals?
    /// hvt: the exitless rings' I/O thread, when the tender offers them.
    public let rings: NetworkRings?

    public init(memory: GuestMemory, consoleFD: Int32 = 1, networks: [NetworkDevice] = [], blocks: [BlockDevice] = [],
                shutdown: ShutdownSignals? = nil, rings: NetworkRings? = nil) {
        self.memory = memory
        self.consoleFD = consoleFD
        self.networks = networks
        self.blocks = blocks
        self.shutdown = shutdown
        self.rings = rings
    }

    /// spt: serves a hypercall made on the guest's stack with everything below
    /// `guestStackPointer` (the tender's frames) unwritable for its duration.
    public func handle(number: UInt32, argument: GuestAddress, guestStackPointer: UInt64) -> Outcome {
        let whole = memory
        memory = whole.unwritable(below: guestStackPointer)
        defer { memory = whole }
        return handle(number: number, argument: argument)
    }

    public func handle(number: UInt32, argument: GuestAddress) -> Outcome {
        let outcome = serve(number: number, argument: argument)
        // The I/O thread stopped the rings: the guest ends at this exit, whatever it asked.
        if outcome == .resume, let fault = rings?.fault { return .crash(GuestCrash(cause: .badHypercall("\(fault)"))) }
        return outcome
    }

    private func serve(number: UInt32, argument: GuestAddress) -> Outcome {
        do {
            switch swiftlet_hypercall(rawValue: number) {
            case SWIFTLET_HC_WALLTIME:
                try memory.store(swiftlet_hc_time(nanoseconds: Self.clock(CLOCK_REALTIME)), at: argument)
            case SWIFTLET_HC_MONOTONIC:
                try memory.store(swiftlet_hc_time(nanoseconds: Self.clock(CLOCK_MONOTONIC)), at: argument)
            case SWIFTLET_HC_CONSOLE:
                try update(swiftlet_hc_console.self, at: argument) { request in
                    request.result = Int32(bitPattern: console(request).rawValue)
                }
            case SWIFTLET_HC_POLL:
                try update(swiftlet_hc_poll.self, at: argument) { request in
                    request.ready_set = poll(timeout: request.timeout)
                }
            case SWIFTLET_HC_NET_READ, SWIFTLET_HC_NET_WRITE:
                try update(swiftlet_hc_net.self, at: argument) { request in
                    network(&request, reading: number == SWIFTLET_HC_NET_READ.rawValue)
                }
            case SWIFTLET_HC_NET_EXCHANGE:
                try update(swiftlet_hc_net_exchange.self, at: argument) { request in
                    network(&request.write, reading: false)
                    request.ready_set = poll(timeout: request.timeout)
                    if request.read.handle < 64 && request.ready_set & (1 << UInt64(request.read.handle)) != 0 {
                        network(&request.read, reading: true)
                    } else {
                        request.read.completed = 0
                        request.read.result = Int32(bitPattern: (Int(request.read.handle) < networks.count
                            ? SWIFTLET_R_AGAIN : SWIFTLET_R_ENODEV).rawValue)
                    }
                }
            case SWIFTLET_HC_NET_CONFIGURE:
                try update(swiftlet_hc_net_configure.self, at: argument) { request in
                    let result = Int(request.handle) < networks.count
                        ? networks[Int(request.handle)].configure(features: request.features) : SWIFTLET_R_ENODEV
                    request.result = Int32(bitPattern: result.rawValue)
                }
            case SWIFTLET_HC_NET_ATTACH_RINGS:
                try update(swiftlet_hc_net_attach_rings.self, at: argument) { request in
                    let result = Int(request.handle) >= networks.count ? SWIFTLET_R_ENODEV
                        : rings?.attach(&request, memory: memory) ?? SWIFTLET_R_EINVAL
                    request.result = Int32(bitPattern: result.rawValue)
                }
            case SWIFTLET_HC_NET_KICK:
                // Served by an ioeventfd without an exit where the tender could register one.
                rings?.kick()
            case SWIFTLET_HC_BLOCK_READ, SWIFTLET_HC_BLOCK_WRITE, SWIFTLET_HC_BLOCK_FLUSH:
                try update(swiftlet_hc_block.self, at: argument) { request in
                    request.result = Int32(bitPattern: block(request, number: number).rawValue)
                }
            case SWIFTLET_HC_BLOCK_BATCH:
                try update(swiftlet_hc_block_batch.self, at: argument) { batch in
                    let index = Int(batch.handle) - networks.count
                    batch.completed = 0
                    let result = index >= 0 && index < blocks.count ? blocks[index].serve(&batch, memory: memory) : SWIFTLET_R_ENODEV
                    batch.result = Int32(bitPattern: result.rawValue)
                }
            case SWIFTLET_HC_SHUTDOWN_WATCH:
                try update(swiftlet_hc_shutdown_watch.self, at: argument) { request in
                    request.grace_period = shutdown?.watch() ?? 0
                }
            case SWIFTLET_HC_HALT:
                return try halt(try memory.load(swiftlet_hc_halt.self, at: argument))
            default:
                return .crash(GuestCrash(cause: .badHypercall("unknown hypercall number \(number)")))
            }
        } catch {
            return .crash(GuestCrash(cause: .badHypercall(
                "hypercall \(number) passed an argument the tender refused: \(error)")))
        }
        return .resume
    }

    /// Loads the request at `address`, lets `body` act on it, and stores it back. The request
    /// must lie in guest-writable memory, which is checked before anything is done for it.
    private func update<Request: BitwiseCopyable>(_ type: Request.Type, at address: GuestAddress,
                                                  _ body: (inout Request) -> Void) throws(GuestMemoryError) {
        _ = try memory.writableBytes(at: address, count: UInt64(MemoryLayout<Request>.size))
        var request = try memory.load(Request.self, at: address)
        body(&request)
        try memory.store(request, at: address)
    }

    /// NET_READ or NET_WRITE on the device the request names; the outcome goes in `result`.
    private func network(_ request: inout swiftlet_hc_net, reading: Bool) {
        request.completed = 0
        let result: swiftlet_result
        if rings?.ring(Int(request.handle)) != nil {
            result = SWIFTLET_R_EINVAL  // the rings own the device
        } else if Int(request.handle) < networks.count {
            let device = networks[Int(request.handle)]
            do {
                result = reading ? try device.read(&request, memory: memory) : try device.write(&request, memory: memory)
            } catch {
                result = SWIFTLET_R_EINVAL
            }
        } else {
            result = SWIFTLET_R_ENODEV
        }
        request.result = Int32(bitPattern: result.rawValue)
    }

    /// BLOCK_READ, BLOCK_WRITE or BLOCK_FLUSH on the device the request names.
    private func block(_ request: swiftlet_hc_block, number: UInt32) -> swiftlet_result {
        let index = Int(request.handle) - networks.count
        guard index >= 0, index < blocks.count else { return SWIFTLET_R_ENODEV }
        switch swiftlet_hypercall(rawValue: number) {
        case SWIFTLET_HC_BLOCK_READ: return blocks[index].serve(request, op: SWIFTLET_BLOCK_OP_READ, memory: memory)
        case SWIFTLET_HC_BLOCK_WRITE: return blocks[index].serve(request, op: SWIFTLET_BLOCK_OP_WRITE, memory: memory)
        default: return blocks[index].serve(request, op: SWIFTLET_BLOCK_OP_FLUSH, memory: memory)
        }
    }

    private func console(_ request: swiftlet_hc_console) -> swiftlet_result {
        guard let bytes = try? memory.bytes(
            at: GuestAddress(raw: request.data), count: request.length, limit: UInt64(SWIFTLET_CONSOLE_MAX))
        else { return SWIFTLET_R_EINVAL }
        var written = 0
        while written < bytes.count {
            let result = write(consoleFD, bytes.baseAddress! + written, bytes.count - written)
            if result < 0 {
                if SystemError.last == EINTR { continue }
                return SWIFTLET_R_EIO
            }
            written += result
        }
        return SWIFTLET_R_OK
    }

    /// Sleeps until a device has input, a shutdown request arrives, or `timeout` ns pass;
    /// returns the ready set. One sleep is bounded to a second: the guest simply polls again.
    /// A device served by rings is ready while its RX ring holds frames; the I/O thread wakes
    /// this sleep through `rings.wakeFD`.
    private func poll(timeout: UInt64) -> UInt64 {
        var ready: UInt64 = rings?.readySet ?? 0
        for (handle, device) in networks.enumerated() where device.backend.hasBufferedFrame && rings?.ring(handle) == nil {
            ready |= 1 << UInt64(handle)
        }
        let shutdownWatch = shutdown?.beforePoll() ?? (returnAtOnce: false, watchFD: -1)
        var wait = ready != 0 || shutdownWatch.returnAtOnce ? 0 : min(timeout, 1_000_000_000)
        if wait > 0, let rings {
            ready |= rings.vcpuWillSleep()
            if ready != 0 { wait = 0 }
        }
        // A closed backend would poll ready forever: leave it out (fd -1 is ignored by ppoll), as
        // the devices the I/O thread serves.
        var fds = networks.enumerated().map { handle, device in
            pollfd(fd: device.backend.isClosed || rings?.ring(handle) != nil ? -1 : device.backend.fd, events: Int16(POLLIN), revents: 0)
        }
        fds.append(pollfd(fd: shutdownWatch.watchFD, events: Int16(POLLIN), revents: 0))
        fds.append(pollfd(fd: rings?.wakeFD ?? -1, events: Int16(POLLIN), revents: 0))
        // With no devices, ppoll on no descriptors is the sleep (one system call on the allow-list).
        if fds.withUnsafeMutableBufferPointer({ ctender_ppoll($0.baseAddress, UInt($0.count), Int64(wait)) }) > 0 {
            for (handle, entry) in fds.prefix(networks.count).enumerated() where entry.revents != 0 {
                ready |= 1 << UInt64(handle)
            }
        }
        if let rings {
            rings.vcpuAwake()
            ready |= rings.readySet
        }
        return ready | (shutdown?.afterPoll() ?? 0)
    }

    private func halt(_ request: swiftlet_hc_halt) throws(GuestMemoryError) -> Outcome {
        guard request.crash != 0 else {
            return .halt(status: request.status >= 0 && request.status <= 254 ? request.status : SWIFTLET_EXIT_CRASH)
        }
        let record = try memory.load(swiftlet_crash_record.self, at: GuestAddress(raw: request.crash))
        let length = min(UInt64(record.message_length), UInt64(SWIFTLET_CRASH_MESSAGE_MAX))
        let message = (try? memory.copyOut(at: GuestAddress(raw: record.message), count: length))
            .map { String(decoding: $0, as: UTF8.self) } ?? "(message outside guest memory)"
        return .crash(GuestCrash(
            cause: .reported(kind: swiftlet_crash_kind(rawValue: record.kind), message: message),
            registers: .init(rip: record.rip, rsp: 0, rbp: record.rbp)))
    }

    static func clock(_ id: clockid_t) -> UInt64 {
        var now = timespec()
        clock_gettime(id, &now)
        return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
    }
}
