// SymbolTable: function symbols from an image's .symtab, for crash backtraces and
// `swiftlet inspect`. Built from hostile bytes: a malformed table yields no symbols (or
// skips the bad entry), never a trap. Names are demangled lazily, on lookup, by the Swift
// runtime's own demangler (no Foundation). The tenders are Embedded Swift and link no
// demangler (the runtime's brings the whole full runtime, 7 MB): their reports name a
// function by the alias the image builder put beside it (DebuggerNames), and in images
// without those by its mangled name.
import CTender

#if !hasFeature(Embedded)
@_silgen_name("swift_demangle")
private func _swift_demangle(_ mangled: UnsafePointer<CChar>?, _ length: Int,
                             _ output: UnsafeMutablePointer<CChar>?,
                             _ outputLength: UnsafeMutablePointer<Int>?,
                             _ flags: UInt32) -> UnsafeMutablePointer<CChar>?
#endif

/// Function symbols of an image, sorted by address.
public struct SymbolTable: Sendable {
    /// One function: [address, address + size).
    public struct Symbol: Hashable, Sendable {
        /// The name as in the file (mangled, for Swift).
        public var name: String
        public var address: UInt64
        /// The builder's alias at this address, as a Swift developer writes the function
        /// without its module ("Crash.overflow(_:)"; DebuggerNames), if the image has one.
        public var builderName: String?
        /// st_size, or for an unsized text symbol the distance to the next symbol (or the end
        /// of its section), clamped to its section.
        public var size: UInt64
        public var isGlobal: Bool

        public init(name: String, address: UInt64, size: UInt64, isGlobal: Bool = true, builderName: String? = nil) {
            self.name = name; self.address = address; self.size = size; self.isGlobal = isGlobal
            self.builderName = builderName
        }

        /// One past the last byte (saturating).
        public var end: UInt64 {
            let (sum, overflow) = address.addingReportingOverflow(size)
            return overflow ? .max : sum
        }
        /// Full demangling ("static crash.Crash.overflow(Swift.Int) -> Swift.Int"), or the
        /// name unchanged if it is not a Swift symbol.
        public var demangledName: String { SymbolTable.demangle(name) ?? name }
        /// Short form for reports ("crash.Crash.overflow(_:)"), or the name unchanged. From the
        /// builder's alias where there is one (the same text: DebuggerNames derives it from this).
        public var displayName: String {
            if let builderName, let module = SymbolTable.mangledModule(name) { return module + "." + builderName }
            guard let full = SymbolTable.demangle(name) else { return name }
            return SymbolTable.simplify(demangled: full)
        }
        /// The Swift module defining this function, or "(C/runtime)".
        public var module: String { SymbolTable.moduleName(ofSymbol: name) }
    }

    /// Sorted by address; at most one symbol per address.
    public var symbols: [Symbol] { storage.symbols }
    private let storage: Storage

    public var isEmpty: Bool { symbols.isEmpty }
    public var count: Int { symbols.count }

    /// Sorts `symbols` and keeps the first of any at the same address.
    public init(symbols: [Symbol]) {
        self.init(storage: Storage(symbols: Self.sortedUnique(symbols)))
    }

    private init(storage: Storage) { self.storage = storage }

    private static func sortedUnique(_ symbols: [Symbol]) -> [Symbol] {
        var unique: [Symbol] = []
        unique.reserveCapacity(symbols.count)
        for symbol in symbols.stablySorted(by: { $0.address < $1.address }) where unique.last?.address != symbol.address {
            unique.append(symbol)
        }
        return unique
    }

    /// The function symbols of `image`'s first SHT_SYMTAB, or an empty table if it has none
    /// or it is malformed.
    public init(image: ELFImage) {
        self.init(symbols: SymbolTable.readSymbolsCountingWork(image).symbols)
    }

