// Running a virtio image under QEMU: the command line `swiftlet run --target virtio` uses (and
// prints with --verbose, for users to take elsewhere), and what comes back: the guest's console,
// with its crash line turned into the tenders' report, and QEMU's exit status turned back into
// the guest's (the isa-debug-exit mapping in swiftlet_abi.h). Pure code, tested directly.
import Foundation
import SwiftletABI
import TenderCore

public struct QEMUCommand: Equatable, Sendable {
    public enum Machine: String, CaseIterable, Sendable { case microvm, q35 }

    public var qemu = "qemu-system-x86_64"
    public var image: String
    public var machine: Machine = .microvm
    /// Guest memory (what the guest gets from its load address on, as --mem on hvt).
    public var memoryBytes: UInt64
    public var kvm: Bool
    /// Try KVM and fall back to TCG where /dev/kvm cannot be opened (a container is given the
    /// device or not when it runs, after its entrypoint was written). `kvm` is ignored then.
    public var kvmOrTCG = false
    public var guestArguments: [String] = []
    public var network: Network?
    /// `--pcap`: where QEMU's filter-dump writes every frame of the network (a pipe the CLI
    /// reads, so that --pcap-limit holds and the file is the same format as the tenders').
    public var captureFile: String?
    /// `--disk` image files (opened, sized and locked already): virtio-blk devices, in order.
    public var disks: [String] = []

    /// Where the guest's virtio-net device (virtio-mmio on microvm, virtio-pci on q35) is wired.
    public enum Network: Equatable, Sendable {
        /// An existing tap interface, which QEMU opens (as root, or a tap the user owns).
        case tap(String)
        /// A connected stream socket at QEMU's `fd`, carrying each frame after its 4-byte
        /// big-endian length: QEMU's socket netdev and passt frame them alike. `-p` takes this
        /// path through passt rather than QEMU's user network (`hostfwd`): measured here with wrk
        /// at 32 connections, slirp timed out 2 requests in every 5 s run (1.66 s stalls while
        /// lost segments were resent) at 14–21k req/s; passt none, at 24–27k. And it is the
        /// network hvt and spt use: same addresses, same DHCP, same known behaviour.
        case socket(fd: Int32)
        /// QEMU's own user-mode network (slirp), forwarding each TCP port to the same port of
        /// the guest: what `swiftlet package --target virtio` uses, QEMU being the container's
        /// only process (no launcher in the image to start passt and hand QEMU its socket).
        case user(forwardedPorts: [Int])
    }

    public init(image: String, memoryBytes: UInt64, kvm: Bool) {
        self.image = image
        self.memoryBytes = memoryBytes
        self.kvm = kvm
    }

    public enum Problem: Error, CustomStringConvertible, Equatable {
        case reservedArgument(String)
        case memory(UInt64)
        public var description: String {
            switch self {
            case .reservedArgument(let argument):
                "guest argument \(argument): words starting with virtio_mmio.device= or swiftlet. are read by the virtio binding, not passed on"
            case .memory(let bytes):
                "--mem \(bytes / (1 << 20))M: the virtio target takes \(SWIFTLET_MEM_MIN >> 20) MiB to \((SWIFTLET_VIRTIO_PHYS_LIMIT - SWIFTLET_VIRTIO_PHYS_BASE) >> 20) MiB"
            }
        }
    }

