#!/usr/bin/env bash
# End-to-end performance check of memanalyzer against its targets, on a live workload.
#
# Usage (from anywhere; it works from the repository root):
#   bash scripts/bench.sh
#
# Environment:
#   BENCH_MAPPINGS        mappings of the large workload (default 60000, ~43 MB of smaps)
#   BENCH_SMALL_MAPPINGS  mappings of the small workload for the memory-growth check
#                         (default BENCH_MAPPINGS / 10)
#   BENCH_RUNS            timed runs per command, over all rounds (default 20)
#   BENCH_ROUNDS          hyperfine does not interleave commands, so the runs are split into
#                         this many rounds that alternate between the commands (default 2)
#   BENCH_THREADS         threads of the workload (default 4)
#
# What it measures (ratios come from one run, so a noisy machine affects both sides alike):
#   1. memanalyzer -pid P  vs  cat /proc/P/smaps        (target: <= 1.2x, mean)
#   2. pmap -X P           vs  memanalyzer -pid P       (target: >= 8x, mean)
#   3. peak RSS (GNU time %M): top-20 <= 8 MiB, -all <= 32 MiB, top-20 not growing with the
#      number of mappings (small vs large workload within 1 MiB)
#   4. memanalyzer -file F throughput, page cache warm (target: >= 1 GB/s; the figure includes
#      process start and rendering; the start-up-corrected figure is printed too)
#   5. allocations not growing with the number of regions (runs tests/alloc.rs)
#   7. tiny process: memanalyzer -pid $$ vs cat /proc/$$/smaps (target: <= 1.5x, mean)
#   and the release binary's size.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

MAPPINGS=${BENCH_MAPPINGS:-60000}
SMALL_MAPPINGS=${BENCH_SMALL_MAPPINGS:-$((MAPPINGS / 10))}
RUNS=${BENCH_RUNS:-20}
ROUNDS=${BENCH_ROUNDS:-2}
THREADS=${BENCH_THREADS:-4}
WARMUP=3
PER_ROUND=$(((RUNS + ROUNDS - 1) / ROUNDS))

log() { printf '\n==> %s\n' "$*" >&2; }
die() {
    printf 'bench.sh: error: %s\n' "$*" >&2
    exit 1
}

# ---------------------------------------------------------------------------------------------
# Tools

