// The virtio target's boot, at CPL3: pvh.S enters here with the loader's hvm_start_info. This
// plays the tender's part: it writes the same boot info an hvt or spt tender writes (memory
// from the PVH memory map, arguments from the command line, TSC frequency, a random seed,
// this image's own hypercall dispatcher) and starts the library OS as usual.
#if SWIFTLET_GUEST
import SwiftletABI

/// struct hvm_start_info (Xen's arch-x86/hvm/start_info.h), as far as we read it.
private struct HVMStartInfo {
    static let magic: UInt32 = 0x336E_C578
    var magic: UInt32, version: UInt32, flags: UInt32, moduleCount: UInt32
    var moduleList: UInt64, commandLine: UInt64, rsdp: UInt64
    var memoryMap: UInt64, memoryMapEntries: UInt32, reserved: UInt32
}

/// struct hvm_memmap_table_entry.
private struct HVMMemoryMapEntry {
    var address: UInt64, size: UInt64, type: UInt32, reserved: UInt32
}

enum PVHBoot {
    /// Guest-physical [0, 2 MiB), where loaders put start info, memory map and command line,
    /// is readable at CPL3 through the low window (pvh.S); nil for anything outside it.
    static func lowMemory(_ physical: UInt64, count: UInt64) -> UnsafeRawPointer? {
        let size = SWIFTLET_VIRTIO_LOW_WINDOW_SIZE
        guard physical < size, count <= size - physical else { return nil }
        return UnsafeRawPointer(bitPattern: UInt(SWIFTLET_VIRTIO_LOW_WINDOW + physical))
    }

    /// The loader's command line (NUL-terminated, in the low window), without its NUL.
    nonisolated(unsafe) static var commandLine = UnsafeRawBufferPointer(start: nil, count: 0)

