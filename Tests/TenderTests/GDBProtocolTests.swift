// The GDB remote protocol layer, byte for byte: framing, command parsing, the session's
// replies against a simulated target (breakpoints patched in and hidden, registers, memory
// errors), the target description, and `--gdb` parsing.
import Testing
@testable import TenderCore

private func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }
private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

/// 64 bytes of "guest memory" at 0x1000, and a register file.
private final class SimulatedTarget: GDBTarget {
    var memory = (0..<64).map { UInt8($0) }
    let base: UInt64 = 0x1000
    var registers = GDBRegisterFile()
    var refuseRegisterWrites = false

    func readRegisters() -> GDBRegisterFile? { registers }
    func writeRegisters(_ registers: GDBRegisterFile) -> Bool {
        guard !refuseRegisterWrites else { return false }
        self.registers = registers
        return true
    }
    func readMemory(at address: UInt64, count: Int) -> [UInt8]? {
        guard address >= base, address - base + UInt64(count) <= UInt64(memory.count) else { return nil }
        return Array(memory[Int(address - base) ..< Int(address - base) + count])
    }
    var debugRegisters = X86DebugRegisters()
    var refuseDebugRegisters = false
    func setDebugRegisters(_ registers: X86DebugRegisters) -> Bool {
        guard !refuseDebugRegisters else { return false }
        debugRegisters = registers
        return true
    }
    func writeMemory(at address: UInt64, bytes: [UInt8]) -> Bool {
        guard address >= base, address - base + UInt64(bytes.count) <= UInt64(memory.count) else { return false }
        memory.replaceSubrange(Int(address - base) ..< Int(address - base) + bytes.count, with: bytes)
        return true
    }
}

private func reply(_ session: inout GDBSession, _ payload: String, _ target: SimulatedTarget) -> String? {
    guard case .reply(let bytes) = session.handle(payload: bytes(payload), target: target) else { return nil }
    return text(bytes)
}

@Suite struct GDBPacketTests {
    @Test func decodesPacketsAcksAndCtrlC() {
        var decoder = GDBPacketDecoder()
        #expect(decoder.feed(bytes("+$g#67-\u{03}$m1000,4#8e")) == [
            .acknowledged, .packet(bytes("g")), .retransmit, .interrupt, .packet(bytes("m1000,4")),
        ])
        // Upper-case checksum digits are accepted; noise between packets is ignored.
        #expect(decoder.feed(bytes("xyz$?#3F")) == [.packet(bytes("?"))])
    }

    @Test func aWrongOrMalformedChecksumIsReportedNotDelivered() {
        var decoder = GDBPacketDecoder()
        #expect(decoder.feed(bytes("$g#68")) == [.badChecksum])
        #expect(decoder.feed(bytes("$g#6z")) == [.badChecksum])
        // The decoder is back between packets afterwards.
        #expect(decoder.feed(bytes("$g#67")) == [.packet(bytes("g"))])
    }

    @Test func aPacketSplitAcrossReadsIsReassembled() {
        var decoder = GDBPacketDecoder()
        #expect(decoder.feed(bytes("$m10")) == [])
        #expect(decoder.feed(bytes("00,4#")) == [])
        #expect(decoder.feed(bytes("8e")) == [.packet(bytes("m1000,4"))])
    }

    @Test func anOversizedPacketIsDroppedWholeAndReported() {
        var decoder = GDBPacketDecoder()
        let payload = [UInt8](repeating: UInt8(ascii: "a"), count: GDBPacketDecoder.maximumPayload + 1)
        let sum = payload.reduce(UInt8(0)) { $0 &+ $1 }
        #expect(decoder.feed([UInt8(ascii: "$")] + payload + [UInt8(ascii: "#")] + GDBHex.encode([sum])) == [.oversized])
        #expect(decoder.feed(bytes("$g#67")) == [.packet(bytes("g"))])
        // Exactly at the limit is fine.
        let limit = [UInt8](repeating: UInt8(ascii: "a"), count: GDBPacketDecoder.maximumPayload)
        let limitSum = limit.reduce(UInt8(0)) { $0 &+ $1 }
        #expect(decoder.feed([UInt8(ascii: "$")] + limit + [UInt8(ascii: "#")] + GDBHex.encode([limitSum])) == [.packet(limit)])
    }

    @Test func encodesWithChecksumAndEscapes() {
        #expect(text(GDBPacketEncoder.frame("OK")) == "$OK#9a")
        #expect(text(GDBPacketEncoder.frame("T05thread:1;")) == "$T05thread:1;#d7")
        #expect(text(GDBPacketEncoder.frame("")) == "$#00")
        // $ # } * are sent as } and the byte XOR 0x20; the checksum covers the escaped bytes.
        #expect(text(GDBPacketEncoder.frame("a$b#c}d*e")) == "$a}\u{04}b}\u{03}c}]d}\u{0A}e#51")
    }

    @Test func hexNumbersRefuseOverflowAndJunk() {
        #expect(GDBHex.number(bytes("100100000")) == 0x1_0010_0000)
        #expect(GDBHex.number(bytes("00000000000000000000ff")) == 0xff)
        #expect(GDBHex.number(bytes("10000000000000000")) == nil)   // 2^64
        #expect(GDBHex.number(bytes("")) == nil)
        #expect(GDBHex.number(bytes("12g")) == nil)
        #expect(GDBHex.decode(bytes("0a1")) == nil)
        #expect(GDBHex.decode(bytes("0aFf")) == [0x0a, 0xff])
    }
}

