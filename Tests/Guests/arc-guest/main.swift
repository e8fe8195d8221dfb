// Reference counting in a guest (images are built with non-atomic retains and releases,
// Freestanding/refcount.c): copy-on-write of static literals and of uniquely held buffers,
// deinit exactly once, and the heap back where it started. Prints one line per failed check and
// exits with the number of failures (ArcTests runs it on every target).
import Swiftlet

nonisolated(unsafe) var failures = 0
nonisolated(unsafe) var deinits = 0
nonisolated(unsafe) var deinitSum = 0

func check(_ ok: Bool, _ what: StaticString) {
    if !ok {
        failures += 1
        print("arc-guest: FAILED \(what)")
    }
}

final class Tracked {
    let id: Int
    var next: Tracked?
    init(_ id: Int, next: Tracked? = nil) { self.id = id; self.next = next }
    deinit {
        deinits += 1
        deinitSum += id
        // Retains and releases of self inside deinit must neither free it nor run deinit again.
        let again = self
        _ = again.id
    }
}

/// Statically initialized: its buffer's refcount word is -1 (immortal, do not free).
let staticWords = ["b", "a"]

// @inline(never) keeps each pattern in its own function, where the copy's retain and the
// uniqueness check sit next to each other (the order the compiler must not swap).
@inline(never) func makeNumbers(_ count: Int) -> [Int] {
    var numbers: [Int] = []
    for index in 0..<count { numbers.append(index + 1) }
    return numbers
}
@inline(never) func writeIntoCopy(_ numbers: [Int]) -> [Int] {
    var copy = numbers
    copy[0] = 99
    return copy
}
@inline(never) func appendToCopy(_ text: String) -> String {
    var copy = text
    copy.append("!")
    return copy
}
@inline(never) func insertIntoCopy(_ table: [String: Int]) -> [String: Int] {
    var copy = table
    copy["new"] = 1
    return copy
}
@inline(never) func chain(_ length: Int) -> Tracked? {
    var head: Tracked? = nil
    for id in 1...length { head = Tracked(id, next: head) }
    return head
}
@inline(never) func localObjectSum() -> Int {
    // Does not escape: the compiler may put it on the stack (refcount word with do-not-free).
    let local = Tracked(1000)
    return local.id
}

// Copy-on-write of static literals: the literal stays as written, the copy changes.
func copyOnWriteOfLiterals() {
    let sorted = staticWords.sorted()
    check(staticWords == ["b", "a"] && sorted == ["a", "b"], "sorting a copy of a static array literal")
    var literal = [1, 2, 3]
    let literalCopy = literal
    literal[0] = 7
    check(literal == [7, 2, 3] && literalCopy == [1, 2, 3], "writing to a copied array literal")
    var greeting = "hello"
    let greetingCopy = greeting
    greeting.append(" world")
    check(greeting == "hello world" && greetingCopy == "hello", "appending to a copied string literal")
}

// Copy-on-write of buffers held once: the copy must see a count of 2, not 1.
func copyOnWriteOfBuffersHeldOnce() {
    for _ in 0..<3 {
        let numbers = makeNumbers(4)
        let changed = writeIntoCopy(numbers)
        check(numbers == [1, 2, 3, 4] && changed == [99, 2, 3, 4], "writing to a copy of a uniquely held array")
        let text = String(repeating: "x", count: 40)
        let longer = appendToCopy(text)
        check(text.utf8.count == 40 && longer.utf8.count == 41, "appending to a copy of a uniquely held string")
        let table = ["one": 1, "two": 2]
        let bigger = insertIntoCopy(table)
        check(table.count == 2 && bigger.count == 3, "inserting into a copy of a dictionary")
    }
}

// deinit exactly once per object, and not before the last reference goes.
func deinitExactlyOnce() {
    do {
        var objects: [Tracked] = []
        for id in 1...100 { objects.append(Tracked(id)) }
        let copy = objects
        objects.removeAll()
        check(deinits == 0, "objects alive while an array copy holds them")
        check(copy.count == 100, "the array copy")
    }
    check(deinits == 100 && deinitSum == 5050, "each of 100 objects deinitialized once")
    do {
        let head = chain(50)
        check(head?.next?.id == 49, "a linked chain")
    }
    check(deinits == 150 && deinitSum == 5050 + 1275, "a chain of 50 released link by link")
    check(localObjectSum() == 1000 && deinits == 151, "a local object deinitialized once")
    do {
        let shared = Tracked(7)
        let unmanaged = Unmanaged.passRetained(shared)
        var closures: [() -> Int] = []
        for offset in 0..<10 { closures.append { shared.id + offset } }
        check(closures.map { $0() }.reduce(0, +) == 115, "closures capturing an object")
        closures.removeAll()
        unmanaged.release()
        check(deinits == 151, "an object kept by a reference after an unmanaged release")
    }
    check(deinits == 152, "an object captured by closures deinitialized once")
}

print("arc-guest: start")   // the console's first use may allocate; not counted below
let before = Memory.statistics
copyOnWriteOfLiterals()
copyOnWriteOfBuffersHeldOnce()
deinitExactlyOnce()
let after = Memory.statistics
check(after.bytesInUse == before.bytesInUse, "heap bytes in use back where they started")
print("arc-guest: \(deinits) deinits, heap \(before.bytesInUse) -> \(after.bytesInUse) bytes, \(failures) failures")
exit(Int32(failures))
