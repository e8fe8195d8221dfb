// The guest's C shims are compiled -ffreestanding -fno-builtin; here they are built for the
// host (under other names where the host C library has the same ones) and compared with it on
// edge cases, or, for the reference counting, run on hand-made objects.
import Foundation
import SwiftletBuild
import Testing

@Suite struct FreestandingLibCTests {
    @Test func stringAndMathShimsAgreeWithTheHostLibrary() throws {
        let home = try SwiftletHome.locate()
        let toolchain = try Toolchain.locate()
        let executable = Harness.scratch.appendingPathComponent("libc-test")
        let renames = ["ceil", "floor", "memmove", "memcmp", "memcpy", "memset", "strlen", "sqrt"]
            .map { "-D\($0)=swiftlet_test_\($0)" }
        let compile = try Harness.run(toolchain.clang, ["-O2", "-fno-builtin", "-ffreestanding"] + renames + [
            "-c", home.freestanding.appendingPathComponent("string.c").path, "-o", executable.path + "-string.o"])
        #expect(compile.status == 0, "\(compile.stderr)")
        let compileMath = try Harness.run(toolchain.clang, ["-O2", "-fno-builtin", "-ffreestanding"] + renames + [
            "-c", home.freestanding.appendingPathComponent("math.c").path, "-o", executable.path + "-math.o"])
        #expect(compileMath.status == 0, "\(compileMath.stderr)")
        let link = try Harness.run(toolchain.clang, ["-O1",
            home.root.appendingPathComponent("Tests/Freestanding/libc_test.c").path,
            executable.path + "-string.o", executable.path + "-math.o", "-lm", "-o", executable.path])
        #expect(link.status == 0, "\(link.stderr)")
        let result = try Harness.run(executable, [])
        #expect(result.status == 0, "\(result.stdout)")
        #expect(result.stdout.contains("0 failures"), "\(result.stdout)")
    }

    /// The non-atomic retain and release (refcount.c) on hand-made objects: counts, immortal and
    /// do-not-free words, destruction exactly once, bridge tags, and a trap on over-release.
    @Test func nonAtomicReferenceCountingHonoursTheRefcountWord() throws {
        let home = try SwiftletHome.locate()
        let toolchain = try Toolchain.locate()
        let executable = Harness.scratch.appendingPathComponent("refcount-test")
        let compile = try Harness.run(toolchain.clang, ["-O2", "-fno-builtin", "-ffreestanding",
            "-c", home.freestanding.appendingPathComponent("refcount.c").path, "-o", executable.path + ".o"])
        #expect(compile.status == 0, "\(compile.stderr)")
        let link = try Harness.run(toolchain.clang, ["-O1",
            home.root.appendingPathComponent("Tests/Freestanding/refcount_test.c").path,
            executable.path + ".o", "-o", executable.path])
        #expect(link.status == 0, "\(link.stderr)")
        let result = try Harness.run(executable, [])
        #expect(result.status == 0, "\(result.stdout)")
        #expect(result.stdout.contains("0 failures"), "\(result.stdout)")
    }
}
