#!/usr/bin/env python3
"""HTTP benchmark of examples/web (the Swiftlet web unikernel) on hvt, spt and virtio (QEMU
microvm with its virtio-net device, KVM where usable, else TCG) beside nginx (1 worker), all
measured by wrk from one network namespace in one run.

Path: wrk runs in the client namespace swweb-c-PID. Each guest sits on its own tap in that
namespace (hvt 10.214.1.2, spt 10.214.2.2, virtio 10.214.5.2 through `swiftlet run --target
virtio --net tap:tap5`, the extra 8 MiB hvt guest 10.214.4.2). nginx runs in
a second namespace, swweb-s-PID, behind a veth pair (10.214.3.1 <-> 10.214.3.2), the way
bench/network.py places its Linux peer. The guests get `ip=... gw=... log=off`.

Measured, per server and URL, with wrk at 1 connection (1 thread) and at 32 connections
(2 threads), each after a short warm-up, interleaved (every server at one load, then the next
load; odd rounds in reverse order):
  - Swiftlet hvt, spt and virtio: GET / (index.html from the embedded assets) and GET /api/status;
  - nginx, worker_processes 1: (a) `return 200 "<index.html>"` with the same content type,
    (b) static files from a copy of examples/web/assets (open_file_cache on unless
    --no-open-file-cache); both GET /.
req/s, p50 and p99 latency, errors (non-2xx/3xx, socket errors), the server's CPU (all its
threads/processes, from schedstat) and wrk's CPU. Then /api/status for each guest's heap
(memory_peak, memory_in_use), the processes' peak RSS, one extra hvt run with --mem 8M at
32 connections, and the size of `swiftlet build examples/web --strip`. Last, a new connection per
request (wrk -t1 -H "Connection: close", 1 connection and then 200 — a burst of new connections
that must never be reset — 3 s each) against each server, and whether a fresh connection is
still answered afterwards.

Needs root, iproute2, wrk and nginx (Debian: apt-get install wrk nginx); virtio needs
qemu-system-x86_64 (else it is skipped, and says so).

    python3 bench/web.py [--quick] [--duration 10] [--rounds 1] [--json] [--no-build] [--targets hvt,spt,virtio]
                         [--rings[=US]]

--rings gives the hvt guests (both) exitless network rings (bench/WEB.md, "Exitless rings").

--baseline-image PATH adds hvt and spt guests running another build of examples/web (10.214.6.2 and
10.214.7.2; GET / only), measured in the same interleaved rounds: an A/B of a guest change.

Target (issue 10): virtio GET / at 32 connections >= 0.7x hvt (ratios printed at the end).

--quick is 3 s per wrk run (default 10 s). Namespaces and processes are removed on the way out,
even on failure or Ctrl-C. Exit status 1 if a server failed, died, stopped answering or any
request errored (listed under PROBLEMS on stderr).
"""
import argparse, hashlib, json, os, resource, shutil, signal, socket, statistics, subprocess, sys, tempfile, threading, time

from benchlib import (IP, cpu_ns, exit_if_problems, fmt, ip, kvm_usable, log, nginx_http_config, nginx_string, parse_wrk, pinner,
                      proc_kib, ratio, terminate)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SELF = os.path.abspath(__file__)
LOADS = ((1, 1), (32, 2))  # (connections, wrk threads)
TARGETS = {"hvt": 1, "spt": 2, "virtio": 5}  # subnet 10.214.N.0/24
NGINX_SUBNET = 3
MEM8_SUBNET = 4
BASELINE_SUBNETS = {"hvt": 6, "spt": 7}  # --baseline-image: the same targets with another image


# ----------------------------------------------------------------------------------------------
# Probe (runs inside the client namespace; prints one JSON object)

