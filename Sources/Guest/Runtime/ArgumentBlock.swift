// The boot-info argument block (swiftlet_boot_info.argv_block / argc / argv_block_len):
// `argc` NUL-terminated UTF-8 strings back to back in `argv_block_len` bytes, read-only to
// the guest. The tender writes it, but the guest trusts nothing it did not check: parsing
// never reads outside the block, whatever argc and the bytes say.

/// Splits the boot-info argument block into arguments.
///
/// Rules for a malformed block: arguments are taken in order while a terminating NUL lies
/// inside the block; an unterminated tail is dropped (it cannot be handed out as a C string
/// without copying); if `argc` is larger than the strings present, only those present are
/// returned; bytes after the `argc`th string are ignored; a negative `argc` means none.
public enum ArgumentBlock {
    /// Stores in `argv` pointers to the arguments in `block` (C strings pointing into the
    /// block itself, so they live as long as it does and must not be written through),
    /// followed by a `nil` terminator as C's `argv[argc]`.
    ///
    /// `capacity` is the number of slots at `argv` and includes the terminator: at most
    /// `capacity - 1` arguments are stored (for all of them pass `argc + 1`).
    /// Returns the number of arguments stored.
    public static func parse(_ block: UnsafeRawBufferPointer, argc: Int,
                             into argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>,
                             capacity: Int) -> Int {
        guard capacity > 0 else { return 0 }
        var stored = 0
        forEachArgument(in: block, argc: min(argc, capacity - 1)) { argument in
            let start = UnsafeMutableRawPointer(mutating: argument.baseAddress!)
            argv[stored] = start.assumingMemoryBound(to: CChar.self)
            stored += 1
        }
        argv[stored] = nil
        return stored
    }

    /// The number of arguments `parse` would find with unlimited capacity.
    public static func count(_ block: UnsafeRawBufferPointer, argc: Int) -> Int {
        var found = 0
        forEachArgument(in: block, argc: argc) { _ in found += 1 }
        return found
    }

    /// The arguments as Swift strings (allocates: for hosted use and tests). Invalid UTF-8
    /// is repaired with U+FFFD.
    public static func strings(_ block: UnsafeRawBufferPointer, argc: Int) -> [String] {
        var result: [String] = []
        forEachArgument(in: block, argc: argc) { argument in
            result.append(String(decoding: argument, as: UTF8.self))
        }
        return result
    }

    /// Calls `body` with the bytes of each of the first `argc` complete arguments, without
    /// their terminating NUL. Every buffer passed lies inside `block`, followed by its NUL.
    public static func forEachArgument(in block: UnsafeRawBufferPointer, argc: Int,
                                       _ body: (UnsafeRawBufferPointer) -> Void) {
        guard let base = block.baseAddress else { return }
        var found = 0
        var start = 0
        while found < argc && start < block.count {
            var end = start
            while end < block.count && block[end] != 0 { end += 1 }
            guard end < block.count else { return }     // no NUL before the end: drop it
            body(UnsafeRawBufferPointer(start: base + start, count: end - start))
            found += 1
            start = end + 1
        }
    }
}
