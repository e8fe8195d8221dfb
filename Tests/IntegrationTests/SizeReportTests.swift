// `swiftlet inspect --size`: the module table adds up to the section sizes (checked against
// binutils' readelf, not our own ELF reader), and known symbols land in the right module.
import Foundation
import SwiftletBuild
import TenderCore
import Testing

@Suite struct SizeReportTests {
    static func report(_ image: URL) throws -> (report: ImageSizeReport, modules: SizeModules) {
        let elf = try ELFImage(bytes: [UInt8](try Data(contentsOf: image)))
        let modules = SizeModules(appModule: "web", swiftletFolders: try SwiftletHome.locate().guestDeclarationFolders)
        return (ImageSizeReport(image: elf, classify: modules.module(ofSymbol:file:)), modules)
    }

    @Test func tableAddsUpToTheAllocatedSectionsThatReadelfLists() throws {
        let image = try Harness.example("web")
        let result = try Harness.run(Harness.cli, ["inspect", "--size", "--top", "5", image.path], timeout: 120)
        #expect(result.status == 0, "stderr: \(result.stderr)")
        // readelf -SW: "[ 1] .text PROGBITS 0000000100100000 001000 03bd75 00 AXR 0 0 16".
        let readelf = try Harness.run(URL(fileURLWithPath: "/usr/bin/readelf"), ["-SW", image.path])
        var allocated = 0
        for line in readelf.stdout.split(separator: "\n") where line.contains("] .") {
            let fields = line.split(separator: "]", maxSplits: 1)[1].split(separator: " ")
            guard fields.count >= 7, fields[6].contains("A"), let size = Int(fields[4], radix: 16) else { continue }
            allocated += size
        }
        #expect(allocated > 100_000, "readelf: \(readelf.stdout)")
        let grouped = allocated.formatted(.number.grouping(.automatic).locale(Locale(identifier: "en_US")))
        let totalLine = result.stdout.split(separator: "\n").first { $0.hasPrefix("total (= the sections)") }
        #expect(totalLine?.contains(" \(grouped) ") == true, "readelf says \(grouped) allocated bytes; inspect: \(result.stdout)")

        // Each row's kinds add up to its total, and the rows add up to the total line.
        let (report, _) = try Self.report(image)
        #expect(report.modules.reduce(0) { $0 + $1.total } == UInt64(allocated))
        for kind in ImageSizeReport.Kind.allCases {
            #expect(report.modules.reduce(0) { $0 + $1.bytes[kind.rawValue] } == report.sectionBytes[kind.rawValue])
        }
        #expect(result.stdout.contains("largest 5 symbols:"))
        for module in [SizeModules.swift, SizeModules.swiftletNet, SizeModules.swiftletHTTP, SizeModules.swiftletCore, "app: web"] {
            #expect(result.stdout.contains("\n\(module) "), "no row for \(module): \(result.stdout)")
        }
    }

    @Test func knownSymbolsLandInTheirModules() throws {
        let image = try Harness.example("web")
        let (report, modules) = try Self.report(image)
        func module(ofSymbolContaining fragment: String) -> String? {
            report.symbols.first { $0.name.contains(fragment) }?.module
        }
        #expect(module(ofSymbolContaining: "8Swiftlet13TCPConnection") == SizeModules.swiftletNet)
        #expect(module(ofSymbolContaining: "8Swiftlet17HTTPRequestParser") == SizeModules.swiftletHTTP)
        #expect(module(ofSymbolContaining: "8Swiftlet6Router") == SizeModules.swiftletHTTP)
        #expect(report.symbols.first { $0.name == "main" }?.module == "app: web")
        #expect(report.symbols.first { $0.name == "memcpy" }?.module == SizeModules.freestandingC)
        #expect(report.symbols.first { $0.name == "swift_deallocClassInstance" }?.module == SizeModules.swift)
        // Runtime entry points count as the runtime by name, also the non-atomic ones of refcount.c.
        #expect(report.symbols.first { $0.name == "swift_nonatomic_release" }?.module == SizeModules.swift)
        // BearSSL, global (br_*) and local (after the builder's file marker), is not our C.
        #expect(report.symbols.first { $0.name == "br_ssl_hs_server_run" }?.module == SizeModules.bearSSL)
        #expect(report.symbols.first { $0.name == "t0_codeblock" }?.module == SizeModules.bearSSL)
        #expect(report.symbols.contains { $0.module == SizeModules.swiftletTLS })
        // Classification by name alone, for names whose module the mangling spells out.
        #expect(modules.module(ofSymbol: "$e3web6handleyyF") == "app: web")
        #expect(modules.module(ofSymbol: "$es5printyyypF") == SizeModules.swift)
        #expect(modules.module(ofSymbol: "posix_memalign") == SizeModules.freestandingC)
        #expect(modules.module(ofSymbol: "_ZL24_swift_stdlib_nfd_decomp") == SizeModules.swift)
    }

