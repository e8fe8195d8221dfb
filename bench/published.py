#!/usr/bin/env python3
"""HTTP through the path a user takes first: `swiftlet run -p PORT:80 examples/web` (passt on a
socketpair, the client on 127.0.0.1), per target, beside nginx (one worker, `return 200` with
examples/web's index.html and its content type) on 127.0.0.1, measured by wrk at 1 connection
(1 thread) and 32 connections (2 threads), interleaved, after a warm-up each.

Reports req/s, p50/p99, the ratio to nginx, and where the server's CPU goes per request: the
tender (all its threads) and passt (the tender's child), from schedstat. The guest gets
`log=off`, as in bench/web.py. Needs a release build (`swift build -c release`), passt, wrk
and nginx; no root (loopback only).

    python3 bench/published.py [--duration 5] [--rounds 2] [--targets hvt,spt]
"""
import argparse, os, signal, subprocess, sys, tempfile, time, urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import ROOT, cpu_ns, fmt, kvm_usable, nginx_http_config, nginx_string, parse_wrk, ratio  # noqa: E402

CLI = os.path.join(ROOT, ".build", "release", "swiftlet")
LOADS = ((1, 1), (32, 2))  # (connections, wrk threads)
BASE_PORT = 20000 + os.getpid() % 500 * 8


class Server:
    def __init__(self, name, argv, port):
        self.name, self.port = name, port
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                        start_new_session=True)

    def pids(self):
        """The server's process and its children (passt under the tender, nginx's worker)."""
        found = [self.process.pid]
        try:
            with open(f"/proc/{self.process.pid}/task/{self.process.pid}/children") as f:
                found += [int(pid) for pid in f.read().split()]
        except OSError:
            pass
        return found

    def wait_ready(self, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return f"exited ({self.process.returncode}): {self.process.stdout.read()[-600:]}"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/", timeout=1) as reply:
                    if reply.status == 200:
                        return None
            except OSError:
                time.sleep(0.2)
        return f"no answer in {seconds:.0f} s"

    def stop(self):
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def run_wrk(server, connections, threads, seconds):
    """wrk against the server; req/s, p50/p99 µs, errors, and the server's CPU µs per request,
    split by process name (tender, passt, nginx)."""
    pids = server.pids()
    names = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/comm") as f:
                names[pid] = f.read().strip()
        except OSError:
            names[pid] = "?"
    before = {pid: cpu_ns([pid]) or 0 for pid in pids}
    text = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency",
                           f"http://127.0.0.1:{server.port}/"], capture_output=True, text=True,
                          timeout=seconds + 30).stdout
    report = parse_wrk(text)
    requests = report["requests"] or 0
    cpu = {}
    for pid in pids:
        name = "passt" if names[pid].startswith("passt") else names[pid]
        cpu[name] = cpu.get(name, 0) + ((cpu_ns([pid]) or 0) - before[pid]) / 1e3 / max(requests, 1)
    return {"rps": report["rps"], "p50": report["p50_us"], "p99": report["p99_us"], "errors": report["errors"],
            "cpu_us": cpu}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--warmup", type=int, default=1, help="seconds of wrk before each measured run")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds; medians are reported")
    parser.add_argument("--targets", default="hvt,spt")
    args = parser.parse_args()
    missing = [tool for tool in ("wrk", "nginx", "passt") if not any(
        os.access(os.path.join(folder, tool), os.X_OK) for folder in os.environ.get("PATH", "").split(":") + ["/usr/sbin"])]
    if missing or not os.access(CLI, os.X_OK):
        sys.exit(f"needs {', '.join(missing) or 'a release build'}"
                 + (" (apt-get install wrk nginx passt)" if missing else f" ({CLI}: swift build -c release)"))
    subprocess.run([CLI, "build", os.path.join(ROOT, "examples", "web")], check=True, capture_output=True, timeout=900)
    image = os.path.join(ROOT, "examples", "web", ".build", "swiftlet", "web.swiftlet")

    work = tempfile.mkdtemp(prefix="swiftlet-published-")
    os.makedirs(os.path.join(work, "tmp"))
    with open(os.path.join(ROOT, "examples", "web", "assets", "index.html"), "rb") as f:
        body = f.read()
    servers = []
    try:
        targets = [t for t in args.targets.split(",") if t and (t != "hvt" or kvm_usable())]
        for index, target in enumerate(targets):
            # A target's image is built for it on first use (spt links differently), before its port answers.
            server = Server(f"{target} -p", [CLI, "run", "--target", target, "-p", f"{BASE_PORT + index}:80",
                                             image, "--", "log=off"], BASE_PORT + index)
            servers.append(server)
            if (problem := server.wait_ready(600)):
                sys.exit(f"{server.name}: {problem}")
        nginx_port = BASE_PORT + 7
        with open(os.path.join(work, "nginx.conf"), "w") as f:
            f.write(nginx_http_config(work, "bench/published.py",
                                      f"    server {{ listen 127.0.0.1:{nginx_port}; location = / {{ "
                                      f"default_type text/html; return 200 {nginx_string(body)}; }} }}\n"))
        nginx = Server("nginx", ["nginx", "-p", work + "/", "-c", os.path.join(work, "nginx.conf"), "-e",
                                 os.path.join(work, "error.log")], nginx_port)
        servers.append(nginx)
        if (problem := nginx.wait_ready(10)):
            sys.exit(f"nginx: {problem}")

        results = {(s.name, c): [] for s in servers for c, _ in LOADS}
        load_before = os.getloadavg()[0]
        for round_index in range(args.rounds):
            for connections, threads in LOADS:
                order = servers if round_index % 2 == 0 else list(reversed(servers))
                for server in order:
                    run_wrk(server, connections, threads, args.warmup)
                    results[(server.name, connections)].append(run_wrk(server, connections, threads, args.duration))
        load_after = os.getloadavg()[0]

        def median(values):
            values = sorted(values)
            return values[len(values) // 2]

        print(f"\nexamples/web through `swiftlet run -p` vs nginx `return 200` on 127.0.0.1; wrk {args.duration:g} s, "
              f"{args.rounds} round(s), medians; load {load_before:.1f} -> {load_after:.1f}")
        for connections, threads in LOADS:
            print(f"\n{connections} connection{'s' if connections > 1 else ''}")
            print(f"{'server':<10}{'req/s':>10}{'p50 µs':>9}{'p99 µs':>9}{'errors':>8}{'/nginx':>8}   server CPU µs/request")
            nginx_rps = median([r["rps"] for r in results[("nginx", connections)]])
            for server in servers:
                runs = results[(server.name, connections)]
                rps = median([r["rps"] for r in runs])
                parts = sorted({name for r in runs for name in r["cpu_us"]})
                cpu = ", ".join(f"{name} {median([r['cpu_us'].get(name, 0) for r in runs]):.1f}" for name in parts)
                print(f"{server.name:<10}{rps:>10.0f}{fmt(median([r['p50'] for r in runs]), '.0f'):>9}"
                      f"{fmt(median([r['p99'] for r in runs]), '.0f'):>9}{sum(r['errors'] for r in runs):>8}"
                      f"{ratio(rps, nginx_rps):>8}   {cpu}")
        if any(r["errors"] for runs in results.values() for r in runs):
            sys.exit("requests failed (see errors above)")
    finally:
        for server in servers:
            server.stop()
        subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()
