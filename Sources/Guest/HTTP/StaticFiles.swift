// Serving embedded assets: the right Content-Type, a strong ETag from the build's SHA-256
// (If-None-Match → 304), HEAD, and single byte ranges (206/416, If-Range). Bodies point into
// the image itself: nothing is copied until the TCP send buffer takes it.

public struct StaticFiles {
    public let catalog: AssetCatalog
    /// Served for a path that ends in `/`.
    public var indexFile: String {
        get { String(decoding: indexBytes, as: UTF8.self) }
        set { indexBytes = Array(newValue.utf8) }
    }
    private var indexBytes: [UInt8] = Array("index.html".utf8)
    /// Caches may keep a copy but must revalidate it (cheap: a 304).
    public var cacheControl: String {
        get { String(decoding: cacheControlValue, as: UTF8.self) }
        set {
            cacheControlValue = Array(newValue.utf8)
            headers = Self.headers(for: catalog, cacheControl: cacheControlValue)
        }
    }
    private var cacheControlValue: [UInt8] = Array("no-cache".utf8)
    /// Each asset's response headers, built once: a response then shares them.
    private var headers: [AssetHeaders]

    struct AssetHeaders {
        /// ETag and Cache-Control: what a 304 repeats.
        var validators: HTTPHeaders
        /// The validators plus Content-Type and Accept-Ranges.
        var full: HTTPHeaders
    }

    public init(_ catalog: AssetCatalog) {
        self.catalog = catalog
        headers = Self.headers(for: catalog, cacheControl: cacheControlValue)
    }

    /// The names (and the Accept-Ranges value) are made once per call and shared by every
    /// asset's headers; as static lets they cost a lazy initializer each (~430 bytes).
    private static func headers(for catalog: AssetCatalog, cacheControl: [UInt8]) -> [AssetHeaders] {
        let etag = Array("ETag".utf8), cacheControlName = Array("Cache-Control".utf8)
        let contentType = Array("Content-Type".utf8), acceptRanges = Array("Accept-Ranges".utf8), bytes = Array("bytes".utf8)
        return (0..<catalog.count).map { index in
            let asset = catalog[index]
            let validators = HTTPHeaders([HTTPHeaderField(name: etag, value: Array(asset.etag)),
                                          HTTPHeaderField(name: cacheControlName, value: cacheControl)])
            var full = validators
            full.fields.append(HTTPHeaderField(name: contentType, value: Array(asset.contentType)))
            full.fields.append(HTTPHeaderField(name: acceptRanges, value: bytes))
            return AssetHeaders(validators: validators, full: full)
        }
    }

    /// The response for a GET or HEAD of an asset; nil when there is no such asset.
    public func respond(to request: HTTPRequest) -> HTTPResponse? {
        let path = request.path.contains(0x25) ? percentDecoded(request.path[...]) : request.path
        guard let index = lookUp(path, appendingIndex: path.last == 0x2F) else {
            // A folder named without its slash: send the client to it, so relative links work.
            if lookUp(path + [0x2F], appendingIndex: true) != nil {
                var response = HTTPResponse(status: .movedPermanently)
                response.headers.add("Location", String(decoding: request.path + [0x2F], as: UTF8.self))
                return response
            }
            return nil
        }
        let asset = catalog[index]
        if let candidates = request.headers.first("if-none-match"), Self.matches(asset.etag, anyOf: candidates) {
            return HTTPResponse(status: .notModified, headers: headers[index].validators)
        }
        var headers = self.headers[index].full
        let size = asset.bytes.count
        if request.method == .get, let rangeHeader = request.headers.first("range"), rangeApplies(request, asset) {
            switch ByteRange.parse(rangeHeader, size: size) {
            case .range(let range):
                headers.add("Content-Range", "bytes \(range.lowerBound)-\(range.upperBound - 1)/\(size)")
                return HTTPResponse(status: .partialContent, headers: headers,
                                    body: .borrowed(UnsafeRawBufferPointer(rebasing: asset.bytes[range])))
            case .unsatisfiable:
                headers.add("Content-Range", "bytes */\(size)")
                return HTTPResponse(status: .rangeNotSatisfiable, headers: headers)
            case .ignored:
                break
            }
        }
        return HTTPResponse(status: .ok, headers: headers, body: .borrowed(asset.bytes))
    }

