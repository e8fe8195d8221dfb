#!/usr/bin/env python3
"""A lossy link for tests, where the kernel has no netem: runs a tender with `--net fd:100` on a
socketpair (passt's framing: 4-byte big-endian length + frame) and relays frames to and from
a tap interface, dropping, duplicating and reordering them with a seeded generator.

    lossy_link.py --tap tap0 --loss 0.05 --duplicate 0.01 --reorder 0.05 --seed 1 -- TENDER IMAGE ARGS...

Runs until the tender exits (or SIGTERM); prints the relay's counts on stderr; exits with the tender's status.
"""
import argparse, fcntl, os, random, select, signal, socket, struct, subprocess, sys

TUNSETIFF, IFF_TAP, IFF_NO_PI = 0x400454CA, 0x0002, 0x1000


def open_tap(name):
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI))
    return fd


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tap", required=True)
    parser.add_argument("--loss", type=float, default=0.0)
    parser.add_argument("--duplicate", type=float, default=0.0)
    parser.add_argument("--reorder", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    rng = random.Random(args.seed)
    tap = open_tap(args.tap)
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    child_fd = 100   # high enough to collide with nothing we hold
    os.dup2(theirs.fileno(), child_fd, inheritable=True)
    tender = subprocess.Popen(command[:1] + ["--net", f"fd:{child_fd}"] + command[1:], pass_fds=[child_fd])
    os.close(child_fd)
    # Stopping the relay stops the guest with it. A launcher may have left SIGTERM blocked
    # (threads of test runners often do), so unblock it, as the tenders themselves do.
    counts = {"relayed": 0, "dropped": 0, "duplicated": 0, "reordered": 0}

    def report():
        print("lossy link: " + ", ".join(f"{k} {v}" for k, v in counts.items()), file=sys.stderr, flush=True)

    def stop(*_):
        tender.terminate()
        report()
        sys.exit(143)

    signal.signal(signal.SIGTERM, stop)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    theirs.close()
    held = {"to_guest": None, "to_tap": None}   # a frame held back to swap with the next
    pending = b""

    def deliver(direction, frame):
        """Apply the link's faults to one frame, then send it on."""
        if rng.random() < args.loss:
            counts["dropped"] += 1
            return
        copies = 2 if rng.random() < args.duplicate else 1
        counts["duplicated"] += copies - 1
        if held[direction] is None and rng.random() < args.reorder:
            held[direction] = frame
            counts["reordered"] += 1
            return
        for _ in range(copies):
            send(direction, frame)
        if held[direction] is not None:
            send(direction, held[direction])
            held[direction] = None

    def send(direction, frame):
        counts["relayed"] += 1
        if direction == "to_guest":
            ours.sendall(struct.pack(">I", len(frame)) + frame)
        else:
            os.write(tap, frame)

    while tender.poll() is None:
        readable, _, _ = select.select([tap, ours], [], [], 0.05)
        if tap in readable:
            deliver("to_guest", os.read(tap, 65536))
        if ours in readable:
            data = ours.recv(1 << 20)
            if not data:
                break
            pending += data
            while len(pending) >= 4:
                length = struct.unpack(">I", pending[:4])[0]
                if len(pending) < 4 + length:
                    break
                deliver("to_tap", pending[4:4 + length])
                pending = pending[4 + length:]
        for direction in held:   # never hold a frame while the link is idle
            if held[direction] is not None and not readable:
                send(direction, held[direction])
                held[direction] = None
    status = tender.wait()
    report()
    sys.exit(status if status >= 0 else 128 - status)


if __name__ == "__main__":
    main()
