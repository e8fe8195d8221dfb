// HypercallHandler against a hostile guest: every address, length and number a guest can
// put in a request is tried, and the handler must answer (or end the guest) without trapping.
#if canImport(Glibc)
import Glibc
#endif
import SwiftletABI
import TenderTestSupport
import Testing
@testable import TenderCore

/// 4 MiB of guest memory in a heap buffer, and a handler whose console is a pipe we read back.
final class HypercallFixture {
    static let memorySize = 4 << 20
    static let fill: UInt8 = 0x5A

    private let host = TestGuestMemory(size: HypercallFixture.memorySize, fill: HypercallFixture.fill)
    var pointer: UnsafeMutableRawPointer { host.pointer }
    let memory: GuestMemory
    let handler: HypercallHandler
    let readFD: Int32
    let writeFD: Int32

    init() throws {
        memory = host.memory
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw FixtureError.pipe(errno) }
        readFD = fds[0]
        writeFD = fds[1]
        // Neither end may block the test: a stuck write becomes EIO, an empty read EAGAIN.
        _ = fcntl(readFD, F_SETFL, fcntl(readFD, F_GETFL) | O_NONBLOCK)
        _ = fcntl(writeFD, F_SETFL, fcntl(writeFD, F_GETFL) | O_NONBLOCK)
        // Room for a full SWIFTLET_CONSOLE_MAX write (F_SETPIPE_SZ = 1031 on Linux).
        _ = fcntl(writeFD, 1031, Int32(1 << 20))
        handler = HypercallHandler(memory: memory, consoleFD: writeFD)
    }

    deinit {
        close(readFD)
        close(writeFD)
    }

    enum FixtureError: Error { case pipe(Int32) }

    var start: UInt64 { SWIFTLET_GUEST_BASE }
    var end: UInt64 { SWIFTLET_GUEST_BASE + UInt64(Self.memorySize) }

    /// Everything written to the console so far.
    func drainConsole() -> [UInt8] {
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(readFD, $0.baseAddress!, $0.count) }
            if count > 0 { result += chunk[0 ..< count]; continue }
            if count < 0 && errno == EINTR { continue }
            break
        }
        return result
    }

    func put<T: BitwiseCopyable>(_ value: T, at address: UInt64) {
        pointer.storeBytes(of: value, toByteOffset: Int(address - SWIFTLET_GUEST_BASE), as: T.self)
    }

    func get<T: BitwiseCopyable>(_: T.Type, at address: UInt64) -> T {
        pointer.loadUnaligned(fromByteOffset: Int(address - SWIFTLET_GUEST_BASE), as: T.self)
    }

    func putBytes(_ bytes: [UInt8], at address: UInt64) {
        let offset = Int(address - SWIFTLET_GUEST_BASE)
        for (index, byte) in bytes.enumerated() { pointer.storeBytes(of: byte, toByteOffset: offset + index, as: UInt8.self) }
    }

    func hostBytes(at address: UInt64, count: Int) -> [UInt8] {
        let offset = Int(address - SWIFTLET_GUEST_BASE)
        return (0 ..< count).map { pointer.load(fromByteOffset: offset + $0, as: UInt8.self) }
    }

    func call(_ number: swiftlet_hypercall, _ address: UInt64) -> HypercallHandler.Outcome {
        handler.handle(number: number.rawValue, argument: GuestAddress(raw: address))
    }

    /// Places a console request at `requestAddress` and runs it; returns the outcome and result.
    func console(data: UInt64, length: UInt64, requestAddress: UInt64 = SWIFTLET_GUEST_BASE + 0x2000)
        -> (HypercallHandler.Outcome, Int32)
    {
        put(swiftlet_hc_console(data: data, length: length, result: -77, _pad: 0), at: requestAddress)
        let outcome = call(SWIFTLET_HC_CONSOLE, requestAddress)
        return (outcome, get(swiftlet_hc_console.self, at: requestAddress).result)
    }
}

