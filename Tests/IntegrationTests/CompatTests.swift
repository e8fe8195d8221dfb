// Ordinary Swift through `swiftlet build` (issue 13): top-level `await` in main.swift builds and
// runs, a crashing compiler is reported in one line, and each Embedded Swift restriction the
// compiler reports gets a line saying what to write instead.
import Foundation
import SwiftletBuild
import Testing

@Suite struct CompatTests {
    static func swiftlet(_ arguments: [String], environment: [String: String]? = nil) throws -> Harness.Outcome {
        _ = Harness.cli     // sets SWIFTLET_TENDERS, which `environment` then carries over
        return try Harness.run(Harness.cli, arguments, timeout: 600, environment: environment)
    }

    /// A folder holding `main.swift` with `source`, for `swiftlet build`.
    static func application(_ name: String, _ source: String) throws -> URL {
        let folder = Harness.scratch.appendingPathComponent("compat-\(UUID().uuidString)/\(name)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try source.write(to: folder.appendingPathComponent("main.swift"), atomically: true, encoding: .utf8)
        return folder
    }

    static let topLevelAwait = """
        import Swiftlet
        import _Concurrency

        actor Counter {
            var count = 0
            func increment() -> Int { count += 1; return count }
        }

        let counter = Counter()
        /// A top-level function using a top-level variable: both stay at file scope.
        func bump() async -> Int { await counter.increment() }

        print("before the first await")
        let first = await counter.increment()
        let second = await bump()
        struct Pair { var a: Int, b: Int }
        let pair = Pair(a: first, b: second)
        print("top-level await: \\(pair.a) then \\(pair.b), reported at line \\(#line)")
        """

    /// `source` as the image `name`.swiftlet; kept in a static let: one build for every target
    /// the test runs on.
    static func builtImage(_ name: String, _ source: String) -> Result<URL, any Error> {
        Result {
            let folder = try application(name, source)
            let image = folder.appendingPathComponent("\(name).swiftlet")
            let built = try swiftlet(["build", folder.path, "-o", image.path])
            guard built.status == 0 else { throw Harness.Abandoned(description: "build failed: \(built.stderr)") }
            return image
        }
    }

    static let topLevelAwaitImage = builtImage("toplevel", topLevelAwait)

    @Test(arguments: runnableTargets)
    func topLevelAwaitInMainSwiftBuildsAndRuns(target: Target) throws {
        let image = try Self.topLevelAwaitImage.get()
        let ran = try Harness.run(Harness.tender(target), [image.path])
        #expect(ran.status == 0, "stderr: \(ran.stderr)")
        let lines = ran.stdout.split(separator: "\n").map(String.init)
        let before = try #require(lines.firstIndex(of: "before the first await"), "stdout: \(ran.stdout)")
        // #line still counts the user's lines: line 18 of main.swift.
        let after = try #require(lines.firstIndex(of: "top-level await: 1 then 2, reported at line 18"), "stdout: \(ran.stdout)")
        #expect(before < after)
    }

    @Test func topLevelAwaitDiagnosticsNameTheUsersLines() throws {
        let source = Self.topLevelAwait + "\nlet wrong: Int = \"seven\"\n"
        let folder = try Self.application("mistake", source)
        let built = try Self.swiftlet(["build", folder.path, "-o", folder.appendingPathComponent("mistake.swiftlet").path])
        #expect(built.status != 0)
        let mainPath = folder.appendingPathComponent("main.swift").path
        #expect(built.stderr.contains("\(mainPath):19:18: error: cannot convert value of type 'String'"), "stderr: \(built.stderr)")
        #expect(built.stderr.contains("let wrong: Int = \"seven\""), "the quoted line is the user's: \(built.stderr)")
        #expect(!built.stderr.contains("main-async.swift"), "stderr: \(built.stderr)")
        #expect(!built.stderr.contains("#sourceLocation"), "stderr: \(built.stderr)")
    }

    /// Ordinary code printing collections, optionals and tuples, with no `import Swiftlet`: the
    /// guest must print what the same file prints as an ordinary host program. (Dictionaries
    /// and Sets of more than one element are sorted first: their order is the hash seed's.)
    static let printing = #"""
        let words = ["b", "a"]
        print("sorted \(words.sorted())")
        print(words.sorted())
        let nested = [[1, 2], [], [3]]
        print("nested \(nested)")
        let doubles: [Double] = [1.5, 2, -0.25]
        print("doubles \(doubles) \([Float(0.1)])")
        let escapes = ["quote \" backslash \\ tab \t newline \n cr \r nul \0 bell \u{7}", "é ü 😀 \u{301}", ""]
        print("escapes \(escapes)")
        let characters: [Character] = ["x", "é", "\""]
        print("characters \(characters) \([Unicode.Scalar(65)])")
        let numbers = [1, 2, 3, 4]
        print("slice \(numbers[1...2]) \(ContiguousArray([7, 8])) \(Array<Int>())")
        let maybe: Int? = 3
        let nothing: String? = nil
        let present: String? = "yes"
        print("optionals \(maybe) \(nothing) \(present) \([maybe, nil])")
        print(maybe)
        print("dictionary \(["one": 1]) \([Int: [String]]()) \([2: ["x", "y"]]) \(["k": Optional(1.5)])")
        print(["key": [1, 2]])
        print("set \(Set(["solo"])) \(Set<Int>()) \(Set([3, 1, 2]).sorted())")
        print("tuples \((1, "a")) \((1, [2.5], "c")) \((true, 2, 3, "four")) \((1, 2, 3, 4, 5)) \((1, 2, 3, 4, 5, [6]))")
        struct Point: CustomStringConvertible {
            var x: Int, y: Int
            var description: String { "(\(x), \(y))" }
        }
        let origin: Point? = Point(x: 0, y: 0)
        print("points \([Point(x: 1, y: 2)]) \(origin) \([Point]())")
        print([Point(x: 3, y: 4)])
        print("a", 1, [2], separator: "-")
        print("one", "two")
        print(words, terminator: "!\n")
        print("bools \([true, false]) ints \([Int8(-1)]) \([UInt64.max]) \([Int.min])")
        let parts = "a,b".split(separator: ",")
        print("substrings \(parts)")
        """#

    static let printingImage = builtImage("printing", printing)

    /// What the host's Swift (with reflection) prints for `printing`.
    static let printingOnTheHost: Result<String, any Error> = Result {
        try HostReference.output(of: [try application("printing-host", printing).appendingPathComponent("main.swift").path])
    }

    @Test(arguments: runnableTargets)
    func collectionsOptionalsAndTuplesPrintAsOrdinarySwiftPrintsThem(target: Target) throws {
        let expected = try Self.printingOnTheHost.get()
        #expect(expected.contains(#"sorted ["a", "b"]"#), "the host's reference output: \(expected)")
        let ran = try Harness.run(Harness.tender(target), [try Self.printingImage.get().path])
        #expect(!ran.stdout.contains("cannot print"), "stdout: \(ran.stdout)")
        HostReference.expectSameLines(ran, as: expected)
    }

    /// A value no overload can print (a struct without `description`, an enum, an Array of
    /// them) fails the build at its line, instead of printing a placeholder at run time.
    @Test func anUnprintableValueFailsTheBuildAtItsLine() throws {
        let folder = try Self.application("unprintable", """
            struct Point { var x: Int }
            enum Color { case red }
            print("point \\(Point(x: 1))")
            print("colors \\([Color.red])")
            print("fine \\([1, 2])")
            """)
        let built = try Self.swiftlet(["build", folder.path, "-o", folder.appendingPathComponent("unprintable.swiftlet").path])
        #expect(built.status != 0, "stderr: \(built.stderr)")
        let mainPath = folder.appendingPathComponent("main.swift").path
        for line in [3, 4] {
            #expect(built.stderr.contains("\(mainPath):\(line):"), "line \(line): \(built.stderr)")
        }
        #expect(!built.stderr.contains("\(mainPath):5:"), "line 5 prints fine: \(built.stderr)")
        #expect(built.stderr.contains(": error: Embedded Swift cannot print a value of this type"), "stderr: \(built.stderr)")
        #expect(!built.stderr.contains("warning: 'appendInterpolation' is deprecated"), "stderr: \(built.stderr)")
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("unprintable.swiftlet").path))
    }

    /// A toolchain whose swiftc prints a stack dump and dies of SIGSEGV, beside the real clang,
    /// ld.lld and Embedded libraries (SWIFTLET_TOOLCHAIN names a toolchain's root).
    static func crashingToolchain() throws -> URL {
        let real = try Toolchain.locate()
        let root = Harness.scratch.appendingPathComponent("crashing-toolchain-\(UUID().uuidString)")
        let bin = root.appendingPathComponent("usr/bin")
        let embedded = root.appendingPathComponent("usr/lib/swift/embedded")
        let fileManager = FileManager.default
        try fileManager.createDirectory(at: bin, withIntermediateDirectories: true)
        try fileManager.createDirectory(at: embedded, withIntermediateDirectories: true)
        try fileManager.createSymbolicLink(at: bin.appendingPathComponent("clang"), withDestinationURL: real.clang)
        try fileManager.createSymbolicLink(at: bin.appendingPathComponent("ld.lld"), withDestinationURL: real.linker)
        try fileManager.createSymbolicLink(at: embedded.appendingPathComponent(Toolchain.guestTriple), withDestinationURL: real.embeddedLibraries)
        let swiftc = bin.appendingPathComponent("swiftc")
        try """
            #!/bin/sh
            echo "Please submit a bug report (https://swift.org/contributing/#reporting-bugs) and include the crash backtrace." >&2
            echo "Stack dump:" >&2
            for frame in $(seq 0 40); do echo " #$frame 0x00005566 swift::Lowering::SILGenModule::emitEntryPoint" >&2; done
            kill -SEGV $$

            """.write(to: swiftc, atomically: true, encoding: .utf8)
        try fileManager.setAttributes([.posixPermissions: 0o755], ofItemAtPath: swiftc.path)
        return root
    }

    @Test func aCompilerCrashIsOneLineAndALog() throws {
        let toolchain = try Self.crashingToolchain()
        let folder = try Self.application("crashes", "print(\"hi\")\n")
        let output = folder.appendingPathComponent("out/crashes.swiftlet")
        var environment = ProcessInfo.processInfo.environment
        environment["SWIFTLET_TOOLCHAIN"] = toolchain.path
        let built = try Self.swiftlet(["build", folder.path, "-o", output.path], environment: environment)
        #expect(built.status != 0)
        #expect(!built.stderr.contains("Stack dump"), "stderr: \(built.stderr)")
        #expect(!built.stderr.contains("emitEntryPoint"), "stderr: \(built.stderr)")
        let crashLines = built.stderr.split(separator: "\n").filter { $0.contains("the Swift compiler crashed") }
        #expect(crashLines.count == 1, "stderr: \(built.stderr)")
        let line = try #require(crashLines.first)
        #expect(line.contains("this is a compiler bug, not your code — log: "), "stderr: \(built.stderr)")
        let logPath = String(try #require(line.components(separatedBy: "log: ").last))
        let log = try String(contentsOfFile: logPath, encoding: .utf8)
        #expect(log.contains("Stack dump:"), "the log keeps the dump: \(log)")
        #expect(log.contains("emitEntryPoint"))
    }

    /// Each restriction: a tiny app, the compiler's words, and Swiftlet's advice.
    struct Restriction: CustomTestStringConvertible, Sendable {
        var name: String
        var source: String
        var diagnostic: String
        var advice: String
        var testDescription: String { name }
    }

    static let restrictions: [Restriction] = [
        Restriction(name: "existential", source: """
            protocol Shape { func area() -> Int }
            struct Square: Shape { func area() -> Int { 4 } }
            let shapes: [any Shape] = [Square()]
            print(shapes.count)
            """, diagnostic: "cannot use a value of protocol type 'any Shape' in embedded Swift",
            advice: "swiftlet: Embedded Swift has no existentials of non-class protocols (`any P`, `Any`): use generics (`some P`"),
        Restriction(name: "Any", source: "let value: Any = 3\nprint(\"hi\")\n",
                    diagnostic: "cannot use a value of protocol type 'Any' in embedded Swift",
                    advice: "swiftlet: Embedded Swift has no existentials"),
        Restriction(name: "weak", source: """
            final class Node { weak var parent: Node?; init() {} }
            print(Node().parent == nil)
            """, diagnostic: "attribute 'weak' cannot be used in Embedded Swift",
            advice: "swiftlet: Embedded Swift has no weak (nor unowned) references: keep an ID or index"),
        Restriction(name: "unowned", source: """
            final class Node { unowned let parent: Node; init(_ parent: Node) { self.parent = parent } }
            print("hi")
            """, diagnostic: "attribute 'unowned' cannot be used in Embedded Swift",
            advice: "swiftlet: Embedded Swift has no unowned (nor weak) references: use `unowned(unsafe)`"),
        Restriction(name: "Codable", source: "struct Point: Codable { var x: Int }\nprint(Point(x: 1).x)\n",
                    diagnostic: "'Codable' is unavailable: unavailable in embedded Swift",
                    advice: "swiftlet: Codable needs runtime metadata Embedded Swift lacks: conform your types to Swiftlet's `JSONDecodable`"),
        Restriction(name: "Mirror", source: "struct Point { var x: Int }\nprint(Mirror(reflecting: Point(x: 1)).children.count)\n",
                    diagnostic: "'Mirror' is unavailable",
                    advice: "swiftlet: Embedded Swift has no reflection (`Mirror`, `dump`)"),
        Restriction(name: "print(array of unprintables)", source: "struct P { var x: Int }\nprint([P(x: 1)])\n",
                    diagnostic: "conformance of 'Array<Element>' to 'CustomStringConvertible' is unavailable",
                    advice: "swiftlet: Embedded Swift has no reflection: Swiftlet prints strings, numbers"),
        Restriction(name: "interpolated unprintable", source: "struct P { var x: Int }\nprint(\"\\(P(x: 1))\")\n",
                    diagnostic: "Embedded Swift cannot print a value of this type",
                    advice: "swiftlet: Embedded Swift has no reflection: Swiftlet prints strings, numbers"),
    ]

    @Test(arguments: restrictions)
    func anEmbeddedRestrictionGetsOneLineOfAdvice(restriction: Restriction) throws {
        let folder = try Self.application("restricted", restriction.source)
        let built = try Self.swiftlet(["build", folder.path, "-o", folder.appendingPathComponent("restricted.swiftlet").path])
        #expect(built.status != 0)
        let lines = built.stderr.split(separator: "\n", omittingEmptySubsequences: false)
        let diagnostic = try #require(lines.firstIndex { $0.contains(": error: ") && $0.contains(restriction.diagnostic) },
                                      "stderr: \(built.stderr)")
        let advice = lines.indices.filter { lines[$0].hasPrefix(restriction.advice) }
        #expect(advice.count == 1, "one line of advice: \(built.stderr)")
        if let line = advice.first {
            #expect(line > diagnostic, "the advice follows the diagnostic: \(built.stderr)")
            #expect(lines[diagnostic..<line].allSatisfy { !$0.isEmpty }, "and belongs to its block: \(built.stderr)")
        }
    }
}
