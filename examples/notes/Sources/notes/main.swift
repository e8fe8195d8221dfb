// notes: a JSON notes service whose state lives on a disk (KeyValueStore on --disk) and
// survives the unikernel being killed at any moment: a PUT or DELETE is answered only after
// its commit is durable.
//   swiftlet run examples/notes --disk notes.img -p 8080:80
//   curl -X PUT -d '{"text": "hello"}' http://127.0.0.1:8080/api/notes/1
//   curl http://127.0.0.1:8080/api/notes        curl http://127.0.0.1:8080/api/notes/1
// Guest arguments: repair (keep what is readable of a damaged store instead of refusing
// writes), ip=ADDRESS/PREFIX gw=ADDRESS (instead of DHCP), log=off.
import Swiftlet

guard let disk = BlockDevice.first else {
    print("notes: no disk: run with --disk FILE")
    exit(2)
}
let store: KeyValueStore
do {
    store = try KeyValueStore(device: disk, repair: CommandLine.arguments.contains("repair"))
} catch {
    print("notes: cannot open the store on \(disk.name): \(error.description)")
    exit(3)
}
let recovery = store.recovery
print("notes: store on \(disk.name) (\(disk.capacity >> 20) MiB): \(store.count) keys, last commit \(recovery.lastCommit)"
      + (recovery.created ? ", created" : "") + (recovery.discardedIncompleteCommit ? ", an unacknowledged commit was dropped" : "")
      + (recovery.repaired ? ", repaired" : ""))
for problem in recovery.problems { print("notes: damage: \(problem)") }

let network = Network.bringUp(sendBuffer: 16 * 1024, receiveBuffer: 16 * 1024)
let router = Router()
let prefix = "note/"

/// A store error as an HTTP answer: 503 when it refuses writes, 507 when full.
func failure(_ error: StoreError) -> HTTPResponse {
    switch error {
    case .full: return .error(HTTPStatus(code: 507, reason: "Insufficient Storage"), message: error.description)
    default: return .error(HTTPStatus(code: 503, reason: "Service Unavailable"), message: error.description)
    }
}

func noteID(_ request: HTTPRequest) throws(HTTPError) -> String {
    guard let id = request.parameters["id"], !id.isEmpty, id.utf8.count <= 200 else {
        throw HTTPError(.badRequest, "a note id is 1 to 200 bytes")
    }
    return id
}

router.get("/api/notes") { _ in
    var list: [UInt8] = Array("[".utf8)
    for (index, entry) in store.scan(prefix: prefix).enumerated() {
        if index > 0 { list.append(0x2C) }
        list += "{\"id\":".utf8
        list += JSONValue.string(String(decoding: entry.key.dropFirst(prefix.utf8.count), as: UTF8.self)).bytes
        list += ",\"note\":".utf8
        list += entry.value
        list.append(0x7D)
    }
    list.append(0x5D)
    return HTTPResponse(contentType: "application/json", body: .bytes(list))
}

router.get("/api/notes/:id") { request throws(HTTPError) in
    guard let note = store.get(prefix + (try noteID(request))) else { throw HTTPError(.notFound, "no such note") }
    return HTTPResponse(contentType: "application/json", body: .bytes(note))
}

// The body must be a JSON object; it is stored as compact JSON and answered once durable.
router.put("/api/notes/:id") { request throws(HTTPError) in
    let id = try noteID(request)
    let note = try request.json(limits: JSONLimits(maxDepth: 16, maxInputSize: 16 * 1024))
    guard case .object = note else { throw HTTPError(.unprocessableContent, "a note is a JSON object") }
    do throws(StoreError) {
        try store.put(prefix + id, note.bytes)
        try store.commit()
    } catch { return failure(error) }
    return HTTPResponse(contentType: "application/json", body: .bytes(note.bytes))
}

router.delete("/api/notes/:id") { request throws(HTTPError) in
    let key = prefix + (try noteID(request))
    guard store.get(key) != nil else { throw HTTPError(.notFound, "no such note") }
    do throws(StoreError) {
        try store.delete(key)
        try store.commit()
    } catch { return failure(error) }
    return HTTPResponse(status: .noContent)
}

// What opening the store found, and its size now.
router.get("/api/store") { _ in
    var status = JSONObject()
    status.add("keys", store.count)
    status.add("live_bytes", store.liveBytes)
    status.add("last_commit", Int(recovery.lastCommit))
    status.add("replayed_bytes", Int(recovery.replayedBytes))
    status.add("created", recovery.created)
    status.add("repaired", recovery.repaired)
    status.add("read_only", store.readOnlyReason != nil)
    status.add("problems", JSONValue.array(recovery.problems.map { .string($0) }))
    status.add("compactions", store.compactions)
    return .json(status)
}

// The page counts its visits on the disk too.
router.get("/") { _ in
    let visits = (store.get("visits").map { Int(String(decoding: $0, as: UTF8.self)) ?? 0 } ?? 0) + 1
    do throws(StoreError) {
        try store.put("visits", String(visits))
        try store.commit()
    } catch { return failure(error) }
    return .html("<!doctype html><title>notes</title><h1>Notes</h1><p>\(store.scan(prefix: prefix).count) notes, visit \(visits).</p>"
                 + "<p>API: GET /api/notes, GET/PUT/DELETE /api/notes/ID (a JSON object), GET /api/store</p>\n")
}

let server: HTTPServer
do {
    server = try HTTPServer(stack: network, port: 80, router: router)
} catch {
    print("notes: port 80 is taken")
    exit(1)
}
print("notes: serving on \(network.address!) port 80")
server.run()
