// The boot info page the tender wrote before entry (layout in swiftlet_abi.h).
#if SWIFTLET_GUEST
import SwiftletABI

enum Boot {
    nonisolated(unsafe) static var info: UnsafePointer<swiftlet_boot_info>! = nil

    static var isValid: Bool {
        info.pointee.magic == SWIFTLET_BOOT_MAGIC && info.pointee.abi_version == SWIFTLET_ABI_VERSION
    }

    static var argumentBlock: UnsafeRawBufferPointer {
        let start = UnsafeRawPointer(bitPattern: UInt(info.pointee.argv_block))
        return UnsafeRawBufferPointer(start: start, count: Int(info.pointee.argv_block_len))
    }

    static var randomSeed: UnsafeRawBufferPointer {
        withUnsafeBytes(of: info.pointee.random_seed) { seed in
            // Boot info lives for the whole run, so its address stays valid.
            UnsafeRawBufferPointer(start: seed.baseAddress, count: seed.count)
        }
    }
}
#endif
