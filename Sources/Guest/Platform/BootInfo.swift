// The boot info page the tender wrote before entry (layout in swiftlet_abi.h).
#if SWIFTLET_GUEST
import SwiftletABI

enum Boot {
    nonisolated(unsafe) static var info: UnsafePointer<swiftlet_boot_info>! = nil
    /// A binding that plays the tender itself (virtio) finishes its boot here, once the heap
    /// exists and just before `main` (PVHBoot.attachDevices).
    nonisolated(unsafe) static var afterRuntimeStart: (() -> Void)? = nil

    static var isValid: Bool {
        info.pointee.magic == SWIFTLET_BOOT_MAGIC && info.pointee.abi_version == SWIFTLET_ABI_VERSION
    }

    /// What `make` gives for the devices the tender attached, in handle order (at most
    /// SWIFTLET_MAX_DEVICES), skipping those it gives nil for: no array of the device records
    /// themselves (its growth code was ~370 bytes of every image).
    static func devices<Device>(_ make: (swiftlet_device) -> Device?) -> [Device] {
        var table = info.pointee.devices
        let count = min(Int(info.pointee.device_count), Int(SWIFTLET_MAX_DEVICES))
        var found: [Device] = []
        withUnsafeBytes(of: &table) { raw in
            for index in 0..<count {
                let record = raw.loadUnaligned(fromByteOffset: index * MemoryLayout<swiftlet_device>.stride, as: swiftlet_device.self)
                if let device = make(record) { found.append(device) }
            }
        }
        return found
    }

    static var argumentBlock: UnsafeRawBufferPointer {
        let start = UnsafeRawPointer(bitPattern: UInt(info.pointee.argv_block))
        return UnsafeRawBufferPointer(start: start, count: Int(info.pointee.argv_block_len))
    }

    /// Calls `body` with the tender's 32 seed bytes. The buffer is a copy that exists only
    /// during the call: keying a generator from a pointer that escaped it read dead stack
    /// instead, and hvt guests drew the same "random" numbers on every boot.
    static func withRandomSeed<Result>(_ body: (UnsafeRawBufferPointer) -> Result) -> Result {
        withUnsafeBytes(of: info.pointee.random_seed, body)
    }
}
#endif