private func result(_ value: swiftlet_result) -> Int32 { Int32(bitPattern: value.rawValue) }

func isBadHypercall(_ outcome: HypercallHandler.Outcome) -> Bool {
    if case .crash(let crash) = outcome, case .badHypercall(let message) = crash.cause { return !message.isEmpty }
    return false
}

private func reported(_ outcome: HypercallHandler.Outcome) -> (kind: swiftlet_crash_kind, message: String, registers: GuestCrash.Registers?)? {
    if case .crash(let crash) = outcome, case .reported(let kind, let message) = crash.cause {
        return (kind, message, crash.registers)
    }
    return nil
}

private func hostClock(_ id: clockid_t) -> UInt64 {
    var now = timespec()
    clock_gettime(id, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

/// Every hypercall that takes a request (NET_KICK is a doorbell: what is stored is ignored).
private let allHypercalls: [UInt32] = Array(1 ... SWIFTLET_HC_MAX.rawValue).filter { $0 != SWIFTLET_HC_NET_KICK.rawValue }

@Suite struct HypercallHandlerTests {
    // MARK: Console

    @Test func consoleWritesExactBytes() throws {
        let f = try HypercallFixture()
        let text = Array("hello, hostile world\n\u{0}\u{FF}".utf8)
        let data = f.start + 0x10000
        f.putBytes(text, at: data)
        let (outcome, code) = f.console(data: data, length: UInt64(text.count))
        #expect(outcome == .resume)
        #expect(code == result(SWIFTLET_R_OK))
        #expect(f.drainConsole() == text)
    }

    @Test func consoleZeroLengthAndMaximumLength() throws {
        let f = try HypercallFixture()
        // Zero bytes, even exactly at the end of memory: OK, nothing written.
        var (outcome, code) = f.console(data: f.end, length: 0)
        #expect(outcome == .resume)
        #expect(code == result(SWIFTLET_R_OK))
        #expect(f.drainConsole().isEmpty)

        // Exactly SWIFTLET_CONSOLE_MAX bytes, ending exactly at the end of memory: accepted.
        let maximum = Int(SWIFTLET_CONSOLE_MAX)
        let pattern = (0 ..< maximum).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        let data = f.end - UInt64(maximum)
        f.putBytes(pattern, at: data)
        (outcome, code) = f.console(data: data, length: UInt64(maximum))
        #expect(outcome == .resume)
        #expect(code == result(SWIFTLET_R_OK))
        let written = f.drainConsole()
        #expect(written.count == maximum)
        let exact = written == pattern
        #expect(exact, "console bytes differ")
    }

    @Test(arguments: [
        (SWIFTLET_GUEST_BASE - 1, UInt64(4)),                       // starts below the base
        (SWIFTLET_GUEST_BASE - 2, UInt64(4)),                       // straddles the base
        (UInt64(0), UInt64(1)),                                     // null
        (UInt64(0x1000), UInt64(16)),                               // low host-looking address
        (SWIFTLET_GUEST_BASE + (4 << 20) - 2, UInt64(4)),          // straddles the end
        (SWIFTLET_GUEST_BASE + (4 << 20), UInt64(1)),              // exactly at the end
        (SWIFTLET_GUEST_BASE + (8 << 20), UInt64(1)),              // far beyond the end
        (SWIFTLET_GUEST_BASE + (4 << 20) + 1, UInt64(0)),          // empty, but past the end
        (UInt64.max - 1, UInt64(4)),                                // address + length wraps
        (SWIFTLET_GUEST_BASE + 0x1000, UInt64.max - 0x800),         // huge length wraps
        (SWIFTLET_GUEST_BASE + 0x1000, UInt64.max),                 // the largest length
        (SWIFTLET_GUEST_BASE + 0x1000, UInt64(SWIFTLET_CONSOLE_MAX) + 1), // in memory, but too long
        (SWIFTLET_GUEST_BASE, UInt64(4 << 20)),                     // all of memory: too long
    ])
    func consoleRefusesBadRanges(data: UInt64, length: UInt64) throws {
        let f = try HypercallFixture()
        let (outcome, code) = f.console(data: data, length: length)
        #expect(outcome == .resume)
        #expect(code == result(SWIFTLET_R_EINVAL))
        #expect(f.drainConsole().isEmpty)

        // The handler keeps working afterwards.
        let text = Array("still here".utf8)
        f.putBytes(text, at: f.start + 0x3000)
        let (after, afterCode) = f.console(data: f.start + 0x3000, length: UInt64(text.count))
        #expect(after == .resume)
        #expect(afterCode == result(SWIFTLET_R_OK))
        #expect(f.drainConsole() == text)
    }

    @Test func consoleManyRefusalsInARowThenSuccess() throws {
        let f = try HypercallFixture()
        for shift in 0 ..< 64 {
            let (outcome, code) = f.console(data: UInt64(1) << shift, length: UInt64.max >> shift)
            #expect(outcome == .resume)
            #expect(code == result(SWIFTLET_R_EINVAL), "data 1<<\(shift)")
        }
        #expect(f.drainConsole().isEmpty)
        f.putBytes([0x41, 0x42], at: f.start + 0x4000)
        let (outcome, code) = f.console(data: f.start + 0x4000, length: 2)
        #expect(outcome == .resume)
        #expect(code == result(SWIFTLET_R_OK))
        #expect(f.drainConsole() == [0x41, 0x42])
    }

    // MARK: Requests the tender cannot even read

    @Test func requestOutsideMemoryIsABadHypercall() throws {
        let f = try HypercallFixture()
        let addresses: [UInt64] = [
            0, 8, SWIFTLET_GUEST_BASE - 8, SWIFTLET_GUEST_BASE - 1, f.end, f.end + 0x1000,
            SWIFTLET_HVT_HYPERCALL_PAGE, UInt64.max, UInt64.max - 3, UInt64.max - 7,
        ]
        let before = f.hostBytes(at: f.end - 64, count: 64)
        for number in allHypercalls {
            for address in addresses {
                let outcome = f.handler.handle(number: number, argument: GuestAddress(raw: address))
                #expect(isBadHypercall(outcome), "hypercall \(number) at \(address): \(outcome)")
            }
        }
        #expect(f.hostBytes(at: f.end - 64, count: 64) == before)
        #expect(f.drainConsole().isEmpty)
    }

    @Test func requestStraddlingTheEndIsABadHypercall() throws {
        let f = try HypercallFixture()
        // Every request struct is at least 8 bytes: starting 1..7 bytes before the end straddles it.
        for number in allHypercalls {
            for back in UInt64(1) ... 7 {
                let address = f.end - back
                let before = f.hostBytes(at: f.end - 16, count: 16)
                let outcome = f.handler.handle(number: number, argument: GuestAddress(raw: address))
                #expect(isBadHypercall(outcome), "hypercall \(number) at end-\(back): \(outcome)")
                // Nothing was half-written into the part that is inside memory.
                #expect(f.hostBytes(at: f.end - 16, count: 16) == before)
            }
        }
    }

    @Test func requestStraddlingTheEndBySizeOfEachStruct() throws {
        let f = try HypercallFixture()
        let sizes: [(swiftlet_hypercall, Int)] = [
            (SWIFTLET_HC_WALLTIME, MemoryLayout<swiftlet_hc_time>.size),
            (SWIFTLET_HC_MONOTONIC, MemoryLayout<swiftlet_hc_time>.size),
            (SWIFTLET_HC_CONSOLE, MemoryLayout<swiftlet_hc_console>.size),
            (SWIFTLET_HC_POLL, MemoryLayout<swiftlet_hc_poll>.size),
            (SWIFTLET_HC_NET_WRITE, MemoryLayout<swiftlet_hc_net>.size),
            (SWIFTLET_HC_NET_READ, MemoryLayout<swiftlet_hc_net>.size),
            (SWIFTLET_HC_BLOCK_READ, MemoryLayout<swiftlet_hc_block>.size),
            (SWIFTLET_HC_BLOCK_WRITE, MemoryLayout<swiftlet_hc_block>.size),
            (SWIFTLET_HC_HALT, MemoryLayout<swiftlet_hc_halt>.size),
            (SWIFTLET_HC_NET_EXCHANGE, MemoryLayout<swiftlet_hc_net_exchange>.size),
            (SWIFTLET_HC_SHUTDOWN_WATCH, MemoryLayout<swiftlet_hc_shutdown_watch>.size),
            (SWIFTLET_HC_BLOCK_FLUSH, MemoryLayout<swiftlet_hc_block>.size),
            (SWIFTLET_HC_BLOCK_BATCH, MemoryLayout<swiftlet_hc_block_batch>.size),
        ]
        for (number, size) in sizes {
            // One byte short of fitting: refused.
            #expect(isBadHypercall(f.call(number, f.end - UInt64(size) + 1)), "\(number)")
        }
        // Exactly fitting at the very end works (checks the bound is not off by one the other way).
        #expect(f.call(SWIFTLET_HC_WALLTIME, f.end - UInt64(MemoryLayout<swiftlet_hc_time>.size)) == .resume)
        f.put(swiftlet_hc_poll(timeout: 0, ready_set: 99), at: f.end - 16)
        #expect(f.call(SWIFTLET_HC_POLL, f.end - 16) == .resume)
        #expect(f.get(swiftlet_hc_poll.self, at: f.end - 16).ready_set == 0)
    }

    @Test(arguments: [UInt32(0), SWIFTLET_HC_MAX.rawValue + 1, 0x100, UInt32(Int32.max), UInt32.max])
    func unknownHypercallNumber(number: UInt32) throws {
        let f = try HypercallFixture()
        let before = f.hostBytes(at: f.start + 0x2000, count: 64)
        let outcome = f.handler.handle(number: number, argument: GuestAddress(raw: f.start + 0x2000))
        #expect(isBadHypercall(outcome))
        #expect(f.hostBytes(at: f.start + 0x2000, count: 64) == before)
        // And with a garbage argument too.
        #expect(isBadHypercall(f.handler.handle(number: number, argument: GuestAddress(raw: UInt64.max))))
    }

    // MARK: Clocks and poll

    @Test func walltimeMatchesTheHostClock() throws {
        let f = try HypercallFixture()
        let address = f.start + 0x2008
        f.put(swiftlet_hc_time(nanoseconds: 0), at: address)
        let before = hostClock(CLOCK_REALTIME)
        #expect(f.call(SWIFTLET_HC_WALLTIME, address) == .resume)
        let after = hostClock(CLOCK_REALTIME)
        let value = f.get(swiftlet_hc_time.self, at: address).nanoseconds
        #expect(value >= before)
        #expect(value <= after)
        #expect(value > 1_600_000_000 * 1_000_000_000) // after 2020: really the Unix epoch
    }

    @Test func walltimeAtAnUnalignedAddress() throws {
        let f = try HypercallFixture()
        let address = f.start + 0x3003
        f.put(swiftlet_hc_time(nanoseconds: 0), at: address)
        let before = hostClock(CLOCK_REALTIME)
        #expect(f.call(SWIFTLET_HC_WALLTIME, address) == .resume)
        #expect(f.get(swiftlet_hc_time.self, at: address).nanoseconds >= before)
    }

    @Test func monotonicNeverGoesBackwards() throws {
        let f = try HypercallFixture()
        let address = f.start + 0x2000
        let before = hostClock(CLOCK_MONOTONIC)
        var previous: UInt64 = 0
        for _ in 0 ..< 200 {
            f.put(swiftlet_hc_time(nanoseconds: 0), at: address)
            #expect(f.call(SWIFTLET_HC_MONOTONIC, address) == .resume)
            let value = f.get(swiftlet_hc_time.self, at: address).nanoseconds
            #expect(value >= previous)
            previous = value
        }
        let after = hostClock(CLOCK_MONOTONIC)
        #expect(previous >= before)
        #expect(previous <= after)
    }

    @Test func pollWithZeroOrTinyTimeoutReturnsNothingReady() throws {
        let f = try HypercallFixture()
        let address = f.start + 0x2000
        for timeout: UInt64 in [0, 1, 1_000] {
            f.put(swiftlet_hc_poll(timeout: timeout, ready_set: UInt64.max), at: address)
            #expect(f.call(SWIFTLET_HC_POLL, address) == .resume)
            let reply = f.get(swiftlet_hc_poll.self, at: address)
            #expect(reply.ready_set == 0)
            #expect(reply.timeout == timeout) // IN field left alone
        }
    }

    @Test func pollWithHugeTimeoutIsBounded() throws {
        let f = try HypercallFixture()
        let address = f.start + 0x2000
        f.put(swiftlet_hc_poll(timeout: UInt64.max, ready_set: 0xFFFF), at: address)
        let before = hostClock(CLOCK_MONOTONIC)
        #expect(f.call(SWIFTLET_HC_POLL, address) == .resume)
        let elapsed = hostClock(CLOCK_MONOTONIC) - before
        // Sanity bound only: one poll sleeps at most ~1 s so the tender can check for signals.
        #expect(elapsed < 5_000_000_000)
        #expect(f.get(swiftlet_hc_poll.self, at: address).ready_set == 0)
    }

    // MARK: Devices (none yet)

    @Test func networkHypercallsHaveNoDevice() throws {
        let f = try HypercallFixture()
        let address = f.start + 0x2000
        let cases: [(UInt32, UInt32, UInt64)] = [
            (0, 1, f.start + 0x8000),
            (UInt32.max, UInt32.max, UInt64.max),    // hostile handle, count, frames
            (7, 64, 0),
        ]
        for number in [SWIFTLET_HC_NET_READ, SWIFTLET_HC_NET_WRITE] {
            for (handle, count, frames) in cases {
                f.put(swiftlet_hc_net(handle: handle, count: count, frames: frames, completed: 12345, result: -1),
                      at: address)
                #expect(f.call(number, address) == .resume)
                let reply = f.get(swiftlet_hc_net.self, at: address)
                #expect(reply.result == result(SWIFTLET_R_ENODEV))
                #expect(reply.completed == 0)
            }
        }
        #expect(f.drainConsole().isEmpty)
    }

    @Test func blockHypercallsHaveNoDevice() throws {
        let f = try HypercallFixture()
        let address = f.start + 0x2000
        let marker = f.hostBytes(at: f.start + 0x8000, count: 512)
        for number in [SWIFTLET_HC_BLOCK_READ, SWIFTLET_HC_BLOCK_WRITE] {
            for (offset, data, length) in [(UInt64(0), f.start + 0x8000, UInt64(512)),
                                           (UInt64.max, UInt64.max, UInt64.max)] {
                f.put(swiftlet_hc_block(handle: 0, _pad: 0, offset: offset, data: data, length: length,
                                        result: -1, _pad2: 0), at: address)
                #expect(f.call(number, address) == .resume)
                #expect(f.get(swiftlet_hc_block.self, at: address).result == result(SWIFTLET_R_ENODEV))
            }
        }
        #expect(f.hostBytes(at: f.start + 0x8000, count: 512) == marker) // no read landed
    }

    // MARK: Halt

    @Test(arguments: [Int32(0), 1, 7, 254])
    func haltWithValidStatus(status: Int32) throws {
        let f = try HypercallFixture()
        f.put(swiftlet_hc_halt(status: status, _pad: 0, crash: 0), at: f.start + 0x2000)
        #expect(f.call(SWIFTLET_HC_HALT, f.start + 0x2000) == .halt(status: status))
    }

    @Test(arguments: [Int32(-1), -254, Int32.min, 255, 256, 1000, Int32.max])
    func haltWithOutOfRangeStatusIsACrashStatus(status: Int32) throws {
        let f = try HypercallFixture()
        f.put(swiftlet_hc_halt(status: status, _pad: 0, crash: 0), at: f.start + 0x2000)
        #expect(f.call(SWIFTLET_HC_HALT, f.start + 0x2000) == .halt(status: SWIFTLET_EXIT_CRASH))
    }

    @Test func haltWithCrashRecord() throws {
        let f = try HypercallFixture()
        let message = Array("Fatal error: index out of range".utf8)
        let messageAddress = f.start + 0x9000
        f.putBytes(message, at: messageAddress)
        let record = f.start + 0x2100
        f.put(swiftlet_crash_record(kind: SWIFTLET_CRASH_TRAP.rawValue, message_length: UInt32(message.count),
                                    message: messageAddress, rip: 0x1_0010_1234, rbp: 0x1_0000_8000), at: record)
        f.put(swiftlet_hc_halt(status: 0, _pad: 0, crash: record), at: f.start + 0x2000)
        let outcome = f.call(SWIFTLET_HC_HALT, f.start + 0x2000)
        #expect(outcome == .crash(GuestCrash(
            cause: .reported(kind: SWIFTLET_CRASH_TRAP, message: "Fatal error: index out of range"),
            registers: .init(rip: 0x1_0010_1234, rsp: 0, rbp: 0x1_0000_8000))))
    }

    @Test(arguments: [
        (UInt64(0), UInt32(16)),
        (SWIFTLET_GUEST_BASE - 4, UInt32(16)),
        (SWIFTLET_GUEST_BASE + (4 << 20) - 4, UInt32(16)),    // straddles the end
        (SWIFTLET_GUEST_BASE + (4 << 20), UInt32(1)),
        (UInt64.max - 3, UInt32(16)),                          // wraps
        (UInt64.max, UInt32.max),
    ])
    func haltWithCrashMessageOutsideMemory(message: UInt64, length: UInt32) throws {
        let f = try HypercallFixture()
        let record = f.start + 0x2100
        f.put(swiftlet_crash_record(kind: SWIFTLET_CRASH_OOM.rawValue, message_length: length,
                                    message: message, rip: 0x1234, rbp: 0x5678), at: record)
        f.put(swiftlet_hc_halt(status: 3, _pad: 0, crash: record), at: f.start + 0x2000)
        let outcome = f.call(SWIFTLET_HC_HALT, f.start + 0x2000)
        let crash = try #require(reported(outcome), "\(outcome)")
        #expect(crash.kind == SWIFTLET_CRASH_OOM)
        #expect(!crash.message.isEmpty) // a placeholder says what happened
        #expect(!crash.message.contains(Character(UnicodeScalar(HypercallFixture.fill)))) // no guest bytes
        #expect(crash.registers == .init(rip: 0x1234, rsp: 0, rbp: 0x5678))
    }

    @Test(arguments: [UInt32(SWIFTLET_CRASH_MESSAGE_MAX) + 1, 1 << 20, UInt32.max])
    func haltWithHugeMessageLengthIsTruncated(length: UInt32) throws {
        let f = try HypercallFixture()
        let messageAddress = f.start + 0x10000
        let text = (0 ..< 8192).map { UInt8(0x61 + $0 % 26) } // "abc…z" repeated, ASCII
        f.putBytes(text, at: messageAddress)
        let record = f.start + 0x2100
        f.put(swiftlet_crash_record(kind: SWIFTLET_CRASH_ABORT.rawValue, message_length: length,
                                    message: messageAddress, rip: 0, rbp: 0), at: record)
        f.put(swiftlet_hc_halt(status: 0, _pad: 0, crash: record), at: f.start + 0x2000)
        let crash = try #require(reported(f.call(SWIFTLET_HC_HALT, f.start + 0x2000)))
        #expect(crash.kind == SWIFTLET_CRASH_ABORT)
        let message = Array(crash.message.utf8)
        #expect(message.count == Int(SWIFTLET_CRASH_MESSAGE_MAX))
        let exact = message == Array(text[0 ..< Int(SWIFTLET_CRASH_MESSAGE_MAX)]) // a Bool: no 1 MiB diff on failure
        #expect(exact, "message is not the first SWIFTLET_CRASH_MESSAGE_MAX bytes")
    }

    @Test func haltWithCrashRecordOutsideMemoryIsABadHypercall() throws {
        let f = try HypercallFixture()
        for record in [UInt64(1), SWIFTLET_GUEST_BASE - 8, f.end - 8, f.end, UInt64.max - 15, UInt64.max] {
            f.put(swiftlet_hc_halt(status: 0, _pad: 0, crash: record), at: f.start + 0x2000)
            let outcome = f.call(SWIFTLET_HC_HALT, f.start + 0x2000)
            #expect(isBadHypercall(outcome), "record at \(record): \(outcome)")
        }
    }

    @Test func haltWithUnknownKindAndInvalidUTF8() throws {
        let f = try HypercallFixture()
        let bytes: [UInt8] = [0xFF, 0xFE, 0x80, 0x41, 0xC3] // not UTF-8
        f.putBytes(bytes, at: f.start + 0x9000)
        let record = f.start + 0x2100
        f.put(swiftlet_crash_record(kind: 0xDEAD_BEEF, message_length: UInt32(bytes.count),
                                    message: f.start + 0x9000, rip: UInt64.max, rbp: UInt64.max), at: record)
        f.put(swiftlet_hc_halt(status: -5, _pad: 0, crash: record), at: f.start + 0x2000)
        let crash = try #require(reported(f.call(SWIFTLET_HC_HALT, f.start + 0x2000)))
        #expect(crash.kind.rawValue == 0xDEAD_BEEF)
        #expect(crash.message.contains("A"))
        // And the report built from it does not trap either.
        let report = CrashReport(crash: GuestCrash(cause: .reported(kind: crash.kind, message: crash.message),
                                                   registers: crash.registers), memory: f.memory, symbols: nil)
        #expect(report.frames == [UInt64.max])
    }
}

