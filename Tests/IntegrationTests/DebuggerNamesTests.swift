// The function names images carry for gdb (DebuggerNames): which names a demangled function
// gets, that a built image has them (read back with binutils' readelf, not our ELF reader),
// and that they stay invisible to crash reports and `inspect --size`, which keep the mangled
// symbol at each address. GDBTests proves gdb breaks on them.
import Foundation
import SwiftletBuild
import TenderCore
import Testing

@Suite struct DebuggerNamesTests {
    @Test(arguments: [
        ("debugging.sum(upTo:)", ["sum(upTo:)", "sum"]),
        ("debugging.spin()", ["spin()", "spin"]),
        ("Swiftlet.Router.respond(to:)", ["Router.respond(to:)", "Router.respond", "respond"]),
        ("Swiftlet.HTTPServer.Session.init(fd:)", ["HTTPServer.Session.init(fd:)", "HTTPServer.Session.init", "init"]),
        ("web.main", ["main"]),
        ("Swiftlet.TCPConnection.state.getter", ["TCPConnection.state.getter"]),
    ])
    func namesAFunctionAsSwiftWritesIt(display: String, expected: [String]) {
        #expect(DebuggerNames.aliases(forDisplayName: display) == expected)
    }

    @Test(arguments: [
        "closure #1 in web",                              // not a name gdb could parse
        "specialized Swiftlet.TCPConnection.poll(now:emit:)",
        "Swift.Array<Swift.Int>.append(_:)",              // generic arguments
        "Swift.== infix(_:_:)",
        "memcpy",                                         // no module: a C function keeps its name
        "Swiftlet.`Type`.f()",
        "Swiftlet.Händler.f()",
        "Swiftlet.f(a,b)",
        "Swiftlet.f(x:",
        "Swiftlet..f()",
    ])
    func leavesOtherNamesAlone(display: String) {
        #expect(DebuggerNames.aliases(forDisplayName: display).isEmpty)
    }

    @Test func anImageCarriesTheNamesButReportsKeepTheMangledOnes() throws {
        let image = try Harness.example("web")
        // readelf -sW: "  12: 0000000100123450     0 FUNC    LOCAL  DEFAULT    1 swiftletStart(_:)".
        // (The C entry point calls it, so link-time optimization cannot inline it away, as it
        // does Router.respond(to:).)
        let readelf = try Harness.run(URL(fileURLWithPath: "/usr/bin/readelf"), ["-sW", image.path])
        #expect(readelf.status == 0, "\(readelf.stderr)")
        var aliasAddresses: [String: UInt64] = [:]
        var mangledAddresses: [String: UInt64] = [:]
        for line in readelf.stdout.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count == 8, fields[3] == "FUNC", let address = UInt64(fields[1], radix: 16) else { continue }
            if fields[2] == "0" && fields[4] == "LOCAL" { aliasAddresses[String(fields[7])] = address }
            else { mangledAddresses[String(fields[7])] = address }
        }
        let start = try #require(mangledAddresses.first { SymbolTable.demangle($0.key)?.contains("swiftletStart(") == true })
        #expect(aliasAddresses["swiftletStart(_:)"] == start.value, "readelf: \(readelf.stdout.prefix(4000))")
        #expect(aliasAddresses["swiftletStart"] == start.value)

        let elf = try ELFImage(bytes: [UInt8](try Data(contentsOf: image)))
        let aliases = Set(aliasAddresses.keys)
        #expect(aliases.count > 100, "the web image should have names for hundreds of functions")
        // Crash backtraces: the sized, mangled symbol wins at each address.
        let table = SymbolTable(image: elf)
        #expect(table.lookup(start.value)?.symbol.name == start.key)
        #expect(!table.symbols.contains { aliases.contains($0.name) }, "an alias replaced a mangled symbol in the crash table")
        // inspect --size: an alias claims no bytes (not even the padding after its function).
        let report = ImageSizeReport(image: elf, classify: { _, _ in "any" })
        #expect(!report.symbols.contains { aliases.contains($0.name) }, "an alias took bytes in the size report")
    }
}
