#!/usr/bin/env python3
"""Drives a graceful shutdown of examples/web from inside its network namespace, and times it.

    shutdown_client.py ADDRESS[:PORT] PID drain    an idle keep-alive connection and an upload under
                                            way, then SIGTERM to PID: is the idle one closed, a
                                            new client refused, the upload answered 200, and
                                            when does PID exit?
    shutdown_client.py ADDRESS PID twice    an upload under way, SIGTERM, then a second SIGTERM
    shutdown_client.py ADDRESS PID stall    an upload under way that never finishes, SIGTERM

Prints one JSON object. Times are seconds from the (first) SIGTERM. Every wait is bounded.
"""
import json, os, signal, socket, sys, time

address, _, port = sys.argv[1].partition(":")
PORT = int(port or 80)
pid, mode = int(sys.argv[2]), sys.argv[3]
result = {}


def exited():
    """PID is gone or a zombie (the test process reaps it only later)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, ProcessLookupError):   # reaped before or while /proc was read
        return True


def wait_exit(limit, since):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if exited():
            return round(time.monotonic() - since, 4)
        time.sleep(0.001)
    return None


def connect():
    sock = socket.create_connection((address, PORT), timeout=5)
    sock.settimeout(5)
    return sock


def read_response(sock):
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, socket.timeout) as error:
            result["read_error"] = type(error).__name__
            break
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    return {"status": int(lines[0].split()[1]) if lines and lines[0].startswith("HTTP/") else None,
            "connection_close": any(l.lower() == "connection: close" for l in lines[1:]),
            "body": body.decode("latin-1")}


upload = connect()
upload.sendall(b"POST /api/echo HTTP/1.1\r\nHost: guest\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\nhello")
if mode == "drain":
    idle = connect()
    idle.sendall(b"GET /api/status HTTP/1.1\r\nHost: guest\r\n\r\n")
    answer = idle.recv(65536)
    result["idle_answered"] = answer.startswith(b"HTTP/1.1 200 ")
time.sleep(0.2)   # the guest has read the upload's head

sent = time.monotonic()
os.kill(pid, signal.SIGTERM)

if mode == "drain":
    try:
        result["idle_closed_by_guest"] = idle.recv(65536) == b""
    except (ConnectionResetError, socket.timeout) as error:
        result["idle_closed_by_guest"] = type(error).__name__
    result["idle_closed_at"] = round(time.monotonic() - sent, 4)
    time.sleep(0.1)
    try:
        connect().close()
        result["new_client"] = "accepted"
    except ConnectionRefusedError:
        result["new_client"] = "refused"
    except OSError as error:
        result["new_client"] = type(error).__name__
    time.sleep(0.2)
    result["running_while_upload_pending"] = not exited()
    upload.sendall(b"world")
    answered = time.monotonic()
    result["upload"] = read_response(upload)
    result["upload_answered_at"] = round(answered - sent, 4)
    result["exit_at"] = wait_exit(15, sent)
    result["exit_after_answer"] = round(result["exit_at"] - result["upload_answered_at"], 4) if result["exit_at"] else None
elif mode == "twice":
    time.sleep(0.3)
    result["running_after_first"] = not exited()
    if result["running_after_first"]:
        second = time.monotonic()
        os.kill(pid, signal.SIGTERM)
        result["exit_after_second"] = wait_exit(5, second)
elif mode == "stall":
    result["exit_at"] = wait_exit(30, sent)
print(json.dumps(result))
