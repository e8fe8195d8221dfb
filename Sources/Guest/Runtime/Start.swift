// Guest entry: the tender jumps here with the boot info address; we bring up the runtime,
// run the application's `main`, and halt with its status.
#if SWIFTLET_GUEST
import SwiftletABI

/// The application's `main`, through a C function that link-time optimization cannot see into
/// (Freestanding/runtime.c says why).
@_extern(c, "swiftlet_run_main")
func applicationMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32

@_cdecl("swiftlet_start")
public func swiftletStart(_ info: UnsafePointer<swiftlet_boot_info>) -> Never {
    Boot.info = info
    Hypercall.sptEntry = info.pointee.hypercall_entry
    guard Boot.isValid else {
        Crash.halt(kind: SWIFTLET_CRASH_ABORT, message: "boot info has the wrong magic or ABI version")
    }
    Runtime.start(info.pointee)
    Boot.afterRuntimeStart?()
    let status = applicationMain(Int32(Runtime.argc), Runtime.argv)
    exit(status)
}
#endif
