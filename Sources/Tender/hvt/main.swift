// swiftlet-hvt: the KVM tender. Loads a Swiftlet image, enters it at CPL3, serves its
// hypercalls under a seccomp allow-list, and reports how it ended.
import CTender
import Glibc
import SwiftletABI
import TenderCore

var memory: GuestMemory?
var symbols: SymbolTable?

TenderExit.run(name: "swiftlet-hvt", { () throws(TenderError) -> HypercallHandler.Outcome in
    let options = try TenderOptions(arguments: Array(CommandLine.arguments.dropFirst()))
    let image = try GuestImage(path: options.imagePath, memorySize: options.memorySize, target: SWIFTLET_TARGET_HVT)
    symbols = image.symbols
    let machine = try VirtualMachine(memorySize: options.memorySize)
    memory = machine.memory
    do { try image.elf.load(into: machine.memory) } catch { throw .image("cannot load \(options.imagePath): \(error)") }

    let networks = try options.networks.enumerated().map { (index, spec) throws(TenderError) in try spec.open(name: "net\(index)") }
    let layout = BootLayout(memorySize: options.memorySize, imageEnd: image.elf.imageEnd)
    var boot = BootInfoWriter(target: SWIFTLET_TARGET_HVT)
    boot.tscHz = machine.tscHz
    boot.networks = networks
    try boot.write(into: machine.memory, layout: layout, arguments: [options.imagePath] + options.guestArguments)
    try machine.prepare(
        segments: image.elf.segments.map {
            X86SystemArea.Segment(start: $0.vaddr, end: $0.vaddr + $0.memsz, writable: $0.flags.contains(.write), executable: $0.flags.contains(.execute))
        },
        entry: image.elf.entry, stackTop: layout.stackTop.raw, bootInfo: layout.bootInfo.raw)

    let policy = SeccompPolicy.hvt(
        vcpuFD: machine.vcpu, consoleFDs: [1, 2], deviceFDs: networks.map(\.backend.fd),
        kvmRunRequests: [ctender_kvm_run_request(), ctender_kvm_get_regs_request(), ctender_kvm_get_sregs_request()])
    do { try policy.install() } catch { throw .guest("cannot install the seccomp filter: \(error)") }
    if options.seccompSelfTest { _ = getppid() }   // not on the allow-list: the kernel kills us here

    return machine.runGuest(hypercalls: HypercallHandler(memory: machine.memory, networks: networks))
}, report: { crash in
    guard let memory else { return crash.summary + "\n" }
    return CrashReport(crash: crash, memory: memory, symbols: symbols).text
})