def probe(spec):
    """One GET over a fresh connection; the status, headers and a digest of the body."""
    out = {"error": None}
    try:
        s = socket.create_connection((spec["address"], spec["port"]), timeout=3)
        s.settimeout(3)
        s.sendall(f"GET {spec['path']} HTTP/1.1\r\nHost: {spec['address']}\r\n\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                raise OSError("closed before the header ended")
            data += chunk
        head, body = data.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            chunk = s.recv(65536)
            if not chunk:
                raise OSError("closed before the body ended")
            body += chunk
        s.close()
        out.update(status=int(lines[0].split()[1]), status_line=lines[0], headers=headers,
                   header_bytes=len(head) + 4, body_bytes=len(body),
                   sha256=hashlib.sha256(body).hexdigest())
        if headers.get("content-type", "").startswith("application/json"):
            out["json"] = json.loads(body)
    except (OSError, ValueError, IndexError) as error:
        out["error"] = str(error)
    print(json.dumps(out))


# ----------------------------------------------------------------------------------------------
# Helpers (root, initial namespace)

def peak_rss_kib(pids):
    return sum(proc_kib(pid, "status", "VmHWM") or 0 for pid in pids) or None


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def missing_tools():
    missing = []
    if not shutil.which("wrk"):
        missing.append("wrk")
    if not (shutil.which("nginx") or os.path.exists("/usr/sbin/nginx")):
        missing.append("nginx")
    if not os.path.exists(IP):
        missing.append("iproute2")
    return missing


class Server:
    """A process serving HTTP (a tender, or nginx's master) and where wrk reaches it."""

    def __init__(self, name, label):
        self.name, self.label = name, label
        self.process = None
        self.output = []
        self.error = None
        self.pids = []
        self.ready = threading.Event()

    def start(self, argv, ready_text=None, cpus=None):
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                        preexec_fn=pinner(cpus))

        def pump():
            for line in self.process.stdout:
                self.output.append(line.rstrip())
                if ready_text and ready_text in line:
                    self.ready.set()
        threading.Thread(target=pump, daemon=True).start()
        self.pids = [self.process.pid]  # `ip netns exec` execs in place
        if ready_text:
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and not self.ready.is_set() and self.process.poll() is None:
                self.ready.wait(0.05)
            if not self.ready.is_set():
                self.error = f"did not come up: {' | '.join(self.output[-5:]) or 'no output'} (status {self.process.poll()})"
                return False
        return True

    def alive(self):
        return self.process is not None and self.process.poll() is None

    def died(self):
        if self.alive():
            return None
        status = self.process.returncode if self.process else None
        return f"{self.label} exited with status {status}: " + " | ".join(self.output[-12:])

    def stop(self):
        if terminate(self.process):
            for pid in self.pids[1:]:  # nginx's worker, which a killed master leaves behind
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass


def run_probe(namespace, address, port, path):
    argv = [IP, "netns", "exec", namespace, sys.executable, SELF, "--probe",
            json.dumps({"address": address, "port": port, "path": path})]
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=15)
        return json.loads(result.stdout.strip().splitlines()[-1])
    except (subprocess.TimeoutExpired, ValueError, IndexError) as error:
        return {"error": f"probe failed: {error}"}


# ----------------------------------------------------------------------------------------------
# wrk

def run_wrk(namespace, url, connections, threads, seconds, server, cpus, timeout_s, headers=()):
    argv = [IP, "netns", "exec", namespace, "wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s",
            "--latency", "--timeout", f"{timeout_s:g}s", *[a for h in headers for a in ("-H", h)], url]
    usage0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    ns0, wall0 = cpu_ns(server.pids) or 0, time.perf_counter()
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30, preexec_fn=pinner(cpus))
    except subprocess.TimeoutExpired:
        return {"error": f"wrk did not finish within {seconds + 30:g} s", "errors": 1, "rps": None}
    wall = time.perf_counter() - wall0
    ns1 = cpu_ns(server.pids) or 0
    usage1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = parse_wrk(result.stdout)
    out["raw"] = result.stdout
    out["error"] = None
    if result.returncode != 0 or out["rps"] is None:
        out["error"] = f"wrk status {result.returncode}: {(result.stderr or result.stdout).strip()[-300:]}"
        out["errors"] = out.get("errors", 0) + 1
    seconds_measured = out["seconds"] or wall
    out["server_cpu"] = (ns1 - ns0) / 1e9 / seconds_measured
    out["client_cpu"] = ((usage1.ru_utime + usage1.ru_stime) - (usage0.ru_utime + usage0.ru_stime)) / seconds_measured
    if out["requests"]:
        out["server_cpu_us_per_request"] = (ns1 - ns0) / 1e3 / out["requests"]
    return out


# ----------------------------------------------------------------------------------------------
# Build and nginx configuration

