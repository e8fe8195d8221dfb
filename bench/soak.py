#!/usr/bin/env python3
"""Soak: examples/web on hvt and on spt for N minutes under steady load, then the errors and
whether memory stayed flat.

Each target's guest sits on its own tap in one network namespace (hvt 10.215.1.2, spt
10.215.2.2; guest arguments `ip=... gw=... log=off`), and for the whole run gets, at once:
  - wrk -t1 -c32 GET / (keep-alive), --timeout 10s;
  - a churn client: one connection after another, each a `GET /api/status` with
    `Connection: close` read to the end (one in five opens and closes without a request);
  - 40 slowloris clients: each sends a request line and then one header byte every 1-2 s,
    never finishing; the guest must answer 408 when its header timeout (10 s) runs out and
    close; the client then starts over.
Both targets run at the same time (--targets to pick one). After the warm-up (--warmup, default
120 s) and again just before the load ends, the script samples the guest heap (GET /api/status:
memory_in_use, memory_peak) and the tender's RSS (VmRSS), the median of five samples a second
apart; once the load has stopped and the slowloris connections have been closed, once more
(idle; connections the guest closed first may still be in TIME-WAIT then).

Pass criteria, printed per target: errors 0 (wrk: non-2xx/3xx + socket errors; churn: failed
connections or non-200 answers; slowloris: a connection refused or ended without a 408, or a
408 missing for 30 s), the tender alive at the end, tender RSS and guest heap (in use and peak)
at the end within 10 % of after the warm-up (differences under 256 KiB are noise, not growth).

    sudo python3 bench/soak.py [--minutes 10] [--warmup 60] [--targets hvt,spt] [--no-build]

Needs root, iproute2 and wrk. Builds the release tenders into .build-bench (as bench/web.py).
Exit status 1 when a criterion is not met (listed under PROBLEMS).
"""
import argparse, json, os, random, shutil, signal, socket, statistics, subprocess, sys, tempfile, threading, time

from benchlib import IP, exit_if_problems, ip, kvm_usable, log, rss_kib
import web

SELF = os.path.abspath(__file__)
SUBNETS = {"hvt": 1, "spt": 2}
SLOWLORIS = 40
GROWTH_LIMIT = 0.10
NOISE_BYTES = 256 << 10


# ----------------------------------------------------------------------------------------------
# Clients (each runs inside the namespace, as `soak.py --client KIND ADDRESS SECONDS`, and prints
# one JSON object when its time is up)

