#!/usr/bin/env bash
# The hypercall fuzzer, long: builds the release tenders and the CLI (into .build-fuzz/release),
# builds Tests/Fuzz/HypercallGuest, then runs Tests/Fuzz/hypercall.py for MINUTES (default 30)
# on hvt, spt, or both at once (default; each gets MINUTES). Prints seeds run, outcomes by kind,
# the peak RSS and every violating seed with the command that reproduces it. Exits non-zero if
# any seed violated. Extra arguments go to hypercall.py (e.g. --calls 500, --first-seed 100000).
#
#   Tests/Fuzz/hypercall.sh 30            # both tenders, 30 min each, in parallel
#   Tests/Fuzz/hypercall.sh 5 spt
#   NO_BUILD=1 Tests/Fuzz/hypercall.sh 1 hvt --first-seed 5000
set -euo pipefail

minutes="${1:-30}"
which="${2:-both}"
shift $(( $# > 2 ? 2 : $# ))
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
export PATH="/opt/swift/usr/bin:$PATH"
scratch="$root/.build-fuzz/release"
products="$scratch/release"

if [ -z "${NO_BUILD:-}" ]; then
    echo "building the release tenders and CLI into $scratch"
    swift build -c release --scratch-path "$scratch" >/dev/null
fi
image="$root/.build-fuzz/hypercall-guest.swiftlet"
"$products/swiftlet" build Tests/Fuzz/HypercallGuest -o "$image" >/dev/null

case "$which" in
    hvt|spt) targets=("$which") ;;
    both) targets=(hvt spt) ;;
    *) echo "error: the target must be hvt, spt or both (got '$which')" >&2; exit 2 ;;
esac
if [[ " ${targets[*]} " == *" hvt "* ]] && ! [ -r /dev/kvm -a -w /dev/kvm ]; then
    echo "WARNING: no usable /dev/kvm: hvt is SKIPPED" >&2
    targets=("${targets[@]/hvt}")
fi

seconds=$(( minutes * 60 ))
pids=()
for target in ${targets[@]}; do
    log="$root/.build-fuzz/hypercall-$target.log"
    echo "fuzzing $target for $minutes min; log in $log"
    python3 Tests/Fuzz/hypercall.py --tender "$products/swiftlet-$target" --image "$image" \
        --seconds "$seconds" --json "$root/.build-fuzz/hypercall-$target.json" "$@" >"$log" 2>&1 &
    pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
for target in ${targets[@]}; do
    echo "== $target"
    grep -av "^  reproduce:" "$root/.build-fuzz/hypercall-$target.log" | grep -av "^VIOLATION" || true
    violations=$(grep -ac "^VIOLATION" "$root/.build-fuzz/hypercall-$target.log" || true)
    if [ "$violations" -gt 0 ]; then
        echo "  $violations violating seeds; the first ones:"
        grep -a -A1 "^VIOLATION" "$root/.build-fuzz/hypercall-$target.log" | head -12
    fi
done
exit "$status"
