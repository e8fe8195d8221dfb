// Printing collections, optionals and tuples as ordinary Swift prints them. Embedded Swift has
// no reflection, so its `"\(value)"` of an Array, Dictionary, Set, Optional or tuple chooses the
// standard library's unconstrained `appendInterpolation<T>` and prints "(cannot print value in
// embedded Swift)" at run time. Here the library OS offers overloads that the type checker ranks
// above that fallback (they are more specialized), and replaces the fallback itself: an
// application's declaration with the standard library's exact signature shadows it, and being
// deprecated, its every use is a compiler warning that `swiftlet build` turns into an error
// (EmbeddedGuidance). So a value prints as ordinary Swift prints it, or the build says why not.
//
// Parameter packs would cover tuples of any length, but Embedded Swift 6.3 cannot specialize a
// pack iteration across modules (and its optimizer crashes on one): tuples of 2 to 6 elements
// have an overload each. A labeled tuple converts to the unlabeled parameter, so its labels are
// not printed: `(x: 1, y: 2)` prints `(1, 2)` (ordinary Swift: `(x: 1, y: 2)`).
#if SWIFTLET_GUEST

/// A value printed the way ordinary Swift prints it: `description` for `print` and `"\(…)"`,
/// and inside collections what `debugPrint` shows (strings and characters quoted and escaped).
/// The standard library's printable types conform, and so do Array, ArraySlice,
/// ContiguousArray, Set, Dictionary and Optional of conforming elements. A type of yours with a
/// `description` prints inside an Array or Optional as it is; to nest it deeper (`[[Point]]`,
/// `[String: Point]`), add `extension Point: PrintableValue {}`.
public protocol PrintableValue {
    /// What `print(value)` and `"\(value)"` show.
    func writeDescription(to text: inout String)
    /// What the value shows as an element of a collection, optional or tuple.
    func writeDebugDescription(to text: inout String)
}

extension PrintableValue where Self: CustomStringConvertible {
    public func writeDescription(to text: inout String) { text += description }
    public func writeDebugDescription(to text: inout String) { text += description }
}

extension PrintableValue where Self: CustomStringConvertible & CustomDebugStringConvertible {
    public func writeDebugDescription(to text: inout String) { text += debugDescription }
}

/// The containers above: printed whole exactly as they are shown nested (`["a", "b"]`).
public protocol PrintableContainer: PrintableValue {}

extension PrintableContainer {
    public func writeDescription(to text: inout String) { writeDebugDescription(to: &text) }
}

extension Int: PrintableValue {}
extension Int8: PrintableValue {}
extension Int16: PrintableValue {}
extension Int32: PrintableValue {}
extension Int64: PrintableValue {}
extension UInt: PrintableValue {}
extension UInt8: PrintableValue {}
extension UInt16: PrintableValue {}
extension UInt32: PrintableValue {}
extension UInt64: PrintableValue {}
extension Bool: PrintableValue {}
extension Float: PrintableValue {}
extension Double: PrintableValue {}
extension String: PrintableValue {}
extension Substring: PrintableValue {}
extension Character: PrintableValue {}
extension Unicode.Scalar: PrintableValue {}

/// `[a, b, c]` with each element as a collection shows it.
private func writeList<S: Sequence>(_ elements: S, to text: inout String) where S.Element: PrintableValue {
    text += "["
    var first = true
    for element in elements {
        if !first { text += ", " }
        first = false
        element.writeDebugDescription(to: &text)
    }
    text += "]"
}

extension Array: PrintableValue, PrintableContainer where Element: PrintableValue {
    public func writeDebugDescription(to text: inout String) { writeList(self, to: &text) }
}

extension ArraySlice: PrintableValue, PrintableContainer where Element: PrintableValue {
    public func writeDebugDescription(to text: inout String) { writeList(self, to: &text) }
}

extension ContiguousArray: PrintableValue, PrintableContainer where Element: PrintableValue {
    public func writeDebugDescription(to text: inout String) { writeList(self, to: &text) }
}

extension Set: PrintableValue, PrintableContainer where Element: PrintableValue {
    public func writeDebugDescription(to text: inout String) { writeList(self, to: &text) }
}

extension Dictionary: PrintableValue, PrintableContainer where Key: PrintableValue, Value: PrintableValue {
    public func writeDebugDescription(to text: inout String) {
        guard !isEmpty else { text += "[:]"; return }
        text += "["
        var first = true
        for (key, value) in self {
            if !first { text += ", " }
            first = false
            key.writeDebugDescription(to: &text)
            text += ": "
            value.writeDebugDescription(to: &text)
        }
        text += "]"
    }
}

extension Optional: PrintableValue, PrintableContainer where Wrapped: PrintableValue {
    public func writeDebugDescription(to text: inout String) {
        guard let value = self else { text += "nil"; return }
        text += "Optional("
        value.writeDebugDescription(to: &text)
        text += ")"
    }
}

/// Adapts a type that only has a `description` (an application's own) to an element.
private struct Described<Value: CustomStringConvertible>: PrintableValue {
    var value: Value
    func writeDescription(to text: inout String) { text += value.description }
    func writeDebugDescription(to text: inout String) { text += value.description }
}

/// The text of one value for `print` and interpolation.
private func printed<T: PrintableValue>(_ value: T) -> String {
    var text = ""
    value.writeDescription(to: &text)
    return text
}

/// `(a, b, …)`: a tuple's elements as a collection shows them.
private struct TupleText {
    private var text = "("
    private var isEmpty = true

