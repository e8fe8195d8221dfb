// A libFuzzer harness over the JSON parser and writer (Sources/Guest/JSON): the input is the
// JSON text itself.
//
// Build (from the repository root):
//   swiftc -sanitize=fuzzer,address -parse-as-library -module-name JSONFuzzer \
//     -I Sources/ABI/include Tests/Fuzz/JSONFuzzer.swift $(find Sources/Guest -name '*.swift') \
//     -o /tmp/json-fuzzer
// Run: FUZZER=json Tests/Fuzz/run.sh [seconds]
//
// Invariants (a violation traps, so libFuzzer reports it):
// - parsing never traps, and a refusal names a byte offset inside the input (or its end);
// - an accepted text writes back as compact JSON that parses to the same value, and writing
//   that again gives the same bytes (the writer is a fixed point);
// - with a depth limit of 4, anything accepted is also accepted with the default limit, to the
//   same value, and a `tooDeep` refusal only happens where the default limit accepts or also refuses;
// - reading every accessor and decoding into a small struct never traps.

private struct Probe: JSONDecodable {
    var name: String?
    var count: Int?
    var values: [Double]?

    init(json: JSONValue) throws(JSONError) {
        name = try json.optional("name")
        count = try json.optional("count")
        values = try json.optional("values")
    }
}

private func fail(_ message: String) -> Never {
    fatalError("JSONFuzzer invariant: \(message)")
}

private func touch(_ value: JSONValue) {
    _ = (value.int, value.int64, value.double, value.string, value.bool, value.isNull)
    _ = (value[0], value["name"])
    _ = try? Probe(json: value)
    for element in value.array ?? [] { touch(element) }
    for member in value.members ?? [] { touch(member.value) }
}

@_cdecl("__asan_default_options")
public func asanDefaultOptions() -> UnsafePointer<CChar> {
    UnsafeRawPointer(("detect_leaks=0" as StaticString).utf8Start).assumingMemoryBound(to: CChar.self)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    let shallow = JSONLimits(maxDepth: 4)
    var parsed: JSONValue?
    do throws(JSONError) {
        parsed = try JSONValue.parse(input)
    } catch {
        guard let offset = error.offset, offset >= 0, offset <= input.count else {
            fail("refusal without an offset inside the input: \(error)")
        }
    }
    do throws(JSONError) {
        let value = try JSONValue.parse(input, limits: shallow)
        if parsed != value { fail("depth 4 accepted what the default limit did not, or to another value") }
    } catch {
        if error.kind != .tooDeep && parsed != nil { fail("depth 4 refused with \(error) what the default accepts") }
    }
    guard let value = parsed else { return 0 }
    touch(value)
    let written = value.bytes
    do throws(JSONError) {
        let again = try JSONValue.parse(written)
        if again != value { fail("written text parses to another value: \(value.text)") }
        if again.bytes != written { fail("writing is not a fixed point: \(value.text)") }
    } catch {
        fail("written text refused (\(error)): \(value.text)")
    }
    return 0
}
