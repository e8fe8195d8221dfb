#!/usr/bin/env python3
"""The hypercall fuzzer's harness: boots Tests/Fuzz/HypercallGuest once per seed on a tender,
under its real seccomp filter, and judges how the tender ended.

Each seed gets a fresh tender (`--mem` 8M or 32M; zero, one or two network devices on
socketpairs fed with random frames, whatever the guest sends is read and dropped — except for
one seed in 32, whose peer stops reading, as a stalled passt would; a third of the seeds
also get a 1 MiB --disk) and the
guest `seed=N calls=C`. Allowed endings (README: exit statuses):
  finished      status 0 and the guest's "hypercall-fuzz: done" line
  halted        the guest's own HALT: a status the guest chose, no crash report
  crash-report  status 255 and a clean report: "swiftlet-T: guest crashed: ..." then only
                backtrace lines, no control characters; on spt a fault must be in guest code
  tender-error  status 125 (the tender refused something, with its reason on stderr)
Violations (the run fails):
  hang          still running after --timeout seconds (killed; its state is recorded);
                hang-stalled when its peer had stopped reading
  tender-signal the tender died by a signal (SIGSYS: a system call outside its allow-list)
  tender-fault  spt: a "crash report" for a fault whose instruction is outside guest memory,
                i.e. the tender itself faulted on a pointer the guest gave it
  guest-oracle  the guest saw a hypercall return after the tender wrote where the guest may not
                (text, read-only data, boot info, the guard page...) or after a malformed call
  report-format stderr is not a clean crash report (forged lines, control characters)
  rss           peak RSS (wait4) above the bound: guest memory + --rss-slack-mb
  bad-status    any other status

    Tests/Fuzz/hypercall.py --tender .build/release/swiftlet-hvt --image hc.swiftlet --seconds 60
    Tests/Fuzz/hypercall.sh MINUTES [hvt|spt|both]     # builds everything, then runs this
Reproduce one seed: TENDER [--net fd:N] --mem M IMAGE seed=S calls=C trace
"""
import argparse, collections, json, os, random, re, resource, selectors, signal, socket, struct, subprocess, sys, time

GUEST_BASE = 0x1_0000_0000

# What each violation kind has been seen to mean (issue 8, part 4), for the summary.
ISSUE_ITEMS = {
    "guest-oracle": "issue 8 §4: the tender writes where the guest may not (output buffers must be guest-writable)",
    "tender-fault": "issue 8 §4: on spt a buffer the tender cannot touch crashes the tender itself",
    "report-format": "issue 8 §4: the guest's crash message is printed raw (escape control characters)",
    "hang-stalled": "issue 8 §4: a passt that stops reading blocks the tender in writeAll forever",
}


def seed_setup(seed):
    """Memory size, number of network devices, and whether the peer stops reading (a passt
    that stalls) for a seed (deterministic)."""
    devices = [0, 1, 1, 2][seed % 4]
    return ("8M" if seed % 2 else "32M"), devices, devices > 0 and seed % 32 == 31


