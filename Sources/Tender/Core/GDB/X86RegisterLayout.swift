// The x86-64 registers as a GDB client sees them: one table, from which both the target
// description (`target.xml`, answered through qXfer:features:read) and the byte layout of the
// `g`/`G`/`p`/`P` packets follow, so the two cannot disagree. The order of the core and SSE
// features is GDB's own amd64 numbering (gdb/features/i386/64bit-*.xml); fs_base and gs_base
// come from its segments feature.

public struct GDBRegister: Equatable, Sendable {
    public var name: String
    public var bytes: Int
    public var type: String
    public var feature: Feature
    /// GDB's register group, where it is not the default for the type (the x87 control words).
    public var group: String?

    public enum Feature: String, CaseIterable, Sendable {
        case core = "org.gnu.gdb.i386.core"
        case sse = "org.gnu.gdb.i386.sse"
        case segments = "org.gnu.gdb.i386.segments"
    }
}

public enum X86RegisterLayout {
    public static let registers: [GDBRegister] = {
        var list: [GDBRegister] = []
        func add(_ names: [String], _ bytes: Int, _ type: String, _ feature: GDBRegister.Feature, group: String? = nil) {
            list += names.map { GDBRegister(name: $0, bytes: bytes, type: type, feature: feature, group: group) }
        }
        add(["rax", "rbx", "rcx", "rdx", "rsi", "rdi"], 8, "int64", .core)
        add(["rbp", "rsp"], 8, "data_ptr", .core)
        add((8...15).map { "r\($0)" }, 8, "int64", .core)
        add(["rip"], 8, "code_ptr", .core)
        add(["eflags"], 4, "i386_eflags", .core)
        add(["cs", "ss", "ds", "es", "fs", "gs"], 4, "int32", .core)
        add((0...7).map { "st\($0)" }, 10, "i387_ext", .core)
        add(["fctrl", "fstat", "ftag", "fiseg", "fioff", "foseg", "fooff", "fop"], 4, "int", .core, group: "float")
        add((0...15).map { "xmm\($0)" }, 16, "vec128", .sse)
        add(["mxcsr"], 4, "i386_mxcsr", .sse)
        add(["fs_base", "gs_base"], 8, "int", .segments)
        return list
    }()

    /// Byte offset of each register in a `g` reply, and the total.
    public static let offsets: [Int] = registers.reduce(into: [0]) { $0.append($0.last! + $1.bytes) }
    public static var size: Int { offsets.last! }

    public static func number(of name: String) -> Int? { registers.firstIndex { $0.name.bytesEqual(name) } }

    public static let rip = number(of: "rip")!
    public static let eflags = number(of: "eflags")!

    /// What a debugger may change: the general registers, rip, the fs/gs bases and the
    /// arithmetic flags. A tender refuses a write to anything else (segment selectors, x87 and
    /// SSE state) rather than drop it silently.
    /// Indexed by register number.
    public static let debuggerWritable: [Bool] = registers.map { register in
        writableNames.contains { register.name.bytesEqual($0) }
    }
    private static let writableNames: [StaticString] = [
        "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
        "rip", "eflags", "fs_base", "gs_base",
    ]
    /// CF PF AF ZF SF DF OF AC: never IF or IOPL, and TF belongs to the tender's stepping.
    public static let debuggerWritableFlags: UInt64 = 0x1 | 0x4 | 0x10 | 0x40 | 0x80 | 0x400 | 0x800 | 0x4_0000

    /// The target description GDB reads with qXfer:features:read:target.xml.
    public static let targetXML: String = {
        var xml = """
            <?xml version="1.0"?>
            <!DOCTYPE target SYSTEM "gdb-target.dtd">
            <target version="1.0">
            <architecture>i386:x86-64</architecture>

            """
        for feature in GDBRegister.Feature.allCases {
            xml += "<feature name=\"\(feature.rawValue)\">\n"
            xml += types(feature)
            for (number, register) in registers.enumerated() where register.feature == feature {
                let group = register.group.map { " group=\"\($0)\"" } ?? ""
                xml += "<reg name=\"\(register.name)\" bitsize=\"\(register.bytes * 8)\" type=\"\(register.type)\" regnum=\"\(number)\"\(group)/>\n"
            }
            xml += "</feature>\n"
        }
        return xml + "</target>\n"
    }()

