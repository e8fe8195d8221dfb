#!/usr/bin/env python3
"""Where a tender's bytes go: every function symbol of a (non-stripped) release tender, sized
with `nm --size-sort -S`, demangled with swift-demangle and charged to the source folder that
declares its type (Sources/Tender/Core/GDB, .../ELF, hvt, ...). Standard-library
specializations, musl and the C shim get their own lines; `--top N` lists the largest symbols.

    python3 bench/tender_size.py [--products .build/release] [--files] [--top 25] [TENDER ...]

--files charges each symbol to the file declaring its type instead of that file's folder.

TENDER defaults to every swiftlet-{hvt,spt}[-debug] found in the products folder.
"""
import argparse, collections, os, re, subprocess, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import ROOT  # noqa: E402

TENDER_SOURCES = os.path.join(ROOT, "Sources", "Tender")
DECLARATION = re.compile(r"^\s*(?:(?:public|internal|private|fileprivate|final|indirect)\s+)*"
                         r"(?:struct|enum|class|protocol|extension)\s+([A-Za-z_][A-Za-z0-9_]*)")
FUNCTION = re.compile(r"^(?:(?:public|internal|private|fileprivate|@inline\(\w+\))\s+)*func\s+([A-Za-z_][A-Za-z0-9_]*)")
# Globals and static lets (their one-time initializers are functions too).
GLOBAL = re.compile(r"^\s{0,4}(?:(?:public|internal|private|fileprivate|nonisolated\(unsafe\))\s+)*(?:static\s+)?(?:let|var)\s+([A-Za-z_][A-Za-z0-9_]*)")


def declaring_folders(by_file=False):
    """Type name -> folder of the file that declares it (first declaration wins; an extension
    in another folder does not move a type), and top-level function name -> folder."""
    types, functions = {}, {}
    for folder, _, files in os.walk(TENDER_SOURCES, followlinks=False):
        for name in sorted(files):
            if not name.endswith(".swift"):
                continue
            feature = os.path.relpath(os.path.join(folder, name) if by_file else folder, TENDER_SOURCES)
            with open(os.path.join(folder, name)) as source:
                for line in source:
                    match = DECLARATION.match(line)
                    if match and not line.lstrip().startswith("extension"):
                        types.setdefault(match.group(1), feature)
                    match = FUNCTION.match(line) or GLOBAL.match(line)
                    if match:
                        functions.setdefault(match.group(1), feature)
    return types, functions


def symbols(binary):
    """(size, mangled name) for every function, once per address: musl's aliases
    (pthread_create, __pthread_create) and functions --icf folded share one."""
    listing = subprocess.run(["nm", "--size-sort", "-S", "-t", "d", binary],
                             check=True, capture_output=True, text=True).stdout
    seen = set()
    for line in listing.splitlines():
        fields = line.split()
        if len(fields) == 4 and fields[2] in "tTwW" and fields[0] not in seen:
            seen.add(fields[0])
            yield int(fields[1]), fields[3]


def demangle(names):
    output = subprocess.run(["swift-demangle", "--simplified"], input="\n".join(names) + "\n",
                            check=True, capture_output=True, text=True).stdout
    return output.splitlines()


def feature_of(mangled, readable, types, functions, c_shim):
    if not mangled.startswith(("$s", "_$s", "$e", "_$e")):
        return "C shim" if mangled in c_shim else "musl and C"
    if readable.startswith(("specialized", "generic specialization")) or " in specialized " in readable:
        # A specialization of the standard library's code; one of a tender type's own
        # generic functions is charged to that type below.
        owner = re.search(r"\b([A-Z][A-Za-z0-9_]*)\.", readable.removeprefix("specialized "))
        if not owner or owner.group(1) not in types:
            return "stdlib specializations"
    for word in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", readable):
        if word in types:
            return types[word]
    for word in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\(", readable):
        if word in functions:
            return functions[word]
    initializer = re.match(r"one-time initialization function for (\w+)", readable)
    if initializer and initializer.group(1) in functions:
        return functions[initializer.group(1)]
    return "stdlib and other Swift"


def c_shim_symbols():
    names = set()
    for folder in ("CShim", "CShimMusl"):
        path = os.path.join(TENDER_SOURCES, folder)
        for name in os.listdir(path):
            if name.endswith(".c"):
                with open(os.path.join(path, name)) as source:
                    names.update(re.findall(r"^[a-z_][\w\s\*]*?\b(\w+)\s*\(", source.read(), re.M))
    return names


def report(binary, top, types, functions, c_shim):
    sized = list(symbols(binary))
    readable = demangle([name for _, name in sized])
    features = collections.Counter()
    largest = []
    for (size, mangled), name in zip(sized, readable):
        feature = feature_of(mangled, name, types, functions, c_shim)
        features[feature] += size
        largest.append((size, feature, name))
    total = sum(features.values())
    print(f"{os.path.basename(binary)}: {total:,} bytes of functions in {len(sized)} symbols")
    for feature, size in features.most_common():
        print(f"  {feature:<28} {size:>9,}  {100 * size / total:5.1f}%")
    if top:
        print(f"  largest {top}:")
        for size, feature, name in sorted(largest, reverse=True)[:top]:
            print(f"    {size:>7,}  {feature:<22} {name[:90]}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--products", default=".build/release")
    parser.add_argument("--top", type=int, default=0)
    parser.add_argument("--files", action="store_true", help="group by declaring file, not folder")
    parser.add_argument("tenders", nargs="*")
    args = parser.parse_args()
    tenders = args.tenders or [path for name in ("swiftlet-hvt", "swiftlet-hvt-debug", "swiftlet-spt", "swiftlet-spt-debug")
                               if os.path.exists(path := os.path.join(ROOT, args.products, name))]
    if not tenders:
        sys.exit(f"no tenders in {args.products}: swift build -c release --product swiftlet-hvt")
    types, functions = declaring_folders(args.files)
    c_shim = c_shim_symbols()
    for tender in tenders:
        report(tender, args.top, types, functions, c_shim)


if __name__ == "__main__":
    main()