def run_seed(tender, image, seed, calls, timeout, target):
    memory, devices, stalled = seed_setup(seed)
    pairs = [socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM) for _ in range(devices)]
    ours = [a for a, _ in pairs]
    theirs = [b for _, b in pairs]
    command = [tender, "--mem", memory]
    for sock in theirs:
        command += ["--net", f"fd:{sock.fileno()}"]
    if seed % 3 == 0:   # a 1 MiB disk after the network devices (the guest's handles 0-2 reach it)
        disk = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"hypercall-fuzz-{os.getpid()}.img")
        if os.path.exists(disk):
            os.remove(disk)
        command += ["--disk", disk, "--disk-size", "1M"]
    command += [image, f"seed={seed}", f"calls={calls}"]
    started = time.monotonic()
    # Linux keeps a process's RSS high-water mark across exec, and the tender is spawned from
    # this (v)forked harness: its peak reads at least the harness's own. Recorded to tell apart.
    harness_rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               pass_fds=[s.fileno() for s in theirs], env={})
    for sock in theirs:
        sock.close()
    frames = random.Random(seed)
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ, "stdout")
    selector.register(process.stderr, selectors.EVENT_READ, "stderr")
    outgoing = {}
    for sock in ours:
        sock.setblocking(False)
        selector.register(sock, (0 if stalled else selectors.EVENT_READ) | selectors.EVENT_WRITE, "net")
        outgoing[sock] = bytearray()
    stdout, stderr = bytearray(), bytearray()
    frames_left = 400
    open_pipes = 2
    hang = None
    while open_pipes:
        remaining = started + timeout - time.monotonic()
        if remaining <= 0:
            hang = describe_hung(process.pid)
            process.kill()
            break
        for key, events in selector.select(timeout=min(remaining, 0.05)):
            if key.data in ("stdout", "stderr"):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    selector.unregister(key.fileobj)
                    open_pipes -= 1
                elif key.data == "stdout":
                    stdout += chunk
                    del stdout[:-8192]          # only the tail matters (and the guest may write a lot)
                elif len(stderr) < 65536:
                    stderr += chunk
                continue
            sock = key.fileobj
            try:
                if events & selectors.EVENT_READ and not stalled and not sock.recv(65536):
                    selector.unregister(sock)
                    continue
                if events & selectors.EVENT_WRITE:
                    if not outgoing[sock] and frames_left > 0:
                        length = frames.choice([60, 64, 342, 1514, frames.randint(14, 1514)])
                        outgoing[sock] += struct.pack(">I", length) + frames.randbytes(length)
                        frames_left -= 1
                    if outgoing[sock]:
                        sent = sock.send(outgoing[sock])
                        del outgoing[sock][:sent]
                    elif frames_left == 0:
                        if stalled:
                            selector.unregister(sock)
                        else:
                            selector.modify(sock, selectors.EVENT_READ, "net")
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                selector.unregister(sock)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = 0   # reaped above
    elapsed = time.monotonic() - started
    for sock in ours:
        sock.close()
    process.stdout.close()
    process.stderr.close()
    selector.close()
    return {
        "seed": seed, "memory": memory, "devices": devices, "stalled_peer": stalled, "seconds": round(elapsed, 3),
        "status": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
        "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
        "max_rss_kb": usage.ru_maxrss, "harness_rss_kb": harness_rss_kb, "hang": hang,
        "stdout_tail": stdout[-600:].decode("utf-8", "replace"), "stderr": stderr.decode("utf-8", "replace"),
        "command": " ".join(command),
    }


def describe_hung(pid):
    """What a process that overran its time was doing (state, kernel wait channel, CPU)."""
    facts = {}
    for name in ("wchan", "syscall"):
        try:
            with open(f"/proc/{pid}/{name}") as f:
                facts[name] = f.read().strip()[:80]
        except OSError:
            pass
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        facts["state"] = fields[0]
        facts["cpu_ticks"] = int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        pass
    return facts


CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def printable(text):
    """`text` with control characters escaped, for logs and terminals."""
    return CONTROL.sub(lambda match: f"\\x{ord(match.group(0)):02x}", text)


BACKTRACE_LINE = re.compile(r"^  #\d+ 0x[0-9a-f]+( .*)?$")


