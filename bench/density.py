#!/usr/bin/env python3
"""How many examples/web instances this machine serves at once. Starts --count copies, each on
its own tap in one network namespace this script creates (instance i: host 10.64.0.0 + 4i + 1,
guest + 2, a /30 per tap), polls every one with GET / from the moment it is spawned, keeps them
all running until each has answered (or --limit seconds passed), then reports:

  start rate          instances spawned per second (the launch loop alone)
  launch -> first 200 per instance, p50/p99/max, ms (a client that connects, sends GET / and
                      reads `HTTP/1.1 200`; a connection not established within 10 ms × its
                      attempt number (at most 0.5 s) is dropped and tried again, so a SYN sent
                      before the guest listens costs milliseconds, not a 1 s retransmission)
  PSS per instance    /proc/PID/smaps_rollup of each tender: its share of text and libraries
                      plus the guest memory it touched (guest memory is the tender's mapping)
  host memory         MemAvailable before the launch minus with all running (taps included)
  failures            every instance that did not answer, grouped by why: exited (its status
                      and last log line), or alive but silent; kernel messages that appeared

--launch tender runs the bare tender (`swiftlet-T --net tap:NAME,mac=M IMAGE -- ip=...`);
--launch run goes through the launcher (`swiftlet run --target T --net tap:NAME ...`), as a
user would. --neighbours static gives each guest a permanent neighbour entry (its MAC is fixed
on the command line), so the kernel's neighbour table does not need ARP and is not bounded by
gc_thresh3 (1024 entries by default, for the whole host); --neighbours arp leaves it to ARP.

--launch podman runs N containers of the packaged image instead (`swiftlet package examples/web
--target T -p 80 --mem M`, `podman load`, then `podman run -d -p 127.0.0.1:PORT:80` each, --jobs
at a time, with the runc runtime and lowered ulimits that podman needs here: platform-facts),
polled on their published ports; memory per container is the PSS of its tender, its passt and
its conmon, and the report names what failed (podman's error, or the container's exit status
and last log line). Containers and the image are removed on exit.

Launching stops early when MemAvailable falls below --reserve GB (default 3), so the machine's
other work is never pushed into the OOM killer; the report then says so.

Needs root (namespace, taps) and a release build (`swift build -c release`). Everything it
starts is killed and the namespace (with every tap) deleted on exit, Ctrl-C included.

    python3 bench/density.py --target hvt --count 1000 [--launch tender|run] [--mem 2M]
    python3 bench/density.py --target spt --count 100 --launch podman [--jobs 4]
"""
import argparse, ctypes, re, errno, heapq, ipaddress, os, selectors, signal, socket, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import IP, ip, kvm_usable, pss_kib, rss_kib  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELEASE = os.path.join(ROOT, ".build", "release")
BASE = ipaddress.IPv4Address("10.64.0.0")
ATTEMPT_TIMEOUT = 0.01       # × the attempt's number, at most 0.5 s: a connection not established by then is retried
RETRY_DELAY = 0.002          # after a refused connection (the guest is not listening yet)
MAX_CONNECTING = 256         # clients in flight at once (file descriptors)
CLONE_NEWNET, CLONE_NEWNS = 0x40000000, 0x00020000
MS_REC, MS_SLAVE, MNT_DETACH = 0x4000, 0x80000, 2


def addresses(index):
    network = BASE + 4 * index
    return str(network + 1), str(network + 2)


def mac(index):
    return "02:5e:%02x:%02x:%02x:%02x" % ((index >> 24) & 0xFF, (index >> 16) & 0xFF, (index >> 8) & 0xFF, index & 0xFF)


def meminfo():
    values = {}
    with open("/proc/meminfo") as f:
        for line in f:
            key, value = line.split(":", 1)
            values[key] = int(value.split()[0])
    return values


def percentile(values, fraction):
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def kernel_messages():
    out = subprocess.run(["dmesg"], capture_output=True, text=True)
    return out.stdout.splitlines() if out.returncode == 0 else []


