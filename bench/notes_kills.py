#!/usr/bin/env python3
"""The long run of NotesTests: examples/notes takes 10,000 notes through its HTTP API while the
tender is killed with SIGKILL at random moments (at least 40 times) and restarted on the same disk. After every
restart, every note acknowledged so far (answered 200 once its commit was durable) must be
there with exactly its content, no note may hold anything but what was sent for it, no other
note may appear beyond the one PUT that was under way, and the store must report no damage.
swift test keeps a short slice of this (NotesTests: 20 kills, a few hundred notes).

Needs root (a network namespace with a tap; the guest gets a static address in it, and the
client runs inside it: no traffic leaves the namespace).

    sudo python3 bench/notes_kills.py [--notes 10000] [--kills 40] [--target spt|hvt|all] [--seed N]
"""
import argparse, json, os, random, signal, subprocess, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import IP, ip, kvm_usable

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELEASE = os.path.join(ROOT, ".build", "release")
CLIENT = os.path.join(ROOT, "Tests", "Tools", "notes_client.py")
HOST, GUEST = "10.199.7.1", "10.199.7.2"
sys.path.insert(0, os.path.dirname(CLIENT))
from notes_client import note_body


class Namespace:
    def __init__(self, name):
        self.name = name
        ip("netns", "del", name, check=False)
        ip("netns", "add", name)
        for command in (["tuntap", "add", "tap0", "mode", "tap"], ["addr", "add", f"{HOST}/24", "dev", "tap0"],
                        ["link", "set", "tap0", "up"], ["link", "set", "lo", "up"]):
            ip("-n", name, *command)

    def command(self, *arguments):
        return [IP, "netns", "exec", self.name, *arguments]

    def close(self):
        ip("netns", "del", self.name, check=False)


