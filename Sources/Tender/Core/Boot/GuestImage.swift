// Reads an image file and decides whether this tender may run it.
#if canImport(Glibc)
import Glibc
#endif
import SwiftletABI

public struct GuestImage {
    public let path: String
    public let elf: ELFImage
    public let symbols: SymbolTable?

    public static let maximumFileSize = 256 << 20

    public init(path: String, memorySize: UInt64, target: UInt32) throws(TenderError) {
        self.path = path
        let bytes = try Self.readFile(path)
        do {
            elf = try ELFImage(bytes: bytes, memorySize: memorySize)
        } catch {
            throw .image("\(path) is not a loadable Swiftlet image: \(error)")
        }
        do {
            try elf.checkABI(target: target)
        } catch {
            throw .image("\(path): \(error)")
        }
        symbols = SymbolTable(image: elf)
    }

    static func readFile(_ path: String) throws(TenderError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .system("cannot open image \(path)", errno: errno) }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0 else { throw .system("cannot stat image \(path)", errno: errno) }
        guard status.st_mode & S_IFMT == S_IFREG else { throw .image("\(path) is not a regular file") }
        let size = Int(status.st_size)
        guard size <= maximumFileSize else { throw .image("\(path) is \(size) bytes; images over \(maximumFileSize) bytes are refused") }
        var bytes = [UInt8](repeating: 0, count: size)
        var done = 0
        while done < size {
            let count = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + done, size - done) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { throw .system("cannot read image \(path)", errno: count < 0 ? errno : EIO) }
            done += count
        }
        return bytes
    }
}
