// CrashReport.walk over frame-pointer chains a hostile or broken guest left behind.
import SwiftletABI
import Testing
@testable import TenderCore
import TenderTestSupport

/// 64 KiB of zeroed guest memory in a heap buffer.
private final class FrameMemory {
    static let size = 0x10000
    private let host = TestGuestMemory(size: FrameMemory.size, fill: 0)
    var pointer: UnsafeMutableRawPointer { host.pointer }
    var memory: GuestMemory { host.memory }

    var end: UInt64 { SWIFTLET_GUEST_BASE + UInt64(Self.size) }

    /// Writes a frame record [saved rbp, return address] at guest address `frame`.
    func frame(at frame: UInt64, savedRBP: UInt64, returnAddress: UInt64) {
        let offset = Int(frame - SWIFTLET_GUEST_BASE)
        pointer.storeBytes(of: savedRBP, toByteOffset: offset, as: UInt64.self)
        pointer.storeBytes(of: returnAddress, toByteOffset: offset + 8, as: UInt64.self)
    }

    func walk(rip: UInt64, rbp: UInt64) -> [UInt64] {
        CrashReport.walk(.init(rip: rip, rsp: 0, rbp: rbp), memory: memory)
    }
}

@Suite struct CrashReportTests {
    static let base = SWIFTLET_GUEST_BASE
    static let rip: UInt64 = 0x1_0010_0abc

