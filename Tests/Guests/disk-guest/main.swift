// disk-guest: a boot counter on the first disk, the same on every target, for the block-device
// tests. Sector 0 holds "swiftlet" and the number of boots so far; each boot reads it, writes
// one more and flushes. Then it writes a 1.5 MiB pattern that depends on the boot (more than
// one request: SWIFTLET_BLOCK_IO_MAX is 1 MiB) after the first 4 KiB and reads it back.
import Swiftlet

guard let disk = BlockDevice.first else {
    print("disk-guest: no disk")
    exit(2)
}
print("disk-guest: \(disk.name), \(disk.capacity) bytes in blocks of \(disk.blockSize)")
let magic: UInt64 = 0x7465_6c74_6669_7773   // "swiftlet", little-endian
let sector = UnsafeMutableRawBufferPointer.allocate(byteCount: 512, alignment: 16)
let patternBytes = 3 << 19
let written = UnsafeMutableRawBufferPointer.allocate(byteCount: patternBytes, alignment: 16)
let readBack = UnsafeMutableRawBufferPointer.allocate(byteCount: patternBytes, alignment: 16)
do throws(BlockError) {
    try disk.read(at: 0, into: sector)
    let boots = sector.load(as: UInt64.self) == magic ? sector.load(fromByteOffset: 8, as: UInt64.self) : 0
    sector.storeBytes(of: magic, as: UInt64.self)
    sector.storeBytes(of: boots + 1, toByteOffset: 8, as: UInt64.self)
    try disk.write(at: 0, from: UnsafeRawBufferPointer(sector))
    try disk.flush()
    for index in 0..<patternBytes { written[index] = UInt8(truncatingIfNeeded: index &* 31 &+ Int(boots)) }
    try disk.write(at: 4096, from: UnsafeRawBufferPointer(written))
    try disk.read(at: 4096, into: readBack)
    let intact = (0..<patternBytes).allSatisfy { written[$0] == readBack[$0] }
    print("disk-guest: boot \(boots + 1), pattern \(intact ? "intact" : "damaged")")
} catch {
    print("disk-guest: \(error)")
    exit(1)
}
