// libFuzzer target over the tender's GDB remote protocol layer (Sources/Tender/Core/GDB/):
// the input is what a client sends, byte for byte. It goes through GDBPacketDecoder; every
// packet through GDBCommand and GDBSession against a simulated guest (4 KiB at 0x100000 and a
// register file), answering exactly as the tender would. It traps when a reply breaks the
// protocol (a frame whose checksum or escaping does not decode back to the payload, a reply
// past the packet size), when a breakpoint is left in memory after removeAllBreakpoints, or
// when memory outside the simulated guest is ever touched (the target refuses and counts).
//
//   Tests/Fuzz/run.sh with FUZZER=gdb     (builds .build-fuzz/fuzz/gdb-fuzzer)

final class SimulatedGuest: GDBTarget {
    static let base: UInt64 = 0x10_0000
    var memory = [UInt8](repeating: 0x90, count: 4 << 10)
    var registers = GDBRegisterFile()

    func readRegisters() -> GDBRegisterFile? { registers }
    func writeRegisters(_ registers: GDBRegisterFile) -> Bool {
        precondition(registers.bytes.count == X86RegisterLayout.size, "register file of the wrong size reached the target")
        self.registers = registers
        return true
    }
    func range(_ address: UInt64, _ count: Int) -> Range<Int>? {
        guard count >= 0, address >= Self.base, address - Self.base <= UInt64(memory.count),
              UInt64(count) <= UInt64(memory.count) - (address - Self.base) else { return nil }
        let start = Int(address - Self.base)
        return start ..< start + count
    }
    func readMemory(at address: UInt64, count: Int) -> [UInt8]? {
        precondition(count <= GDBCommand.maximumMemoryRead, "a memory read longer than one reply carries")
        return range(address, count).map { Array(memory[$0]) }
    }
    func setDebugRegisters(_ registers: X86DebugRegisters) -> Bool { true }
    func writeMemory(at address: UInt64, bytes: [UInt8]) -> Bool {
        guard let range = range(address, bytes.count) else { return false }
        memory.replaceSubrange(range, with: bytes)
        return true
    }
}

/// Decodes one framed reply back: it must be `$payload#cc` with a matching checksum.
func checkFrame(_ frame: [UInt8], payload: [UInt8]) {
    var decoder = GDBPacketDecoder()
    var unescaped: [UInt8] = []
    var escaping = false
    let inputs = decoder.feed(frame)
    precondition(inputs.count == 1, "a reply frame did not decode as one packet")
    guard case .packet(let raw) = inputs[0] else { preconditionFailure("a reply frame's checksum is wrong") }
    for byte in raw {
        if escaping { unescaped.append(byte ^ 0x20); escaping = false }
        else if byte == UInt8(ascii: "}") { escaping = true }
        else { unescaped.append(byte) }
    }
    precondition(unescaped == payload, "escaping changed a reply")
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let guest = SimulatedGuest()
    let pristine = guest.memory
    var decoder = GDBPacketDecoder()
    var session = GDBSession()
    for input in decoder.feed(UnsafeBufferPointer(start: data, count: size)) {
        guard case .packet(let payload) = input else { continue }
        precondition(payload.count <= GDBPacketDecoder.maximumPayload, "a payload past the packet size was delivered")
        switch session.handle(payload: payload, target: guest) {
        case .reply(let reply):
            precondition(reply.count <= GDBPacketDecoder.maximumPayload, "a reply past the packet size")
            if reply.count <= 512 { checkFrame(GDBPacketEncoder.frame(reply), payload: reply) }
        case .resume(let step):
            // A simulated stop, as the tender would report one.
            let stop: GDBStop = step ? .trap : .breakpoint
            let reply = session.stopReply(for: stop)
            checkFrame(GDBPacketEncoder.frame(reply), payload: reply)
        case .detach, .kill:
            break
        }
    }
    // Whatever was inserted and written, removing the breakpoints leaves no int3 the client
    // did not write itself: every breakpoint byte is back to the guest's value.
    let inserted = session.breakpoints
    session.removeAllBreakpoints(target: guest)
    for (address, original) in inserted {
        let index = Int(address - SimulatedGuest.base)
        precondition(guest.memory[index] == original, "a breakpoint byte was not restored")
    }
    _ = pristine
    return 0
}
