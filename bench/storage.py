#!/usr/bin/env python3
"""The Swiftlet key-value store (KeyValueStore on --disk, in a guest: bench/storage) beside
SQLite (Python sqlite3, WAL, synchronous=FULL) and LMDB (PyPI lmdb, installed with pip if
missing), all on files in the same directory, in one run:

  commits/s   single small puts, each acknowledged only once durable (fdatasync or equivalent)
  ... xC      the same by C clients at once (--clients, default 8), each waiting for its own
              commit before its next: Swiftlet's C tasks call `commit() async` (group commit:
              one flush for the commits that arrive together); SQLite's C threads each have a
              connection (WAL, synchronous=FULL, busy timeout); LMDB is not run this way
  bulk        100k puts of 100-byte values in one transaction (seconds)
  reads/s     100k point reads of random existing keys
  recovery    after the writer is killed with SIGKILL (a 64 MiB disk for Swiftlet), having
              committed bulk // 10 more keys in one last transaction (Swiftlet: log after its
              checkpoint; SQLite: WAL not checkpointed; LMDB: nothing to replay): the guest's own
              open time (checkpoint + log after it), and the wall time from starting the tender
              until the store is open; the peers' open + first query in a fresh process

Swiftlet's numbers are timed inside the guest; the peers' inside Python, so each of their
operations also pays the interpreter's call overhead (about a microsecond), which matters
for reads, not for commits. Needs a release build (done here).

    python3 bench/storage.py [--dir DIR] [--commits 500] [--clients 8] [--bulk 100000] [--reads 100000]
"""
import argparse, os, random, shutil, signal, subprocess, sys, threading, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import kvm_usable, fmt, ratio

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELEASE = os.path.join(ROOT, ".build", "release")


def key(number):
    return b"k%09d" % number


# ---- Swiftlet --------------------------------------------------------------------------

def guest(target, image, disk, arguments, spin=False, timeout=600):
    """Runs the bench guest; returns {name: (count, ns)} and the seconds until 'result open'."""
    command = [os.path.join(RELEASE, f"swiftlet-{target}"), "--mem", "256M", "--disk", disk, "--disk-size", "64M",
               image, "--", *arguments] + (["spin"] if spin else [])
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    results, opened, lines, details = {}, None, [], {}
    deadline = time.monotonic() + timeout
    for line in process.stdout:
        lines.append(line)
        words = line.split()
        if words[:2] == ["result", "open"] and opened is None:
            opened = time.perf_counter() - started
        if words and words[0] == "result":
            results[words[1]] = (int(words[2]), int(words[3]))
            details.update(zip(words[4::2], words[5::2]))
        if line.startswith("storage: done") or time.monotonic() > deadline:
            break
    if spin:
        process.send_signal(signal.SIGKILL)   # the writer dies without any chance to clean up
    process.wait(timeout=30)
    if "open" not in results:
        raise RuntimeError(f"{target}: {''.join(lines)}")
    results["details"] = details
    return results, opened


