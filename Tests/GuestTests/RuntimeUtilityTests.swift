// Host tests for the guest runtime's pure-logic pieces: ChaCha20 and the CSPRNG, calendar
// time, the TSC clock, the argument block parser and the allocation-free text buffer.
import Foundation
import Testing
import TestSupport
@testable import Swiftlet

@Suite struct RuntimeUtilityTests {

    // MARK: - Helpers

    static func bytes(hex: String) -> [UInt8] {
        let digits = Array(hex.utf8).filter { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: ":") && $0 != UInt8(ascii: "\n") }
        return stride(from: 0, to: digits.count, by: 2).map {
            UInt8(String(decoding: digits[$0..<($0 + 2)], as: UTF8.self), radix: 16)!
        }
    }

    /// RFC 8439 test key 00 01 02 ... 1f.
    static let sequentialKey: ChaCha20Key = (0..<32).map { UInt8($0) }.withUnsafeBytes { ChaCha20Key(bytes: $0) }

    static func nonce(hex: String) -> ChaCha20Nonce {
        bytes(hex: hex).withUnsafeBytes { ChaCha20Nonce(bytes: $0) }
    }

    static func blockBytes(_ block: ChaCha20Block) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 64)
        out.withUnsafeMutableBytes { block.copyBytes(to: $0) }
        return out
    }

    static func randomBytes(_ generator: inout ChaCha20Random, count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        out.withUnsafeMutableBytes { generator.fill($0) }
        return out
    }

    static func generator(seed: [UInt8]) -> ChaCha20Random {
        seed.withUnsafeBytes { ChaCha20Random(seed: $0) }
    }


    // MARK: - ChaCha20

    @Test func chaCha20BlockMatchesRFC8439Section232() {
        let block = ChaCha20.block(key: Self.sequentialKey, counter: 1, nonce: Self.nonce(hex: "000000090000004a00000000"))
        let w = block.words
        let words = [w.0, w.1, w.2, w.3, w.4, w.5, w.6, w.7, w.8, w.9, w.10, w.11, w.12, w.13, w.14, w.15]
        #expect(words == [
            0xe4e7f110, 0x15593bd1, 0x1fdd0f50, 0xc47120a3,
            0xc7f4d1c7, 0x0368c033, 0x9aaa2204, 0x4e6cd4c3,
            0x466482d2, 0x09aa9f07, 0x05d7c214, 0xa2028bd9,
            0xd19c12b5, 0xb94e16de, 0xe883d0cb, 0x4e3c50a2,
        ])
        let expected = Self.bytes(hex: """
            10 f1 e7 e4 d1 3b 59 15 50 0f dd 1f a3 20 71 c4
            c7 d1 f4 c7 33 c0 68 03 04 22 aa 9a c3 d4 6c 4e
            d2 82 64 46 07 9f aa 09 14 c2 d7 05 d9 8b 02 a2
            b5 12 9c d1 de 16 4e b9 cb d0 83 e8 a2 50 3c 4e
            """)
        #expect(Self.blockBytes(block) == expected)
        #expect((0..<64).map { block[byte: $0] } == expected)
    }

    @Test func chaCha20KeystreamMatchesRFC8439Section242() {
        let plaintext = Array("Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.".utf8)
        var keystream = [UInt8](repeating: 0, count: plaintext.count)
        let next = keystream.withUnsafeMutableBytes {
            ChaCha20.keystream(key: Self.sequentialKey, nonce: Self.nonce(hex: "000000000000004a00000000"), counter: 1, into: $0)
        }
        #expect(next == 3) // 114 bytes: blocks 1 and 2
        #expect(Array(keystream.prefix(16)) == Self.bytes(hex: "22 4f 51 f3 40 1b d9 e1 2f de 27 6f b8 63 1d ed"))
        let ciphertext = zip(plaintext, keystream).map { $0 ^ $1 }
        #expect(ciphertext == Self.bytes(hex: """
            6e 2e 35 9a 25 68 f9 80 41 ba 07 28 dd 0d 69 81
            e9 7e 7a ec 1d 43 60 c2 0a 27 af cc fd 9f ae 0b
            f9 1b 65 c5 52 47 33 ab 8f 59 3d ab cd 62 b3 57
            16 39 d6 24 e6 51 52 ab 8f 53 0c 35 9f 08 61 d8
            07 ca 0d bf 50 0d 6a 61 56 a3 8e 08 8a 22 b6 5e
            52 bc 51 4d 16 cc f8 06 81 8c e9 1a b7 79 37 36
            5a f9 0b bf 74 a3 5b e6 b4 0b 8e ed f2 78 5e 42
            87 4d
            """))
    }

    @Test func randomFollowsFastKeyErasure() {
        // Refill n: block(key_n, counter 0, zero nonce); bytes 0..<32 are key_{n+1},
        // bytes 32..<64 are output.
        let seed = (0..<32).map { UInt8($0) }
        var generator = Self.generator(seed: seed)
        let output = Self.randomBytes(&generator, count: 64)

        let first = Self.blockBytes(ChaCha20.block(key: Self.sequentialKey, counter: 0, nonce: .zero))
        let secondKey = Array(first[0..<32]).withUnsafeBytes { ChaCha20Key(bytes: $0) }
        let second = Self.blockBytes(ChaCha20.block(key: secondKey, counter: 0, nonce: .zero))
        #expect(output == Array(first[32..<64]) + Array(second[32..<64]))
    }

    @Test func randomIsDeterministicPerSeedAndDiffersAcrossSeeds() {
        let seedA = [UInt8](repeating: 0, count: 32)
        var seedB = seedA
        seedB[31] = 1
        var a1 = Self.generator(seed: seedA), a2 = Self.generator(seed: seedA), b = Self.generator(seed: seedB)
        let outA1 = Self.randomBytes(&a1, count: 1000)
        let outA2 = Self.randomBytes(&a2, count: 1000)
        let outB = Self.randomBytes(&b, count: 1000)
        #expect(outA1 == outA2)
        #expect(outA1 != outB)
        // Successive outputs of one generator differ too, and are not degenerate.
        #expect(Array(outA1[0..<32]) != Array(outA1[32..<64]))
        #expect(Set(outA1).count > 200)
    }

    @Test func randomChunkingDoesNotChangeTheStream() {
        let seed = (0..<32).map { UInt8(255 - $0) }
        var whole = Self.generator(seed: seed)
        let expected = Self.randomBytes(&whole, count: 300)

        var pieces = Self.generator(seed: seed)
        var collected: [UInt8] = []
        for size in [0, 1, 7, 31, 32, 33, 64, 5, 127] { collected += Self.randomBytes(&pieces, count: size) }
        #expect(collected == expected)

        var words = Self.generator(seed: seed)
        var fromNext: [UInt8] = []
        for _ in 0..<4 { withUnsafeBytes(of: words.next().littleEndian) { fromNext += $0 } }
        #expect(fromNext == Array(expected[0..<32]))

        // Works with the standard library's RandomNumberGenerator algorithms.
        var generic = Self.generator(seed: seed)
        for _ in 0..<100 { #expect((0..<10).contains(Int.random(in: 0..<10, using: &generic))) }
    }

    // MARK: - Calendar time

    static let secondNanos: Int64 = 1_000_000_000

    @Test func calendarEpochAndNeighbours() {
        let epoch = UTCDateTime(nanosecondsSinceEpoch: 0)
        #expect(epoch == UTCDateTime(year: 1970, month: 1, day: 1))
        #expect(epoch.iso8601 == "1970-01-01T00:00:00.000Z")

        let before = UTCDateTime(nanosecondsSinceEpoch: -Self.secondNanos)
        #expect(before == UTCDateTime(year: 1969, month: 12, day: 31, hour: 23, minute: 59, second: 59))
        #expect(before.iso8601 == "1969-12-31T23:59:59.000Z")

        let lastNanosecond = UTCDateTime(nanosecondsSinceEpoch: -1)
        #expect(lastNanosecond == UTCDateTime(year: 1969, month: 12, day: 31, hour: 23, minute: 59, second: 59, nanosecond: 999_999_999))
        #expect(lastNanosecond.iso8601 == "1969-12-31T23:59:59.999Z")
    }

    @Test func calendarLeapDays() {
        // 2000-02-29 = 951782400 s, 2024-02-29 = 1709164800 s.
        let y2000 = UTCDateTime(nanosecondsSinceEpoch: 951_782_400 * Self.secondNanos)
        #expect(y2000 == UTCDateTime(year: 2000, month: 2, day: 29))
        #expect(UTCDateTime(nanosecondsSinceEpoch: 951_868_800 * Self.secondNanos) == UTCDateTime(year: 2000, month: 3, day: 1))
        let y2024 = UTCDateTime(nanosecondsSinceEpoch: 1_709_164_800 * Self.secondNanos + 86_399 * Self.secondNanos)
        #expect(y2024.iso8601 == "2024-02-29T23:59:59.000Z")
        // 1900 and 2100 are not leap years; 1600 is.
        #expect(UTCDateTime.civil(fromDaysSinceEpoch: UTCDateTime.daysSinceEpoch(year: 2100, month: 2, day: 28) + 1) == (2100, 3, 1))
        #expect(UTCDateTime.civil(fromDaysSinceEpoch: UTCDateTime.daysSinceEpoch(year: 1900, month: 2, day: 28) + 1) == (1900, 3, 1))
        #expect(UTCDateTime.civil(fromDaysSinceEpoch: UTCDateTime.daysSinceEpoch(year: 1600, month: 2, day: 28) + 1) == (1600, 2, 29))
    }

    @Test func calendarBeyond2038AndInt64Limits() {
        // 2^31 seconds: the 32-bit time_t rollover.
        #expect(UTCDateTime(nanosecondsSinceEpoch: 2_147_483_648 * Self.secondNanos).iso8601 == "2038-01-19T03:14:08.000Z")
        #expect(UTCDateTime(nanosecondsSinceEpoch: 1_795_775_754 * Self.secondNanos + 123_456_789).iso8601 == "2026-11-27T10:35:54.123Z")
        #expect(UTCDateTime(nanosecondsSinceEpoch: .max).iso8601 == "2262-04-11T23:47:16.854Z")
        #expect(UTCDateTime(nanosecondsSinceEpoch: .min).iso8601 == "1677-09-21T00:12:43.145Z")
        #expect(UTCDateTime(nanosecondsSinceEpoch: .max).nanosecondsSinceEpoch == .max)
        #expect(UTCDateTime(nanosecondsSinceEpoch: .min).nanosecondsSinceEpoch == .min)
    }

    @Test func calendarMatchesFoundation() {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        var inputs = SplitMix64(seed: 42)
        // Whole seconds from 1677 to 2262, plus hand-picked ones.
        var samples: [Int64] = [0, -1, 1, 86_399, 86_400, -86_400, -86_401, 951_782_400, 1_709_164_800, 4_102_444_800, -2_208_988_800]
        for _ in 0..<2000 { samples.append(Int64.random(in: -9_223_372_036 ... 9_223_372_036, using: &inputs)) }
        for seconds in samples {
            let date = Date(timeIntervalSince1970: TimeInterval(seconds))
            let reference = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
            let millisecond = Int64.random(in: 0..<1000, using: &inputs)
            var nanoseconds = seconds * Self.secondNanos
            let (withFraction, overflow) = nanoseconds.addingReportingOverflow(millisecond * 1_000_000)
            if !overflow { nanoseconds = withFraction }
            let ours = UTCDateTime(nanosecondsSinceEpoch: nanoseconds)
            #expect(ours.year == reference.year && ours.month == reference.month && ours.day == reference.day
                    && ours.hour == reference.hour && ours.minute == reference.minute && ours.second == reference.second,
                    "\(seconds) s: \(ours) vs \(reference)")
            #expect(ours.nanosecondsSinceEpoch == nanoseconds)
            let expectedText = String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                                      reference.year!, reference.month!, reference.day!,
                                      reference.hour!, reference.minute!, reference.second!,
                                      Int(overflow ? 0 : millisecond))
            #expect(ours.iso8601 == expectedText)
        }
    }

    @Test func calendarDayRoundTrip() {
        for days in stride(from: -800_000, through: 800_000, by: 997) {
            let date = UTCDateTime.civil(fromDaysSinceEpoch: days)
            #expect(UTCDateTime.daysSinceEpoch(year: date.year, month: date.month, day: date.day) == days)
        }
    }

    // MARK: - TSC clock

    /// floor(ticks * 10^9 / hz) with full-width arithmetic; nil if it does not fit in 64 bits.
    static func referenceNanoseconds(ticks: UInt64, hz: UInt64) -> UInt64? {
        let product = ticks.multipliedFullWidth(by: 1_000_000_000)
        guard product.high < hz else { return nil }
        return hz.dividingFullWidth(product).quotient
    }

    @Test func tscClockIsExactAtRoundValues() {
        for hz: UInt64 in [1_000_000, 3_000_000_000, 2_400_000_000, 1_000_000_000, 10_000_000_000, 2_899_999_999, 1_193_182, 19_200_000] {
            let clock = TSCClock(hz: hz, origin: 1000)
            #expect(clock.nanoseconds(at: 1000) == 0)
            #expect(clock.nanoseconds(at: 1000 + hz) == 1_000_000_000, "hz \(hz)")
            #expect(clock.nanoseconds(at: 1000 + hz * 60) == 60_000_000_000, "hz \(hz)")
            #expect(clock.nanoseconds(at: 1000 + hz * 86_400) == 86_400_000_000_000, "hz \(hz)")
            #expect(clock.nanoseconds(at: 1000 + hz / 2) == Self.referenceNanoseconds(ticks: hz / 2, hz: hz))
        }
        #expect(TSCClock(hz: 3_000_000_000, origin: 0).nanoseconds(at: 3) == 1)
        #expect(TSCClock(hz: 3_000_000_000, origin: 0).nanoseconds(at: 2) == 0)
    }

    @Test func tscClockBeforeOriginIsZero() {
        let clock = TSCClock(hz: 2_000_000_000, origin: 5_000_000)
        #expect(clock.nanoseconds(at: 0) == 0)
        #expect(clock.nanoseconds(at: 4_999_999) == 0)
        #expect(clock.nanoseconds(at: 5_000_000) == 0)
        #expect(clock.nanoseconds(at: 5_000_002) == 1)
    }

    @Test func tscClockMatchesReferenceOverTenYears() {
        let tenYears: UInt64 = 10 * 366 * 86_400
        var inputs = SplitMix64(seed: 7)
        for _ in 0..<20_000 {
            let hz = UInt64.random(in: 1_000_000 ... 10_000_000_000, using: &inputs)
            let origin = UInt64.random(in: 0 ... (1 << 40), using: &inputs)
            let ticks = UInt64.random(in: 0 ... hz * tenYears, using: &inputs)
            let clock = TSCClock(hz: hz, origin: origin)
            #expect(clock.nanoseconds(at: origin + ticks) == Self.referenceNanoseconds(ticks: ticks, hz: hz), "hz \(hz) ticks \(ticks)")
        }
        // The extremes: ten years at 10 GHz and at 1 MHz, one tick before whole seconds.
        for hz: UInt64 in [10_000_000_000, 1_000_000, 9_999_999_999, 1_000_001] {
            let clock = TSCClock(hz: hz, origin: 0)
            for ticks in [hz * tenYears, hz * tenYears - 1, hz * tenYears + 1, hz - 1, hz * 12_345 - 1] {
                #expect(clock.nanoseconds(at: ticks) == Self.referenceNanoseconds(ticks: ticks, hz: hz), "hz \(hz) ticks \(ticks)")
            }
        }
    }

    @Test func tscClockIsExactForAnyFrequencyAndSaturates() {
        var inputs = SplitMix64(seed: 99)
        for _ in 0..<20_000 {
            let hz = UInt64.random(in: 1 ... .max, using: &inputs)
            let ticks = UInt64.random(in: 0 ... .max, using: &inputs) >> UInt64.random(in: 0..<64, using: &inputs)
            let clock = TSCClock(hz: hz, origin: 0)
            #expect(clock.nanoseconds(at: ticks) == (Self.referenceNanoseconds(ticks: ticks, hz: hz) ?? .max), "hz \(hz) ticks \(ticks)")
        }
        #expect(TSCClock(hz: 1_000_000, origin: 0).nanoseconds(at: .max) == .max)
        #expect(TSCClock(hz: .max, origin: 0).nanoseconds(at: .max) == 1_000_000_000)
        #expect(TSCClock(hz: 1, origin: 0).nanoseconds(at: 18_446_744_073) == 18_446_744_073_000_000_000)
        #expect(TSCClock(hz: 1, origin: 0).nanoseconds(at: 18_446_744_074) == .max)
    }

    @Test func tscClockIsMonotonic() {
        let clock = TSCClock(hz: 2_712_345_679, origin: 77)
        var previous: UInt64 = 0
        var tsc: UInt64 = 0
        var inputs = SplitMix64(seed: 3)
        for _ in 0..<100_000 {
            tsc += UInt64.random(in: 0...50, using: &inputs)
            let now = clock.nanoseconds(at: tsc)
            #expect(now >= previous)
            previous = now
        }
    }

    // MARK: - Argument block

    /// Parses `bytes` with both entry points and checks they agree.
    static func arguments(_ bytes: [UInt8], argc: Int) -> [String] {
        bytes.withUnsafeBytes { block in
            let strings = ArgumentBlock.strings(block, argc: argc)
            let capacity = max(argc, 0) + 1
            let argv = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: capacity)
            defer { argv.deallocate() }
            argv.initialize(repeating: UnsafeMutablePointer(bitPattern: 0xdead), count: capacity)
            let found = ArgumentBlock.parse(block, argc: argc, into: argv, capacity: capacity)
            #expect(found == strings.count)
            #expect(ArgumentBlock.count(block, argc: argc) == found)
            #expect(argv[found] == nil)
            let viaArgv = (0..<found).map { String(cString: argv[$0]!) }
            #expect(viaArgv == strings)
            for index in 0..<found {
                let address = UnsafeRawPointer(argv[index]!)
                #expect(address >= block.baseAddress! && address < block.baseAddress! + block.count)
            }
            return strings
        }
    }

    static func block(_ arguments: [String]) -> [UInt8] {
        arguments.flatMap { Array($0.utf8) + [0] }
    }

    @Test func argumentsNormal() {
        #expect(Self.arguments(Self.block(["/app", "--port", "8080", ""]), argc: 4) == ["/app", "--port", "8080", ""])
        #expect(Self.arguments(Self.block(["only"]), argc: 1) == ["only"])
    }

    @Test func argumentsEmpty() {
        #expect(Self.arguments([], argc: 0) == [])
        #expect(Self.arguments([], argc: 3) == [])
        #expect(Self.arguments(Self.block(["a", "b"]), argc: 0) == [])
        #expect(Self.arguments(Self.block(["a", "b"]), argc: -1) == [])
        #expect(Self.arguments([0], argc: 1) == [""])
    }

    @Test func argumentsMalformed() {
        // Final NUL missing: the unterminated argument is dropped.
        #expect(Self.arguments(Array("abc".utf8), argc: 1) == [])
        #expect(Self.arguments(Array("one\0two".utf8), argc: 2) == ["one"])
        // argc larger than the strings present.
        #expect(Self.arguments(Self.block(["x", "y"]), argc: 10) == ["x", "y"])
        // argc smaller: trailing strings and garbage ignored.
        #expect(Self.arguments(Self.block(["x", "y"]) + [0xff, 0xfe], argc: 1) == ["x"])
        // A NUL just past the block's end is not seen.
        let memory = Array("abc\0".utf8)
        memory.withUnsafeBytes { raw in
            let block = UnsafeRawBufferPointer(rebasing: raw[0..<3])
            #expect(ArgumentBlock.strings(block, argc: 1) == [])
            var slots: [UnsafeMutablePointer<CChar>?] = [nil, nil]
            #expect(slots.withUnsafeMutableBufferPointer { ArgumentBlock.parse(block, argc: 1, into: $0.baseAddress!, capacity: 2) } == 0)
        }
        // A nil-based (empty) buffer.
        #expect(ArgumentBlock.strings(UnsafeRawBufferPointer(start: nil, count: 0), argc: 2) == [])
    }

    @Test func argumentsRespectCapacity() {
        let bytes = Self.block(["a", "bb", "ccc"])
        bytes.withUnsafeBytes { block in
            var slots = [UnsafeMutablePointer<CChar>?](repeating: UnsafeMutablePointer(bitPattern: 0xdead), count: 3)
            let found = slots.withUnsafeMutableBufferPointer { ArgumentBlock.parse(block, argc: 3, into: $0.baseAddress!, capacity: 3) }
            #expect(found == 2)
            #expect(String(cString: slots[0]!) == "a")
            #expect(String(cString: slots[1]!) == "bb")
            #expect(slots[2] == nil)
            var none: [UnsafeMutablePointer<CChar>?] = [UnsafeMutablePointer(bitPattern: 0xdead)]
            #expect(none.withUnsafeMutableBufferPointer { ArgumentBlock.parse(block, argc: 3, into: $0.baseAddress!, capacity: 0) } == 0)
            #expect(none[0] == UnsafeMutablePointer(bitPattern: 0xdead)) // capacity 0: nothing written
            #expect(none.withUnsafeMutableBufferPointer { ArgumentBlock.parse(block, argc: 3, into: $0.baseAddress!, capacity: 1) } == 0)
            #expect(none[0] == nil)
        }
    }

    @Test func argumentsUTF8() {
        let arguments = ["héllo", "日本語", "🦉 owl", "naïve=ü"]
        #expect(Self.arguments(Self.block(arguments), argc: 4) == arguments)
        // Invalid UTF-8 is repaired in the String view.
        #expect(Self.arguments([0x61, 0xff, 0x62, 0], argc: 1) == ["a\u{FFFD}b"])
    }

    // MARK: - Fixed text buffer

    @Test func formattingDecimal() {
        var text = FixedTextBuffer()
        text.append("n=")
        text.append(decimal: 0)
        text.append(" ")
        text.append(decimal: -1)
        text.append(" ")
        text.append(decimal: 1234567890)
        text.append(" ")
        text.append(decimal: .max)
        text.append(" ")
        text.append(decimal: .min)
        text.append(" ")
        text.append(unsignedDecimal: .max)
        text.append(" ")
        text.append(decimal: 7, minimumDigits: 3)
        text.append(" ")
        text.append(decimal: -42, minimumDigits: 4)
        text.append(" ")
        text.append(decimal: 12345, minimumDigits: 2)
        #expect(text.string == "n=0 -1 1234567890 9223372036854775807 -9223372036854775808 18446744073709551615 007 -0042 12345")
        #expect(!text.isTruncated)
        #expect(text.count == text.string.utf8.count)
    }

    @Test func formattingHex() {
        var text = FixedTextBuffer()
        text.append(hex: 0)
        text.append(byte: UInt8(ascii: " "))
        text.append(hex: 0xdead_beef)
        text.append(byte: UInt8(ascii: " "))
        text.append(hex: .max)
        text.append(byte: UInt8(ascii: " "))
        text.append(hex: 0x1_0012_ab40, minimumDigits: 16)
        text.append(byte: UInt8(ascii: " "))
        text.append(hex: 0xa, minimumDigits: 99)
        #expect(text.string == "0x0 0xdeadbeef 0xffffffffffffffff 0x000000010012ab40 0x000000000000000a")
    }

    @Test func formattingTruncates() {
        var text = FixedTextBuffer()
        for _ in 0..<25 { text.append("0123456789") }   // 250 bytes
        #expect(text.count == 250 && !text.isTruncated)
        text.append(decimal: 1_234_567)                // 7 digits: does not fit, dropped whole
        #expect(text.count == 250 && text.isTruncated)
        text.append(decimal: 12345)                    // fits
        #expect(text.count == 255)
        text.append("xyz")                             // cut to "x"
        #expect(text.count == FixedTextBuffer.capacity && text.remainingCapacity == 0)
        #expect(text.string.hasSuffix("789" + "12345" + "x"))
        text.append(byte: 0x41)
        #expect(text.count == FixedTextBuffer.capacity)

        // A multi-byte scalar is never split.
        var unicode = FixedTextBuffer()
        for _ in 0..<127 { unicode.append("ab") }      // 254 bytes
        unicode.append("é€")                           // é = 2 bytes fits, € = 3 bytes does not
        #expect(unicode.count == 256 && unicode.string.hasSuffix("abé") && unicode.isTruncated)
        var unicode2 = FixedTextBuffer()
        for _ in 0..<127 { unicode2.append("ab") }
        unicode2.append("a€")                          // 'a' fits, then only 1 byte left for €
        #expect(unicode2.count == 255 && unicode2.string.hasSuffix("aba"))

        unicode2.removeAll()
        #expect(unicode2.isEmpty && !unicode2.isTruncated && unicode2.string == "")
    }

    @Test func formattingBytesAndISO8601IntoBuffer() {
        var text = FixedTextBuffer()
        text.append("time ")
        UTCDateTime(year: 2026, month: 11, day: 27, hour: 10, minute: 35, second: 54, nanosecond: 123_999_999)
            .writeISO8601(to: &text)
        #expect(text.string == "time 2026-11-27T10:35:54.123Z")
        #expect(text[0] == UInt8(ascii: "t"))
        let copied = text.withBytes { Array($0) }
        #expect(copied == Array("time 2026-11-27T10:35:54.123Z".utf8))
        #expect(UTCDateTime(year: 7, month: 1, day: 2).iso8601 == "0007-01-02T00:00:00.000Z")
    }
}
