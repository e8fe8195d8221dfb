// Routes in the style of Hummingbird and Vapor: a method and a path pattern map to a handler.
// Patterns are split at `/`; a segment is a literal, a parameter (`:id` or `{id}`), `*` (any
// one segment) or a final `**` (the rest of the path). When several routes match, the most
// specific wins, segment by segment: literal, then parameter, then `*`, then `**`.
// A path that matches only under other methods gets 405 with `Allow`; none at all gets 404
// (or the fallback, e.g. static assets). HEAD runs the GET handler without sending the body.

public typealias HTTPHandler = (HTTPRequest) throws(HTTPError) -> HTTPResponse

public final class Router {
    enum Segment: Equatable {
        case literal([UInt8])
        case parameter([UInt8])
        case any
        case rest

        var rank: Int {
            switch self {
            case .literal: return 3
            case .parameter: return 2
            case .any: return 1
            case .rest: return 0
            }
        }
    }

    struct Route {
        let method: HTTPMethod
        let segments: [Segment]
        let handler: HTTPHandler
    }

    private var routes: [Route] = []
    /// Consulted for GET and HEAD requests no route matches (static files, typically).
    private var fallback: ((HTTPRequest) -> HTTPResponse?)?
    /// Handlers that threw a 5xx `HTTPError`, for status pages.
    public private(set) var handlerFailures = 0

    public init() {}

    public func on(_ method: HTTPMethod, _ pattern: String, use handler: @escaping HTTPHandler) {
        routes.append(Route(method: method, segments: Self.segments(of: pattern), handler: handler))
    }

    public func get(_ pattern: String, use handler: @escaping HTTPHandler) { on(.get, pattern, use: handler) }
    public func post(_ pattern: String, use handler: @escaping HTTPHandler) { on(.post, pattern, use: handler) }
    public func put(_ pattern: String, use handler: @escaping HTTPHandler) { on(.put, pattern, use: handler) }
    public func delete(_ pattern: String, use handler: @escaping HTTPHandler) { on(.delete, pattern, use: handler) }
    public func patch(_ pattern: String, use handler: @escaping HTTPHandler) { on(.patch, pattern, use: handler) }

    /// Answers GET/HEAD requests that no route matches, when `responder` returns a response.
    public func fallback(_ responder: @escaping (HTTPRequest) -> HTTPResponse?) {
        fallback = responder
    }

    /// The response for `request`. Never fails: a thrown `HTTPError` becomes its status, and
    /// routing misses become 404/405.
    public func respond(to request: HTTPRequest) -> HTTPResponse {
        let pathSegments = Self.split(request.path)
        let lookupMethod = request.method == .head ? HTTPMethod.get : request.method
        var best: (route: Route, parameters: HTTPParameters)?
        var bestRanks: [Int] = []
        var allowed: [HTTPMethod] = []
        for route in routes {
            guard let parameters = Self.match(route.segments, pathSegments) else { continue }
            if route.method != lookupMethod {
                if !allowed.contains(route.method) { allowed.append(route.method) }
                continue
            }
            let ranks = route.segments.map { $0.rank }
            if best == nil || ranks.lexicographicallyPrecedes(bestRanks, by: >) {
                best = (route, parameters)
                bestRanks = ranks
            }
        }
        if let (route, parameters) = best {
            var routed = request
            routed.parameters = parameters
            do {
                return try route.handler(routed)
            } catch {
                if error.status.code >= 500 { handlerFailures += 1 }
                return .error(error.status, message: error.message)
            }
        }
        if request.method == .get || request.method == .head, let fallback, let response = fallback(request) {
            return response
        }
        if allowed.isEmpty { return .error(.notFound) }
        if allowed.contains(.get) && !allowed.contains(.head) { allowed.append(.head) }
        var allow = ""
        for method in allowed {
            if !allow.isEmpty { allow += ", " }
            allow += method.name
        }
        if request.method == .options {
            var response = HTTPResponse(status: .noContent)
            response.headers.add("Allow", allow)
            return response
        }
        var response = HTTPResponse.error(.methodNotAllowed)
        response.headers.add("Allow", allow)
        return response
    }

    // MARK: Matching

    static func segments(of pattern: String) -> [Segment] {
        split(Array(pattern.utf8)).map { slice in
            let segment = Array(slice)
            if segment.count > 1 && segment.first == 0x3A { return .parameter(Array(segment.dropFirst())) }
            if segment.count > 2 && segment.first == 0x7B && segment.last == 0x7D {
                return .parameter(Array(segment.dropFirst().dropLast()))
            }
            if asciiEquals(segment, "**") { return .rest }
            if asciiEquals(segment, "*") { return .any }
            return .literal(segment)
        }
    }

    /// Path segments, percent-decoded one by one (so an encoded `/` stays inside its segment).
    /// Without escapes the segments are slices of the path itself: nothing is allocated.
    static func split(_ path: [UInt8]) -> [ArraySlice<UInt8>] {
        let segments = path.split(separator: 0x2F, omittingEmptySubsequences: true)
        guard path.contains(0x25) else { return segments }
        return segments.map { ArraySlice(percentDecoded($0)) }
    }

    static func match(_ pattern: [Segment], _ path: [ArraySlice<UInt8>]) -> HTTPParameters? {
        var parameters = HTTPParameters()
        for (index, segment) in pattern.enumerated() {
            if case .rest = segment {
                var tail: [UInt8] = []
                for part in path[min(index, path.count)...] {
                    if !tail.isEmpty { tail.append(0x2F) }
                    tail += part
                }
                parameters.catchAll = tail
                return parameters
            }
            guard index < path.count else { return nil }
            switch segment {
            case .literal(let bytes): if !bytes.elementsEqual(path[index]) { return nil }
            case .parameter(let name): parameters.append(name: name, value: Array(path[index]))
            case .any, .rest: break
            }
        }
        return pattern.count == path.count ? parameters : nil
    }
}
