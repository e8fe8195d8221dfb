#!/usr/bin/env python3
"""TCP through `swiftlet run -p` (passt on a socketpair, client on 127.0.0.1), per target:
an echo checked by SHA-256 (examples/echo), then one way into bench/bulk's discard port and
one way out of its source port. Each transfer is bounded in time by the client
(Tests/Tools/passt_client.py) and fails loudly when short, corrupted or late. The suite runs
100 MB echo and 1 GB each way too (Tests/IntegrationTests/PasstTests.swift); this adds timings and a 1 GB echo.
Needs a release build (`swift build -c release`) and passt.

    python3 bench/passt.py [--echo-mb 100] [--mb 1024] [--deadline 300]
"""
import argparse, os, signal, subprocess, sys, time

from benchlib import ROOT, kvm_usable

CLI = os.path.join(ROOT, ".build", "release", "swiftlet")
CLIENT = os.path.join(ROOT, "Tests", "Tools", "passt_client.py")
BASE_PORT = 19000 + os.getpid() % 500 * 8


def build(path):
    subprocess.run([CLI, "build", os.path.join(ROOT, path)], check=True, capture_output=True)
    name = os.path.basename(path)
    return os.path.join(ROOT, path, ".build", "swiftlet", f"{name}.swiftlet")


def with_guest(target, image, forwards, arguments, clients, deadline):
    """Boots image through `swiftlet run -p`, runs each client in turn, stops the guest."""
    publish = [part for host, guest in forwards for part in ("-p", f"{host}:{guest}")]
    guest = subprocess.Popen([CLI, "run", "--target", target, *publish, image, "--", *arguments],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        time.sleep(1.0)
        lines = []
        for client in clients:
            out = subprocess.run([sys.executable, CLIENT, *client, str(deadline)], capture_output=True, text=True,
                                 timeout=deadline + 30)
            line = (out.stdout + out.stderr).strip().splitlines()[-1:] or ["(no output)"]
            lines.append((out.returncode == 0, line[0]))
        return lines
    finally:
        os.killpg(guest.pid, signal.SIGTERM)
        guest.wait(10)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--echo-mb", type=int, default=100)
    parser.add_argument("--mb", type=int, default=1024)
    parser.add_argument("--deadline", type=float, default=300)
    args = parser.parse_args()
    if not os.path.exists(CLI):
        sys.exit("build first: swift build -c release")
    echo, bulk = build("examples/echo"), build("bench/bulk")
    failed = False
    print(f"TCP through swiftlet run -p (passt), client on 127.0.0.1, each bounded to {args.deadline:.0f} s")
    for index, target in enumerate(["hvt", "spt"] if kvm_usable() else ["spt"]):
        port = BASE_PORT + index * 4
        results = with_guest(target, echo, [(port, 7)], [], [["echo", str(port), str(args.echo_mb << 20)]],
                             args.deadline)
        results += with_guest(target, bulk, [(port + 1, 9), (port + 2, 19)], [f"source={args.mb}"],
                              [["to", str(port + 1), str(args.mb << 20)], ["from", str(port + 2), str(args.mb << 20)]],
                              args.deadline)
        for ok, line in results:
            failed |= not ok
            print(f"  {target}: {line}{'' if ok else '   <-- FAILED'}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