    /// The same table, read when it is first used: a tender needs it only for a crash report,
    /// and reading every name at start-up was half of spt's boot. The table's raw bytes are
    /// copied now (the file is closed before the guest runs). A table of more than
    /// `deferredEntryLimit` entries is read at once, as its reading could outgrow the heap a
    /// confined tender has left.
    public init(deferringReadOf image: ELFImage) {
        guard let tables = Self.tables(sections: image.sections, reader: image.reader),
              tables.symbols.size / UInt64(ELF.symbolSize) <= Self.deferredEntryLimit,
              let retained = ELFRetainedRanges(image.reader.source, ranges: [
                  (offset: tables.symbols.offset, length: tables.symbols.size),
                  (offset: tables.strings.offset, length: tables.strings.size),
              ]) else {
            self.init(image: image)
            return
        }
        self.init(storage: Storage(deferred: (image.sections, ELFReader(retained))))
    }

    static let deferredEntryLimit: UInt64 = 8192

    /// Whether the names have been read (a deferred table is not until first used).
    var isRead: Bool { storage.isRead }

    /// Parsed symbols, or the sections and bytes to parse them from on first use. The tenders
    /// read it from one thread; the CLI's tables are parsed when made, and never change.
    private final class Storage: @unchecked Sendable {
        private var parsed: [Symbol]?
        private let deferred: (sections: [ELFImage.Section], reader: ELFReader)?

        init(symbols: [Symbol]) { parsed = symbols; deferred = nil }
        init(deferred: (sections: [ELFImage.Section], reader: ELFReader)) { parsed = nil; self.deferred = deferred }

        var isRead: Bool { parsed != nil }

        var symbols: [Symbol] {
            if let parsed { return parsed }
            var nameBytesRead: UInt64 = 0
            let symbols = deferred.map {
                SymbolTable.sortedUnique(SymbolTable.readSymbols(sections: $0.sections, reader: $0.reader, nameBytesRead: &nameBytesRead))
            } ?? []
            parsed = symbols
            return symbols
        }
    }

    // MARK: Lookup

    /// The function containing `address` and the offset into it.
    public func lookup(_ address: UInt64) -> (symbol: Symbol, offset: UInt64)? {
        // Last symbol starting at or below `address`.
        var low = 0, high = symbols.count
        while low < high {
            let mid = low + (high - low) / 2
            if symbols[mid].address <= address { low = mid + 1 } else { high = mid }
        }
        // A few steps back too, in case a sized function encloses a later (label) symbol.
        var index = low - 1
        while index >= 0 && index >= low - 4 {
            let symbol = symbols[index]
            if address < symbol.end { return (symbol, address - symbol.address) }
            index -= 1
        }
        return nil
    }

    /// The readable name of the function containing `address`, and the offset into it.
    public func symbolize(_ address: UInt64) -> (name: String, offset: UInt64)? {
        guard let (symbol, offset) = lookup(address) else { return nil }
        return (symbol.displayName, offset)
    }

    /// "crash.Crash.overflow(_:) + 0x12", or nil outside any function.
    public func describe(_ address: UInt64) -> String? {
        guard let (name, offset) = symbolize(address) else { return nil }
        return offset == 0 ? name : name + " + 0x" + String(offset, radix: 16)
    }

    /// Function bytes per defining Swift module (non-Swift symbols under "(C/runtime)"),
    /// largest first. For `swiftlet inspect`.
    public func sizeByModule() -> [(module: String, bytes: UInt64)] {
        var totals: [String: UInt64] = [:]
        for symbol in symbols {
            let (sum, overflow) = totals[symbol.module, default: 0].addingReportingOverflow(symbol.size)
            totals[symbol.module] = overflow ? .max : sum
        }
        return totals.map { (module: $0.key, bytes: $0.value) }
            .sorted { $0.bytes != $1.bytes ? $0.bytes > $1.bytes : $0.module < $1.module }
    }

    // MARK: Reading .symtab

    /// Longest symbol name kept (longer ones are skipped): what the demangler accepts.
    static let maximumNameLength = maxDemangleLength