    /// The asset at `path` (+ the index file's name), composed on the stack.
    private func lookUp(_ path: [UInt8], appendingIndex: Bool) -> Int? {
        guard appendingIndex else { return path.withUnsafeBytes { catalog.index(forPath: $0) } }
        let count = path.count + indexBytes.count
        return withUnsafeTemporaryAllocation(byteCount: count, alignment: 1) { buffer in
            guard let target = buffer.baseAddress else { return nil }
            path.withUnsafeBytes { if let source = $0.baseAddress { target.copyMemory(from: source, byteCount: $0.count) } }
            indexBytes.withUnsafeBytes {
                if let source = $0.baseAddress { (target + path.count).copyMemory(from: source, byteCount: $0.count) }
            }
            return catalog.index(forPath: UnsafeRawBufferPointer(buffer))
        }
    }

    /// If-Range: the range is wanted only while the representation is the one the client has.
    private func rangeApplies(_ request: HTTPRequest, _ asset: EmbeddedAsset) -> Bool {
        guard let condition = request.headers.first("if-range") else { return true }
        return condition.elementsEqual(asset.etag)  // strong comparison (RFC 9110 §13.1.5)
    }

    /// Weak comparison against an If-None-Match list (RFC 9110 §13.1.2): `*`, or any entity
    /// tag equal once a `W/` prefix is dropped.
    static func matches(_ etag: UnsafeRawBufferPointer, anyOf list: [UInt8]) -> Bool {
        let opaque = etag.starts(with: [0x57, 0x2F]) ? Array(etag.dropFirst(2)) : Array(etag)
        for item in list.split(separator: 0x2C) {
            var candidate = item.drop { $0 == 0x20 || $0 == 0x09 }
            while let last = candidate.last, last == 0x20 || last == 0x09 { candidate = candidate.dropLast() }
            if candidate.count == 1 && candidate.first == 0x2A { return true }
            if candidate.starts(with: [0x57, 0x2F]) { candidate = candidate.dropFirst(2) }
            if candidate.elementsEqual(opaque) { return true }
        }
        return false
    }
}

/// One `Range: bytes=...` request against a representation of `size` bytes (RFC 9110 §14).
enum ByteRange: Equatable {
    case range(Range<Int>)
    case unsatisfiable
    /// Not a single well-formed byte range: serve the whole representation.
    case ignored

    static func parse(_ header: [UInt8], size: Int) -> ByteRange {
        let prefix = Array("bytes=".utf8)
        guard header.count > prefix.count,
              zip(header, prefix).allSatisfy({ ($0 | 0x20) == ($1 | 0x20) || $0 == $1 }) else { return .ignored }
        let spec = header[prefix.count...].filter { $0 != 0x20 && $0 != 0x09 }
        if spec.contains(0x2C) { return .ignored }  // several ranges: allowed to answer with all of it
        guard let dash = spec.firstIndex(of: 0x2D) else { return .ignored }
        let first = decimal(spec[spec.startIndex..<dash])
        let last = decimal(spec[(dash + 1)...])
        switch (first, last) {
        case (.some(let start), let end):
            if dash + 1 < spec.endIndex && end == nil { return .ignored }
            guard start < size else { return .unsatisfiable }
            let stop = min(end.map { $0 + 1 } ?? size, size)
            return stop > start ? .range(start..<stop) : .ignored
        case (nil, .some(let suffix)):
            guard dash == spec.startIndex else { return .ignored }
            guard suffix > 0, size > 0 else { return .unsatisfiable }
            return .range(max(0, size - suffix)..<size)
        default:
            return .ignored
        }
    }

    private static func decimal(_ bytes: ArraySlice<UInt8>) -> Int? {
        guard !bytes.isEmpty, bytes.count <= 18 else { return nil }
        var value = 0
        for byte in bytes {
            guard byte >= 0x30 && byte <= 0x39 else { return nil }
            value = value * 10 + Int(byte - 0x30)
        }
        return value
    }
}

extension Router {
    /// Serves `files` for GET and HEAD requests that no route matches.
    public func serve(_ files: StaticFiles) {
        fallback { request in files.respond(to: request) }
    }
}
