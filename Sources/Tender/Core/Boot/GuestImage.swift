// Reads an image file and decides whether this tender may run it: only its headers, notes and
// symbol table, then its segments straight into guest memory.
import CTender
import SwiftletABI

public struct GuestImage {
    public let path: String
    public let elf: ELFImage
    public let symbols: SymbolTable?
    /// The open image file: read on demand, never whole (images carry DWARF the tender never uses).
    let file: ELFFile

    public static let maximumFileSize = 256 << 20

    public init(path: String, memorySize: UInt64, target: UInt32) throws(TenderError) {
        self.path = path
        let file = try Self.open(path)
        do {
            elf = try ELFImage(source: file, memorySize: memorySize)
        } catch {
            throw .image("\(path) is not a loadable Swiftlet image: \(error)")
        }
        do {
            try elf.checkABI(target: target)
        } catch {
            throw .image("\(path): \(error)")
        }
        symbols = SymbolTable(deferringReadOf: elf)
        // What the tender keeps: segments, entry, symbols. The file stays open to load from.
        file.dropMirror()
        self.file = file
    }

    /// Reads the segments straight from the file into `memory`, then closes the file.
    public func load(into memory: GuestMemory) throws(ELFError) {
        defer { file.close() }
        try elf.load(into: memory)
    }

    static func open(_ path: String) throws(TenderError) -> ELFFile {
        let fd = ctender_open(path, O_RDONLY | O_CLOEXEC, 0)
        guard fd >= 0 else { throw .system("cannot open image \(path)", errno: SystemError.last) }
        var status = stat()
        guard fstat(fd, &status) == 0 else {
            let error = SystemError.last
            close(fd)
            throw .system("cannot stat image \(path)", errno: error)
        }
        guard status.st_mode & mode_t(S_IFMT) == mode_t(S_IFREG) else { close(fd); throw .image("\(path) is not a regular file") }
        let size = Int(status.st_size)
        guard size <= maximumFileSize else { close(fd); throw .image("\(path) is \(size) bytes; images over \(maximumFileSize) bytes are refused") }
        return ELFFile(fd: fd, size: UInt64(size))
    }
}
