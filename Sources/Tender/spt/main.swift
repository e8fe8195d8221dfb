// swiftlet-spt: the same guest as a seccomp-confined Linux process. The image is mapped at
// GUEST_BASE in this process, hypercalls are plain function calls into the tender, and the
// kernel's seccomp filter is the isolation boundary.
import CTender
import SwiftletABI

TenderExit.run(name: "swiftlet-spt", { () throws(TenderError) -> HypercallHandler.Outcome in
    let launch = try GuestLaunch(arguments: ProcessArguments.afterProgramName(), target: SWIFTLET_TARGET_SPT)
    // --gdb (the debug tender): this process becomes the debugger's agent; a traced child runs
    // the guest below.
    if TenderFlavor.debugging, let address = launch.options.gdb {
        // The listener stays open: after a detach the next client attaches (GDBServer).
        let listener = try GDBConnection.listen(on: address)
        TenderExit.writeStandardError("swiftlet-spt: guest stopped before its first instruction; waiting for gdb on \(address) (gdb \(launch.options.imagePath) -ex 'target remote \(address)')\n")
        let connection = try GDBConnection.accept(on: listener)
        if let debuggee = try SptDebuggee.fork(memorySize: launch.options.memorySize) {
            for fd in [connection, listener] { _ = ctender_set_nonblocking(fd, 1) }
            return GDBServer(fd: connection, listener: listener).serve(debuggee)
        }
        close(connection)
        close(listener)
    }
    let space = try ProcessGuestSpace(memorySize: launch.options.memorySize)
    var boot = BootInfoWriter(target: SWIFTLET_TARGET_SPT)
    boot.hypercallEntry = SptGuest.hypercallEntry
    try launch.load(into: space.memory, boot: boot)
    try space.protect(segments: launch.image.elf.segments)

    SptGuest.prepare(hypercalls: HypercallHandler(memory: space.memory.restricted(to: launch.guestAccess), networks: launch.networks, blocks: launch.disks, shutdown: launch.shutdown), launch: launch)
    try launch.confine(with: SeccompPolicy.spt(consoleFDs: [1, 2], deviceFDs: launch.deviceFDs, recordingFDs: launch.recordingFDs, disks: launch.diskFDs,
                                                      shutdown: launch.shutdown.policy))
    SptGuest.enter(entry: launch.image.elf.entry, bootInfo: launch.layout.bootInfo.raw, stackTop: launch.layout.stackTop.raw,
                   stopped: launch.options.gdb != nil)
}, report: { crash in crash.summary + "\n" })
