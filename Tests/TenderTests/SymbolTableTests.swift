import SwiftletABI
import Testing
@testable import TenderCore
import TenderTestSupport

private let base = ELFBuilder.imageBase

// Mangled names taken from `swiftc -enable-experimental-feature Embedded -target
// x86_64-unknown-linux-gnu -wmo -parse-as-library -c crash.swift` and `nm`.
private let overflowSymbol = "$e5crash5CrashV8overflowyS2iFZ"   // static crash.Crash.overflow(_:)
private let mainSymbol = "$e5crash5CrashV4mainyyFZ"             // static crash.Crash.main()
private let printSymbol = "$es5print_10terminatorys12StaticStringV_ADtF"

/// Text [base, base + 0x100) with functions and gaps:
///   0x00 _start (0x10)  0x10 overflow (0x20)  [gap]  0x40 main (0x10, + local alias)  [gap]
///   0x60 swift_retain (NOTYPE, to next)  0x80 print (0x30)  [gap]  0xC0 asm_tail (NOTYPE, to next)
///   0xF0 huge (size 2^64-1, clamped to the section end 0x100)
private func symbolBuilder() -> ELFBuilder {
    var builder = ELFBuilder.standard()
    builder.segments[0].data = [UInt8](repeating: 0x90, count: 0x100)
    builder.symbols = [
        .init(name: "counter", value: base + 0x1000, size: 8, type: ELF.sttObject, section: 2),
        .init(name: "$e5crash5CrashV4mainyyFZ", value: base + 0x40, size: 0x10),
        .init(name: "local_alias", value: base + 0x40, size: 0x10, bind: ELF.stbLocal),
        .init(name: "_start", value: base, size: 0x10),
        .init(name: overflowSymbol, value: base + 0x10, size: 0x20),
        .init(name: "swift_retain", value: base + 0x60, size: 0, type: ELF.sttNotype),
        .init(name: printSymbol, value: base + 0x80, size: 0x30, bind: ELF.stbWeak),
        .init(name: "asm_tail", value: base + 0xC0, size: 0, type: ELF.sttNotype, bind: ELF.stbLocal),
        .init(name: "undefined_function", value: 0, size: 0, section: 0),
        .init(name: "absolute", value: base + 0x20, size: 4, section: ELF.shnAbs),
        .init(name: "data_label", value: base + 0x1010, size: 0, type: ELF.sttNotype, section: 2),
        .init(name: ".Llocal_label", value: base + 0x34, size: 0, type: ELF.sttNotype, bind: ELF.stbLocal),
        .init(name: "bad_name", value: base + 0x34, size: 4, nameOffset: 0xFFFF),
        .init(name: "section", value: base, size: 0, type: ELF.sttSection, bind: ELF.stbLocal),
        .init(name: "huge", value: base + 0xF0, size: UInt64.max), // last: its name ends the string table
    ]
    return builder
}

@Suite struct SymbolTableTests {
    let table: SymbolTable

    init() throws {
        table = try ELFImage(bytes: symbolBuilder().build(), memorySize: 16 << 20).symbolTable()
    }

