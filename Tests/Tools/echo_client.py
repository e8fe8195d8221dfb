#!/usr/bin/env python3
"""Echo client for the network tests and bench/lossy_soak.py: checks that what the guest's echo
service (port 7) sends back is exactly what was sent.

    echo_client.py ADDRESS [--tcp SIZE] [--udp]

--tcp SIZE streams SIZE bytes over one connection while reading the echo on a second thread, then
half-closes and expects the guest to close too. --udp sends 200 datagrams of up to 1280 bytes, one
at a time. Prints "tcp echo: N bytes intact" / "udp echo: 200 datagrams intact"; on failure it says
how far each direction got and how long it had been since the last byte came back, and exits 1.
"""
import argparse, hashlib, socket, sys, threading, time


def tcp_echo(address, size):
    data = hashlib.sha256(b"seed").digest() * (size // 32)
    connection = socket.create_connection((address, 7), timeout=30)
    received = hashlib.sha256()
    progress = {"back": 0, "last": time.monotonic()}

    def reader():
        while progress["back"] < len(data):
            try:
                chunk = connection.recv(1 << 16)
            except OSError as error:
                print(f"reader: {error} after {progress['back']} bytes back, "
                      f"{time.monotonic() - progress['last']:.1f} s since the last", flush=True)
                return
            if not chunk:
                break
            received.update(chunk)
            progress["back"] += len(chunk)
            progress["last"] = time.monotonic()

    thread = threading.Thread(target=reader)
    thread.start()
    view, sent = memoryview(data), 0
    try:
        while sent < len(data):
            sent += connection.send(view[sent:sent + 65536])
    except OSError as error:
        print(f"writer: {error} after {sent} of {len(data)} bytes sent, {progress['back']} back", flush=True)
        sys.exit(1)
    thread.join(60)
    connection.shutdown(socket.SHUT_WR)
    assert progress["back"] == len(data), f"got {progress['back']} of {len(data)} bytes back"
    assert received.digest() == hashlib.sha256(data).digest(), "echoed bytes differ"
    assert connection.recv(1) == b"", "the guest should close after our FIN"
    print(f"tcp echo: {progress['back']} bytes intact", flush=True)


def udp_echo(address):
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.settimeout(2)
    for i in range(200):
        payload = hashlib.sha256(str(i).encode()).digest() * (1 + i % 40)
        udp.sendto(payload, (address, 7))
        data, _ = udp.recvfrom(65536)
        assert data == payload, f"datagram {i} came back different"
    print("udp echo: 200 datagrams intact", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("address")
    parser.add_argument("--tcp", type=int, metavar="SIZE", help="bytes to echo over one TCP connection")
    parser.add_argument("--udp", action="store_true", help="echo 200 datagrams")
    args = parser.parse_args()
    if args.tcp is None and not args.udp:
        parser.error("nothing to do: give --tcp SIZE, --udp or both")
    if args.tcp is not None:
        tcp_echo(args.address, args.tcp)
    if args.udp:
        udp_echo(args.address)


if __name__ == "__main__":
    main()
