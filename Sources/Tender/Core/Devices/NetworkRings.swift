// Exitless network I/O for hvt: one tender I/O thread serves every device whose rings the guest
// attached (NetworkRing), while the vCPU thread runs the guest. Neither side waits on the other
// unless it sleeps:
//  - the I/O thread serves the rings until a pass finds nothing to do, then sleeps in ppoll on
//    the backends and on `kickFD` (the guest's NET_KICK slot, an ioeventfd on hvt: the kernel
//    signals it without an exit), having set tender_waits so that the guest kicks it. It does
//    not spin: on a host whose CPUs the clients share, a spinning I/O thread took their CPU
//    (bench/WEB.md, "Exitless rings"), while a kick costs the guest no exit;
//  - the guest spins for `spinMicroseconds` (its advice at NET_ATTACH_RINGS) before it sleeps;
//  - a guest with nothing to do sleeps in POLL on the vCPU thread, which waits on `wakeFD`; the
//    I/O thread signals it after putting frames in an RX ring while the vCPU thread waits.
// Thread budget: one thread per guest whatever its number of devices; busy only while frames
// move, asleep in ppoll otherwise (no CPU when the guest is idle).
// A RingFault stops the I/O thread's work on every ring; the vCPU thread ends the guest with it
// at the guest's next exit (HypercallHandler).
import CTender
import SwiftletABI

public final class NetworkRings {
    public let kickFD: Int32
    public let wakeFD: Int32
    /// How long the guest is advised to look at its RX ring before it sleeps in POLL
    /// (swiftlet_hc_net_attach_rings.spin_us).
    public let spinMicroseconds: UInt32
    private let devices: [NetworkDevice]
    /// rings[handle], published to the I/O thread by `attached` (written before it, never after).
    private let rings: UnsafeMutablePointer<NetworkRing?>
    /// Shared words: [0] bit set of attached handles, [1] the vCPU thread waits in POLL,
    /// [2] a RingFault was recorded.
    private let shared: UnsafeMutablePointer<UInt32>
    private var recordedFault: RingFault?
    private var sleeps = 0

    public init(devices: [NetworkDevice], spinMicroseconds: UInt32) throws(TenderError) {
        let kick = ctender_eventfd(), wake = ctender_eventfd()
        guard kick >= 0, wake >= 0 else { throw .system("cannot create the network rings' eventfds", errno: -min(kick, wake)) }
        kickFD = kick
        wakeFD = wake
        self.spinMicroseconds = spinMicroseconds
        self.devices = devices
        rings = .allocate(capacity: max(devices.count, 1))
        rings.initialize(repeating: nil, count: max(devices.count, 1))
        shared = .allocate(capacity: 3)
        shared.initialize(repeating: 0, count: 3)
        for device in devices { device.offersRings = true }
    }

    /// Starts the I/O thread (before confinement: creating it maps its stack).
    public func start() throws(TenderError) {
        let result = ctender_start_thread({ context in
            Unmanaged<NetworkRings>.fromOpaque(context!).takeUnretainedValue().serveForever()
        }, Unmanaged.passRetained(self).toOpaque())
        guard result == 0 else { throw .system("cannot start the network I/O thread", errno: result) }
    }

    // MARK: - The vCPU thread

    /// NET_ATTACH_RINGS (the caller stores `request` back: its spin_us is the advice).
    func attach(_ request: inout swiftlet_hc_net_attach_rings, memory: GuestMemory) -> swiftlet_result {
        request.spin_us = spinMicroseconds
        let handle = Int(request.handle)
        guard handle < devices.count else { return SWIFTLET_R_ENODEV }
        guard ring(handle) == nil, let ring = try? NetworkRing(handle: handle, device: devices[handle], request: request, memory: memory)
        else { return SWIFTLET_R_EINVAL }
        rings[handle] = ring
        swiftlet_ring_store(shared, swiftlet_ring_load(shared) | 1 << UInt32(handle))
        kick()
        return SWIFTLET_R_OK
    }

