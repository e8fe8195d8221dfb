// JSONValue to compact JSON text (no spaces), and the string escaping shared with JSONObject.

extension JSONValue {
    /// The compact UTF-8 JSON text of this value.
    public var bytes: [UInt8] {
        var bytes: [UInt8] = []
        write(to: &bytes)
        return bytes
    }

    public var text: String { String(decoding: bytes, as: UTF8.self) }

    /// Appends the compact JSON text. Recursion is as deep as the value: parsed values are
    /// bounded by `JSONLimits.maxDepth`, built ones by the code that builds them.
    public func write(to bytes: inout [UInt8]) {
        switch self {
        case .null: bytes += "null".utf8
        case .bool(let value): bytes += (value ? "true" : "false").utf8
        case .number(let number): bytes += number.text.utf8
        case .string(let string): appendJSONString(string, to: &bytes)
        case .array(let elements):
            bytes.append(0x5B)
            for (index, element) in elements.enumerated() {
                if index > 0 { bytes.append(0x2C) }
                element.write(to: &bytes)
            }
            bytes.append(0x5D)
        case .object(let members):
            bytes.append(0x7B)
            for (index, member) in members.enumerated() {
                if index > 0 { bytes.append(0x2C) }
                appendJSONString(member.key, to: &bytes)
                bytes.append(0x3A)
                member.value.write(to: &bytes)
            }
            bytes.append(0x7D)
        }
    }
}

/// Appends `string` quoted, escaping `"`, `\` and the control characters (RFC 8259 §7).
func appendJSONString(_ string: String, to bytes: inout [UInt8]) {
    bytes.append(0x22)
    for byte in string.utf8 {
        switch byte {
        case 0x22: bytes += [0x5C, 0x22]
        case 0x5C: bytes += [0x5C, 0x5C]
        case 0x0A: bytes += [0x5C, 0x6E]
        case 0x0D: bytes += [0x5C, 0x72]
        case 0x09: bytes += [0x5C, 0x74]
        case 0..<0x20:
            let hex: StaticString = "0123456789abcdef"
            bytes += [0x5C, 0x75, 0x30, 0x30, hex.utf8Start[Int(byte >> 4)], hex.utf8Start[Int(byte & 15)]]
        default: bytes.append(byte)
        }
    }
    bytes.append(0x22)
}
