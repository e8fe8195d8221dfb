// virtio-blk: `swiftlet run --target virtio --disk FILE` gives the guest the same block device
// as the tenders' --disk, through QEMU's virtio-blk (virtio-mmio on microvm, virtio-pci on q35).
// The disk-guest counts its boots in sector 0 and checks a 1.5 MiB pattern (two requests): the
// count goes on across boots, across machines, and onto the spt and hvt tenders, which read the
// same raw image; a disk another guest holds is refused before QEMU starts.
import Foundation
import Testing

@Suite(.enabled(if: VirtioHarness.qemuAvailable, "skipped: qemu-system-x86_64 is not installed"), .serialized)
struct VirtioDiskTests {
    static func boot(_ image: URL, _ configuration: VirtioHarness.Configuration, disk: String) throws -> String {
        let result = try VirtioHarness.run(image, configuration, options: ["--mem", "16M", "--disk", disk, "--disk-size", "4M"], seconds: 120)
        #expect(result.status == 0, "\(configuration): \(result.stdout)\n\(result.stderr)")
        return result.stdout
    }

    @Test func theBootCountGoesOnAcrossMachinesAndOntoTheTenders() throws {
        let image = try VirtioHarness.image(of: "Tests/Guests/disk-guest", named: "disk-guest")
        let disk = Harness.scratch.appendingPathComponent("virtio-disk.img").path
        try? FileManager.default.removeItem(atPath: disk)
        var boots = 0
        let machines = [VirtioHarness.configurations.first { $0.machine == "microvm" }!, .init(machine: "q35", accel: "tcg")]
        for configuration in machines + machines {
            let output = try Self.boot(image, configuration, disk: disk)
            boots += 1
            #expect(output.contains("disk-guest: disk0, 4194304 bytes in blocks of 512"), "\(configuration): \(output)")
            #expect(output.contains("disk-guest: boot \(boots), pattern intact"), "\(configuration): \(output)")
        }
        let tenderImage = try Harness.image(of: "Tests/Guests/disk-guest", named: "disk-guest")
        for target in runnableTargets {
            let result = try Harness.run(Harness.tender(target), ["--mem", "16M", "--disk", disk, tenderImage.path])
            boots += 1
            #expect(result.status == 0 && result.stdout.contains("disk-guest: boot \(boots), pattern intact"), "\(target): \(result.stdout)\n\(result.stderr)")
        }
    }

    @Test func aDiskAnotherGuestHoldsIsRefusedBeforeQEMUStarts() throws {
        let image = try VirtioHarness.image(of: "Tests/Guests/disk-guest", named: "disk-guest")
        let disk = Harness.scratch.appendingPathComponent("virtio-held.img").path
        let holder = open(disk, O_RDWR | O_CREAT, 0o600)
        defer { close(holder) }
        #expect(ftruncate(holder, 1 << 20) == 0 && flock(holder, LOCK_EX) == 0)
        let result = try VirtioHarness.run(image, VirtioHarness.configurations.first!, options: ["--disk", disk])
        #expect(result.status == 125, "\(result.stdout)\n\(result.stderr)")
        #expect(result.stderr.contains("in use by another running guest"), "\(result.stderr)")
        #expect(!result.stdout.contains("disk-guest:"), "the guest ran: \(result.stdout)")
    }
}
