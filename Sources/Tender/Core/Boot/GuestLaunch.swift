// What both tenders do around the guest's first instruction, in order: read options and the
// image, open devices, load the image and boot info into guest memory, then lock down.
import CTender

public struct GuestLaunch {
    public let options: TenderOptions
    public let image: GuestImage
    public let networks: [NetworkDevice]
    public let disks: [BlockDevice]
    public let layout: BootLayout
    /// `--pcap`: the open capture file every device records into.
    public let capture: PacketCapture?
    /// `--core`: the file a crash is written to (reserved last, see CoreFile).
    public let core: CoreFile?
    /// SIGTERM and SIGINT, from here on: they end the guest unless it watches for them.
    public let shutdown: ShutdownSignals

    public init(arguments: [String], target: UInt32) throws(TenderError) {
        options = try TenderOptions(arguments: arguments, tender: "swiftlet-\(TargetNames.describe(target))")
        image = try GuestImage(path: options.imagePath, memorySize: options.memorySize, target: target)
        networks = try options.networks.enumerated().map { (index, spec) throws(TenderError) in
            try spec.open(name: "net\(index)")
        }
        disks = try options.disks.enumerated().map { (index, spec) throws(TenderError) in
            try spec.open(name: "disk\(index)")
        }
        layout = BootLayout(memorySize: options.memorySize, imageEnd: image.elf.imageEnd)
        if let path = options.pcapPath {
            guard !networks.isEmpty else { throw .usage("--pcap \(path): the guest has no network device to record (add --net)") }
            let capture = try PacketCapture(path: path, limit: options.pcapLimit)
            for device in networks { device.capture = capture }
            self.capture = capture
        } else {
            capture = nil
        }
        if TenderFlavor.debugging, let directory = options.coreDirectory {
            core = try CoreFile.reserve(directory: directory, imagePath: options.imagePath)
        } else {
            core = nil
        }
        // After the --core split: the handlers belong to the process that runs the guest.
        shutdown = try ShutdownSignals.install(gracePeriodSeconds: options.gracePeriodSeconds)
    }

    /// With --core, writes the crashed guest's core; the line to add to the crash report.
    public func writeCore(_ crash: GuestCrash, memory: GuestMemory) -> String {
        guard TenderFlavor.debugging else { return "" }
        return core?.write(crash, memory: memory, segments: image.elf.segments, arguments: [options.imagePath] + options.guestArguments) ?? ""
    }

    /// What the guest may read and write once it runs: hypercalls see memory through this.
    public var guestAccess: GuestAccess {
        GuestAccess(memorySize: options.memorySize,
                    writableSegments: image.elf.segments.filter { $0.flags.contains(.write) }.map { $0.vaddr ..< $0.end },
                    heap: layout.heapStart.raw ..< layout.heapEnd.raw)
    }

    /// The descriptors the guest's network devices use, for the seccomp allow-list.
    public var deviceFDs: [Int32] { networks.map { $0.backend.fd } }

    /// The guest's disks, for the seccomp allow-list (pread/pwrite/fdatasync pinned to each).
    public var diskFDs: [TenderDisk] { disks.map { TenderDisk(fd: $0.fd, capacity: $0.capacity) } }

    /// Files the tender only appends to once the guest runs (capture, core), for the allow-list.
    public var recordingFDs: [Int32] { (capture.map { [$0.fd] } ?? []) + (core.map { [$0.fd] } ?? []) }

    /// Copies the image into `memory` and writes boot info; `boot` carries the target's
    /// own fields (TSC frequency, hypercall entry). Asks for huge pages behind the bulk heap.
    public func load(into memory: GuestMemory, boot: BootInfoWriter) throws(TenderError) {
        memory.adviseHugePages(layout.bulkHeap)
        do { try image.load(into: memory) } catch {
            throw .image("cannot load \(options.imagePath): \(error)")
        }
        var boot = boot
        boot.networks = networks
        boot.blocks = disks
        try boot.write(into: memory, layout: layout, arguments: [options.imagePath] + options.guestArguments)
    }

    /// Closes every descriptor but the console, the devices, the shutdown wake-up pipe and
    /// `keep`, reserves the heap, and installs `policy`. With --seccomp-self-test, then makes a
    /// call the policy forbids.
    public func confine(with policy: SeccompPolicy, keeping keep: [Int32] = []) throws(TenderError) {
        try Confinement.prepare(keeping: [1, 2] + deviceFDs + disks.map { $0.fd } + recordingFDs + shutdown.descriptors + keep)
        do { try policy.install() } catch { throw .guest("cannot install the seccomp filter: \(error)") }
        if options.seccompSelfTest { _ = getppid() }   // not on the allow-list: the kernel kills us here
    }
}
