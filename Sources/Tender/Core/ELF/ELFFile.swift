// ELFFile: an image file read on demand, so a tender holds only what it uses. Images carry
// DWARF (several times the size of their code); reading the whole file into the heap made each
// tender hold all of it for its whole life. Parsing reads the headers, notes and tables it
// looks at through a sparse mirror of the file that is unmapped once the image is checked;
// loading reads each segment straight into guest memory.
import CTender

public final class ELFFile: ELFBytes, @unchecked Sendable {
    public let count: UInt64
    /// Bytes read from the file so far (mirror blocks and segments), for tests and benchmarks.
    public private(set) var bytesRead: UInt64 = 0
    private var fd: Int32
    /// Anonymous mapping the size of the file; only the blocks read into it take memory.
    private var mirror: UnsafeMutableRawPointer?
    private var blockPresent: [Bool]

    /// Mirror granularity: a table or note is read in a few large reads, not field by field.
    static let blockSize = 64 << 10

    /// Takes ownership of `fd`, an open regular file of `size` bytes.
    public init(fd: Int32, size: UInt64) {
        self.fd = fd
        self.count = size
        self.blockPresent = Array(repeating: false, count: Int((size + UInt64(Self.blockSize) - 1) / UInt64(Self.blockSize)))
    }

    deinit { close() }

    /// Unmaps the mirror: everything parsed from it has been copied out. Later reads map a new one.
    public func dropMirror() {
        if let mirror { munmap(mirror, Int(count)) }
        mirror = nil
        for index in blockPresent.indices { blockPresent[index] = false }
    }

    /// Drops the mirror and closes the file; reads fail from now on.
    public func close() {
        dropMirror()
        if fd >= 0 { _ = CTender.close(fd) }
        fd = -1
    }

    public func withBytes(offset: UInt64, length: Int, _ body: (UnsafeRawBufferPointer) -> Void) -> Bool {
        guard length > 0 else { body(UnsafeRawBufferPointer(start: nil, count: 0)); return true }
        guard fd >= 0, let mirror = mappedMirror() else { return false }
        let first = Int(offset / UInt64(Self.blockSize)), last = Int((offset + UInt64(length) - 1) / UInt64(Self.blockSize))
        for block in first ... last where !blockPresent[block] {
            let start = block * Self.blockSize
            let size = min(Self.blockSize, Int(count) - start)
            guard readFully(into: UnsafeMutableRawBufferPointer(start: mirror + start, count: size), at: UInt64(start)) else { return false }
            blockPresent[block] = true
        }
        body(UnsafeRawBufferPointer(start: mirror + Int(offset), count: length))
        return true
    }

    public func copy(offset: UInt64, into destination: UnsafeMutableRawBufferPointer) -> Bool {
        fd >= 0 && readFully(into: destination, at: offset)
    }

    private func mappedMirror() -> UnsafeMutableRawPointer? {
        if let mirror { return mirror }
        let pointer = mmap(nil, Int(count), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
        guard let pointer, pointer != UnsafeMutableRawPointer(bitPattern: -1) else { return nil }
        mirror = pointer
        return pointer
    }

    /// pread until `destination` is full; false on an error or an early end of file.
    private func readFully(into destination: UnsafeMutableRawBufferPointer, at offset: UInt64) -> Bool {
        var done = 0
        while done < destination.count {
            let got = pread(fd, destination.baseAddress! + done, destination.count - done, off_t(offset) + off_t(done))
            if got < 0 && SystemError.last == EINTR { continue }
            guard got > 0 else { return false }
            done += got
            bytesRead += UInt64(got)
        }
        return true
    }
}