    public func arguments() throws(Problem) -> [String] {
        guard memoryBytes >= SWIFTLET_MEM_MIN, memoryBytes <= SWIFTLET_VIRTIO_PHYS_LIMIT - SWIFTLET_VIRTIO_PHYS_BASE else {
            throw .memory(memoryBytes)
        }
        // The guest's memory starts SWIFTLET_VIRTIO_PHYS_BASE into RAM (below is the firmware's).
        let megabytes = (memoryBytes + SWIFTLET_VIRTIO_PHYS_BASE + (1 << 20) - 1) >> 20
        var words = [qemu,
                     // microvm's CMOS RTC is off by default; TCG has no kvmclock to tell the time.
                     "-M", machine == .microvm ? "microvm,rtc=on" : "q35",
                     // QEMU 7.2 cannot set MSR 0x10a (arch-capabilities) under KVM-PVM; `max`
                     // without it serves both accelerators when QEMU picks one at run time.
                     ] + (kvmOrTCG ? ["-accel", "kvm", "-accel", "tcg", "-cpu", "max,-arch-capabilities"]
                          : ["-accel", kvm ? "kvm" : "tcg", "-cpu", kvm ? "host,-arch-capabilities" : "max"]) + [
                     "-m", "\(megabytes)M", "-smp", "1",
                     "-nodefaults", "-no-user-config", "-display", "none", "-serial", "stdio",
                     "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04", "-no-reboot",
                     "-kernel", image]
        if let network {
            switch network {
            // QEMU 7.2's filter-dump writes a tap's virtio-net header before each frame (later
            // QEMUs strip it): with a capture, the tap runs without one.
            case .tap(let name): words += ["-netdev", "tap,id=net0,ifname=\(name),script=no,downscript=no" + (captureFile == nil ? "" : ",vnet_hdr=off")]
            case .socket(let fd): words += ["-netdev", "socket,id=net0,fd=\(fd)"]
            case .user(let ports): words += ["-netdev", (["user,id=net0"] + ports.map { "hostfwd=tcp::\($0)-:\($0)" }).joined(separator: ",")]
            }
            words += ["-device", machine == .microvm ? "virtio-net-device,netdev=net0" : "virtio-net-pci,netdev=net0"]
            if let captureFile { words += ["-object", "filter-dump,id=pcap0,netdev=net0,file=\(captureFile)"] }
        }
        for (index, path) in disks.enumerated() {
            // Raw, QEMU's default writeback cache: a virtio-blk flush (BLOCK_FLUSH) is an fdatasync.
            // A comma in an option value is written twice.
            words += ["-drive", "file=\(path.replacingOccurrences(of: ",", with: ",,")),format=raw,if=none,id=disk\(index)",
                      "-device", machine == .microvm ? "virtio-blk-device,drive=disk\(index)" : "virtio-blk-pci,drive=disk\(index)"]
        }
        // QEMU 7.2's virtio-mmio is legacy (version 1) unless told otherwise; the drivers are 1.x only.
        if machine == .microvm && (network != nil || !disks.isEmpty) {
            words += ["-global", "virtio-mmio.force-legacy=false"]
        }
        let commandLine = try Self.commandLine(guestArguments)
        if !commandLine.isEmpty { words += ["-append", commandLine] }
        return words
    }

    /// The kernel command line the guest splits back into its arguments (PVHBootParameters):
    /// words separated by spaces; a word with spaces, quotes or backslashes (or an empty one)
    /// in double quotes, with `\` before `"` and `\`.
    public static func commandLine(_ arguments: [String]) throws(Problem) -> String {
        var words: [String] = []
        for argument in arguments {
            if argument.hasPrefix("virtio_mmio.device=") || argument.hasPrefix("swiftlet.") {
                throw .reservedArgument(argument)
            }
            let plain = !argument.isEmpty && argument.allSatisfy { !" \t\n\"\\".contains($0) }
            if plain {
                words.append(argument)
            } else {
                words.append("\"" + argument.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\"")
            }
        }
        return words.joined(separator: " ")
    }

    /// The command as a shell line, quoted where needed.
    public static func shellLine(_ words: [String]) -> String {
        words.map { word in
            word.allSatisfy { $0.isLetter || $0.isNumber || "-_./=,:@+".contains($0) } && !word.isEmpty
                ? word : "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
        }.joined(separator: " ")
    }
}

/// How QEMU's exit status maps back to the guest's.
public enum VirtioExit: Equatable, Sendable {
    case guest(Int32)
    /// The guest crashed (its report, if any, came on the console).
    case crashed
    /// A status the exit value could not carry and no "swiftlet-exit N" line said.
    case unknownStatus
    /// QEMU ended without the guest halting (QEMU's own error, a signal, a reset).
    case qemuFailed(Int32)

