#!/usr/bin/env bash
# Builds a fuzzer (with libFuzzer and AddressSanitizer, from its harness + the guest sources)
# into .build-fuzz/fuzz/ and runs it over its seed corpus and regression inputs for SECONDS
# (default 30). New inputs go to a temporary folder, never into the committed corpus. Exits
# non-zero on a crash; libFuzzer's "Test unit written to ..." line names the crash file (kept
# in the artifacts folder printed at the end).
#
#   Tests/Fuzz/run.sh [SECONDS] [extra libFuzzer flags...]   # the frame fuzzer (FrameFuzzer.swift)
#   FUZZER=http Tests/Fuzz/run.sh 60                        # the HTTP connection fuzzer (HTTPFuzzer.swift)
#   FUZZER=gdb Tests/Fuzz/run.sh 60                         # the tender's GDB packet layer (GDBFuzzer.swift)
#   FUZZER=json Tests/Fuzz/run.sh 60                        # the JSON parser/writer fuzzer (JSONFuzzer.swift)
#   FUZZER=tls Tests/Fuzz/run.sh 600                        # HTTPS: TLS records into SwiftletTLS + HTTP (TLSFuzzer.swift)
#   FUZZER=store Tests/Fuzz/run.sh 300                      # KeyValueStore's on-disk format, damaged real stores (StoreFuzzer.swift)
#   SWIFTC=/path/to/swiftc Tests/Fuzz/run.sh 300
#   FUZZ_OPT=-Onone Tests/Fuzz/run.sh         # unoptimized (about 3x fewer execs/s)
#   FUZZ_OUT=/tmp/fuzz Tests/Fuzz/run.sh      # build somewhere else than .build-fuzz/fuzz
#
#   FUZZER   harness      binary        seeds           regressions
#   frame    FrameFuzzer  frame-fuzzer  corpus/         regressions/
#   http     HTTPFuzzer   http-fuzzer   http-corpus/    http-regressions/
#   gdb      GDBFuzzer    gdb-fuzzer    gdb-corpus/     gdb-regressions/   (over Sources/Tender/Core/GDB)
#   json     JSONFuzzer   json-fuzzer   json-corpus/    json-regressions/
#   tls      TLSFuzzer    tls-fuzzer    tls-corpus/     tls-regressions/   (+ Sources/GuestTLS, libbearssl.a)
#   store    StoreFuzzer  store-fuzzer  store-corpus/   store-regressions/
#
# Leak detection is off (-detect_leaks=0): LeakSanitizer cannot follow Swift's multi-payload
# enums, which keep their case tag in a pointer's spare high bits, so memory the stack still
# holds (e.g. packets queued in ARPCache's `.pending(queue:)`) is reported as "leaked".
# Unbounded growth still fails the run through -rss_limit_mb.
set -euo pipefail

seconds="${1:-30}"
shift || true
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

case "${FUZZER:-frame}" in
    frame) module=FrameFuzzer binary_name=frame-fuzzer seed_folder=corpus regression_folder=regressions ;;
    http) module=HTTPFuzzer binary_name=http-fuzzer seed_folder=http-corpus regression_folder=http-regressions ;;
    gdb) module=GDBFuzzer binary_name=gdb-fuzzer seed_folder=gdb-corpus regression_folder=gdb-regressions ;;
    json) module=JSONFuzzer binary_name=json-fuzzer seed_folder=json-corpus regression_folder=json-regressions ;;
    tls) module=TLSFuzzer binary_name=tls-fuzzer seed_folder=tls-corpus regression_folder=tls-regressions ;;
    store) module=StoreFuzzer binary_name=store-fuzzer seed_folder=store-corpus regression_folder=store-regressions ;;
    *) echo "error: FUZZER must be frame, http, gdb, json, tls or store (got '$FUZZER')" >&2; exit 2 ;;
esac