@Suite struct GDBCommandTests {
    @Test func parsesTheCommandsTheStubServes() throws {
        let cases: [(String, GDBCommand)] = [
            ("qSupported:multiprocess+;swbreak+;hwbreak+", .supported(clientFeatures: ["multiprocess+", "swbreak+", "hwbreak+"])),
            ("qXfer:features:read:target.xml:0,ffb", .readFeatures(annex: "target.xml", offset: 0, length: 0xffb)),
            ("?", .haltReason), ("g", .readRegisters), ("p10", .readRegister(16)),
            ("P10=0010100001000000", .writeRegister(16, [0, 0x10, 0x10, 0, 1, 0, 0, 0])),
            ("m100100000,40", .readMemory(address: 0x1_0010_0000, length: 0x40)),
            ("M1000,2:cc90", .writeMemory(address: 0x1000, bytes: [0xcc, 0x90])),
            ("Z0,10010c784,1", .insertBreakpoint(address: 0x1_0010_c784)),
            ("z0,10010c784,1", .removeBreakpoint(address: 0x1_0010_c784)),
            ("c", .resume(step: false, address: nil)), ("s", .resume(step: true, address: nil)),
            ("c100100000", .resume(step: false, address: 0x1_0010_0000)), ("S05", .resume(step: true, address: nil)),
            ("vCont?", .resumeActions), ("vCont;s:1;c", .resume(step: true, address: nil)),
            ("vCont;c", .resume(step: false, address: nil)), ("vCont;s:2;c:1", .resume(step: false, address: nil)),
            ("k", .kill), ("vKill;1", .kill), ("D", .detach), ("D;1", .detach), ("qAttached:1", .attached),
            ("qC", .currentThread), ("qfThreadInfo", .threadList(first: true)), ("Hg0", .selectThread),
            ("Z2,1000,4", .insertWatchpoint(GDBWatchpoint(kind: .write, address: 0x1000, length: 4))),
            ("z4,7ffe8,8", .removeWatchpoint(GDBWatchpoint(kind: .access, address: 0x7ffe8, length: 8))),
            ("Z1,1000,1", .unsupported), ("Z3,1000,4", .unsupported), ("X1000,0:", .unsupported), ("qTStatus", .unsupported), ("", .unsupported),
        ]
        for (payload, expected) in cases {
            #expect(try GDBCommand(payload: bytes(payload)) == expected, "\(payload)")
        }
    }

