// Command line shared by both tenders:
//   swiftlet-hvt|swiftlet-spt [--mem SIZE] IMAGE [--] [GUEST ARGS...]
// --gdb and --core only in the debug tenders (TenderFlavor).
import CTender
import SwiftletABI

public struct TenderOptions: Equatable {
    public var imagePath: String
    public var memorySize: UInt64 = 32 << 20
    public var guestArguments: [String] = []
    public var networks: [NetworkSpec] = []
    /// `--disk FILE [--disk-size SIZE]`: block devices, in order (disk0, disk1, ...).
    public var disks: [DiskSpec] = []
    /// `--pcap FILE`: record every network frame; `--pcap-limit` bounds the file.
    public var pcapPath: String?
    public var pcapLimit = PacketCapture.defaultLimit
    /// `--core DIR`: where a crash leaves an ELF core file of the guest.
    public var coreDirectory: String?
    /// `--gdb [HOST:]PORT`: wait for a GDB client there and start the guest stopped.
    public var gdb: GDBListenAddress?
    /// How long a guest that watches for shutdown has after SIGTERM or SIGINT.
    public var gracePeriodSeconds: UInt32 = TenderOptions.defaultGracePeriod
    /// Hidden: install the seccomp filter, then make a forbidden system call (self-test).
    public var seccompSelfTest = false
    /// hvt: serve the network devices through exitless rings and an I/O thread, and advise the
    /// guest to spin this many microseconds before it sleeps (--rings[=US]); nil: no rings.
    public var ringSpin: UInt32?
    public static let defaultRingSpin: UInt32 = 30
    public static let maximumRingSpin: UInt32 = 10_000
    /// Hidden (tests, benchmarks): on a guest's halt, say on stderr how many VM exits it took.
    public var countExits = false

    public static let usage = """
        usage: TENDER [--mem SIZE]\(TenderFlavor.debugging ? " [--gdb [HOST:]PORT] [--core DIR]" : "") [--net tap:NAME|fd:N[,mac=XX:XX:XX:XX:XX:XX]]... [--rings[=US]] [--disk FILE [--disk-size SIZE]]... [--grace-period SECONDS] IMAGE [--] [GUEST ARGUMENTS...]
          SIZE: bytes, or with a K/M/G suffix (default 32M, from \(SWIFTLET_MEM_MIN >> 20)M to \(SWIFTLET_MEM_MAX >> 30)G, a multiple of 2M)
          --grace-period  seconds a guest that handles shutdown has after SIGTERM/SIGINT (default 10, 0...3600)
          --net tap:NAME  attach an existing tap interface
          --net fd:N      attach a connected stream socket speaking passt's framing (4-byte length + frame)
          --rings[=US]    hvt: move the network's frames through rings in guest memory, served by a
                          tender I/O thread while the guest runs (no VM exit per batch); an idle
                          guest spins US microseconds (default \(defaultRingSpin)) before it sleeps.
                          Needs a second CPU, ignored without one (bench/WEB.md, "Exitless rings")
          --disk FILE     attach FILE (a disk image, created if missing, or a block device) as a block
                          device; locked while the guest runs, so a second guest on it is refused
          --disk-size SIZE  size of a disk created by the --disk before it (default 64M), or the
                          size an existing image file grows to (never shrunk)
          --pcap FILE     record every frame in and out of the guest's network (pcap format)
          --pcap-limit SIZE  stop recording before FILE would exceed SIZE (default 64M)
        """ + (TenderFlavor.debugging ? """

          --core DIR      if the guest crashes, write an ELF core file of it into DIR
          --gdb [HOST:]PORT  serve the GDB remote protocol there (default host 127.0.0.1); the guest
                          starts stopped before its first instruction
        """ : "")

    public init(imagePath: String) { self.imagePath = imagePath }

