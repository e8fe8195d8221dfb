#!/usr/bin/env python3
"""Writes the seed corpus for FrameFuzzer.swift into Tests/Fuzz/corpus/.

Each seed is a list of records in the harness's input format:
    control:u8  length:u16be  bytes[length]
Seeds use raw framing (bytes = a whole Ethernet frame with correct checksums). See the
header of FrameFuzzer.swift for the control bits.
"""
import struct

from seed_files import write_seeds

STACK_MAC = bytes([0x02, 0, 0, 0, 0, 0x10])
PEER_MAC = bytes([0x02, 0, 0, 0, 0, 0x20])
BROADCAST = b"\xff" * 6
STACK_IP = bytes([10, 0, 0, 2])
PEER_IP = bytes([10, 0, 0, 1])

# control bits
FIX = 0x04        # recompute checksums (keeps mutated seeds valid)
REL_ACK = 0x08    # ack field is relative to the stack's SND.NXT
POLL_1MS = 0x20   # poll after advancing the clock 1 ms
POLL_1S = 0x50    # poll after advancing the clock 1 s
POLL_120S = 0x70  # poll after advancing the clock 120 s
APP = 0x80        # application turn after the poll


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ethernet(dst: bytes, ethertype: int, payload: bytes) -> bytes:
    return dst + PEER_MAC + struct.pack("!H", ethertype) + payload


def arp_request(target=STACK_IP) -> bytes:
    body = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + PEER_MAC + PEER_IP + b"\0" * 6 + target
    return ethernet(BROADCAST, 0x0806, body)


def ipv4(proto: int, payload: bytes, src=PEER_IP, dst=STACK_IP) -> bytes:
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, 0x4000, 64, proto, 0, src, dst)
    header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
    return ethernet(STACK_MAC, 0x0800, header + payload)


def pseudo(proto: int, length: int, src=PEER_IP, dst=STACK_IP) -> bytes:
    return src + dst + struct.pack("!BBH", 0, proto, length)


def icmp_echo(identifier=0x1234, sequence=1, data=bytes(range(32))) -> bytes:
    msg = struct.pack("!BBHHH", 8, 0, 0, identifier, sequence) + data
    msg = msg[:2] + struct.pack("!H", checksum(msg)) + msg[4:]
    return ipv4(1, msg)


def udp(sport: int, dport: int, payload: bytes) -> bytes:
    length = 8 + len(payload)
    seg = struct.pack("!HHHH", sport, dport, length, 0) + payload
    c = checksum(pseudo(17, length) + seg) or 0xFFFF
    return ipv4(17, seg[:6] + struct.pack("!H", c) + seg[8:])


def tcp(sport: int, dport: int, seq: int, ack: int, flags: int, payload=b"", options=b"", window=65535) -> bytes:
    offset = (20 + len(options)) // 4
    seg = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, offset << 4, flags, window, 0, 0) + options + payload
    c = checksum(pseudo(6, len(seg)) + seg)
    return ipv4(6, seg[:16] + struct.pack("!H", c) + seg[18:])


SYN, FIN, RST, PSH, ACK = 0x02, 0x01, 0x04, 0x08, 0x10
MSS_WS_SACK = bytes([2, 4, 0x05, 0xB4, 3, 3, 7, 4, 2, 1, 1])  # MSS 1460, WS 7, SACK permitted, NOP
MSS_WS_SACK += b"\x01" * ((4 - len(MSS_WS_SACK) % 4) % 4)


def record(control: int, frame: bytes) -> bytes:
    return bytes([control]) + struct.pack("!H", len(frame)) + frame


SEEDS = {
    "arp-request": [record(FIX | POLL_1MS, arp_request())],
    "icmp-echo-request": [record(FIX | POLL_1MS, icmp_echo())],
    "udp-port7": [record(FIX | POLL_1MS | APP, udp(40000, 7, b"hello"))],
    "tcp-syn-port80": [record(FIX | POLL_1MS, tcp(40000, 80, 1000, 0, SYN, options=MSS_WS_SACK))],
    # A whole conversation: ARP, handshake (ack relative to the stack's ISS), data echoed by
    # the application turn, the peer's FIN, then a long pause for TIME-WAIT and retransmits.
    "tcp-conversation": [
        record(FIX | POLL_1MS, arp_request()),
        record(FIX | POLL_1MS, tcp(40001, 80, 5000, 0, SYN, options=MSS_WS_SACK)),
        record(REL_ACK | POLL_1MS | APP, tcp(40001, 80, 5001, 0, ACK)),
        record(REL_ACK | POLL_1MS | APP, tcp(40001, 80, 5001, 0, ACK | PSH, b"GET / HTTP/1.0\r\n\r\n")),
        record(REL_ACK | POLL_1S | APP, tcp(40001, 80, 5019, 0, ACK | FIN)),
        record(FIX | POLL_120S | APP, arp_request()),
    ],
    # A UDP datagram starting with "C" makes the application open a TCP connection to its sender.
    "udp-connect": [
        record(FIX | POLL_1MS, arp_request()),
        record(FIX | POLL_1MS | APP, udp(40002, 7, b"C")),
        record(FIX | POLL_1S | APP, arp_request()),
    ],
}


def main() -> None:
    write_seeds("corpus", {name: b"".join(records) for name, records in SEEDS.items()})


if __name__ == "__main__":
    main()