    @Test func malformedCommandsAreErrorsNotGuesses() {
        for payload in ["m1000", "m1000,", "mzz,4", "M1000,4:cc", "M1000,1:zz", "M1000,1", "P10", "P10=", "Pzz=00",
                        "G0", "Z0,", "Z0,zz,1", "Z2,1000,zz", "vCont;x", "vCont;s:2", "qXfer:features:read:target.xml:0",
                        "m1000,4001", "m10000000000000000,1", "C", "pzz"] {
            #expect(throws: GDBCommandError.self, "\(payload)") { try GDBCommand(payload: bytes(payload)) }
        }
    }

    @Test func memoryReadsAreClampedToWhatOneReplyCarries() throws {
        #expect(try GDBCommand(payload: bytes("m1000,4000")) == .readMemory(address: 0x1000, length: GDBCommand.maximumMemoryRead))
    }
}

@Suite struct GDBSessionTests {
    @Test func supportedAdvertisesThePacketSizeAndTheTargetDescription() {
        var session = GDBSession()
        let target = SimulatedTarget()
        #expect(reply(&session, "qSupported:swbreak+", target) == "PacketSize=4000;qXfer:features:read+;swbreak+;vContSupported+")
        #expect(session.clientReportsSoftwareBreakpoints)
        let xml = X86RegisterLayout.targetXML
        #expect(reply(&session, "qXfer:features:read:target.xml:0,10", target) == "m" + String(xml.prefix(16)))
        let tail = reply(&session, "qXfer:features:read:target.xml:\(String(xml.utf8.count - 5, radix: 16)),100", target)
        #expect(tail == "l" + String(xml.suffix(5)))
        #expect(reply(&session, "qXfer:features:read:other.xml:0,10", target) == "E00")
        #expect(reply(&session, "qXfer:features:read:target.xml:ffffff,10", target) == "E01")
    }

    @Test func breakpointsArePatchedInHiddenFromReadsAndRestored() {
        var session = GDBSession()
        let target = SimulatedTarget()
        #expect(reply(&session, "Z0,1004,1", target) == "OK")
        #expect(target.memory[4] == 0xCC)
        #expect(session.isBreakpoint(at: 0x1004))
        // The client reads the guest's byte, not the int3.
        #expect(reply(&session, "m1002,4", target) == "02030405")
        // Writing over a breakpoint changes the byte it restores, and keeps the int3 in.
        #expect(reply(&session, "M1004,1:90", target) == "OK")
        #expect(target.memory[4] == 0xCC)
        #expect(reply(&session, "m1004,1", target) == "90")
        #expect(reply(&session, "z0,1004,1", target) == "OK")
        #expect(target.memory[4] == 0x90)
        #expect(!session.isBreakpoint(at: 0x1004))
        // Outside guest memory: an error, nothing recorded.
        #expect(reply(&session, "Z0,2000,1", target) == "E0e")
        #expect(session.breakpoints.isEmpty)
    }