    @Test func walksAWellFormedChain() {
        let m = FrameMemory()
        m.frame(at: Self.base + 0x1000, savedRBP: Self.base + 0x1040, returnAddress: 0x1_0010_1001)
        m.frame(at: Self.base + 0x1040, savedRBP: Self.base + 0x1100, returnAddress: 0x1_0010_2002)
        m.frame(at: Self.base + 0x1100, savedRBP: 0, returnAddress: 0x1_0010_3003) // outermost frame
        #expect(m.walk(rip: Self.rip, rbp: Self.base + 0x1000)
                == [Self.rip, 0x1_0010_1001, 0x1_0010_2002, 0x1_0010_3003])
    }

    @Test func chainEndsAtAZeroReturnAddress() {
        let m = FrameMemory()
        m.frame(at: Self.base + 0x1000, savedRBP: Self.base + 0x1040, returnAddress: 0x1_0010_1001)
        m.frame(at: Self.base + 0x1040, savedRBP: Self.base + 0x1100, returnAddress: 0)
        m.frame(at: Self.base + 0x1100, savedRBP: 0, returnAddress: 0x1_0010_3003)
        #expect(m.walk(rip: Self.rip, rbp: Self.base + 0x1000) == [Self.rip, 0x1_0010_1001])
    }

    @Test func noRipNoRbp() {
        let m = FrameMemory()
        #expect(m.walk(rip: 0, rbp: 0).isEmpty)
        #expect(m.walk(rip: Self.rip, rbp: 0) == [Self.rip])
        m.frame(at: Self.base + 0x1000, savedRBP: 0, returnAddress: 0x1_0010_1001)
        #expect(m.walk(rip: 0, rbp: Self.base + 0x1000) == [0x1_0010_1001])
    }

    @Test func cyclicChainsTerminate() {
        let m = FrameMemory()
        // A → B → A.
        m.frame(at: Self.base + 0x2000, savedRBP: Self.base + 0x2100, returnAddress: 0xA)
        m.frame(at: Self.base + 0x2100, savedRBP: Self.base + 0x2000, returnAddress: 0xB)
        let frames = m.walk(rip: Self.rip, rbp: Self.base + 0x2000)
        #expect(frames.count <= CrashReport.maximumFrames)
        #expect(Array(frames.prefix(3)) == [Self.rip, 0xA, 0xB])
        // A frame pointing at itself.
        m.frame(at: Self.base + 0x3000, savedRBP: Self.base + 0x3000, returnAddress: 0xC)
        let selfLoop = m.walk(rip: Self.rip, rbp: Self.base + 0x3000)
        #expect(selfLoop.count <= CrashReport.maximumFrames)
        #expect(Array(selfLoop.prefix(2)) == [Self.rip, 0xC])
        #expect(selfLoop.count <= 2) // the chain must climb: a repeat ends it at once
    }

    @Test func chainGoingDownwardsStops() {
        let m = FrameMemory()
        m.frame(at: Self.base + 0x4000, savedRBP: Self.base + 0x3000, returnAddress: 0xA)
        m.frame(at: Self.base + 0x3000, savedRBP: Self.base + 0x5000, returnAddress: 0xB)
        let frames = m.walk(rip: Self.rip, rbp: Self.base + 0x4000)
        #expect(frames == [Self.rip, 0xA])
    }

    @Test(arguments: [
        UInt64(8), 0x1000, SWIFTLET_GUEST_BASE - 8, SWIFTLET_GUEST_BASE - 16,
        SWIFTLET_GUEST_BASE + 0x10000, SWIFTLET_GUEST_BASE + 0x20000,
        UInt64.max - 7, UInt64.max - 15, 0x8000_0000_0000_0000,
    ])
    func rbpOutsideMemory(rbp: UInt64) {
        let m = FrameMemory()
        #expect(m.walk(rip: Self.rip, rbp: rbp) == [Self.rip])
    }

    @Test func frameStraddlingTheEnd() {
        let m = FrameMemory()
        // The saved rbp is the last word of memory; the return address would be past the end.
        m.pointer.storeBytes(of: UInt64(0x1234), toByteOffset: FrameMemory.size - 8, as: UInt64.self)
        #expect(m.walk(rip: Self.rip, rbp: m.end - 8) == [Self.rip])
        // A chain that climbs into that last word stops after the frames that were readable.
        m.frame(at: Self.base + 0x1000, savedRBP: m.end - 8, returnAddress: 0xA)
        #expect(m.walk(rip: Self.rip, rbp: Self.base + 0x1000) == [Self.rip, 0xA])
    }

    @Test func chainLeavingMemory() {
        let m = FrameMemory()
        m.frame(at: Self.base + 0x1000, savedRBP: Self.base + 0x1100, returnAddress: 0xA)
        m.frame(at: Self.base + 0x1100, savedRBP: m.end + 0x1000, returnAddress: 0xB)
        #expect(m.walk(rip: Self.rip, rbp: Self.base + 0x1000) == [Self.rip, 0xA, 0xB])
        m.frame(at: Self.base + 0x1100, savedRBP: UInt64.max - 7, returnAddress: 0xB)
        #expect(m.walk(rip: Self.rip, rbp: Self.base + 0x1000) == [Self.rip, 0xA, 0xB])
    }

    @Test(arguments: [UInt64(1), 2, 4, 7])
    func misalignedFramePointers(misalignment: UInt64) {
        let m = FrameMemory()
        m.frame(at: Self.base + 0x1000, savedRBP: Self.base + 0x1100 + misalignment, returnAddress: 0xA)
        m.frame(at: Self.base + 0x1100, savedRBP: 0, returnAddress: 0xB)
        // A misaligned rbp to start with: only rip.
        #expect(m.walk(rip: Self.rip, rbp: Self.base + 0x1000 + misalignment) == [Self.rip])
        // A misaligned saved rbp in the chain: the walk stops there.
        #expect(m.walk(rip: Self.rip, rbp: Self.base + 0x1000) == [Self.rip, 0xA])
    }

    @Test func longChainIsCutAtMaximumFrames() {
        let m = FrameMemory()
        let count = 500
        var expected = [Self.rip]
        for index in 0 ..< count {
            let frame = Self.base + 0x1000 + UInt64(index) * 16
            let next = index + 1 < count ? frame + 16 : 0
            let returnAddress = 0x1_0010_0000 + UInt64(index) * 4 + 1
            m.frame(at: frame, savedRBP: next, returnAddress: returnAddress)
            expected.append(returnAddress)
        }
        let frames = m.walk(rip: Self.rip, rbp: Self.base + 0x1000)
        #expect(frames.count == CrashReport.maximumFrames)
        #expect(frames == Array(expected.prefix(CrashReport.maximumFrames)))
    }

    @Test func chainFillingAllOfMemoryIsBounded() {
        let m = FrameMemory()
        // Every 16 bytes a frame pointing at the next, up to the last word of memory.
        var frame = Self.base
        while frame + 16 < m.end {
            m.frame(at: frame, savedRBP: frame + 16, returnAddress: 0xDEAD)
            frame += 16
        }
        let frames = m.walk(rip: 0, rbp: Self.base)
        #expect(frames.count == CrashReport.maximumFrames)
        #expect(frames.allSatisfy { $0 == 0xDEAD })
    }

    @Test func reportTextListsTheFrames() {
        let m = FrameMemory()
        m.frame(at: Self.base + 0x1000, savedRBP: 0, returnAddress: 0x1_0010_2002)
        let crash = GuestCrash(cause: .reported(kind: SWIFTLET_CRASH_TRAP, message: "Fatal error: boom"),
                               registers: .init(rip: Self.rip, rsp: 0, rbp: Self.base + 0x1000))
        let report = CrashReport(crash: crash, memory: m.memory, symbols: nil)
        #expect(report.frames == [Self.rip, 0x1_0010_2002])
        #expect(report.text.contains("Fatal error: boom"))
        #expect(report.text.contains("0x100100abc"))
        #expect(report.text.contains("0x100102002"))
        #expect(report.faultingFunction == nil)

        let noRegisters = CrashReport(crash: GuestCrash(cause: .machine("triple fault")), memory: m.memory, symbols: nil)
        #expect(noRegisters.frames.isEmpty)
        #expect(!noRegisters.text.contains("backtrace"))
    }
}