    /// Everything here runs before the library OS has a heap: nothing may allocate.
    static func start(startInfo: UInt64, bootTSC: UInt64) -> Never {
        PVHMachine.bootTSC = bootTSC
        guard let raw = lowMemory(startInfo, count: UInt64(MemoryLayout<HVMStartInfo>.size)) else {
            PVHMachine.refuse("the PVH start info is outside the first 2 MiB of memory")
        }
        let start = raw.loadUnaligned(as: HVMStartInfo.self)
        guard start.magic == HVMStartInfo.magic else { PVHMachine.refuse("no PVH start info (wrong magic): boot this image as a PVH kernel") }
        let entrySize = MemoryLayout<HVMMemoryMapEntry>.stride
        guard start.version >= 1, start.memoryMapEntries > 0,
              let map = lowMemory(start.memoryMap, count: UInt64(start.memoryMapEntries) * UInt64(entrySize))
        else { PVHMachine.refuse("the PVH loader gave no memory map") }
        let usable = PVHMemoryMap.usableBytes(count: Int(start.memoryMapEntries), region: { index in
            let entry = map.loadUnaligned(fromByteOffset: index * entrySize, as: HVMMemoryMapEntry.self)
            return PVHMemoryRegion(start: entry.address, size: entry.size, type: entry.type)
        }, from: SWIFTLET_VIRTIO_PHYS_BASE, limit: SWIFTLET_VIRTIO_PHYS_LIMIT)
        guard let memorySize = usable else { PVHMachine.refuse("the memory map has no RAM at 2 MiB, where this image is loaded") }
        let heapStart = (swiftletImageEnd() + 0xFFF) & ~0xFFF
        let memoryEnd = SWIFTLET_GUEST_BASE + memorySize
        guard memorySize >= SWIFTLET_MEM_MIN, heapStart < memoryEnd, memoryEnd - heapStart >= 1 << 20 else {
            PVHMachine.refuse("too little memory for this image and a 1 MiB heap (the memory map's RAM from 2 MiB is too small): give the VM more memory")
        }
        PVHMachine.memoryEnd = memoryEnd

        if start.commandLine != 0 {
            var length: UInt64 = 0
            while let byte = lowMemory(start.commandLine + length, count: 1)?.load(as: UInt8.self), byte != 0 { length += 1 }
            commandLine = UnsafeRawBufferPointer(start: lowMemory(start.commandLine, count: length), count: Int(length))
        }

        PVHMachine.tscHz = PVHMachine.measureTSCFrequency()

        let info = UnsafeMutablePointer<swiftlet_boot_info>(bitPattern: UInt(SWIFTLET_GUEST_BASE + SWIFTLET_BOOTINFO_OFFSET))!
        info.initialize(to: swiftlet_boot_info())
        info.pointee.magic = SWIFTLET_BOOT_MAGIC
        info.pointee.abi_version = SWIFTLET_ABI_VERSION
        info.pointee.target = SWIFTLET_TARGET_VIRTIO
        info.pointee.mem_size = memorySize
        info.pointee.heap_start = heapStart
        info.pointee.heap_end = memoryEnd
        info.pointee.tsc_hz = PVHMachine.tscHz
        let entry: @convention(c) (UInt32, UInt64) -> Void = swiftletPVHHypercall
        info.pointee.hypercall_entry = UInt64(UInt(bitPattern: unsafeBitCast(entry, to: UnsafeRawPointer.self)))
        let weakSeed = withUnsafeMutableBytes(of: &info.pointee.random_seed) { PVHMachine.randomSeed(into: $0) }
        // As hvt does: FS points where C code built with a stack protector (BearSSL) reads its canary.
        _ = withUnsafeMutableBytes(of: &info.pointee.stack_guard) { PVHMachine.randomSeed(into: $0) }
        let guardAddress = UInt64(UInt(bitPattern: info)) + UInt64(MemoryLayout<swiftlet_boot_info>.offset(of: \.stack_guard)!)
        PVHShim.writeMSR(0xC000_0100, guardAddress - UInt64(SWIFTLET_STACK_GUARD_FS_OFFSET))  // IA32_FS_BASE

        // Arguments: "virtio", then the command line's words but for those meant for the kernel;
        // the block follows boot info in its 64 KiB.
        let blockOffset = (MemoryLayout<swiftlet_boot_info>.size + 15) & ~15
        let block = UnsafeMutableRawBufferPointer(start: UnsafeMutableRawPointer(info) + blockOffset,
                                                  count: Int(SWIFTLET_BOOTINFO_SIZE) - blockOffset - KVMClock.reservedBytes)
        let programName: StaticString = "virtio"
        let nameLength = programName.utf8CodeUnitCount
        block.baseAddress!.copyMemory(from: programName.utf8Start, byteCount: nameLength)
        block[nameLength] = 0
        var argc: UInt32 = 1
        let used = KernelCommandLine.split(commandLine, into: UnsafeMutableRawBufferPointer(rebasing: block[(nameLength + 1)...])) { word in
            if KernelCommandLine.isForTheKernel(word) {
                if word.elementsEqual("swiftlet.timing".utf8) { PVHMachine.reportTiming = true }
                return false
            }
            argc += 1
            return true
        }
        guard let used else { PVHMachine.refuse("the command line's arguments do not fit in the 64 KiB argument block") }
        info.pointee.argv_block = UInt64(UInt(bitPattern: block.baseAddress))
        info.pointee.argc = argc
        info.pointee.argv_block_len = UInt32(nameLength + 1 + used)

        if weakSeed {
            PVHShim.write("swiftlet (virtio): no RDSEED/RDRAND on this CPU: the random seed is TSC jitter, which is weak\n")
        }
        PVHDevices.probeNetwork = VirtioPVHNetwork.probe
        Boot.afterRuntimeStart = attachDevices
        swiftletStart(UnsafePointer(info))
    }

    /// Once the heap exists, just before `main`: the network and block devices the drivers find,
    /// listed in boot info as a tender lists its devices (networks first, then disks).
    static func attachDevices() {
        PVHMachine.mainTSC = swiftlet_rdtsc()
        guard let probe = PVHDevices.probeNetwork else { return }
        let commandLine = KernelCommandLine.words(Array(Self.commandLine)).compactMap(VirtioMMIODescription.init)
        PVHDevices.network = probe(commandLine)
        PVHDevices.blocks = VirtioPVHBlock.probe(commandLine)
        let entries = PVHDevices.network.map { $0.description }
            + PVHDevices.blocks.enumerated().map { VirtioPVHBlock.description(of: $0.element, index: $0.offset) }
        let info = UnsafeMutablePointer<swiftlet_boot_info>(mutating: Boot.info!)
        withUnsafeMutableBytes(of: &info.pointee.devices) { table in
            let slots = table.bindMemory(to: swiftlet_device.self)
            for (handle, device) in entries.prefix(slots.count).enumerated() {
                slots[handle] = device
                slots[handle].handle = UInt32(handle)
            }
        }
        info.pointee.device_count = UInt32(min(entries.count, Int(SWIFTLET_MAX_DEVICES)))
    }
}

@_cdecl("swiftlet_pvh_boot")
func swiftletPVHBoot(_ startInfo: UInt64, _ bootTSC: UInt64) -> Never {
    PVHBoot.start(startInfo: startInfo, bootTSC: bootTSC)
}
#endif
