// Writes the boot info page and the argument block the guest finds at entry.
import CTender
import SwiftletABI

public struct BootLayout: Equatable {
    public var bootInfo: GuestAddress
    public var heapStart: GuestAddress
    public var heapEnd: GuestAddress
    public var stackTop: GuestAddress

    /// Heap the guest reaches only once it holds more than `smallHeap` (a store's data, big
    /// buffers): backed by huge pages (`GuestMemory.adviseHugePages`). The heap grows upward
    /// from its start, so a small guest never touches it and keeps 4 KiB granularity, and
    /// the last 2 MiB, where the allocator writes its end marker at boot, are left out.
    public var bulkHeap: Range<UInt64> {
        let start = heapStart.raw + BootLayout.smallHeap
        let end = heapEnd.raw >= UInt64(GuestMemory.hugePageSize) ? heapEnd.raw - UInt64(GuestMemory.hugePageSize) : 0
        return start < end ? start ..< end : heapEnd.raw ..< heapEnd.raw
    }
    /// The heap below `bulkHeap`.
    public static let smallHeap: UInt64 = 2 << 20

    public init(memorySize: UInt64, imageEnd: UInt64) {
        let base = SWIFTLET_GUEST_BASE
        bootInfo = GuestAddress(raw: base + SWIFTLET_BOOTINFO_OFFSET)
        heapStart = GuestAddress(raw: (imageEnd + 4095) & ~4095)
        heapEnd = GuestAddress(raw: base + memorySize)
        stackTop = GuestAddress(raw: base + SWIFTLET_STACK_TOP)
    }
}

public struct BootInfoWriter {
    public var target: UInt32
    public var tscHz: UInt64 = 0
    public var hypercallEntry: UInt64 = 0
    public var networks: [NetworkDevice] = []
    /// Listed after the networks: handle networks.count + index.
    public var blocks: [BlockDevice] = []

    public init(target: UInt32) { self.target = target }

    /// Fills boot info for `arguments` (argv[0] first). Throws when the arguments do not fit.
    public func write(into memory: GuestMemory, layout: BootLayout, arguments: [String]) throws(TenderError) {
        var info = swiftlet_boot_info()
        info.magic = SWIFTLET_BOOT_MAGIC
        info.abi_version = SWIFTLET_ABI_VERSION
        info.target = target
        info.mem_size = UInt64(memory.size)
        info.heap_start = layout.heapStart.raw
        info.heap_end = layout.heapEnd.raw
        info.tsc_hz = tscHz
        info.hypercall_entry = hypercallEntry
        guard networks.count + blocks.count <= Int(SWIFTLET_MAX_DEVICES) else {
            throw .usage("at most \(SWIFTLET_MAX_DEVICES) devices are supported")
        }
        var devices: [swiftlet_device] = networks.map { network in
            var device = Self.device(kind: SWIFTLET_DEVICE_NET, name: network.name)
            device.mac = network.mac
            device.mtu = network.mtu
            device.net_features = network.features
            return device
        }
        devices += blocks.map { disk in
            var device = Self.device(kind: SWIFTLET_DEVICE_BLOCK, name: disk.name)
            device.block_size = UInt32(BlockDevice.blockSize)
            device.capacity = disk.capacity
            return device
        }
        withUnsafeMutableBytes(of: &info.devices) { table in
            for (handle, var device) in devices.enumerated() {
                device.handle = UInt32(handle)
                table.storeBytes(of: device, toByteOffset: handle * MemoryLayout<swiftlet_device>.stride, as: swiftlet_device.self)
            }
        }
        info.device_count = UInt32(devices.count)

        let block: [UInt8] = arguments.flatMap { Array($0.utf8) + [0] }
        let blockAddress = layout.bootInfo.raw + (UInt64(MemoryLayout<swiftlet_boot_info>.size + 63) & ~63)
        let room = layout.bootInfo.raw + SWIFTLET_BOOTINFO_SIZE - blockAddress
        guard UInt64(block.count) <= room else {
            throw .usage("guest arguments take \(block.count) bytes; at most \(room) fit")
        }
        info.argv_block = blockAddress
        info.argc = UInt32(arguments.count)
        info.argv_block_len = UInt32(block.count)

        guard withUnsafeMutableBytes(of: &info.random_seed, { ctender_getrandom($0.baseAddress, UInt($0.count)) }) == 32 else {
            throw .system("cannot read random seed for the guest", errno: SystemError.last)
        }
        guard withUnsafeMutableBytes(of: &info.stack_guard, { ctender_getrandom($0.baseAddress, UInt($0.count)) }) == 8 else {
            throw .system("cannot read the stack guard for the guest", errno: SystemError.last)
        }
        do {
            try memory.store(info, at: layout.bootInfo)
            try memory.writableBytes(at: GuestAddress(raw: blockAddress), count: UInt64(block.count)).copyBytes(from: block)
        } catch {
            throw .guest("guest memory too small for boot info: \(error)")
        }
    }

    private static func device(kind: swiftlet_device_kind, name: String) -> swiftlet_device {
        var device = swiftlet_device()
        device.kind = UInt32(kind.rawValue)
        withUnsafeMutableBytes(of: &device.name) { bytes in
            for (index, byte) in name.utf8.prefix(Int(SWIFTLET_DEVICE_NAME_MAX) - 1).enumerated() {
                bytes[index] = byte
            }
        }
        return device
    }
}
