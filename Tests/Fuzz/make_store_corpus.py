#!/usr/bin/env python3
"""Writes the store fuzzer's seeds (Tests/Fuzz/store-corpus/) in StoreFuzzer.swift's format:
base:u8, then operations (0 write offset:u16le length:u8 bytes, 1 flip offset:u16le bit:u8,
2 reseal offset:u16le, 3 zero sector:u8 count:u8). The bases are real stores the harness writes
with KeyValueStore at start-up (0 fresh, 1 busy, 2 torn, 3 version 1) on 16 KiB disks:
superblocks in sectors 0 and 1, half 0 at 1024, half 1 at 8704 (7680 bytes each)."""
import struct

from seed_files import write_seeds

FRESH, BUSY, TORN, V1 = range(4)
HALVES = (1024, 8704)


def write(offset, data):
    return bytes([0]) + struct.pack("<H", offset) + bytes([len(data)]) + data


def flip(offset, bit=0):
    return bytes([1]) + struct.pack("<H", offset) + bytes([bit])


def reseal(offset):
    return bytes([2]) + struct.pack("<H", offset)


def zero(sector, count=1):
    return bytes([3, sector, count])


SEEDS = {}
for base, name in ((FRESH, "fresh"), (BUSY, "busy"), (TORN, "torn"), (V1, "v1")):
    SEEDS[f"{name}-as-written"] = bytes([base])
    SEEDS[f"{name}-superblock-bit"] = bytes([base]) + flip(8, 3) + flip(512 + 8, 3)
    SEEDS[f"{name}-one-superblock-lost"] = bytes([base]) + zero(1)
    SEEDS[f"{name}-half0-checkpoint-bit"] = bytes([base]) + flip(HALVES[0] + 40, 1)
    SEEDS[f"{name}-half1-checkpoint-bit"] = bytes([base]) + flip(HALVES[1] + 40, 1)
    SEEDS[f"{name}-log-sector-lost"] = bytes([base]) + zero(HALVES[0] // 512 + 2) + zero(HALVES[1] // 512 + 2)
# Forgeries that pass the checksum, so the parsers behind it see malformed fields.
SEEDS["busy-superblock-version-3-resealed"] = bytes([BUSY]) + write(4, b"\x03") + reseal(0) + write(512 + 4, b"\x03") + reseal(512)
SEEDS["busy-superblock-half-2-resealed"] = bytes([BUSY]) + write(16, b"\x02") + reseal(0)
SEEDS["busy-superblock-capacity-resealed"] = bytes([BUSY]) + write(24, b"\xff\xff\xff\x7f") + reseal(0) + write(512 + 24, b"\x00\x10") + reseal(512)
SEEDS["busy-checkpoint-count-resealed"] = bytes([BUSY]) + write(HALVES[0] + 32, b"\x07\x00\x00\x00") + reseal(HALVES[0]) \
    + write(HALVES[1] + 32, b"\xff\x00\x00\x00") + reseal(HALVES[1])
SEEDS["busy-checkpoint-entry-length-resealed"] = bytes([BUSY]) + write(HALVES[0] + 38, b"\xff\x7f") + reseal(HALVES[0]) \
    + write(HALVES[1] + 38, b"\x00\x00") + reseal(HALVES[1])
SEEDS["fresh-both-superblocks-lost"] = bytes([FRESH]) + zero(0, 2)
SEEDS["v1-put-value-resealed"] = bytes([V1]) + write(HALVES[0] + 33, b"X") + reseal(HALVES[0])
SEEDS["garbage-everywhere"] = bytes([BUSY]) + b"".join(write(offset, bytes((offset * 7 + i) & 0xFF for i in range(64)))
                                                       for offset in range(0, 16384, 1100))


def main():
    write_seeds("store-corpus", SEEDS)


if __name__ == "__main__":
    main()
