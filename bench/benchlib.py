"""What the benchmark scripts share: namespace plumbing, CPU pinning, KVM presence, and the
formatting of table cells."""
import os, subprocess

IP = "/usr/sbin/ip" if os.path.exists("/usr/sbin/ip") else "/sbin/ip"


def ip(*arguments, check=True):
    """Runs `ip ARGUMENTS`; raises with ip's own message when it fails and `check` is set."""
    result = subprocess.run([IP, *arguments], capture_output=True, text=True, timeout=15)
    if check and result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(arguments)}: {result.stderr.strip()}")
    return result


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