    /// The types a feature's registers use, defined before them.
    private static func types(_ feature: GDBRegister.Feature) -> String {
        switch feature {
        case .core: return """
            <flags id="i386_eflags" size="4">
            <field name="CF" start="0" end="0"/><field name="" start="1" end="1"/><field name="PF" start="2" end="2"/>
            <field name="AF" start="4" end="4"/><field name="ZF" start="6" end="6"/><field name="SF" start="7" end="7"/>
            <field name="TF" start="8" end="8"/><field name="IF" start="9" end="9"/><field name="DF" start="10" end="10"/>
            <field name="OF" start="11" end="11"/><field name="NT" start="14" end="14"/><field name="RF" start="16" end="16"/>
            <field name="VM" start="17" end="17"/><field name="AC" start="18" end="18"/><field name="VIF" start="19" end="19"/>
            <field name="VIP" start="20" end="20"/><field name="ID" start="21" end="21"/>
            </flags>

            """
        case .sse: return """
            <vector id="v4f" type="ieee_single" count="4"/>
            <vector id="v2d" type="ieee_double" count="2"/>
            <vector id="v16i8" type="int8" count="16"/>
            <vector id="v8i16" type="int16" count="8"/>
            <vector id="v4i32" type="int32" count="4"/>
            <vector id="v2i64" type="int64" count="2"/>
            <union id="vec128">
            <field name="v4_float" type="v4f"/><field name="v2_double" type="v2d"/><field name="v16_int8" type="v16i8"/>
            <field name="v8_int16" type="v8i16"/><field name="v4_int32" type="v4i32"/><field name="v2_int64" type="v2i64"/>
            <field name="uint128" type="uint128"/>
            </union>
            <flags id="i386_mxcsr" size="4">
            <field name="IE" start="0" end="0"/><field name="DE" start="1" end="1"/><field name="ZE" start="2" end="2"/>
            <field name="OE" start="3" end="3"/><field name="UE" start="4" end="4"/><field name="PE" start="5" end="5"/>
            <field name="DAZ" start="6" end="6"/><field name="IM" start="7" end="7"/><field name="DM" start="8" end="8"/>
            <field name="ZM" start="9" end="9"/><field name="OM" start="10" end="10"/><field name="UM" start="11" end="11"/>
            <field name="PM" start="12" end="12"/><field name="FZ" start="15" end="15"/>
            </flags>

            """
        case .segments: return ""
        }
    }
}

/// Every register's bytes in `g` packet order (little-endian values, as the target stores them).
public struct GDBRegisterFile: Equatable, Sendable {
    public var bytes: [UInt8]

    public init() { bytes = [UInt8](repeating: 0, count: X86RegisterLayout.size) }

    public init?(bytes: [UInt8]) {
        guard bytes.count == X86RegisterLayout.size else { return nil }
        self.bytes = bytes
    }

    /// Register `number`'s bytes; nil for a number GDB did not get from the target description.
    public func bytes(of number: Int) -> ArraySlice<UInt8>? {
        guard number >= 0, number < X86RegisterLayout.registers.count else { return nil }
        return bytes[X86RegisterLayout.offsets[number] ..< X86RegisterLayout.offsets[number + 1]]
    }

    /// Replaces register `number`'s bytes; false if the number is unknown or the size differs.
    public mutating func set(_ number: Int, bytes value: [UInt8]) -> Bool {
        guard let current = bytes(of: number), current.count == value.count else { return false }
        bytes.replaceSubrange(current.indices, with: value)
        return true
    }

    /// An integer register's value (the low 8 bytes at most).
    public subscript(name: String) -> UInt64 {
        get {
            guard let number = X86RegisterLayout.number(of: name), let slice = bytes(of: number) else { return 0 }
            return slice.prefix(8).reversed().reduce(0) { $0 << 8 | UInt64($1) }
        }
        set {
            guard let number = X86RegisterLayout.number(of: name), let slice = bytes(of: number) else { return }
            var value = newValue
            for index in slice.indices {
                bytes[index] = UInt8(truncatingIfNeeded: value)
                value >>= 8
            }
        }
    }
}