    /// The application's module comes from the image's symbols, not from its file name.
    @Test func applicationModuleIsReadFromTheSymbols() throws {
        let image = try Harness.example("web")
        let renamed = Harness.scratch.appendingPathComponent("renamed-web.swiftlet")
        try? FileManager.default.removeItem(at: renamed)
        try FileManager.default.copyItem(at: image, to: renamed)
        #expect(SizeModules.applicationModule(in: try ELFImage(bytes: [UInt8](try Data(contentsOf: renamed)))) == "web")
        let result = try Harness.run(Harness.cli, ["inspect", "--size", "--top", "0", renamed.path], timeout: 120)
        #expect(result.stdout.contains("\napp: web "), "\(result.stdout)")
        #expect(!result.stdout.contains("app: renamed"), "\(result.stdout)")
    }

    /// String `==`, `split` on Characters or hashing by Character would link the Unicode
    /// normalization and grapheme tables (~35 KB); the library and the web example avoid them
    /// (`ld.lld --why-live=_swift_stdlib_getNormData` names the caller if this fails).
    @Test func examplesLinkNoUnicodeTables() throws {
        for example in ["web", "echo", "hello"] {
            let elf = try ELFImage(bytes: [UInt8](try Data(contentsOf: try Harness.example(example))))
            let unicode = ImageSizeReport(image: elf) { name, _ in name }.symbols.map(\.name).filter {
                $0.contains("_swift_stdlib_getNormData") || $0.contains("_swift_stdlib_getGraphemeBreakProperty")
                    || $0.contains("_swift_stdlib_nfd_decomp")
            }
            #expect(unicode.isEmpty, "\(example) links \(unicode)")
        }
    }

    /// The stack reaches the DNS resolver only through the `NameService` that `resolve` sets:
    /// examples/web never resolves a name and links none of it (it linked 9 KB of code, polled
    /// on every turn); an application that resolves one gets it.
    @Test func nameResolutionIsLinkedOnlyIntoApplicationsThatResolve() throws {
        func dnsSymbols(_ image: URL) throws -> [String] {
            let elf = try ELFImage(bytes: [UInt8](try Data(contentsOf: image)))
            return ImageSizeReport(image: elf) { name, _ in name }.symbols.map(\.name).filter { $0.contains("DNSResolver") }
        }
        let web = try dnsSymbols(try Harness.example("web"))
        #expect(web.isEmpty, "examples/web links \(web)")

        let resolver = Harness.scratch.appendingPathComponent("resolver")
        try? FileManager.default.removeItem(at: resolver)
        try FileManager.default.createDirectory(at: resolver, withIntermediateDirectories: true)
        try "let network = Network.bringUp()\nprint(network.resolve(\"example.com\", now: 0) == nil)\n"
            .write(to: resolver.appendingPathComponent("main.swift"), atomically: true, encoding: .utf8)
        let image = Harness.scratch.appendingPathComponent("resolver.swiftlet")
        let builder = ImageBuilder(toolchain: try Toolchain.locate(), home: try SwiftletHome.locate())
        _ = try builder.build(try Application(path: resolver.path), targets: Target.tenders, output: image)
        #expect(!(try dnsSymbols(image)).isEmpty)
    }

