// The virtio target: examples booted as PVH kernels by QEMU through `swiftlet run --target
// virtio`, on microvm and q35, under TCG and (where /dev/kvm is usable) KVM. Each QEMU runs
// under `timeout`, which kills its whole process group: an emulation failure makes QEMU hang
// rather than exit.
import Foundation
import SwiftletBuild
import TenderCore
import Testing

enum VirtioHarness {
    static let qemu = VirtioRunPaths.find("qemu-system-x86_64")
    static var qemuAvailable: Bool { qemu != nil }

    /// (machine, accelerator) pairs to boot on here. q35 under KVM waits ~15 s for SeaBIOS on
    /// KVM-PVM hosts, so it runs the hello case only.
    static let configurations: [Configuration] = {
        var list = [Configuration(machine: "microvm", accel: "tcg"), Configuration(machine: "q35", accel: "tcg")]
        if Harness.kvmAvailable { list.append(Configuration(machine: "microvm", accel: "kvm")) }
        return list
    }()

    struct Configuration: CustomStringConvertible, Sendable {
        var machine: String
        var accel: String
        var description: String { "\(machine)/\(accel)" }
    }

    static func image(_ example: String) throws -> URL {
        try image(of: "examples/\(example)", named: example)
    }

    /// Builds the application at `path` (relative to the checkout) for virtio, once per run.
    static func image(of path: String, named name: String) throws -> URL {
        try Harness.image(of: path, named: name, targets: [.virtio], extension: "virtio")
    }

    /// `swiftlet run --target virtio` under `timeout`; the full CLI runs QEMU. `options` go
    /// before the image (`--disk FILE`).
    static func run(_ image: URL, _ configuration: Configuration, _ arguments: [String] = [], options: [String] = [],
                    seconds: Int = 60) throws -> Harness.Outcome {
        var environment = ProcessInfo.processInfo.environment
        environment["SWIFTLET_VIRTIO_ACCEL"] = configuration.accel
        return try Harness.run(URL(fileURLWithPath: "/usr/bin/timeout"),
                               ["-s", "KILL", "\(seconds)", Harness.productsFolder.appendingPathComponent("swiftlet-cli").path,
                                "run", "--target", "virtio", "--machine", configuration.machine] + options + [image.path, "--"] + arguments,
                               timeout: TimeInterval(seconds + 10), environment: environment)
    }
}

enum VirtioRunPaths {
    static func find(_ name: String) -> String? {
        for folder in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") + ["/usr/bin"]
        where FileManager.default.isExecutableFile(atPath: "\(folder)/\(name)") { return "\(folder)/\(name)" }
        return nil
    }
}

@Suite(.enabled(if: VirtioHarness.qemuAvailable, "skipped: qemu-system-x86_64 is not installed — every virtio test is SKIPPED (apt-get install qemu-system-x86)"))
struct VirtioBootTests {
    @Test(arguments: VirtioHarness.configurations)
    func helloPrintsArgumentsTimeAndExitStatus(configuration: VirtioHarness.Configuration) throws {
        let image = try VirtioHarness.image("hello")
        let result = try VirtioHarness.run(image, configuration, ["first", "two words", "ünïcode", "quote\"back\\slash", "exit=3"])
        #expect(result.status == 3, "stderr: \(result.stderr)")
        #expect(result.stdout.contains("Hello from Swiftlet!"), "stdout: \(result.stdout)")
        #expect(result.stdout.contains("arguments: 5"))
        #expect(result.stdout.contains("[2] two words"))
        #expect(result.stdout.contains("[3] ünïcode"))
        #expect(result.stdout.contains("[4] quote\"back\\slash"))
        let guestTime = try Harness.guestTime(in: result.stdout)
        #expect(abs(guestTime.timeIntervalSinceNow) < 120, "guest wall clock \(guestTime)")
        let uptime = try #require(result.stdout.split(separator: "\n").first { $0.hasPrefix("uptime: ") })
        let micros = try #require(Int(uptime.dropFirst("uptime: ".count).dropLast(" us".count)))
        #expect(micros >= 0 && micros < 10_000_000, "uptime \(micros) us")
    }

    /// Statuses beyond what isa-debug-exit carries come back through the guest's exit line.
    @Test(arguments: [0, 123, 200, 254])
    func everyExitStatusComesBack(status: Int32) throws {
        let image = try VirtioHarness.image("hello")
        let result = try VirtioHarness.run(image, VirtioHarness.configurations.last!, ["exit=\(status)"])
        #expect(result.status == status, "stderr: \(result.stderr)")
        #expect(!result.stdout.contains("swiftlet-exit"), "the exit line is swiftlet's, not the user's: \(result.stdout)")
    }

    @Test("q35 under KVM boots hello", .enabled(if: Harness.kvmAvailable, "skipped: no /dev/kvm — virtio under KVM is SKIPPED"))
    func helloOnQ35UnderKVM() throws {
        let image = try VirtioHarness.image("hello")
        let result = try VirtioHarness.run(image, .init(machine: "q35", accel: "kvm"), ["exit=5"], seconds: 120)
        #expect(result.status == 5, "stderr: \(result.stderr)")
        #expect(result.stdout.contains("Hello from Swiftlet!"))
    }

