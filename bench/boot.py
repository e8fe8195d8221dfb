#!/usr/bin/env python3
"""Boot-to-exit wall time of examples/hello on hvt and spt, beside /bin/true run the same
way (spawn, wait, exit; median of N runs, interleaved so machine noise hits all alike),
plus the stripped sizes of the hello and web images (web with HTTPS as shipped, and without
it) and of the tenders (lean and debug), each beside issue 16's target and the peer it names.

    python3 bench/boot.py [--runs 51] [--products .build/release] [--compare FOLDER]

--compare FOLDER also boots the tenders in FOLDER (another checkout's .build/release, say)
in the same interleaved runs, and prints their stripped sizes: a before/after in one run.
"""
import argparse, os, re, shutil, subprocess, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import ROOT, median_wall_ms, products_folder, sh  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=51)
    parser.add_argument("--products", default=".build/release")
    parser.add_argument("--compare", help="a folder with other swiftlet-hvt and swiftlet-spt to boot beside these")
    args = parser.parse_args()

    products = products_folder(args.products)
    work = tempfile.mkdtemp(prefix="swiftlet-bench-")
    image = os.path.join(work, "hello.swiftlet")
    stripped = os.path.join(work, "hello-stripped.swiftlet")
    cli = os.path.join(products, "swiftlet")
    sh(cli, "build", "examples/hello", "-o", image, stderr=subprocess.DEVNULL)
    sh(cli, "build", "examples/hello", "--strip", "-o", stripped, stderr=subprocess.DEVNULL)

    folders = {"": products}
    if args.compare:
        folders[" (compare)"] = args.compare
    commands = {"/bin/true": ["/bin/true"]}
    targets = ["hvt", "spt"] if os.access("/dev/kvm", os.R_OK | os.W_OK) else ["spt"]
    if "hvt" not in targets:
        print("hvt: SKIPPED (no /dev/kvm)")
    for target in targets:
        for suffix, folder in folders.items():
            commands[f"{target} hello{suffix}"] = [os.path.join(folder, f"swiftlet-{target}"), image]
    medians = median_wall_ms(commands, args.runs)

    baseline = medians["/bin/true"]
    print(f"boot-to-exit, median of {args.runs} runs (issue 16's targets: hvt <= 2 ms and <= 2.5x /bin/true; "
          "spt <= 1.0x Solo5 spt, which measured 0.9-1.1 ms on this kind of machine)")
    for name, value in medians.items():
        print(f"  {name:<22} {value:7.2f} ms   {value / baseline:5.1f}x /bin/true")

    print("sizes, stripped, in bytes")
    size_line("hello image", os.path.getsize(stripped), 40_000, "Solo5 test_hello 34 KB")
    print(f"  {'hello image, symbols':<26} {os.path.getsize(image):>10,}")
    web = os.path.join(work, "web.swiftlet")
    sh(cli, "build", "examples/web", "--strip", "-o", web, stderr=subprocess.DEVNULL)
    size_line("web image, HTTPS", os.path.getsize(web), 200 * 1024, "Unikraft nginx 833 KiB")
    plain = web_without_tls(work)
    if plain:
        sh(cli, "build", plain, "--strip", "-o", web, stderr=subprocess.DEVNULL)
        size_line("web image, HTTP only", os.path.getsize(web), 200 * 1024, "Unikraft nginx 833 KiB")
    else:
        print("  web image, HTTP only: SKIPPED (examples/web no longer has the HTTPS lines this script removes)")
    # The lean tenders are what `swiftlet run` and images use; the -debug ones add the GDB
    # server and core files (bench/tender_size.py breaks either down).
    for tender, solo5 in (("swiftlet-hvt", "solo5-hvt 48 KB"), ("swiftlet-spt", "solo5-spt 40 KB"),
                          ("swiftlet-hvt-debug", "solo5-hvt-debug"), ("swiftlet-spt-debug", "solo5-spt-debug")):
        for suffix, folder in folders.items():
            if not os.path.exists(os.path.join(folder, tender)):
                print(f"  {tender + suffix:<26} not built")
                continue
            copy = os.path.join(work, tender)
            shutil.copy(os.path.join(folder, tender), copy)
            subprocess.run(["strip", copy], check=True)
            if tender.endswith("-debug"):
                print(f"  {tender + suffix:<26} {os.path.getsize(copy):>10,}   (debug tender, no target; peer {solo5})")
            else:
                size_line(tender + suffix, os.path.getsize(copy), 256_000, solo5)
    shutil.rmtree(work)


def size_line(name, size, target, peer):
    verdict = "met" if size <= target else f"missed by {size - target:,}"
    print(f"  {name:<26} {size:>10,}   target <= {target:,} ({verdict}); {peer}")


def web_without_tls(work):
    """examples/web with its HTTPS server taken out (the SwiftletTLS import and everything from
    `var https` to the final HTTPServer.run), so BearSSL is not linked; None if those lines moved."""
    copy = os.path.join(work, "web-http")
    shutil.copytree(os.path.join(ROOT, "examples/web"), copy, ignore=shutil.ignore_patterns(".build", "tls"))
    main = os.path.join(copy, "Sources/web/main.swift")
    with open(main) as file:
        text = file.read()
    plain, imports = re.subn(r"^import SwiftletTLS\n", "", text, flags=re.M)
    plain, servers = re.subn(r"^var https: HTTPServer\?.*^HTTPServer\.run\(.*?\)\n", "HTTPServer.run([server!])\n",
                             plain, flags=re.M | re.S)
    if imports != 1 or servers != 1:
        return None
    with open(main, "w") as file:
        file.write(plain)
    return copy


if __name__ == "__main__":
    main()
