#!/usr/bin/env python3
"""VM exits per HTTP request on hvt, and where the server's CPU goes: the web example on a tap,
counted by the tender's --count-exits. A run without the load (boot, idle, drain) is
subtracted, so the numbers are what the requests cost.

Two loads:
- default: one keep-alive connection sending N sequential GET / (each waits for its answer, as
  wrk -c1 does), from an unpinned Python client;
- --connections C: wrk -cC for --seconds, pinned with the tender to one CPU (as bench/web.py's
  default placement). Also prints the tender's CPU per request split by its threads' user,
  system and guest time (/proc/PID/task/*/stat; guest time is the vCPU running guest code),
  and the guest heap's allocations per request (from /api/status, when the image reports them).

A turn of the guest's network loop is one NET_EXCHANGE exit, so exits per request say how
many requests a turn serves.

    python3 bench/exits.py --tender .build/release/swiftlet-hvt --image web.swiftlet [--requests 2000] [--rings]
    python3 bench/exits.py --tender ... --image ... --connections 32 [--seconds 5] [--cpu N]

Build an image with `swiftlet build examples/web -o web.swiftlet` (SWIFTLET_HOME=CHECKOUT picks the
guest sources, to compare two checkouts with one tender). Needs root and /dev/kvm (wrk for --connections).
"""
import argparse, json, os, re, signal, socket, subprocess, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import IP, parse_wrk, pinner, tap_namespace

GUEST = "10.214.9.2"
HOST = "10.214.9.1"
TICK_NS = 1e9 / os.sysconf("SC_CLK_TCK")

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

STATUS = r"""
import socket, sys
s = socket.create_connection((sys.argv[1], 80), timeout=5)
s.sendall(b"GET /api/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
data = b""
while True:
    piece = s.recv(65536)
    if not piece:
        break
    data += piece
print(data.split(b"\r\n\r\n", 1)[1].decode())
"""


def thread_times(pid):
    """Per-thread (user, system, guest) CPU in ns of process `pid`, summed; schedstat's total too."""
    user = system = guest = total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[0])
        except OSError:
            continue
        # After the ")": state is field 3, so field N is fields[N - 3].
        user += int(fields[14 - 3]) * TICK_NS
        system += int(fields[15 - 3]) * TICK_NS
        guest += int(fields[43 - 3]) * TICK_NS
    return {"user": user, "system": system, "guest": guest, "total": total}


def tap_packets(namespace):
    """Frames the tap carried so far: (to the guest, from the guest)."""
    counts = subprocess.run([IP, "netns", "exec", namespace, "cat", "/sys/class/net/tap0/statistics/tx_packets",
                             "/sys/class/net/tap0/statistics/rx_packets"], capture_output=True, text=True).stdout.split()
    return int(counts[0]), int(counts[1])


def status(namespace):
    result = subprocess.run([IP, "netns", "exec", namespace, "python3", "-c", STATUS, GUEST],
                            capture_output=True, text=True, timeout=10)
    try:
        return json.loads(result.stdout)
    except ValueError:
        return {}


def run(args, namespace, load):
    """Boots the guest, applies `load` (None: none), stops it; exit count and measurements."""
    cpus = {args.cpu} if args.connections else None
    argv = [IP, "netns", "exec", namespace, args.tender, "--count-exits", *(["--rings"] if args.rings else []),
            "--net", "tap:tap0", args.image, "--", f"ip={GUEST}/24", f"gw={HOST}", "log=off"]
    guest = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=pinner(cpus))
    measured = {}
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
        if args.connections:
            before_status, before, frames = status(namespace), thread_times(guest.pid), tap_packets(namespace)
            if load:
                wrk = subprocess.run([IP, "netns", "exec", namespace, "wrk", "--latency", f"-t{min(2, args.connections)}",
                                      f"-c{args.connections}", f"-d{args.seconds:g}s", f"http://{GUEST}/"],
                                     capture_output=True, text=True, timeout=args.seconds + 30, preexec_fn=pinner(cpus))
                measured["wrk"] = parse_wrk(wrk.stdout)
            measured["cpu"] = {k: v - before[k] for k, v in thread_times(guest.pid).items()}
            measured["frames"] = tuple(after - was for after, was in zip(tap_packets(namespace), frames))
            after_status = status(namespace)
            if "allocations" in after_status and "allocations" in before_status:
                measured["allocations"] = after_status["allocations"] - before_status["allocations"]
        elif load:
            client = subprocess.run([IP, "netns", "exec", namespace, "python3", "-c", CLIENT, GUEST, str(load)],
                                    capture_output=True, text=True, timeout=300)
            if client.returncode != 0:
                raise RuntimeError(f"client failed: {client.stderr}")
            measured["timing"] = client.stdout.strip()
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
    return int(match.group(1)), measured


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tender", required=True)
    parser.add_argument("--image", required=True)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--connections", type=int, help="wrk with this many connections instead of one Python client")
    parser.add_argument("--seconds", type=float, default=5, help="length of the wrk run (--connections)")
    parser.add_argument("--cpu", type=int, default=os.cpu_count() - 1, help="the CPU tender and wrk share (--connections)")
    parser.add_argument("--rings", action="store_true", help="the tender's exitless rings (--rings)")
    args = parser.parse_args()
    name = os.path.basename(args.image)
    with tap_namespace(f"swexits{os.getpid()}", HOST) as namespace:
        if not args.connections:
            base, _ = run(args, namespace, 1)
            loaded, measured = run(args, namespace, args.requests + 1)
            per_request = (loaded - base) / args.requests
            print(f"{name}: {loaded} exits with {args.requests + 1} requests, {base} with 1 "
                  f"({measured['timing']}): {per_request:.2f} VM exits per request")
            return
        base, idle = run(args, namespace, False)
        loaded, measured = run(args, namespace, True)
    w = measured["wrk"]
    requests = w["requests"] or 0
    if not requests:
        raise RuntimeError(f"wrk served nothing: {w}")
    exits = loaded - base
    cpu = measured["cpu"]
    us = lambda ns: ns / requests / 1000
    print(f"{name}: wrk -c{args.connections} {args.seconds:g} s: {requests} requests, {w['rps']:,.0f} req/s, "
          f"errors {w['errors']}, p50 {w['p50_us']} us")
    print(f"  VM exits: {exits} beyond an idle run ({base}): {exits / requests:.3f} per request, "
          f"{requests / max(exits, 1):.1f} requests per exit")
    host = cpu["user"] + cpu["system"] - cpu["guest"]
    print(f"  tender CPU per request: {us(cpu['total']):.2f} us on CPU (schedstat); ticks: guest {us(cpu['guest']):.2f}, "
          f"tender user {us(cpu['user'] - cpu['guest']):.2f}, system {us(cpu['system']):.2f}"
          f" (user includes guest; ticks of {TICK_NS / 1e6:g} ms)")
    if exits:
        print(f"  tender outside the guest per exit: {host / exits / 1000:.2f} us (user - guest + system)")
    print(f"  frames per request: {measured['frames'][0] / requests:.2f} to the guest, "
          f"{measured['frames'][1] / requests:.2f} from it")
    if "allocations" in measured:
        print(f"  guest heap allocations per request: {measured['allocations'] / requests:.2f}")


if __name__ == "__main__":
    main()
