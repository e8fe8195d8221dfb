// Bringing the stack up on the guest's first NIC, and the loop that drives it: poll the stack,
// let the application react, hand frames to the host, sleep until input or the next timer.
#if SWIFTLET_GUEST
public enum Network {
    public enum StartError: Error, Equatable {
        case noDevice
        case badConfiguration(String)
    }

    /// The stack on the first network device, configured from the guest's arguments.
    /// `sendBuffer` and `receiveBuffer` size each TCP connection's buffers (allocated whole
    /// when it opens): smaller buffers serve more connections in the same memory.
    public static func start(sendBuffer: Int = TCPSettings.defaultSendBuffer,
                             receiveBuffer: Int = TCPSettings.defaultReceiveBuffer) throws(StartError) -> NetworkStack {
        guard let nic = GuestNIC.all.first else { throw .noDevice }
        let configuration: NetworkConfiguration
        do {
            configuration = try NetworkConfiguration.fromGuestArguments()
        } catch {
            guard case .badAddress(let text) = error else { throw .badConfiguration("") }
            throw .badConfiguration(text)
        }
        return NetworkStack(device: nic, configuration: configuration,
                            tcp: tcpSettings(for: nic, sendBuffer: sendBuffer, receiveBuffer: receiveBuffer))
    }

    /// The stack on the first NIC, once it has an address; when there is no device or no
    /// address within 10 s, the guest says what is missing and exits with status 1. The
    /// usual first line of a network application.
    public static func bringUp(sendBuffer: Int = TCPSettings.defaultSendBuffer,
                               receiveBuffer: Int = TCPSettings.defaultReceiveBuffer) -> NetworkStack {
        let stack: NetworkStack
        do {
            stack = try start(sendBuffer: sendBuffer, receiveBuffer: receiveBuffer)
        } catch {
            switch error {
            case .noDevice:
                print("network: no network device (start the guest with -p HOST:GUEST or --net)")
            case .badConfiguration(let argument):
                print("network: cannot use the argument '\(argument)' (expected ip=ADDRESS/PREFIX gw=ADDRESS dns=ADDRESS)")
            }
            exit(1)
        }
        guard stack.waitForAddress() != nil else {
            print("network: no address from DHCP within 10 s (or pass ip=ADDRESS/PREFIX gw=ADDRESS)")
            exit(1)
        }
        return stack
    }

    /// Connections and listen queues sized so that all their buffers fit in half the heap, and
    /// no connection opened when the heap cannot give it its buffers now.
    static func tcpSettings(for nic: GuestNIC, sendBuffer: Int, receiveBuffer: Int) -> TCPSettings {
        var settings = TCPSettings(mtu: nic.mtu)
        settings.sendBuffer = max(sendBuffer, 2 * nic.mtu)
        settings.receiveBuffer = max(receiveBuffer, 2 * nic.mtu)
        let heapAtStart = Runtime.heap.statistics.bytesFree
        settings.fitBuffers(in: heapAtStart / 2)
        // Each new connection also needs its two buffers from the heap as it is now, with a
        // sixteenth of the heap left over for what serving it allocates besides.
        let largestBuffer = max(settings.sendBuffer, settings.receiveBuffer)
        let needed = settings.sendBuffer + settings.receiveBuffer + max(heapAtStart / 16, 128 * 1024)
        settings.heapHasRoomForConnection = {
            let heap = Runtime.heap.statistics
            return heap.bytesFree >= needed && heap.largestFreeBlock >= largestBuffer
        }
        return settings
    }
}

extension NetworkStack {
    /// Runs the stack until it has an address (DHCP done, or configured statically) or
    /// `timeout` nanoseconds pass. Returns the address, if any.
    public func waitForAddress(timeout: UInt64 = 10_000_000_000) -> IPv4Address? {
        let deadline = SystemClock.uptimeNanoseconds + timeout
        run { now in address == nil && now < deadline }
        return address
    }

    /// Runs forever (or until `body` returns false), a `turn` at a time: each processes input
    /// and timers, calls `body(now)`, sends what it queued, then sleeps in the tender until there
    /// is input or a timer is due (the stack's, or the application's `wakeAt()`) — an idle guest
    /// uses no CPU. `Shutdown.onRequest` handlers run here, before `body`.
    public func run(wakeAt: () -> UInt64? = { nil }, _ body: (UInt64) -> Bool) {
        while true {
            Shutdown.runHandlersIfRequested()
            guard turn(now: SystemClock.uptimeNanoseconds, wakeAt: wakeAt, body) else { break }
        }
        // What the last poll built goes out; what arrives meanwhile waits for the next poll.
        device.exchange(until: 0)
    }
}
#endif