    /// `tender`: this program's name, for the lean tenders' refusal of --gdb and --core.
    public init(arguments: [String], tender: String = "TENDER") throws(TenderError) {
        var image: String?
        var rest: [String] = []
        var seccompSelfTest = false
        var ringSpin: UInt32?, countExits = false
        var memory: UInt64 = 32 << 20
        var networks: [NetworkSpec] = []
        var disks: [DiskSpec] = []
        var pcapPath: String?, coreDirectory: String?
        var pcapLimit = PacketCapture.defaultLimit
        var gdb: GDBListenAddress?
        var gracePeriod = Self.defaultGracePeriod
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            if image != nil { rest.append(argument); continue }
            switch ByteText(argument) {
            case "--mem", "-m":
                guard index < arguments.count else { throw .usage("--mem needs a size, e.g. --mem 64M") }
                memory = try Self.checked(arguments[index], by: OptionValue.memorySize)
                index += 1
            case "--net":
                guard index < arguments.count else { throw .usage("--net needs tap:NAME or fd:N") }
                networks.append(try NetworkSpec(parsing: arguments[index]))
                index += 1
            case "--disk":
                guard index < arguments.count, !arguments[index].isEmpty else { throw .usage("--disk needs a file name") }
                disks.append(DiskSpec(path: arguments[index]))
                index += 1
            case "--disk-size":
                guard index < arguments.count else { throw .usage("--disk-size needs a size, e.g. --disk-size 64M") }
                guard !disks.isEmpty else { throw .usage("--disk-size applies to the --disk FILE before it") }
                disks[disks.count - 1].size = try Self.checked(arguments[index], by: OptionValue.diskSize)
                index += 1
            case "--pcap", "--pcap-limit", "--core":
                if !TenderFlavor.debugging && argument.bytesEqual("--core") { throw TenderFlavor.refusal(argument, tender: tender) }
                guard index < arguments.count, !arguments[index].isEmpty else {
                    throw .usage(argument.bytesEqual("--core") ? "--core needs a directory" : argument.bytesEqual("--pcap") ? "--pcap needs a file name" : "--pcap-limit needs a size, e.g. 16M")
                }
                let value = arguments[index]
                index += 1
                switch ByteText(argument) {
                case "--pcap": pcapPath = value
                case "--core": coreDirectory = value
                default: pcapLimit = try Self.checked(value, by: OptionValue.pcapLimit)
                }
            case "--gdb":
                guard TenderFlavor.debugging else { throw TenderFlavor.refusal(argument, tender: tender) }
                guard index < arguments.count else { throw .usage("--gdb needs [HOST:]PORT, e.g. --gdb 1234") }
                gdb = try GDBListenAddress(parsing: arguments[index])
                index += 1
            case "--grace-period":
                guard index < arguments.count else { throw .usage("--grace-period needs a number of seconds, e.g. --grace-period 10") }
                gracePeriod = try Self.checked(arguments[index], by: OptionValue.gracePeriod)
                index += 1
            case "--seccomp-self-test":
                seccompSelfTest = true
            case "--rings":
                ringSpin = Self.defaultRingSpin
            case _ where argument.bytesStart(with: "--rings="):
                guard let spin = argument.bytes(after: "--rings=")?.bytesNumber(), spin <= UInt64(Self.maximumRingSpin) else {
                    throw .usage("\(argument): the spin is a whole number of microseconds from 0 to \(Self.maximumRingSpin)")
                }
                ringSpin = UInt32(spin)
            case "--count-exits":
                countExits = true
            case "--help", "-h":
                throw .usage(Self.usage)
            default:
                if argument.bytesStart(with: "-") && !argument.bytesEqual("-") { throw .usage("unknown option \(argument)\n\(Self.usage)") }
                image = argument
                if index < arguments.count && arguments[index].bytesEqual("--") { index += 1 }
            }
        }
        guard let image else { throw .usage("no image given\n\(Self.usage)") }
        self.imagePath = image
        self.memorySize = memory
        self.guestArguments = rest
        self.seccompSelfTest = seccompSelfTest
        self.ringSpin = ringSpin
        self.countExits = countExits
        self.networks = networks
        self.disks = disks
        self.pcapPath = pcapPath
        self.pcapLimit = pcapLimit
        self.coreDirectory = coreDirectory
        self.gdb = gdb
        self.gracePeriodSeconds = gracePeriod
    }

    public static let defaultGracePeriod: UInt32 = 10

    /// `text` by one of OptionValue's rules, whose refusal is a usage error here.
    private static func checked<Value>(_ text: String, by rule: (String) throws(OptionValueError) -> Value) throws(TenderError) -> Value {
        do { return try rule(text) } catch { throw .usage(error.message) }
    }
}
