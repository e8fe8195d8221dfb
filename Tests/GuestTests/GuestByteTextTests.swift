// The guest's byte-text helper: `key=value` cutting, fields between separators, decimal numbers,
// with the malformed forms guest arguments can take.
import Testing
@testable import Swiftlet

@Suite struct GuestByteTextTests {
    private func fields(_ text: String, _ separator: Character) -> [String] {
        text.withByteText { text in
            Array(text.fields(separatedBy: separator.asciiValue!)).map(\.string)
        }
    }

    private func decimal(_ text: String, atMost limit: UInt64 = .max) -> UInt64? {
        text.withByteText { $0.decimal(atMost: limit) }
    }

    private func keyValue(_ text: String) -> [String]? {
        text.withByteText { text in KeyValueArgument(text).map { [$0.key.string, $0.value.string] } }
    }

    @Test func fieldsAreCutAsSplitCutsThem() {
        for text in ["", "a", "a/b", "/a//b/", "//", "10.0.0.2/16", "a b  c ", "é/ü"] {
            #expect(fields(text, "/") == text.split(separator: "/").map(String.init), "\(text)")
            #expect(fields(text, " ") == text.split(separator: " ").map(String.init), "\(text)")
        }
    }

    @Test func keyValueCutsAtTheFirstEquals() {
        #expect(keyValue("ip=10.0.0.2") == ["ip", "10.0.0.2"])
        #expect(keyValue("a=b=c") == ["a", "b=c"])
        #expect(keyValue("log=") == ["log", ""])
        #expect(keyValue("=x") == ["", "x"])
        #expect(keyValue("=") == ["", ""])
        #expect(keyValue("no-equals") == nil)
        #expect(keyValue("") == nil)
    }

    @Test func comparesWithLiteralsByBytes() {
        #expect("dhcp".withByteText { $0.equals("dhcp") })
        #expect(!"DHCP".withByteText { $0.equals("dhcp") })
        #expect(!"dhcp ".withByteText { $0.equals("dhcp") })
        #expect(!"dhc".withByteText { $0.equals("dhcp") })
        #expect("".withByteText { $0.equals("") && $0.isEmpty })
        // Precomposed and decomposed é are equal Strings, different bytes.
        #expect(!"\u{E9}".withByteText { $0.equals("e\u{301}") })
    }

    @Test func decimalNumbers() {
        #expect(decimal("0") == 0)
        #expect(decimal("007") == 7)
        #expect(decimal("4294967296") == 4_294_967_296)
        #expect(decimal("18446744073709551615") == UInt64.max)
        #expect(decimal("00000000000000000000000000000042") == 42)  // many digits, small number
    }

    @Test(arguments: ["", "+5", "-0", "-1", " 5", "5 ", "5s", "0x10", "1_000", "１", "5\u{0}"])
    func malformedDecimalsAreRefused(_ text: String) {
        #expect(decimal(text) == nil)
    }

    @Test func decimalsOverTheLimitAreRefused() {
        #expect(decimal("18446744073709551616") == nil)        // UInt64.max + 1
        #expect(decimal("99999999999999999999") == nil)
        #expect(decimal("184467440737095516150") == nil)       // UInt64.max * 10
        #expect(decimal("32", atMost: 32) == 32)
        #expect(decimal("33", atMost: 32) == nil)
        #expect(decimal("320", atMost: 32) == nil)
        #expect(decimal("9", atMost: 5) == nil)                // a digit above the limit itself
        #expect(decimal("0", atMost: 0) == 0)
        #expect(decimal("1", atMost: 0) == nil)
    }

    @Test func wordListsAndLiterals() {
        #expect(Array(ByteText("GET  HEAD ").fields(separatedBy: 0x20)).map(\.string) == ["GET", "HEAD"])
        #expect(HTTPCommonBytes.methods.map { String(decoding: $0, as: UTF8.self) }
            == ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
        #expect(HTTPCommonBytes.fieldNames.count == 23)
        #expect(HTTPCommonBytes.fieldNames.allSatisfy { !$0.isEmpty && !$0.contains(0x20) && !$0.contains(0x0A) })
    }
}
