#!/usr/bin/env python3
"""Writes the TLS fuzzer's seeds (Tests/Fuzz/tls-corpus/) in TLSFuzzer.swift's record format:
control:u8 length:u8 [bytes] (bytes for operations 0 raw and 2 request only).
Real ClientHellos come from Python's ssl module (a MemoryBIO handshake that is never finished)."""
import ssl

from seed_files import write_seeds

RAW, HANDSHAKE, REQUEST, TAMPER, CLOCK, CLOSE_NOTIFY, FIN, RESET = range(8)
B = 0x08  # the second client

PAGE = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"


def op(operation, argument=0, data=b"", client=0):
    """One record; data longer than 255 bytes becomes several records of the same operation."""
    if operation in (RAW, REQUEST):
        out = b""
        chunks = [data[i:i + 255] for i in range(0, len(data), 255)] or [b""]
        for chunk in chunks:
            out += bytes([operation | client, len(chunk)]) + chunk
        return out
    return bytes([operation | client, argument])


def client_hello():
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["http/1.1"])
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname="localhost")
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def main():
    hello = client_hello()
    seeds = {
        "handshake-get": op(HANDSHAKE) + op(REQUEST, data=PAGE),
        "pipelined-get-and-post": op(HANDSHAKE) + op(REQUEST, data=PAGE + b"POST /echo HTTP/1.1\r\nHost: x\r\n"
                                                   b"Content-Length: 5\r\nConnection: close\r\n\r\nhello"),
        "big-response": op(HANDSHAKE) + op(REQUEST, data=b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n"),
        "bad-request-behind-tls": op(HANDSHAKE) + op(REQUEST, data=b"BLAH\r\n\r\n"),
        "close-notify": op(HANDSHAKE) + op(REQUEST, data=PAGE) + op(CLOSE_NOTIFY),
        "close-notify-mid-request": op(HANDSHAKE) + op(REQUEST, data=b"GET / HTTP/1.1\r\nHo") + op(CLOSE_NOTIFY),
        "tampered-client-hello": op(TAMPER, 50) + op(HANDSHAKE) + op(REQUEST, data=PAGE),
        "tampered-request": op(HANDSHAKE) + op(TAMPER, 30) + op(REQUEST, data=PAGE),
        "plain-http-to-tls-port": op(RAW, data=PAGE),
        "full-client-hello-then-reset": op(RAW, data=hello) + op(RESET),
        "truncated-client-hello-stalls": op(RAW, data=hello[:60]) + op(CLOCK, 60),
        "silent-connection-stalls": op(RAW, data=b"") + op(CLOCK, 50),
        "bad-record-after-handshake": op(HANDSHAKE) + op(REQUEST, data=PAGE)
        + op(RAW, data=b"\x17\x03\x03\x00\x20" + bytes(range(32))),
        "two-clients": op(HANDSHAKE) + op(RAW, data=hello[:100], client=B) + op(REQUEST, data=PAGE)
        + op(FIN, client=B) + op(HANDSHAKE, client=B) + op(REQUEST, data=PAGE, client=B),
        "fin-mid-handshake": op(HANDSHAKE) + op(FIN) + op(HANDSHAKE) + op(REQUEST, data=PAGE),
        "idle-after-response": op(HANDSHAKE) + op(REQUEST, data=PAGE) + op(CLOCK, 255) + op(REQUEST, data=PAGE),
    }
    write_seeds("tls-corpus", seeds)


if __name__ == "__main__":
    main()