/// A guest's crash message and an image's symbol names are attacker text: printed raw, a
/// newline forges a tender line and ESC sequences drive the user's terminal.
@Suite struct CrashTextEscapingTests {
    @Test func guestMessageCannotForgeLinesOrSendEscapes() {
        let forged = "boom\nswiftlet-hvt: guest exited with status 0\r\u{1B}[2J\u{1B}]0;pwned\u{07}\u{9B}31m\u{202E}txt.exe\u{0}"
        let summary = GuestCrash(cause: .reported(kind: SWIFTLET_CRASH_TRAP, message: forged)).summary
        #expect(!summary.contains("\n") && !summary.contains("\r"))
        #expect(!summary.unicodeScalars.contains { $0.value < 0x20 || (0x7F ..< 0xA0).contains($0.value) || $0.value == 0x202E },
                "control characters survived: \(summary.debugDescription)")
        #expect(summary == "boom\\nswiftlet-hvt: guest exited with status 0\\r\\u{1b}[2J\\u{1b}]0;pwned\\u{7}\\u{9b}31m\\u{202e}txt.exe\\u{0}")
    }

    @Test func ordinaryTextIsUnchanged() {
        for text in ["Fatal error: index out of range", "ümlaut — ok ✓", "tab\u{FFFD}"] {
            #expect(printable(text) == text)
        }
    }

    @Test func imageSymbolNamesAreEscapedInBacktraces() throws {
        var builder = ELFBuilder.standard()
        builder.symbols = [ELFBuilder.Symbol(name: "evil\n\u{1B}[31mswiftlet-spt: fake", value: ELFBuilder.imageBase, size: 0x40)]
        let image = try ELFImage(bytes: builder.build())
        let memory = TestGuestMemory(size: 1 << 20, fill: 0)
        let crash = GuestCrash(cause: .exception(vector: 6, errorCode: 0, faultAddress: 0),
                               registers: .init(rip: ELFBuilder.imageBase + 4, rsp: 0, rbp: 0))
        let text = withExtendedLifetime(memory) {
            CrashReport(crash: crash, memory: memory.memory, symbols: SymbolTable(image: image)).text
        }
        #expect(text.contains("evil\\n\\u{1b}[31mswiftlet-spt: fake"), "\(text.debugDescription)")
        #expect(text.split(separator: "\n").count == 3, "\(text.debugDescription)")  // summary, "backtrace:", #0
    }
}
