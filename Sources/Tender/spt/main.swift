// swiftlet-spt: the same guest as a seccomp-confined Linux process. The image is mapped at
// GUEST_BASE in this process, hypercalls are plain function calls into the tender, and the
// kernel's seccomp filter is the isolation boundary.
import CTender
import Glibc
import SwiftletABI
import TenderCore

TenderExit.run(name: "swiftlet-spt", { () throws(TenderError) -> HypercallHandler.Outcome in
    let options = try TenderOptions(arguments: Array(CommandLine.arguments.dropFirst()))
    let image = try GuestImage(path: options.imagePath, memorySize: options.memorySize, target: SWIFTLET_TARGET_SPT)
    let space = try ProcessGuestSpace(memorySize: options.memorySize)
    do { try image.elf.load(into: space.memory) } catch { throw .image("cannot load \(options.imagePath): \(error)") }

    let networks = try options.networks.enumerated().map { (index, spec) throws(TenderError) in try spec.open(name: "net\(index)") }
    let layout = BootLayout(memorySize: options.memorySize, imageEnd: image.elf.imageEnd)
    var boot = BootInfoWriter(target: SWIFTLET_TARGET_SPT)
    boot.hypercallEntry = SptGuest.hypercallEntry
    boot.networks = networks
    try boot.write(into: space.memory, layout: layout, arguments: [options.imagePath] + options.guestArguments)
    try space.protect(segments: image.elf.segments)

    SptGuest.prepare(hypercalls: HypercallHandler(memory: space.memory, networks: networks), symbols: image.symbols)
    let policy = SeccompPolicy.spt(consoleFDs: [1, 2], deviceFDs: networks.map(\.backend.fd))
    do { try policy.install() } catch { throw .guest("cannot install the seccomp filter: \(error)") }
    if options.seccompSelfTest { _ = getppid() }   // not on the allow-list: the kernel kills us here

    SptGuest.enter(entry: image.elf.entry, bootInfo: layout.bootInfo.raw, stackTop: layout.stackTop.raw)
}, report: { crash in crash.summary + "\n" })
