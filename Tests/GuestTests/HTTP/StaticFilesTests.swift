// StaticFiles over a synthetic asset table: content type and ETag, index files and the
// folder redirect, If-None-Match (weak comparison, lists, `*`) → 304, single ranges → 206,
// unsatisfiable → 416, multiple or malformed ranges → the whole file, If-Range.
import Testing
@testable import Swiftlet

@Suite struct StaticFilesTests {
    static let page = Array("<!doctype html><title>t</title>".utf8)
    static let blob = (0..<1000).map { UInt8(truncatingIfNeeded: $0 * 7) }
    nonisolated(unsafe) static let table = SyntheticAssetTable([
        .init(path: "/blob.bin", contentType: "application/octet-stream", etag: "\"b10b\"", sha256: Array(repeating: 1, count: 32), bytes: blob),
        .init(path: "/docs/index.html", contentType: "text/html; charset=utf-8", etag: "\"d0c5\"", sha256: Array(repeating: 2, count: 32), bytes: page),
        .init(path: "/index.html", contentType: "text/html; charset=utf-8", etag: "\"1dx\"", sha256: Array(repeating: 3, count: 32), bytes: page),
    ])

    static func get(_ target: String, method: String = "GET", _ headers: [(String, String)] = []) -> HTTPResponse? {
        var fields = HTTPHeaders()
        for (name, value) in headers { fields.add(name, value) }
        let head = HTTPRequestHead(method: Array(method.utf8), target: Array(target.utf8), version: .http11,
                                   headers: fields, keepAlive: true, expectContinue: false)
        return StaticFiles(table.catalog).respond(to: HTTPRequest(head: head))
    }

    static func bytes(_ response: HTTPResponse?) -> [UInt8]? {
        guard case .borrowed(let buffer)? = response?.body else { return nil }
        return Array(buffer)
    }

    @Test func servesAssetsWithTypeAndETag() throws {
        let response = try #require(Self.get("/blob.bin"))
        #expect(response.status == .ok)
        #expect(response.headers["Content-Type"] == "application/octet-stream")
        #expect(response.headers["ETag"] == "\"b10b\"")
        #expect(response.headers["Accept-Ranges"] == "bytes")
        #expect(Self.bytes(response) == Self.blob)
        #expect(Self.get("/missing") == nil)
    }

    @Test func indexFilesAndFolderRedirects() throws {
        #expect(Self.bytes(Self.get("/")) == Self.page)
        #expect(Self.bytes(Self.get("/docs/")) == Self.page)
        let redirect = try #require(Self.get("/docs"))
        #expect(redirect.status == .movedPermanently)
        #expect(redirect.headers["Location"] == "/docs/")
    }

    @Test(arguments: ["\"b10b\"", "W/\"b10b\"", "\"other\", \"b10b\"", "*"])
    func matchingETagsGet304(_ candidates: String) throws {
        let response = try #require(Self.get("/blob.bin", [("If-None-Match", candidates)]))
        #expect(response.status == .notModified)
        #expect(response.headers["ETag"] == "\"b10b\"")
    }

    @Test func aDifferentETagGetsTheFile() throws {
        #expect(Self.get("/blob.bin", [("If-None-Match", "\"old\"")])?.status == .ok)
    }

    @Test(arguments: [
        ("bytes=0-99", 0..<100),
        ("bytes=990-", 990..<1000),
        ("bytes=-10", 990..<1000),
        ("bytes=500-5000", 500..<1000),
        ("BYTES=1-1", 1..<2),
        ("bytes=-5000", 0..<1000),
    ])
    func rangesGet206(_ header: String, _ range: Range<Int>) throws {
        let response = try #require(Self.get("/blob.bin", [("Range", header)]))
        #expect(response.status == .partialContent)
        #expect(response.headers["Content-Range"] == "bytes \(range.lowerBound)-\(range.upperBound - 1)/1000")
        #expect(Self.bytes(response) == Array(Self.blob[range]))
    }

    @Test(arguments: ["bytes=1000-", "bytes=5000-6000", "bytes=-0"])
    func unsatisfiableRangesGet416(_ header: String) throws {
        let response = try #require(Self.get("/blob.bin", [("Range", header)]))
        #expect(response.status == .rangeNotSatisfiable)
        #expect(response.headers["Content-Range"] == "bytes */1000")
    }

    @Test(arguments: ["bytes=0-1,5-6", "items=0-1", "bytes=5-1", "bytes=a-b", "bytes=", "bytes=1"])
    func otherRangesGetTheWholeFile(_ header: String) throws {
        let response = try #require(Self.get("/blob.bin", [("Range", header)]))
        #expect(response.status == .ok)
        #expect(Self.bytes(response)?.count == 1000)
    }

    @Test func ifRangeHonoursTheRangeOnlyForTheCurrentETag() throws {
        #expect(Self.get("/blob.bin", [("Range", "bytes=0-9"), ("If-Range", "\"b10b\"")])?.status == .partialContent)
        #expect(Self.get("/blob.bin", [("Range", "bytes=0-9"), ("If-Range", "\"old\"")])?.status == .ok)
    }

    @Test func headIgnoresRanges() throws {
        #expect(Self.get("/blob.bin", method: "HEAD", [("Range", "bytes=0-9")])?.status == .ok)
    }
}
