#!/usr/bin/env python3
"""An upload under way across a shutdown: sends the head and half the body of a POST to
/api/echo, prints `ready`, waits for a line on stdin (the caller starts the shutdown), sends the
rest and prints the answer as JSON: {"status": N, "body": "...", "connection_close": bool}.

    inflight_upload.py HOST PORT

Every wait is bounded (10 s for a connection or a read, 60 s for the go-ahead)."""
import json, select, socket, sys

host, port = sys.argv[1], int(sys.argv[2])
sock = socket.create_connection((host, port), timeout=10)
sock.settimeout(10)
sock.sendall(b"POST /api/echo HTTP/1.1\r\nHost: kube\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\nhello")
print("ready", flush=True)
if not select.select([sys.stdin], [], [], 60)[0]:
    sys.exit("no go-ahead within 60 s")
sys.stdin.readline()
result = {"status": None, "body": "", "connection_close": False}
try:
    sock.sendall(b"world")
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
        head, separator, body = data.partition(b"\r\n\r\n")
        if separator and b"content-length: " in head.lower():
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            if len(body) >= length:
                break
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    if lines and lines[0].startswith("HTTP/"):
        result["status"] = int(lines[0].split()[1])
    result["connection_close"] = any(line.lower() == "connection: close" for line in lines[1:])
    result["body"] = body.decode("latin-1")
except OSError as error:
    result["error"] = type(error).__name__
print(json.dumps(result), flush=True)
