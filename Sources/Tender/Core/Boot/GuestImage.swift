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
            throw .image(Self.explain(error, path: path, target: target))
        }
        symbols = SymbolTable(image: elf)
    }


    /// What to tell the user about an image this tender may not run, and how to fix it.
    static func explain(_ error: ELFError, path: String, target: UInt32) -> String {
        switch error {
        case .missingABINote:
            return "\(path) has no Swiftlet ABI note; build it with `swiftlet build`"
        case let .abiVersionMismatch(found, expected):
            return "\(path) was built for Swiftlet ABI \(found), this tender speaks ABI \(expected); rebuild it with this `swiftlet build`"
        case let .targetNotSupported(targets, target):
            return "\(path) was built for target \(TargetNames.describe(targets)), not \(TargetNames.describe(target)); rebuild it with `swiftlet build --target \(TargetNames.describe(target))`"
        default:
            return "\(path) is not a loadable Swiftlet image: \(error)"
        }
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