    /// The symbols, and how many string-table bytes were looked at for their names. Each name
    /// is looked at once, so all names together may take the string table twice over (plus
    /// slack for names that share a suffix): a table whose entries all name one long string
    /// would otherwise cost entries x string length. Past that, the table counts as malformed.
    static func readSymbolsCountingWork(_ image: ELFImage) -> (symbols: [Symbol], nameBytesRead: UInt64) {
        var nameBytesRead: UInt64 = 0
        let symbols = readSymbols(sections: image.sections, reader: image.reader, nameBytesRead: &nameBytesRead)
        return (symbols, nameBytesRead)
    }

    /// The first SHT_SYMTAB and its string table, if both are well formed and inside the file.
    private static func tables(sections: [ELFImage.Section], reader: ELFReader)
        -> (symbols: ELFImage.Section, strings: ELFImage.Section)? {
        func inFile(_ section: ELFImage.Section) -> Bool {
            section.type != ELF.shtNobits && reader.contains(offset: section.offset, length: section.size)
        }
        guard let symtab = sections.first(where: { $0.type == ELF.shtSymtab }),
              symtab.entsize == UInt64(ELF.symbolSize), symtab.size % UInt64(ELF.symbolSize) == 0,
              inFile(symtab),   // the whole table is inside the file
              Int(symtab.link) < sections.count, sections[Int(symtab.link)].type == ELF.shtStrtab,
              inFile(sections[Int(symtab.link)]) else { return nil }
        return (symtab, sections[Int(symtab.link)])
    }

    private static func readSymbols(sections: [ELFImage.Section], reader r: ELFReader, nameBytesRead: inout UInt64) -> [Symbol] {
        guard let tables = tables(sections: sections, reader: r) else { return [] }
        let symtab = tables.symbols, strings = tables.strings

        struct Candidate { var name: String; var address: UInt64; var size: UInt64; var sized: Bool
                           var global: Bool; var limit: UInt64 }
        var candidates: [Candidate] = []
        let tableOffset = symtab.offset
        let count = symtab.size / UInt64(ELF.symbolSize)
        let nameBudget = 2 * strings.size + 65536
        var index: UInt64 = 1 // entry 0 is the null symbol
        while index < count {
            let at = tableOffset + index * UInt64(ELF.symbolSize)
            index += 1
            guard let nameIndex = r.u32(at), let info = r.u8(at + 4), let shndx = r.u16(at + 6),
                  let value = r.u64(at + 8), let size = r.u64(at + 16) else { return [] }
            let type = info & 0xF, bind = info >> 4
            guard shndx != ELF.shnUndef, shndx < ELF.shnLoReserve, Int(shndx) < sections.count else { continue }
            let section = sections[Int(shndx)]
            guard type == ELF.sttFunc || (type == ELF.sttNotype && section.isExecutable) else { continue }
            let nameBytes = r.cString(inTableAt: strings.offset, size: strings.size,
                                      index: UInt64(nameIndex), maximumLength: maximumNameLength)
            nameBytesRead += UInt64(nameBytes.map { $0.count + 1 } ?? maximumNameLength + 1)
            guard nameBytesRead <= nameBudget else { return [] }
            guard let nameBytes, !nameBytes.isEmpty, !nameBytes.starts(with: [0x2E, 0x4C]) /* ".L" */ else { continue }
            // Clamp to the containing allocated section when the symbol lies inside it.
            var limit = UInt64.max
            if section.flags & ELF.shfAlloc != 0, section.type != ELF.shtNull {
                let (sectionEnd, overflow) = section.addr.addingReportingOverflow(section.size)
                if !overflow && value >= section.addr && value < sectionEnd { limit = sectionEnd }
            }
            candidates.append(Candidate(name: String(decoding: nameBytes, as: UTF8.self), address: value,
                                        size: size, sized: size > 0, global: bind != ELF.stbLocal, limit: limit))
        }

        // Prefer, at one address: sized over unsized, global over local.
        candidates = candidates.stablySorted {
            if $0.address != $1.address { return $0.address < $1.address }
            if $0.sized != $1.sized { return $0.sized }
            return $0.global && !$1.global
        }
        var symbols: [Symbol] = []
        symbols.reserveCapacity(candidates.count)
        var i = 0
        while i < candidates.count {
            let c = candidates[i]
            var next = i + 1
            while next < candidates.count && candidates[next].address == c.address { next += 1 }
            let end: UInt64
            if c.sized {
                let (sum, overflow) = c.address.addingReportingOverflow(c.size)
                end = min(overflow ? .max : sum, c.limit)
            } else if next < candidates.count {
                end = min(candidates[next].address, c.limit)
            } else {
                end = c.limit == .max ? c.address : c.limit
            }
            // The builder's aliases at a Swift function: unsized, local, not mangled; the longest
            // carries the argument labels.
            let aliases = candidates[(i + 1) ..< next].filter { !$0.sized && !$0.global && !$0.name.bytesStart(with: "$") }
            let builderName = c.sized && mangledModule(c.name) != nil
                ? aliases.max { $0.name.utf8.count < $1.name.utf8.count }?.name : nil
            symbols.append(Symbol(name: c.name, address: c.address, size: end - c.address, isGlobal: c.global,
                                  builderName: builderName))
            i = next
        }
        return symbols
    }

