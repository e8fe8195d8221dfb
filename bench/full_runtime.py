#!/usr/bin/env python3
"""The full-Swift-runtime prototype (`swiftlet build --full-swift`) beside the Embedded build of
the same hello: stripped image size, bytes loaded into the guest, heap used, the smallest
--mem that boots, and boot-to-exit wall time on hvt and spt (median of N runs, interleaved).

    python3 bench/full_runtime.py [--runs 31] [--products .build/release]
"""
import argparse, os, struct, subprocess, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import median_wall_ms, products_folder, sh  # noqa: E402

EMBEDDED_HELLO = 'print("hello")\nprint("heap bytes:", Memory.statistics.peakBytesInUse)\n'
FULL_HELLO = ('@_silgen_name("fullrt_heap_used") func heapUsed() -> UInt64\n'
              'print("hello")\nprint("heap bytes:", heapUsed())\n')


def loaded_bytes(image):
    """Sum of the PT_LOAD segments' memory sizes: what the tender places in guest memory."""
    with open(image, "rb") as f:
        data = f.read()
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    total = 0
    for i in range(phnum):
        kind, = struct.unpack_from("<I", data, phoff + i * phentsize)
        if kind == 1:
            total += struct.unpack_from("<Q", data, phoff + i * phentsize + 0x28)[0]
    return total


def run_output(argv):
    result = subprocess.run(argv, capture_output=True, text=True)
    return result.returncode, result.stdout


def smallest_memory(tender, image):
    for mib in range(4, 65):
        status, output = run_output([tender, "--mem", f"{mib}M", image])
        if status == 0 and "hello" in output:
            return mib
    return None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=31)
    parser.add_argument("--products", default=".build/release")
    args = parser.parse_args()
    products = products_folder(args.products)
    cli = os.path.join(products, "swiftlet-cli")

    work = tempfile.mkdtemp(prefix="swiftlet-full-runtime-")
    images = {}
    for name, source, flags in [("embedded", EMBEDDED_HELLO, []), ("full runtime", FULL_HELLO, ["--full-swift"])]:
        folder = os.path.join(work, name.replace(" ", "-"), "hello")
        os.makedirs(folder)
        with open(os.path.join(folder, "main.swift"), "w") as f:
            f.write(source)
        image = os.path.join(work, name.replace(" ", "-") + ".swiftlet")
        sh(cli, "build", folder, "--strip", "-o", image, *flags, stderr=subprocess.DEVNULL)
        images[name] = image

    tenders = {"spt": os.path.join(products, "swiftlet-spt")}
    if os.access("/dev/kvm", os.R_OK | os.W_OK):
        tenders["hvt"] = os.path.join(products, "swiftlet-hvt")
    else:
        print("hvt: SKIPPED (no /dev/kvm)")

    print("hello, Embedded Swift beside the full static Swift runtime (stripped images)")
    for name, image in images.items():
        _, output = run_output([tenders["spt"], image])
        heap = next((line.split(":")[1].strip() for line in output.splitlines() if line.startswith("heap bytes")), "?")
        print(f"  {name:<13} file {os.path.getsize(image) / 1024:8.1f} KB   loaded {loaded_bytes(image) / 1024:8.1f} KB"
              f"   heap {heap:>6} B   smallest --mem {smallest_memory(tenders['spt'], image)} MiB")
    e, f = images["embedded"], images["full runtime"]
    print(f"  ratio (full / embedded): file {os.path.getsize(f) / os.path.getsize(e):.1f}x,"
          f" loaded {loaded_bytes(f) / loaded_bytes(e):.1f}x")

    commands = {}
    for tender, path in tenders.items():
        for name, image in images.items():
            commands[f"{tender} {name}"] = [path, image]
    medians = median_wall_ms(commands, args.runs)
    print(f"boot-to-exit, median of {args.runs} runs")
    for tender in tenders:
        embedded, full = medians[f"{tender} embedded"], medians[f"{tender} full runtime"]
        print(f"  {tender}: embedded {embedded:6.2f} ms   full runtime {full:6.2f} ms   ratio {full / embedded:4.2f}x")


if __name__ == "__main__":
    main()