    @Test func collectsFunctions() {
        #expect(table.symbols.map(\.name) == ["_start", overflowSymbol, mainSymbol, "swift_retain", printSymbol,
                                              "asm_tail", "huge"])
        #expect(table.symbols.map(\.size) == [0x10, 0x20, 0x10, 0x20, 0x30, 0x30, 0x10])
        #expect(table.symbols.map { $0.address - base } == [0, 0x10, 0x40, 0x60, 0x80, 0xC0, 0xF0])
    }

    @Test func symbolizeFindsFunctionAndOffset() throws {
        let hit = try #require(table.symbolize(base + 0x15))
        #expect(hit.name == "crash.Crash.overflow(_:)" && hit.offset == 5)
        #expect(table.symbolize(base + 0x10)?.offset == 0)
        #expect(table.symbolize(base + 0x2F)?.name == "crash.Crash.overflow(_:)")
        #expect(table.symbolize(base + 0x45)?.name == "crash.Crash.main()")
        #expect(table.symbolize(base)?.name == "_start")
        #expect(table.symbolize(base + 0x7F).map { [$0.name, String($0.offset)] } == ["swift_retain", "31"])
        #expect(table.symbolize(base + 0x85)?.name == "Swift.print(_:terminator:)")
        #expect(table.symbolize(base + 0xEF).map { [$0.name, String($0.offset)] } == ["asm_tail", "47"])
        #expect(table.symbolize(base + 0xFF)?.name == "huge")
        #expect(table.describe(base + 0x15) == "crash.Crash.overflow(_:) + 0x5")
        #expect(table.describe(base + 0x40) == "crash.Crash.main()")
        #expect(table.lookup(base + 0x15)?.symbol.demangledName == "static crash.Crash.overflow(Swift.Int) -> Swift.Int")
    }

    /// The tenders link no demangler: a report names a Swift function by the alias `swiftlet
    /// build` put at its address (DebuggerNames: unsized, local, labels in the longest), with
    /// the module read from the mangling. The mangling here is one no demangler accepts.
    @Test func reportsNameAFunctionByTheBuildersAlias() throws {
        let undemanglable = "$e5crash5CrashVQQ"
        #expect(SymbolTable.demangle(undemanglable) == nil)
        var builder = ELFBuilder.standard()
        builder.segments[0].data = [UInt8](repeating: 0x90, count: 0x100)
        builder.symbols = [
            .init(name: undemanglable, value: base, size: 0x20),
            .init(name: "Crash.overflow(_:)", value: base, size: 0, bind: ELF.stbLocal),
            .init(name: "Crash.overflow", value: base, size: 0, bind: ELF.stbLocal),
            .init(name: "overflow", value: base, size: 0, bind: ELF.stbLocal),
            .init(name: "c_function", value: base + 0x20, size: 0x10),
            .init(name: "label_in_c", value: base + 0x20, size: 0, bind: ELF.stbLocal),
        ]
        let table = try ELFImage(bytes: builder.build(), memorySize: 16 << 20).symbolTable()
        #expect(table.symbols.map(\.name) == [undemanglable, "c_function"])
        #expect(table.describe(base + 4) == "crash.Crash.overflow(_:) + 0x4")
        #expect(table.symbolize(base + 0x24)?.name == "c_function")
    }

    @Test func addressesOutsideFunctions() {
        for address in [0, base - 1, base + 0x30, base + 0x3F, base + 0x50, base + 0xB0, base + 0xBF,
                        base + 0x100, base + 0x1000, UInt64.max] {
            #expect(table.symbolize(address) == nil, "0x\(String(address, radix: 16))")
        }
        #expect(SymbolTable(symbols: []).symbolize(base) == nil)
    }

    @Test func sizeByModule() {
        let sizes = table.sizeByModule()
        #expect(sizes.map(\.module) == ["(C/runtime)", "Swift", "crash"])
        let expected: [UInt64] = [0x70, 0x30, 0x30] // _start + swift_retain + asm_tail + huge; print; overflow + main
        #expect(sizes.map(\.bytes) == expected)
    }

    @Test func demanglesEmbeddedSwift() {
        #expect(SymbolTable.demangle(overflowSymbol) == "static crash.Crash.overflow(Swift.Int) -> Swift.Int")
        #expect(SymbolTable.demangle("$s5crash5CrashV8overflowyS2iFZ") == "static crash.Crash.overflow(Swift.Int) -> Swift.Int")
        #expect(SymbolTable.demangle(mainSymbol) == "static crash.Crash.main() -> ()")
        #expect(SymbolTable.demangle(printSymbol) == "Swift.print(_: Swift.StaticString, terminator: Swift.StaticString) -> ()")
        for notSwift in ["", "$", "_start", "swift_retain", "main", "$sXXXgarbage", "$e",
                         "$s" + String(repeating: "A", count: 5000), "$e5crash\u{0}5CrashV"] {
            #expect(SymbolTable.demangle(notSwift) == nil, "\(notSwift.prefix(20))")
        }
    }

    @Test(arguments: [
        ("static crash.Crash.overflow(Swift.Int) -> Swift.Int", "crash.Crash.overflow(_:)"),
        ("static crash.Crash.main() -> ()", "crash.Crash.main()"),
        ("crash.generic<A>(A) -> A", "crash.generic<A>(_:)"),
        ("shapes.Box.init(w: Swift.Int) -> shapes.Box", "shapes.Box.init(w:)"),
        ("shapes.Box.doubled.getter : Swift.Int", "shapes.Box.doubled.getter"),
        ("shapes.Box.subscript.getter : (Swift.Int) -> Swift.Int", "shapes.Box.subscript.getter"),
        ("shapes.apply(_: Swift.Array<Swift.Int>, by: (Swift.Int) -> Swift.Int) -> Swift.Array<Swift.Int>",
         "shapes.apply(_:by:)"),
        ("closure #1 (Swift.Int) -> Swift.Int in shapes.run() -> Swift.Int", "closure #1 in shapes.run()"),
        ("partial apply forwarder for closure #1 (Swift.Int) -> Swift.Int in shapes.run() -> Swift.Int",
         "partial apply for closure #1 in shapes.run()"),
        ("generic specialization <Swift.Int> of Swift.Array.append(__owned A) -> ()", "specialized Swift.Array.append(_:)"),
        ("generic specialization <Swift.UInt> of (extension in Swift):Swift.BinaryInteger._toStringImpl(Swift.UnsafeMutablePointer<Swift.UInt8>, Swift.UInt, Swift.Int, Swift.Bool) -> Swift.Int",
         "specialized Swift.BinaryInteger._toStringImpl(_:_:_:_:)"),
        ("generic specialization <Swift.UnsafePointer<Swift.Int>> of static (extension in Swift):Swift.Comparable.<= infix(A, A) -> Swift.Bool",
         "specialized Swift.Comparable.<= infix(_:_:)"),
        ("generic specialization <Swift.Int> of Swift.max<A where A: Swift.Comparable>(A, A) -> A", "specialized Swift.max<A>(_:_:)"),
        ("generic specialization <Swift.Array<Swift.Int>> of (extension in Swift):Swift.Collection< where A.Iterator == Swift.IndexingIterator<A>>.makeIterator() -> Swift.IndexingIterator<A>",
         "specialized Swift.Collection.makeIterator()"),
        ("partial apply forwarder for closure #1 (Swift.UnsafeMutableRawPointer) -> Swift.UnsafeMutableRawPointer in Swift.UnsafeMutableRawBufferPointer.init(_uncheckedStart: Swift.Optional<Swift.UnsafeMutableRawPointer>, count: Swift.Int) -> Swift.UnsafeMutableRawBufferPointer with unmangled suffix \".1\"",
         "partial apply for closure #1 in Swift.UnsafeMutableRawBufferPointer.init(_uncheckedStart:count:)"),
        ("outlined destroy of Swift.Array<Swift.Int>", "outlined destroy of Swift.Array<Swift.Int>"),
        ("Swift._swiftEmptyArrayStorage.unsafeMutableAddressor : (Swift.Int, Swift.Int, Swift.Int, Swift.Int)",
         "Swift._swiftEmptyArrayStorage.unsafeMutableAddressor"),
        ("generic specialization <Swift.Int> of default argument 1 of Swift.print<A where A: Swift.BinaryInteger>(_: A, terminator: Swift.StaticString) -> ()",
         "specialized default argument 1 of Swift.print<A>(_:terminator:)"),
        // A private function: its discriminator is not a parameter list.
        ("Swiftlet.HTTPRequestParser.(endOfHead in _37BB35F2216DE86E72C5827E9D60AF85)(inout [Swiftlet.HTTPParseEvent]) -> ()",
         "Swiftlet.HTTPRequestParser.endOfHead(_:)"),
        ("Swiftlet.(hexDigit in _0A1B)(Swift.UInt8) -> Swift.UInt8?", "Swiftlet.hexDigit(_:)"),
        // Garbage in, something out: never a trap.
        ("((((", "(((("), (")))) -> <<<", ")))) -> <<<"), ("closure #", "closure #"), ("", ""),
        ("generic specialization <<<", "generic specialization <<<"),
    ])
    func simplify(full: String, short: String) {
        #expect(SymbolTable.simplify(demangled: full) == short)
    }

    @Test func moduleNames() {
        #expect(SymbolTable.moduleName(ofSymbol: overflowSymbol) == "crash")
        #expect(SymbolTable.moduleName(ofSymbol: "$s6shapes3BoxV1wSivg") == "shapes")
        #expect(SymbolTable.moduleName(ofSymbol: printSymbol) == "Swift")
        #expect(SymbolTable.moduleName(ofSymbol: "$eSw10copyMemory4fromySW_tF") == "Swift")
        #expect(SymbolTable.moduleName(ofSymbol: "swift_retain") == "(C/runtime)")
        #expect(SymbolTable.moduleName(ofSymbol: "$e99short") == "(C/runtime)")
        #expect(SymbolTable.moduleName(ofSymbol: "$") == "(C/runtime)")
    }

    @Test func explicitSymbolsAreSortedAndDeduplicated() {
        let table = SymbolTable(symbols: [.init(name: "b", address: 0x200, size: 0x10),
                                          .init(name: "a", address: 0x100, size: 0x10),
                                          .init(name: "a2", address: 0x100, size: 0x20)])
        #expect(table.symbols.map(\.name) == ["a", "b"])
        #expect(table.symbolize(0x205)?.name == "b")
        #expect(table.count == 2 && !table.isEmpty)
    }

    @Test func malformedSymbolTables() throws {
        let (good, layout) = symbolBuilder().buildWithLayout()
        let symtab = layout.sectionHeader(try #require(layout.symtabSectionIndex))
        let strtab = symtab + ELF.sectionHeaderSize
        func symbols(_ bytes: [UInt8]) throws -> [String] {
            try ELFImage(bytes: bytes, memorySize: 16 << 20).symbolTable().symbols.map(\.name)
        }
        #expect(try symbols(good).count == 7)

        var b = good; b.patch(UInt64(16), at: symtab + 56)                   // entsize
        #expect(try symbols(b).isEmpty)
        b = good; b.patch(b.readLE(UInt64.self, at: symtab + 32) - 1, at: symtab + 32) // size % entsize != 0
        #expect(try symbols(b).isEmpty)
        b = good; b.patch(UInt32(200), at: symtab + 40)                      // sh_link out of range
        #expect(try symbols(b).isEmpty)
        b = good; b.patch(UInt32(1), at: symtab + 40)                        // sh_link to .text
        #expect(try symbols(b).isEmpty)
        b = good; b.patch(UInt64.max - 8, at: symtab + 24)                   // symtab offset overflow
        #expect(try symbols(b).isEmpty)
        b = good; b.patch(UInt64(1) << 40, at: symtab + 32)                  // symtab size past the file
        #expect(try symbols(b).isEmpty)
        b = good; b.patch(UInt64(1) << 40, at: strtab + 32)                  // strtab size past the file
        #expect(try symbols(b).isEmpty)
        // Cut the string table short: names running past its end are skipped, not read beyond.
        b = good; b.patch(UInt64(layout.strtabSize - 1), at: strtab + 32)    // drops the last NUL
        let names = try symbols(b)
        #expect(!names.contains("huge") && names.contains("_start") && names.count == 6)
        b = good; b.patch(UInt64(0), at: strtab + 32)                        // empty string table
        #expect(try symbols(b).isEmpty)
        // Symbol section indexes out of range are skipped.
        b = good
        let symbolBase = try #require(layout.symtab)
        for i in 1 ... 16 { b.patch(UInt16(0xFEFF), at: symbolBase + i * ELF.symbolSize + 6) }
        #expect(try symbols(b).isEmpty)
    }
}
