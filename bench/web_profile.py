#!/usr/bin/env python3
"""Where examples/web spends its time: perf samples of the spt tender (whose guest runs as
ordinary code in the tender's process, so its instructions are sampled like any other) under
wrk, with the guest's addresses named from the image's symbol table (perf knows no file for
them). hvt cannot be profiled this way: under KVM the guest's instructions are not sampled, only
the tender's and the kernel's (the exits, the tap I/O); run with --target hvt for that half.

Prints the share of samples in the guest, the kernel and the tender, then the functions by
self time and by inclusive time (a function counts once per sample whose stack holds it).

    sudo python3 bench/web_profile.py [--image web.swiftlet] [--connections 32] [--seconds 5]
        [--target spt|hvt] [--top 40] [--scratch-path .build-bench]

Needs root, iproute2, wrk and perf (Debian: linux-perf; the software cpu-clock event is
enough). Builds the image unless --image is given (the tenders come from --scratch-path, as
with bench/web.py --no-build). The namespace, the guest and perf are gone when it returns.
"""
import argparse, bisect, collections, os, re, subprocess, sys, tempfile, time

from benchlib import IP, ip, pinner, terminate

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOLCHAIN_BIN = os.path.dirname(subprocess.run(["sh", "-c", "command -v swiftc || echo /opt/swift/usr/bin/swiftc"],
                                               capture_output=True, text=True).stdout.strip())


def tool(name):
    path = os.path.join(TOOLCHAIN_BIN, name)
    return path if os.path.exists(path) else name


def symbol_table(image):
    """Function start addresses and names of `image`, sorted."""
    listing = subprocess.run([tool("llvm-nm"), "-n", "--defined-only", image], capture_output=True, text=True,
                             check=True).stdout
    starts, names = [], []
    for line in listing.splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[1] in "tTwW":
            starts.append(int(fields[0], 16))
            names.append(fields[2])
    return starts, names


def demangle(names):
    result = subprocess.run([tool("swift-demangle"), "--simplified"], input="\n".join(names), capture_output=True,
                            text=True)
    lines = result.stdout.splitlines()
    return lines if len(lines) == len(names) else names


def samples(data, starts, names, guest_range):
    """Each sample's stack, leaf first, as (kind, name) with kind G(uest), K(ernel) or T(ender)."""
    text = subprocess.run(["perf", "script", "-i", data, "-F", "ip,sym,dso"], capture_output=True, text=True).stdout
    for block in text.split("\n\n"):
        frames = []
        for line in block.strip().splitlines():
            match = re.match(r"\s*([0-9a-f]+)\s+(.*?)\s+\((.*)\)$", line)
            if not match:
                continue
            address, symbol, dso = int(match.group(1), 16), match.group(2), match.group(3)
            if guest_range[0] <= address < guest_range[1]:
                index = bisect.bisect_right(starts, address) - 1
                frames.append(("G", names[index] if index >= 0 else hex(address)))
            elif dso.startswith("[kernel"):
                frames.append(("K", symbol))
            else:
                frames.append(("T", symbol))
        if frames:
            yield frames


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", help="a built (unstripped) examples/web image; default: build one")
    parser.add_argument("--target", choices=("spt", "hvt"), default="spt")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--scratch-path", default=".build-bench")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("web_profile.py needs root (it creates a network namespace and a tap)")
    products = os.path.join(ROOT, args.scratch_path, "release")
    work = tempfile.mkdtemp(prefix="swiftlet-webprofile-")
    image = args.image
    if not image:
        image = os.path.join(work, "web.swiftlet")
        subprocess.run([os.path.join(products, "swiftlet"), "build", "examples/web", "-o", image], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL)
    starts, names = symbol_table(image)
    guest_range = (starts[0] & ~0xFFFFF, starts[-1] + 0x100000)
    namespace = f"swprof-{os.getpid()}"
    cpu = {sorted(os.sched_getaffinity(0))[-1]}  # guest and wrk on one CPU, as bench/web.py places them
    guest = perf = None
    data = os.path.join(work, "perf.data")
    try:
        ip("netns", "add", namespace)
        ip("-n", namespace, "link", "set", "lo", "up")
        ip("-n", namespace, "tuntap", "add", "tap9", "mode", "tap")
        ip("-n", namespace, "addr", "add", "10.214.9.1/24", "dev", "tap9")
        ip("-n", namespace, "link", "set", "tap9", "up")
        log = open(os.path.join(work, "guest.log"), "w+")
        guest = subprocess.Popen([IP, "netns", "exec", namespace, os.path.join(products, f"swiftlet-{args.target}"),
                                  "--net", "tap:tap9", image, "--", "ip=10.214.9.2/24", "gw=10.214.9.1", "log=off"],
                                 stdout=log, stderr=subprocess.STDOUT, preexec_fn=pinner(cpu))
        deadline = time.monotonic() + 15
        while "web: serving" not in open(log.name).read():
            if time.monotonic() > deadline or guest.poll() is not None:
                sys.exit(f"the guest did not come up: {open(log.name).read()[-500:]}")
            time.sleep(0.05)
        wrk = [IP, "netns", "exec", namespace, "wrk", f"-t{1 if args.connections == 1 else 2}",
               f"-c{args.connections}", "--latency", "http://10.214.9.2/"]
        subprocess.run(wrk[:-2] + ["-d1s", "http://10.214.9.2/"], capture_output=True, preexec_fn=pinner(cpu))
        perf = subprocess.Popen(["perf", "record", "-F", "4999", "-g", "-o", data, "-p", str(guest.pid), "--",
                                 "sleep", f"{args.seconds:g}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        load = subprocess.run(wrk[:-2] + [f"-d{args.seconds:g}s", "http://10.214.9.2/"], capture_output=True, text=True,
                              preexec_fn=pinner(cpu))
        perf.wait(args.seconds + 30)
        rate = re.search(r"Requests/sec:\s+([\d.]+)", load.stdout)
        print(f"{args.target} GET /, {args.connections} connection(s): "
              f"{float(rate.group(1)):,.0f} req/s" if rate else f"wrk: {load.stdout[-300:]}{load.stderr[-300:]}")
    finally:
        for process in (perf, guest):
            terminate(process, 5)
        ip("netns", "del", namespace, check=False)

    stacks = list(samples(data, starts, names, guest_range))
    total = len(stacks)
    if not total:
        sys.exit("perf recorded no samples")
    kinds = collections.Counter(stack[0][0] for stack in stacks)
    print(f"{total} samples: guest {kinds['G'] / total:.1%}, kernel {kinds['K'] / total:.1%}, "
          f"tender {kinds['T'] / total:.1%}")
    own = collections.Counter(stack[0] for stack in stacks)
    inclusive = collections.Counter()
    for stack in stacks:
        for frame in set(stack):
            inclusive[frame] += 1
    for title, counter in (("self", own), ("inclusive (guest functions)", collections.Counter(
            {frame: count for frame, count in inclusive.items() if frame[0] == "G"}))):
        print(f"\nby {title}:")
        top = counter.most_common(args.top)
        for (frame, count), name in zip(top, demangle([frame[1] for frame, _ in top])):
            print(f"  {count / total:6.2%}  {frame[0]}  {name[:140]}")


if __name__ == "__main__":
    main()
