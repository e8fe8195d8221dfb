#!/usr/bin/env python3
# Writes the HTTPFuzzer seeds into Tests/Fuzz/http-corpus/ (records: control:u8 length:u8 bytes;
# control & 3: 0 feed, 1 drain length*8 bytes, 2 clock +length*250 ms, 3 peer closed; bit 2: B;
# only feeds carry bytes).
from seed_files import write_seeds

def feed(data, b=False):
    data = data.encode() if isinstance(data, str) else data
    out = b""
    for i in range(0, len(data), 255):
        piece = data[i:i + 255]
        out += bytes([4 if b else 0, len(piece)]) + piece
    return out

def drain(n=255, b=False): return bytes([5 if b else 1, n])
def clock(quarters): return bytes([2, quarters])
def close(b=False): return bytes([7 if b else 3, 0])

H = "Host: a\r\n"
seeds = {
    "get": feed(f"GET / HTTP/1.1\r\n{H}\r\n") + drain(),
    "pipelined": feed(f"GET /users/42 HTTP/1.1\r\n{H}\r\nHEAD /index.html HTTP/1.1\r\n{H}\r\n") + drain(4) + drain(),
    "chunked-post": feed(f"POST /echo HTTP/1.1\r\n{H}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
        + feed("6\r\n world\r\n0\r\n\r\n") + drain(),
    "expect-continue": feed(f"POST /echo HTTP/1.1\r\n{H}Expect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        + drain() + clock(4) + feed("hello") + drain(),
    "malformed": feed(f"GET / HTTP/1.1\r\nHost a\r\n\r\n") + drain() + feed(f"GET / HTTP/1.1\r\n{H}\r\n", b=True)
        + feed("GET /\nHTTP/1.1\n\n", b=True) + drain(b=True),
    "stream-fail-timeout": feed(f"GET /stream HTTP/1.1\r\n{H}\r\nGET /fail HTTP/1.1\r\n{H}\r\n") + drain(2) + drain(2)
        + feed("GET /files/a/b HTT", b=True) + clock(44) + drain(b=True) + drain(),
    "static-files": feed(f"GET /logo.bin HTTP/1.1\r\n{H}Range: bytes=10-19\r\n\r\n"
        + f"GET /a.css HTTP/1.1\r\n{H}If-None-Match: \"etag-0\"\r\n\r\nGET /docs HTTP/1.0\r\n\r\n") + drain(),
    "budget": feed(f"POST /echo HTTP/1.1\r\n{H}Content-Length: 4000\r\n\r\n" + "x" * 3500)
        + feed(f"PUT /echo HTTP/1.1\r\n{H}Content-Length: 4000\r\n\r\n" + "y" * 3000, b=True)
        + drain(b=True) + feed("x" * 500) + drain(),
    "close-then-feed": feed(f"GET / HTTP/1.1\r\n{H}\r\nGET /users/1 HT") + close() + drain()
        + feed(f"GET / HTTP/1.1\r\n{H}\r\n") + drain(),
}
write_seeds("http-corpus", seeds)
