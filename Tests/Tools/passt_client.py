#!/usr/bin/env python3
"""TCP client for the `-p` (passt) tests (Tests/IntegrationTests/PasstTests.swift) and
bench/passt.py. Talks to 127.0.0.1 only; every mode ends by DEADLINE seconds.

    passt_client.py echo PORT BYTES DEADLINE   send BYTES while reading the echo back; compare SHA-256
    passt_client.py to PORT BYTES DEADLINE     send BYTES to a discard server, wait for its close
    passt_client.py from PORT BYTES DEADLINE   send a request byte, read until the server closes
    passt_client.py cut-short PORT BYTES DEADLINE
        HTTP requests the server answers before reading them whole (a 33,000-byte header field:
        431; a body of BYTES over the limit: 413), each read as curl does (the answer, then
        close), each followed by a GET / that must get 200 (passt used to wedge for good)

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


def connect(port, end):
    """Connects to 127.0.0.1:PORT, retrying for up to 10 s while nothing listens there yet
    (the launcher is still starting passt on a busy machine)."""
    give_up = min(end, time.monotonic() + 10)
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=max(0.1, end - time.monotonic()))
        except ConnectionRefusedError:
            if time.monotonic() >= give_up:
                raise
            time.sleep(0.1)


def http_exchange(port, request, end):
    """Sends `request` (from a thread, as the server may answer before it is all sent), reads
    one response with a Content-Length body, closes; returns the status code."""
    s = connect(port, end)
    s.settimeout(max(0.1, end - time.monotonic()))
    threading.Thread(target=lambda: _send_quietly(s, request), daemon=True).start()
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                raise OSError(f"closed after {len(data)} bytes of the response head")
            data += chunk
        head, body = data.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        length = next((int(line.split(":", 1)[1]) for line in lines[1:] if line.lower().startswith("content-length:")), 0)
        while len(body) < length:
            chunk = s.recv(65536)
            if not chunk:
                raise OSError("closed before the response body ended")
            body += chunk
        return int(lines[0].split()[1])
    finally:
        try:
            s.shutdown(socket.SHUT_RDWR)  # also ends a sendall still under way
        except OSError:
            pass
        s.close()


def _send_quietly(s, request):
    try:
        s.sendall(request)
    except OSError:
        pass  # closed by us once the answer was in


def cut_short(port, size, deadline):
    start = time.monotonic()
    end = start + deadline
    requests = [("header", b"GET / HTTP/1.1\r\nHost: guest\r\nX: " + b"a" * 33000 + b"\r\n\r\n", 431),
                ("upload", b"POST /api/count HTTP/1.1\r\nHost: guest\r\nContent-Length: %d\r\n\r\n" % size + b"b" * size, 413)]
    results = []
    for name, request, expected in requests * 2:
        for what, payload, wanted in ((name, request, expected), ("then GET /", b"GET / HTTP/1.1\r\nHost: guest\r\n\r\n", 200)):
            try:
                status = http_exchange(port, payload, end)
            except OSError as error:
                fail(f"cut-short: {what}: {error} ({', '.join(results)})")
            if status != wanted:
                fail(f"cut-short: {what}: {status}, expected {wanted} ({', '.join(results)})")
            results.append(f"{what} {status}")
    print(f"cut-short: {', '.join(results)} in {time.monotonic() - start:.1f} s")


def main():
    mode, port, size, deadline = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    if mode == "cut-short":
        return cut_short(port, size, deadline)
    start = time.monotonic()
    end = start + deadline
    s = connect(port, end)
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
