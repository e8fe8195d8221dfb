// An image on disk, as far as the run path needs to know: is it one, and where may it run.
import TenderCore

public enum ImageFile {
    /// An ELF file is an image; a folder or a Swift file is an application to build.
    public static func isImage(_ path: String) -> Bool {
        Host.kind(of: path) == .regular && Host.prefix(ofFile: path, count: 4) == [0x7F, 0x45, 0x4C, 0x46]
    }

    /// The targets its ABI note allows, hvt first.
    public static func targets(of path: String) throws(Refusal) -> [Target] {
        let elf: ELFImage
        do { elf = try ELFImage(bytes: try GuestImage.readFile(path)) } catch {
            throw Refusal("\(path) is not a Swiftlet image: \(error)")
        }
        guard let note = elf.abiNote else {
            throw Refusal("\(path) has no Swiftlet ABI note; it was not built by `swiftlet build`")
        }
        return Target.named(by: note.targets)
    }
}