def judge(result, target, rss_slack_mb):
    """(kind, violation?, detail) for one seed's run."""
    memory_bytes = (8 if result["memory"] == "8M" else 32) << 20
    bound_kb = (memory_bytes >> 10) + (rss_slack_mb << 10)
    stdout, stderr = result["stdout_tail"], result["stderr"]
    if result["hang"] is not None:
        if result["stalled_peer"]:
            return "hang-stalled", True, f"killed after the time limit, its peer having stopped reading; {result['hang']}"
        return "hang", True, f"killed after the time limit; {result['hang']}"
    if result["signal"] is not None:
        return "tender-signal", True, f"tender died by signal {signal.Signals(result['signal']).name}; stderr: {stderr[-300:]!r}"
    if result["max_rss_kb"] > bound_kb and result["max_rss_kb"] > result["harness_rss_kb"]:
        return "rss", True, f"peak RSS {result['max_rss_kb']} KB > bound {bound_kb} KB"
    # The guest's own verdict is its whole VIOLATION line (seed and call number formatted in)
    # followed by exit status 3. The same words also sit in its read-only data, which a seed may
    # rightly have the tender print: seed 210 on hvt dumped them with NULs for the numbers.
    violation = re.search(r"^hypercall-fuzz: VIOLATION seed \d+ call #\d+: [^\n]*", stdout, re.M)
    if violation and result["status"] == 3:
        return "guest-oracle", True, violation.group(0)
    status = result["status"]
    if status == 255 and "guest crashed: " in stderr:
        lines = stderr.rstrip("\n").split("\n")
        problems = []
        if CONTROL.search(stderr):
            problems.append("control characters in the report")
        if not lines[0].startswith(f"swiftlet-{target}: guest crashed: "):
            problems.append(f"first line {lines[0][:120]!r}")
        extra = [line for line in lines[1:] if line != "backtrace:" and not BACKTRACE_LINE.match(line)]
        if extra:
            problems.append(f"{len(extra)} lines that are not a backtrace, the first: {extra[0][:60]!r}")
        if problems:
            return "report-format", True, "; ".join(problems)
        frame = re.search(r"^  #0 0x([0-9a-f]+)", stderr, re.M)
        signalled = re.search(r"guest crashed: (segmentation fault|bus error|arithmetic exception|breakpoint trap|signal \d+)", lines[0])
        if target == "spt" and signalled and frame:
            rip = int(frame.group(1), 16)
            if not GUEST_BASE <= rip < GUEST_BASE + memory_bytes:
                return "tender-fault", True, f"{lines[0]} with rip {hex(rip)} outside guest memory"
        return "crash-report", False, lines[0]
    if status == 0 and "hypercall-fuzz: done" in stdout:
        return "finished", False, ""
    if status == 125:
        return "tender-error", False, stderr.strip()[:200]
    if status is not None and "guest crashed" not in stderr and (status != 0 or "hypercall-fuzz: done" not in stdout):
        # The guest's own HALT (or exit) with a status it chose; 255 when it asked for one
        # outside 0...254. Nothing may be on stderr then.
        if stderr.strip():
            return "report-format", True, f"status {status} with stderr {stderr[:200]!r}"
        return "halted", False, f"status {status}"
    return "bad-status", True, f"status {status}; stderr {stderr[:200]!r}"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tender", required=True, help="swiftlet-hvt or swiftlet-spt")
    parser.add_argument("--image", required=True, help="Tests/Fuzz/HypercallGuest built for the tender's target")
    parser.add_argument("--seconds", type=float, default=30, help="run seeds for this long (default 30)")
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--seeds", type=int, help="stop after this many seeds")
    parser.add_argument("--calls", type=int, default=200, help="hypercalls per seed at most (default 200)")
    parser.add_argument("--timeout", type=float, default=20, help="seconds before a seed counts as a hang (default 20)")
    parser.add_argument("--rss-slack-mb", type=int, default=24,
                        help="peak RSS bound: guest memory + this many MiB (default 24)")
    parser.add_argument("--json", help="write every seed's result and verdict here")
    arguments = parser.parse_args()
    target = "hvt" if arguments.tender.endswith("hvt") else "spt"

    deadline = time.monotonic() + arguments.seconds
    kinds = collections.Counter()
    violations, results = [], []
    max_rss = (0, None)
    seed = arguments.first_seed
    started = time.monotonic()
    while time.monotonic() < deadline and (arguments.seeds is None or len(results) < arguments.seeds):
        result = run_seed(arguments.tender, arguments.image, seed, arguments.calls, arguments.timeout, target)
        kind, violated, detail = judge(result, target, arguments.rss_slack_mb)
        detail = printable(detail)
        result.update(kind=kind, violation=violated, detail=detail)
        kinds[kind] += 1
        max_rss = max(max_rss, (result["max_rss_kb"], seed))
        if violated:
            violations.append(result)
            print(f"VIOLATION seed {seed}: {kind}: {detail}\n  reproduce: {result['command']} trace", flush=True)
        if not violated:            # the harness stays small, so a tender's peak RSS is its own
            del result["stdout_tail"], result["stderr"]
        results.append(result)
        seed += 1
    elapsed = time.monotonic() - started

    print(f"hypercall fuzzer on {target}: {len(results)} seeds ({arguments.first_seed}..{seed - 1}) in {elapsed:.0f} s, "
          f"{arguments.calls} calls per seed at most")
    for kind, count in sorted(kinds.items(), key=lambda item: -item[1]):
        print(f"  {kind:14} {count:7}" + ("   VIOLATION" if any(r["kind"] == kind and r["violation"] for r in results) else ""))
    print(f"  max RSS {max_rss[0] / 1024:.1f} MiB (seed {max_rss[1]}); bound: guest memory + {arguments.rss_slack_mb} MiB; "
          f"the harness's own peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f} MiB")
    print(f"  slowest seed {max((r['seconds'] for r in results), default=0):.2f} s; time limit {arguments.timeout:.0f} s")
    for kind in sorted({r["kind"] for r in violations}):
        if kind in ISSUE_ITEMS:
            print(f"  {kind}: {ISSUE_ITEMS[kind]}")
    if arguments.json:
        with open(arguments.json, "w") as f:
            json.dump({"target": target, "seeds": len(results), "seconds": elapsed, "kinds": kinds,
                       "max_rss_kb": max_rss[0], "violations": violations}, f, indent=1)
    sys.exit(1 if violations else 0)


if __name__ == "__main__":
    main()
