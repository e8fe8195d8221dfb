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
    /// arguments are left to others.
    public init(arguments: [String]) {
        self.init()
        for argument in arguments {
            guard let setting = KeyValueArgument(argument) else { continue }
            let value = setting.value
            if setting.isKey("log") {
                accessLog = !(value.utf8.elementsEqual("off".utf8) || value.utf8.elementsEqual("0".utf8))
            } else if setting.isKey("header-timeout"), let seconds = UInt64(value) {
                headerTimeout = seconds * 1_000_000_000
            } else if setting.isKey("handshake-timeout"), let seconds = UInt64(value) {
                handshakeTimeout = seconds * 1_000_000_000
            } else if setting.isKey("idle-timeout"), let seconds = UInt64(value) {
                idleTimeout = seconds * 1_000_000_000
            } else if setting.isKey("max-connections"), let count = Int(value), count > 0 {
                maximumConnections = count
            }
        }
    }
}
