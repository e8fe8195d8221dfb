// Static assets embedded in the image at build time (`swiftlet build` takes the application's
// assets/ folder, or --assets DIR): a read-only table the linker placed in the image, read here
// in place. Nothing is copied and nothing allocates; lookups compare UTF-8 bytes (no String
// comparison, which would pull Unicode tables into an Embedded image).
//
// The table (the contract with Sources/CLI/Builder/AssetBundle.swift, which generates it):
// global symbol `swiftlet_asset_table`, in read-only data, 8-byte aligned, little-endian:
//
//     u64 magic = 0x3154455353414C53   ("SLASSET1" as bytes: 'S','L','A','S','S','E','T','1')
//     u64 count
//     count entries of 96 bytes each, sorted by path bytes (plain byte-wise lexicographic order):
//       u64 path_address,         u64 path_length          URL path, e.g. "/index.html"
//       u64 content_type_address, u64 content_type_length  e.g. "text/html; charset=utf-8"
//       u64 etag_address,         u64 etag_length          strong ETag, quotes included
//       u64 data_address,         u64 data_length          the file (16-byte aligned)
//       u8  sha256[32]                                     SHA-256 of the file
//
// Addresses are absolute (images are linked non-PIE at a fixed address). An image built
// without assets has no table: `swiftlet_embedded_assets()` (Freestanding/runtime.c, a weak
// reference) returns NULL and the catalog is empty.

/// One embedded file. Every buffer points into the image's read-only data.
public struct EmbeddedAsset: @unchecked Sendable {
    /// The URL path bytes, e.g. "/index.html" (always starting with "/").
    public let path: UnsafeRawBufferPointer
    /// The Content-Type header value, e.g. "text/css; charset=utf-8".
    public let contentType: UnsafeRawBufferPointer
    /// A strong ETag with its quotes, e.g. `"3a7bd3e2360a3d29eea436fcfb7e44c7"`.
    public let etag: UnsafeRawBufferPointer
    /// The SHA-256 of `bytes` (32 bytes).
    public let sha256: UnsafeRawBufferPointer
    /// The file's contents, zero-copy from the image.
    public let bytes: UnsafeRawBufferPointer

    public init(path: UnsafeRawBufferPointer, contentType: UnsafeRawBufferPointer,
                etag: UnsafeRawBufferPointer, sha256: UnsafeRawBufferPointer, bytes: UnsafeRawBufferPointer) {
        self.path = path
        self.contentType = contentType
        self.etag = etag
        self.sha256 = sha256
        self.bytes = bytes
    }

    /// The URL path as a String (allocates; for printing).
    public var pathString: String { String(decoding: path, as: UTF8.self) }
    /// The Content-Type as a String (allocates; for printing).
    public var contentTypeString: String { String(decoding: contentType, as: UTF8.self) }
    /// The ETag as a String, quotes included (allocates; for printing).
    public var etagString: String { String(decoding: etag, as: UTF8.self) }
}

/// The embedded assets of an image, as a sorted table read in place.
public struct AssetCatalog: @unchecked Sendable {
    /// "SLASSET1" read as a little-endian u64.
    public static let magic: UInt64 = 0x3154_4553_5341_4C53
    /// Bytes of the table header (magic, count) and of one entry.
    public static let headerSize = 16
    public static let entrySize = 96

    private let entries: UnsafeRawPointer?

    /// Number of assets (0 for an empty or invalid table).
    public let count: Int

    /// Reads the table at `tableAddress`: nil gives an empty catalog, and so does a table
    /// whose magic is wrong (then `isValid` is false).
    public init(tableAddress: UnsafeRawPointer?) {
        guard let table = tableAddress,
              table.loadUnaligned(as: UInt64.self) == Self.magic else {
            entries = nil
            count = 0
            isValid = tableAddress == nil
            return
        }
        let declared = table.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
        // A count that could not fit in memory means the table is not one of ours.
        guard declared <= UInt64(Int.max / Self.entrySize) else {
            entries = nil
            count = 0
            isValid = false
            return
        }
        entries = table + Self.headerSize
        count = Int(declared)
        isValid = true
    }

    /// False when a table was given but is not an asset table (wrong magic or count).
    public let isValid: Bool

    public var isEmpty: Bool { count == 0 }

    /// The asset at `index` (0..<count), in path order.
    public subscript(index: Int) -> EmbeddedAsset {
        precondition(index >= 0 && index < count, "AssetCatalog index out of range")
        let entry = entries.unsafelyUnwrapped + index * Self.entrySize
        return EmbeddedAsset(path: Self.buffer(entry, 0), contentType: Self.buffer(entry, 16),
                             etag: Self.buffer(entry, 32),
                             sha256: UnsafeRawBufferPointer(start: entry + 64, count: 32),
                             bytes: Self.buffer(entry, 48))
    }

    /// The position of the asset whose URL path is exactly `path`, by binary search;
    /// allocates nothing.
    public func index(forPath path: UnsafeRawBufferPointer) -> Int? {
        guard let entries else { return nil }
        var low = 0, high = count
        while low < high {
            let middle = low + (high - low) / 2
            let candidate = Self.buffer(entries + middle * Self.entrySize, 0)
            let order = Self.compare(candidate, path)
            if order == 0 { return middle }
            if order < 0 { low = middle + 1 } else { high = middle }
        }
        return nil
    }

    /// The asset whose URL path is exactly `path`.
    public func asset(forPath path: UnsafeRawBufferPointer) -> EmbeddedAsset? {
        index(forPath: path).map { self[$0] }
    }

    /// The asset whose URL path is exactly `path` (UTF-8 bytes).
    public func asset(forPath path: [UInt8]) -> EmbeddedAsset? {
        path.withUnsafeBytes { asset(forPath: $0) }
    }

    /// Bytes of all the files together.
    public var totalBytes: Int {
        guard let entries else { return 0 }
        var total = 0
        for index in 0 ..< count {
            total &+= Int(truncatingIfNeeded: (entries + index * Self.entrySize + 56).loadUnaligned(as: UInt64.self))
        }
        return total
    }

    /// The (address, length) pair at `offset` in an entry, as a buffer.
    private static func buffer(_ entry: UnsafeRawPointer, _ offset: Int) -> UnsafeRawBufferPointer {
        let address = entry.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
        let length = entry.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self)
        return UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: UInt(truncatingIfNeeded: address)),
                                      count: Int(truncatingIfNeeded: length))
    }

    /// Byte-wise lexicographic order: negative, zero or positive as `a` sorts before, equal
    /// to or after `b` (a proper prefix sorts first).
    static func compare(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int {
        let common = a.count < b.count ? a.count : b.count
        var index = 0
        while index < common {
            let x = a[index], y = b[index]
            if x != y { return x < y ? -1 : 1 }
            index += 1
        }
        return a.count == b.count ? 0 : (a.count < b.count ? -1 : 1)
    }
}

#if SWIFTLET_GUEST
/// Freestanding/runtime.c: the address of `swiftlet_asset_table`, or NULL (a weak reference)
/// when the image was built without assets.
@_extern(c, "swiftlet_embedded_assets")
func swiftletEmbeddedAssets() -> UnsafeRawPointer?

extension AssetCatalog {
    /// The assets `swiftlet build` embedded in this image (empty if there were none).
    public static let embedded = AssetCatalog(tableAddress: swiftletEmbeddedAssets())
}
#endif
