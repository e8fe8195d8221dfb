// `swiftlet inspect --size`: where an image's bytes go. Every byte of every allocated section
// is given to exactly one module (through the symbol covering it) or to "no symbol" (padding,
// string literals), so the table always adds up to the section sizes.
public struct ImageSizeReport: Sendable {
    /// What a byte is: code, read-only data, initialized data, or zero-filled memory.
    public enum Kind: Int, CaseIterable, Sendable {
        case code, readOnly, data, zeroFilled

        init(_ section: ELFImage.Section) {
            if section.type == ELF.shtNobits { self = .zeroFilled }
            else if section.isExecutable { self = .code }
            else if section.flags & ELF.shfWrite != 0 { self = .data }
            else { self = .readOnly }
        }
    }

    /// One row of the table: a module and its bytes of each kind.
    public struct Module: Sendable {
        public var name: String
        public var bytes = [UInt64](repeating: 0, count: Kind.allCases.count)
        public var total: UInt64 { bytes.reduce(0, +) }
    }

    /// A symbol and the bytes attributed to it (its own extent, clamped to its section and
    /// to what an earlier symbol did not already cover).
    public struct SizedSymbol: Sendable {
        public var name: String
        public var module: String
        public var section: String
        public var bytes: UInt64
    }

    public static let noSymbol = "(no symbol: padding, literals)"

    /// Sorted largest first.
    public let modules: [Module]
    /// Every attributed symbol, largest first.
    public let symbols: [SizedSymbol]
    /// Bytes of each kind over all allocated sections (what the modules add up to).
    public let sectionBytes: [UInt64]

    /// `classify` names the module of a symbol, given its name and, for a local symbol, the
    /// source file the linker listed it under (see `SizeModules`).
    public init(image: ELFImage, classify: (_ name: String, _ file: String?) -> String) {
        var modules: [String: Module] = [:]
        var sized: [SizedSymbol] = []
        var sectionBytes = [UInt64](repeating: 0, count: Kind.allCases.count)
        let symbols = Self.readSymbols(image)
        for section in image.sections where section.flags & ELF.shfAlloc != 0 && section.size > 0 {
            let kind = Kind(section)
            sectionBytes[kind.rawValue] += section.size
            let end = section.addr &+ section.size
            func attribute(_ count: UInt64, to module: String) {
                modules[module, default: Module(name: module)].bytes[kind.rawValue] += count
            }
            var cursor = section.addr
            let inside = symbols.filter { $0.section == section.index && $0.address >= section.addr && $0.address < end }
            for (index, symbol) in inside.enumerated() {
                // One symbol per address, the preferred one (sorted first): an alias at the
                // same address (gdb's names, DebuggerNames) must not claim the bytes after it.
                if index > 0 && inside[index - 1].address == symbol.address { continue }
                var symbolEnd = symbol.size > 0 ? symbol.address &+ symbol.size : symbol.address
                // Unsized code labels (assembly) run to the next symbol, as in SymbolTable.
                if symbol.size == 0 && kind == .code { symbolEnd = index + 1 < inside.count ? inside[index + 1].address : end }
                let start = max(symbol.address, cursor)
                symbolEnd = min(max(symbolEnd, symbol.address), end)
                guard symbolEnd > start else { continue }
                if start > cursor { attribute(start - cursor, to: Self.noSymbol) }
                let module = classify(symbol.name, symbol.file)
                attribute(symbolEnd - start, to: module)
                sized.append(SizedSymbol(name: symbol.name, module: module, section: section.name, bytes: symbolEnd - start))
                cursor = symbolEnd
            }
            if end > cursor { attribute(end - cursor, to: Self.noSymbol) }
        }
        self.modules = modules.values.sorted { $0.total != $1.total ? $0.total > $1.total : $0.name < $1.name }
        self.symbols = sized.sorted { $0.bytes != $1.bytes ? $0.bytes > $1.bytes : $0.name < $1.name }
        self.sectionBytes = sectionBytes
    }

    struct RawSymbol { var name: String; var address: UInt64; var size: UInt64; var section: Int; var global: Bool; var file: String? }

    /// Functions, objects and untyped labels defined in a section, sorted by address; at one
    /// address a sized symbol wins over an unsized one, a global over a local. A local symbol
    /// carries the name of the STT_FILE symbol before it: the linker lists each input file's
    /// locals after that file's name.
    static func readSymbols(_ image: ELFImage) -> [RawSymbol] {
        let sections = image.sections
        guard let symtab = sections.first(where: { $0.type == ELF.shtSymtab }),
              symtab.entsize == UInt64(ELF.symbolSize), image.hasContents(symtab),
              Int(symtab.link) < sections.count, sections[Int(symtab.link)].type == ELF.shtStrtab else { return [] }
        let strings = sections[Int(symtab.link)]
        let reader = image.reader
        var symbols: [RawSymbol] = []
        let count = symtab.size / UInt64(ELF.symbolSize)
        var index: UInt64 = 1
        var file: String?
        while index < count {
            let at = symtab.offset + index * UInt64(ELF.symbolSize)
            index += 1
            guard let nameIndex = reader.u32(at), let info = reader.u8(at + 4), let shndx = reader.u16(at + 6),
                  let value = reader.u64(at + 8), let size = reader.u64(at + 16) else { break }
            let type = info & 0xF
            if type == ELF.sttFile {
                file = reader.cString(inTableAt: strings.offset, size: strings.size, index: UInt64(nameIndex),
                                      maximumLength: SymbolTable.maxDemangleLength).map { String(decoding: $0, as: UTF8.self) }
                continue
            }
            let global = info >> 4 != ELF.stbLocal
            guard [ELF.sttFunc, ELF.sttObject, ELF.sttNotype].contains(type),
                  shndx != ELF.shnUndef, shndx < ELF.shnLoReserve, Int(shndx) < sections.count,
                  let name = reader.cString(inTableAt: strings.offset, size: strings.size, index: UInt64(nameIndex),
                                            maximumLength: SymbolTable.maxDemangleLength),
                  !name.isEmpty, !name.starts(with: [0x2E, 0x4C]) /* .L */ else { continue }
            symbols.append(RawSymbol(name: String(decoding: name, as: UTF8.self), address: value, size: size,
                                     section: Int(shndx), global: global, file: global ? nil : file))
        }
        return symbols.sorted {
            if $0.address != $1.address { return $0.address < $1.address }
            if ($0.size > 0) != ($1.size > 0) { return $0.size > 0 }
            if $0.size != $1.size { return $0.size > $1.size }
            return $0.global && !$1.global
        }
    }
}