    // MARK: Demangling

    /// Longest name handed to the runtime demangler (it recurses on nesting).
    static let maxDemangleLength = 4096

    /// The runtime's full demangling of a Swift symbol, or nil if `name` is not one.
    /// Embedded Swift's `$e` prefix is tried as `$s` if the runtime does not know it.
    public static func demangle(_ name: String) -> String? {
        var bytes = Array(name.utf8)
        guard bytes.count >= 2, bytes.count <= maxDemangleLength, !bytes.contains(0) else { return nil }
        let dollar = bytes[0] == UInt8(ascii: "_") ? 1 : 0
        guard bytes.count > dollar + 1 else { return nil }
        let looksSwift = (bytes[dollar] == UInt8(ascii: "$")
                          && [UInt8(ascii: "s"), UInt8(ascii: "e"), UInt8(ascii: "S")].contains(bytes[dollar + 1]))
            || bytes.starts(with: Array("_T0".utf8))
        guard looksSwift else { return nil }
        if let result = runtimeDemangle(bytes), result != name { return result }
        if bytes[dollar + 1] == UInt8(ascii: "e") {
            bytes[dollar + 1] = UInt8(ascii: "s")
            if let result = runtimeDemangle(bytes), result != String(decoding: bytes, as: UTF8.self) { return result }
        }
        return nil
    }

    private static func runtimeDemangle(_ bytes: [UInt8]) -> String? {
        #if hasFeature(Embedded)
        return nil
        #else
        let terminated = bytes + [0] // the runtime reads it as a C string, too
        return terminated.withUnsafeBufferPointer { buffer -> String? in
            buffer.withMemoryRebound(to: CChar.self) { chars -> String? in
                guard let result = _swift_demangle(chars.baseAddress, bytes.count, nil, nil, 0) else { return nil }
                defer { free(result) }
                return String(cString: result)
            }
        }
        #endif
    }

    /// Shortens a full demangling for reports: drops `static`, parameter types and return
    /// type (keeping argument labels), closure signatures, generic `where` clauses and
    /// `(extension in M):` qualifiers. "static crash.Crash.overflow(Swift.Int) -> Swift.Int"
    /// becomes "crash.Crash.overflow(_:)".
    public static func simplify(demangled: String) -> String {
        String(decoding: Simplifier.simplify(Array(demangled.utf8)), as: UTF8.self)
    }

    /// The module defining a symbol: read from the mangling (`$s5crash...` → "crash",
    /// `$es...`/`$eS?...` → "Swift"), else the text before the first '.' of the simplified
    /// demangling; "(C/runtime)" for anything not Swift.
    public static func moduleName(ofSymbol name: String) -> String {
        let cRuntime = "(C/runtime)"
        let bytes = Array(name.utf8)
        let i = bytes.first == UInt8(ascii: "_") ? 1 : 0
        guard bytes.count >= i + 3, bytes[i] == UInt8(ascii: "$"),
              [UInt8(ascii: "s"), UInt8(ascii: "e"), UInt8(ascii: "S")].contains(bytes[i + 1]) else {
            return demangle(name) == nil ? cRuntime : moduleFromDemangled(name) ?? cRuntime
        }
        return mangledModule(name) ?? moduleFromDemangled(name) ?? (demangle(name) == nil ? cRuntime : "(Swift)")
    }