    /// The device's rings, once attached.
    func ring(_ handle: Int) -> NetworkRing? {
        guard handle < devices.count, swiftlet_ring_load(shared) & 1 << UInt32(handle) != 0 else { return nil }
        return rings[handle]
    }

    /// Handles whose RX ring holds frames the guest has not taken.
    var readySet: UInt64 {
        var ready: UInt64 = 0
        for handle in devices.indices where ring(handle)?.hasReceivedFrames == true { ready |= 1 << UInt64(handle) }
        return ready
    }

    /// Before POLL sleeps: from now on the I/O thread signals `wakeFD` when it fills an RX ring.
    /// Returns the handles already ready (then do not sleep).
    func vcpuWillSleep() -> UInt64 {
        swiftlet_ring_store(shared + 1, 1)
        swiftlet_ring_fence()
        return readySet
    }

    /// After POLL's sleep: stops the signals and drains them.
    func vcpuAwake() {
        swiftlet_ring_store(shared + 1, 0)
        drain(wakeFD)
    }

    /// The fault that stopped the rings, if any.
    public var fault: RingFault? { swiftlet_ring_load(shared + 2) != 0 ? recordedFault : nil }

    /// NET_KICK reached the tender (no ioeventfd registered): wakes the I/O thread.
    func kick() { signal(kickFD) }

    // MARK: - The I/O thread

    private func serveForever() {
        while fault == nil {
            if !servePass() && fault == nil { sleep() }
        }
        // Stopped: the vCPU thread ends the guest at its next exit; nothing more is served.
        var never = pollfd(fd: -1, events: 0, revents: 0)
        while true { _ = ctender_ppoll(&never, 1, -1) }
    }

    /// Serves every attached ring once and wakes a sleeping POLL if frames arrived. Returns
    /// whether anything moved; a fault is recorded (and wakes the vCPU thread) instead.
    func servePass() -> Bool {
        var moved = false
        for handle in devices.indices {
            guard let ring = ring(handle) else { continue }
            do { moved = try ring.serve() || moved } catch {
                record(error)
                return false
            }
        }
        if moved {
            swiftlet_ring_fence()
            if swiftlet_ring_load(shared + 1) != 0 { signal(wakeFD) }
        }
        return moved
    }

    /// Asks the guest for kicks, looks at the rings once more (a guest that published before it
    /// saw tender_waits did not kick), then sleeps until a kick or a backend's input.
    private func sleep() {
        var fds = [pollfd(fd: kickFD, events: Int16(POLLIN), revents: 0)]
        var busy = false
        for handle in devices.indices {
            guard let ring = ring(handle) else { continue }
            let room: UInt32
            do { room = try ring.rxRoom() } catch {
                record(error)
                return
            }
            ring.setWaits(SWIFTLET_NET_RING_WAKE_TX | (room == 0 ? SWIFTLET_NET_RING_WAKE_RX : 0))
            if room > 0 && !ring.device.backend.isClosed {
                busy = busy || ring.device.backend.hasBufferedFrame
                fds.append(pollfd(fd: ring.device.backend.fd, events: Int16(POLLIN), revents: 0))
            }
        }
        swiftlet_ring_fence()
        for handle in devices.indices where ring(handle)?.hasQueuedFrames == true { busy = true }
        if !busy {
            sleeps += 1
            _ = fds.withUnsafeMutableBufferPointer { ctender_ppoll($0.baseAddress, UInt($0.count), -1) }
        }
        for handle in devices.indices { ring(handle)?.setWaits(0) }
        drain(kickFD)
    }

    /// Records the fault and wakes the vCPU thread so that it ends the guest.
    private func record(_ fault: RingFault) {
        recordedFault = fault
        swiftlet_ring_store(shared + 2, 1)
        signal(wakeFD)
    }

    private func signal(_ fd: Int32) {
        var one: UInt64 = 1
        _ = write(fd, &one, 8)
    }

    private func drain(_ fd: Int32) {
        var count: UInt64 = 0
        _ = read(fd, &count, 8)
    }
}