/// The modules `inspect --size` groups symbols into: the app's own Swift modules, Swiftlet's
/// network stack, HTTP, TLS and core, the Swift standard library and runtime, BearSSL, the
/// freestanding C parts, and the embedded assets.
public struct SizeModules: Sendable {
    public static let swift = "Swift stdlib + runtime"
    public static let swiftletNet = "Swiftlet TCP/IP (Net)"
    public static let swiftletHTTP = "Swiftlet HTTP"
    public static let swiftletTLS = "Swiftlet TLS"
    public static let swiftletCore = "Swiftlet core"
    public static let freestandingC = "C freestanding (libc, boot)"
    public static let bearSSL = "C BearSSL (TLS)"
    public static let assets = "embedded assets"
    /// The STT_FILE name the builder links just before libbearssl.a: BearSSL's objects carry
    /// no file symbol of their own, so their local symbols follow this one.
    public static let bearSSLFileSymbol = "libbearssl.a"
    /// Modules of Swiftlet itself or of Swift, never the application's.
    static let libraryModules = ["Swift", "_Concurrency", "__C", "__C_Synthesized", "(Swift)", "Swiftlet", "SwiftletTLS", "(C/runtime)"]

    /// Swiftlet's top-level names (types, functions) → the folder of Sources/Guest that
    /// declares them ("Net", "HTTP", ...). Without it every Swiftlet symbol is "core".
    public var swiftletFolders: [String: String]
    /// The application's module (the image's name): its top-level code is the C symbol `main`.
    public var appModule: String

    public init(appModule: String, swiftletFolders: [String: String] = [:]) {
        self.appModule = appModule
        self.swiftletFolders = swiftletFolders
    }

    /// The application's Swift module in `image`: the one module its symbols name that is
    /// neither Swift's nor Swiftlet's (nil when there is none, or several).
    public static func applicationModule(in image: ELFImage) -> String? {
        var found: [String] = []
        for symbol in ImageSizeReport.readSymbols(image) {
            let module = SymbolTable.moduleName(ofSymbol: symbol.name)
            if !libraryModules.contains(module) && !found.contains(module) { found.append(module) }
        }
        return found.count == 1 ? found[0] : nil
    }

    /// `file`: the source file a local symbol was listed under, if any.
    public func module(ofSymbol name: String, file: String? = nil) -> String {
        if name == "main" { return "app: \(appModule)" }
        if name.hasPrefix("swiftlet_embedded_assets") || name.hasPrefix("swiftlet_asset_table") { return Self.assets }
        if name.hasPrefix("swift_") || name.hasPrefix("_swift") || name.hasPrefix("_ZL") && Self.offset(of: Array("_swift_stdlib".utf8), in: Array(name.utf8)) != nil {
            return Self.swift
        }
        guard let full = SymbolTable.demangle(name) else {
            return file == Self.bearSSLFileSymbol || name.utf8.starts(with: "br_".utf8) ? Self.bearSSL : Self.freestandingC
        }
        switch SymbolTable.moduleName(ofSymbol: name) {
        case "Swift", "_Concurrency", "__C", "__C_Synthesized", "(Swift)": return Self.swift
        case "SwiftletTLS": return Self.swiftletTLS
        case "Swiftlet":
            guard let top = Self.topLevelName(inDemangled: full, module: "Swiftlet") else { return Self.swiftletCore }
            switch swiftletFolders[top] {
            case "Net": return Self.swiftletNet
            case "HTTP": return Self.swiftletHTTP
            default: return Self.swiftletCore
            }
        case let module: return "app: \(module)"
        }
    }

    /// "Swiftlet.TCPConnection.receive(_:)" (after "specialized ", "closure #1 in ", ...) → "TCPConnection".
    static func topLevelName(inDemangled full: String, module: String) -> String? {
        let simple = Array(SymbolTable.simplify(demangled: full).utf8)
        let prefix = Array((module + ".").utf8)
        guard simple.count > prefix.count, let start = offset(of: prefix, in: simple) else { return nil }
        let name = simple[(start + prefix.count)...].prefix { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || byte == 0x5F
        }
        return name.isEmpty ? nil : String(decoding: name, as: UTF8.self)
    }

    /// Where `part` first occurs in `text` (bytes: String.contains(String) is in _StringProcessing,
    /// which Embedded Swift lacks).
    static func offset(of part: [UInt8], in text: [UInt8]) -> Int? {
        guard text.count >= part.count else { return nil }
        return (0...(text.count - part.count)).first { text[$0 ..< $0 + part.count].elementsEqual(part) }
    }
}
