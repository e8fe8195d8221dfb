// Codable through a hand-written coder: a flat key/value encoder and decoder (no Foundation).
struct FlatEncoder: Encoder {
    final class Storage { var pairs: [(String, String)] = [] }
    let storage = Storage()
    var codingPath: [any CodingKey] = []
    var userInfo: [CodingUserInfoKey: Any] = [:]
    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(Keyed<Key>(storage: storage))
    }
    func unkeyedContainer() -> any UnkeyedEncodingContainer { fatalError("flat values only") }
    func singleValueContainer() -> any SingleValueEncodingContainer { fatalError("flat values only") }

    struct Keyed<Key: CodingKey>: KeyedEncodingContainerProtocol {
        let storage: Storage
        var codingPath: [any CodingKey] = []
        mutating func encodeNil(forKey key: Key) { storage.pairs.append((key.stringValue, "nil")) }
        mutating func encode<T: Encodable>(_ value: T, forKey key: Key) { storage.pairs.append((key.stringValue, "\(value)")) }
        mutating func nestedContainer<N: CodingKey>(keyedBy: N.Type, forKey: Key) -> KeyedEncodingContainer<N> { fatalError() }
        mutating func nestedUnkeyedContainer(forKey: Key) -> any UnkeyedEncodingContainer { fatalError() }
        mutating func superEncoder() -> any Encoder { fatalError() }
        mutating func superEncoder(forKey: Key) -> any Encoder { fatalError() }
    }
}

struct FlatDecoder: Decoder {
    let pairs: [String: String]
    var codingPath: [any CodingKey] = []
    var userInfo: [CodingUserInfoKey: Any] = [:]
    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedDecodingContainer<Key> {
        KeyedDecodingContainer(Keyed<Key>(pairs: pairs))
    }
    func unkeyedContainer() throws -> any UnkeyedDecodingContainer { fatalError("flat values only") }
    func singleValueContainer() throws -> any SingleValueDecodingContainer { fatalError("flat values only") }

    struct Keyed<Key: CodingKey>: KeyedDecodingContainerProtocol {
        let pairs: [String: String]
        var codingPath: [any CodingKey] = []
        var allKeys: [Key] { pairs.keys.compactMap { Key(stringValue: $0) } }
        func contains(_ key: Key) -> Bool { pairs[key.stringValue] != nil }
        func decodeNil(forKey key: Key) -> Bool { pairs[key.stringValue] == "nil" }
        func text(_ key: Key) throws -> String {
            guard let text = pairs[key.stringValue] else {
                throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "missing"))
            }
            return text
        }
        func decode(_ type: String.Type, forKey key: Key) throws -> String { try text(key) }
        func decode(_ type: Int.Type, forKey key: Key) throws -> Int {
            guard let value = Int(try text(key)) else {
                throw DecodingError.typeMismatch(Int.self, .init(codingPath: [key], debugDescription: "not an Int"))
            }
            return value
        }
        func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
            throw DecodingError.typeMismatch(T.self, .init(codingPath: [key], debugDescription: "flat values only"))
        }
        func nestedContainer<N: CodingKey>(keyedBy: N.Type, forKey: Key) throws -> KeyedDecodingContainer<N> { fatalError() }
        func nestedUnkeyedContainer(forKey: Key) throws -> any UnkeyedDecodingContainer { fatalError() }
        func superDecoder() throws -> any Decoder { fatalError() }
        func superDecoder(forKey: Key) throws -> any Decoder { fatalError() }
    }
}

func codableRoundTrip() {
    let point = Point(x: 7, y: -8, label: "seven")
    let encoder = FlatEncoder()
    try! point.encode(to: encoder)
    print("Codable encoded:", encoder.storage.pairs.map { "\($0.0)=\($0.1)" }.joined(separator: ","))
    let decoded = try! Point(from: FlatDecoder(pairs: Dictionary(uniqueKeysWithValues: encoder.storage.pairs)))
    print("Codable decoded equal:", decoded == point)
    do {
        _ = try Point(from: FlatDecoder(pairs: ["x": "1", "y": "two", "label": "l"]))
    } catch {
        print("Codable error:", error is DecodingError)
    }
}
