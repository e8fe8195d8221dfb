// Ordinary (non-Embedded) Swift for `swiftlet build --full-swift` (FullRuntimeTests): each line
// uses what Embedded Swift refuses, and must print what the same files print as a host program.
protocol Shape { func area() -> Double }
struct Square: Shape { var side: Double; func area() -> Double { side * side } }
struct Circle: Shape { var radius: Double; func area() -> Double { 3 * radius * radius } }

final class Node {
    weak var parent: Node?
    var children: [Node] = []
    let name: String
    init(_ name: String) { self.name = name }
}

struct Point: Codable, Equatable { var x: Int; var y: Int; var label: String }

print("hello from the full Swift runtime")
let shapes: [any Shape] = [Square(side: 2), Circle(radius: 1)]
print("existentials:", shapes.map { $0.area() })
let anything: [Any] = [1, "two", 3.0, Square(side: 1)]
print("Any:", anything)
var child: Node? = Node("child")
do {
    let root = Node("root")
    root.children.append(child!)
    child!.parent = root
    print("weak parent while alive:", child!.parent?.name ?? "nil")
}
print("weak parent after release:", child!.parent?.name ?? "nil")
child = nil
print("Mirror:", Mirror(reflecting: Point(x: 1, y: 2, label: "p")).children.map { "\($0.label!)=\($0.value)" })
print("collections:", ["b", "a"].sorted(), ["k": [1, 2]], (1, "a"), Optional(3) as Any)
print("dump:"); dump(Point(x: 3, y: 4, label: "q"))
print("String(describing:):", String(describing: Point(x: 5, y: 6, label: "r")))
let counted = Dictionary(grouping: ["apple", "avocado", "banana"], by: { $0.first! })
print("grouping:", counted.keys.sorted())
if let square = shapes[0] as? Square { print("cast:", square.side) }
enum Failure: Error { case expected(Int) }
func fail() throws { throw Failure.expected(42) }
do { try fail() } catch { print("untyped throws:", error) }
print("Float80 and math:", Double(2).squareRoot(), (7.5).rounded(.down), Int128(1) << 100)
codableRoundTrip()
