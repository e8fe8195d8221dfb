// swiftlet-hvt: the KVM tender. Loads a Swiftlet image, enters it at CPL3, serves its
// hypercalls under a seccomp allow-list, and reports how it ended. With --gdb, it waits for
// one GDB client first and runs the guest under its control.
import CTender
import SwiftletABI

// For the crash report. The tender is one thread (Embedded Swift has no main actor to claim them).
nonisolated(unsafe) var memory: GuestMemory?
nonisolated(unsafe) var symbols: SymbolTable?
nonisolated(unsafe) var launched: GuestLaunch?

TenderExit.run(name: "swiftlet-hvt", { () throws(TenderError) -> HypercallHandler.Outcome in
    let launch = try GuestLaunch(arguments: ProcessArguments.afterProgramName(), target: SWIFTLET_TARGET_HVT)
    symbols = launch.image.symbols
    launched = launch
    let machine = try VirtualMachine(memorySize: launch.options.memorySize)
    var boot = BootInfoWriter(target: SWIFTLET_TARGET_HVT)
    boot.tscHz = machine.tscHz
    try launch.load(into: machine.memory, boot: boot)
    try machine.prepare(
        segments: launch.image.elf.segments.map {
            X86SystemArea.Segment(start: $0.vaddr, end: $0.vaddr + $0.memsz, writable: $0.flags.contains(.write), executable: $0.flags.contains(.execute))
        },
        entry: launch.image.elf.entry, stackTop: launch.layout.stackTop.raw, bootInfo: launch.layout.bootInfo.raw)

    let debuggerFD = try launch.options.gdb.map { address throws(TenderError) in
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
        }),
        keeping: [machine.kvm, machine.vm, machine.vcpu] + (debuggerFD.map { [$0] } ?? []))
    let guestMemory = machine.memory.restricted(to: launch.guestAccess)
    memory = guestMemory
    let hypercalls = HypercallHandler(memory: guestMemory, networks: launch.networks, blocks: launch.disks, shutdown: launch.shutdown)
    guard let debuggerFD else { return machine.runGuest(hypercalls: hypercalls) }
    let debuggee = HVTDebuggee(target: HVTDebugTarget(machine: machine, memory: machine.memory), hypercalls: hypercalls)
    return GDBServer(fd: debuggerFD).serve(debuggee)
}, report: { crash in
    guard let memory else { return crash.summary + "\n" }
    return CrashReport(crash: crash, memory: memory, symbols: symbols).text + (launched?.writeCore(crash, memory: memory) ?? "")
})