    mutating func append<T: PrintableValue>(_ element: T) {
        if !isEmpty { text += ", " }
        isEmpty = false
        element.writeDebugDescription(to: &text)
    }

    var finished: String { text + ")" }
}

extension DefaultStringInterpolation {
    public mutating func appendInterpolation<T: PrintableContainer>(_ value: T) {
        appendLiteral(printed(value))
    }

    /// An Array or Optional of an application's own type with a `description`. (The second
    /// overload of each pair breaks the tie for types that are both.)
    public mutating func appendInterpolation<T: CustomStringConvertible>(_ value: [T]) {
        appendLiteral(printed(value.map { Described(value: $0) }))
    }

    public mutating func appendInterpolation<T: PrintableValue & CustomStringConvertible>(_ value: [T]) {
        appendLiteral(printed(value))
    }

    public mutating func appendInterpolation<T: CustomStringConvertible>(_ value: T?) {
        appendLiteral(printed(value.map { Described(value: $0) }))
    }

    public mutating func appendInterpolation<T: PrintableValue & CustomStringConvertible>(_ value: T?) {
        appendLiteral(printed(value))
    }

    public mutating func appendInterpolation<A: PrintableValue, B: PrintableValue>(_ value: (A, B)) {
        var tuple = TupleText()
        tuple.append(value.0); tuple.append(value.1)
        appendLiteral(tuple.finished)
    }

    public mutating func appendInterpolation<A: PrintableValue, B: PrintableValue, C: PrintableValue>(_ value: (A, B, C)) {
        var tuple = TupleText()
        tuple.append(value.0); tuple.append(value.1); tuple.append(value.2)
        appendLiteral(tuple.finished)
    }

    public mutating func appendInterpolation<A: PrintableValue, B: PrintableValue, C: PrintableValue, D: PrintableValue>(
        _ value: (A, B, C, D)
    ) {
        var tuple = TupleText()
        tuple.append(value.0); tuple.append(value.1); tuple.append(value.2); tuple.append(value.3)
        appendLiteral(tuple.finished)
    }

    public mutating func appendInterpolation<A: PrintableValue, B: PrintableValue, C: PrintableValue, D: PrintableValue,
                                             E: PrintableValue>(_ value: (A, B, C, D, E)) {
        var tuple = TupleText()
        tuple.append(value.0); tuple.append(value.1); tuple.append(value.2); tuple.append(value.3)
        tuple.append(value.4)
        appendLiteral(tuple.finished)
    }

    public mutating func appendInterpolation<A: PrintableValue, B: PrintableValue, C: PrintableValue, D: PrintableValue,
                                             E: PrintableValue, F: PrintableValue>(_ value: (A, B, C, D, E, F)) {
        var tuple = TupleText()
        tuple.append(value.0); tuple.append(value.1); tuple.append(value.2); tuple.append(value.3)
        tuple.append(value.4); tuple.append(value.5)
        appendLiteral(tuple.finished)
    }

    /// Shadows the standard library's fallback (same signature): whatever no overload above
    /// prints is refused at build time instead of printing a placeholder at run time.
    @available(*, deprecated, message: "Embedded Swift cannot print a value of this type")
    public mutating func appendInterpolation<T>(_ value: T) {
        appendLiteral("(cannot print value in embedded Swift)")
    }
}

// `print` of what the standard library's Embedded `print` refuses, as ordinary Swift prints it.
// Disfavored, like the standard library's `print(String)`: an interpolated string would
// otherwise be promoted to an Optional and printed as `Optional("…")`.

@_disfavoredOverload
public func print<T: PrintableContainer>(_ value: T, terminator: String = "\n") {
    Swift.print(printed(value) + terminator, terminator: "")
}

@_disfavoredOverload
public func print<T: CustomStringConvertible>(_ value: [T], terminator: String = "\n") {
    print(value.map { Described(value: $0) }, terminator: terminator)
}

@_disfavoredOverload
public func print<T: PrintableValue & CustomStringConvertible>(_ value: [T], terminator: String = "\n") {
    Swift.print(printed(value) + terminator, terminator: "")
}

@_disfavoredOverload
public func print<T: CustomStringConvertible>(_ value: T?, terminator: String = "\n") {
    print(value.map { Described(value: $0) }, terminator: terminator)
}

@_disfavoredOverload
public func print<T: PrintableValue & CustomStringConvertible>(_ value: T?, terminator: String = "\n") {
    Swift.print(printed(value) + terminator, terminator: "")
}

/// Several items, as ordinary Swift's variadic `print` writes them.
public func print<A: PrintableValue, B: PrintableValue>(_ a: A, _ b: B, separator: String = " ", terminator: String = "\n") {
    Swift.print(printed(a) + separator + printed(b) + terminator, terminator: "")
}

public func print<A: PrintableValue, B: PrintableValue, C: PrintableValue>(
    _ a: A, _ b: B, _ c: C, separator: String = " ", terminator: String = "\n"
) {
    Swift.print(printed(a) + separator + printed(b) + separator + printed(c) + terminator, terminator: "")
}

public func print<A: PrintableValue, B: PrintableValue, C: PrintableValue, D: PrintableValue>(
    _ a: A, _ b: B, _ c: C, _ d: D, separator: String = " ", terminator: String = "\n"
) {
    Swift.print(printed(a) + separator + printed(b) + separator + printed(c) + separator + printed(d) + terminator,
                terminator: "")
}

#endif
