// An in-memory disk that can crash: it keeps what a flush made durable apart from what was
// only written since, counts sector writes, and after `crashAfter` of them fails every
// request, as a tender killed mid-write would. What survives a crash is chosen afterwards:
// every write that reached the disk in order (a multi-sector write cut off part-way is a
// torn write), none of the unflushed ones, or any subset of them in any order (a disk
// cache that reorders before a flush).
import Swiftlet
import TestSupport

final class FaultyDisk: BlockStorage {
    let blockSize = 512
    var capacity: UInt64 { UInt64(current.count) }
    /// What the last flush made durable.
    private(set) var durable: [UInt8]
    /// What reads see: durable plus unflushed writes.
    private(set) var current: [UInt8]
    /// Unflushed sector writes, in order.
    private(set) var unflushed: [(sector: Int, bytes: [UInt8])] = []
    private(set) var sectorWrites = 0
    private(set) var flushes = 0
    var crashAfter: Int?
    private(set) var crashed = false

    init(capacity: Int) {
        durable = [UInt8](repeating: 0, count: capacity)
        current = durable
    }

    init(image: [UInt8]) {
        durable = image
        current = image
    }

    func read(at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws(BlockError) {
        guard !crashed else { throw .deviceFailed }
        try check(offset, buffer.count)
        for index in 0..<buffer.count { buffer[index] = current[Int(offset) + index] }
    }

    func write(at offset: UInt64, from buffer: UnsafeRawBufferPointer) throws(BlockError) {
        guard !crashed else { throw .deviceFailed }
        try check(offset, buffer.count)
        for sector in 0..<buffer.count / blockSize {
            if let crashAfter, sectorWrites >= crashAfter { crashed = true; throw .deviceFailed }
            let bytes = Array(buffer[sector * blockSize..<(sector + 1) * blockSize])
            let at = Int(offset) / blockSize + sector
            current.replaceSubrange(at * blockSize..<(at + 1) * blockSize, with: bytes)
            unflushed.append((at, bytes))
            sectorWrites += 1
        }
    }

    func flush() throws(BlockError) {
        guard !crashed else { throw .deviceFailed }
        if let crashAfter, sectorWrites >= crashAfter { crashed = true; throw .deviceFailed }
        durable = current
        unflushed.removeAll()
        flushes += 1
    }

    private func check(_ offset: UInt64, _ count: Int) throws(BlockError) {
        guard offset % UInt64(blockSize) == 0, count % blockSize == 0, offset + UInt64(count) <= capacity else { throw .refused }
    }

    enum Survival { case inOrder, noneUnflushed, reordered(seed: UInt64) }

    /// The disk as it would be found after the crash.
    func image(after survival: Survival) -> [UInt8] {
        switch survival {
        case .inOrder: return current
        case .noneUnflushed: return durable
        case .reordered(let seed):
            var random = SplitMix64(seed: seed)
            var image = durable
            for write in unflushed.shuffled(using: &random) where random.next() % 2 == 0 {
                image.replaceSubrange(write.sector * blockSize..<(write.sector + 1) * blockSize, with: write.bytes)
            }
            return image
        }
    }
}

/// A disk that remembers how far reads reached, passing every request on.
final class ReadTracker: BlockStorage {
    let disk: any BlockStorage
    private(set) var highestOffsetRead: UInt64 = 0

    init(_ disk: any BlockStorage) { self.disk = disk }

    var blockSize: Int { disk.blockSize }
    var capacity: UInt64 { disk.capacity }

    func read(at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws(BlockError) {
        highestOffsetRead = max(highestOffsetRead, offset + UInt64(buffer.count))
        try disk.read(at: offset, into: buffer)
    }

    func write(at offset: UInt64, from buffer: UnsafeRawBufferPointer) throws(BlockError) { try disk.write(at: offset, from: buffer) }

    func flush() throws(BlockError) { try disk.flush() }
}
