#!/usr/bin/env python3
"""Soak for the lossy-link TCP test: examples/echo on hvt and/or spt behind Tests/Tools/lossy_link.py
(loss, duplication and reordering from a seeded relay between a tap and the tender's `--net fd:`),
echoing SIZE bytes per run, over and over with a new seed each run, optionally with CPU hogs beside
it (the way the full test suite loads the machine).

Each run records a pcap at the tender (`--pcap`) and the relay's counts. A run that fails (client
timeout, wrong bytes, the guest gone) keeps its pcap, relay log and guest output under --keep, and
the script prints where; passing runs leave nothing behind.

    sudo python3 bench/lossy_soak.py [--runs 50] [--targets hvt,spt] [--hogs 2] [--size 524288]
                                     [--loss 0.05 --duplicate 0.02 --reorder 0.05] [--keep DIR]

Needs root, iproute2 and python3; builds nothing: the debug tenders and examples/echo's image must
exist (`swift build` and `swift run swiftlet build examples/echo`), or pass --tender-dir/--image.
Exit status 1 if any run failed.
"""
import argparse, os, shutil, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELAY = os.path.join(ROOT, "Tests", "Tools", "lossy_link.py")
CLIENT = os.path.join(ROOT, "Tests", "Tools", "echo_client.py")  # the test's own client
HOST, GUEST = "10.198.0.1", "10.198.0.2"


def ip(*args, check=True):
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


def one_run(args, target, seed, namespace, keep):
    work = tempfile.mkdtemp(prefix=f"lossy-{target}-{seed}-")
    pcap = os.path.join(work, "guest.pcap")
    tender = os.path.join(args.tender_dir, f"swiftlet-{target}")
    relay = subprocess.Popen(
        ["ip", "netns", "exec", namespace, sys.executable, RELAY, "--tap", "tap0", "--loss", str(args.loss),
         "--duplicate", str(args.duplicate), "--reorder", str(args.reorder), "--seed", str(seed), "--",
         tender, "--pcap", pcap, args.image, f"ip={GUEST}/24"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(1.0)
    started = time.monotonic()
    try:
        client = subprocess.run(["ip", "netns", "exec", namespace, sys.executable, CLIENT, GUEST, "--tcp", str(args.size)],
                                capture_output=True, text=True, timeout=150)
        client_text, passed = client.stdout + client.stderr, client.returncode == 0
    except subprocess.TimeoutExpired:
        client_text, passed = "client: no answer in 150 s", False
    elapsed = time.monotonic() - started
    relay.terminate()
    try:
        relay_text = relay.communicate(timeout=10)[0]
    except subprocess.TimeoutExpired:
        relay.kill()
        relay_text = relay.communicate()[0]
    if passed:
        shutil.rmtree(work, ignore_errors=True)
        return True, elapsed, ""
    kept = os.path.join(keep, os.path.basename(work))
    shutil.move(work, kept)
    with open(os.path.join(kept, "client.txt"), "w") as f:
        f.write(client_text)
    with open(os.path.join(kept, "relay-and-guest.txt"), "w") as f:
        f.write(relay_text)
    return False, elapsed, f"kept in {kept}\n  client: {client_text.strip()}\n  relay/guest: {relay_text.strip()[-600:]}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--targets", default="hvt,spt")
    parser.add_argument("--hogs", type=int, default=0, help="busy-looping processes beside the runs")
    parser.add_argument("--size", type=int, default=512 << 10)
    parser.add_argument("--loss", type=float, default=0.05)
    parser.add_argument("--duplicate", type=float, default=0.02)
    parser.add_argument("--reorder", type=float, default=0.05)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--tender-dir", default=os.path.join(ROOT, ".build", "debug"))
    parser.add_argument("--image", default=os.path.join(ROOT, "examples", "echo", ".build", "swiftlet", "echo.swiftlet"))
    parser.add_argument("--keep", default=os.path.join(tempfile.gettempdir(), "lossy-soak-failures"))
    args = parser.parse_args()
    os.makedirs(args.keep, exist_ok=True)
    namespace = f"swlossy-{os.getpid()}"
    ip("netns", "add", namespace)
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.hogs)]
    failures = 0
    try:
        for command in (["tuntap", "add", "tap0", "mode", "tap"], ["addr", "add", f"{HOST}/24", "dev", "tap0"],
                        ["link", "set", "tap0", "addrgenmode", "none"], ["link", "set", "tap0", "up"],
                        ["link", "set", "lo", "up"]):
            ip("-n", namespace, *command)
        targets = args.targets.split(",")
        times = {target: [] for target in targets}
        for index in range(args.runs):
            seed = args.first_seed + index
            for target in targets:
                ok, elapsed, detail = one_run(args, target, seed, namespace, args.keep)
                times[target].append(elapsed)
                print(f"{target} seed {seed}: {'ok' if ok else 'FAILED'} in {elapsed:.1f} s", flush=True)
                if not ok:
                    failures += 1
                    print("  " + detail, flush=True)
        for target, values in times.items():
            values.sort()
            print(f"{target}: {len(values)} runs, median {values[len(values) // 2]:.1f} s, slowest {values[-1]:.1f} s")
        print(f"{failures} failed of {args.runs * len(targets)}")
    finally:
        for hog in hogs:
            hog.kill()
        ip("netns", "del", namespace, check=False)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
