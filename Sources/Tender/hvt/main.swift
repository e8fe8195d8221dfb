// swiftlet-hvt: the KVM tender. Loads a Swiftlet image, enters it at CPL3, serves its
// hypercalls under a seccomp allow-list, and reports how it ended.
import CTender
import Glibc
import SwiftletABI
import TenderCore

var memory: GuestMemory?
var symbols: SymbolTable?
var launched: GuestLaunch?

TenderExit.run(name: "swiftlet-hvt", { () throws(TenderError) -> HypercallHandler.Outcome in
    let launch = try GuestLaunch(arguments: Array(CommandLine.arguments.dropFirst()), target: SWIFTLET_TARGET_HVT)
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

    try launch.confine(with: SeccompPolicy.hvt(
        vcpuFD: machine.vcpu, consoleFDs: [1, 2], deviceFDs: launch.deviceFDs, recordingFDs: launch.recordingFDs,
        kvmRunRequests: [ctender_kvm_run_request(), ctender_kvm_get_regs_request(), ctender_kvm_get_sregs_request()]),
        keeping: [machine.kvm, machine.vm, machine.vcpu])
    let guestMemory = machine.memory.restricted(to: launch.guestAccess)
    memory = guestMemory
    return machine.runGuest(hypercalls: HypercallHandler(memory: guestMemory, networks: launch.networks))
}, report: { crash in
    guard let memory else { return crash.summary + "\n" }
    return CrashReport(crash: crash, memory: memory, symbols: symbols).text + (launched?.writeCore(crash, memory: memory) ?? "")
})
