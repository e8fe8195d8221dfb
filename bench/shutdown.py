#!/usr/bin/env python3
"""Signal -> exit, side by side: examples/web on hvt and spt (the tender on a tap in a network
namespace) against nginx (one process, `master_process off`) in the same namespace.

Cases, each started fresh, served once (GET / answered 200, so the server is up), then signalled:
  idle            nothing open: swiftlet drains (SIGTERM), nginx's graceful stop (SIGQUIT)
  keep-alive      one idle keep-alive connection open: swiftlet closes it (SIGTERM); nginx SIGQUIT
  in-flight       an upload under way, finished 100 ms after the signal: exit - answer (ms)
  second signal   SIGTERM while draining the upload, then SIGTERM again: exit after the second
  no handler      examples/echo (never watches): SIGTERM; nginx's fast stop (SIGTERM)
The time is from the signal to the exit seen by waitpid (ms); medians of --runs, interleaved.
Needs root (namespaces). Tenders from .build/release if built there, else .build/debug (say
which with --build); the image is the same either way (swiftlet build).

    python3 bench/shutdown.py [--runs 11] [--build debug|release]
"""
import argparse, json, os, shutil, signal, socket, statistics, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import IP, ROOT, fmt, kvm_usable, nginx_argv, ratio, tap_namespace  # noqa: E402

SELF = os.path.abspath(__file__)
HOST, GUEST, NGINX_PORT = "10.214.0.1", "10.214.0.2", 8082
LIMIT = 15.0


def connect(address, port):
    deadline = time.monotonic() + LIMIT
    while True:
        try:
            sock = socket.create_connection((address, port), timeout=2)
            sock.settimeout(LIMIT)
            return sock
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.002)


def get(sock):
    sock.sendall(b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
    data = sock.recv(65536)
    if not data.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"no 200: {data[:40]!r}")


def measure(spec):
    """Runs in the namespace: starts the server, prepares the case, signals, returns ms."""
    server = subprocess.Popen(spec["argv"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        address, port, case, sig = spec["address"], spec["port"], spec["case"], spec["signal"]
        if case != "no handler" or spec.get("serves", True):
            probe = connect(address, port)
            get(probe)
            if case != "keep-alive":
                probe.close()
        else:
            time.sleep(0.3)
        if case in ("in-flight", "second signal"):
            upload = connect(address, port)
            upload.sendall(b"POST /api/echo HTTP/1.1\r\nHost: bench\r\nContent-Length: 10\r\n\r\nhello")
            time.sleep(0.05)
        sent = time.monotonic()
        server.send_signal(sig)
        answered = None
        if case == "in-flight":
            time.sleep(0.1)
            upload.sendall(b"world")
            data = upload.recv(65536)
            answered = time.monotonic()
            if not data.startswith(b"HTTP/1.1 200"):
                return None
        if case == "second signal":
            time.sleep(0.1)
            sent = time.monotonic()
            server.send_signal(sig)
        status = server.wait(LIMIT)
        ended = time.monotonic()
        start = answered if answered else sent
        return {"ms": (ended - start) * 1000, "status": status}
    except Exception as error:  # noqa: BLE001 - a failed sample is reported, not fatal
        return {"error": str(error)}
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--build", choices=["debug", "release"])
    parser.add_argument("--inside")
    args = parser.parse_args()
    if args.inside:
        return print(json.dumps(measure(json.loads(args.inside))))
    if os.geteuid() != 0:
        sys.exit("needs root (network namespaces)")
    build = args.build or ("release" if os.path.exists(os.path.join(ROOT, ".build", "release", "swiftlet-spt")) else "debug")
    products = os.path.join(ROOT, ".build", build)
    cli = os.path.join(products, "swiftlet")
    images = {}
    for example in ("web", "echo"):
        subprocess.run([cli, "build", os.path.join(ROOT, "examples", example)], check=True, capture_output=True,
                       env=dict(os.environ, SWIFTLET_TENDERS=products))
        images[example] = os.path.join(ROOT, "examples", example, ".build", "swiftlet", f"{example}.swiftlet")

    work = tempfile.mkdtemp(prefix="shutdown-")
    try:
        with tap_namespace(f"swiftlet-shutdown-{os.getpid()}", HOST) as namespace:
            compare(args, build, products, images, namespace, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def compare(args, build, products, images, namespace, work):
    """Every case on every server, --runs times interleaved; prints the table."""
    targets = ["hvt", "spt"] if kvm_usable() else ["spt"]
    nginx = nginx_argv(work, f"{HOST}:{NGINX_PORT}", "keepalive_timeout 60;")
    cases = {}
    for case in ("idle", "keep-alive", "in-flight", "second signal", "no handler"):
        for target in targets:
            example = "echo" if case == "no handler" else "web"
            cases[(case, target)] = {
                "argv": [os.path.join(products, f"swiftlet-{target}"), "--net", "tap:tap0", images[example], "--",
                         f"ip={GUEST}/24", "log=off"],
                "address": GUEST, "port": 80, "case": case, "signal": signal.SIGTERM, "serves": example == "web"}
        if nginx:
            cases[(case, "nginx")] = {"argv": nginx, "address": HOST, "port": NGINX_PORT, "case": case,
                                      "signal": signal.SIGTERM if case in ("no handler", "second signal") else signal.SIGQUIT}
    samples = {name: [] for name in cases}
    for _ in range(args.runs):
        for name, spec in cases.items():
            out = subprocess.run([IP, "netns", "exec", namespace, sys.executable, SELF, "--inside", json.dumps(spec)],
                                 capture_output=True, text=True, timeout=LIMIT * 2 + 10)
            samples[name].append(json.loads(out.stdout) if out.returncode == 0 and out.stdout.strip() else {"error": out.stderr[-200:]})
    print(f"signal -> exit (ms, median of {args.runs}; tenders: {build} build; in-flight: from the answer)")
    print(f"{'case':<15} {'server':<7} {'median':>8} {'min':>8} {'max':>8}  {'statuses':<14} vs nginx")
    for (case, server), values in samples.items():
        done = [v["ms"] for v in values if "ms" in v]
        statuses = sorted({v["status"] for v in values if "status" in v})
        errors = [v["error"] for v in values if "error" in v]
        median = statistics.median(done) if done else None
        peer = [v["ms"] for v in samples.get((case, "nginx"), []) if "ms" in v]
        reference = statistics.median(peer) if peer else None
        print(f"{case:<15} {server:<7} {fmt(median, '8.2f')} {fmt(min(done) if done else None, '8.2f')} "
              f"{fmt(max(done) if done else None, '8.2f')}  {str(statuses):<14} "
              f"{ratio(median, reference) if server != 'nginx' else ''}{'  errors: ' + errors[0] if errors else ''}")
    print("statuses: 0 = exited 0 (drained); -15 = killed by SIGTERM (143 in a shell)")


if __name__ == "__main__":
    main()