    /// The optimizer specializes `TCPConnection.poll(now:emit:)` for each closure it is given;
    /// the stack gives it one (`transmitDue`): the stream's poll and the TIME-WAIT answer had a
    /// ~6 KB copy each.
    @Test func tcpPollIsSpecializedOnce() throws {
        let elf = try ELFImage(bytes: [UInt8](try Data(contentsOf: try Harness.example("web"))))
        let names = ImageSizeReport(image: elf) { name, _ in name }.symbols.map(\.name)
        let polls = names.filter { $0.hasPrefix("$e8Swiftlet13TCPConnectionV4poll3now4emit") && !$0.contains("$defer") }
        let transmitDue = names.filter { $0.hasPrefix("$e8Swiftlet12NetworkStackC11transmitDue") }
        // Its one copy has a symbol of its own, or is inlined into `transmitDue`, which then has
        // one (its closure captures no reference). Before, both copies were inlined into their
        // callers: neither had a symbol.
        #expect(polls.count == 1 || (polls.isEmpty && transmitDue.count == 1),
                "specializations of TCPConnection.poll: \(polls); transmitDue: \(transmitDue)")
    }

    /// The stack's hash tables are KeyedTables over one non-generic KeySet: examples/web links
    /// none of the standard library's hashing (each Dictionary type brought ~2 KB of its own),
    /// nor the UDP sockets it never binds (the stack reaches them through `DatagramPorts`).
    @Test func webLinksNoStandardHashingNorUnboundUDPSockets() throws {
        let elf = try ELFImage(bytes: [UInt8](try Data(contentsOf: try Harness.example("web"))))
        let names = ImageSizeReport(image: elf) { name, _ in name }.symbols.map(\.name)
        let hashing = names.filter { $0.contains("Hasher") || $0.contains("_NativeDictionary") || $0.contains("_NativeSet") }
        #expect(hashing.isEmpty, "examples/web links \(hashing)")
        #expect(names.contains { $0.contains("8Swiftlet6KeySetV") }, "no KeySet: are the stack's tables still KeyedTables?")
        let udp = names.filter { $0.contains("8Swiftlet8UDPPortsC") || $0.contains("8Swiftlet9UDPSocketC") }
        #expect(udp.isEmpty, "examples/web links \(udp)")
    }

    /// The guest's own arguments (ip=, header-timeout=, ...) are read as bytes in place
    /// (Runtime/ByteText.swift): `Int(text)`/`UInt64(text)` on Strings linked a `_parseInteger`
    /// specialization per type (~1 KB in all), and the String work around them ~8 KB of web's main.
    @Test func webParsesNoIntegersFromStrings() throws {
        let elf = try ELFImage(bytes: [UInt8](try Data(contentsOf: try Harness.example("web"))))
        let parsers = ImageSizeReport(image: elf) { name, _ in name }.symbols.map(\.name).filter { $0.contains("_parseInteger") }
        #expect(parsers.isEmpty, "examples/web links \(parsers)")
        #expect(ImageSizeReport(image: elf) { name, _ in name }.symbols.contains { $0.name.contains("8ByteTextV") },
                "no ByteText: are the arguments still read as bytes?")
    }

    @Test func strippedImageIsRefusedWithAReason() throws {
        let image = try Harness.example("hello")
        let stripped = Harness.scratch.appendingPathComponent("hello-stripped.swiftlet")
        try? FileManager.default.removeItem(at: stripped)
        let strip = try Harness.run(URL(fileURLWithPath: "/usr/bin/strip"), ["-o", stripped.path, image.path])
        #expect(strip.status == 0, "strip: \(strip.stderr)")
        let result = try Harness.run(Harness.cli, ["inspect", "--size", stripped.path], timeout: 120)
        #expect(result.status != 0)
        #expect(result.stderr.contains("has no symbol table"), "stderr: \(result.stderr)")
    }
}