class Prober:
    """GET / to every instance, from its spawn on, nonblocking; at most MAX_CONNECTING sockets."""

    def __init__(self, endpoint=lambda index: (addresses(index)[1], 80)):
        self.endpoint = endpoint                # index -> (address, port) to GET / from
        self.selector = selectors.DefaultSelector()
        self.waiting = []                       # heap of (not before, index)
        self.spawned = {}                       # index -> spawn time
        self.answered = {}                      # index -> seconds from spawn to the 200
        self.attempts = {}                      # index -> connection attempts
        self.errors = {}                        # index -> last error
        self.gone = set()                       # instances that exited: no more attempts
        self.open = 0

    def add(self, index, spawned):
        self.spawned[index] = spawned
        heapq.heappush(self.waiting, (spawned, index))

    def _start(self, index):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST on close: no TIME-WAIT
        self.attempts[index] = self.attempts.get(index, 0) + 1
        code = sock.connect_ex(self.endpoint(index))
        if code not in (0, errno.EINPROGRESS):
            sock.close()
            self.errors[index] = errno.errorcode.get(code, str(code))
            heapq.heappush(self.waiting, (time.monotonic() + RETRY_DELAY, index))
            return
        self.open += 1
        timeout = min(0.5, ATTEMPT_TIMEOUT * self.attempts[index])
        self.selector.register(sock, selectors.EVENT_WRITE, [index, "connecting", time.monotonic() + timeout, b""])

    def _finish(self, sock, retry_at=None):
        self.selector.unregister(sock)
        sock.close()
        self.open -= 1
        return retry_at

    def step(self, timeout):
        now = time.monotonic()
        while self.waiting and self.waiting[0][0] <= now and self.open < MAX_CONNECTING:
            index = heapq.heappop(self.waiting)[1]
            if index not in self.gone:
                self._start(index)
        wait = timeout
        if self.waiting and self.open < MAX_CONNECTING:
            wait = max(0, min(wait, self.waiting[0][0] - now))
        for key, _ in self.selector.select(wait):
            sock, state = key.fileobj, key.data
            index = state[0]
            if state[1] == "connecting":
                code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if code:
                    self.errors[index] = errno.errorcode.get(code, str(code))
                    self._finish(sock)
                    heapq.heappush(self.waiting, (time.monotonic() + RETRY_DELAY, index))
                    continue
                try:
                    sock.send(b"GET / HTTP/1.1\r\nHost: density\r\nConnection: close\r\n\r\n")
                except OSError as error:
                    self.errors[index] = errno.errorcode.get(error.errno, str(error))
                    self._finish(sock)
                    heapq.heappush(self.waiting, (time.monotonic() + RETRY_DELAY, index))
                    continue
                state[1] = "reading"
                state[2] = time.monotonic() + 5.0
                self.selector.modify(sock, selectors.EVENT_READ, state)
            else:
                try:
                    chunk = sock.recv(64)
                except OSError as error:
                    chunk, self.errors[index] = b"", errno.errorcode.get(error.errno, str(error))
                state[3] += chunk
                if state[3].startswith(b"HTTP/1.1 200"):
                    self.answered[index] = time.monotonic() - self.spawned[index]
                    self._finish(sock)
                elif not chunk or len(state[3]) >= 12:
                    self.errors[index] = f"answered {state[3][:12]!r}" if state[3] else "closed without an answer"
                    self._finish(sock)
                    heapq.heappush(self.waiting, (time.monotonic() + RETRY_DELAY, index))
        # Connections not established (or not answered) in time start over.
        now = time.monotonic()
        for key in list(self.selector.get_map().values()):
            if key.data[2] <= now:
                index = key.data[0]
                self.errors[index] = "connect timeout" if key.data[1] == "connecting" else "no answer in 5 s"
                self._finish(key.fileobj)
                heapq.heappush(self.waiting, (now, index))

    def pending(self):
        return len(self.spawned) - len(self.answered) - len(self.gone - self.answered.keys())

    def close(self):
        for key in list(self.selector.get_map().values()):
            key.fileobj.close()
        self.selector.close()