def build(args, work):
    repo = os.path.abspath(args.repo)
    scratch = os.path.join(repo, args.scratch_path)
    products = os.path.join(scratch, "release")
    if not args.no_build:
        log(f"building the CLI and tenders (swift build -c release --scratch-path {args.scratch_path}) ...")
        subprocess.run(["swift", "build", "-c", "release", "--scratch-path", scratch], cwd=repo, check=True,
                       stdout=subprocess.DEVNULL, timeout=1800)
    swiftlet = os.path.join(products, "swiftlet")
    images = {}
    for kind, extra in (("run", []), ("stripped", ["--strip"]), ("virtio", ["--target", "virtio"])):
        images[kind] = os.path.join(work, f"web-{kind}.{'virtio' if kind == 'virtio' else 'swiftlet'}")
        result = subprocess.run([swiftlet, "build", "examples/web", *extra, "-o", images[kind]], cwd=repo,
                                capture_output=True, text=True, timeout=900)
        if result.returncode != 0:
            raise RuntimeError(f"swiftlet build examples/web {' '.join(extra)} failed:\n{result.stdout}{result.stderr}")
    return products, images


def nginx_config(prefix, address, site, index_bytes, keepalive_requests, open_file_cache=False):
    return nginx_http_config(prefix, "bench/web.py", keepalive_requests=keepalive_requests, servers=f"""    sendfile on;
    types {{
        text/html html;
        text/css css;
        text/javascript js;
        image/png png;
        application/json json;
    }}
    default_type application/octet-stream;

    # (a) the page from memory
    server {{
        listen {address}:80;
        location / {{
            default_type "text/html; charset=utf-8";
            return 200 {nginx_string(index_bytes)};
        }}
    }}

    # (b) static files: a copy of examples/web/assets
    server {{
        listen {address}:8080;
        root {site};
        index index.html;
        charset utf-8;
        charset_types text/html text/css text/javascript application/json;
        etag on;
        open_file_cache {"max=64 inactive=60s" if open_file_cache else "off"};
    }}
""")