    public init(qemuStatus: Int32, statusLine: Int32?) {
        let value = (qemuStatus - 1) / 2
        switch qemuStatus {
        case 3...Int32(2 * SWIFTLET_VIRTIO_EXIT_STATUS_MAX + 3) where qemuStatus % 2 == 1:
            self = .guest(value - 1)
        case Int32(2 * SWIFTLET_VIRTIO_EXIT_CRASH_VALUE + 1) & 0xFF:
            self = .crashed
        case Int32(2 * SWIFTLET_VIRTIO_EXIT_OTHER_VALUE + 1):
            self = statusLine.map { .guest($0) } ?? .unknownStatus
        default:
            self = .qemuFailed(qemuStatus)
        }
    }
}

/// The guest's console on its way to the user: everything passes through as it arrives, but for
/// the lines the virtio binding writes for `swiftlet run` ("swiftlet-crash …", "swiftlet-exit N").
public struct VirtioConsole {
    public private(set) var crash: (crash: GuestCrash, frames: [UInt64])?
    public private(set) var exitStatus: Int32?
    private var line: [UInt8] = []
    /// The current line was already passed on (it cannot be one of ours).
    private var passing = false
    private static let markers = [Array("swiftlet-crash ".utf8), Array("swiftlet-exit ".utf8)]

    public init() {}

    /// Takes `bytes` from QEMU; returns what to show the user now.
    public mutating func feed(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        for byte in bytes {
            if passing {
                out.append(byte)
                if byte == UInt8(ascii: "\n") { passing = false }
                continue
            }
            line.append(byte)
            if byte == UInt8(ascii: "\n") {
                if !take(line) { out += line }
                line = []
            } else if !Self.markers.contains(where: { $0.starts(with: line) || line.starts(with: $0) }) {
                out += line
                line = []
                passing = true
            }
        }
        return out
    }

    /// What is left at the end (an unfinished last line).
    public mutating func finish() -> [UInt8] {
        defer { line = [] }
        return take(line + [UInt8(ascii: "\n")]) ? [] : line
    }

    private mutating func take(_ line: [UInt8]) -> Bool {
        let text = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .newlines)
        if text.hasPrefix("swiftlet-exit "), let status = Int32(text.dropFirst("swiftlet-exit ".count)) {
            exitStatus = status
            return true
        }
        guard text.hasPrefix("swiftlet-crash "), let parsed = Self.parseCrash(text) else { return false }
        crash = parsed
        return true
    }

    /// "swiftlet-crash exception vector=14 error=0x6 address=0x0 frames=0x…,0x…",
    /// "swiftlet-crash reported kind=2 frames=… message=TEXT", "swiftlet-crash hypercall number=N frames=…".
    static func parseCrash(_ text: String) -> (crash: GuestCrash, frames: [UInt64])? {
        var rest = Substring(text.dropFirst("swiftlet-crash ".count))
        var message: String?
        if let range = rest.range(of: " message=") {
            message = String(rest[range.upperBound...])
            rest = rest[..<range.lowerBound]
        }
        let words = rest.split(separator: " ")
        guard let kind = words.first else { return nil }
        var fields: [String: String] = [:]
        for word in words.dropFirst() {
            let parts = word.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { fields[String(parts[0])] = String(parts[1]) }
        }
        func number(_ name: String) -> UInt64? {
            guard let text = fields[name] else { return nil }
            return text.hasPrefix("0x") ? UInt64(text.dropFirst(2), radix: 16) : UInt64(text)
        }
        let frames = (fields["frames"] ?? "").split(separator: ",").compactMap { UInt64($0.dropFirst(2), radix: 16) }
        switch kind {
        case "exception":
            guard let vector = number("vector"), vector < 256, let error = number("error"), let address = number("address") else { return nil }
            return (GuestCrash(cause: .exception(vector: UInt8(vector), errorCode: error, faultAddress: address)), frames)
        case "reported":
            guard let code = number("kind"), code <= UInt64(UInt32.max) else { return nil }
            return (GuestCrash(cause: .reported(kind: swiftlet_crash_kind(rawValue: UInt32(code)), message: message ?? "")), frames)
        case "hypercall":
            return (GuestCrash(cause: .badHypercall("number \(number("number") ?? 0)")), frames)
        default:
            return nil
        }
    }
}
