// Function names gdb understands. gdb 13 has no Swift demangler, and given Swift's DWARF it
// names each function by its mangled linkage name ($e9debugging3sum4upToS2i_tF), which nobody
// types after `break`. Two things at build time fix that:
// - the compiler leaves DW_AT_linkage_name off concrete functions (`linkageNameFlags`), so gdb
//   names a frame by its DWARF name: `sum (n=...) at main.swift:11`;
// - every Swift function gets local symbol aliases at its address, named as a Swift developer
//   writes it: `sum(upTo:)`, `sum`, `Router.respond(to:)`, `Router.respond`, `respond`. gdb does
//   not index functions that Swift's DWARF nests in a module, so `break NAME` resolves through
//   these symbols; gdb then puts the breakpoint after the prologue from the line table.
// The aliases are unsized: the crash report's symbol table and `inspect --size` keep the sized
// mangled symbol at each address.
import TenderCore

public enum DebuggerNames {
    /// Code generation flags (clang's, which writes the DWARF; see ImageBuilder.codegenFlags):
    /// DW_AT_linkage_name only on abstract (inlined) functions, where LLVM needs it; gdb then
    /// falls back to DW_AT_name for everything it shows.
    static let linkageNameFlags = ["-mllvm", "-dwarf-linkage-names=Abstract"]

    /// The names gdb should know a function by, from its short demangled name
    /// ("debugging.Router.respond(to:)" → "Router.respond(to:)", "Router.respond", "respond").
    /// None for names that are not a plain module-qualified path (closures, specializations,
    /// generics, operators): gdb's linespec parser could not take them anyway.
    public static func aliases(forDisplayName name: String) -> [String] {
        var path = Substring(name), labels: Substring = ""
        if let open = name.firstIndex(of: "(") {
            guard name.last == ")" else { return [] }
            path = name[..<open]
            labels = name[open...]
            guard labels.dropFirst().dropLast().allSatisfy({ isIdentifier($0) || $0 == ":" }) else { return [] }
        }
        let components = path.split(separator: ".", omittingEmptySubsequences: false)
        guard components.count >= 2, components.allSatisfy({ !$0.isEmpty && $0.allSatisfy(isIdentifier) }),
              components.last!.first?.isNumber == false else { return [] }
        let qualified = components.dropFirst().joined(separator: ".")   // without the module
        var names = [qualified + labels, qualified]
        if let base = components.last, components.count > 2, !accessors.contains(String(base)) { names.append(String(base)) }
        var seen = Set<String>()
        return names.filter { seen.insert($0).inserted }
    }

    /// `llvm-objcopy` arguments adding every alias of `image`'s Swift functions as a local
    /// function symbol (section-relative, as objcopy wants for an executable).
    public static func objcopyArguments(for image: ELFImage) -> [String] {
        let code = image.sections.filter { $0.isExecutable && !$0.name.isEmpty }
        var arguments: [String] = []
        for symbol in SymbolTable(image: image).symbols where SymbolTable.demangle(symbol.name) != nil {
            guard let section = code.first(where: { symbol.address >= $0.addr && symbol.address - $0.addr < $0.size }) else { continue }
            let offset = "0x" + String(symbol.address - section.addr, radix: 16)
            for alias in aliases(forDisplayName: symbol.displayName) {
                arguments += ["--add-symbol", "\(alias)=\(section.name):\(offset),function,local"]
            }
        }
        return arguments
    }

    /// Accessor names a demangling may end with: `break getter` would mean nothing.
    private static let accessors: Set<String> = ["getter", "setter", "modify", "read", "didset", "willset",
                                                 "unsafeAddressor", "unsafeMutableAddressor", "deinit"]

    /// ASCII identifier characters only: anything else (backquoted or Unicode names) could be
    /// misread by objcopy's NAME=SECTION:VALUE syntax or gdb's linespec parser.
    private static func isIdentifier(_ character: Character) -> Bool {
        character.isASCII && (character.isLetter || character.isNumber || character == "_")
    }
}