    /// The module a Swift mangling starts with (`$s5crash...` → "crash", `$es...`/`$eS?...` →
    /// "Swift"), read without a demangler; nil if it starts otherwise.
    static func mangledModule(_ name: String) -> String? {
        let bytes = Array(name.utf8)
        var i = bytes.first == UInt8(ascii: "_") ? 1 : 0
        guard bytes.count >= i + 3, bytes[i] == UInt8(ascii: "$"),
              [UInt8(ascii: "s"), UInt8(ascii: "e"), UInt8(ascii: "S")].contains(bytes[i + 1]) else { return nil }
        i += 2
        let c = bytes[i]
        if c == UInt8(ascii: "s") { return "Swift" }
        if c == UInt8(ascii: "S"), i + 1 < bytes.count {
            let d = bytes[i + 1]
            if d == UInt8(ascii: "o") { return "__C" }
            if d == UInt8(ascii: "C") { return "__C_Synthesized" }
            if isLetter(d) { return "Swift" } // a standard-library type substitution (Si, Sa, SR, ...)
        }
        guard c >= UInt8(ascii: "1") && c <= UInt8(ascii: "9") else { return nil }
        var length = 0
        while i < bytes.count, bytes[i] >= UInt8(ascii: "0"), bytes[i] <= UInt8(ascii: "9"), length < 100_000 {
            length = length * 10 + Int(bytes[i] - UInt8(ascii: "0"))
            i += 1
        }
        guard length > 0, length <= bytes.count - i else { return nil }
        return String(decoding: bytes[i ..< i + length], as: UTF8.self)
    }

    private static func moduleFromDemangled(_ name: String) -> String? {
        guard let full = demangle(name) else { return nil }
        var text = Simplifier.simplify(Array(full.utf8))
        // Peel report prefixes such as "specialized ", "closure #1 in ", "partial apply for ".
        while let space = text.firstIndex(of: UInt8(ascii: " ")),
              !text[..<space].contains(UInt8(ascii: ".")) {
            text = Array(text[(space + 1)...])
        }
        guard let dot = text.firstIndex(of: UInt8(ascii: ".")), dot > 0,
              text[..<dot].allSatisfy({ isIdentifier($0) }) else { return nil }
        return String(decoding: text[..<dot], as: UTF8.self)
    }
}

extension ELFImage {
    /// This image's function symbols (empty if it has no usable .symtab).
    public func symbolTable() -> SymbolTable { SymbolTable(image: self) }
}

// MARK: - Simplifying demangled names (byte-level, no Foundation)

