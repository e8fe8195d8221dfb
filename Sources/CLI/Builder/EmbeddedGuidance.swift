// What to write instead, after the compiler reports an Embedded Swift restriction. The
// compiler says what is refused; these lines say what Swiftlet code uses in its place. Each
// rule matches the text of the diagnostic swiftc 6.3 prints (captured from tiny apps; the
// README's "Swift in a Swiftlet" table lists the same rules).
import Foundation

struct EmbeddedGuidance {
    struct Rule {
        /// Text the compiler's diagnostic line contains.
        var diagnostic: String
        var advice: String
    }

    static let rules: [Rule] = [
        Rule(diagnostic: "cannot use a value of protocol type",
             advice: "Embedded Swift has no existentials of non-class protocols (`any P`, `Any`): use generics (`some P`, `<T: P>`), an enum with a case per type, or a class-bound protocol (`protocol P: AnyObject`), whose `any P` works"),
        Rule(diagnostic: "attribute 'weak' cannot be used in Embedded Swift",
             advice: "Embedded Swift has no weak (nor unowned) references: keep an ID or index into the collection that owns the objects, or use `unowned(unsafe)` when the referenced object surely outlives this one"),
        Rule(diagnostic: "attribute 'unowned' cannot be used in Embedded Swift",
             advice: "Embedded Swift has no unowned (nor weak) references: use `unowned(unsafe)` when the referenced object surely outlives this one, or keep an ID or index into the collection that owns the objects"),
        Rule(diagnostic: "'Codable' is unavailable",
             advice: "Codable needs runtime metadata Embedded Swift lacks: conform your types to Swiftlet's `JSONDecodable` (`init(json:)`) and `JSONEncodable` (`var json`), read request bodies with `request.json(as:)` and answer with `.json(value)`"),
        Rule(diagnostic: "'Encodable' is unavailable",
             advice: "Codable needs runtime metadata Embedded Swift lacks: conform your types to Swiftlet's `JSONDecodable` (`init(json:)`) and `JSONEncodable` (`var json`), read request bodies with `request.json(as:)` and answer with `.json(value)`"),
        Rule(diagnostic: "'Decodable' is unavailable",
             advice: "Codable needs runtime metadata Embedded Swift lacks: conform your types to Swiftlet's `JSONDecodable` (`init(json:)`) and `JSONEncodable` (`var json`), read request bodies with `request.json(as:)` and answer with `.json(value)`"),
        Rule(diagnostic: "'Mirror' is unavailable",
             advice: "Embedded Swift has no reflection (`Mirror`, `dump`): write out the fields you need, e.g. in a `description` property"),
        Rule(diagnostic: "to 'CustomStringConvertible' is unavailable", advice: unprintableAdvice),
        Rule(diagnostic: unprintableValue, advice: unprintableAdvice),
    ]

    /// The deprecation message of the library OS's interpolation fallback, which replaces the
    /// standard library's run-time placeholder (Sources/Guest/Runtime/Printing.swift).
    static let unprintableValue = "Embedded Swift cannot print a value of this type"
    static let unprintableAdvice = "Embedded Swift has no reflection: Swiftlet prints strings, numbers, Bool, types with a `description` (CustomStringConvertible) and Arrays, Sets, Dictionaries, Optionals and tuples of them; give this type a `description`, and to nest it deeper than an Array or Optional add `extension YourType: PrintableValue {}`"

    /// Whether the compiler's `output` (of a successful compile) reports a use of that
    /// fallback: the build fails, since the program would print a placeholder.
    static func refusesBuild(_ output: String) -> Bool {
        output.split(separator: "\n").contains { isDiagnosticHeader($0) && $0.contains(unprintableValue) }
    }

    /// The advice for one diagnostic line, if it reports a restriction a rule knows.
    static func advice(for line: Substring) -> String? {
        rules.first { line.contains($0.diagnostic) }?.advice
    }

    /// Whether `line` starts a diagnostic (`FILE:LINE:COL: error: …`), in either diagnostic style.
    static func isDiagnosticHeader(_ line: Substring) -> Bool {
        line.range(of: #"^\S.*:\d+:\d+: (error|warning): "#, options: .regularExpression) != nil
    }

    /// The compiler's `output` with one `swiftlet:` line of advice after each diagnostic that a
    /// rule matches (once per piece of advice: twenty refused `any P` need one hint).
    static func annotate(_ output: String) -> String {
        var result: [Substring] = []
        var pending: String?
        var given = Set<String>()
        func flush() {
            if let advice = pending { result.append(Substring("swiftlet: \(advice)")) }
            pending = nil
        }
        for original in output.split(separator: "\n", omittingEmptySubsequences: false) {
            // The fallback's deprecation warning fails the build: say so.
            let line = original.contains(unprintableValue)
                ? Substring(original.replacingOccurrences(of: "warning: 'appendInterpolation' is deprecated: ", with: "error: ")
                    .replacingOccurrences(of: " [#DeprecatedDeclaration]", with: ""))
                : original
            // A diagnostic's block ends at the next diagnostic, a blank line or the footnotes.
            if isDiagnosticHeader(line) || line.isEmpty || line.hasPrefix("[#") { flush() }
            result.append(line)
            if isDiagnosticHeader(line), let advice = advice(for: line), given.insert(advice).inserted {
                pending = advice
            }
        }
        flush()
        return result.joined(separator: "\n")
    }
}
