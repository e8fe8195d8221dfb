// The tenders compare their ASCII text by bytes (Core/OptionValues/ByteText.swift), so that no String
// comparison links the Unicode tables into them: the same answers as String's for ASCII, and
// for other text what the bytes say.
import TenderCore
import Testing

struct ByteTextTests {
    @Test func equalityIsByBytes() {
        #expect("--mem".bytesEqual("--mem"))
        #expect(!"--mem".bytesEqual("--me"))
        #expect(!"--mem".bytesEqual("--memory"))
        #expect("".bytesEqual(""))
        let precomposed = "caf\u{E9}", decomposed = "cafe\u{301}"
        #expect(precomposed == decomposed)                 // String: canonically equivalent
        #expect(!precomposed.bytesEqual(decomposed))       // bytes: not the same
        #expect(Substring("a,b".utf8.dropFirst(2)).bytesEqual("b"))
    }

    @Test func prefixesSuffixesAndPieces() {
        #expect("--rings=50".bytes(after: "--rings=") == "50")
        #expect("--rings=".bytes(after: "--rings=") == "")
        #expect("--ring".bytes(after: "--rings=") == nil)
        #expect("--rings=5".bytesStart(with: "--"))
        #expect(!"-".bytesStart(with: "--"))
        #expect("web.swiftlet".bytes(before: ".swiftlet") == "web")
        #expect(".swiftlet".bytes(before: ".swiftlet") == "")
        #expect("swiftlet".bytes(before: ".swiftlet") == nil)
        #expect("a,,b,".bytesSplit(UInt8(ascii: ",")) == ["a", "b"])
        #expect("a,,b,".bytesSplit(UInt8(ascii: ","), omittingEmpty: false) == ["a", "", "b", ""])
        #expect("h:1:2".bytesSplit(UInt8(ascii: ":"), maxSplits: 1, omittingEmpty: false) == ["h", "1:2"])
    }

    @Test func switchesMatchWholeWords() {
        func kind(_ text: String) -> Int {
            switch ByteText(text) {
            case "--mem", "-m": return 1
            case "--net": return 2
            default: return 0
            }
        }
        #expect(kind("--mem") == 1 && kind("-m") == 1 && kind("--net") == 2)
        #expect(kind("--mem ") == 0 && kind("--ne") == 0 && kind("") == 0)
    }

    @Test func numbersAreParsedFromTheirDigitsOnly() throws {
        #expect(Substring("0").bytesNumber() == 0)
        #expect(Substring("4194304").bytesNumber() == 4_194_304)
        #expect(Substring("18446744073709551615").bytesNumber() == .max)
        #expect(Substring("18446744073709551616").bytesNumber() == nil)   // one past UInt64.max
        #expect(Substring("99999999999999999999").bytesNumber() == nil)   // the multiplication overflows
        for refused in ["", "+5", "-5", " 5", "5 ", "1_000", "0x10", "a"] {
            #expect(Substring(refused).bytesNumber() == nil, "\(refused)")
        }
        #expect(Substring("fE").bytesNumber(radix: 16) == 0xfe)
        #expect(Substring("0g").bytesNumber(radix: 16) == nil)
        #expect(Substring("ff").bytesNumber() == nil)
        #expect(throws: TenderError.self) { try TenderOptions(arguments: ["--grace-period", "+5", "img"]) }
        #expect(throws: TenderError.self) { try NetworkSpec(parsing: "fd:4294967299") }   // wraps to 3 as an Int32
        #expect(try NetworkSpec(parsing: "fd:3,mac=02:AB:cd:00:00:01").mac == [0x02, 0xab, 0xcd, 0, 0, 1])
    }

    /// A tap name is at most 15 bytes (IFNAMSIZ - 1), however many characters they make.
    @Test func tapNamesAreCountedInBytes() throws {
        #expect(try NetworkSpec(parsing: "tap:" + String(repeating: "t", count: 15)) == NetworkSpec(backend: .tap(String(repeating: "t", count: 15))))
        #expect(throws: TenderError.self) { try NetworkSpec(parsing: "tap:" + String(repeating: "t", count: 16)) }
        #expect(throws: TenderError.self) { try NetworkSpec(parsing: "tap:" + String(repeating: "\u{E9}", count: 8)) }   // 16 bytes
    }
}