def enter(namespace):
    """Moves this process into the namespace as `ip netns exec` does: the network namespace, and
    a private mount namespace with /sys remounted so /sys/class/net shows its taps (the launcher
    looks there)."""
    libc = ctypes.CDLL(None, use_errno=True)

    def check(result, what):
        if result != 0:
            raise OSError(ctypes.get_errno(), what)
    fd = os.open(f"/var/run/netns/{namespace}", os.O_RDONLY)
    try:
        check(libc.setns(fd, CLONE_NEWNET), f"setns {namespace}")
    finally:
        os.close(fd)
    check(libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    check(libc.mount(b"none", b"/", None, MS_REC | MS_SLAVE, None), "mount --make-rslave /")
    check(libc.umount2(b"/sys", MNT_DETACH), "umount /sys")
    check(libc.mount(namespace.encode(), b"/sys", b"sysfs", 0, None), "mount sysfs")


def create_taps(namespace, count, static_neighbours, work):
    """All taps in one `ip -batch` (thousands of `ip` processes would dominate the set-up)."""
    batch = os.path.join(work, "taps.batch")
    with open(batch, "w") as f:
        f.write("link set lo up\n")
        for index in range(count):
            host, guest = addresses(index)
            f.write(f"tuntap add d{index} mode tap\naddr add {host}/30 dev d{index}\nlink set d{index} up\n")
            if static_neighbours:
                f.write(f"neigh add {guest} lladdr {mac(index)} dev d{index} nud permanent\n")
    result = subprocess.run([IP, "-n", namespace, "-batch", batch], capture_output=True, text=True, timeout=1200)
    if result.returncode != 0:
        raise RuntimeError(f"creating taps: {result.stderr.strip()[-500:]}")


def argv(args, index, image):
    host, guest = addresses(index)
    network = f"tap:d{index}" + (f",mac={mac(index)}" if args.neighbours == "static" else "")
    guest_arguments = ["--", f"ip={guest}/30", "log=off"]
    if args.launch == "tender":
        return [os.path.join(RELEASE, f"swiftlet-{args.target}"), "--mem", args.mem, "--net", network, image] + guest_arguments
    return [os.path.join(RELEASE, "swiftlet"), "run", "--target", args.target, "--mem", args.mem, "--net", network, image] + guest_arguments


PODMAN_CONF = """[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
runtime = "runc"
"""
PODMAN_PORTS = 21000          # container i is published on 127.0.0.1:(PODMAN_PORTS + i)


def containers(args):
    """--launch podman: N containers of the packaged image, each published on a loopback port."""
    work = tempfile.mkdtemp(prefix="density-podman-")
    conf = os.path.join(work, "containers.conf")
    with open(conf, "w") as f:
        f.write(PODMAN_CONF)
    env = dict(os.environ, CONTAINERS_CONF=conf, SWIFTLET_TENDERS=RELEASE)
    tag = f"localhost/swiftlet-density:{args.target}-{os.getpid()}"
    prefix = f"swdensity-{os.getpid()}-"

    def podman(*words, timeout=600):
        return subprocess.run(["podman", *words], capture_output=True, text=True, env=env, timeout=timeout)

    archive = os.path.join(work, "web.tar")
    packaged = subprocess.run([os.path.join(RELEASE, "swiftlet"), "package", os.path.join(ROOT, "examples", "web"),
                               "--target", args.target, "-p", "80", "--mem", args.mem, "--tag", tag.split("/", 1)[1], "-o", archive],
                              capture_output=True, text=True, env=env)
    if packaged.returncode != 0:
        sys.exit(f"swiftlet package: {packaged.stderr.strip()}")
    print(packaged.stderr.strip().splitlines()[-1], flush=True)
    if podman("load", "-i", archive).returncode != 0:
        sys.exit("podman load failed")
    prober = Prober(endpoint=lambda index: ("127.0.0.1", PODMAN_PORTS + index))
    runs, launched, spawn_failures, stopped = {}, [], {}, None
    try:
        baseline = meminfo()
        launch_start = time.monotonic()
        index = 0
        while index < args.count or runs:
            while index < args.count and len(runs) < args.jobs:
                if meminfo()["MemAvailable"] < args.reserve * 1048576:
                    stopped = f"launching stopped at {index}: MemAvailable below the {args.reserve:g} GB reserve"
                    args.count = index
                    break
                command = ["podman", "run", "-d", "--name", f"{prefix}{index}", "-p", f"127.0.0.1:{PODMAN_PORTS + index}:80"]
                if args.target == "hvt":
                    command += ["--device", "/dev/kvm"]
                runs[index] = (subprocess.Popen(command + [tag], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env),
                               time.monotonic())
                index += 1
            for done in [i for i, (process, _) in runs.items() if process.poll() is not None]:
                process, spawned = runs.pop(done)
                if process.returncode == 0:
                    launched.append(done)
                    prober.add(done, spawned)
                else:
                    spawn_failures[done] = process.stderr.read().decode(errors="replace").strip().splitlines()[-1:]
            prober.step(0.01)
        launch_seconds = time.monotonic() - launch_start
        deadline = time.monotonic() + args.limit
        while prober.pending() and time.monotonic() < deadline:
            prober.step(0.05)
        all_answered = time.monotonic() - launch_start
        if args.hold:
            time.sleep(args.hold)
        with_all = meminfo()

        # Memory: each container's tender (its PID 1), passt (the tender's child) and conmon (its parent).
        inspected = podman("inspect", "--format", "{{.Name}} {{.State.Pid}} {{.State.Status}} {{.State.ExitCode}}",
                           *[f"{prefix}{i}" for i in launched]).stdout.split("\n")
        state = {}
        for line in inspected:
            words = line.split()
            if len(words) == 4:
                state[int(words[0][len(prefix):])] = (int(words[1]), words[2], words[3])
        parts = {"tender": [], "passt": [], "conmon": []}
        for pid, status, _ in state.values():
            if status != "running" or pid <= 0:
                continue
            parts["tender"].append(pss_kib(pid))
            children = open(f"/proc/{pid}/task/{pid}/children").read().split() if os.path.exists(f"/proc/{pid}/task/{pid}/children") else []
            parts["passt"].extend(pss_kib(int(child)) for child in children)
            with open(f"/proc/{pid}/stat") as f:
                parent = int(f.read().rsplit(")", 1)[1].split()[1])
            parts["conmon"].append(pss_kib(parent))
        latencies = [seconds * 1000 for seconds in prober.answered.values()]
        answered = len(prober.answered)

        failures = {}
        for i in range(args.count):
            if i in prober.answered:
                continue
            if i in spawn_failures:
                reason = f"podman run failed: {' '.join(spawn_failures[i])}"
            elif i in state and state[i][1] != "running":
                logs = podman("logs", f"{prefix}{i}").stderr.strip().splitlines() + podman("logs", f"{prefix}{i}").stdout.strip().splitlines()
                reason = f"exited {state[i][2]}: {logs[-1] if logs else '(no output)'}"
            else:
                reason = f"running, no 200 (last client error: {prober.errors.get(i)})"
            kind = re.sub(r"[0-9a-f]{12,64}|swdensity-[0-9]+-[0-9]+|127\.0\.0\.1:[0-9]+", "…", reason)
            failures.setdefault(kind, []).append(i)

        print()
        print(f"density: {args.count} x examples/web containers (podman {podman('version', '--format', '{{.Client.Version}}').stdout.strip()}, "
              f"runc), {args.target}, --mem {args.mem}, {args.jobs} podman run at a time")
        print(f"  answered GET / 200     {answered} / {len(launched)} started" + (f" ({stopped})" if stopped else ""))
        print(f"  start rate             {len(launched) / launch_seconds:.1f} containers/s ({launch_seconds:.1f} s for all `podman run`; "
              f"all answered {all_answered:.1f} s after the first)")
        if latencies:
            first = [prober.answered[i] * 1000 for i in sorted(prober.answered)[:200]]
            print(f"  podman run -> first 200  p50 {percentile(latencies, 0.5):.0f} ms, p99 {percentile(latencies, 0.99):.0f} ms, "
                  f"max {max(latencies):.0f} ms (first 200 containers: p50 {percentile(first, 0.5):.0f} ms, p99 {percentile(first, 0.99):.0f} ms)")
        for name, values in parts.items():
            values = [v for v in values if v is not None]
            if values:
                print(f"  PSS {name:<7}            mean {sum(values) / len(values):.0f} kB (p50 {percentile(values, 0.5)} kB, "
                      f"max {max(values)} kB) over {len(values)}")
        total = sum(sum(v for v in values if v is not None) for values in parts.values())
        running = sum(1 for s in state.values() if s[1] == "running")
        if running:
            print(f"  PSS per container      {total / running:.0f} kB (tender + passt + conmon)")
        used = (baseline["MemAvailable"] - with_all["MemAvailable"]) / 1024
        print(f"  host memory used       {used:.0f} MB in total ({used * 1024 / max(len(launched), 1):.0f} kB per container: "
              f"PSS plus the kernel's share: cgroups, overlay mounts, veths, conntrack)")
        if failures:
            print(f"  failures ({args.count - answered}):")
            for reason, indices in sorted(failures.items(), key=lambda item: -len(item[1])):
                print(f"    {len(indices):>6} x {reason}  (e.g. container {indices[0]})")
    except KeyboardInterrupt as stop:
        print(f"interrupted ({stop}); cleaning up", file=sys.stderr)
    finally:
        prober.close()
        for process, _ in runs.values():
            process.wait()
        started = time.monotonic()
        names = podman("ps", "--all", "--format", "{{.Names}}", "--filter", f"name={prefix}").stdout.split()
        for batch in range(0, len(names), 100):
            podman("rm", "--force", "--time", "0", *names[batch:batch + 100], timeout=1200)
        podman("rmi", "--force", tag)
        subprocess.run(["rm", "-rf", work])
        print(f"cleaned up: {len(names)} containers and the image removed ({time.monotonic() - started:.1f} s)", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", choices=["hvt", "spt"], default="hvt")
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--launch", choices=["tender", "run", "podman"], default="tender")
    parser.add_argument("--jobs", type=int, default=4, help="--launch podman: `podman run` commands at a time")
    parser.add_argument("--mem", default="2M")
    parser.add_argument("--neighbours", choices=["static", "arp"], default="static")
    parser.add_argument("--limit", type=float, default=120.0, help="seconds to wait, after the last launch, for every answer")
    parser.add_argument("--reserve", type=float, default=3.0,
                        help="GB of MemAvailable to leave the rest of the machine: launching stops below it")
    parser.add_argument("--hold", type=float, default=0.0, help="seconds to keep them all running after the last answer")
    parser.add_argument("--image", help="run this examples/web image instead of building one with the release swiftlet")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("density.py needs root (a network namespace and taps; rootful podman)")
    if args.launch == "podman":
        if args.target == "hvt" and not kvm_usable():
            sys.exit("--target hvt needs /dev/kvm, and it is not usable here: use --target spt")
        for product in (f"swiftlet-{args.target}", "swiftlet"):
            if not os.path.exists(os.path.join(RELEASE, product)):
                sys.exit("build first: swift build -c release")
        return containers(args)
    if args.launch == "run" and args.neighbours == "static":
        print("--launch run: the launcher takes no guest MAC (--net tap:NAME only), so the guests are found by ARP "
              "(--neighbours arp; more than gc_thresh3 = 1024 guests overflow the host's neighbour table)", file=sys.stderr)
        args.neighbours = "arp"
    if args.target == "hvt" and not kvm_usable():
        sys.exit("--target hvt needs /dev/kvm, and it is not usable here: use --target spt")
    if not 1 <= args.count <= 60000:
        sys.exit("--count: 1 to 60000 (one /30 and one tap per instance)")
    for product in (f"swiftlet-{args.target}", "swiftlet"):
        if not os.path.exists(os.path.join(RELEASE, product)):
            sys.exit("build first: swift build -c release")
    image = args.image or os.path.join(ROOT, "examples", "web", ".build", "swiftlet", "web.swiftlet")
    if not args.image:
        subprocess.run([os.path.join(RELEASE, "swiftlet"), "build", os.path.join(ROOT, "examples", "web")], check=True, capture_output=True)

    namespace = f"swdensity-{os.getpid()}"
    work = tempfile.mkdtemp(prefix="density-")
    processes = {}
    prober = None

    def interrupted(number, _frame):
        raise KeyboardInterrupt(f"signal {number}")
    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGHUP, interrupted)
    before_messages = len(kernel_messages())
    try:
        ip("netns", "add", namespace)
        started = time.monotonic()
        create_taps(namespace, args.count, args.neighbours == "static", work)
        print(f"{args.count} taps in {namespace} in {time.monotonic() - started:.1f} s", flush=True)
        enter(namespace)
        baseline = meminfo()

        prober = Prober()
        launch_start = time.monotonic()
        spawn_failures = {}
        stopped = None
        for index in range(args.count):
            if index % 100 == 0 and meminfo()["MemAvailable"] < args.reserve * 1048576:
                stopped = f"launching stopped at {index}: MemAvailable below the {args.reserve:g} GB reserve"
                print(f"  {stopped}", flush=True)
                break
            log = open(os.path.join(work, f"{index}.log"), "wb")
            spawned = time.monotonic()
            try:
                processes[index] = subprocess.Popen(argv(args, index, image), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                                    close_fds=True)
                prober.add(index, spawned)
            except OSError as error:
                spawn_failures[index] = str(error)
            finally:
                log.close()
            prober.step(0)
            if (index + 1) % 1000 == 0:
                print(f"  {index + 1} launched, {len(prober.answered)} answered, {time.monotonic() - launch_start:.1f} s", flush=True)
        launch_seconds = time.monotonic() - launch_start
        launched = len(processes)
        deadline = time.monotonic() + args.limit
        checked = time.monotonic()
        while prober.pending() and time.monotonic() < deadline:
            prober.step(0.05)
            if time.monotonic() - checked > 0.5:
                checked = time.monotonic()
                prober.gone.update(i for i, p in processes.items() if i not in prober.answered and p.poll() is not None)
        all_answered = time.monotonic() - launch_start
        if args.hold:
            time.sleep(args.hold)

        with_all = meminfo()
        pss = [value for value in (pss_kib(p.pid) for p in processes.values()) if value is not None]
        rss = [value for value in (rss_kib(p.pid) for p in processes.values()) if value is not None]
        latencies = [seconds * 1000 for seconds in prober.answered.values()]

        failures = {}
        for index in range(launched + len(spawn_failures)):
            if index in prober.answered:
                continue
            process = processes.get(index)
            if process is None:
                reason = f"not spawned: {spawn_failures.get(index)}"
            elif process.poll() is not None:
                with open(os.path.join(work, f"{index}.log"), "rb") as f:
                    lines = f.read().decode(errors="replace").strip().splitlines()
                reason = f"exited {process.returncode}: {lines[-1] if lines else '(no output)'}"
            else:
                reason = f"running, no 200 (last client error: {prober.errors.get(index)})"
            # One line per kind of failure: the instance's own tap, MAC and address do not count.
            kind = re.sub(r"\bd[0-9]+\b", "dN", re.sub(r"([0-9a-f]{2}:){5}[0-9a-f]{2}|10\.[0-9.]+", "…", reason))
            failures.setdefault(kind, []).append(index)

        answered = len(prober.answered)
        print()
        print(f"density: {args.count} x examples/web, {args.target}, --launch {args.launch}, --mem {args.mem}, "
              f"neighbours {args.neighbours}")
        print(f"  answered GET / 200     {answered} / {launched} launched" + (f" ({stopped})" if stopped else ""))
        print(f"  start rate             {launched / launch_seconds:.0f} instances/s ({launch_seconds:.1f} s to launch all; "
              f"all answered {all_answered:.1f} s after the first launch)")
        if latencies:
            print(f"  launch -> first 200    p50 {percentile(latencies, 0.5):.1f} ms, p99 {percentile(latencies, 0.99):.1f} ms, "
                  f"max {max(latencies):.1f} ms")
        if pss:
            print(f"  PSS per instance       mean {sum(pss) / len(pss):.0f} kB (p50 {percentile(pss, 0.5)} kB, max {max(pss)} kB; "
                  f"RSS p50 {percentile(rss, 0.5)} kB) over {len(pss)} running")
        used = (baseline["MemAvailable"] - with_all["MemAvailable"]) / 1024
        print(f"  host memory used       {used:.0f} MB in total ({used * 1024 / max(launched, 1):.0f} kB per instance; "
              f"MemAvailable {with_all['MemAvailable'] / 1048576:.1f} GB left)")
        print(f"  client attempts        {sum(prober.attempts.values())} connections for {answered} answers")
        if failures:
            print(f"  failures ({launched - answered}):")
            for reason, indices in sorted(failures.items(), key=lambda item: -len(item[1])):
                print(f"    {len(indices):>6} x {reason}  (e.g. instance {indices[0]}: guest {addresses(indices[0])[1]})")
        # Other work on the machine logs too (seccomp audit lines of other tests' tenders).
        new_messages = [line for line in kernel_messages()[before_messages:] if "audit" not in line]
        if new_messages:
            print(f"  kernel messages during the run ({len(new_messages)}, last 10):")
            for line in new_messages[-10:]:
                print(f"    {line}")
    except KeyboardInterrupt as stop:
        print(f"interrupted ({stop}); cleaning up", file=sys.stderr)
    finally:
        if prober:
            prober.close()
        for process in processes.values():
            if process.poll() is None:
                process.kill()
        for process in processes.values():
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                print(f"pid {process.pid} did not exit after SIGKILL", file=sys.stderr)
        started = time.monotonic()
        ip("netns", "del", namespace, check=False)
        subprocess.run(["rm", "-rf", work])
        print(f"cleaned up: {len(processes)} instances killed, namespace {namespace} deleted "
              f"({time.monotonic() - started:.1f} s)", flush=True)


if __name__ == "__main__":
    main()
