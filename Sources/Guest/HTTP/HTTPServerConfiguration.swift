// Server limits and timeouts. Defaults follow what nginx ships with, scaled for a guest that
// has a few MiB: a slow client that trickles its headers is cut off after `headerTimeout`,
// an idle keep-alive connection after `idleTimeout`.

public struct HTTPServerConfiguration {
    public var limits = HTTPLimits()
    /// From a request's first byte until its head is complete; then 408 and close. Also how
    /// long a new connection may stay silent before it is closed.
    public var headerTimeout: UInt64 = 10_000_000_000
    /// HTTPS: from accept until the TLS handshake is done; then the connection is cut (a
    /// client that stalls mid-handshake holds a connection and its TLS buffers).
    public var handshakeTimeout: UInt64 = 10_000_000_000
    /// Longest pause between body bytes; then 408 and close.
    public var bodyTimeout: UInt64 = 30_000_000_000
    /// A kept-alive connection with no request in progress is closed after this.
    public var idleTimeout: UInt64 = 60_000_000_000
    /// Longest the client may leave our response unread before the connection is dropped.
    public var sendTimeout: UInt64 = 30_000_000_000
    /// Connections served at once; more are answered 503 and closed.
    public var maximumConnections = 1024
    /// Request body bytes all connections together may hold (bodies are kept whole until
    /// their handler runs); past it, 503. nil: a quarter of the heap free at start (guest),
    /// no limit (host).
    public var maximumBufferedBodyBytes: Int?
    /// Stop reading a connection's pipelined requests while this much response is unsent.
    public var outputHighWater = 64 * 1024
    /// One Common Log Format line per request on the console.
    public var accessLog = true
    /// The `Server` header (empty: none).
    public var serverName = "Swiftlet"

    public init() {}

    /// Defaults overridden by guest arguments: `log=off`, `header-timeout=SECONDS`,
    /// `handshake-timeout=SECONDS`, `idle-timeout=SECONDS`, `max-connections=N`. Other
    /// arguments are left to others, and so are values that are not numbers (or too large).
    public init(arguments: [String]) {
        self.init()
        for argument in arguments { argument.withByteText { read($0) } }
    }

    #if SWIFTLET_GUEST
    /// The same from the guest's own arguments, read in place.
    public static func fromGuestArguments() -> HTTPServerConfiguration {
        var configuration = HTTPServerConfiguration()
        for index in 0..<Runtime.argc { configuration.read(CommandLine.argumentText(index)) }
        return configuration
    }
    #endif

    private mutating func read(_ argument: ByteText) {
        guard let setting = KeyValueArgument(argument) else { return }
        let value = setting.value
        let maximumSeconds = UInt64.max / 1_000_000_000
        if setting.key.equals("log") {
            accessLog = !(value.equals("off") || value.equals("0"))
        } else if setting.key.equals("header-timeout"), let seconds = value.decimal(atMost: maximumSeconds) {
            headerTimeout = seconds * 1_000_000_000
        } else if setting.key.equals("handshake-timeout"), let seconds = value.decimal(atMost: maximumSeconds) {
            handshakeTimeout = seconds * 1_000_000_000
        } else if setting.key.equals("idle-timeout"), let seconds = value.decimal(atMost: maximumSeconds) {
            idleTimeout = seconds * 1_000_000_000
        } else if setting.key.equals("max-connections"), let count = value.decimal(atMost: UInt64(Int.max)), count > 0 {
            maximumConnections = Int(count)
        }
    }
}