    @Test func removingAllBreakpointsPutsEveryByteBack() {
        var session = GDBSession()
        let target = SimulatedTarget()
        let original = target.memory
        for address in ["1000", "1010", "103f"] { #expect(reply(&session, "Z0,\(address),1", target) == "OK") }
        #expect(target.memory != original)
        session.removeAllBreakpoints(target: target)
        #expect(target.memory == original)
    }

    @Test func memoryOutsideTheGuestIsAnErrorReply() {
        var session = GDBSession()
        let target = SimulatedTarget()
        #expect(reply(&session, "m0,8", target) == "E0e")
        #expect(reply(&session, "m103c,8", target) == "E0e")
        #expect(reply(&session, "Mffffffffffffffff,2:0000", target) == "E0e")
        #expect(reply(&session, "m1000,2", target) == "0001")
    }

    @Test func registersInGDBsAmd64Layout() {
        var session = GDBSession()
        let target = SimulatedTarget()
        target.registers["rip"] = 0x1_0010_0000
        target.registers["rax"] = 0x1122_3344_5566_7788
        target.registers["eflags"] = 0x202
        let all = reply(&session, "g", target)!
        #expect(all.count == X86RegisterLayout.size * 2)
        #expect(all.hasPrefix("8877665544332211"))
        #expect(reply(&session, "p10", target) == "0000100001000000")   // rip, register 16
        #expect(reply(&session, "p11", target) == "02020000")           // eflags: 4 bytes
        #expect(reply(&session, "p3a", target) == "0000000000000000")   // gs_base, the last
        #expect(reply(&session, "p3b", target) == "E16")
        #expect(reply(&session, "P0=0100000000000000", target) == "OK")
        #expect(target.registers["rax"] == 1)
        #expect(reply(&session, "P0=01", target) == "E16")               // wrong size
        target.refuseRegisterWrites = true
        #expect(reply(&session, "P0=0200000000000000", target) == "E0e")
        #expect(reply(&session, "G00", target) == "E16")
    }

    @Test func resumeAndStopReplies() {
        var session = GDBSession()
        let target = SimulatedTarget()
        #expect(reply(&session, "?", target) == "T05thread:1;")
        #expect(session.handle(payload: bytes("vCont;s:1;c"), target: target) == .resume(step: true))
        #expect(session.handle(payload: bytes("c1000"), target: target) == .resume(step: false))
        #expect(target.registers["rip"] == 0x1000)
        #expect(session.handle(payload: bytes("D;1"), target: target) == .detach)
        #expect(session.handle(payload: bytes("k"), target: target) == .kill)
        #expect(text(session.stopReply(for: .breakpoint)) == "T05thread:1;")   // the client did not say swbreak+
        _ = reply(&session, "qSupported:swbreak+", target)
        #expect(text(session.stopReply(for: .breakpoint)) == "T05thread:1;swbreak:;")
        #expect(text(session.stopReply(for: .interrupted)) == "T02thread:1;")
        #expect(text(session.stopReply(for: .fault(signal: GDBStop.sigsegv))) == "T0bthread:1;")
        #expect(reply(&session, "?", target) == "T0bthread:1;")
        #expect(text(session.stopReply(for: .exited(status: 3))) == "W03")
        #expect(text(session.stopReply(for: .terminated(signal: GDBStop.sigill))) == "X04")
    }

    @Test func watchpointsTakeDebugRegistersAndAreReportedAsWatchStops() {
        var session = GDBSession()
        let target = SimulatedTarget()
        #expect(reply(&session, "Z2,7ff8,8", target) == "OK")
        // DR0 = the address; DR7: L0, R/W0 = 01 (write), LEN0 = 10 (8 bytes).
        #expect(target.debugRegisters.addresses == [0x7ff8, 0, 0, 0])
        #expect(target.debugRegisters.control == 0b1001 << 16 | 1)
        #expect(reply(&session, "Z4,1001,2", target) == "OK")   // unaligned: two pieces, 1 + 1 bytes
        #expect(target.debugRegisters.addresses == [0x7ff8, 0x1001, 0x1002, 0])
        #expect(target.debugRegisters.control >> 20 & 0xF == 0b0011 && target.debugRegisters.control >> 24 & 0xF == 0b0011)
        #expect(reply(&session, "Z2,2000,4", target) == "OK")
        #expect(reply(&session, "Z2,3000,4", target) == "E1c")  // four registers, all taken
        #expect(reply(&session, "Z2,3000,0", target) == "E1c")  // nothing to watch
        // DR6's B2 names the second watchpoint's second piece.
        let second = GDBWatchpoint(kind: .access, address: 0x1001, length: 2)
        #expect(target.debugRegisters.hit(status: 0xFFFF_0FF4) == second)
        #expect(target.debugRegisters.hit(status: 0xFFFF_0FF0) == nil)
        #expect(text(session.stopReply(for: .watchpoint(second))) == "T05awatch:1001;thread:1;")
        #expect(text(session.stopReply(for: .watchpoint(GDBWatchpoint(kind: .write, address: 0x7ff8, length: 8)))) == "T05watch:7ff8;thread:1;")
        #expect(reply(&session, "z4,1001,2", target) == "OK")
        #expect(target.debugRegisters.addresses == [0x7ff8, 0, 0, 0x2000])
        #expect(reply(&session, "Z2,3000,4", target) == "OK")   // a freed register is reused
        // A target that cannot load debug registers: an error, and the session keeps what it had.
        target.refuseDebugRegisters = true
        #expect(reply(&session, "z2,3000,4", target) == "E0e")
        #expect(session.watchpoints.addresses.contains(0x3000))
        target.refuseDebugRegisters = false
        // Detach clears them all from the guest.
        session.removeAllBreakpoints(target: target)
        #expect(target.debugRegisters.isEmpty && target.debugRegisters.control == 0 && session.watchpoints.isEmpty)
    }

    @Test func malformedAndUnknownPacketsGetErrorAndEmptyReplies() {
        var session = GDBSession()
        let target = SimulatedTarget()
        #expect(reply(&session, "m1000", target) == "E01")
        #expect(reply(&session, "qTStatus", target) == "")
        #expect(reply(&session, "vMustReplyEmpty", target) == "")
    }
}

@Suite struct GDBTargetDescriptionTests {
    @Test func layoutMatchesGDBsAmd64Numbering() {
        let names = X86RegisterLayout.registers.map(\.name)
        #expect(names.prefix(18) == ["rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", "r8", "r9", "r10",
                                      "r11", "r12", "r13", "r14", "r15", "rip", "eflags"])
        #expect(X86RegisterLayout.number(of: "st0") == 24)
        #expect(X86RegisterLayout.number(of: "xmm0") == 40)
        #expect(X86RegisterLayout.number(of: "mxcsr") == 56)
        #expect(X86RegisterLayout.number(of: "fs_base") == 57)
        // 16×8 + 8 + 4 + 6×4 + 8×10 + 8×4 + 16×16 + 4 + 2×8
        #expect(X86RegisterLayout.size == 552)
    }

    @Test func theXMLNamesEveryRegisterOnceWithItsNumber() {
        let xml = X86RegisterLayout.targetXML
        #expect(xml.contains("<architecture>i386:x86-64</architecture>"))
        for (number, register) in X86RegisterLayout.registers.enumerated() {
            #expect(xml.contains("<reg name=\"\(register.name)\" bitsize=\"\(register.bytes * 8)\" type=\"\(register.type)\" regnum=\"\(number)\""),
                    "\(register.name)")
        }
        #expect(xml.split(separator: "\n").filter { $0.hasPrefix("<reg ") }.count == X86RegisterLayout.registers.count)
        for type in ["i386_eflags", "vec128", "i386_mxcsr"] { #expect(xml.contains("id=\"\(type)\"")) }
    }
}

