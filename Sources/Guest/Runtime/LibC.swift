// What the C library shims in Freestanding/libc.c forward to: allocation, console and
// randomness served by the Swift runtime pieces.
#if SWIFTLET_GUEST
import SwiftletABI

@_cdecl("swiftlet_heap_allocate")
func heapAllocate(_ size: Int, _ alignment: Int) -> UnsafeMutableRawPointer {
    guard let pointer = Runtime.heap.allocate(byteCount: max(size, 1), alignment: max(alignment, 16)) else {
        Crash.outOfMemory(requested: size)
    }
    return pointer
}

@_cdecl("swiftlet_heap_free")
func heapFree(_ pointer: UnsafeMutableRawPointer) {
    Runtime.heap.deallocate(pointer)
}

@_cdecl("swiftlet_heap_usable_size")
func heapUsableSize(_ pointer: UnsafeMutableRawPointer) -> Int {
    Runtime.heap.usableSize(pointer)
}

@_cdecl("swiftlet_heap_out_of_memory")
func heapOutOfMemory(_ requested: Int) -> Never {
    Crash.outOfMemory(requested: requested)
}

@_cdecl("swiftlet_console_putchar")
func consolePutchar(_ byte: UInt8) {
    Console.append(byte)
}

@_cdecl("swiftlet_random_fill")
func randomFill(_ buffer: UnsafeMutableRawPointer, _ count: Int) {
    Runtime.random.fill(UnsafeMutableRawBufferPointer(start: buffer, count: count))
}
#endif
