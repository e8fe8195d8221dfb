// An image on disk, as far as the run path needs to know: is it one, and which targets does
// its ABI note allow. This is a peek, not the check: the tender validates the whole file
// (TenderCore's ELFImage) and refuses a bad one with the precise reason.
import CRunShim
import SwiftletABI

public enum ImageFile {
    /// An ELF file is an image; a folder or a Swift file is an application to build.
    public static func isImage(_ path: String) -> Bool {
        Host.kind(of: path) == .regular && Host.prefix(ofFile: path, count: 4) == [0x7F, 0x45, 0x4C, 0x46]
    }

    /// The targets the note allows, hvt first; nil when the note cannot be read.
    public static func targets(of path: String) -> [Target]? {
        guard let file = ReadOnlyFile(path), let bits = SwiftletNote(file, type: SWIFTLET_NOTE_ABI)?.word(1) else { return nil }
        return Target.named(by: bits)
    }
}

extension ImageFile {
    /// Whether the note allows the virtio target only: QEMU runs it, through the full CLI.
    public static func isVirtioOnly(_ path: String) -> Bool {
        guard let file = ReadOnlyFile(path), let bits = SwiftletNote(file, type: SWIFTLET_NOTE_ABI)?.word(1) else { return false }
        return bits == SWIFTLET_TARGET_VIRTIO
    }
}

/// Reads pieces of a file where they are, instead of the whole image.
final class ReadOnlyFile {
    let fd: Int32

    init?(_ path: String) {
        fd = run_shim_open(path, O_RDONLY | O_CLOEXEC, 0)
        if fd < 0 { return nil }
    }

    deinit { close(fd) }

    /// `count` bytes at `offset`, or nil if the file has fewer (or `count` is absurd).
    func bytes(at offset: Int, count: Int) -> [UInt8]? {
        guard offset >= 0, count >= 0, count <= 16 << 20 else { return nil }
        var done = 0
        let bytes = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            while done < count {
                let got = pread(fd, buffer.baseAddress! + done, count - done, off_t(offset + done))
                if got < 0 && run_shim_errno() == EINTR { continue }
                guard got > 0 else { break }
                done += got
            }
            initialized = done
        }
        return done == count ? bytes : nil
    }
}

/// Finds a "Swiftlet" note of one type (an image's SWIFTLET_NOTE_ABI, a tender's
/// SWIFTLET_NOTE_TENDER) in a 64-bit little-endian ELF file's PT_NOTE segments. Every offset
/// is checked; anything odd gives nil.
struct SwiftletNote {
    let descriptor: [UInt8]

    /// The descriptor's `index`th little-endian 32-bit word, if it has one.
    func word(_ index: Int) -> UInt32? {
        guard index >= 0, descriptor.count >= (index + 1) * 4 else { return nil }
        return descriptor[index * 4 ..< index * 4 + 4].reversed().reduce(0) { $0 << 8 | UInt32($1) }
    }

    init?(_ file: ReadOnlyFile, type wanted: UInt32) {
        func integer(_ bytes: [UInt8], _ offset: Int, _ size: Int) -> Int? {
            guard offset >= 0, size <= 8, offset <= bytes.count - size else { return nil }
            var value: UInt64 = 0
            for index in (0..<size).reversed() { value = value << 8 | UInt64(bytes[offset + index]) }
            return value > UInt64(Int.max >> 1) ? nil : Int(value)
        }
        guard let header = file.bytes(at: 0, count: 64), header[4] == 2, header[5] == 1,   // ELFCLASS64, little-endian
              let tableOffset = integer(header, 0x20, 8), let entrySize = integer(header, 0x36, 2),
              let count = integer(header, 0x38, 2), entrySize >= 56,
              let table = file.bytes(at: tableOffset, count: count * entrySize) else { return nil }
        let name = Array(SWIFTLET_NOTE_NAME.utf8)
        for index in 0..<count {
            let entry = index * entrySize
            guard integer(table, entry, 4) == 4 else { continue }   // PT_NOTE
            guard let start = integer(table, entry + 8, 8), let size = integer(table, entry + 32, 8),
                  let align = integer(table, entry + 48, 8), let notes = file.bytes(at: start, count: size) else { return nil }
            let alignment = align == 8 ? 8 : 4
            func alignUp(_ value: Int) -> Int { (value + alignment - 1) / alignment * alignment }
            var note = 0
            while note + 12 <= notes.count {
                guard let nameSize = integer(notes, note, 4), let descSize = integer(notes, note + 4, 4),
                      let type = integer(notes, note + 8, 4) else { return nil }
                let nameStart = note + 12, descStart = alignUp(nameStart + nameSize)
                let end = descStart + descSize
                guard end <= notes.count else { return nil }
                let noteName = notes[nameStart..<nameStart + nameSize]
                if type == Int(wanted), noteName.elementsEqual(name + [0]) || noteName.elementsEqual(name) {
                    descriptor = Array(notes[descStart..<end])
                    return
                }
                note = alignUp(end)
            }
        }
        return nil
    }
}
