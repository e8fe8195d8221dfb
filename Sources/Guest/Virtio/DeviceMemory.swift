// Loads and stores that a device observes or races with (its registers, the rings it shares):
// relaxed atomics, so each is exactly one untorn access that the compiler neither drops, merges
// nor hoists out of a loop — what `volatile` gives C — in plain Swift (no experimental feature,
// so the guest sources still compile anywhere: host tests, fuzzers, Embedded Swift).
import Synchronization

enum DeviceMemory {
    @inline(__always)
    static func load(_: UInt8.Type, at address: UInt) -> UInt8 {
        UnsafeMutablePointer<Atomic<UInt8>>(bitPattern: address)!.pointee.load(ordering: .relaxed)
    }
    @inline(__always)
    static func store(_ value: UInt8, at address: UInt) {
        UnsafeMutablePointer<Atomic<UInt8>>(bitPattern: address)!.pointee.store(value, ordering: .relaxed)
    }
    @inline(__always)
    static func load(_: UInt16.Type, at address: UInt) -> UInt16 {
        UnsafeMutablePointer<Atomic<UInt16>>(bitPattern: address)!.pointee.load(ordering: .relaxed)
    }
    @inline(__always)
    static func store(_ value: UInt16, at address: UInt) {
        UnsafeMutablePointer<Atomic<UInt16>>(bitPattern: address)!.pointee.store(value, ordering: .relaxed)
    }
    @inline(__always)
    static func load(_: UInt32.Type, at address: UInt) -> UInt32 {
        UnsafeMutablePointer<Atomic<UInt32>>(bitPattern: address)!.pointee.load(ordering: .relaxed)
    }
    @inline(__always)
    static func store(_ value: UInt32, at address: UInt) {
        UnsafeMutablePointer<Atomic<UInt32>>(bitPattern: address)!.pointee.store(value, ordering: .relaxed)
    }
}
