"""What the benchmark scripts share: namespace plumbing, CPU pinning, KVM presence, stopping
servers, memory of a process, building and timing runs, nginx configurations for the peer, the
formatting of table cells and the PROBLEMS list."""
import contextlib, os, re, shutil, signal, statistics, subprocess, sys, time

IP = "/usr/sbin/ip" if os.path.exists("/usr/sbin/ip") else "/sbin/ip"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def ip(*arguments, check=True):
    """Runs `ip ARGUMENTS`; raises with ip's own message when it fails and `check` is set."""
    result = subprocess.run([IP, *arguments], capture_output=True, text=True, timeout=15)
    if check and result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(arguments)}: {result.stderr.strip()}")
    return result


@contextlib.contextmanager
def tap_namespace(name, host):
    """A network namespace with `tap0` (address host/24, up) and lo up, deleted afterwards."""
    ip("netns", "add", name)
    try:
        for command in (["tuntap", "add", "tap0", "mode", "tap"], ["addr", "add", f"{host}/24", "dev", "tap0"],
                        ["link", "set", "tap0", "up"], ["link", "set", "lo", "up"]):
            ip("-n", name, *command)
        yield name
    finally:
        ip("netns", "del", name, check=False)


def pinner(cpus):
    """A preexec_fn pinning the child (and what it execs: ip netns exec execs in place)."""
    if not cpus:
        return None
    return lambda: os.sched_setaffinity(0, cpus)


def kvm_usable():
    try:
        os.close(os.open("/dev/kvm", os.O_RDWR))
        return True
    except OSError:
        return False


def terminate(process, seconds=3):
    """SIGTERM, then SIGKILL if `process` has not exited `seconds` later (a Popen or None).
    True if it had to be killed."""
    if process is None or process.poll() is not None:
        return False
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(seconds)
        return False
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(seconds)
        return True


def proc_kib(pid, file, field):
    """A kB field of /proc/PID/FILE (VmRSS or VmHWM in status, Pss in smaps_rollup), or None
    when the process is gone or the field missing."""
    try:
        with open(f"/proc/{pid}/{file}") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_kib(pid):
    return proc_kib(pid, "status", "VmRSS")


def pss_kib(pid):
    return proc_kib(pid, "smaps_rollup", "Pss")


def cpu_ns(pids):
    """On-CPU time of every thread of these processes, in ns (schedstat: finer than clock
    ticks); None when none of them could be read."""
    total, seen = 0, False
    for pid in pids:
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        seen = True
        for task in tasks:
            try:
                with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                    total += int(f.read().split()[0])
            except OSError:
                pass
    return total if seen else None


def fmt(value, spec):
    return "—" if value is None else format(value, spec)


def ratio(a, b):
    return "—" if a is None or not b else f"{a / b:.2f}x"


def log(*parts):
    """Progress and problems go to stderr: stdout is the report."""
    print(*parts, file=sys.stderr, flush=True)


def exit_if_problems(problems):
    """Lists `problems` under PROBLEMS on stderr and exits 1, if there are any."""
    if problems:
        log("\nPROBLEMS:")
        for problem in problems:
            log("  !! " + problem)
        sys.exit(1)


def sh(*command, **kwargs):
    """Runs a command in the checkout; raises if it fails."""
    return subprocess.run(command, check=True, cwd=ROOT, **kwargs)


def products_folder(products):
    """The folder (relative to the checkout) the tenders and CLI come from; the default,
    .build/release, is brought up to date first."""
    if products == ".build/release":
        sh("swift", "build", "-c", "release", stdout=subprocess.DEVNULL)
    return os.path.join(ROOT, products)


def median_wall_ms(commands, runs):
    """Spawn-to-exit wall time of each command {name: argv}, interleaved so machine noise hits
    all alike: {name: median ms of `runs`}. Exits if one fails."""
    samples = {name: [] for name in commands}
    for _ in range(runs):
        for name, argv in commands.items():
            start = time.perf_counter()
            result = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            samples[name].append((time.perf_counter() - start) * 1000)
            if result.returncode != 0:
                sys.exit(f"{name} exited {result.returncode}: {' '.join(argv)}")
    return {name: statistics.median(values) for name, values in samples.items()}


def nginx_string(data):
    """Bytes as an nginx quoted string (a `$` would start a variable: use ${dollar}, which
    nginx_http_config defines)."""
    text = data.decode("utf-8")
    for a, b in (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t"), ("$", "${dollar}")):
        text = text.replace(a, b)
    return '"' + text + '"'


def nginx_http_config(prefix, written_by, servers, keepalive_requests=1000000):
    """The peer for throughput runs: one nginx worker in the foreground, its files under
    `prefix` (which needs a tmp/ folder), no access log, `$dollar` for nginx_string; `servers`
    is the rest of the http block."""
    return f"""# written by {written_by}
worker_processes 1;
daemon off;
master_process on;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    tcp_nodelay on;
    keepalive_timeout 65;
    keepalive_requests {keepalive_requests};
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    geo $dollar {{ default "$"; }}
{servers}}}
"""


def nginx_argv(work, listen, http_extra=""):
    """The peer for launch and shutdown runs: one nginx process (no master) answering 200 "ok"
    on `listen` (ADDRESS:PORT), configured in `work`; None when nginx is not installed."""
    conf = os.path.join(work, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""daemon off; master_process off; worker_processes 1; error_log stderr crit; pid {work}/nginx.pid;
events {{ worker_connections 64; }}
http {{ access_log off; client_body_temp_path {work}; proxy_temp_path {work}; fastcgi_temp_path {work};
        uwsgi_temp_path {work}; scgi_temp_path {work};{" " + http_extra if http_extra else ""}
        server {{ listen {listen}; location / {{ return 200 "ok"; }} }} }}
""")
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    return [nginx, "-p", work, "-c", conf] if os.path.exists(nginx) else None


# wrk's report ("Latency 44.00us", "100 requests in 5.00s", --latency percentiles) as numbers.
UNITS = {"us": 1.0, "ms": 1e3, "s": 1e6, "m": 60e6}


def to_us(text):
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    return float(match.group(1)) * UNITS[match.group(2)] if match else None


def parse_wrk(text):
    out = {"requests": None, "seconds": None, "rps": None, "p50_us": None, "p75_us": None, "p90_us": None,
           "p99_us": None, "avg_us": None, "max_us": None, "non2xx": 0,
           "socket_errors": {"connect": 0, "read": 0, "write": 0, "timeout": 0}}
    m = re.search(r"Latency\s+(\S+)\s+(\S+)\s+(\S+)", text)
    if m:
        out["avg_us"], out["max_us"] = to_us(m.group(1)), to_us(m.group(3))
    for pct in ("50", "75", "90", "99"):
        m = re.search(rf"^\s*{pct}%\s+(\S+)", text, re.M)
        if m:
            out[f"p{pct}_us"] = to_us(m.group(1))
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", text)
    if m:
        out["requests"] = int(m.group(1))
        out["seconds"] = float(m.group(2)) * UNITS[m.group(3)] / 1e6
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if m:
        out["rps"] = float(m.group(1))
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    if m:
        out["non2xx"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        out["socket_errors"] = dict(zip(("connect", "read", "write", "timeout"), map(int, m.groups())))
    out["errors"] = out["non2xx"] + sum(out["socket_errors"].values())
    return out
