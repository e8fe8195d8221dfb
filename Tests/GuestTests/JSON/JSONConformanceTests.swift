// The JSONTestSuite corpus (github.com/nst/JSONTestSuite, MIT, vendored in Tests/JSONTestSuite):
// every `y_` file must parse, every `n_` file must be refused, and every `i_` file (where RFC
// 8259 leaves the outcome to the parser) must give a result without trapping; the `i_` outcomes
// are checked against the decisions documented in JSONParser.swift.
import Foundation
import Testing
@testable import Swiftlet

@Suite struct JSONConformanceTests {
    static let folder = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("JSONTestSuite/test_parsing")

    static func files(_ prefix: String) throws -> [(name: String, bytes: [UInt8])] {
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path)
            .filter { $0.hasPrefix(prefix) && $0.hasSuffix(".json") }.sorted()
        return try names.map { ($0, Array(try Data(contentsOf: folder.appendingPathComponent($0)))) }
    }

    static func outcome(_ bytes: [UInt8]) -> Result<JSONValue, JSONError> {
        do throws(JSONError) { return .success(try JSONValue.parse(bytes)) } catch { return .failure(error) }
    }

    @Test func everyYFileParses() throws {
        let files = try Self.files("y_")
        #expect(files.count == 95)
        var failures: [String] = []
        for file in files {
            if case .failure(let error) = Self.outcome(file.bytes) { failures.append("\(file.name): \(error)") }
        }
        #expect(failures.isEmpty, "y_ files refused:\n\(failures.joined(separator: "\n"))")
        print("JSONTestSuite y_: \(files.count - failures.count)/\(files.count) accepted")
    }

    @Test func everyNFileIsRefused() throws {
        let files = try Self.files("n_")
        #expect(files.count == 188)
        var accepted: [String] = []
        for file in files {
            if case .success = Self.outcome(file.bytes) { accepted.append(file.name) }
        }
        #expect(accepted.isEmpty, "n_ files accepted:\n\(accepted.joined(separator: "\n"))")
        print("JSONTestSuite n_: \(files.count - accepted.count)/\(files.count) refused")
    }

    /// The `i_` files by what the documented decisions make of them.
    static let implementationDefined: [String: String] = [
        // Numbers of any size parse; the text is kept, conversions say when they cannot.
        "i_number_double_huge_neg_exp.json": "accepted", "i_number_huge_exp.json": "accepted",
        "i_number_neg_int_huge_exp.json": "accepted", "i_number_pos_double_huge_exp.json": "accepted",
        "i_number_real_neg_overflow.json": "accepted", "i_number_real_pos_overflow.json": "accepted",
        "i_number_real_underflow.json": "accepted", "i_number_too_big_neg_int.json": "accepted",
        "i_number_too_big_pos_int.json": "accepted", "i_number_very_big_negative_int.json": "accepted",
        // Half a surrogate pair in a \u escape: refused.
        "i_object_key_lone_2nd_surrogate.json": "loneSurrogate",
        "i_string_1st_surrogate_but_2nd_missing.json": "loneSurrogate",
        "i_string_1st_valid_surrogate_2nd_invalid.json": "loneSurrogate",
        "i_string_incomplete_surrogate_and_escape_valid.json": "loneSurrogate",
        "i_string_incomplete_surrogate_pair.json": "loneSurrogate",
        "i_string_incomplete_surrogates_escape_valid.json": "loneSurrogate",
        "i_string_invalid_lonely_surrogate.json": "loneSurrogate",
        "i_string_invalid_surrogate.json": "loneSurrogate",
        "i_string_inverted_surrogates_U+1D11E.json": "loneSurrogate",
        "i_string_lone_second_surrogate.json": "loneSurrogate",
        // Bytes that are not UTF-8, and UTF-16/32 texts: refused.
        "i_string_invalid_utf-8.json": "invalidUTF8", "i_string_iso_latin_1.json": "invalidUTF8",
        "i_string_lone_utf8_continuation_byte.json": "invalidUTF8", "i_string_not_in_unicode_range.json": "invalidUTF8",
        "i_string_overlong_sequence_2_bytes.json": "invalidUTF8", "i_string_overlong_sequence_6_bytes.json": "invalidUTF8",
        "i_string_overlong_sequence_6_bytes_null.json": "invalidUTF8", "i_string_truncated-utf-8.json": "invalidUTF8",
        "i_string_UTF-8_invalid_sequence.json": "invalidUTF8", "i_string_UTF8_surrogate_U+D800.json": "invalidUTF8",
        "i_string_utf16BE_no_BOM.json": "syntax", "i_string_utf16LE_no_BOM.json": "syntax",
        "i_string_UTF-16LE_with_BOM.json": "syntax",
        // Deeper than the default limit of 64.
        "i_structure_500_nested_arrays.json": "tooDeep",
        // A UTF-8 byte order mark: refused.
        "i_structure_UTF-8_BOM_empty_object.json": "byteOrderMark",
    ]

    @Test func everyIFileHasTheDocumentedOutcome() throws {
        let files = try Self.files("i_")
        #expect(files.count == 35)
        var report: [String] = []
        for file in files {
            let got: String
            switch Self.outcome(file.bytes) {
            case .success: got = "accepted"
            case .failure(let error): got = "\(error.kind)"
            }
            report.append("\(file.name): \(got)")
            #expect(Self.implementationDefined[file.name] == got, "\(file.name): \(got)")
        }
        print("JSONTestSuite i_ outcomes:\n" + report.joined(separator: "\n"))
    }

    @Test func acceptedValuesRoundTripThroughTheWriter() throws {
        for file in try Self.files("y_") {
            guard case .success(let value) = Self.outcome(file.bytes) else { continue }
            #expect(Self.outcome(value.bytes) == .success(value), "\(file.name): \(value.text)")
        }
    }
}
