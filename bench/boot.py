#!/usr/bin/env python3
"""Boot-to-exit wall time of examples/hello on hvt and spt, beside /bin/true run the same
way (spawn, wait, exit; median of N runs, interleaved so machine noise hits all alike),
plus the stripped image size and the tender binary sizes.

    python3 bench/boot.py [--runs 51] [--products .build/release]
"""
import argparse, os, shutil, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def sh(*command, **kwargs):
    return subprocess.run(command, check=True, cwd=ROOT, **kwargs)


def time_runs(commands, runs):
    samples = {name: [] for name in commands}
    for _ in range(runs):
        for name, argv in commands.items():
            start = time.perf_counter()
            result = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            samples[name].append((time.perf_counter() - start) * 1000)
            if result.returncode != 0:
                sys.exit(f"{name} exited {result.returncode}: {' '.join(argv)}")
    return {name: statistics.median(values) for name, values in samples.items()}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=51)
    parser.add_argument("--products", default=".build/release")
    args = parser.parse_args()

    products = os.path.join(ROOT, args.products)
    if args.products == ".build/release":
        sh("swift", "build", "-c", "release", stdout=subprocess.DEVNULL)
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
    medians = time_runs(commands, args.runs)

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
        print(f"  {tender}, stripped {os.path.getsize(copy) / 1024:8.1f} KB")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
