// Top-level `await` in main.swift crashes the Embedded Swift compiler (Swift 6.3, a segfault in
// SILGen's emitEntryPoint), while `@main struct … static func main() async` compiles. So a
// main.swift whose top-level code awaits is compiled rewritten: its declarations stay at file
// scope and its top-level code becomes the body of a generated async main. Every copied line
// is preceded by `#sourceLocation`, so diagnostics, `#file`/`#line` and traps name the user's
// file and lines.
//
// The compiler's own parser (`-dump-parse`, no type checking) says where each top-level item
// begins and ends. Variables bound before the first `await` stay globals (top-level functions
// may use them); from the first `await` on, top-level code runs in the async main in order, so
// a variable bound there is local to it.
import Foundation

struct TopLevelAwaitRewrite {
    /// One top-level item of the file, by line range (1-based, inclusive).
    struct Item: Equatable {
        enum Kind: Equatable {
            /// A declaration that must stay at file scope (import, func, type, extension…).
            case declaration
            /// A top-level `let`/`var`.
            case binding
            /// Any other top-level code.
            case statement
        }
        var kind: Kind
        var firstLine: Int
        var lastLine: Int
    }

    static let mainTypeName = "_SwiftletTopLevelMain"

    /// Whether `text` may await at top level: a cheap test before asking the parser.
    static func mentionsAwait(_ text: String) -> Bool {
        text.range(of: #"\bawait\b"#, options: .regularExpression) != nil
    }

    /// The top-level items of a `-dump-parse` listing, in source order.
    static func items(fromDump dump: String) -> [Item] {
        var items: [Item] = []
        var current: (kind: Item.Kind, first: Int, last: Int)?
        var inTopLevelCode = false
        for line in dump.split(separator: "\n", omittingEmptySubsequences: false) {
            // Top-level items are the source file's direct children: indented by two spaces.
            if line.hasPrefix("  (") {
                let name = line.dropFirst(3).prefix { $0 != " " && $0 != ")" }
                // A top-level variable is listed again after its binding; the binding covers it.
                if name == "var_decl" && line.contains("top_level_global") { inTopLevelCode = false; continue }
                if let current { items.append(Item(kind: current.kind, firstLine: current.first, lastLine: current.last)) }
                current = nil
                guard let range = lineRange(String(line)) else { continue }
                inTopLevelCode = name == "top_level_code_decl"
                current = (inTopLevelCode ? .statement : .declaration, range.first, range.last)
            } else if inTopLevelCode, line.hasPrefix("      (pattern_binding_decl") {
                current?.kind = .binding
            }
        }
        if let current { items.append(Item(kind: current.kind, firstLine: current.first, lastLine: current.last)) }
        return items
    }

    /// The lines of `range=[FILE:L1:C1 - line:L2:C2]`.
    static func lineRange(_ line: String) -> (first: Int, last: Int)? {
        guard let open = line.range(of: "range=["), let close = line[open.upperBound...].firstIndex(of: "]") else { return nil }
        let inside = line[open.upperBound..<close]
        guard let dash = inside.range(of: " - ") else { return nil }
        let start = inside[..<dash.lowerBound].split(separator: ":")
        let end = inside[dash.upperBound...].split(separator: ":")
        guard start.count >= 2, let first = Int(start[start.count - 2]) else { return nil }
        let last = end.count >= 3 && end[end.count - 3] == "line" ? Int(end[end.count - 2]) : first
        guard let last else { return nil }
        return (first, last)
    }

    /// `source` (main.swift at `path`) rewritten with its top-level code in an async main, or nil
    /// if no top-level code awaits or the items cannot be separated line by line.
    static func rewrite(source: String, path: String, items: [Item]) -> String? {
        let lines = source.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard !items.isEmpty else { return nil }
        for (previous, next) in zip(items, items.dropFirst()) where previous.lastLine >= next.firstLine {
            return nil   // two items share a line: cannot move one without the other
        }
        // Each item owns its lines and the comments and blank lines above it.
        var owned: [(item: Item, first: Int, last: Int)] = []
        var nextFree = 1
        for (index, item) in items.enumerated() {
            let last = index == items.count - 1 ? lines.count : item.lastLine
            owned.append((item, nextFree, last))
            nextFree = last + 1
        }
        func text(_ first: Int, _ last: Int) -> String {
            guard first <= last, first >= 1, last <= lines.count else { return "" }
            return lines[(first - 1)...(last - 1)].joined(separator: "\n")
        }
        guard let firstAwait = owned.firstIndex(where: { $0.item.kind != .declaration && mentionsAwait(text($0.item.firstLine, $0.item.lastLine)) }) else {
            return nil
        }
        let escapedPath = path.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        func located(_ first: Int, _ last: Int) -> String {
            "#sourceLocation(file: \"\(escapedPath)\", line: \(first))\n\(text(first, last))\n#sourceLocation()\n"
        }
        var fileScope = ""
        var body = ""
        for (index, part) in owned.enumerated() {
            let staysGlobal = part.item.kind == .declaration || (part.item.kind == .binding && index < firstAwait)
            if staysGlobal { fileScope += located(part.first, part.last) } else { body += located(part.first, part.last) }
        }
        return fileScope + "@main struct \(mainTypeName) {\nstatic func main() async {\n" + body + "}\n}\n"
    }
}