def read_response(sock):
    """Reads one HTTP/1.1 response with a Content-Length body; returns (status, header bytes)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise OSError(f"closed after {len(data)} bytes, before the response head ended")
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise OSError("closed before the body ended")
        body += chunk
    return int(lines[0].split()[1]), body


def churn(address, seconds):
    """Connection after connection until `seconds` pass; every failure is counted and kept."""
    counts = {"connections": 0, "requests_ok": 0, "open_close": 0, "failures": 0, "failure_samples": []}
    rng = random.Random(1)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        counts["connections"] += 1
        try:
            with socket.create_connection((address, 80), timeout=10) as sock:
                sock.settimeout(10)
                if rng.random() < 0.2:
                    counts["open_close"] += 1
                    continue
                sock.sendall(f"GET /api/status HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n".encode())
                status, body = read_response(sock)
                if status != 200 or not body.startswith(b"{"):
                    raise OSError(f"status {status}, body {body[:60]!r}")
                counts["requests_ok"] += 1
        except (OSError, ValueError, IndexError) as error:
            counts["failures"] += 1
            if len(counts["failure_samples"]) < 5:
                counts["failure_samples"].append(f"{time.monotonic() - deadline + seconds:.1f}s: {error}")
            time.sleep(0.05)
    print(json.dumps(counts))


def slowloris(address, seconds, count=SLOWLORIS):
    """`count` connections that never finish their request head, restarted when answered."""
    counts = {"connections": 0, "answered_408": 0, "failures": 0, "failure_samples": []}
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def fail(message):
        with lock:
            counts["failures"] += 1
            if len(counts["failure_samples"]) < 5:
                counts["failure_samples"].append(message)

    def one(index):
        rng = random.Random(index)
        time.sleep(rng.random() * 2)    # spread the starts
        while time.monotonic() < deadline:
            with lock:
                counts["connections"] += 1
            started = time.monotonic()
            try:
                with socket.create_connection((address, 80), timeout=10) as sock:
                    sock.sendall(f"GET /slow/{index} HTTP/1.1\r\nHost: {address}\r\nX-Slow: ".encode())
                    sock.setblocking(False)
                    answer = b""
                    while time.monotonic() < deadline:
                        if time.monotonic() - started > 30:
                            raise OSError("no answer after 30 s (the header timeout is 10 s)")
                        time.sleep(1 + rng.random())
                        try:
                            sock.send(b"a")
                        except BlockingIOError:
                            pass
                        except OSError:
                            pass        # the guest closed after answering; read what it sent
                        try:
                            chunk = sock.recv(4096)
                            if not chunk:
                                break
                            answer += chunk
                        except BlockingIOError:
                            continue
                        except OSError as error:
                            if not answer:
                                raise
                            break
                    if time.monotonic() >= deadline and not answer:
                        continue        # our own time ran out mid-request
                    if answer.startswith(b"HTTP/1.1 408"):
                        with lock:
                            counts["answered_408"] += 1
                    else:
                        fail(f"answer {answer[:40]!r} after {time.monotonic() - started:.1f} s")
            except OSError as error:
                fail(f"{error} after {time.monotonic() - started:.1f} s")
                time.sleep(0.5)

    threads = [threading.Thread(target=one, args=(index,), daemon=True) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.1, deadline + 40 - time.monotonic()))
    print(json.dumps(counts))


# ----------------------------------------------------------------------------------------------
# Orchestration (root, initial namespace)

class Client:
    """A client process in the namespace; its JSON verdict when it is done."""

    def __init__(self, namespace, kind, address, seconds):
        self.kind = kind
        self.process = subprocess.Popen([IP, "netns", "exec", namespace, sys.executable, SELF, "--client", kind,
                                         address, f"{seconds:g}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True)

    def result(self, timeout):
        try:
            out, err = self.process.communicate(timeout=timeout)
            return json.loads(out.strip().splitlines()[-1])
        except (subprocess.TimeoutExpired, ValueError, IndexError) as error:
            self.process.kill()
            self.process.wait(5)
            return {"failures": 1, "failure_samples": [f"{self.kind} client gave no verdict: {error}"]}


def status_samples(address, count):
    """`count` GET /api/status a second apart (runs in the namespace; prints a JSON list)."""
    samples = []
    for index in range(count):
        try:
            with socket.create_connection((address, 80), timeout=10) as sock:
                sock.settimeout(10)
                sock.sendall(f"GET /api/status HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n".encode())
                status, body = read_response(sock)
                samples.append(json.loads(body) if status == 200 else {"error": f"status {status}"})
        except (OSError, ValueError) as error:
            samples.append({"error": str(error)})
        if index + 1 < count:
            time.sleep(1)
    print(json.dumps(samples))


def sample_all(namespace, servers, count=5):
    """For every server at once: medians of `count` samples a second apart of its heap (GET
    /api/status) and its tender's RSS (VmRSS). Heap in use under load moves with the requests
    in flight; one sample could catch a burst."""
    samplers = {target: subprocess.Popen([IP, "netns", "exec", namespace, sys.executable, SELF, "--client", "status",
                                          server.address, str(count)], stdout=subprocess.PIPE, text=True)
                for target, server in servers.items()}
    rss = {target: [] for target in servers}
    for index in range(count):
        for target, server in servers.items():
            rss[target].append(rss_kib(server.process.pid))
        time.sleep(1)
    out = {}
    for target, sampler in samplers.items():
        try:
            statuses = json.loads(sampler.communicate(timeout=60)[0].strip().splitlines()[-1])
        except (subprocess.TimeoutExpired, ValueError, IndexError) as error:
            sampler.kill()
            statuses = [{"error": f"no samples: {error}"}]
        def median(values):
            values = [v for v in values if isinstance(v, int)]
            return statistics.median_low(values) if values else None
        out[target] = {"rss_kib": median(rss[target]),
                       "heap_in_use": median(s.get("memory_in_use") for s in statuses),
                       "heap_peak": median(s.get("memory_peak") for s in statuses),
                       "connections": median(s.get("connections") for s in statuses),
                       "tcp_active": median(s.get("tcp_active") for s in statuses),
                       "tcp_time_wait": median(s.get("tcp_time_wait") for s in statuses),
                       "requests": median(s.get("requests") for s in statuses),
                       "errors": [s["error"] for s in statuses if "error" in s]}
    return out


def growth(before, after):
    """Relative growth, and whether it is within the limit (tiny absolute changes are noise)."""
    if before is None or after is None:
        return None, False
    change = (after - before) / before if before else 0.0
    return change, change <= GROWTH_LIMIT or (after - before) <= NOISE_BYTES


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10, help="length of the load (default 10)")
    parser.add_argument("--warmup", type=float, default=120,
                        help="seconds before the first sample (default 120: the guest's TIME-WAIT lasts 60 s, so its "
                             "table of closed connections fills for the first 60-70 s of churn and slowloris)")
    parser.add_argument("--targets", default="hvt,spt")
    parser.add_argument("--repo", default=web.ROOT)
    parser.add_argument("--scratch-path", default=".build-bench")
    parser.add_argument("--no-build", action="store_true", help="use the existing build in --scratch-path")
    parser.add_argument("--client", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        kind, address, seconds = args.client
        return {"churn": churn, "slowloris": slowloris, "status": status_samples}[kind](address, int(float(seconds)))


    if not shutil.which("wrk") or not os.path.exists(IP):
        sys.exit("soak.py needs wrk and iproute2 (Debian: apt-get install wrk iproute2)")
    if os.geteuid() != 0:
        sys.exit("soak.py needs root (it creates a network namespace and taps)")
    seconds = args.minutes * 60
    if args.warmup + 30 > seconds:
        sys.exit("--warmup must end at least 30 s before the load does (the samples take time)")
    targets = [t for t in args.targets.split(",") if t]
    problems, skipped = [], {}
    if "hvt" in targets and not kvm_usable():
        skipped["hvt"] = "no usable /dev/kvm"
        targets.remove("hvt")

    def on_signal(number, _frame):
        raise SystemExit(f"stopped by signal {number}")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    work = tempfile.mkdtemp(prefix="swiftlet-soak-")
    namespace = f"swsoak-{os.getpid()}"
    servers, clients = {}, {}
    report = {}
    try:
        build_args = argparse.Namespace(repo=args.repo, scratch_path=args.scratch_path, no_build=args.no_build)
        products, images = web.build(build_args, work)
        ip("netns", "add", namespace)
        ip("-n", namespace, "link", "set", "lo", "up")
        for target in targets:
            subnet = SUBNETS[target]
            ip("-n", namespace, "tuntap", "add", f"tap{subnet}", "mode", "tap")
            ip("-n", namespace, "addr", "add", f"10.215.{subnet}.1/24", "dev", f"tap{subnet}")
            ip("-n", namespace, "link", "set", f"tap{subnet}", "up")
            server = web.Server(target, f"{target} guest")
            argv = [IP, "netns", "exec", namespace, os.path.join(products, f"swiftlet-{target}"),
                    "--net", f"tap:tap{subnet}", images["run"], "--",
                    f"ip=10.215.{subnet}.2/24", f"gw=10.215.{subnet}.1", "log=off"]
            if not server.start(argv, "web: serving"):
                problems.append(f"{target}: {server.error}")
                continue
            server.address = f"10.215.{subnet}.2"
            servers[target] = server

        log(f"soak: {', '.join(servers)} for {args.minutes:g} min: wrk -c32, a churn client, {SLOWLORIS} slowloris")
        started = time.monotonic()
        wrk_threads = {}
        for target, entry in sample_all(namespace, servers, count=1).items():
            report[target] = {"boot": entry}
        for target, server in servers.items():
            result = {}
            thread = threading.Thread(target=lambda s=server, r=result: r.update(web.run_wrk(
                namespace, f"http://{s.address}/", 32, 1, seconds, s, None, 10.0)), daemon=True)
            thread.start()
            wrk_threads[target] = (thread, result)
            clients[target] = [Client(namespace, "churn", server.address, seconds),
                               Client(namespace, "slowloris", server.address, seconds)]

        next_point = [60.0]

        def sleep_until(offset):
            while time.monotonic() < started + offset:
                time.sleep(max(0, min(5, started + offset - time.monotonic())))
                if time.monotonic() - started >= next_point[0] and time.monotonic() < started + seconds - 20:
                    # A point a minute on the heap's timeline: steady growth and a plateau look alike at two points.
                    for target, entry in sample_all(namespace, servers, count=1).items():
                        report[target].setdefault("timeline", []).append((round(time.monotonic() - started), entry))
                        log(f"{target} at {round(time.monotonic() - started)} s: {entry}")
                    next_point[0] += 60
                for target, server in servers.items():
                    death = server.died()
                    if death and "died" not in report[target]:
                        report[target]["died"] = death
                        problems.append(f"{target}: SERVER DIED: {death}")

        sleep_until(args.warmup)
        for target, entry in sample_all(namespace, servers).items():
            report[target]["warm"] = entry
            log(f"{target} after the warm-up: {entry}")
        sleep_until(seconds - 15)
        for target, entry in sample_all(namespace, servers).items():
            report[target]["end"] = entry
            log(f"{target} at the end: {entry}")
        for target, (thread, result) in wrk_threads.items():
            thread.join(60)
            report[target]["wrk"] = web.strip_raw(result)
            report[target]["churn"] = clients[target][0].result(60)
            report[target]["slowloris"] = clients[target][1].result(90)
        time.sleep(12)  # past the header timeout: every slowloris connection is answered and gone
        for target, entry in sample_all(namespace, servers, count=1).items():
            report[target]["idle"] = entry
        for target, server in servers.items():
            death = server.died()
            if death and "died" not in report[target]:
                problems.append(f"{target}: SERVER DIED: {death}")
            report[target]["peak_rss_kib"] = web.peak_rss_kib([server.process.pid])
        print_report(report, args, problems)
    finally:
        for server in servers.values():
            server.stop()
        for group in clients.values():
            for client in group:
                if client.process.poll() is None:
                    client.process.kill()
        ip("netns", "del", namespace, check=False)
        shutil.rmtree(work, ignore_errors=True)
    for target, reason in skipped.items():
        print(f"{target}: SKIPPED ({reason})")
    exit_if_problems(problems)


def size(kib):
    return "—" if kib is None else f"{kib / 1024:.2f} MiB"


def print_report(report, args, problems):
    print(f"\nsoak: examples/web, {args.minutes:g} min per target (targets at once), wrk -t1 -c32 GET / + churn + "
          f"{SLOWLORIS} slowloris; samples after {args.warmup:g} s of warm-up and in the last 15 s of the load")
    for target, entry in report.items():
        wrk, churned, slow = entry.get("wrk", {}), entry.get("churn", {}), entry.get("slowloris", {})
        print(f"\n{target}:")
        print(f"  wrk: {wrk.get('requests')} requests, {web.fmt(wrk.get('rps'), ',.0f')} req/s, p99 "
              f"{web.fmt_us(wrk.get('p99_us'))}, errors {wrk.get('errors')} ({web.describe_errors(wrk)})")
        print(f"  churn: {churned.get('connections')} connections, {churned.get('requests_ok')} answered, "
              f"{churned.get('open_close')} opened and closed, failures {churned.get('failures')}")
        print(f"  slowloris: {slow.get('connections')} connections, {slow.get('answered_408')} answered 408, "
              f"failures {slow.get('failures')}")
        errors = (wrk.get("errors") or 0) + (churned.get("failures") or 0) + (slow.get("failures") or 0)
        for name, part in (("wrk", wrk), ("churn", churned), ("slowloris", slow)):
            if part.get("failure_samples"):
                print(f"    {name} failures, first ones: {part['failure_samples']}")
        if wrk.get("error"):
            print(f"    wrk: {wrk['error']}")
        print(f"  errors in total: {errors}")
        if errors:
            problems.append(f"{target}: {errors} errors (wrk {wrk.get('errors')}, churn {churned.get('failures')}, "
                            f"slowloris {slow.get('failures')})")
        warm, end, idle = entry.get("warm", {}), entry.get("end", {}), entry.get("idle", {})
        rows = (("tender RSS", "rss_kib", 1024), ("guest heap in use", "heap_in_use", 1), ("guest heap peak", "heap_peak", 1))
        boot = entry.get("boot", {})
        print(f"  {'':20}{'after boot':>12}{'after warm-up':>16}{'at the end':>14}{'change':>9}{'idle after':>14}")
        for label, key, unit in rows:
            a, b, c = warm.get(key), end.get(key), idle.get(key)
            change, ok = growth(None if a is None else a * unit, None if b is None else b * unit)
            show = lambda v: "—" if v is None else f"{v * unit / 1048576:.2f} MiB"
            print(f"  {label:20}{show(boot.get(key)):>12}{show(a):>16}{show(b):>14}{'—' if change is None else f'{change * 100:+.1f}%':>9}"
                  f"{show(c):>14}  {'ok' if ok else 'GREW'}")
            if not ok:
                problems.append(f"{target}: {label} {show(a)} after the warm-up, {show(b)} at the end"
                                + ("" if change is None else f" ({change * 100:+.1f}%, limit {GROWTH_LIMIT * 100:.0f}%)"))
        if entry.get("timeline"):
            print("  timeline (heap in use / peak MiB, tender RSS MiB, HTTP connections, TCP connections with buffers"
              " / in TIME-WAIT): " + ", ".join(
                f"{t}s {p['heap_in_use'] / 1048576:.2f}/{p['heap_peak'] / 1048576:.2f} {(p['rss_kib'] or 0) / 1024:.1f} "
                f"{p['connections']} {p.get('tcp_active')}/{p.get('tcp_time_wait')}"
                for t, p in entry["timeline"] if p.get("heap_in_use") is not None))
        print(f"  tender peak RSS (VmHWM) {size(entry.get('peak_rss_kib'))}; /api/status requests counted "
              f"{idle.get('requests')}")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("interrupted (namespace and processes cleaned up)")