private func isLetter(_ c: UInt8) -> Bool {
    (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z"))
}

private func isIdentifier(_ c: UInt8) -> Bool {
    isLetter(c) || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || c == UInt8(ascii: "_")
        || c == UInt8(ascii: "`") || c >= 0x80
}

private enum Simplifier {
    static func simplify(_ input: [UInt8]) -> [UInt8] {
        var text = input[...]
        if let cut = find(" with unmangled suffix ", in: text) { text = text[..<cut] }
        var out: [UInt8] = []
        var rounds = 0
        while rounds < 64 { // each round consumes a prefix; bounded regardless
            rounds += 1
            if let rest = drop("static ", from: text) { text = rest; continue }
            if let rest = drop("(extension in ", from: text),
               let close = find("):", in: rest) { text = rest[(close + 2)...]; continue }
            if let rest = dropBracketedPrefix("generic specialization <", from: text)
                ?? dropBracketedPrefix("function signature specialization <", from: text) {
                if !out.ends(with: "specialized ") { out += Array("specialized ".utf8) }
                text = rest; continue
            }
            if let rest = drop("partial apply forwarder for ", from: text) {
                out += Array("partial apply for ".utf8); text = rest; continue
            }
            var matchedKeep = false
            for keep in ["merged ", "protocol witness for ", "dispatch thunk of ", "default argument ",
                         "outlined ", "type metadata accessor for ", "reabstraction thunk"]
            where text.starts(with: keep.utf8) {
                // "default argument 1 of X": keep through " of ".
                if keep.bytesEqual("default argument "), let of = find(" of ", in: text) {
                    out += text[..<(of + 4)]; text = text[(of + 4)...]; matchedKeep = true; break
                }
                if keep.bytesEqual("outlined ") || keep.bytesEqual("type metadata accessor for ") || keep.bytesEqual("reabstraction thunk") {
                    return out + text // no function signature to shorten
                }
                out += Array(keep.utf8); text = text[(text.startIndex + keep.utf8.count)...]
                matchedKeep = true; break
            }
            if matchedKeep { continue }
            if let (closure, rest) = closurePrefix(text) {
                out += closure; out += Array(" in ".utf8); text = rest; continue
            }
            break
        }
        return out + entity(text)
    }

    /// "closure #1 (Sig) -> T in Rest" / "implicit closure #2 in Rest" → ("closure #1", Rest).
    static func closurePrefix(_ text: ArraySlice<UInt8>) -> (ArraySlice<UInt8>, ArraySlice<UInt8>)? {
        let start: ArraySlice<UInt8>
        if let rest = drop("implicit closure #", from: text) { start = rest }
        else if let rest = drop("closure #", from: text) { start = rest }
        else { return nil }
        var i = start.startIndex
        while i < start.endIndex, start[i] >= UInt8(ascii: "0"), start[i] <= UInt8(ascii: "9") { i += 1 }
        let label = text[text.startIndex ..< i]
        // Skip the signature (if any) and find " in " at nesting depth 0.
        guard let inAt = findAtDepthZero(" in ", in: start[i...]) else { return nil }
        return (label, start[(inAt + 4)...])
    }

    /// "crash.Foo.bar<A where A: P>(x: Swift.Int, _: A) -> B" → "crash.Foo.bar<A>(x:_:)";
    /// "crash.Foo.baz.getter : Swift.Int" → "crash.Foo.baz.getter".
    static func entity(_ text: ArraySlice<UInt8>) -> [UInt8] {
        var depth = 0
        var i = text.startIndex
        var name: [UInt8] = []
        var inWhere = false
        while i < text.endIndex {
            let c = text[i]
            if depth == 0 && c == UInt8(ascii: "(") {
                guard let close = matchingClose(text, from: i) else { return name + text[i...] }
                // A private declaration: "(endOfHead in _37BB35F2...)" names it, no parameters.
                if let privateName = privateName(text[(i + 1) ..< close]) {
                    name += privateName
                    i = close + 1
                    continue
                }
                return name + parameterLabels(text[(i + 1) ..< close])
            }
            if depth == 0 && text[i...].starts(with: " : ".utf8) { return name }
            if depth == 1 && text[i...].starts(with: " where ".utf8) { inWhere = true }
            depth = max(0, depth + depthChange(text, at: i))
            if depth == 0 { inWhere = false }
            if !inWhere {
                // "Collection< where ...>" leaves "<>": drop it.
                if c == UInt8(ascii: ">"), name.last == UInt8(ascii: "<") { name.removeLast() } else { name.append(c) }
            }
            i += 1
        }
        return name
    }

    /// How `text[i]` changes bracket nesting. "<" opens generics only right after a name
    /// (not in operators like "<= infix"); the ">" of "->" closes nothing.
    static func depthChange(_ text: ArraySlice<UInt8>, at i: Int) -> Int {
        switch text[i] {
        case UInt8(ascii: "["), UInt8(ascii: "("): return 1
        case UInt8(ascii: "]"), UInt8(ascii: ")"): return -1
        case UInt8(ascii: "<"): return i > text.startIndex && isIdentifier(text[i - 1]) ? 1 : 0
        case UInt8(ascii: ">"): return i > text.startIndex && text[i - 1] == UInt8(ascii: "-") ? 0 : -1
        default: return 0
        }
    }

    /// "endOfHead in _37BB35F2216DE86E72C5827E9D60AF85" → "endOfHead"; nil for anything else.
    static func privateName(_ group: ArraySlice<UInt8>) -> [UInt8]? {
        guard let marker = find(" in _", in: group) else { return nil }
        let identifier = group[..<marker], discriminator = group[(marker + 5)...]
        guard !identifier.isEmpty, identifier.allSatisfy(isIdentifier), !discriminator.isEmpty,
              discriminator.allSatisfy({ isIdentifier($0) }) else { return nil }
        return Array(identifier)
    }

    /// "x: Swift.Int, _: A" → "(x:_:)"; "Swift.Int" → "(_:)"; "" → "()".
    static func parameterLabels(_ params: ArraySlice<UInt8>) -> [UInt8] {
        var out: [UInt8] = [UInt8(ascii: "(")]
        guard !params.isEmpty else { return out + [UInt8(ascii: ")")] }
        var depth = 0, start = params.startIndex, i = params.startIndex
        var pieces: [ArraySlice<UInt8>] = []
        while i < params.endIndex {
            if params[i] == UInt8(ascii: ","), depth == 0 {
                pieces.append(params[start ..< i]); start = i + 1
            }
            depth = max(0, depth + depthChange(params, at: i))
            i += 1
        }
        pieces.append(params[start...])
        for var piece in pieces {
            while piece.first == UInt8(ascii: " ") { piece = piece.dropFirst() }
            var j = piece.startIndex
            while j < piece.endIndex, isIdentifier(piece[j]) { j += 1 }
            if j > piece.startIndex, piece[j...].starts(with: ": ".utf8) {
                out += piece[..<j]
            } else {
                out.append(UInt8(ascii: "_"))
            }
            out.append(UInt8(ascii: ":"))
        }
        return out + [UInt8(ascii: ")")]
    }

    static func matchingClose(_ text: ArraySlice<UInt8>, from open: Int) -> Int? {
        var depth = 0, i = open
        while i < text.endIndex {
            switch text[i] {
            case UInt8(ascii: "("): depth += 1
            case UInt8(ascii: ")"): depth -= 1; if depth == 0 { return i }
            default: break
            }
            i += 1
        }
        return nil
    }

    static func findAtDepthZero(_ needle: String, in text: ArraySlice<UInt8>) -> Int? {
        let n = Array(needle.utf8)
        var depth = 0, i = text.startIndex
        while i < text.endIndex {
            if depth == 0 && text[i...].starts(with: n) { return i }
            depth = max(0, depth + depthChange(text, at: i))
            i += 1
        }
        return nil
    }

    /// "generic specialization <...> of Rest" → Rest (matching the angle brackets).
    static func dropBracketedPrefix(_ prefix: String, from text: ArraySlice<UInt8>) -> ArraySlice<UInt8>? {
        guard let rest = drop(prefix, from: text) else { return nil }
        var depth = 1, i = rest.startIndex
        while i < rest.endIndex {
            switch rest[i] {
            case UInt8(ascii: "<"): depth += 1
            case UInt8(ascii: ">") where !(i > rest.startIndex && rest[i - 1] == UInt8(ascii: "-")):
                depth -= 1
                if depth == 0 { return drop(" of ", from: rest[(i + 1)...]) }
            default: break
            }
            i += 1
        }
        return nil
    }

    static func drop(_ prefix: String, from text: ArraySlice<UInt8>) -> ArraySlice<UInt8>? {
        text.starts(with: prefix.utf8) ? text[(text.startIndex + prefix.utf8.count)...] : nil
    }

    static func find(_ needle: String, in text: ArraySlice<UInt8>) -> Int? {
        let n = Array(needle.utf8)
        guard !n.isEmpty, text.count >= n.count else { return nil }
        var i = text.startIndex
        while i <= text.endIndex - n.count {
            if text[i...].starts(with: n) { return i }
            i += 1
        }
        return nil
    }
}

private extension Array where Element == UInt8 {
    func ends(with suffix: String) -> Bool {
        let s = Array(suffix.utf8)
        return count >= s.count && Array(self[(count - s.count)...]) == s
    }
}
