#!/usr/bin/env python3
"""What `swiftlet run IMAGE` adds to a boot: examples/hello started through the release
launcher (`swiftlet run`) beside the same release tender started directly with the arguments
the launcher gives it, on hvt and spt; spawn to exit, interleaved so machine noise hits all
alike, medians of N runs (target: swiftlet run <= 1.2x the bare tender). The fastest run of
each is printed too: hvt boots are bimodal on this host (a few ms, or ~11 ms), which moves the
median more than the launcher does.

    python3 bench/cli.py [--runs 51]
"""
import argparse, os, statistics, subprocess, sys, tempfile, time

from benchlib import kvm_usable

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELEASE = os.path.join(ROOT, ".build", "release")


def sh(*command):
    subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def time_runs(commands, runs):
    samples = {name: [] for name in commands}
    for _ in range(runs):
        for name, (argv, env) in commands.items():
            start = time.perf_counter()
            result = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            samples[name].append((time.perf_counter() - start) * 1000)
            if result.returncode != 0:
                sys.exit(f"{name} exited {result.returncode}: {' '.join(argv)}\n{result.stderr.decode()}")
    return ({name: statistics.median(values) for name, values in samples.items()},
            {name: min(values) for name, values in samples.items()})


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=51)
    args = parser.parse_args()
    if args.runs < 30:
        sys.exit("--runs: at least 30")

    for product in ("swiftlet", "swiftlet-hvt", "swiftlet-spt"):
        sh("swift", "build", "-c", "release", "--product", product)
    sh("swift", "build", "--product", "swiftlet-cli")  # builds the image; not measured
    work = tempfile.mkdtemp(prefix="swiftlet-bench-cli-")
    image = os.path.join(work, "hello.swiftlet")
    sh(os.path.join(ROOT, ".build", "debug", "swiftlet-cli"), "build", "examples/hello", "-o", image)

    launcher = os.path.join(RELEASE, "swiftlet")
    environment = dict(os.environ)
    environment.pop("SWIFTLET_TENDERS", None)
    targets = ["hvt", "spt"] if kvm_usable() else ["spt"]
    if "hvt" not in targets:
        print("hvt: SKIPPED (no usable /dev/kvm)")
    commands = {"/bin/true": (["/bin/true"], environment)}
    for target in targets:
        # The launcher execs the tender with exactly these arguments and an empty environment.
        tender = [os.path.join(RELEASE, f"swiftlet-{target}"), "--mem", "32M", image, "--"]
        commands[f"{target} tender"] = (tender, {})
        commands[f"{target} swiftlet run"] = ([launcher, "run", "--target", target, image], environment)
    medians, fastest = time_runs(commands, args.runs)

    print(f"hello, spawn to exit, {args.runs} interleaved runs (target: swiftlet run <= 1.2x the tender)")
    print(f"  {'':<20} {'median':>9} {'fastest':>9}")
    for name in medians:
        print(f"  {name:<20} {medians[name]:6.3f} ms {fastest[name]:6.3f} ms")
    for target in targets:
        bare, through = medians[f"{target} tender"], medians[f"{target} swiftlet run"]
        quickest = fastest[f"{target} swiftlet run"] / fastest[f"{target} tender"]
        print(f"  {target}: swiftlet run / tender = {through / bare:.2f}x median (+{through - bare:.3f} ms), "
              f"{quickest:.2f}x fastest")
    subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()