    @Test func inspectSaysWhatTheVirtioTargetNeeds() throws {
        let image = try VirtioHarness.image("hello")
        let result = try Harness.run(Harness.productsFolder.appendingPathComponent("swiftlet-cli"), ["inspect", image.path])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stdout.contains("targets:     virtio"), "\(result.stdout)")
        #expect(result.stdout.contains("  virtio   PVH kernel for QEMU (or Firecracker): needs qemu-system-x86_64 (installed); KVM optional ("),
                "\(result.stdout)")
        #expect(result.stdout.contains("  hvt      not in this image (swiftlet build --target hvt)"))
    }

    @Test(arguments: VirtioHarness.configurations, [("overflow", "addOverflowing"), ("segv", "touchUnmappedMemory"), ("oom", "out of memory")])
    func crashReportNamesTheFunction(configuration: VirtioHarness.Configuration, crash: (mode: String, expected: String)) throws {
        let image = try VirtioHarness.image("crash")
        let result = try VirtioHarness.run(image, configuration, [crash.mode])
        #expect(result.status == 255, "stderr: \(result.stderr)")
        #expect(result.stderr.contains("swiftlet-virtio: guest crashed:"), "stderr: \(result.stderr)")
        #expect(result.stderr.contains(crash.expected), "stderr: \(result.stderr)")
        #expect(result.stderr.contains("backtrace:"))
        #expect(!result.stdout.contains("swiftlet-crash"), "the crash line is for swiftlet run: \(result.stdout)")
    }

    @Test(arguments: VirtioHarness.configurations)
    func asyncExampleSleepsAndFinishes(configuration: VirtioHarness.Configuration) throws {
        let image = try VirtioHarness.image("async")
        let result = try VirtioHarness.run(image, configuration)
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stdout.contains("task group: sum of squares 1...10 = 385"), "stdout: \(result.stdout)")
        #expect(result.stdout.contains("async main: done"))
        // The sleeps are halts in the shim with the LAPIC timer armed: neither early nor hung.
        let line = try #require(result.stdout.split(separator: "\n").first { $0.hasPrefix("sleeps:") })
        #expect(line.contains("(ok)"), "\(line)")
    }

    /// A VM with too little memory for the guest (the image loads, but 3 MiB of RAM leave it 1
    /// MiB from its load address): a console message and a non-zero exit, not a hang. (A VM too
    /// small to hold the image at all cannot run a single instruction of it: QEMU's job.)
    @Test func tooLittleMemoryIsRefusedByTheGuest() throws {
        let image = try VirtioHarness.image("hello")
        // Straight to QEMU: swiftlet run itself refuses --mem below 2M.
        let result = try Harness.run(URL(fileURLWithPath: "/usr/bin/timeout"),
                                     ["-s", "KILL", "60", VirtioHarness.qemu!, "-M", "microvm", "-m", "3M", "-nodefaults", "-no-user-config",
                                      "-display", "none", "-serial", "stdio", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
                                      "-no-reboot", "-kernel", image.path], timeout: 70)
        #expect(result.stdout.contains("swiftlet (virtio): too little memory"), "stdout: \(result.stdout) stderr: \(result.stderr)")
        #expect(result.stdout.contains("swiftlet-exit 125"))
        #expect(VirtioExit(qemuStatus: result.status, statusLine: 125) == .guest(125), "QEMU status \(result.status)")
    }
}

/// The QEMU command line and the mappings back, without booting anything.
@Suite struct VirtioLaunchTests {
    @Test func commandLineQuotesWhatTheGuestSplits() throws {
        #expect(try QEMUCommand.commandLine(["a", "two words", "", "q\"b\\"]) == #"a "two words" "" "q\"b\\""#)
        #expect(throws: QEMUCommand.Problem.self) { try QEMUCommand.commandLine(["swiftlet.timing"]) }
        #expect(throws: QEMUCommand.Problem.self) { try QEMUCommand.commandLine(["virtio_mmio.device=4K@0x1:5"]) }
    }

    @Test func qemuCommandForMicrovmUnderKVM() throws {
        var command = QEMUCommand(image: "/x/app.virtio", memoryBytes: 32 << 20, kvm: true)
        command.guestArguments = ["hi"]
        let words = try command.arguments()
        #expect(words.contains("microvm,rtc=on"))
        #expect(words.contains("host,-arch-capabilities"))
        #expect(words.contains("34M"), "guest memory starts 2 MiB into RAM: \(words)")
        #expect(words.suffix(2) == ["-append", "hi"])
        command.memoryBytes = 1 << 20
        #expect(throws: QEMUCommand.Problem.self) { try command.arguments() }
    }

