#!/usr/bin/env python3
"""TCP client for the `-p` (passt) tests (Tests/IntegrationTests/PasstTests.swift) and
bench/passt.py. Talks to 127.0.0.1 only; every mode ends by DEADLINE seconds.

    passt_client.py echo PORT BYTES DEADLINE   send BYTES while reading the echo back; compare SHA-256
    passt_client.py to PORT BYTES DEADLINE     send BYTES to a discard server, wait for its close
    passt_client.py from PORT BYTES DEADLINE   send a request byte, read until the server closes

Prints one line, e.g. "echo: 104857600 bytes intact in 2.1 s (49.9 MB/s)"; exits 1 on a
short, corrupted or late transfer (with how far it got)."""
import hashlib, select, socket, sys, threading, time

CHUNK = 1 << 20


def pattern(size):
    """Deterministic bytes that differ from chunk to chunk (a reordering shows in the hash)."""
    block = bytes((i * 7 + 3) & 0xFF for i in range(CHUNK + 251))
    for index in range(0, size, CHUNK):
        shift = (index // CHUNK) % 251
        yield block[shift:shift + min(CHUNK, size - index)]


def fail(message):
    print(message, flush=True)
    sys.exit(1)


def main():
    mode, port, size, deadline = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    start = time.monotonic()
    end = start + deadline
    s = socket.create_connection(("127.0.0.1", port), timeout=deadline)
    s.settimeout(None)
    sent_hash, received_hash = hashlib.sha256(), hashlib.sha256()
    errors = []

    def send_all():
        try:
            for chunk in pattern(size):
                sent_hash.update(chunk)
                s.sendall(chunk)
            s.shutdown(socket.SHUT_WR)
        except OSError as error:
            errors.append(error)

    if mode in ("echo", "to"):
        threading.Thread(target=send_all, daemon=True).start()
    elif mode == "from":
        s.sendall(b"go")  # a request first: passt sends the handshake's last ACK only with data
    else:
        fail(f"unknown mode {mode}")

    received = 0
    while time.monotonic() < end:
        ready, _, _ = select.select([s], [], [], max(0.0, min(1.0, end - time.monotonic())))
        if not ready:
            continue
        try:
            data = s.recv(CHUNK)
        except OSError as error:
            fail(f"{mode}: {error} after {received} bytes back")
        if not data:
            break
        received += len(data)
        if mode == "echo":
            received_hash.update(data)
    else:
        fail(f"{mode}: late: {received} bytes back after {deadline} s (errors: {errors})")
    elapsed = time.monotonic() - start
    if errors:
        fail(f"{mode}: send failed: {errors[0]}")
    rate = f"in {elapsed:.1f} s ({size / elapsed / 1e6:.1f} MB/s)"
    if mode == "echo":
        if received != size or received_hash.digest() != sent_hash.digest():
            fail(f"echo: {received} of {size} bytes, hash {'equal' if received_hash.digest() == sent_hash.digest() else 'differs'}")
        print(f"echo: {size} bytes intact {rate}")
    elif mode == "to":
        if received != 0:
            fail(f"to: the discard server sent {received} bytes")
        print(f"to: {size} bytes {rate}")
    else:
        if received != size:
            fail(f"from: {received} of {size} bytes")
        print(f"from: {size} bytes {rate}")


if __name__ == "__main__":
    main()