@Suite struct GDBListenAddressTests {
    @Test func portAloneMeansLoopback() throws {
        #expect(try GDBListenAddress(parsing: "1234") == GDBListenAddress(host: "127.0.0.1", port: 1234))
        #expect(try GDBListenAddress(parsing: ":4321") == GDBListenAddress(host: "127.0.0.1", port: 4321))
        #expect(try GDBListenAddress(parsing: "localhost:1") == GDBListenAddress(host: "127.0.0.1", port: 1))
        #expect(try GDBListenAddress(parsing: "1234").isLoopback)
        let everywhere = try GDBListenAddress(parsing: "0.0.0.0:1234")
        #expect(everywhere.host == "0.0.0.0" && !everywhere.isLoopback)
    }

    @Test func badAddressesAreRefusedWithTheFormat() {
        for text in ["", "0", "65536", "abc", "host.example:1234", "1.2.3:80", "127.0.0.1:", "::1:1234", "-1"] {
            #expect(throws: TenderError.self, "\(text)") { try GDBListenAddress(parsing: text) }
        }
    }

    @Test func tenderOptionsTakeGDB() throws {
        let options = try TenderOptions(arguments: ["--gdb", "2345", "img", "--", "a"])
        #expect(options.gdb == GDBListenAddress(port: 2345))
        #expect(options.guestArguments == ["a"])
        #expect(try TenderOptions(arguments: ["img"]).gdb == nil)
        #expect(throws: TenderError.self) { _ = try TenderOptions(arguments: ["--gdb"]) }
    }
}
