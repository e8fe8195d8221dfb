// ImageAssetTable: the static-asset table an image carries (built by `swiftlet build`; layout in
// Sources/CLI/Builder/AssetBundle.swift and Sources/Guest/HTTP/EmbeddedAssets.swift), read from
// the image file for `swiftlet inspect`. The file is untrusted: every address is mapped to a
// file offset through the loadable segments with overflow and bounds checks, and a table that
// does not check out is reported as malformed, never trusted and never a trap.

/// Why an image's asset table was refused.
public struct AssetTableError: Error, Equatable, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// The embedded assets listed by an image's `swiftlet_asset_table`.
public struct ImageAssetTable: Sendable {
    /// One asset, as the table describes it.
    public struct Entry: Equatable, Sendable {
        public var path: [UInt8]
        public var contentType: [UInt8]
        public var etag: [UInt8]
        public var sha256: [UInt8]
        /// Where the file's bytes are, in the guest and in the image file.
        public var dataAddress: UInt64
        public var dataFileOffset: UInt64
        public var size: UInt64

        public var pathString: String { String(decoding: path, as: UTF8.self) }
        public var contentTypeString: String { String(decoding: contentType, as: UTF8.self) }
        public var etagString: String { String(decoding: etag, as: UTF8.self) }
        public var sha256Hex: String { sha256.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined() }
    }

    public static let symbolName = "swiftlet_asset_table"
    /// "SLASSET1" read as a little-endian u64.
    public static let magic: UInt64 = 0x3154_4553_5341_4C53
    public static let headerSize: UInt64 = 16
    public static let entrySize: UInt64 = 96
    /// Longest path, content type or ETag accepted (the builder's are far shorter).
    public static let maxStringLength: UInt64 = 4096

    /// The table's guest address.
    public let address: UInt64
    /// In table order (sorted by path bytes).
    public let entries: [Entry]

    public var totalBytes: UInt64 { entries.reduce(0) { $0 &+ $1.size } }

    /// The table in `image`, found by its symbol (or, in a stripped image, by its magic in
    /// read-only data); nil when the image has none. Throws when a table is there but wrong.
    public static func read(from image: ELFImage) throws(AssetTableError) -> ImageAssetTable? {
        if let address = symbolValue(named: symbolName, in: image) {
            return try ImageAssetTable(image: image, address: address)
        }
        // Stripped: look for the magic at 8-byte aligned addresses in non-executable segments,
        // and take the first place where a whole, valid table follows.
        let r = image.reader
        for segment in image.segments where !segment.flags.contains(.execute) {
            var address = (segment.vaddr + 7) & ~7
            while address &+ headerSize <= segment.vaddr + segment.filesz {
                let offset = segment.offset + (address - segment.vaddr)
                if r.u64(offset) == magic, let table = try? ImageAssetTable(image: image, address: address) {
                    return table
                }
                address += 8
            }
        }
        return nil
    }

    /// Reads and checks the table at `address`.
    public init(image: ELFImage, address: UInt64) throws(AssetTableError) {
        let r = image.reader
        func fileOffset(_ address: UInt64, _ length: UInt64, _ what: String) throws(AssetTableError) -> UInt64 {
            guard let offset = Self.fileOffset(of: address, length: length, in: image) else {
                throw AssetTableError("\(what) (\(length) bytes at \(hex(address))) is not inside the image's loaded file data")
            }
            return offset
        }
        let header = try fileOffset(address, Self.headerSize, "the asset table header")
        guard let found = r.u64(header), found == Self.magic else {
            throw AssetTableError("the asset table at \(hex(address)) has the wrong magic")
        }
        let count = r.u64(header + 8) ?? 0
        let (entryBytes, overflowed) = count.multipliedReportingOverflow(by: Self.entrySize)
        guard !overflowed else { throw AssetTableError("the asset table declares an impossible count (\(count))") }
        let first = try fileOffset(address &+ Self.headerSize, entryBytes, "the asset table's \(count) entries")

        var entries: [Entry] = []
        entries.reserveCapacity(Int(count)) // count * 96 bytes are in the file: bounded
        for index in 0 ..< count {
            let at = first + index * Self.entrySize
            func field(_ slot: UInt64) -> UInt64 { r.u64(at + slot * 8) ?? 0 } // in range: checked above
            func string(_ slot: UInt64, _ what: String) throws(AssetTableError) -> [UInt8] {
                let stringAddress = field(slot), length = field(slot + 1)
                guard length <= Self.maxStringLength else {
                    throw AssetTableError("asset \(index): \(what) is \(length) bytes long")
                }
                let offset = try fileOffset(stringAddress, length, "asset \(index)'s \(what)")
                return Array(r.slice(offset: offset, length: length) ?? [])
            }
            let path = try string(0, "path")
            let contentType = try string(2, "content type")
            let etag = try string(4, "ETag")
            let dataAddress = field(6), size = field(7)
            let dataOffset = try fileOffset(dataAddress, size, "asset \(index)'s data")
            let sha256 = Array(r.slice(offset: at + 64, length: 32) ?? [])
            if let previous = entries.last, !previous.path.lexicographicallyPrecedes(path) {
                throw AssetTableError("asset \(index) (\(String(decoding: path, as: UTF8.self))) is out of order or repeated; lookups would miss it")
            }
            entries.append(Entry(path: path, contentType: contentType, etag: etag, sha256: sha256,
                                 dataAddress: dataAddress, dataFileOffset: dataOffset, size: size))
        }
        self.address = address
        self.entries = entries
    }

    /// The file bytes of `entry`'s data.
    public func data(of entry: Entry, in image: ELFImage) -> ArraySlice<UInt8>? {
        image.reader.slice(offset: entry.dataFileOffset, length: entry.size)
    }

    /// The file offset of [address, address + length) when it lies inside one segment's file
    /// bytes (not its zero-filled tail), else nil.
    static func fileOffset(of address: UInt64, length: UInt64, in image: ELFImage) -> UInt64? {
        let (end, overflow) = address.addingReportingOverflow(length)
        guard !overflow else { return nil }
        for segment in image.segments where address >= segment.vaddr && end <= segment.vaddr &+ segment.filesz {
            return segment.offset + (address - segment.vaddr) // inside the file: checked by ELFImage
        }
        return nil
    }

    /// The value of the defined symbol called `name` in the first .symtab, if any.
    static func symbolValue(named name: String, in image: ELFImage) -> UInt64? {
        let sections = image.sections
        guard let symtab = sections.first(where: { $0.type == ELF.shtSymtab }),
              symtab.entsize == UInt64(ELF.symbolSize), image.hasContents(symtab),
              Int(symtab.link) < sections.count, sections[Int(symtab.link)].type == ELF.shtStrtab else { return nil }
        let strings = sections[Int(symtab.link)]
        let r = image.reader
        let wanted = Array(name.utf8)
        let count = symtab.size / UInt64(ELF.symbolSize)
        var index: UInt64 = 1
        while index < count {
            let at = symtab.offset + index * UInt64(ELF.symbolSize)
            index += 1
            guard let nameIndex = r.u32(at), let shndx = r.u16(at + 6), let value = r.u64(at + 8) else { return nil }
            guard shndx != ELF.shnUndef,
                  let symbolName = r.cString(inTableAt: strings.offset, size: strings.size, index: UInt64(nameIndex),
                                             maximumLength: wanted.count),
                  symbolName.elementsEqual(wanted) else { continue }
            return value
        }
        return nil
    }
}