/// Hypercall output goes only where the guest may write itself: a request or a result aimed
/// at code, boot info or the guard page ends the guest with a clear reason and writes nothing.
@Suite struct HypercallOutputTests {
    static let text = ELFImage.imageBase ..< ELFImage.imageBase + 0x8000
    static let data = ELFImage.imageBase + 0x8000 ..< ELFImage.imageBase + 0x9000

    func guestHandler(_ f: HypercallFixture) -> HypercallHandler {
        let access = GuestAccess(memorySize: UInt64(HypercallFixture.memorySize), writableSegments: [Self.data],
                                 heap: Self.data.upperBound ..< f.end)
        return HypercallHandler(memory: f.memory.restricted(to: access), consoleFD: f.writeFD)
    }

    @Test(arguments: [SWIFTLET_HC_WALLTIME, SWIFTLET_HC_MONOTONIC, SWIFTLET_HC_POLL, SWIFTLET_HC_NET_READ,
                      SWIFTLET_HC_NET_EXCHANGE, SWIFTLET_HC_BLOCK_READ, SWIFTLET_HC_SHUTDOWN_WATCH,
                      SWIFTLET_HC_BLOCK_BATCH])
    func resultsAreNotWrittenIntoCodeBootInfoOrTheGuardPage(hypercall: swiftlet_hypercall) throws {
        let f = try HypercallFixture()
        let handler = guestHandler(f)
        for target in [Self.text.lowerBound + 0x100, f.start + SWIFTLET_BOOTINFO_OFFSET + 0x40, f.start + 0x10] {
            let before = f.hostBytes(at: target, count: 64)
            let outcome = handler.handle(number: hypercall.rawValue, argument: GuestAddress(raw: target))
            #expect(isBadHypercall(outcome), "\(hypercall) at \(hex(target)): \(outcome)")
            #expect(f.hostBytes(at: target, count: 64) == before, "\(hypercall) wrote into \(hex(target))")
        }
        // The same request on the guest's stack is served.
        let stack = f.start + SWIFTLET_STACK_TOP - 0x100
        f.putBytes([UInt8](repeating: 0, count: 64), at: stack)
        #expect(!isBadHypercall(handler.handle(number: hypercall.rawValue, argument: GuestAddress(raw: stack))))
    }

