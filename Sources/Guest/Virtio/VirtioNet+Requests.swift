// The ABI's NET_WRITE and NET_READ requests served by a virtio-net device: how the virtio
// target's in-image binding answers the library OS, which is written against the hypercall
// ABI and never sees virtio. Frame tables and buffers are the guest's own memory (same
// address space, same privilege), so they are bounded, not distrusted.
import SwiftletABI

extension VirtioNet {
    /// How long NET_WRITE waits for the device to finish with a transmit buffer when all are
    /// in flight, in checks of the used ring, before it drops the rest of the batch.
    static let transmitWaitChecks = 200_000

    /// NET_WRITE: sends the frames the request lists. `completed` counts every frame taken,
    /// sent or dropped (a device that stays full drops, as a full tap does); EINVAL for a
    /// frame outside 14...MTU + 14 bytes or a batch over SWIFTLET_NET_BATCH_MAX.
    public func serveWrite(_ request: inout swiftlet_hc_net) {
        request.completed = 0
        guard let frames = frameTable(request) else {
            request.result = Int32(SWIFTLET_R_EINVAL.rawValue)
            return
        }
        defer { flush() }
        for frame in frames {
            guard frame.length >= 14, Int(frame.length) <= mtu + 14,
                  let data = UnsafeRawPointer(bitPattern: UInt(frame.data)) else {
                request.result = Int32(SWIFTLET_R_EINVAL.rawValue)
                return
            }
            do {
                if try !send(UnsafeRawBufferPointer(start: data, count: Int(frame.length))) {
                    try waitForTransmitBuffer()
                    if try !send(UnsafeRawBufferPointer(start: data, count: Int(frame.length))) { framesDropped += 1 }
                }
            } catch {
                request.result = Int32(SWIFTLET_R_EIO.rawValue)
                return
            }
            request.completed += 1
        }
        request.result = Int32(SWIFTLET_R_OK.rawValue)
    }

    /// NET_READ: fills the request's buffers with received frames, one each, in order.
    /// A frame longer than the buffer offered for it is dropped. AGAIN when none arrived.
    public func serveRead(_ request: inout swiftlet_hc_net) {
        request.completed = 0
        guard let frames = frameTable(request) else {
            request.result = Int32(SWIFTLET_R_EINVAL.rawValue)
            return
        }
        var filled = 0
        do {
            while filled < frames.count {
                let taken = try receive(limit: frames.count - filled) { bytes in
                    let slot = frames[filled]
                    guard bytes.count <= Int(slot.capacity), let data = UnsafeMutableRawPointer(bitPattern: UInt(slot.data)) else {
                        framesDropped += 1
                        return
                    }
                    data.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
                    frames[filled].length = UInt32(bytes.count)
                    filled += 1
                }
                if taken == 0 { break }
            }
        } catch {
            request.completed = UInt32(filled)
            request.result = Int32(SWIFTLET_R_EIO.rawValue)
            return
        }
        request.completed = UInt32(filled)
        request.result = Int32((filled > 0 ? SWIFTLET_R_OK : SWIFTLET_R_AGAIN).rawValue)
    }

    private func frameTable(_ request: swiftlet_hc_net) -> UnsafeMutableBufferPointer<swiftlet_frame>? {
        guard request.count <= SWIFTLET_NET_BATCH_MAX else { return nil }
        guard request.count > 0 else { return UnsafeMutableBufferPointer(start: nil, count: 0) }
        guard let table = UnsafeMutablePointer<swiftlet_frame>(bitPattern: UInt(request.frames)) else { return nil }
        return UnsafeMutableBufferPointer(start: table, count: Int(request.count))
    }

    /// Makes what is queued visible and watches the used ring until a transmit buffer comes
    /// back (bounded: a device that stopped leaves the caller to drop).
    private func waitForTransmitBuffer() throws(VirtioError) {
        flush()
        for _ in 0..<Self.transmitWaitChecks {
            if transmitQueue.hasUsed { break }
        }
        try reclaimTransmitBuffers()
    }
}
