#!/usr/bin/env python3
"""Network numbers of examples/echo (TCP and UDP echo, port 7) on hvt and on spt, each guest on
its own tap in its own network namespace, beside a Linux peer: two namespaces joined by a veth
pair, a small Python echo server (same protocol) on one side. The same Python client runs inside
each namespace against each server and measures

  - TCP echo throughput: send N MB, count the echoed bytes; bytes round-tripped per second
    (the guest cannot discard, so every peer is measured echoing, for a fair comparison);
  - TCP and UDP request/response: one 64-byte message, wait for the reply, repeat for S seconds;
    transactions/s and p50/p99 latency;
  - ping: ICMP echo round trips as the system's ping reports them (500, 10 ms apart), p50/p99;
  - the CPU the server used during each test (tender or Python server, all its threads), and
    the client's own CPU (a Python client near 100% is the limit, not the server);
  - idle CPU of each tender: guest up and listening, 5 s without traffic, utime+stime from
    /proc/PID/stat (and the ns-precise sum of /proc/PID/task/*/schedstat) as % of one core.

Needs root and iproute2. Everything runs in namespaces named swnb-*-PID that this script
creates and deletes on the way out (even on failure or Ctrl-C); no other address is touched.

    python3 bench/network.py [--quick] [--mb 64] [--seconds 5] [--no-build] [--repo DIR]

--quick is 8 MB, 2 s per test and 100 pings (under a minute); the default is 64 MB, 5 s and 500.
The script runs itself inside the namespaces as the client (--client) and the Linux server
(--serve); those modes are internal.
"""
import argparse, json, os, resource, signal, socket, statistics, struct, subprocess, sys, tempfile, threading, time

from benchlib import IP, cpu_ns, fmt, ip, kvm_usable, pinner, ratio, terminate

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SELF = os.path.abspath(__file__)
PORT = 7
MESSAGE = 64
CHUNK = 1 << 16
CLK_TCK = os.sysconf("SC_CLK_TCK")


def own_cpu():
    """This process's user+system CPU seconds, µs resolution (os.times() has 10 ms ticks)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# ----------------------------------------------------------------------------------------------
# Client (runs inside a namespace; prints one JSON object)

def ss_snapshot(address):
    """`ss -tin` for our connection, taken mid-transfer: rtt, cwnd, the peer's window."""
    try:
        return subprocess.run(["ss", "-tinH", "dst", address], capture_output=True, text=True, timeout=3).stdout.strip()
    except Exception as error:  # diagnostics only
        return f"(ss failed: {error})"


