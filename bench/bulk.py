#!/usr/bin/env python3
"""One-way TCP bulk throughput, side by side in one run: the guest (bench/bulk: discard on
port 9, source on port 19) on hvt and on spt, each on a tap in its own network namespace, with
the tap's checksum and segmentation offload and without it (`--net tap:NAME,offload=off`: one
MTU-sized frame at a time, as before ABI 3), against Linux<->Linux over a veth pair (a Python
discard/source server). The client always runs in the namespace. Needs root (namespaces) and a
release build. Prints the load average at the start and the end.

    python3 bench/bulk.py [--mb 64] [--runs 3] [--targets hvt,spt]
"""
import argparse, os, socket, statistics, subprocess, sys, threading, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELEASE = os.path.join(ROOT, ".build", "release")


def ip(*args, check=True):
    return subprocess.run(["ip", *args], check=check, capture_output=True)


def client(address, megabytes):
    """Runs inside a namespace: prints host->guest and guest->host Mbit/s."""
    data = b"x" * (1 << 20)
    s = socket.create_connection((address, 9), timeout=20)
    start = time.perf_counter()
    for _ in range(megabytes):
        s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    s.recv(1)           # the server closes once it has read everything
    to_server = megabytes * 8 * 1.048576 / (time.perf_counter() - start)
    s = socket.create_connection((address, 19), timeout=20)
    start, total = time.perf_counter(), 0
    while True:
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        total += len(chunk)
    from_server = total * 8 / 1e6 / (time.perf_counter() - start)
    print(f"{to_server:.0f} {from_server:.0f}")


def linux_server(megabytes):
    """Runs inside a namespace: discard on 9, source on 19 (one connection each at a time)."""
    def discard():
        listener = socket.create_server(("0.0.0.0", 9))
        while True:
            connection, _ = listener.accept()
            while connection.recv(1 << 20):
                pass
            connection.close()

    def source():
        listener = socket.create_server(("0.0.0.0", 19))
        data = b"Z" * (1 << 20)
        while True:
            connection, _ = listener.accept()
            for _ in range(megabytes):
                connection.sendall(data)
            connection.close()
    threading.Thread(target=discard, daemon=True).start()
    source()


def measure(namespace, address, megabytes, runs):
    results = []
    for _ in range(runs):
        out = subprocess.run(["ip", "netns", "exec", namespace, sys.executable, __file__, "--client", address,
                              "--mb", str(megabytes)], capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            sys.exit(f"client in {namespace} failed: {out.stderr}")
        results.append([float(x) for x in out.stdout.split()])
    return statistics.median(r[0] for r in results), statistics.median(r[1] for r in results)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=64)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--targets", default="hvt,spt")
    parser.add_argument("--client")
    parser.add_argument("--server", action="store_true")
    args = parser.parse_args()
    if args.client:
        return client(args.client, args.mb)
    if args.server:
        return linux_server(args.mb)

    subprocess.run(["swift", "build", "-c", "release"], cwd=ROOT, check=True, capture_output=True)
    image = "/tmp/swiftlet-bench-bulk.swiftlet"
    subprocess.run([os.path.join(RELEASE, "swiftlet"), "build", "bench/bulk", "-o", image], cwd=ROOT,
                   check=True, capture_output=True)
    tag = os.getpid()
    rows, processes, namespaces = {}, [], []
    load_before = os.getloadavg()
    try:
        targets = [t for t in args.targets.split(",") if t == "spt" or os.access("/dev/kvm", os.R_OK | os.W_OK)]
        runs = [(target, offload) for target in targets for offload in (True, False)]
        for index, (target, offload) in enumerate(runs):
            ns = f"swbulk-{target}{index}-{tag}"
            namespaces.append(ns)
            ip("netns", "add", ns)
            ip("-n", ns, "tuntap", "add", "tap0", "mode", "tap")
            ip("-n", ns, "addr", "add", f"10.22{index}.0.1/24", "dev", "tap0")
            ip("-n", ns, "link", "set", "tap0", "up")
            guest = subprocess.Popen(["ip", "netns", "exec", ns, os.path.join(RELEASE, f"swiftlet-{target}"),
                                      "--net", "tap:tap0" + ("" if offload else ",offload=off"), image,
                                      f"ip=10.22{index}.0.2/24", f"source={args.mb}"],
                                     stdout=subprocess.DEVNULL)
            processes.append(guest)
            time.sleep(0.5)
            rows[f"{target}" + ("" if offload else " no-offload")] = measure(ns, f"10.22{index}.0.2", args.mb, args.runs)
        client_ns, server_ns = f"swbulk-lc-{tag}", f"swbulk-ls-{tag}"
        namespaces += [client_ns, server_ns]
        ip("netns", "add", client_ns)
        ip("netns", "add", server_ns)
        ip("link", "add", f"vb{tag % 10000}a", "type", "veth", "peer", "name", f"vb{tag % 10000}b")
        ip("link", "set", f"vb{tag % 10000}a", "netns", client_ns)
        ip("link", "set", f"vb{tag % 10000}b", "netns", server_ns)
        ip("-n", client_ns, "addr", "add", "10.229.0.1/24", "dev", f"vb{tag % 10000}a")
        ip("-n", server_ns, "addr", "add", "10.229.0.2/24", "dev", f"vb{tag % 10000}b")
        ip("-n", client_ns, "link", "set", f"vb{tag % 10000}a", "up")
        ip("-n", server_ns, "link", "set", f"vb{tag % 10000}b", "up")
        server = subprocess.Popen(["ip", "netns", "exec", server_ns, sys.executable, __file__, "--server",
                                   "--mb", str(args.mb)])
        processes.append(server)
        time.sleep(0.5)
        rows["Linux veth"] = measure(client_ns, "10.229.0.2", args.mb, args.runs)
    finally:
        for process in processes:
            process.kill()
        for ns in namespaces:
            ip("netns", "del", ns, check=False)

    linux = rows["Linux veth"]
    print(f"one-way TCP bulk, {args.mb} MB, median of {args.runs} (Mbit/s; guest on a tap, Linux over veth)")
    print(f"load average {load_before[0]:.2f} at the start, {os.getloadavg()[0]:.2f} at the end (2 CPUs)")
    print(f"  {'':<16} {'to server':>10} {'from server':>12} {'ratio to/from vs Linux':>26}")
    for name, (to_server, from_server) in rows.items():
        print(f"  {name:<16} {to_server:>10.0f} {from_server:>12.0f} "
              f"{to_server / linux[0]:>12.2f}x {from_server / linux[1]:>12.2f}x")


if __name__ == "__main__":
    main()
