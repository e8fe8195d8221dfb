#!/usr/bin/env python3
"""HTTP client for examples/notes in the integration tests (Tests/IntegrationTests/NotesTests.swift).

    notes_client.py HOST put FIRST SECONDS   PUT notes nFIRST, nFIRST+1, ... on one kept-alive
                                             connection for at most SECONDS; prints "ack N" (flushed)
                                             for each answered 200 with the note echoed, and stops
                                             at the first error (the guest being killed)
    notes_client.py HOST get PATH            GET PATH, prints the status and the body

A note's content is a function of its number (note_body), so the checker knows what every
note must hold. Every socket has a timeout.
"""
import http.client, json, sys, time

TIMEOUT = 10.0


def note_body(number):
    return json.dumps({"text": "note %d %s" % (number, "x" * (number * 37 % 700)), "n": number}, separators=(",", ":"))


def put(host, first, seconds):
    deadline = time.monotonic() + seconds
    connection = http.client.HTTPConnection(host, 80, timeout=TIMEOUT)
    number = first
    try:
        while time.monotonic() < deadline:
            body = note_body(number)
            connection.request("PUT", "/api/notes/n%d" % number, body=body, headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            answer = response.read()
            if response.status != 200 or answer.decode() != body:
                print("refused %d %d %r" % (number, response.status, answer[:200]), flush=True)
                return
            print("ack %d" % number, flush=True)
            number += 1
    except Exception as error:  # the guest was killed: the end of this round
        print("error %d %s" % (number, type(error).__name__), flush=True)


def get(host, path):
    connection = http.client.HTTPConnection(host, 80, timeout=TIMEOUT)
    connection.request("GET", path)
    response = connection.getresponse()
    print(json.dumps({"status": response.status, "body": response.read().decode()}))


if __name__ == "__main__":
    host, command = sys.argv[1], sys.argv[2]
    if command == "put":
        put(host, int(sys.argv[3]), float(sys.argv[4]))
    elif command == "get":
        get(host, sys.argv[3])