def client_bulk(address, total, timeout, quickack=False):
    s = socket.create_connection((address, PORT), timeout=5)
    quick = quickack and hasattr(socket, "TCP_QUICKACK")
    s.settimeout(None)
    payload = bytes(range(256)) * (CHUNK // 256)
    state = {"received": 0, "snapshot": "", "error": None}
    deadline = time.monotonic() + timeout

    def reader():
        s_half = total // 2
        try:
            while state["received"] < total and time.monotonic() < deadline:
                chunk = s.recv(CHUNK)
                if not chunk:
                    break
                if quick:  # Linux leaves quick-ACK mode on its own; re-arm after every read
                    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
                before = state["received"]
                state["received"] += len(chunk)
                if before < s_half <= state["received"]:
                    state["snapshot"] = ss_snapshot(address)
        except OSError as error:
            state["error"] = str(error)

    start = time.perf_counter()
    cpu0 = own_cpu()
    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    sent = 0
    try:
        s.settimeout(max(1.0, timeout))
        while sent < total and time.monotonic() < deadline:
            n = min(CHUNK, total - sent)
            s.sendall(payload[:n])
            sent += n
    except OSError as error:
        state["error"] = f"send: {error}"
    thread.join(max(0.0, deadline - time.monotonic()) + 1)
    elapsed = time.perf_counter() - start
    cpu1 = own_cpu()
    received = state["received"]
    try:
        s.close()
    except OSError:
        pass
    return {"bytes": received, "sent": sent, "total": total, "seconds": elapsed,
            "complete": received == total, "error": state["error"], "ss": state["snapshot"],
            "client_cpu": (cpu1 - cpu0) / elapsed}


def summarize(latencies_ns, elapsed, extra):
    latencies_ns.sort()
    def pct(p):
        if not latencies_ns:
            return None
        return latencies_ns[min(len(latencies_ns) - 1, int(p * len(latencies_ns)))] / 1000.0
    result = {"count": len(latencies_ns), "seconds": elapsed,
              "rate": len(latencies_ns) / elapsed if elapsed > 0 else 0.0,
              "p50_us": pct(0.50), "p99_us": pct(0.99),
              "max_us": latencies_ns[-1] / 1000.0 if latencies_ns else None}
    result.update(extra)
    return result


def client_tcp_rr(address, seconds, limit):
    s = socket.create_connection((address, PORT), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.settimeout(2.0)
    message = b"x" * MESSAGE
    latencies = []
    error = None
    clock = time.perf_counter_ns
    cpu0 = own_cpu()
    start = clock()
    end = start + int(seconds * 1e9)
    try:
        while len(latencies) < limit:
            t0 = clock()
            if t0 >= end:
                break
            s.sendall(message)
            got = 0
            while got < MESSAGE:
                chunk = s.recv(MESSAGE - got)
                if not chunk:
                    raise OSError("server closed")
                got += len(chunk)
            latencies.append(clock() - t0)
    except OSError as e:
        error = str(e)
    elapsed = (clock() - start) / 1e9
    cpu1 = own_cpu()
    s.close()
    return summarize(latencies, elapsed, {"error": error,
                     "client_cpu": (cpu1 - cpu0) / elapsed})


def client_udp_rr(address, seconds, limit):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect((address, PORT))
    s.settimeout(0.2)
    latencies = []
    lost = 0
    clock = time.perf_counter_ns
    cpu0 = own_cpu()
    start = clock()
    end = start + int(seconds * 1e9)
    sequence = 0
    while len(latencies) < limit and lost < 50:
        t0 = clock()
        if t0 >= end:
            break
        sequence += 1
        message = struct.pack("!Q", sequence) + b"u" * (MESSAGE - 8)
        s.send(message)
        try:
            while True:  # skip late replies to earlier (timed-out) requests
                reply = s.recv(2048)
                if reply[:8] == message[:8]:
                    break
        except socket.timeout:
            lost += 1
            continue
        latencies.append(clock() - t0)
    elapsed = (clock() - start) / 1e9
    cpu1 = own_cpu()
    s.close()
    return summarize(latencies, elapsed, {"lost": lost, "error": "50 datagrams lost" if lost >= 50 else None,
                     "client_cpu": (cpu1 - cpu0) / elapsed})


def client_ping(address, count):
    """ICMP echo with the system's ping, 10 ms apart (root may go below 200 ms): the RTT that
    ping itself reports for each reply, which includes the client kernel's path both ways."""
    cpu0 = own_cpu()
    started = time.perf_counter()
    result = subprocess.run(["ping", "-n", "-c", str(count), "-i", "0.01", "-W", "1", address],
                            capture_output=True, text=True, timeout=count * 0.05 + 10)
    elapsed = time.perf_counter() - started
    latencies = [int(float(word[5:]) * 1e6) for line in result.stdout.splitlines()
                 for word in line.split() if word.startswith("time=")]
    return summarize(latencies, elapsed, {"lost": count - len(latencies),
                     "error": None if latencies else f"ping: {result.stdout.strip()[-200:]} {result.stderr.strip()}",
                     "client_cpu": 0.0 if elapsed <= 0 else (own_cpu() - cpu0) / elapsed})


def run_client(spec):
    kind = spec["kind"]
    try:
        if kind == "bulk":
            result = client_bulk(spec["address"], spec["bytes"], spec["timeout"], spec.get("quickack", False))
        elif kind == "ping":
            result = client_ping(spec["address"], spec["count"])
        elif kind == "tcp_rr":
            result = client_tcp_rr(spec["address"], spec["seconds"], spec["limit"])
        else:
            result = client_udp_rr(spec["address"], spec["seconds"], spec["limit"])
    except OSError as error:
        result = {"error": str(error)}
    print(json.dumps(result))


# ----------------------------------------------------------------------------------------------
# Linux echo server (runs inside the server namespace): TCP and UDP on port 7, RFC 862

def serve(address):
    """One thread, one event loop, like the guest (and so its CPU time is one thread's)."""
    import selectors
    selector = selectors.DefaultSelector()
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind((address, PORT))
    udp.setblocking(False)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((address, PORT))
    listener.listen(16)
    listener.setblocking(False)
    selector.register(udp, selectors.EVENT_READ, "udp")
    selector.register(listener, selectors.EVENT_READ, "listen")
    pending = {}  # connection -> bytes read but not yet written back

    def pump(connection):
        """Read when nothing is pending, write what is pending; like EchoSession.pump."""
        try:
            if not pending[connection]:
                data = connection.recv(CHUNK)
                if not data:
                    raise ConnectionError
                pending[connection] = data
            sent = connection.send(pending[connection])
            pending[connection] = pending[connection][sent:]
        except BlockingIOError:
            pass
        except (ConnectionError, OSError):
            selector.unregister(connection)
            del pending[connection]
            connection.close()
            return
        selector.modify(connection, selectors.EVENT_WRITE if pending[connection] else selectors.EVENT_READ, "tcp")

    print(f"serve: listening on {address} port {PORT} (tcp, udp)", flush=True)
    while True:
        for key, _ in selector.select():
            if key.data == "udp":
                for _ in range(64):
                    try:
                        data, peer = udp.recvfrom(65536)
                    except BlockingIOError:
                        break
                    udp.sendto(data, peer)
            elif key.data == "listen":
                try:
                    connection, _ = listener.accept()
                except BlockingIOError:
                    continue
                connection.setblocking(False)
                pending[connection] = b""
                selector.register(connection, selectors.EVENT_READ, "tcp")
            else:
                pump(key.fileobj)


# ----------------------------------------------------------------------------------------------
# Orchestration (runs as root in the initial namespace)

def cpu_ticks(pid):
    """utime+stime of the whole process (all threads), in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5), counted after ")"


class Peer:
    """A server in its own namespace and the namespace the client runs in."""

    def __init__(self, name, label, client_ns, server_address):
        self.name, self.label = name, label
        self.client_ns = client_ns
        self.address = server_address
        self.process = None
        self.output = []
        self.error = None
        self.tap = None  # the host-side tap (hvt, spt) for drop counters
        self.client_cpus = self.server_cpus = None

    def start(self, argv, ready_text, timeout=15):
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                        preexec_fn=pinner(self.server_cpus))
        ready = threading.Event()

        def pump():
            for line in self.process.stdout:
                self.output.append(line.rstrip())
                if ready_text in line:
                    ready.set()
        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not ready.is_set() and self.process.poll() is None:
            ready.wait(0.05)
        if not ready.is_set():
            self.error = f"did not come up: {' | '.join(self.output[-5:]) or 'no output'} (status {self.process.poll()})"
            return False
        # `ip netns exec` execs the command in place, so this pid is the tender/server itself.
        self.pid = self.process.pid
        return True

    def stop(self):
        terminate(self.process)

    def client(self, spec, timeout):
        argv = [IP, "netns", "exec", self.client_ns, sys.executable, SELF, "--client", json.dumps(spec)]
        wall0, cpu0, ns0 = time.perf_counter(), cpu_ticks(self.pid), cpu_ns([self.pid])
        try:
            result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                                    preexec_fn=pinner(self.client_cpus))
        except subprocess.TimeoutExpired:
            return {"error": f"client timed out after {timeout} s"}
        wall = time.perf_counter() - wall0
        ticks, ns1 = cpu_ticks(self.pid) - cpu0, cpu_ns([self.pid])
        try:
            outcome = json.loads(result.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            return {"error": f"client failed: {result.stderr.strip()[-300:]}"}
        # Server CPU over the client's whole run (so it includes ~50 ms of the client's start-up,
        # idle), per second of the measured part. Every server keeps its threads for its life
        # (the Python server is single-threaded), so the ns-precise schedstat sum is complete.
        seconds = outcome.get("seconds") or wall
        if ns0 is not None and ns1 is not None:
            outcome["server_cpu"] = (ns1 - ns0) / 1e9 / seconds
        else:
            outcome["server_cpu"] = ticks / CLK_TCK / seconds
        return outcome

    def tap_counters(self):
        if not self.tap:
            return None
        stats = json.loads(ip("-n", self.client_ns, "-s", "-j", "link", "show", self.tap).stdout)[0]["stats64"]
        return {"tx_dropped": stats["tx"]["dropped"], "rx_dropped": stats["rx"]["dropped"],
                "tx_packets": stats["tx"]["packets"], "rx_packets": stats["rx"]["packets"]}


def build(repo, no_build, work):
    products = os.path.join(repo, ".build", "release")
    if not no_build:
        print("building release tenders (swift build -c release) ...", flush=True)
        subprocess.run(["swift", "build", "-c", "release"], cwd=repo, check=True,
                       stdout=subprocess.DEVNULL, timeout=1200)
    image = os.path.join(work, "echo.swiftlet")
    subprocess.run([os.path.join(products, "swiftlet"), "build", "examples/echo", "-o", image],
                   cwd=repo, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600)
    return products, image


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="8 MB and 2 s per test")
    parser.add_argument("--mb", type=int, help="TCP echo transfer size in MB (default 64, quick 8)")
    parser.add_argument("--seconds", type=float, help="request/response run length (default 5, quick 2)")
    parser.add_argument("--idle", type=float, default=5.0, help="idle CPU window in seconds")
    parser.add_argument("--repo", default=ROOT, help="checkout with the release build and examples/echo")
    parser.add_argument("--no-build", action="store_true", help="use the existing .build/release")
    parser.add_argument("--targets", default="hvt,spt")
    parser.add_argument("--placement", choices=("same", "split", "free"), default="same",
                        help="same: client and server pinned to one CPU (default; steadiest); "
                             "split: client on one CPU, server on another (cross-CPU wake-ups); "
                             "free: leave it to the scheduler")
    parser.add_argument("--verbose", action="store_true", help="print ss -ti snapshots and counters")
    parser.add_argument("--client", help=argparse.SUPPRESS)
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        return run_client(json.loads(args.client))
    if args.serve:
        return serve(args.serve)

    if os.geteuid() != 0:
        sys.exit("network.py needs root (it creates network namespaces)")
    megabytes = args.mb or (8 if args.quick else 64)
    seconds = args.seconds or (2.0 if args.quick else 5.0)
    total = megabytes * 1_000_000
    limit = 2_000_000  # transactions per request/response run, on top of the time bound
    pings = 100 if args.quick else 500
    started = time.monotonic()
    cpus = sorted(os.sched_getaffinity(0))
    if args.placement == "split" and len(cpus) < 2:
        sys.exit("--placement split needs two CPUs")
    client_cpus, server_cpus = {
        "same": ({cpus[-1]}, {cpus[-1]}),
        "split": ({cpus[-2]}, {cpus[-1]}),
        "free": (None, None)}[args.placement]

    def place(peer):
        peer.client_cpus, peer.server_cpus = client_cpus, server_cpus
        return peer

    # Stop cleanly (finally: below) on SIGTERM too, not only Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))

    work = tempfile.mkdtemp(prefix="swiftlet-netbench-")
    products, image = build(os.path.abspath(args.repo), args.no_build, work)
    tag = os.getpid()
    namespaces, peers, skipped = [], [], {}
    try:
        wanted = [t for t in args.targets.split(",") if t]
        for index, target in enumerate(("hvt", "spt")):
            if target not in wanted:
                continue
            if target == "hvt" and not kvm_usable():
                skipped["hvt"] = "no usable /dev/kvm"
                continue
            ns = f"swnb-{target}-{tag}"
            subnet = f"10.{211 + index}.0"
            ip("netns", "add", ns); namespaces.append(ns)
            ip("-n", ns, "link", "set", "lo", "up")
            ip("-n", ns, "tuntap", "add", "tap0", "mode", "tap")
            ip("-n", ns, "addr", "add", f"{subnet}.1/24", "dev", "tap0")
            ip("-n", ns, "link", "set", "tap0", "up")
            peer = place(Peer(target, f"{target} guest", ns, f"{subnet}.2"))
            peer.tap = "tap0"
            argv = [IP, "netns", "exec", ns, os.path.join(products, f"swiftlet-{target}"),
                    "--net", "tap:tap0", image, "--", f"ip={subnet}.2/24"]
            if peer.start(argv, "listening on"):
                peers.append(peer)
            else:
                skipped[target] = peer.error
                peer.stop()

        client_ns, server_ns = f"swnb-lxc-{tag}", f"swnb-lxs-{tag}"
        ip("netns", "add", client_ns); namespaces.append(client_ns)
        ip("netns", "add", server_ns); namespaces.append(server_ns)
        ip("-n", client_ns, "link", "add", "veth0", "type", "veth", "peer", "name", "veth1", "netns", server_ns)
        for ns, dev, address in ((client_ns, "veth0", "10.213.0.1"), (server_ns, "veth1", "10.213.0.2")):
            ip("-n", ns, "link", "set", "lo", "up")
            ip("-n", ns, "addr", "add", f"{address}/24", "dev", dev)
            ip("-n", ns, "link", "set", dev, "up")
        linux = place(Peer("linux", "Linux veth", client_ns, "10.213.0.2"))
        argv = [IP, "netns", "exec", server_ns, sys.executable, SELF, "--serve", "10.213.0.2"]
        if not linux.start(argv, "listening on"):
            raise RuntimeError(f"Linux echo server: {linux.error}")
        peers.append(linux)

        # Idle CPU: every server up, no traffic, for --idle seconds.
        time.sleep(0.5)
        before = {p.name: (time.perf_counter(), cpu_ticks(p.pid), cpu_ns([p.pid])) for p in peers}
        time.sleep(args.idle)
        idle = {}
        for p in peers:
            wall0, ticks0, ns0 = before[p.name]
            wall = time.perf_counter() - wall0
            ticks = (cpu_ticks(p.pid) - ticks0) / CLK_TCK / wall * 100
            precise = None if ns0 is None else (cpu_ns([p.pid]) - ns0) / 1e9 / wall * 100
            idle[p.name] = (ticks, precise)

        # Tests, interleaved so that machine noise hits every peer alike.
        results = {p.name: {} for p in peers}
        counters = {p.name: {} for p in peers}
        tests = [("bulk", {"kind": "bulk", "bytes": total, "timeout": 90.0}, 110),
                 ("bulk_qa", {"kind": "bulk", "bytes": total, "timeout": 90.0, "quickack": True}, 110),
                 ("tcp_rr", {"kind": "tcp_rr", "seconds": seconds, "limit": limit}, seconds + 20),
                 ("udp_rr", {"kind": "udp_rr", "seconds": seconds, "limit": limit}, seconds + 20),
                 ("ping", {"kind": "ping", "count": pings}, pings * 0.05 + 20)]
        for test, spec, timeout in tests:
            for p in peers:
                before_counters = p.tap_counters()
                results[p.name][test] = p.client(dict(spec, address=p.address), timeout)
                after_counters = p.tap_counters()
                if before_counters:
                    counters[p.name][test] = {k: after_counters[k] - before_counters[k] for k in before_counters}
                if p.process.poll() is not None:
                    raise RuntimeError(f"{p.label} exited ({p.process.returncode}) during {test}: "
                                       + " | ".join(p.output[-5:]))

        print_report(peers, results, idle, counters, skipped, megabytes, seconds, args.verbose,
                     f"{args.placement} ({'client CPU %s, server CPU %s' % (min(client_cpus), min(server_cpus)) if client_cpus else 'unpinned'})")
        print(f"\n(run took {time.monotonic() - started:.0f} s)")
    finally:
        for p in peers:
            p.stop()
        for ns in namespaces:
            ip("netns", "del", ns, check=False)
        for name in os.listdir(work):
            os.unlink(os.path.join(work, name))
        os.rmdir(work)


def print_report(peers, results, idle, counters, skipped, megabytes, seconds, verbose, placement):
    names = [p.name for p in peers]
    labels = {p.name: p.label for p in peers}
    guests = [n for n in names if n != "linux"]

    def value(name, test, key):
        return results[name].get(test, {}).get(key)

    def throughput(test):
        def get(name):
            r = results[name].get(test, {})
            if not r.get("bytes") or not r.get("seconds"):
                return None
            return r["bytes"] / r["seconds"] / 1e6
        return get

    def cpu(test, key):
        return lambda n: pct(value(n, test, key))

    def per_unit(test, scale, units):
        """Server CPU time per unit of work (placement-independent, unlike the rates)."""
        def get(name):
            r = results[name].get(test, {})
            if r.get("server_cpu") is None or not r.get("seconds") or not units(r):
                return None
            return r["server_cpu"] * r["seconds"] * scale / units(r)
        return get

    rows = [  # label, getter, format, whether a guest/Linux ratio means anything
        (f"TCP echo {megabytes} MB, MB/s echoed", throughput("bulk"), ".1f", True),
        ("  server CPU / client CPU (%)", lambda n: (cpu("bulk", "server_cpu")(n), cpu("bulk", "client_cpu")(n)), "cpu", False),
        ("  server CPU ms per MB echoed", per_unit("bulk", 1e3, lambda r: r["bytes"] / 1e6), ".2f", True),
        ("  same, client TCP_QUICKACK, MB/s", throughput("bulk_qa"), ".1f", True),
        ("  server CPU / client CPU (%)", lambda n: (cpu("bulk_qa", "server_cpu")(n), cpu("bulk_qa", "client_cpu")(n)), "cpu", False),
        ("TCP 64 B req/resp, trans/s", lambda n: value(n, "tcp_rr", "rate"), ".0f", True),
        ("  p50 / p99 latency (µs)", lambda n: (value(n, "tcp_rr", "p50_us"), value(n, "tcp_rr", "p99_us")), "lat", True),
        ("  server CPU / client CPU (%)", lambda n: (cpu("tcp_rr", "server_cpu")(n), cpu("tcp_rr", "client_cpu")(n)), "cpu", False),
        ("  server CPU µs per transaction", per_unit("tcp_rr", 1e6, lambda r: r["count"]), ".1f", True),
        ("UDP 64 B req/resp, trans/s", lambda n: value(n, "udp_rr", "rate"), ".0f", True),
        ("  p50 / p99 latency (µs)", lambda n: (value(n, "udp_rr", "p50_us"), value(n, "udp_rr", "p99_us")), "lat", True),
        ("  server CPU / client CPU (%)", lambda n: (cpu("udp_rr", "server_cpu")(n), cpu("udp_rr", "client_cpu")(n)), "cpu", False),
        ("  server CPU µs per transaction", per_unit("udp_rr", 1e6, lambda r: r["count"]), ".1f", True),
        ("ping RTT p50 / p99 (µs)", lambda n: (value(n, "ping", "p50_us"), value(n, "ping", "p99_us")), "lat", True),
        (f"idle CPU, /proc stat (% of a core)", lambda n: idle[n][0], ".2f", False),
        ("idle CPU, schedstat (% of a core)", lambda n: idle[n][1], ".3f", False),
    ]

    def cell(v, spec):
        if spec == "cpu":
            return f"{fmt(v[0], '.0f')} / {fmt(v[1], '.0f')}"
        if spec == "lat":
            return f"{fmt(v[0], '.1f')} / {fmt(v[1], '.0f')}"
        return fmt(v, spec)

    def ratio_cell(a, b, spec):
        if spec == "lat":
            return f"{ratio(a[0], b[0])} / {ratio(a[1], b[1])}"
        return ratio(a, b)

    width, column = 34, 15
    has_linux = "linux" in names
    header = f"{'':<{width}}" + "".join(f"{labels[n]:>{column}}" for n in names)
    if has_linux:
        header += "".join(f"{n + '/Linux':>{column}}" for n in guests)
    print()
    print(f"examples/echo on a tap per guest vs a Python echo server over veth; Python client in the")
    print(f"client's namespace; req/resp {seconds:g} s each; placement: {placement}")
    print(header)
    print("-" * len(header))
    for label, getter, spec, with_ratio in rows:
        values = {n: getter(n) for n in names}
        line = f"{label:<{width}}" + "".join(f"{cell(values[n], spec):>{column}}" for n in names)
        if has_linux and with_ratio:
            line += "".join(f"{ratio_cell(values[n], values['linux'], spec):>{column}}" for n in guests)
        print(line)
    for name, reason in skipped.items():
        print(f"{name}: SKIPPED ({reason})")

    notes = []
    for n in names:
        for test, r in results[n].items():
            if r.get("error"):
                notes.append(f"{labels[n]} {test}: {r['error']}")
            if test.startswith("bulk") and r and not r.get("complete", True):
                notes.append(f"{labels[n]} {test}: only {r.get('bytes')} of {r.get('total')} bytes came back in time")
            if test == "udp_rr" and r.get("lost"):
                notes.append(f"{labels[n]} udp_rr: {r['lost']} datagrams lost (0.2 s timeout each)")
            if test == "ping" and r.get("lost"):
                notes.append(f"{labels[n]} ping: {r['lost']} of {r['lost'] + r['count']} echoes unanswered")
            c = counters[n].get(test)
            if c and (c["tx_dropped"] or c["rx_dropped"]):
                notes.append(f"{labels[n]} {test}: tap drops tx {c['tx_dropped']} rx {c['rx_dropped']}")
    for note in notes:
        print("note:", note)
    print("client's view mid-transfer (ss -ti; wscale: peer's,ours; snd_wnd: the server's window):")
    for n in names:
        for test in ("bulk", "bulk_qa"):
            snapshot = results[n].get(test, {}).get("ss")
            if snapshot:
                print(f"  {labels[n]:<11} {test:<8} {summarize_ss(snapshot)}")
    if verbose:
        for n in names:
            for test in ("bulk", "bulk_qa"):
                print(f"\n{labels[n]} {test}: ss -ti mid-transfer:\n  {results[n].get(test, {}).get('ss')}")
            for test, c in counters[n].items():
                print(f"  tap {test}: {c}")


def pct(fraction):
    return None if fraction is None else fraction * 100


def summarize_ss(text):
    keep = ("wscale:", "rtt:", "cwnd:", "snd_wnd:", "retrans:", "rwnd_limited:")
    tokens = text.split()
    out = [w for w in tokens if w.startswith(keep)]
    if "delivery_rate" in tokens:
        rate = tokens[tokens.index("delivery_rate") + 1] if tokens.index("delivery_rate") + 1 < len(tokens) else "?"
        out.append(f"delivery_rate:{rate}")
    return " ".join(out) if out else text[:200]


if __name__ == "__main__":
    main()