def boot(namespace, tender, image, disk, console):
    with open(console, "w") as output:
        process = subprocess.Popen(namespace.command(tender, "--mem", "128M", "--net", "tap:tap0", "--disk", disk,
                                                     "--disk-size", "64M", image, "--", f"ip={GUEST}/24", "log=off"),
                                   stdout=output, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        text = open(console).read()
        if "notes: serving on" in text:
            return process, text
        if process.poll() is not None:
            break
        time.sleep(0.02)
    process.kill()
    process.wait()
    raise RuntimeError(f"the guest did not start serving: {open(console).read()}")


def stored_notes(namespace):
    """Every note the guest lists: {number: body as sent}, and the notes no client wrote."""
    result = subprocess.run(namespace.command(sys.executable, CLIENT, GUEST, "get", "/api/notes"),
                            capture_output=True, text=True, timeout=120)
    response = json.loads(result.stdout)
    if response["status"] != 200:
        raise RuntimeError(f"GET /api/notes answered {response['status']}")
    notes, strangers = {}, []
    for note in json.loads(response["body"]):
        identifier = note.get("id", "")
        if identifier.startswith("n") and identifier[1:].isdigit():
            notes[int(identifier[1:])] = json.dumps(note["note"], separators=(",", ":"))
        else:
            strangers.append(note)
    return notes, strangers


def run(target, image, options, log):
    namespace = Namespace(f"swnotes-{os.getpid()}")
    disk = os.path.join(options.dir, f"notes-kills-{target}.img")
    if os.path.exists(disk):
        os.remove(disk)
    tender = os.path.join(RELEASE, f"swiftlet-{target}")
    state = random.Random(options.seed)
    acknowledged, failures, kills, next_number = set(), [], 0, 0
    started = time.monotonic()
    try:
        while True:
            console = os.path.join(options.dir, f"notes-kills-{target}.console")
            process, text = boot(namespace, tender, image, disk, console)
            if "damage:" in text:
                failures.append(f"restart {kills}: {text.strip()}")
            # Every acknowledged note is there with its content; nothing else but the one under way.
            notes, strangers = stored_notes(namespace)
            missing = sorted(acknowledged - notes.keys())
            wrong = sorted(number for number, body in notes.items() if body != note_body(number))
            extra = sorted(notes.keys() - acknowledged)
            if missing:
                failures.append(f"restart {kills}: {len(missing)} acknowledged notes lost, first {missing[:10]}")
            if wrong:
                failures.append(f"restart {kills}: notes {wrong[:10]} hold what no client sent for them")
            if strangers or len(extra) > 1 or any(number != next_number for number in extra):
                failures.append(f"restart {kills}: notes nobody had written: {extra[:10]} {strangers[:3]}")
            acknowledged |= set(extra)   # the PUT under way at the kill did commit: it stays
            print(f"{target}: restart {kills}: {len(notes)} notes, all {len(acknowledged)} acknowledged present"
                  + ("" if not failures else f"; FAILURES: {failures[-1]}"), file=log, flush=True)
            if failures or (len(acknowledged) >= options.notes and kills >= options.kills):
                process.kill()
                process.wait()
                break
            next_number = max(acknowledged, default=-1) + 1
            client = subprocess.Popen(namespace.command(sys.executable, CLIENT, GUEST, "put", str(next_number), "60"),
                                      stdout=subprocess.PIPE, text=True)
            time.sleep(state.uniform(0.05, options.max_interval))
            process.send_signal(signal.SIGKILL)
            process.wait()
            kills += 1
            time.sleep(0.2)   # an answer already on its way still arrives
            client.kill()
            output, _ = client.communicate()
            for line in output.splitlines():
                if line.startswith("refused"):
                    failures.append(f"round {kills}: {line}")
                elif line.startswith("ack "):
                    acknowledged.add(int(line[4:]))
            next_number = max(acknowledged, default=-1) + 1
    finally:
        namespace.close()
    elapsed = time.monotonic() - started
    return {"kills": kills, "acknowledged": len(acknowledged), "seconds": elapsed, "failures": failures}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notes", type=int, default=10_000)
    parser.add_argument("--target", default="all", choices=["all", "hvt", "spt"])
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--kills", type=int, default=40, help="at least this many kills")
    parser.add_argument("--max-interval", type=float, default=1.0, help="longest time between kills (s)")
    parser.add_argument("--dir", default=os.path.join(ROOT, ".build", "bench-notes"))
    parser.add_argument("--build", action="store_true", help="rebuild the release tenders even if they exist")
    options = parser.parse_args()
    if os.getuid() != 0:
        sys.exit("notes_kills.py needs root (a network namespace with a tap)")
    os.makedirs(options.dir, exist_ok=True)
    for product in ("swiftlet-hvt", "swiftlet-spt"):
        if options.build or not os.path.exists(os.path.join(RELEASE, product)):
            print(f"building {product} (release) ...", flush=True)
            subprocess.run(["swift", "build", "-c", "release", "--product", product], cwd=ROOT, check=True, capture_output=True)
    cli = next((path for path in (os.path.join(RELEASE, "swiftlet-cli"), os.path.join(ROOT, ".build", "debug", "swiftlet-cli"))
                if os.path.exists(path)), None)
    if cli is None:
        sys.exit("build swiftlet-cli first (swift build)")
    image = os.path.join(options.dir, "notes.swiftlet")
    subprocess.run([cli, "build", "examples/notes", "-o", image], cwd=ROOT, check=True)
    targets = {"all": (["hvt"] if kvm_usable() else []) + ["spt"], "hvt": ["hvt"], "spt": ["spt"]}[options.target]
    if options.target == "all" and not kvm_usable():
        print("no usable /dev/kvm: hvt skipped")
    print(f"seed {options.seed}; at least {options.notes} notes and {options.kills} kills per target, a kill every 0.05-{options.max_interval} s", flush=True)
    failed = False
    for target in targets:
        result = run(target, image, options, sys.stdout)
        print(f"{target}: {result['acknowledged']} notes acknowledged over {result['kills']} kills in {result['seconds']:.0f} s; "
              + ("every one present after every restart" if not result["failures"] else f"FAILED: {result['failures']}"), flush=True)
        failed = failed or bool(result["failures"])
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
