#!/usr/bin/env python3
"""VM exits per HTTP request on hvt: the web example on a tap, one keep-alive connection
sending N sequential GET / (each waits for its answer, as wrk -c1 does), counted by the
tender's --count-exits. A run with no requests (boot, idle, drain) is subtracted, so the
number is what a request costs. A turn of the guest's network loop is one NET_EXCHANGE exit;
this says how many turns (and other exits) a request takes.

    python3 bench/exits.py --tender .build/release/swiftlet-hvt --image web.swiftlet [--requests 2000] [--rings]

Build an image with `swiftlet build examples/web -o web.swiftlet` (SWIFTLET_HOME=CHECKOUT picks the
guest sources, to compare two checkouts with one tender). Needs root and /dev/kvm.
"""
import argparse, os, re, signal, socket, subprocess, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import IP, tap_namespace

GUEST = "10.214.9.2"
HOST = "10.214.9.1"

CLIENT = r"""
import socket, sys, time
count = int(sys.argv[2])
s = socket.create_connection((sys.argv[1], 80), timeout=5)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
request = f"GET / HTTP/1.1\r\nHost: {sys.argv[1]}\r\n\r\n".encode()
start = time.monotonic()
for _ in range(count):
    s.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        data += s.recv(65536)
    head, body = data.split(b"\r\n\r\n", 1)
    length = int([l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0].split(b":")[1])
    while len(body) < length:
        body += s.recv(65536)
s.close()
print(f"{count} requests in {time.monotonic() - start:.3f} s")
"""


def run(args, namespace, requests):
    argv = [IP, "netns", "exec", namespace, args.tender, "--count-exits", *(["--rings"] if args.rings else []),
            "--net", "tap:tap0", args.image, "--", f"ip={GUEST}/24", f"gw={HOST}", "log=off"]
    guest = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            probe = subprocess.run([IP, "netns", "exec", namespace, "python3", "-c",
                                    f"import socket; socket.create_connection(('{GUEST}', 80), timeout=0.5).close()"],
                                   capture_output=True)
            if probe.returncode == 0:
                break
            time.sleep(0.2)
        else:
            raise RuntimeError("the guest never listened")
        client = subprocess.run([IP, "netns", "exec", namespace, "python3", "-c", CLIENT, GUEST, str(requests)],
                                capture_output=True, text=True, timeout=300)
        if client.returncode != 0:
            raise RuntimeError(f"client failed: {client.stderr}")
        time.sleep(0.3)
        guest.send_signal(signal.SIGTERM)
        _, stderr = guest.communicate(timeout=30)
    finally:
        if guest.poll() is None:
            guest.kill()
            guest.wait()
    match = re.search(r"(\d+) VM exits", stderr)
    if not match:
        raise RuntimeError(f"no exit count from the tender: {stderr}")
    return int(match.group(1)), client.stdout.strip()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tender", required=True)
    parser.add_argument("--image", required=True)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rings", action="store_true", help="the tender's exitless rings (--rings)")
    args = parser.parse_args()
    with tap_namespace(f"swexits{os.getpid()}", HOST) as namespace:
        base, _ = run(args, namespace, 1)
        loaded, timing = run(args, namespace, args.requests + 1)
    per_request = (loaded - base) / args.requests
    print(f"{os.path.basename(args.image)}: {loaded} exits with {args.requests + 1} requests, {base} with 1 "
          f"({timing}): {per_request:.2f} VM exits per request")


if __name__ == "__main__":
    main()
