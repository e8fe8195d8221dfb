#!/usr/bin/env python3
"""HTTPS benchmark: examples/web (SwiftletTLS over BearSSL) on hvt and spt beside nginx (Debian,
1 worker, OpenSSL), the same certificate (ECDSA P-256, made by `swiftlet cert`), TLS 1.2 and
the same AEAD suites on both, measured by wrk from one network namespace.

Path: as bench/web.py. wrk runs in the client namespace swtls-c-PID; each guest sits on a tap in
it (hvt 10.215.1.2, spt 10.215.2.2); nginx runs in swtls-s-PID behind a veth (10.215.3.2).
Guests get `ip=... gw=... log=off`. nginx: worker_processes 1, `ssl_protocols TLSv1.2`,
`ssl_ciphers` = the guest's suites, the client's order preferred (as BearSSL does here), and
`return 200` with examples/web's index.html (the guest serves the same bytes from its assets).

Measured, interleaved per load (odd rounds reverse the order):
  - keep-alive HTTPS req/s at 32 connections (wrk -t2 -c32, GET /) and at 1 connection;
  - full handshakes/s: wrk -c32 with `Connection: close`, so every request is a new TLS
    connection with a full ECDHE-ECDSA handshake (wrk keeps no session cache);
  - the suite and key exchange each server agreed (openssl s_client);
  - guest heap per TLS connection: memory_in_use (/api/status) with 32 idle kept-alive HTTPS
    connections against 32 plain HTTP ones, and TLSConfiguration.bytesPerConnection's sum;
  - image size (`swiftlet build --strip`) of examples/web with and without SwiftletTLS.
Ratios against nginx at the end. Targets (issue 15): keep-alive req/s >= 1.0x nginx,
handshakes/s >= 0.5x nginx.

Needs root, iproute2, wrk, nginx, openssl and libbearssl-dev (Debian: apt-get install wrk nginx
openssl libbearssl-dev), release tenders in .build/release (swift build -c release) and a
swiftlet-cli (--cli; default .build/release/swiftlet-cli, else .build/debug/swiftlet-cli).

    python3 bench/tls.py [--quick] [--duration 10] [--rounds 1] [--targets hvt,spt] [--json]
"""
import argparse, json, os, re, shutil, signal, socket, ssl, subprocess, sys, tempfile, threading, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import IP, fmt, ip, kvm_usable, nginx_http_config, nginx_string, ratio
from web import Server, children, log, peak_rss_kib, run_wrk

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SELF = os.path.abspath(__file__)
TARGETS = {"hvt": 1, "spt": 2}
NGINX_SUBNET = 3
SUITES = ("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES256-GCM-SHA384")


# ----------------------------------------------------------------------------------------------
# Probes (run inside the client namespace; print one JSON object)

def hold_connections(spec):
    """Opens `count` kept-alive connections (TLS or not), one request each, then asks
    /api/status over one more; prints its JSON."""
    context = ssl.create_default_context(cafile=spec["ca"]) if spec["tls"] else None
    held = []

    def connect():
        raw = socket.create_connection((spec["address"], spec["port"]), timeout=5)
        return context.wrap_socket(raw, server_hostname=spec["address"]) if context else raw

    def get(sock, path):
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536)
        head, body = data.split(b"\r\n\r\n", 1)
        length = int(re.search(rb"content-length: *(\d+)", head, re.I).group(1))
        while len(body) < length:
            body += sock.recv(65536)
        return body

    for _ in range(spec["count"]):
        sock = connect()
        get(sock, "/hello/held")
        held.append(sock)
    time.sleep(0.3)
    with connect() as sock:
        status = json.loads(get(sock, "/api/status"))
    print(json.dumps(status))
    for sock in held:
        sock.close()


# ----------------------------------------------------------------------------------------------

def nginx_config(prefix, address, cert, key, index_bytes):
    return nginx_http_config(prefix, "bench/tls.py", servers=f"""    server {{
        listen {address}:443 ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2;
        ssl_ciphers {SUITES};
        ssl_prefer_server_ciphers off;
        location / {{
            default_type "text/html; charset=utf-8";
            return 200 {nginx_string(index_bytes)};
        }}
    }}
""")


