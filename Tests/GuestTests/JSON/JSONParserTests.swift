// JSONValue.parse: every kind of value, exact number text and its conversions, string escapes
// and UTF-8 checking, the limits, and each refusal with its byte offset and kind; writing
// values back as compact text.
import Testing
@testable import Swiftlet

@Suite struct JSONParserTests {
    static func failure(_ text: String, limits: JSONLimits = JSONLimits()) -> JSONError? {
        failure(Array(text.utf8), limits: limits)
    }

    static func failure(_ bytes: [UInt8], limits: JSONLimits = JSONLimits()) -> JSONError? {
        do throws(JSONError) {
            _ = try JSONValue.parse(bytes, limits: limits)
            return nil
        } catch {
            return error
        }
    }

    @Test func parsesEveryKindOfValue() throws {
        let value = try JSONValue.parse(#" { "a": [1, -2.5e3, true, false, null], "b": {"c": "d"}, "e": [] , "f": {} } "#)
        #expect(value == .object([
            JSONMember("a", .array([1, .number(JSONNumber(validatedText: "-2.5e3")), true, false, nil])),
            JSONMember("b", ["c": "d"]),
            JSONMember("e", []),
            JSONMember("f", .object([])),
        ]))
        #expect(value["a"]?[1]?.double == -2500)
        #expect(value["b"]?["c"]?.string == "d")
        #expect(value["a"]?[5] == nil)
        #expect(value["missing"] == nil)
        #expect(try JSONValue.parse("7") == 7)
        #expect(try JSONValue.parse(" \"x\"\n") == "x")
    }

    @Test func duplicateKeysAreKeptAndTheLastWinsOnLookup() throws {
        let value = try JSONValue.parse(#"{"k": 1, "other": 2, "k": 3}"#)
        #expect(value.members?.count == 3)
        #expect(value["k"] == 3)
        #expect(value.text == #"{"k":1,"other":2,"k":3}"#)
    }

    @Test func numbersKeepTheirExactText() throws {
        let big = "123456789012345678901234567890"
        let value = try JSONValue.parse("[\(big), 0.1000000000000000055511151231257827, -0, 1E+2, 9223372036854775807, -9223372036854775808, 9223372036854775808]")
        #expect(value.text == "[\(big),0.1000000000000000055511151231257827,-0,1E+2,9223372036854775807,-9223372036854775808,9223372036854775808]")
        #expect(value[0]?.int64 == nil)
        #expect(value[1]?.double == 0.1)
        #expect(value[2]?.int64 == 0)
        #expect(value[3]?.int64 == nil)  // written with an exponent: not an integer
        #expect(value[3]?.double == 100)
        #expect(value[4]?.int64 == Int64.max)
        #expect(value[5]?.int64 == Int64.min)
        #expect(value[6]?.int64 == nil)
        #expect(try JSONValue.parse("1e400").double == nil)
        #expect(try JSONValue.parse("-1e-400").double == -0.0)
    }

    @Test(arguments: [
        "0", "1", "-1", "3.14159", "2.5e-3", "1e22", "1e23", "123456789012345", "0.000001",
        "1.7976931348623157e308", "2.2250738585072014e-308", "5e-324", "4.9e-324", "123456.789e-5",
        "-0.5", "9007199254740993", "123456789012345678901234567890", "0.1000000000000000055511151231257827", "1.5e300", "8.98846567431158e307",
    ])
    func doubleConversionMatchesTheHost(_ text: String) throws {
        let value = try #require(try JSONValue.parse(text).double)
        let host = try #require(Double(text))
        // Correctly rounded on the fast path; within a few ulp elsewhere (documented).
        #expect(value == host || abs(value - host) <= 4 * host.ulp, "\(text): \(value) vs \(host)")
    }

    @Test func fastPathConversionsAreExact() throws {
        for text in ["0.1", "0.3", "1e22", "123456789012345", "3.14159", "2.5e-3", "-1234.5678"] {
            #expect(try JSONValue.parse(text).double == Double(text), "\(text)")
        }
    }

    @Test func stringEscapesAndUnicode() throws {
        let value = try JSONValue.parse(#""a\"b\\c\/d\b\f\n\r\t\u0041\u00e9\u20AC\uD83D\uDE00 é€😀""#)
        #expect(value.string == "a\"b\\c/d\u{8}\u{c}\n\r\tAé€😀 é€😀")
        #expect(try JSONValue.parse(#""\u0000""#).string == "\u{0}")
    }

    @Test func writingEscapesWhatMustBeEscaped() throws {
        let value: JSONValue = ["q\"": "line\nnext\ttab\u{1}\\ é", "n": nil, "list": [1, true, []]]
        #expect(value.text == #"{"q\"":"line\nnext\ttab\u0001\\ é","n":null,"list":[1,true,[]]}"#)
        #expect(try JSONValue.parse(value.text) == value)
    }

    @Test(arguments: [
        // text, offset, kind, detail
        ("", 0, JSONError.Kind.syntax, "expected a value"),
        ("[1,]", 3, .syntax, "expected a value"),
        ("[1 2]", 3, .syntax, "expected ',' or ']'"),
        (#"{"a" 1}"#, 5, .syntax, "expected ':' after the key"),
        (#"{"a":1,}"#, 7, .syntax, "expected a string key"),
        ("{1:2}", 1, .syntax, "expected a string key or '}'"),
        (#"{"a":1 "b":2}"#, 7, .syntax, "expected ',' or '}'"),
        ("tru", 3, .syntax, "expected 'true'"),
        ("nul1", 3, .syntax, "expected 'null'"),
        ("01", 1, .syntax, "expected the end of the input"),
        ("-", 1, .syntax, "expected a digit"),
        ("1.", 2, .syntax, "expected a digit after '.'"),
        ("1e+", 3, .syntax, "expected a digit in the exponent"),
        ("+1", 0, .syntax, "expected a value"),
        ("[1] x", 4, .syntax, "expected the end of the input"),
        (#""abc"#, 4, .syntax, "expected '\"' to end the string"),
        ("\"a\u{1}b\"", 2, .controlCharacter, "a control character must be escaped in a string"),
        (#""\x""#, 1, .invalidEscape, "expected one of \"\\/bfnrtu after '\\'"),
        (#"["\u12G4"]"#, 2, .invalidEscape, "expected four hex digits after '\\u'"),
        (#""\uD800""#, 1, .loneSurrogate, "a high surrogate escape without its low half"),
        (#""\uD800\u0041""#, 1, .loneSurrogate, "a high surrogate escape without its low half"),
        (#"["x\uDC00"]"#, 3, .loneSurrogate, "a low surrogate escape without its high half"),
    ])
    func refusalsSayWhereAndWhat(_ text: String, _ offset: Int, _ kind: JSONError.Kind, _ detail: String) {
        let error = Self.failure(text)
        #expect(error?.offset == offset)
        #expect(error?.kind == kind)
        #expect(error?.detail == detail)
        #expect(error?.description == "byte \(offset): \(detail)")
    }

    @Test(arguments: [
        ([0x22, 0xFF, 0x22], 1),                  // not a lead byte
        ([0x22, 0xC0, 0x80, 0x22], 1),            // overlong NUL
        ([0x22, 0xE0, 0x80, 0x80, 0x22], 2),      // overlong three-byte form
        ([0x22, 0xED, 0xA0, 0x80, 0x22], 2),      // an encoded surrogate (U+D800)
        ([0x22, 0xF4, 0x90, 0x80, 0x80, 0x22], 2),  // above U+10FFFF
        ([0x22, 0x61, 0xE2, 0x82, 0x22], 4),      // cut short
        ([0x22, 0xC3], 2),                        // cut short by the end of input
    ] as [([UInt8], Int)])
    func invalidUTF8IsRefusedAtItsByte(_ bytes: [UInt8], _ offset: Int) {
        let error = Self.failure(bytes)
        #expect(error?.kind == .invalidUTF8)
        #expect(error?.offset == offset)
    }

    @Test func validUTF8OfEveryLengthIsKept() throws {
        let text = "\"$ ¢ € 𐍈 \u{10FFFF}\""
        #expect(try JSONValue.parse(text).string == "$ ¢ € 𐍈 \u{10FFFF}")
    }

    @Test func aByteOrderMarkIsRefused() {
        let error = Self.failure([0xEF, 0xBB, 0xBF] + Array("{}".utf8))
        #expect(error?.kind == .byteOrderMark)
        #expect(error?.offset == 0)
    }

    @Test func depthIsLimitedAtTheBracketThatGoesTooDeep() throws {
        let limits = JSONLimits(maxDepth: 3)
        #expect(try JSONValue.parse("[[{\"a\":1}]]", limits: limits)["x"] == nil)
        let error = Self.failure("[[{\"a\":[1]}]]", limits: limits)
        #expect(error?.kind == .tooDeep)
        #expect(error?.offset == 7)
        #expect(error?.detail == "nested deeper than the limit of 3")
        // The default limit stops a hostile nesting long before the stack could run out.
        let deep = Self.failure(String(repeating: "[", count: 100_000))
        #expect(deep?.kind == .tooDeep)
        #expect(deep?.offset == 64)
    }

    @Test func sizeIsLimitedBeforeParsing() {
        let error = Self.failure("[1, 2, 3]", limits: JSONLimits(maxInputSize: 8))
        #expect(error?.kind == .tooLarge)
        #expect(error?.description == "byte 8: the input is 9 bytes, over the limit of 8")
        #expect(Self.failure("[1, 2, 3]", limits: JSONLimits(maxInputSize: 9)) == nil)
    }

    @Test func whitespaceIsOnlyTheFourRFCCharacters() {
        #expect(Self.failure(" \t\r\n[ \t\r\n1 \t\r\n] \t\r\n") == nil)
        #expect(Self.failure("\u{0C}[1]")?.offset == 0)        // form feed
        #expect(Self.failure("[1]\u{A0}")?.offset == 3)         // no-break space
    }
}
