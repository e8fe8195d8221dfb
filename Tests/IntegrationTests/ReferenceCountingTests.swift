// Guests count references without atomics (ImageBuilder.nonAtomicReferenceCounting,
// Freestanding/refcount.c): copy-on-write and deinit still behave on every target, and the
// guest's own code retains through the non-atomic entry points, with no `lock` instruction.
import Foundation
import SwiftletBuild
import Testing

@Suite struct ReferenceCountingTests {
    static func arcGuest() throws -> URL { try Harness.image(of: "Tests/Guests/arc-guest", named: "arc-guest") }

    @Test(arguments: runnableTargets)
    func copyOnWriteAndDeinitBehave(target: Target) throws {
        let result = try Harness.run(Harness.tender(target), [try Self.arcGuest().path])
        #expect(result.status == 0, "stdout: \(result.stdout)\nstderr: \(result.stderr)")
        #expect(result.stdout.contains("arc-guest: 152 deinits"), "stdout: \(result.stdout)")
        #expect(result.stdout.contains(" 0 failures"), "stdout: \(result.stdout)")
        #expect(!result.stdout.contains("FAILED"), "stdout: \(result.stdout)")
    }

    /// The functions of the guest that copy a buffer and write to it call the non-atomic retain
    /// and hold no `lock` instruction (the Embedded runtime's atomic retain is inlined as `lock incq`).
    @Test func guestCodeRetainsWithoutLockedInstructions() throws {
        let toolchain = try Toolchain.locate()
        let objdump = toolchain.clang.deletingLastPathComponent().appendingPathComponent("llvm-objdump")
        guard FileManager.default.isExecutableFile(atPath: objdump.path) else {
            Harness.toolIsMissing("no llvm-objdump beside \(toolchain.clang.path)")
            return
        }
        let disassembly = try Harness.run(objdump, ["-d", "--no-show-raw-insn", try Self.arcGuest().path])
        #expect(disassembly.status == 0, "\(disassembly.stderr)")
        let functions = Disassembly(disassembly.stdout).functions
        #expect(functions["swift_nonatomic_retain"] != nil && functions["swift_nonatomic_release"] != nil,
                "the non-atomic entry points are not linked")
        for pattern in ["writeIntoCopy", "appendToCopy", "insertIntoCopy"] {
            // gdb's aliases (DebuggerNames) label the same code: objdump prints them with no body.
            let matches = functions.filter { $0.key.contains(pattern) && !$0.value.isEmpty }
            #expect(!matches.isEmpty, "no function named like \(pattern)")
            for (name, body) in matches {
                #expect(!body.contains { $0.hasPrefix("lock") }, "\(name) has a lock instruction:\n\(body.joined(separator: "\n"))")
                #expect(body.contains { $0.contains("<swift_nonatomic_") }, "\(name) calls no non-atomic entry point")
            }
        }
    }
}

/// llvm-objdump's output as instructions (mnemonic and operands) per function.
struct Disassembly {
    var functions: [String: [String]] = [:]

    init(_ text: String) {
        var current: String?
        for line in text.split(separator: "\n") {
            // "0000000100001000 <name>:" opens a function; "100001000:  \tmovq ..." is an instruction.
            if line.hasSuffix(">:"), let open = line.firstIndex(of: "<") {
                current = String(line[line.index(after: open)..<line.index(line.endIndex, offsetBy: -2)])
                functions[current!] = []
            } else if let name = current, let colon = line.firstIndex(of: ":"),
                      line[..<colon].trimmingCharacters(in: .whitespaces).allSatisfy(\.isHexDigit) {
                functions[name]!.append(line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
            }
        }
    }
}
