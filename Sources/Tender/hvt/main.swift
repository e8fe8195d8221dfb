// swiftlet-hvt: the KVM tender. Loads a Swiftlet image, enters it at CPL3, serves its
// hypercalls under a seccomp allow-list, and reports how it ended. The debug tender
// (swiftlet-hvt-debug, TenderFlavor) also serves --gdb: it waits for one GDB client first and
// runs the guest under its control.
import CTender
import SwiftletABI

// For the crash report, read on the vCPU thread only (the rings' I/O thread never touches them).
nonisolated(unsafe) var memory: GuestMemory?
nonisolated(unsafe) var symbols: SymbolTable?
nonisolated(unsafe) var launched: GuestLaunch?

TenderExit.run(name: "swiftlet-hvt", { () throws(TenderError) -> HypercallHandler.Outcome in
    let launch = try GuestLaunch(arguments: ProcessArguments.afterProgramName(), target: SWIFTLET_TARGET_HVT)
    symbols = launch.image.symbols
    launched = launch
    let machine = try VirtualMachine(memorySize: launch.options.memorySize)
    // Exitless rings need a CPU for their I/O thread besides the vCPU's: on one CPU every idle
    // moment of the guest is an exit anyway, so the rings would only add thread switches.
    let rings = launch.networks.isEmpty || ctender_cpus_allowed() < 2
        ? nil : try launch.options.ringSpin.map { spin throws(TenderError) in try NetworkRings(devices: launch.networks, spinMicroseconds: spin) }
    if let rings {
        // Without the ioeventfd, NET_KICK exits and the tender kicks: slower, still correct.
        _ = ctender_kvm_ioeventfd(machine.vm, SWIFTLET_HVT_HYPERCALL_PAGE + 8 * UInt64(SWIFTLET_HC_NET_KICK.rawValue), rings.kickFD)
        try rings.start()
    }
    var boot = BootInfoWriter(target: SWIFTLET_TARGET_HVT)
    boot.tscHz = machine.tscHz
    try launch.load(into: machine.memory, boot: boot)
    try machine.prepare(
        segments: launch.image.elf.segments.map {
            X86SystemArea.Segment(start: $0.vaddr, end: $0.vaddr + $0.memsz, writable: $0.flags.contains(.write), executable: $0.flags.contains(.execute))
        },
        entry: launch.image.elf.entry, stackTop: launch.layout.stackTop.raw, bootInfo: launch.layout.bootInfo.raw)

    let debuggerFD = try (TenderFlavor.debugging ? launch.options.gdb : nil).map { address throws(TenderError) in
        try GDBConnection.acceptOne(on: address) {
            TenderExit.writeStandardError("swiftlet-hvt: guest stopped before its first instruction; waiting for gdb on \(address) (gdb \(launch.options.imagePath) -ex 'target remote \(address)')\n")
        }
    }
    if let debuggerFD, ctender_kick_vcpu_on_input(debuggerFD, machine.run) != 0 {
        throw .system("--gdb: cannot make the debugger connection signal-driven", errno: SystemError.last)
    }
    let runRequests = [ctender_kvm_run_request(), ctender_kvm_get_regs_request(), ctender_kvm_get_sregs_request()]
    try launch.confine(with: SeccompPolicy.hvt(
        vcpuFD: machine.vcpu, consoleFDs: [1, 2], deviceFDs: launch.deviceFDs, recordingFDs: launch.recordingFDs, disks: launch.diskFDs,
        shutdown: launch.shutdown.policy,
        kvmRunRequests: runRequests,
        debugger: debuggerFD.map {
            .init(connectionFD: $0, vcpuStateRequests: [ctender_kvm_set_regs_request(), ctender_kvm_set_sregs_request(), ctender_kvm_get_fpu_request()])
        },
        ringFDs: rings.map { [$0.kickFD, $0.wakeFD] } ?? []),
        keeping: [machine.kvm, machine.vm, machine.vcpu] + (debuggerFD.map { [$0] } ?? []) + (rings.map { [$0.kickFD, $0.wakeFD] } ?? []))
    let guestMemory = machine.memory.restricted(to: launch.guestAccess)
    memory = guestMemory
    let hypercalls = HypercallHandler(memory: guestMemory, networks: launch.networks, blocks: launch.disks, shutdown: launch.shutdown,
                                      rings: rings)
    guard let debuggerFD else {
        let outcome = machine.runGuest(hypercalls: hypercalls)
        if launch.options.countExits { TenderExit.writeStandardError("swiftlet-hvt: \(machine.exits) VM exits\n") }
        return outcome
    }
    let debuggee = HVTDebuggee(target: HVTDebugTarget(machine: machine, memory: machine.memory), hypercalls: hypercalls)
    return GDBServer(fd: debuggerFD).serve(debuggee)
}, report: { crash in
    guard let memory else { return crash.summary + "\n" }
    return CrashReport(crash: crash, memory: memory, symbols: symbols).text + (launched?.writeCore(crash, memory: memory) ?? "")
})
