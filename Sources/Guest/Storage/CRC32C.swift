// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of every record and
// superblock of the store: it catches all burst errors up to 32 bits and every odd number of
// flipped bits. In a guest on a CPU with SSE4.2, the `crc32` instruction (Freestanding/crc32c.c,
// about 5x the tables' speed: opening a store checksums its whole checkpoint); elsewhere
// slice-by-8 tables, so replaying a log runs at memory speed rather than a byte at a time.

#if SWIFTLET_GUEST
@_extern(c, "swiftlet_crc32c_update")
func swiftletCRC32CUpdate(_ state: UInt32, _ bytes: UnsafePointer<UInt8>?, _ count: Int) -> UInt32
#endif

public enum CRC32C {
    private static let tables: [UInt32] = {
        var table = [UInt32](repeating: 0, count: 8 * 256)
        for byte in 0..<256 {
            var crc = UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
            table[byte] = crc
        }
        for slice in 1..<8 {
            for byte in 0..<256 {
                let previous = table[(slice - 1) * 256 + byte]
                table[slice * 256 + byte] = (previous >> 8) ^ table[Int(previous & 0xFF)]
            }
        }
        return table
    }()

    /// The CRC-32C of `bytes`, continuing from `crc` (the checksum of what came before; 0 to start).
    public static func checksum(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        #if SWIFTLET_GUEST
        if hasInstruction {
            return ~swiftletCRC32CUpdate(~crc, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count)
        }
        #endif
        return tableChecksum(bytes, continuing: crc)
    }

    #if SWIFTLET_GUEST
    /// Whether CPUID reports SSE4.2 (leaf 1, ECX bit 20) and the instruction gives the check
    /// value of "123456789" that the tables give (asked once: CPUID exits to the host on hvt).
    private static let hasInstruction: Bool = {
        var registers: (UInt32, UInt32, UInt32, UInt32) = (0, 0, 0, 0)
        withUnsafeMutablePointer(to: &registers) { tuple in
            tuple.withMemoryRebound(to: UInt32.self, capacity: 4) { swiftletCPUID(1, 0, $0) }
        }
        guard registers.2 & (1 << 20) != 0 else { return false }
        let check: [UInt8] = Array("123456789".utf8)
        return check.withUnsafeBufferPointer { ~swiftletCRC32CUpdate(~0, $0.baseAddress, $0.count) }
            == check.withUnsafeBytes { tableChecksum($0) }
    }()
    #endif

    /// `checksum` with the slice-by-8 tables.
    static func tableChecksum(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        var state = ~crc
        var index = 0
        let count = bytes.count
        tables.withUnsafeBufferPointer { t in
            while count - index >= 8 {
                let low = state ^ (UInt32(bytes[index]) | UInt32(bytes[index + 1]) << 8
                                   | UInt32(bytes[index + 2]) << 16 | UInt32(bytes[index + 3]) << 24)
                state = t[7 * 256 + Int(low & 0xFF)] ^ t[6 * 256 + Int((low >> 8) & 0xFF)]
                    ^ t[5 * 256 + Int((low >> 16) & 0xFF)] ^ t[4 * 256 + Int(low >> 24)]
                    ^ t[3 * 256 + Int(bytes[index + 4])] ^ t[2 * 256 + Int(bytes[index + 5])]
                    ^ t[1 * 256 + Int(bytes[index + 6])] ^ t[Int(bytes[index + 7])]
                index += 8
            }
            while index < count {
                state = (state >> 8) ^ t[Int((state ^ UInt32(bytes[index])) & 0xFF)]
                index += 1
            }
        }
        return ~state
    }

    public static func checksum(_ bytes: [UInt8], continuing crc: UInt32 = 0) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0, continuing: crc) }
    }
}