swiftc="${SWIFTC:-$(command -v swiftc || echo /opt/swift/usr/bin/swiftc)}"
out="${FUZZ_OUT:-$root/.build-fuzz/fuzz}"
binary="$out/$binary_name"
mkdir -p "$out"

echo "building $binary"
sources=()
module_name="$module"
extra=()
# The GDB fuzzer covers the tender's protocol layer: the files of Sources/Tender/Core/GDB that
# import nothing (the socket and server code is left out), and the byte comparisons they use.
if [ "$module" = GDBFuzzer ]; then
    while IFS= read -r file; do sources+=("$file"); done < <(grep -L '^import' Sources/Tender/Core/GDB/*.swift | sort)
    sources+=(Sources/Tender/Core/OptionValues/ByteText.swift)
else
    while IFS= read -r file; do sources+=("$file"); done < <(find Sources/Guest -name '*.swift' | sort)
fi
# The TLS fuzzer adds SwiftletTLS: its Swift files join the guest's in one module named Swiftlet
# (their `import Swiftlet` is then ignored), its C glue is compiled with the fuzzer's sanitizers,
# and Debian's libbearssl.a is linked as the images link it.
if [ "$module" = TLSFuzzer ]; then
    bearssl=/usr/lib/x86_64-linux-gnu/libbearssl.a
    if [ ! -f "$bearssl" ] || [ ! -f /usr/include/bearssl/bearssl.h ]; then
        echo "error: the TLS fuzzer links BearSSL: apt-get install -y libbearssl-dev" >&2
        exit 2
    fi
    clang="$(dirname "$swiftc")/clang"
    "$clang" -O1 -g -fsanitize=fuzzer-no-link,address -I Sources/GuestTLS/CBearSSL/include -I /usr/include/bearssl \
        -c Sources/GuestTLS/CBearSSL/swiftlet_tls.c -o "$out/swiftlet_tls.o"
    while IFS= read -r file; do sources+=("$file"); done < <(find Sources/GuestTLS/TLS -name '*.swift' | sort)
    module_name=Swiftlet
    extra=(-I Sources/GuestTLS/CBearSSL/include -Xcc -I/usr/include/bearssl "$out/swiftlet_tls.o" "$bearssl")
fi
# ld.gold warns once per ASan helper symbol ("Cannot export local symbol"); drop that noise.
set +e
"$swiftc" "${FUZZ_OPT:--O}" -sanitize=fuzzer,address -parse-as-library -module-name "$module_name" \
    -I Sources/ABI/include "Tests/Fuzz/$module.swift" "${sources[@]}" "${extra[@]}" -o "$binary" 2>&1 \
    | grep -v "Cannot export local symbol" | grep -v "is part of module 'Swiftlet'; ignoring import"
status=${PIPESTATUS[0]}
set -e
if [ "$status" -ne 0 ]; then
    echo "error: building the fuzzer failed (swiftc exit $status)" >&2
    exit "$status"
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/${binary_name%-fuzzer}-fuzz.XXXXXX")"
mkdir -p "$work/corpus" "$work/artifacts"
seeds=("$root/Tests/Fuzz/$seed_folder")
regressions="$root/Tests/Fuzz/$regression_folder"
if [ -d "$regressions" ] && [ -n "$(ls -A "$regressions")" ]; then
    seeds+=("$regressions")
fi

echo "fuzzing for ${seconds}s; new inputs in $work/corpus, crashes in $work/artifacts/"
set +e
"$binary" "$work/corpus" "${seeds[@]}" \
    -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -max_len=8192 -detect_leaks=0 \
    -print_final_stats=1 -artifact_prefix="$work/artifacts/" "$@"
status=$?
set -e

echo "new corpus inputs: $(find "$work/corpus" -type f | wc -l) in $work/corpus"
if [ "$status" -ne 0 ]; then
    echo "FUZZER FAILED (exit $status); crash inputs:" >&2
    find "$work/artifacts" -type f -print >&2
    echo "reproduce with: $binary <crash file>" >&2
    exit "$status"
fi
rm -rf "$work/artifacts"
exit 0
