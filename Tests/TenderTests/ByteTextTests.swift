// The tenders compare their ASCII text by bytes (Core/ByteText.swift), so that no String
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

    /// A tap name is at most 15 bytes (IFNAMSIZ - 1), however many characters they make.
    @Test func tapNamesAreCountedInBytes() throws {
        #expect(try NetworkSpec(parsing: "tap:" + String(repeating: "t", count: 15)) == NetworkSpec(backend: .tap(String(repeating: "t", count: 15))))
        #expect(throws: TenderError.self) { try NetworkSpec(parsing: "tap:" + String(repeating: "t", count: 16)) }
        #expect(throws: TenderError.self) { try NetworkSpec(parsing: "tap:" + String(repeating: "\u{E9}", count: 8)) }   // 16 bytes
    }
}
