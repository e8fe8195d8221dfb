// What a tender does to its own process so the guest inherits nothing: before anything else,
// no environment and no READ_IMPLIES_EXEC; just before the seccomp filter, no descriptor but
// the console and the guest's devices, and a heap reserved once so that nothing after
// confinement needs brk or mmap (the filter forbids both, which is what makes --mem a limit).
import CTender

public enum Confinement {
    /// The heap every allocation after confinement comes from. The tender's own work per exit
    /// (poll sets, frame descriptors) and a crash report fit many times over; an allocation
    /// past it fails (tender_heap.c), it never grows the process.
    public static let heapReserve = 8 << 20

    /// First thing in `main`. On spt the guest shares this address space, so the environment
    /// strings themselves are zeroed (a token in the user's environment is not the guest's),
    /// and under READ_IMPLIES_EXEC every readable mapping would also be executable.
    public static func startClean() throws(TenderError) {
        ctender_scrub_environment()
        // A block malloc had mmapped before confinement would be munmapped when freed after it.
        guard ctender_heap_configure() == 0 else { throw .guest("cannot configure the tender's heap") }
        try refuseReadImpliesExec(personality: ctender_personality())
    }

    /// x86-64 kernels since 5.8 clear READ_IMPLIES_EXEC when they exec a 64-bit program, but
    /// older ones keep what `setarch -X` set, and then guest data would be executable.
    static func refuseReadImpliesExec(personality: UInt32) throws(TenderError) {
        if personality & ctender_read_implies_exec() != 0 {
            throw .usage("refusing to run under the READ_IMPLIES_EXEC personality (setarch -X): every readable page, guest data included, would be executable")
        }
    }

    /// Last step before the filter: closes every descriptor not in `keep`, then reserves the heap.
    public static func prepare(keeping keep: [Int32]) throws(TenderError) {
        let result = keep.withUnsafeBufferPointer { ctender_close_all_except($0.baseAddress, Int32($0.count)) }
        guard result == 0 else { throw .system("cannot close inherited file descriptors", errno: -result) }
        guard ctender_reserve_heap(UInt(heapReserve)) == 0 else {
            throw .system("cannot reserve the tender's heap", errno: SystemError.last)
        }
    }
}