def swiftlet(target, image, directory, options):
    disk = os.path.join(directory, f"swiftlet-{target}.img")
    if os.path.exists(disk):
        os.remove(disk)
    results, _ = guest(target, image, disk, ["commits", str(options.commits),
                                             "concurrent", str(options.commits), str(options.clients), "bulk", str(options.bulk), "100",
                                             "reads", str(options.reads), "extra", str(options.bulk // 10), "100"], spin=True)
    recovered, wall = guest(target, image, disk, [])
    count, ns = recovered["open"]
    return {
        "commits/s": results["commits"][0] / (results["commits"][1] / 1e9),
        f"commits/s x{options.clients}": results["concurrent"][0] / (results["concurrent"][1] / 1e9),
        "commit groups": results["details"]["groups"],
        "bulk s": results["bulk"][1] / 1e9,
        "reads/s": results["reads"][0] / (results["reads"][1] / 1e9),
        "recovery ms": ns / 1e6,
        "recovery wall ms": wall * 1e3,
        "keys after": count,
        "recovery read": "checkpoint of {checkpoint_entries} keys, then {tail_bytes} B of log ({replayed_bytes} B in all)".format(**recovered["details"]),
    }


# ---- peers -----------------------------------------------------------------------------

SQLITE_WRITER = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("PRAGMA journal_mode=WAL"); db.execute("PRAGMA synchronous=FULL")
db.execute("PRAGMA wal_autocheckpoint=0")
db.execute("BEGIN"); n = int(sys.argv[2])
db.executemany("INSERT OR REPLACE INTO kv VALUES (?, ?)", ((b"k%09d" % i, b"b" * 100) for i in range(n)))
db.execute("COMMIT")
print("ready", flush=True)
import time; time.sleep(600)
"""

LMDB_WRITER = """
import lmdb, sys
env = lmdb.open(sys.argv[1], map_size=1 << 31)
with env.begin(write=True) as txn:
    for i in range(int(sys.argv[2])):
        txn.put(b"k%09d" % i, b"b" * 100)
print("ready", flush=True)
import time; time.sleep(600)
"""


def killed_writer(script, path, count):
    """Starts a writer that commits `count` more keys, then SIGKILLs it once it says so."""
    process = subprocess.Popen([sys.executable, "-c", script, path, str(count)], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "ready"
    process.send_signal(signal.SIGKILL)
    process.wait()


def sqlite(directory, options):
    import sqlite3
    path = os.path.join(directory, "sqlite.db")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE kv (k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID")
    start = time.perf_counter()
    for number in range(options.commits):
        db.execute("INSERT OR REPLACE INTO kv VALUES (?, ?)", (b"c%d" % (number % 1000), b"value %d" % number))
    commits = options.commits / (time.perf_counter() - start)
    concurrent = sqlite_concurrent(path, options)
    start = time.perf_counter()
    db.execute("BEGIN")
    db.executemany("INSERT OR REPLACE INTO kv VALUES (?, ?)", ((key(i), b"a" * 100) for i in range(options.bulk)))
    db.execute("COMMIT")
    bulk = time.perf_counter() - start
    state, found = random.Random(1), 0
    start = time.perf_counter()
    for _ in range(options.reads):
        found += db.execute("SELECT v FROM kv WHERE k = ?", (key(state.randrange(options.bulk)),)).fetchone() is not None
    reads = options.reads / (time.perf_counter() - start)
    db.close()
    killed_writer(SQLITE_WRITER, path, options.bulk // 10)
    start = time.perf_counter()
    db = sqlite3.connect(path)
    keys = db.execute("SELECT count(*) FROM kv").fetchone()[0]
    recovery = (time.perf_counter() - start) * 1e3
    db.close()
    return {"commits/s": commits, f"commits/s x{options.clients}": concurrent, "bulk s": bulk, "reads/s": reads,
            "recovery ms": recovery, "keys after": keys}


def sqlite_concurrent(path, options):
    """commits/s of options.clients threads, each with its own connection, committing small puts
    (sqlite3 releases the GIL while SQLite works, so they do contend for the write lock)."""
    import sqlite3
    each = options.commits // options.clients
    connections = []
    for _ in range(options.clients):
        db = sqlite3.connect(path, isolation_level=None, timeout=60, check_same_thread=False)
        db.execute("PRAGMA synchronous=FULL")
        connections.append(db)
    barrier = threading.Barrier(options.clients + 1)

    def client(number, db):
        barrier.wait()
        for commit in range(each):
            db.execute("INSERT OR REPLACE INTO kv VALUES (?, ?)", (b"c%d-%d" % (number, commit % 1000), b"value %d" % commit))

    threads = [threading.Thread(target=client, args=(number, db)) for number, db in enumerate(connections)]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    for db in connections:
        db.close()
    return each * options.clients / elapsed


def lmdb_bench(directory, options):
    try:
        import lmdb
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "lmdb"], check=True)
        import lmdb
    path = os.path.join(directory, "lmdb")
    shutil.rmtree(path, ignore_errors=True)
    env = lmdb.open(path, map_size=1 << 31)   # sync=True, metasync=True: durable at commit
    start = time.perf_counter()
    for number in range(options.commits):
        with env.begin(write=True) as txn:
            txn.put(b"c%d" % (number % 1000), b"value %d" % number)
    commits = options.commits / (time.perf_counter() - start)
    start = time.perf_counter()
    with env.begin(write=True) as txn:
        for i in range(options.bulk):
            txn.put(key(i), b"a" * 100)
    bulk = time.perf_counter() - start
    state, found = random.Random(1), 0
    start = time.perf_counter()
    with env.begin() as txn:
        for _ in range(options.reads):
            found += txn.get(key(state.randrange(options.bulk))) is not None
    reads = options.reads / (time.perf_counter() - start)
    env.close()
    killed_writer(LMDB_WRITER, path, options.bulk // 10)
    start = time.perf_counter()
    env = lmdb.open(path, map_size=1 << 31)
    keys = env.stat()["entries"]
    recovery = (time.perf_counter() - start) * 1e3
    env.close()
    return {"commits/s": commits, "bulk s": bulk, "reads/s": reads, "recovery ms": recovery, "keys after": keys}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", default=os.path.join(ROOT, ".build", "bench-storage"))
    parser.add_argument("--commits", type=int, default=500)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--bulk", type=int, default=100_000)
    parser.add_argument("--reads", type=int, default=100_000)
    options = parser.parse_args()
    os.makedirs(options.dir, exist_ok=True)
    print("building the release tenders ...", flush=True)
    for product in ("swiftlet-hvt", "swiftlet-spt"):
        subprocess.run(["swift", "build", "-c", "release", "--product", product], cwd=ROOT, check=True, capture_output=True)
    # The image is the same whichever build of the CLI compiles it: use one that exists.
    cli = next((path for path in (os.path.join(RELEASE, "swiftlet-cli"), os.path.join(ROOT, ".build", "debug", "swiftlet-cli"))
                if os.path.exists(path)), None)
    if cli is None:
        subprocess.run(["swift", "build", "-c", "release", "--product", "swiftlet-cli"], cwd=ROOT, check=True, capture_output=True)
        cli = os.path.join(RELEASE, "swiftlet-cli")
    image = os.path.join(options.dir, "storage.swiftlet")
    subprocess.run([cli, "build", "bench/storage", "-o", image], cwd=ROOT, check=True)
    filesystem = subprocess.run(["stat", "-f", "-c", "%T", options.dir], capture_output=True, text=True).stdout.strip()
    print(f"files in {options.dir} ({filesystem}); {options.commits} commits, bulk {options.bulk} x 100 B, {options.reads} reads")

    rows = {}
    for target in (["hvt"] if kvm_usable() else []) + ["spt"]:
        rows[f"swiftlet {target}"] = swiftlet(target, image, options.dir, options)
    rows["sqlite WAL FULL"] = sqlite(options.dir, options)
    rows["lmdb"] = lmdb_bench(options.dir, options)

    columns = [("commits/s", ",.0f"), (f"commits/s x{options.clients}", ",.0f"), ("bulk s", ".2f"), ("reads/s", ",.0f"), ("recovery ms", ".1f"), ("recovery wall ms", ".1f")]
    print(f"{'':18}" + "".join(f"{name:>18}" for name, _ in columns))
    for label, row in rows.items():
        print(f"{label:18}" + "".join(f"{fmt(row.get(name), spec):>18}" for name, spec in columns))
    for label, row in rows.items():
        if not label.startswith("swiftlet"):
            continue
        for peer in ("sqlite WAL FULL", "lmdb"):
            other = rows[peer]
            concurrent = f"commits/s x{options.clients}"
            print(f"{label} / {peer}: commits {ratio(row['commits/s'], other['commits/s'])}, "
                  f"commits x{options.clients} {ratio(row[concurrent], other.get(concurrent))}, "
                  f"bulk time {ratio(row['bulk s'], other['bulk s'])}, reads {ratio(row['reads/s'], other['reads/s'])}, "
                  f"recovery {ratio(row['recovery ms'], other['recovery ms'])}")
    for label, row in rows.items():
        if "commit groups" in row:
            print(f"{label}: {options.commits // options.clients * options.clients} commits by {options.clients} clients "
                  f"in {row['commit groups']} groups (one flush each)")
    print("keys after recovery: " + ", ".join(f"{label} {row['keys after']}" for label, row in rows.items()))
    for label, row in rows.items():
        if "recovery read" in row:
            print(f"{label} recovery read a {row['recovery read']}; {ratio(row['recovery ms'], 100)} the 100 ms target")


if __name__ == "__main__":
    main()
