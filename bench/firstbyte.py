#!/usr/bin/env python3
"""Launch -> first HTTP 200, polled by a client from the moment the server is spawned, side by
side: `swiftlet run -p` (passt, loopback), the tender on a tap in a network namespace (hvt,
spt) and nginx (one worker, `return 200`) started the same way in the same namespace. The
client connects, sends a GET and reads the status line; a refused or reset connection is
retried at once, so the figure is when a client that starts at launch is first served (a
connection whose SYN is lost costs its retransmission time). Medians of --runs, interleaved.
Needs root (namespaces), a release build (`swift build -c release`) and passt; nginx optional.

    python3 bench/firstbyte.py [--runs 11]
"""
import argparse, json, os, shutil, signal, socket, statistics, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import IP, ROOT, fmt, kvm_usable, nginx_argv, ratio, tap_namespace  # noqa: E402

RELEASE = os.path.join(ROOT, ".build", "release")
SELF = os.path.abspath(__file__)
HOST, GUEST, NGINX_PORT = "10.213.0.1", "10.213.0.2", 8081
PUBLISHED = 18000 + os.getpid() % 1000 * 8  # a fresh port per run: an old passt may linger
LIMIT = 10.0


def first_200(argv, address, port, env=None):
    """Spawns argv, polls http://address:port/ until a 200; returns ms, or None after LIMIT."""
    start = time.monotonic()
    server = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, env=env)
    try:
        while time.monotonic() - start < LIMIT:
            try:
                with socket.create_connection((address, port), timeout=LIMIT) as s:
                    s.settimeout(LIMIT)
                    s.sendall(b"GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
                    if s.recv(12).startswith(b"HTTP/1.1 200"):
                        return (time.monotonic() - start) * 1000
            except OSError:
                time.sleep(0.0002)
        return None
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(3)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def inside(spec):
    """Runs in the namespace: one measurement, printed as JSON."""
    print(json.dumps(first_200(spec["argv"], spec["address"], spec["port"])))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--inside")
    args = parser.parse_args()
    if args.inside:
        return inside(json.loads(args.inside))
    if os.geteuid() != 0:
        sys.exit("needs root (network namespaces)")
    cli = os.path.join(RELEASE, "swiftlet")
    if not os.path.exists(cli):
        sys.exit("build first: swift build -c release")
    image = os.path.join(ROOT, "examples", "web", ".build", "swiftlet", "web.swiftlet")
    subprocess.run([cli, "build", os.path.join(ROOT, "examples", "web")], check=True, capture_output=True)

    work = tempfile.mkdtemp(prefix="firstbyte-")
    try:
        with tap_namespace(f"swiftlet-firstbyte-{os.getpid()}", HOST) as namespace:
            measure(args, cli, image, namespace, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def measure(args, cli, image, namespace, work):
    """Every case, --runs times interleaved; prints the table."""
    targets = ["hvt", "spt"] if kvm_usable() else ["spt"]
    cases = {}
    for index, target in enumerate(targets):
        cases[f"swiftlet run -p ({target})"] = ("host", {
            "argv": [cli, "run", "--target", target, "-p", "{port}:80", image, "--", "log=off"],
            "address": "127.0.0.1", "port": PUBLISHED + index * 4})
    for target in targets:
        cases[f"tap {target}"] = ("netns", {
            "argv": [os.path.join(RELEASE, f"swiftlet-{target}"), "--net", "tap:tap0", image, "--",
                     f"ip={GUEST}/24", "log=off"],
            "address": GUEST, "port": 80})
    nginx = nginx_argv(work, f"{HOST}:{NGINX_PORT}")
    if nginx:
        cases["nginx (1 worker)"] = ("netns", {"argv": nginx, "address": HOST, "port": NGINX_PORT})
    samples = {name: [] for name in cases}
    for run in range(args.runs):
        for name, (where, spec) in cases.items():
            if where == "host":
                port = spec["port"] + run % 4
                argv = [part.replace("{port}", str(port)) for part in spec["argv"]]
                value = first_200(argv, spec["address"], port)
            else:
                out = subprocess.run([IP, "netns", "exec", namespace, sys.executable, SELF, "--inside", json.dumps(spec)],
                                     capture_output=True, text=True, timeout=LIMIT + 10)
                value = json.loads(out.stdout) if out.returncode == 0 and out.stdout.strip() else None
            samples[name].append(value)
    reference = None
    if nginx:
        done = [v for v in samples["nginx (1 worker)"] if v is not None]
        reference = statistics.median(done) if done else None
    print(f"launch -> first HTTP 200, polled from spawn (median of {args.runs}; ms)")
    print(f"{'server':<28} {'median':>8} {'min':>8} {'max':>8} {'failed':>6}  vs nginx")
    for name, values in samples.items():
        done = [v for v in values if v is not None]
        median = statistics.median(done) if done else None
        print(f"{name:<28} {fmt(median, '8.1f')} {fmt(min(done) if done else None, '8.1f')} "
              f"{fmt(max(done) if done else None, '8.1f')} {len(values) - len(done):>6}  {ratio(median, reference)}")


if __name__ == "__main__":
    main()