# ----------------------------------------------------------------------------------------------
# Orchestration

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 s per wrk run (default 10 s)")
    parser.add_argument("--duration", type=float, help="seconds per wrk run (default 10, --quick 3)")
    parser.add_argument("--warmup", type=float, help="seconds of warm-up per server/URL (default 2, --quick 1)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="repeat the interleaved runs; odd rounds go in reverse order; medians reported")
    parser.add_argument("--targets", default="hvt,spt,virtio")
    parser.add_argument("--no-mem8", action="store_true", help="skip the extra hvt run with --mem 8M")
    parser.add_argument("--rings", nargs="?", const="", metavar="US",
                        help="hvt: exitless rings (swiftlet-hvt --rings[=US], spin US µs before sleeping)")
    parser.add_argument("--close-seconds", type=float, default=3.0,
                        help="length of the new-connection-per-request runs (Connection: close) at the end; 0: skip")
    parser.add_argument("--close-connections", default="1,200",
                        help="wrk connections of the Connection: close runs (comma-separated)")
    parser.add_argument("--placement", choices=("same", "free", "split"), default="same",
                        help="same (default; steadiest): servers and wrk pinned to the last CPU; free: leave it to "
                             "the scheduler; split: servers on the last CPU, wrk on the others")
    parser.add_argument("--no-open-file-cache", dest="open_file_cache", action="store_false",
                        help="nginx static without open_file_cache (nginx's own default; by default the script "
                             "turns it on, the stronger baseline: no open/fstat per request)")
    parser.add_argument("--keepalive-requests", type=int, default=1_000_000,
                        help="nginx keepalive_requests (its default, 1000, makes wrk reconnect; the guest has no limit)")
    parser.add_argument("--wrk-timeout", type=float, default=2.0, help="wrk --timeout: slower replies count as errors")
    parser.add_argument("--json", action="store_true", help="print the results as JSON on stdout (progress on stderr)")
    parser.add_argument("--repo", default=ROOT, help="Swiftlet checkout (examples/web, sources to build)")
    parser.add_argument("--scratch-path", default=".build-bench", help="swift build scratch folder, relative to --repo")
    parser.add_argument("--no-build", action="store_true", help="use the existing build in --scratch-path")
    parser.add_argument("--baseline-image", help="also serve GET / from this image of examples/web (built by another "
                        "checkout) on hvt and spt, interleaved with the rest: an A/B of a change to the guest")
    parser.add_argument("--budget", type=float, default=1800, help="give up (and clean up) after this many seconds")
    parser.add_argument("--verbose", action="store_true", help="print wrk's own output and the servers' logs")
    parser.add_argument("--probe", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        return probe(json.loads(args.probe))

    missing = missing_tools()
    if missing:
        packages = " ".join(m for m in missing)
        sys.exit(f"web.py needs {', '.join(missing)}: install with `apt-get install {packages}` (Debian)")
    if os.geteuid() != 0:
        sys.exit("web.py needs root (it creates network namespaces and taps)")
    duration = args.duration or (3.0 if args.quick else 10.0)
    warmup = args.warmup if args.warmup is not None else (1.0 if args.quick else 2.0)
    started = time.monotonic()

    cpus = sorted(os.sched_getaffinity(0))
    if args.placement == "split" and len(cpus) < 2:
        sys.exit("--placement split needs two CPUs")
    client_cpus, server_cpus = {
        "free": (None, None),
        "split": (set(cpus[:-1]), {cpus[-1]}),
        "same": ({cpus[-1]}, {cpus[-1]})}[args.placement]

    def on_signal(number, _frame):
        raise SystemExit(f"stopped by signal {number}")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    signal.signal(signal.SIGALRM, lambda *_: (_ for _ in ()).throw(SystemExit(f"over the {args.budget:g} s budget")))
    signal.alarm(int(args.budget))

    work = tempfile.mkdtemp(prefix="swiftlet-webbench-")
    os.chmod(work, 0o755)  # nginx's worker runs as nobody and reads the site from here
    tag = os.getpid()
    client_ns, server_ns = f"swweb-c-{tag}", f"swweb-s-{tag}"
    namespaces, servers = [], []
    report = {"config": {"duration_s": duration, "warmup_s": warmup, "rounds": args.rounds,
                         "placement": args.placement, "cpus": len(cpus),
                         "loads": [{"connections": c, "threads": t} for c, t in LOADS],
                         "nginx_keepalive_requests": args.keepalive_requests,
                         "nginx_open_file_cache": args.open_file_cache,
                         "wrk_timeout_s": args.wrk_timeout,
                         "hvt_rings": None if args.rings is None else (args.rings or "default spin")},
              "problems": [], "skipped": {}}
    problems = report["problems"]
    try:
        products, images = build(args, work)
        report["image"] = {"stripped_bytes": os.path.getsize(images["stripped"]),
                           "unstripped_bytes": os.path.getsize(images["run"])}
        index_path = os.path.join(args.repo, "examples", "web", "assets", "index.html")
        with open(index_path, "rb") as f:
            index_bytes = f.read()
        index_sha = hashlib.sha256(index_bytes).hexdigest()

        # Namespaces: the client's, with a tap per guest and one end of the veth; nginx's.
        ip("netns", "add", client_ns); namespaces.append(client_ns)
        ip("netns", "add", server_ns); namespaces.append(server_ns)
        ip("-n", client_ns, "link", "set", "lo", "up")
        ip("-n", server_ns, "link", "set", "lo", "up")
        for subnet in [TARGETS[t] for t in TARGETS] + [MEM8_SUBNET] + list(BASELINE_SUBNETS.values()):
            tap = f"tap{subnet}"
            ip("-n", client_ns, "tuntap", "add", tap, "mode", "tap")
            ip("-n", client_ns, "addr", "add", f"10.214.{subnet}.1/24", "dev", tap)
            ip("-n", client_ns, "link", "set", tap, "up")
        ip("-n", client_ns, "link", "add", "veth0", "type", "veth", "peer", "name", "veth1", "netns", server_ns)
        for ns, dev, address in ((client_ns, "veth0", f"10.214.{NGINX_SUBNET}.1"),
                                 (server_ns, "veth1", f"10.214.{NGINX_SUBNET}.2")):
            ip("-n", ns, "addr", "add", f"{address}/24", "dev", dev)
            ip("-n", ns, "link", "set", dev, "up")

        def start_guest(name, target, subnet, mem=None, image=None):
            server = Server(name, f"{target} guest" + (f" --mem {mem}" if mem else ""))
            # virtio: the CLI runs QEMU (its child, which does the work: counted in the server's CPU).
            runner = [os.path.join(products, "swiftlet"), "run", "--target", "virtio"] if target == "virtio" \
                else [os.path.join(products, f"swiftlet-{target}")]
            rings = [] if target != "hvt" or args.rings is None else [f"--rings={args.rings}" if args.rings else "--rings"]
            argv = [IP, "netns", "exec", client_ns, *runner,
                    *(["--mem", mem] if mem else []), *rings, "--net", f"tap:tap{subnet}",
                    image or images["virtio" if target == "virtio" else "run"], "--",
                    f"ip=10.214.{subnet}.2/24", f"gw=10.214.{subnet}.1", "log=off"]
            servers.append(server)
            if not server.start(argv, "web: serving", server_cpus):
                return None
            server.address = f"10.214.{subnet}.2"
            if target == "virtio":
                server.pids = [server.process.pid] + children(server.process.pid)
            return server

        # Tests: (key, label, server, url, port, path)
        tests = []
        guests = {}
        wanted = [t for t in args.targets.split(",") if t]
        for target in wanted:
            if target not in TARGETS:
                sys.exit(f"unknown target {target}")
            if target == "hvt" and not kvm_usable():
                report["skipped"]["hvt"] = "no usable /dev/kvm"
                continue
            if target == "virtio":
                if not shutil.which("qemu-system-x86_64"):
                    report["skipped"]["virtio"] = "qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)"
                    continue
                report["config"]["virtio_accel"] = "kvm" if kvm_usable() else "tcg"
            server = start_guest(target, target, TARGETS[target])
            if server is None:
                problems.append(f"{target} guest: {servers[-1].error}")
                continue
            guests[target] = server
            tests.append((f"{target}", f"{target} GET /", server, 80, "/"))
            tests.append((f"{target}-status", f"{target} GET /api/status", server, 80, "/api/status"))
            if args.baseline_image and target in BASELINE_SUBNETS:
                baseline = start_guest(f"{target}-baseline", target, BASELINE_SUBNETS[target],
                                       image=os.path.abspath(args.baseline_image))
                if baseline is None:
                    problems.append(f"{target} baseline guest: {servers[-1].error}")
                else:
                    tests.append((f"{target}-baseline", f"{target} baseline GET /", baseline, 80, "/"))

        prefix = os.path.join(work, "nginx")
        site = os.path.join(prefix, "site")
        os.makedirs(os.path.join(prefix, "tmp"))
        shutil.copytree(os.path.join(args.repo, "examples", "web", "assets"), site)
        for folder, dirs, files in os.walk(prefix):
            os.chmod(folder, 0o755)
            for name in files:
                os.chmod(os.path.join(folder, name), 0o644)
        nginx_address = f"10.214.{NGINX_SUBNET}.2"
        with open(os.path.join(prefix, "nginx.conf"), "w") as f:
            f.write(nginx_config(prefix, nginx_address, site, index_bytes, args.keepalive_requests,
                                 args.open_file_cache))
        nginx_bin = shutil.which("nginx") or "/usr/sbin/nginx"
        version = subprocess.run([nginx_bin, "-v"], capture_output=True, text=True, timeout=10).stderr.strip()
        report["config"]["nginx_version"] = version.split("/", 1)[-1]
        nginx = Server("nginx", "nginx")
        servers.append(nginx)
        nginx.start([IP, "netns", "exec", server_ns, nginx_bin, "-p", prefix + "/", "-c",
                     os.path.join(prefix, "nginx.conf"), "-e", os.path.join(prefix, "error.log")], None, server_cpus)
        nginx.address = nginx_address
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and nginx.alive():
            if run_probe(client_ns, nginx_address, 80, "/").get("status") == 200:
                break
            time.sleep(0.1)
        if not nginx.alive():
            raise RuntimeError(f"nginx did not start: {' | '.join(nginx.output[-5:])}")
        nginx.pids = [nginx.process.pid] + children(nginx.process.pid)
        tests.append(("nginx-return", "nginx return 200", nginx, 80, "/"))
        tests.append(("nginx-static", "nginx static", nginx, 8080, "/"))

        # What each one answers: same body for GET /, and the header sizes.
        report["responses"] = {}
        for key, label, server, port, path in tests:
            answer = run_probe(client_ns, server.address, port, path)
            report["responses"][key] = {k: answer.get(k) for k in ("status", "header_bytes", "body_bytes", "headers", "error")}
            if answer.get("error") or answer.get("status") != 200:
                problems.append(f"{label}: probe got {answer.get('status_line') or answer.get('error')}")
            elif path == "/" and answer.get("sha256") != index_sha:
                problems.append(f"{label}: GET / body differs from assets/index.html ({answer.get('body_bytes')} bytes)")
        for target, server in guests.items():
            answer = run_probe(client_ns, server.address, 80, "/api/status")
            report.setdefault("memory", {})[target] = {"after_boot": answer.get("json")}

        # Warm-up, then the interleaved runs.
        log(f"warm-up: {warmup:g} s per server and URL at 32 connections")
        for key, label, server, port, path in tests:
            if server.alive():
                run_wrk(client_ns, f"http://{server.address}:{port}{path}", 32, 2, warmup, server, client_cpus,
                        args.wrk_timeout)
        runs = {key: {c: [] for c, _ in LOADS} for key, *_ in tests}
        for round_index in range(args.rounds):
            order = tests if round_index % 2 == 0 else list(reversed(tests))
            for connections, threads in LOADS:
                for key, label, server, port, path in order:
                    if not server.alive():
                        continue
                    log(f"round {round_index + 1}/{args.rounds}: {label}, {connections} connection(s), {duration:g} s")
                    result = run_wrk(client_ns, f"http://{server.address}:{port}{path}", connections, threads,
                                     duration, server, client_cpus, args.wrk_timeout)
                    runs[key][connections].append(result)
                    if args.verbose:
                        log(result.get("raw", ""))
                    if result.get("errors"):
                        problems.append(f"{label} at {connections} connection(s), round {round_index + 1}: "
                                        + describe_errors(result))
                    death = server.died()
                    if death:
                        problems.append(f"{label} at {connections} connection(s): SERVER DIED: {death}")

        # After the load: each guest's heap, each process's peak RSS.
        for target, server in guests.items():
            entry = report.setdefault("memory", {}).setdefault(target, {})
            if server.alive():
                answer = run_probe(client_ns, server.address, 80, "/api/status")
                entry["after_load"] = answer.get("json")
                if answer.get("error"):
                    problems.append(f"{target} /api/status after the load: {answer['error']}")
            entry["tender_peak_rss_kib"] = peak_rss_kib(server.pids)
        report.setdefault("memory", {})["nginx"] = {"peak_rss_kib": peak_rss_kib(nginx.pids),
                                                    "processes": len(nginx.pids)}

        # A new connection per request (wrk -H "Connection: close", 1 connection), last: a guest
        # that runs out of connection slots here may stay unreachable for a while.
        if args.close_seconds > 0:
            report["close"] = {}
            for connections in [int(c) for c in args.close_connections.split(",") if c]:
                runs_at = report["close"].setdefault(str(connections), {})
                for key, label, server, port, path in tests:
                    if path != "/" or not server.alive():
                        continue
                    log(f"{label}: Connection: close, {connections} connection(s), {args.close_seconds:g} s")
                    result = run_wrk(client_ns, f"http://{server.address}:{port}{path}", connections, 1,
                                     args.close_seconds, server, client_cpus, args.wrk_timeout,
                                     headers=("Connection: close",))
                    after = run_probe(client_ns, server.address, port, path)
                    entry = strip_raw(result)
                    entry["reachable_after"] = after.get("status") == 200
                    entry["probe_after"] = after.get("status_line") or after.get("error")
                    runs_at[key] = entry
                    if result.get("errors"):
                        problems.append(f"{label}, Connection: close at {connections}: " + describe_errors(result))
                    if not entry["reachable_after"]:
                        problems.append(f"{label}: after {result.get('requests')} requests with Connection: close "
                                        f"({fmt(result.get('rps'), '.0f')} req/s), a new connection gets no answer "
                                        f"({entry['probe_after']})")
                    death = server.died()
                    if death:
                        problems.append(f"{label}, Connection: close: SERVER DIED: {death}")

        # One more hvt guest, with 8 MiB, at 32 connections.
        if not args.no_mem8 and "hvt" in guests:
            for server in list(guests.values()) + [nginx]:
                server.stop()  # out of the way: the 8 MiB guest has the machine to itself, like the others did
            log(f"hvt --mem 8M: GET / at 32 connections, {duration:g} s")
            small = start_guest("hvt-8m", "hvt", MEM8_SUBNET, mem="8M")
            entry = {"completed": False}
            if small is None:
                entry["error"] = servers[-1].error
                problems.append(f"hvt --mem 8M: {servers[-1].error}")
            else:
                run_wrk(client_ns, f"http://{small.address}/", 32, 2, warmup, small, client_cpus, args.wrk_timeout)
                result = run_wrk(client_ns, f"http://{small.address}/", 32, 2, duration, small, client_cpus,
                                 args.wrk_timeout)
                status = run_probe(client_ns, small.address, 80, "/api/status") if small.alive() else {}
                death = small.died()
                entry.update(run=strip_raw(result), status=status.get("json"), died=death,
                             tender_peak_rss_kib=peak_rss_kib(small.pids))
                entry["completed"] = bool(result.get("rps")) and not result.get("errors") and not death \
                    and status.get("status") == 200
                if result.get("errors"):
                    problems.append("hvt --mem 8M at 32 connections: " + describe_errors(result))
                if death:
                    problems.append(f"hvt --mem 8M: SERVER DIED: {death}")
            report["mem8"] = entry

        report["results"] = {}
        for key, label, server, port, path in tests:
            report["results"][key] = {"label": label, "url_path": path}
            for connections, threads in LOADS:
                report["results"][key][f"c{connections}"] = combine(runs[key][connections])
        report["seconds"] = time.monotonic() - started
        if args.json:
            print(json.dumps(report, indent=2))
        else:
            print_report(report, duration)
        if args.verbose:
            for server in servers:
                log(f"--- {server.label} output:\n" + "\n".join(server.output[-40:]))
    finally:
        signal.alarm(0)
        for server in servers:
            server.stop()
        for ns in namespaces:
            ip("netns", "del", ns, check=False)
        shutil.rmtree(work, ignore_errors=True)
    exit_if_problems(problems)


def describe_errors(result):
    if result.get("error"):
        return result["error"]
    s = result.get("socket_errors", {})
    return (f"{result.get('errors')} errors: non-2xx/3xx {result.get('non2xx')}, socket connect {s.get('connect')}, "
            f"read {s.get('read')}, write {s.get('write')}, timeout {s.get('timeout')}")


def strip_raw(result):
    return {k: v for k, v in result.items() if k != "raw"}


def combine(results):
    """Medians over rounds (one round: that run), errors summed; the runs themselves kept."""
    if not results:
        return None
    def median(key):
        values = [r[key] for r in results if r.get(key) is not None]
        return statistics.median(values) if values else None
    keys = ("rps", "p50_us", "p90_us", "p99_us", "max_us", "server_cpu", "client_cpu", "server_cpu_us_per_request")
    out = {k: median(k) for k in keys}
    out["errors"] = sum(r.get("errors") or 0 for r in results)
    out["rps_runs"] = [r.get("rps") for r in results]
    out["runs"] = [strip_raw(r) for r in results]
    return out


# ----------------------------------------------------------------------------------------------
# Report

def fmt_us(us):
    if us is None:
        return "—"
    return f"{us:.0f}µs" if us < 1000 else f"{us / 1000:.2f}ms"


def size(n):
    return "—" if n is None else (f"{n / 1048576:.2f} MiB" if n >= 1048576 else f"{n / 1024:.0f} KiB")


def print_report(report, duration):
    config, results = report["config"], report["results"]
    print()
    print(f"examples/web vs nginx {config.get('nginx_version', '')} (1 worker); wrk {duration:g} s per run "
          f"after a {config['warmup_s']:g} s warm-up, {config['rounds']} round(s), placement {config['placement']}, "
          f"{config['cpus']} CPUs" + (f"; hvt with rings ({config['hvt_rings']})" if config.get("hvt_rings") else ""))
    print("wrk in the client namespace; guests on a tap each there; nginx behind a veth pair in a second namespace")
    ret = results.get("nginx-return", {})
    stat = results.get("nginx-static", {})
    for connections, threads in LOADS:
        key = f"c{connections}"
        print()
        print(f"{connections} connection{'s' if connections > 1 else ''} ({threads} wrk thread{'s' if threads > 1 else ''})")
        header = (f"{'server':<22}{'req/s':>10}{'p50':>10}{'p99':>10}{'errors':>8}{'srv CPU':>9}{'µs/req':>8}"
                  f"{'wrk CPU':>9}{'/nginx ret':>12}{'/nginx static':>15}")
        print(header)
        print("-" * len(header))
        for name, entry in results.items():
            r = entry.get(key)
            if not r:
                continue
            mark = "  !!" if r["errors"] else ""
            guest = not name.startswith("nginx")
            print(f"{entry['label']:<22}{fmt(r['rps'], ',.0f'):>10}{fmt_us(r['p50_us']):>10}{fmt_us(r['p99_us']):>10}"
                  f"{r['errors']:>8}{fmt(None if r['server_cpu'] is None else r['server_cpu'] * 100, '.0f') + '%':>9}"
                  f"{fmt(r['server_cpu_us_per_request'], '.1f'):>8}"
                  f"{fmt(None if r['client_cpu'] is None else r['client_cpu'] * 100, '.0f') + '%':>9}"
                  f"{ratio(r['rps'], (ret.get(key) or {}).get('rps')) if guest else '':>12}"
                  f"{ratio(r['rps'], (stat.get(key) or {}).get('rps')) if guest else '':>15}{mark}")
            if len(r["rps_runs"]) > 1:
                print(f"{'':<22}  rounds: " + ", ".join(fmt(x, ',.0f') for x in r["rps_runs"]))

    print()
    print("responses to GET / (header bytes + body bytes):")
    for name, answer in report.get("responses", {}).items():
        if answer.get("status"):
            print(f"  {results[name]['label']:<22} {answer['status']}  {answer['header_bytes']} + {answer['body_bytes']} B"
                  f"  {answer['headers'].get('content-type', '')}")

    print()
    print("memory:")
    for target, entry in report.get("memory", {}).items():
        if target == "nginx":
            print(f"  nginx: peak RSS {size((entry.get('peak_rss_kib') or 0) * 1024)} "
                  f"(master + worker, VmHWM summed)")
            continue
        after = entry.get("after_load") or {}
        boot = entry.get("after_boot") or {}
        if not after:
            print(f"  {target} guest: no /api/status after the load")
            continue
        print(f"  {target} guest heap (/api/status after the load): memory_peak {size(after.get('memory_peak'))}, "
              f"memory_in_use {size(after.get('memory_in_use'))} (after boot {size(boot.get('memory_in_use'))}), "
              f"{after.get('requests')} requests served; tender peak RSS "
              f"{size((entry.get('tender_peak_rss_kib') or 0) * 1024)}")
    mem8 = report.get("mem8")
    if mem8:
        run = mem8.get("run") or {}
        status = mem8.get("status") or {}
        print(f"  hvt --mem 8M, GET / at 32 connections: {'COMPLETED without errors' if mem8['completed'] else 'FAILED'}"
              f" — {fmt(run.get('rps'), ',.0f')} req/s, p99 {fmt_us(run.get('p99_us'))}, errors {run.get('errors', '—')},"
              f" memory_peak {size(status.get('memory_peak'))}, memory_free {size(status.get('memory_free'))}")

    for connections, close in (report.get("close") or {}).items():
        print()
        print(f"new connection per request (wrk -t1 -c{connections} -H 'Connection: close'), after the runs above:")
        for name, r in close.items():
            print(f"  {results[name]['label']:<22}{fmt(r.get('rps'), ',.0f'):>10} req/s  {r.get('requests')} requests, "
                  f"errors {r.get('errors')} {r.get('socket_errors')}, p99 {fmt_us(r.get('p99_us'))}; "
                  f"a fresh GET afterwards: "
                  f"{'answered' if r.get('reachable_after') else 'NO ANSWER (' + str(r.get('probe_after')) + ')'}")

    image = report.get("image", {})
    print()
    print(f"image: swiftlet build examples/web --strip: {image.get('stripped_bytes'):,} B = "
          f"{image.get('stripped_bytes', 0) / 1024:.0f} KiB ({image.get('stripped_bytes', 0) / 1000:.0f} kB); "
          f"unstripped {image.get('unstripped_bytes', 0) / 1024:.0f} KiB (same loaded segments; the runs use it "
          f"so a crash report names functions)")

    print()
    print("targets (issues 4 and 10):")
    hvt32 = ((results.get("hvt") or {}).get("c32") or {}).get("rps")
    virtio32 = ((results.get("virtio") or {}).get("c32") or {}).get("rps")
    if hvt32 and virtio32:
        x = virtio32 / hvt32
        print(f"  virtio ({report['config'].get('virtio_accel')}) GET / at 32 connections vs hvt: {x:.2f}x  "
              f"{'met' if x >= 0.7 else 'NOT met'} (>= 0.7x)")
    for target in ("hvt", "spt"):
        r32 = (results.get(target) or {}).get("c32")
        if not r32:
            continue
        for peer, label in ((ret, "return 200"), (stat, "static")):
            base = (peer.get("c32") or {}).get("rps")
            if r32["rps"] and base:
                x = r32["rps"] / base
                print(f"  {target} GET / at 32 connections vs nginx {label}: {x:.2f}x  "
                      f"{'met' if x >= 1.0 else 'NOT met'} (>= 1.0x)")
    if image.get("stripped_bytes"):
        kib = image["stripped_bytes"] / 1024
        print(f"  stripped image {kib:.0f} KiB: {'met' if kib <= 400 else 'NOT met'} (<= 400 KB)")
    if mem8:
        peak = (mem8.get("status") or {}).get("memory_peak")
        print(f"  serves in 8 MiB (hvt --mem 8M, 32 connections): {'met' if mem8['completed'] else 'NOT met'}"
              + (f"; heap peak {size(peak)}" if peak else ""))
    for name, reason in report.get("skipped", {}).items():
        print(f"{name}: SKIPPED ({reason})")
    print(f"\n(run took {report.get('seconds', 0):.0f} s)")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("interrupted (namespaces and processes cleaned up)")