missing=()
command -v hyperfine >/dev/null || missing+=(hyperfine)
[[ -x /usr/bin/time ]] || missing+=(time)
command -v pmap >/dev/null || missing+=(procps)
command -v python3 >/dev/null || missing+=(python3)
if ((${#missing[@]} > 0)); then
    log "installing ${missing[*]}"
    sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null || die "need root or sudo to install: ${missing[*]}"
        sudo=(sudo)
    fi
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}"
fi

max_map_count=$(cat /proc/sys/vm/max_map_count)
if ((MAPPINGS + 1000 > max_map_count)); then
    die "vm.max_map_count is $max_map_count; $MAPPINGS mappings need about $((MAPPINGS + 1000))" \
        "(sysctl -w vm.max_map_count=$((MAPPINGS + 1000)))"
fi

log "building (release)"
cargo build --release --bin memanalyzer --example workload

# ---------------------------------------------------------------------------------------------
# Temporary files and workloads, cleaned up on any exit

TMP=$(mktemp -d "${TMPDIR:-/tmp}/memanalyzer-bench.XXXXXX")
WL_PIDS=()
WL_FDS=()

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    local fd pid
    for fd in "${WL_FDS[@]}"; do
        # Ask politely (a line `exit`), then close our end of the workload's stdin.
        printf 'exit\n' >&"$fd" 2>/dev/null || true
        exec {fd}>&- || true
    done
    for pid in "${WL_PIDS[@]}"; do
        for _ in 1 2 3 4 5 6 7 8 9 10; do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$TMP"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Private copies, so that a rebuild during the run (another checkout's build, an edit) cannot
# change the binaries being measured.
cp target/release/memanalyzer "$TMP/memanalyzer"
cp target/release/examples/workload "$TMP/workload"
BIN=$TMP/memanalyzer
WORKLOAD=$TMP/workload

# start_workload NAME MAPPINGS: starts a workload and sets WL_PID to its pid once it is ready.
start_workload() {
    local name=$1 mappings=$2 fd pid
    local fifo=$TMP/$name.stdin out=$TMP/$name.out err=$TMP/$name.err
    mkfifo "$fifo"
    # Read-write open of a FIFO does not block; holding it keeps the workload's stdin open.
    exec {fd}<>"$fifo"
    WL_FDS+=("$fd")
    "$WORKLOAD" --mappings "$mappings" --threads "$THREADS" <"$fifo" >"$out" 2>"$err" &
    pid=$!
    WL_PIDS+=("$pid")
    for _ in $(seq 1200); do
        if grep -q '^ready pid=' "$out" 2>/dev/null; then
            WL_PID=$(sed -n 's/^ready pid=//p' "$out")
            [[ $WL_PID == "$pid" ]] || die "workload reported pid $WL_PID, expected $pid"
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || die "workload $name exited: $(cat "$err")"
        sleep 0.1
    done
    die "workload $name not ready after 120 s"
}

# Results, one `key=value` per line, summarised at the end.
RESULTS=$TMP/results
: >"$RESULTS"
result() { printf '%s=%s\n' "$1" "$2" >>"$RESULTS"; }

cat >"$TMP/stats.py" <<'PY'
"""Merges hyperfine JSON exports (one per round) and prints statistics or ratios."""
import glob
import json
import statistics
import sys


def load(prefix):
    times = {}
    for path in sorted(glob.glob(prefix + ".*.json")):
        with open(path) as f:
            for result in json.load(f)["results"]:
                times.setdefault(result["command"], []).extend(result["times"])
    return times


def main():
    what, prefix = sys.argv[1], sys.argv[2]
    times = load(prefix)
    if what == "table":
        print(f"{'command':<22} {'runs':>4} {'mean ms':>9} {'median ms':>9} {'stddev':>7}"
              f" {'min ms':>8} {'max ms':>8}")
        for name, t in times.items():
            sd = statistics.stdev(t) if len(t) > 1 else 0.0
            print(f"{name:<22} {len(t):>4} {statistics.mean(t) * 1e3:>9.2f}"
                  f" {statistics.median(t) * 1e3:>9.2f} {sd * 1e3:>7.2f}"
                  f" {min(t) * 1e3:>8.2f} {max(t) * 1e3:>8.2f}")
    elif what == "ratio":
        a, b = times[sys.argv[3]], times[sys.argv[4]]
        print(f"{statistics.mean(a) / statistics.mean(b):.3f}"
              f" {statistics.median(a) / statistics.median(b):.3f}")
    elif what == "mean":
        t = times[sys.argv[3]]
        print(f"{statistics.mean(t):.6f} {statistics.median(t):.6f}")


main()
PY
stats() { python3 "$TMP/stats.py" "$@"; }

# bench NAME -n LABEL CMD [-n LABEL CMD ...]: hyperfine in ROUNDS rounds (no shell, output to
# /dev/null), each exported to $TMP/NAME.<round>.json; prints the merged table.
bench() {
    local name=$1 round
    shift
    for round in $(seq "$ROUNDS"); do
        hyperfine -N --style basic --warmup "$WARMUP" --runs "$PER_ROUND" --output=null \
            --export-json "$TMP/$name.$round.json" "$@" >&2
    done
    stats table "$TMP/$name"
}

# peak_rss CMD...: the largest maximum resident set size (KiB) of three runs.
peak_rss() {
    local best=0 kib
    for _ in 1 2 3; do
        /usr/bin/time -f %M -o "$TMP/time.out" "$@" >/dev/null
        kib=$(tail -n 1 "$TMP/time.out")
        if ((kib > best)); then
            best=$kib
        fi
    done
    echo "$best"
}

# ---------------------------------------------------------------------------------------------
log "starting workloads: $MAPPINGS and $SMALL_MAPPINGS mappings, $THREADS threads each"
start_workload large "$MAPPINGS"
LARGE=$WL_PID
start_workload small "$SMALL_MAPPINGS"
SMALL=$WL_PID
SMAPS_BYTES=$(wc -c <"/proc/$LARGE/smaps")
REGIONS=$(grep -c '^VmFlags' "/proc/$LARGE/smaps")
echo "large workload: pid $LARGE, $REGIONS regions, $SMAPS_BYTES bytes of smaps"
echo "small workload: pid $SMALL, $(grep -c '^VmFlags' "/proc/$SMALL/smaps") regions"
result smaps_bytes "$SMAPS_BYTES"
result regions "$REGIONS"

# ---------------------------------------------------------------------------------------------
log "1, 2: live process ($RUNS runs per command in $ROUNDS rounds)"
bench live \
    -n memanalyzer "$BIN -pid $LARGE" \
    -n cat "cat /proc/$LARGE/smaps" \
    -n pmap "pmap -X $LARGE" \
    -n memanalyzer-all "$BIN -pid $LARGE -all"
read -r mean median < <(stats ratio "$TMP/live" memanalyzer cat)
result t1_mean "$mean"
result t1_median "$median"
read -r mean median < <(stats ratio "$TMP/live" pmap memanalyzer)
result t2_mean "$mean"
result t2_median "$median"
read -r mean median < <(stats ratio "$TMP/live" memanalyzer-all cat)
result all_mean "$mean"
result all_median "$median"

# ---------------------------------------------------------------------------------------------
log "3: peak RSS (KiB, max of 3 runs)"
result rss_top "$(peak_rss "$BIN" -pid "$LARGE")"
result rss_all "$(peak_rss "$BIN" -pid "$LARGE" -all)"
result rss_small "$(peak_rss "$BIN" -pid "$SMALL")"
result rss_cat "$(peak_rss cat "/proc/$LARGE/smaps")"
grep '^rss_' "$RESULTS"

# ---------------------------------------------------------------------------------------------
log "4: -file throughput (page cache warm)"
cat "/proc/$LARGE/smaps" >"$TMP/large.smaps"
cat "/proc/$$/smaps" >"$TMP/tiny.smaps"
cat "$TMP/large.smaps" "$TMP/tiny.smaps" >/dev/null
FILE_BYTES=$(stat -c %s "$TMP/large.smaps")
bench file \
    -n file-large "$BIN -file $TMP/large.smaps" \
    -n file-tiny "$BIN -file $TMP/tiny.smaps"
read -r large_mean large_median < <(stats mean "$TMP/file" file-large)
read -r tiny_mean _ < <(stats mean "$TMP/file" file-tiny)
result file_bytes "$FILE_BYTES"
result file_mbps "$(python3 -c "print(f'{$FILE_BYTES / $large_mean / 1e6:.0f}')")"
result file_mbps_median "$(python3 -c "print(f'{$FILE_BYTES / $large_median / 1e6:.0f}')")"
result file_mbps_net "$(python3 -c "print(f'{$FILE_BYTES / max($large_mean - $tiny_mean, 1e-9) / 1e6:.0f}')")"

# ---------------------------------------------------------------------------------------------
log "5: allocations (cargo test --release --test alloc)"
if cargo test --release --test alloc -- --nocapture --test-threads 1 \
    allocations_do_not_grow_with_regions_in_top_mode >"$TMP/alloc.out" 2>&1 &&
    grep -q '1 passed' "$TMP/alloc.out"; then
    result t5 PASS
else
    result t5 FAIL
fi
grep -E '^(Top|test )' "$TMP/alloc.out" || cat "$TMP/alloc.out"
result t5_counts "$(sed -n 's/.*Top(20): *\([0-9]*\) regions.*: *\([0-9]*\) allocations.*/\1:\2/p' \
    "$TMP/alloc.out" | paste -sd ' ')"

# ---------------------------------------------------------------------------------------------
log "7: tiny process (this script's shell, pid $$)"
echo "tiny process: $(grep -c '^VmFlags' "/proc/$$/smaps") regions"
bench tiny \
    -n memanalyzer "$BIN -pid $$" \
    -n cat "cat /proc/$$/smaps"
read -r mean median < <(stats ratio "$TMP/tiny" memanalyzer cat)
result t7_mean "$mean"
result t7_median "$median"

result binary_bytes "$(stat -c %s "$BIN")"

# ---------------------------------------------------------------------------------------------
log "summary"
python3 - "$RESULTS" <<'PY'
import sys

r = dict(line.rstrip("\n").split("=", 1) for line in open(sys.argv[1]) if "=" in line)
f = lambda k: float(r[k])
rows = []


def row(target, measured, ok):
    rows.append((target, measured, "PASS" if ok else "FAIL"))


row("1. -pid wall <= 1.2 x cat",
    f"{f('t1_mean'):.2f}x mean, {f('t1_median'):.2f}x median", f("t1_mean") <= 1.2)
row("2. >= 8 x faster than pmap -X",
    f"{f('t2_mean'):.2f}x mean, {f('t2_median'):.2f}x median", f("t2_mean") >= 8)
row("3a. peak RSS top-20 <= 8 MiB", f"{r['rss_top']} KiB", f("rss_top") <= 8192)
row("3b. peak RSS -all <= 32 MiB", f"{r['rss_all']} KiB", f("rss_all") <= 32768)
growth = f("rss_top") - f("rss_small")
row("3c. top-20 RSS not growing (small->large)",
    f"{r['rss_small']} -> {r['rss_top']} KiB ({growth:+.0f})", growth <= 1024)
row("4. -file >= 1 GB/s (incl. start+render)",
    f"{r['file_mbps']} MB/s mean, {r['file_mbps_median']} median,"
    f" {r['file_mbps_net']} net of start-up", f("file_mbps") >= 1000)
row("5. allocations flat in top-N (regions:count)", r["t5_counts"] or "n/a", r["t5"] == "PASS")
row("7. tiny -pid $$ <= 1.5 x cat",
    f"{f('t7_mean'):.2f}x mean, {f('t7_median'):.2f}x median", f("t7_mean") <= 1.5)

print(f"workload: {r['regions']} regions, {int(r['smaps_bytes']) / 1e6:.1f} MB of smaps")
print(f"info: -all wall / cat = {f('all_mean'):.2f}x mean, {f('all_median'):.2f}x median;"
      f" cat peak RSS {r['rss_cat']} KiB; release binary {r['binary_bytes']} bytes")
width = max(len(t) for t, _, _ in rows)
for target, measured, verdict in rows:
    print(f"{target:<{width}}  {verdict}  {measured}")
print("overall:", "PASS" if all(v == "PASS" for _, _, v in rows) else "FAIL")
PY
