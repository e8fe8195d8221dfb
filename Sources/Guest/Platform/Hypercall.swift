// Hypercall transport: how a request struct reaches the tender on the target we booted on.
#if SWIFTLET_GUEST
import SwiftletABI

enum Hypercall {
    /// Set at boot: non-zero on spt (a host function to call) and virtio (the image's own
    /// dispatcher, Sources/Guest/PVH); zero on hvt (a store to the hypercall page exits).
    nonisolated(unsafe) static var sptEntry: UInt64 = 0

    @inline(__always)
    static func call<Request>(_ number: swiftlet_hypercall, _ request: inout Request) {
        withUnsafeMutablePointer(to: &request) { pointer in
            let address = UInt64(UInt(bitPattern: pointer))
            if sptEntry != 0 {
                swiftlet_spt_hypercall(sptEntry, number.rawValue, address)
            } else {
                swiftlet_hvt_hypercall(number.rawValue, address)
            }
        }
    }
}
#endif