def run(argv, **kwargs):
    result = subprocess.run(argv, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{result.stdout}{result.stderr}")
    return result


def build(args, work):
    """examples/web with a fresh certificate (TLS) and without SwiftletTLS (plain), both stripped."""
    cli = args.cli
    site = os.path.join(work, "web")
    shutil.copytree(os.path.join(args.repo, "examples", "web"), site,
                    ignore=shutil.ignore_patterns(".build", "tls"))
    names = ["localhost", "127.0.0.1"] + [f"10.215.{n}.2" for n in list(TARGETS.values()) + [NGINX_SUBNET]]
    run([cli, "cert", site, "--ca", os.path.join(work, "ca"), *[a for n in names for a in ("--name", n)]], timeout=120)
    images = {"tls": os.path.join(work, "web-tls.swiftlet"), "plain": os.path.join(work, "web-plain.swiftlet")}
    run([cli, "build", site, "--strip", "-o", images["tls"]], timeout=1800)
    plain = os.path.join(work, "web-plain")
    shutil.copytree(site, plain, ignore=shutil.ignore_patterns(".build", "tls"))
    main = os.path.join(plain, "Sources", "web", "main.swift")
    with open(main) as f:
        text = f.read()
    # The example without its HTTPS lines: what an application that never imports SwiftletTLS is.
    text = text.replace("import SwiftletTLS\n", "")
    text = re.sub(r"\nvar https: HTTPServer\?\ndo throws\(TLSError\) \{.*?\n\}\n", "\n", text, flags=re.S)
    text = text.replace('HTTPServer.run([server!] + (https.map { [$0] } ?? []))', "server!.run()")
    if "TLS" in text:
        raise RuntimeError("could not strip the HTTPS part from examples/web/Sources/web/main.swift (did it change?)")
    with open(main, "w") as f:
        f.write(text)
    run([cli, "build", plain, "--strip", "-o", images["plain"]], timeout=1800)
    return site, images


def agreed_suite(namespace, address):
    result = subprocess.run([IP, "netns", "exec", namespace, "sh", "-c",
                             f"echo | timeout 10 openssl s_client -connect {address}:443 -tls1_2 2>&1"],
                            capture_output=True, text=True, timeout=20)
    suite = re.search(r"Cipher is (\S+)", result.stdout)
    group = re.search(r"Server Temp Key: (.*)", result.stdout)
    return {"suite": suite.group(1) if suite else None, "key_exchange": group.group(1).strip() if group else None}


def held_status(namespace, address, port, ca, tls, count):
    argv = [IP, "netns", "exec", namespace, sys.executable, SELF, "--hold",
            json.dumps({"address": address, "port": port, "ca": ca, "tls": tls, "count": count})]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    try:
        return json.loads(result.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"error": result.stderr.strip()[-300:]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 s per wrk run (default 10 s)")
    parser.add_argument("--duration", type=float)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--targets", default="hvt,spt")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--repo", default=ROOT)
    parser.add_argument("--cli", help="swiftlet-cli to build with (default: .build/release, else .build/debug)")
    parser.add_argument("--tenders", help="folder of the release tenders (default .build/release)")
    parser.add_argument("--wrk-timeout", type=float, default=2.0)
    parser.add_argument("--hold", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.hold:
        return hold_connections(json.loads(args.hold))
    missing = [tool for tool in ("wrk", "openssl") if not shutil.which(tool)]
    if not (shutil.which("nginx") or os.path.exists("/usr/sbin/nginx")):
        missing.append("nginx")
    if missing:
        sys.exit(f"tls.py needs {', '.join(missing)}: apt-get install {' '.join(missing)}")
    if os.geteuid() != 0:
        sys.exit("tls.py needs root (network namespaces and taps)")
    args.cli = args.cli or next((p for p in (os.path.join(args.repo, ".build", c, "swiftlet-cli") for c in ("release", "debug"))
                                 if os.path.exists(p)), None)
    tenders = args.tenders or os.path.join(args.repo, ".build", "release")
    if not args.cli:
        sys.exit("no swiftlet-cli: swift build --product swiftlet-cli (or pass --cli)")
    duration = args.duration or (3.0 if args.quick else 10.0)
    cpus = sorted(os.sched_getaffinity(0))
    pinned = {cpus[-1]}  # servers and wrk share the last CPU, as bench/web.py's default

    def on_signal(number, _frame):
        raise SystemExit(f"stopped by signal {number}")
    signal.signal(signal.SIGTERM, on_signal)

    work = tempfile.mkdtemp(prefix="swiftlet-tlsbench-")
    os.chmod(work, 0o755)
    tag = os.getpid()
    client_ns, server_ns = f"swtls-c-{tag}", f"swtls-s-{tag}"
    namespaces, servers, problems = [], [], []
    report = {"config": {"duration_s": duration, "rounds": args.rounds, "suites": SUITES}, "problems": problems}
    try:
        log("building examples/web with and without TLS (stripped) ...")
        site, images = build(args, work)
        report["image_bytes"] = {kind: os.path.getsize(path) for kind, path in images.items()}
        cert, key = os.path.join(site, "tls", "cert.pem"), os.path.join(site, "tls", "key.pem")
        ca = os.path.join(work, "ca", "ca.pem")
        with open(os.path.join(args.repo, "examples", "web", "assets", "index.html"), "rb") as f:
            index_bytes = f.read()

        ip("netns", "add", client_ns); namespaces.append(client_ns)
        ip("netns", "add", server_ns); namespaces.append(server_ns)
        ip("-n", client_ns, "link", "set", "lo", "up")
        ip("-n", server_ns, "link", "set", "lo", "up")
        for subnet in TARGETS.values():
            ip("-n", client_ns, "tuntap", "add", f"tap{subnet}", "mode", "tap")
            ip("-n", client_ns, "addr", "add", f"10.215.{subnet}.1/24", "dev", f"tap{subnet}")
            ip("-n", client_ns, "link", "set", f"tap{subnet}", "up")
        ip("-n", client_ns, "link", "add", "veth0", "type", "veth", "peer", "name", "veth1", "netns", server_ns)
        for ns, dev, address in ((client_ns, "veth0", f"10.215.{NGINX_SUBNET}.1"), (server_ns, "veth1", f"10.215.{NGINX_SUBNET}.2")):
            ip("-n", ns, "addr", "add", f"{address}/24", "dev", dev)
            ip("-n", ns, "link", "set", dev, "up")

        entries = []  # (key, server)
        for target in [t for t in args.targets.split(",") if t]:
            if target == "hvt" and not kvm_usable():
                report.setdefault("skipped", {})["hvt"] = "no usable /dev/kvm"
                continue
            subnet = TARGETS[target]
            server = Server(target, f"{target} guest")
            servers.append(server)
            argv = [IP, "netns", "exec", client_ns, os.path.join(tenders, f"swiftlet-{target}"), "--mem", "64M",
                    "--net", f"tap:tap{subnet}", images["tls"], "--",
                    f"ip=10.215.{subnet}.2/24", f"gw=10.215.{subnet}.1", "log=off"]
            if not server.start(argv, "web: HTTPS on port 443", pinned):
                problems.append(f"{target}: {server.error}")
                continue
            server.address = f"10.215.{subnet}.2"
            entries.append((target, server))

        prefix = os.path.join(work, "nginx")
        os.makedirs(os.path.join(prefix, "tmp"))
        with open(os.path.join(prefix, "nginx.conf"), "w") as f:
            f.write(nginx_config(prefix, f"10.215.{NGINX_SUBNET}.2", cert, key, index_bytes))
        nginx_bin = shutil.which("nginx") or "/usr/sbin/nginx"
        report["config"]["nginx"] = subprocess.run([nginx_bin, "-v"], capture_output=True, text=True).stderr.strip()
        report["config"]["openssl"] = subprocess.run(["openssl", "version"], capture_output=True, text=True).stdout.strip()
        nginx = Server("nginx", "nginx")
        servers.append(nginx)
        nginx.start([IP, "netns", "exec", server_ns, nginx_bin, "-p", prefix + "/", "-c", os.path.join(prefix, "nginx.conf"),
                     "-e", os.path.join(prefix, "error.log")], None, pinned)
        nginx.address = f"10.215.{NGINX_SUBNET}.2"
        time.sleep(1)
        if not nginx.alive():
            raise RuntimeError(f"nginx did not start: {' | '.join(nginx.output[-5:])}")
        nginx.pids = [nginx.process.pid] + children(nginx.process.pid)
        entries.append(("nginx", nginx))

        report["agreed"] = {key: agreed_suite(client_ns, server.address) for key, server in entries}
        loads = (("keepalive32", 32, 2, ()), ("keepalive1", 1, 1, ()), ("handshakes32", 32, 2, ("Connection: close",)))
        runs = {key: {load: [] for load, *_ in loads} for key, _ in entries}
        log("warm-up: 2 s per server")
        for key, server in entries:
            run_wrk(client_ns, f"https://{server.address}/", 32, 2, 2, server, pinned, args.wrk_timeout)
        for round_index in range(args.rounds):
            order = entries if round_index % 2 == 0 else list(reversed(entries))
            for load, connections, threads, headers in loads:
                for key, server in order:
                    if not server.alive():
                        continue
                    log(f"round {round_index + 1}: {key} {load} ({duration:g} s)")
                    result = run_wrk(client_ns, f"https://{server.address}/", connections, threads, duration, server,
                                     pinned, args.wrk_timeout, headers)
                    result.pop("raw", None)
                    runs[key][load].append(result)
                    if result.get("errors"):
                        problems.append(f"{key} {load}: {result.get('error') or result.get('socket_errors')} non2xx={result.get('non2xx')}")
                    if server.died():
                        problems.append(f"{key}: SERVER DIED: {server.died()}")
        report["runs"] = runs

        # Heap per connection: 32 idle kept-alive connections, TLS (443) against plain HTTP (80).
        report["heap"] = {}
        for key, server in entries:
            if key == "nginx" or not server.alive():
                continue
            baseline = held_status(client_ns, server.address, 443, ca, True, 0)
            tls = held_status(client_ns, server.address, 443, ca, True, 32)
            plain = held_status(client_ns, server.address, 80, ca, False, 32)
            entry = {"baseline": baseline.get("memory_in_use"), "tls32": tls.get("memory_in_use"),
                     "plain32": plain.get("memory_in_use"), "errors": [x.get("error") for x in (baseline, tls, plain) if x.get("error")]}
            if None not in (entry["baseline"], entry["tls32"], entry["plain32"]):
                entry["per_tls_connection"] = (entry["tls32"] - entry["baseline"]) / 32
                entry["per_plain_connection"] = (entry["plain32"] - entry["baseline"]) / 32
            report["heap"][key] = entry
        report["nginx_peak_rss_kib"] = peak_rss_kib(nginx.pids)
    finally:
        for server in servers:
            server.stop()
        for ns in namespaces:
            ip("netns", "del", ns, check=False)
        shutil.rmtree(work, ignore_errors=True)

    def median(values):
        values = sorted(v for v in values if v is not None)
        return values[len(values) // 2] if values else None

    table = {key: {load: median(r.get("rps") for r in results) for load, results in per.items()} for key, per in runs.items()}
    report["median_rps"] = table
    if args.json:
        print(json.dumps(report, indent=2))
        return 1 if problems else 0
    print(f"HTTPS, TLS 1.2, {duration:g} s per run, {args.rounds} round(s); {report['config']['nginx']}, {report['config']['openssl']}")
    for key, agreed in report["agreed"].items():
        print(f"  {key:6} agreed {agreed['suite']} ({agreed['key_exchange']})")
    print(f"\n{'server':8} {'keep-alive req/s (32)':>22} {'keep-alive req/s (1)':>21} {'handshakes/s (32)':>18}")
    for key, row in table.items():
        print(f"{key:8} {fmt(row['keepalive32'], '>22,.0f')} {fmt(row['keepalive1'], '>21,.0f')} {fmt(row['handshakes32'], '>18,.0f')}")
    nginx_row = table.get("nginx", {})
    print("\nratios to nginx (targets: keep-alive >= 1.0x, handshakes >= 0.5x)")
    for key, row in table.items():
        if key != "nginx":
            print(f"  {key}: keep-alive(32) {ratio(row['keepalive32'], nginx_row.get('keepalive32'))}, "
                  f"keep-alive(1) {ratio(row['keepalive1'], nginx_row.get('keepalive1'))}, "
                  f"handshakes {ratio(row['handshakes32'], nginx_row.get('handshakes32'))}")
    for key, entry in report["heap"].items():
        print(f"guest heap on {key}: {fmt(entry.get('per_tls_connection'), ',.0f')} B per idle HTTPS connection, "
              f"{fmt(entry.get('per_plain_connection'), ',.0f')} B per idle HTTP one {entry['errors'] or ''}")
    print(f"nginx peak RSS: {report['nginx_peak_rss_kib']} KiB")
    sizes = report["image_bytes"]
    print(f"image (stripped): with TLS {sizes['tls']:,} B, without {sizes['plain']:,} B (+{sizes['tls'] - sizes['plain']:,} B)")
    if problems:
        print("PROBLEMS:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit("interrupted (namespaces and processes cleaned up)")