    /// spt serves hypercalls on the guest's stack: below the guest's stack pointer are the
    /// tender's own frames, and a request or buffer there is refused for that call only.
    @Test(arguments: [SWIFTLET_HC_WALLTIME, SWIFTLET_HC_POLL, SWIFTLET_HC_NET_READ])
    func nothingBelowTheGuestsStackPointerIsWritten(hypercall: swiftlet_hypercall) throws {
        let f = try HypercallFixture()
        let handler = guestHandler(f)
        let stackPointer = f.start + SWIFTLET_STACK_TOP - 0x1000
        let below = stackPointer - 0x100
        f.putBytes([UInt8](repeating: 0xAB, count: 64), at: below)
        let outcome = handler.handle(number: hypercall.rawValue, argument: GuestAddress(raw: below), guestStackPointer: stackPointer)
        #expect(isBadHypercall(outcome), "\(hypercall) below the stack pointer: \(outcome)")
        #expect(f.hostBytes(at: below, count: 64) == [UInt8](repeating: 0xAB, count: 64))
        f.putBytes([UInt8](repeating: 0, count: 64), at: stackPointer)
        #expect(!isBadHypercall(handler.handle(number: hypercall.rawValue, argument: GuestAddress(raw: stackPointer),
                                               guestStackPointer: stackPointer)))
        // The limit lasts for that call only.
        f.putBytes([UInt8](repeating: 0, count: 64), at: below)
        #expect(!isBadHypercall(handler.handle(number: hypercall.rawValue, argument: GuestAddress(raw: below))))
    }

    /// The write-back is checked before the work: a console request in .text prints nothing.
    @Test func aConsoleRequestInCodeIsRefusedBeforeItPrints() throws {
        let f = try HypercallFixture()
        let message = Array("injected\n".utf8)
        f.putBytes(message, at: Self.data.lowerBound)
        let request = Self.text.lowerBound + 0x200
        f.put(swiftlet_hc_console(data: Self.data.lowerBound, length: UInt64(message.count), result: 0, _pad: 0), at: request)
        let outcome = guestHandler(f).handle(number: SWIFTLET_HC_CONSOLE.rawValue, argument: GuestAddress(raw: request))
        #expect(isBadHypercall(outcome))
        #expect(f.drainConsole().isEmpty)
    }

    @Test func aCrashRecordInTheGuardPageIsRefusedNotFollowed() throws {
        let f = try HypercallFixture()
        let halt = f.start + SWIFTLET_STACK_TOP - 0x100
        f.put(swiftlet_hc_halt(status: 0, _pad: 0, crash: f.start + 0x80), at: halt)
        let outcome = guestHandler(f).handle(number: SWIFTLET_HC_HALT.rawValue, argument: GuestAddress(raw: halt))
        guard case .crash(let crash) = outcome, case .badHypercall(let message) = crash.cause else {
            Issue.record("\(outcome)"); return
        }
        #expect(message.contains("not readable"), "\(message)")
    }
}
