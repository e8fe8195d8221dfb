#!/usr/bin/env python3
"""Memory of one serving examples/web tender, side by side for two builds of the tenders (e.g.
before and after a change) and for the DWARF and the stripped image. Each tender runs on its own
tap in a network namespace this script creates, answers one GET / (so it has booted and
served), and then its /proc/PID/smaps is read:

  heap      Rss of the [heap] mapping (the tender's malloc arena: where a file read into memory lands)
  private   Private_Clean + Private_Dirty over all mappings (what this instance alone costs)
  pss       Pss from smaps_rollup (private plus its share of shared text and page cache)

Needs root. Everything started is killed and the namespace deleted on exit.

    python3 bench/tender_memory.py --target spt --tenders OLD_DIR NEW_DIR --image A.swiftlet [--image B.swiftlet]
"""
import argparse, os, subprocess, sys, time

NS = f"swmem-{os.getpid()}"


def run(*argv):
    subprocess.run(argv, check=True)


def smaps(pid):
    heap = private = 0
    current = None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            fields = line.split()
            if "-" in fields[0] and len(fields) >= 5:          # a mapping's header line
                current = fields[5] if len(fields) > 5 else ""
            elif fields[0] in ("Private_Clean:", "Private_Dirty:"):
                private += int(fields[1])
            elif fields[0] == "Rss:" and current == "[heap]":
                heap += int(fields[1])
    with open(f"/proc/{pid}/smaps_rollup") as f:
        pss = next(int(line.split()[1]) for line in f if line.startswith("Pss:"))
    return heap, private, pss


def get(address, deadline):
    while time.monotonic() < deadline:
        out = subprocess.run(["ip", "netns", "exec", NS, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                              "-m", "1", f"http://{address}/"], capture_output=True, text=True)
        if out.stdout == "200":
            return True
        time.sleep(0.05)
    return False


def measure(tender, image, memory, index):
    tap, host, guest = f"m{index}", f"10.77.{index}.1", f"10.77.{index}.2"
    subprocess.run(["ip", "netns", "exec", NS, "ip", "tuntap", "add", tap, "mode", "tap"], check=True)
    subprocess.run(["ip", "netns", "exec", NS, "ip", "addr", "add", f"{host}/30", "dev", tap], check=True)
    subprocess.run(["ip", "netns", "exec", NS, "ip", "link", "set", tap, "up"], check=True)
    process = subprocess.Popen(["ip", "netns", "exec", NS, tender, "--mem", memory, "--net", f"tap:{tap}", image,
                                "--", f"ip={guest}/30", "log=off"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        answered = get(guest, time.monotonic() + 10)
        if not answered:
            process.kill()
            sys.exit(f"{tender} {image}: no answer: {process.stderr.read().decode()[-400:]}")
        # `ip netns exec` execs the tender in place: the Popen pid is the tender's.
        return smaps(process.pid)
    finally:
        process.kill()
        process.wait()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", choices=["spt", "hvt"], required=True)
    parser.add_argument("--tenders", nargs="+", required=True, help="directories holding swiftlet-spt/-hvt")
    parser.add_argument("--image", action="append", required=True)
    parser.add_argument("--mem", default="2M")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("tender_memory.py needs root (a network namespace and taps)")
    run("ip", "netns", "add", NS)
    try:
        print(f"{'tenders':40} {'image':28} {'size':>8} {'heap kB':>8} {'private kB':>10} {'PSS kB':>7}")
        index = 0
        for image in args.image:
            for directory in args.tenders:
                index += 1
                heap, private, pss = measure(os.path.join(directory, f"swiftlet-{args.target}"), image, args.mem, index)
                print(f"{directory[-40:]:40} {os.path.basename(image)[-28:]:28} {os.path.getsize(image) // 1024:>6}kB "
                      f"{heap:>8} {private:>10} {pss:>7}", flush=True)
    finally:
        subprocess.run(["ip", "netns", "del", NS])


if __name__ == "__main__":
    main()
