// async/await sockets: a driver task runs the stack whenever a device has input, a stack
// timer is due, or a task queued output; tasks waiting on sockets are woken after each run
// and check again. For applications that `import _Concurrency` (see Concurrency/EventLoop).
#if SWIFTLET_GUEST && SWIFTLET_CONCURRENCY
public final class AsyncNetwork {
    public let stack: NetworkStack
    private var waiting: [UnsafeContinuation<Void, Never>] = []
    private var driver: UnsafeContinuation<Void, Never>?
    private var outputQueued = false
    /// The device's last exchange took in frames the stack has not handled yet.
    private var inputHeld = false

    /// Brings up the stack on the first NIC (see `Network.start`) and starts driving it.
    public init() throws(Network.StartError) {
        stack = try Network.start()
        EventLoop.deviceReady = { [unowned(unsafe) self] _ in self.wakeDriver() }
        Task { await self.drive() }
    }

    /// Waits until the stack has an address (DHCP or static), or `timeout` ns pass.
    public func address(timeout: UInt64 = 10_000_000_000) async -> IPv4Address? {
        let deadline = SystemClock.uptimeNanoseconds &+ timeout
        while stack.address == nil && SystemClock.uptimeNanoseconds < deadline {
            await sleep(nanoseconds: 10_000_000)
        }
        return stack.address
    }

    public func listen(port: UInt16, backlog: Int = 64) throws(NetworkStack.SocketError) -> AsyncTCPListener {
        AsyncTCPListener(network: self, listener: try stack.listenTCP(port: port, backlog: backlog))
    }

    /// Resolves `name` with the DNS servers from DHCP or `dns=`.
    public func resolve(_ name: String) async -> DNSResolver.Result {
        if let cached = stack.resolve(name, now: SystemClock.uptimeNanoseconds) { return cached }
        outputPending()
        while true {
            await nextTurn()
            if let result = stack.resolution { return result }
        }
    }

    public func bindUDP(port: UInt16, queueLimit: Int = 64) throws(NetworkStack.SocketError) -> AsyncUDPSocket {
        AsyncUDPSocket(network: self, socket: try stack.bindUDP(port: port, queueLimit: queueLimit))
    }

    /// Suspends the caller until the stack has run again.
    func nextTurn() async {
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
            waiting.append(continuation)
            wakeDriver()
        }
    }

    /// A task queued output: make sure the driver sends it soon.
    func outputPending() {
        outputQueued = true
        wakeDriver()
    }

    private func wakeDriver() {
        guard let driver else { return }
        self.driver = nil
        EventLoop.deviceWaiters -= 1
        driver.resume()
    }

    private func drive() async {
        while true {
            stack.poll(now: SystemClock.uptimeNanoseconds)
            // Sends what the poll built and takes in what arrived, without waiting: the event
            // loop does the waiting, for every task at once.
            inputHeld = stack.device.exchange(until: 0)
            outputQueued = false
            let woken = waiting
            waiting.removeAll(keepingCapacity: true)
            for continuation in woken { continuation.resume() }
            await idle()
        }
    }

    /// Waits for device input, the stack's next timer, or new output from a task.
    private func idle() async {
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
            driver = continuation
            EventLoop.deviceWaiters += 1
            if outputQueued || inputHeld || !waiting.isEmpty {
                wakeDriver()
            } else if let at = stack.pollAt() {
                EventLoop.schedule(.call { [unowned(unsafe) self] in self.wakeDriver() }, at: at)
            }
        }
    }
}

/// Accepted connections, as an async sequence: `for await connection in listener`.
public struct AsyncTCPListener: AsyncSequence {
    public typealias Element = AsyncTCPConnection
    let network: AsyncNetwork
    let listener: TCPListener

    public struct AsyncIterator: AsyncIteratorProtocol {
        let network: AsyncNetwork
        let listener: TCPListener

        public mutating func next() async -> AsyncTCPConnection? {
            while true {
                if let stream = listener.accept() { return AsyncTCPConnection(network: network, stream: stream) }
                await network.nextTurn()
            }
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(network: network, listener: listener) }
}

public struct AsyncUDPSocket {
    let network: AsyncNetwork
    public let socket: UDPSocket

    /// The next datagram received on this port.
    public func receive() async -> UDPSocket.Datagram {
        while true {
            if let datagram = socket.receive() { return datagram }
            await network.nextTurn()
        }
    }

    public func send(_ payload: [UInt8], to destination: IPv4Address, port: UInt16) throws(NetworkStack.SocketError) {
        // withUnsafeBytes rethrows untyped errors; carry ours out as a value.
        let result: Result<Void, NetworkStack.SocketError> = payload.withUnsafeBytes { bytes in
            do throws(NetworkStack.SocketError) {
                try socket.send(bytes, to: destination, port: port, now: SystemClock.uptimeNanoseconds)
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        network.outputPending()
        try result.get()
    }
}

public struct AsyncTCPConnection {
    let network: AsyncNetwork
    public let stream: TCPStream

    /// The next bytes received; nil once the peer has closed and everything was read.
    public func read(maximum: Int = 65536) async -> [UInt8]? {
        while true {
            if stream.isReadable { return stream.read(maximum: maximum) }
            if stream.isAtEnd || stream.isClosed { return nil }
            await network.nextTurn()
        }
    }

    /// Sends all of `bytes`, waiting for room in the send buffer. False if the connection
    /// closed first.
    @discardableResult
    public func write(_ bytes: [UInt8]) async -> Bool {
        var offset = 0
        while offset < bytes.count {
            if stream.isClosed { return false }
            let written = bytes[offset...].withUnsafeBytes { stream.write($0) }
            offset += written
            network.outputPending()
            if offset < bytes.count { await network.nextTurn() }
        }
        return true
    }

    /// Sends FIN after the queued data.
    public func close() {
        stream.close()
        network.outputPending()
    }
}
#endif