    @Test func networkDeviceForEachMachine() throws {
        var command = QEMUCommand(image: "/x/app.virtio", memoryBytes: 32 << 20, kvm: false)
        command.guestArguments = ["hi"]
        command.network = .socket(fd: 3)
        let microvm = try command.arguments()
        #expect(microvm.contains("socket,id=net0,fd=3"))
        #expect(microvm.contains("virtio-net-device,netdev=net0"))
        #expect(microvm.contains("virtio-mmio.force-legacy=false"), "the driver speaks virtio 1.x only: \(microvm)")
        #expect(microvm.suffix(2) == ["-append", "hi"])
        command.machine = .q35
        command.network = .tap("tap7")
        let q35 = try command.arguments()
        #expect(q35.contains("tap,id=net0,ifname=tap7,script=no,downscript=no"))
        #expect(q35.contains("virtio-net-pci,netdev=net0"))
        #expect(!q35.contains("virtio-net-device,netdev=net0"))
        command.network = nil
        #expect(!(try command.arguments()).contains { $0.contains("netdev") })
    }

    /// `swiftlet package --target virtio`: QEMU picks KVM or TCG when the container runs, and
    /// its user network forwards each port.
    @Test func containerEntrypointFallsBackToTCGAndForwardsPorts() throws {
        var command = QEMUCommand(image: "/app/web.swiftlet", memoryBytes: 32 << 20, kvm: true)
        command.kvmOrTCG = true
        command.network = .user(forwardedPorts: [80, 443])
        let words = try command.arguments()
        let accel = words.indices.filter { words[$0] == "-accel" }.map { words[$0 + 1] }
        #expect(accel == ["kvm", "tcg"], "\(words)")
        #expect(words.contains("max,-arch-capabilities") && !words.contains("host,-arch-capabilities"))
        #expect(words.contains("user,id=net0,hostfwd=tcp::80-:80,hostfwd=tcp::443-:443"))
        #expect(words.contains("virtio-net-device,netdev=net0"))
    }

    @Test func disksBecomeVirtioBlkDevicesInOrder() throws {
        var command = QEMUCommand(image: "/x/app.virtio", memoryBytes: 32 << 20, kvm: false)
        command.disks = ["/d/first.img", "/d/odd,name.img"]
        let microvm = try command.arguments()
        #expect(microvm.contains("file=/d/first.img,format=raw,if=none,id=disk0"))
        #expect(microvm.contains("file=/d/odd,,name.img,format=raw,if=none,id=disk1"), "a comma in a path is doubled: \(microvm)")
        #expect(microvm.contains("virtio-blk-device,drive=disk0") && microvm.contains("virtio-blk-device,drive=disk1"))
        #expect(microvm.contains("virtio-mmio.force-legacy=false"), "without a network too: \(microvm)")
        command.machine = .q35
        let q35 = try command.arguments()
        #expect(q35.contains("virtio-blk-pci,drive=disk0") && !q35.contains("virtio-mmio.force-legacy=false"))
    }

    /// --pcap: QEMU's filter-dump on the guest's netdev, and a tap without the virtio-net
    /// header that QEMU 7.2 would otherwise write before each captured frame.
    @Test func captureAddsAFilterDumpOnTheNetdev() throws {
        var command = QEMUCommand(image: "/x/app.virtio", memoryBytes: 32 << 20, kvm: false)
        command.network = .tap("tap7")
        command.captureFile = "/dev/fd/4"
        let words = try command.arguments()
        #expect(words.contains("tap,id=net0,ifname=tap7,script=no,downscript=no,vnet_hdr=off"))
        let object = try #require(words.firstIndex(of: "-object"))
        #expect(words[object + 1] == "filter-dump,id=pcap0,netdev=net0,file=/dev/fd/4")
        command.network = .socket(fd: 3)
        #expect(try command.arguments().contains("socket,id=net0,fd=3"))
        command.network = nil
        #expect(!(try command.arguments()).contains("-object"), "no netdev, nothing to dump")
    }

    @Test func exitStatusesMapBack() {
        #expect(VirtioExit(qemuStatus: 3, statusLine: nil) == .guest(0))
        #expect(VirtioExit(qemuStatus: 249, statusLine: nil) == .guest(123))
        #expect(VirtioExit(qemuStatus: 253, statusLine: 200) == .guest(200))
        #expect(VirtioExit(qemuStatus: 253, statusLine: nil) == .unknownStatus)
        #expect(VirtioExit(qemuStatus: 255, statusLine: nil) == .crashed)
        #expect(VirtioExit(qemuStatus: 1, statusLine: nil) == .qemuFailed(1))
        #expect(VirtioExit(qemuStatus: 0, statusLine: nil) == .qemuFailed(0))
    }

    @Test func consolePassesOutputAndTakesOurLines() {
        var console = VirtioConsole()
        var shown = console.feed(Array("hello\nswift".utf8))
        shown += console.feed(Array("let rocks\nswiftlet-exit 200\nswiftlet-crash exception vector=14 error=0x6 address=0x10 frames=0x100100010,0x100100020\npartial".utf8))
        shown += console.finish()
        #expect(String(decoding: shown, as: UTF8.self) == "hello\nswiftlet rocks\npartial")
        #expect(console.exitStatus == 200)
        #expect(console.crash?.frames == [0x1_0010_0010, 0x1_0010_0020])
        #expect(console.crash?.crash.cause == .exception(vector: 14, errorCode: 6, faultAddress: 0x10))
    }
}
