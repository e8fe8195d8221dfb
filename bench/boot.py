#!/usr/bin/env python3
"""Boot-to-exit wall time of examples/hello on hvt and spt, beside /bin/true run the same
way (spawn, wait, exit; median of N runs, interleaved so machine noise hits all alike),
plus the stripped image size and the tender binary sizes.

    python3 bench/boot.py [--runs 51] [--products .build/release]
"""
import argparse, os, shutil, subprocess, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import median_wall_ms, products_folder, sh  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=51)
    parser.add_argument("--products", default=".build/release")
    args = parser.parse_args()

    products = products_folder(args.products)
    work = tempfile.mkdtemp(prefix="swiftlet-bench-")
    image = os.path.join(work, "hello.swiftlet")
    stripped = os.path.join(work, "hello-stripped.swiftlet")
    cli = os.path.join(products, "swiftlet")
    sh(cli, "build", "examples/hello", "-o", image, stderr=subprocess.DEVNULL)
    sh(cli, "build", "examples/hello", "--strip", "-o", stripped, stderr=subprocess.DEVNULL)

    commands = {"/bin/true": ["/bin/true"]}
    if os.access("/dev/kvm", os.R_OK | os.W_OK):
        commands["hvt hello"] = [os.path.join(products, "swiftlet-hvt"), image]
    else:
        print("hvt: SKIPPED (no /dev/kvm)")
    commands["spt hello"] = [os.path.join(products, "swiftlet-spt"), image]
    medians = median_wall_ms(commands, args.runs)

    baseline = medians["/bin/true"]
    print(f"boot-to-exit, median of {args.runs} runs (targets: hvt <= 3 ms, spt <= 1.5 ms)")
    for name, value in medians.items():
        print(f"  {name:<12} {value:7.2f} ms   {value / baseline:5.1f}x /bin/true")

    print("sizes")
    print(f"  hello image, stripped   {os.path.getsize(stripped) / 1024:6.1f} KB (target <= 64 KB)")
    print(f"  hello image, symbols    {os.path.getsize(image) / 1024:6.1f} KB")
    for tender in ("swiftlet-hvt", "swiftlet-spt"):
        copy = os.path.join(work, tender)
        shutil.copy(os.path.join(products, tender), copy)
        subprocess.run(["strip", copy], check=True)
        print(f"  {tender}, stripped {os.path.getsize(copy) / 1024:8.1f} KB (issue 16's target <= 256 KB; Solo5's 40-48 KB)")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
