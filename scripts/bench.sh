#!/usr/bin/env bash
# End-to-end performance check of memanalyzer against every target of issue 15, in one run: each
# target is printed with PASS or FAIL and its figures, and the README's Performance table (between
# its `bench.sh` marker comments) is rewritten from the results.
#
# Usage (from anywhere; it works from the repository root), as root or with sudo (it installs
# what it lacks: hyperfine, GNU time, procps, wrk, curl, smem from Debian; ps_mem from PyPI into
# a virtual environment under ~/.cache/memanalyzer-bench):
#   bash scripts/bench.sh
#
# Environment (the defaults take about 5 minutes on 2 CPUs):
#   BENCH_MAPPINGS         mappings of the live workload (default 60000, ~43 MB of smaps)
#   BENCH_SMALL_MAPPINGS   mappings of the small workload (default BENCH_MAPPINGS / 10)
#   BENCH_THREADS          threads of each workload (default 4)
#   BENCH_RUNS             timed runs per command, over all rounds (default 30)
#   BENCH_ROUNDS           hyperfine does not interleave commands, so the runs are split into
#                          this many rounds that alternate between the commands (default 5)
#   BENCH_HUGE_REGIONS     regions of the generated file (default 1000000, ~730 MB)
#   BENCH_HOSTILE_NAMES    regions, each with its own name, of the hostile inputs (default 1000000)
#   BENCH_LONG_NAMES       regions with 60 KB names (default 3000, ~180 MB per input)
#   BENCH_WATCH_TICKS      -watch ticks timed per round (default 50; 5 rounds)
#   BENCH_HTTP_SECONDS     length of the HTTP load run (default 10)
#   BENCH_HTTP_CLIENTS     concurrent HTTP clients (default 50)
#   BENCH_HTTP_CHECKS      1 (default) also runs scripts/bench-http.sh (slow clients, bad
#                          requests, the connection bound); 0 skips it
#   BENCH_PS_PROCESSES     processes started for the -ps comparison (default 1000)
#   BENCH_PS_RUNS          timed runs of memanalyzer -ps and ps_mem (default 6; smem: 3)
#   BENCH_ALLOC            1 (default) runs the allocation check (tests/alloc.rs, release)
#   BENCH_README           1 (default) rewrites the README's table; 0 leaves README.md alone
#
# The exit status is 1 when a target is missed (after the table is written), 0 otherwise.
#
# What it measures (ratios come from one run, so a loaded machine slows both sides alike):
#   -ps: BENCH_PS_PROCESSES copies of sleep (plus whatever else runs), timed with hyperfine:
#        memanalyzer -ps vs smem (>= 10x faster) and ps_mem (>= 3x faster), whole runs, mean;
#        the PSS each reports for the started processes is compared: ps_mem adds 0.5 KiB per
#        process (it makes up for the kernel's truncation to whole kB), smem sums the truncated
#        per-region figures of smaps, so it may be lower by up to 1 KiB per region.
#   live workload (examples/workload, BENCH_MAPPINGS mappings), hyperfine, mean:
#        -pid <= 1.1x cat /proc/P/smaps; -pid -all <= 1.3x cat, in text and in JSON;
#        pmap -X for information; peak RSS (GNU time %M, largest of 3) of the default mode.
#   -file on a capture of the workload's smaps, page cache warm, whole runs (process start and
#        rendering included): default >= 1.5 GB/s, -all >= 0.8 GB/s.
#   generated file of BENCH_HUGE_REGIONS realistic regions (examples/smaps_gen, the generator of
#        the tests and the parse benchmark): default mode < 1 s of CPU (user + system, median
#        of 3) and <= 8 MiB peak; -all <= 150 MiB peak.
#   hostile inputs (the reliability issue's): a million distinct [anon:...] names, a million
#        distinct file paths, 3,000 60 KB anonymous names, 3,000 60 KB paths: default-mode peak
#        <= 8 MiB on each, in text, JSON and Prometheus output (the largest of the three counts).
#   -watch: a tick that reads only smaps_rollup <= 1.2x a read of smaps_rollup. Timed inside
#        both processes, so that neither's start-up counts: -watch 1ms -count N+2 with
#        -full-every larger than N prints one NDJSON sample per tick with its time; the first
#        sample is the full read, and the time from sample 2 to sample N+2, over N, is the cost
#        of a whole tick (the rollup read, the stat check, the line written). Against it, a
#        Python loop that opens, reads and closes /proc/P/smaps_rollup N times, timed around the
#        loop. Five rounds alternate; medians compared. The target is the large workload. The
#        CPU time of a tick is shown too (a run of N + 2 samples less one of 2, over N, against
#        the loop's own CPU time): unlike wall time, it does not depend on the machine's load.
#   -http: one server on loopback with -min-interval 3600 (every request after the first is
#        cached), the large workload as target; wrk with BENCH_HTTP_CLIENTS connections for
#        BENCH_HTTP_SECONDS on /debug/memory: >= 1,000 requests/s, all 200, one smaps read;
#        the server's RSS after a warm-up run and after the load run within 1 MiB (flat).
#        Then scripts/bench-http.sh for its robustness checks.
#   CPython process (fixtures/sources/python/objects.py): -pid, which reads pymalloc's pool
#        headers, <= 2x -pid -no-memory-reads (cat for information).
#   earlier targets: tiny process (-pid $$ <= 1.5x cat), allocations not growing with the
#        number of regions (tests/alloc.rs), and the release binary's size.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

MAPPINGS=${BENCH_MAPPINGS:-60000}
SMALL_MAPPINGS=${BENCH_SMALL_MAPPINGS:-$((MAPPINGS / 10))}
THREADS=${BENCH_THREADS:-4}
RUNS=${BENCH_RUNS:-30}
ROUNDS=${BENCH_ROUNDS:-5}
HUGE_REGIONS=${BENCH_HUGE_REGIONS:-1000000}
HOSTILE_NAMES=${BENCH_HOSTILE_NAMES:-1000000}
LONG_NAMES=${BENCH_LONG_NAMES:-3000}
WATCH_TICKS=${BENCH_WATCH_TICKS:-50}
WATCH_ROUNDS=5
HTTP_SECONDS=${BENCH_HTTP_SECONDS:-10}
HTTP_CLIENTS=${BENCH_HTTP_CLIENTS:-50}
HTTP_CHECKS=${BENCH_HTTP_CHECKS:-1}
PS_PROCESSES=${BENCH_PS_PROCESSES:-1000}
PS_RUNS=${BENCH_PS_RUNS:-6}
SMEM_RUNS=3
ALLOC=${BENCH_ALLOC:-1}
WRITE_README=${BENCH_README:-1}
WARMUP=3
PER_ROUND=$(((RUNS + ROUNDS - 1) / ROUNDS))
PS_MEM_VERSION=3.14
TOOLS_DIR=${XDG_CACHE_HOME:-$HOME/.cache}/memanalyzer-bench

log() { printf '\n==> %s\n' "$*" >&2; }
die() {
    printf 'bench.sh: error: %s\n' "$*" >&2
    exit 1
}

# ---------------------------------------------------------------------------------------------
# Tools

sudo=()
if [[ $(id -u) -ne 0 ]] && command -v sudo >/dev/null; then
    sudo=(sudo)
fi
apt_install() {
    [[ $(id -u) -eq 0 || ${#sudo[@]} -gt 0 ]] || die "need root or sudo to install: $*"
    log "installing $*"
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "$@" >/dev/null
}
missing=()
command -v hyperfine >/dev/null || missing+=(hyperfine)
[[ -x /usr/bin/time ]] || missing+=(time)
command -v pmap >/dev/null || missing+=(procps)
command -v python3 >/dev/null || missing+=(python3)
command -v wrk >/dev/null || missing+=(wrk)
command -v curl >/dev/null || missing+=(curl)
command -v smem >/dev/null || missing+=(smem)
if ((${#missing[@]} > 0)); then
    apt_install "${missing[@]}"
fi
# ps_mem is not packaged in Debian 12; PyPI's is its author's (pixelb), pinned.
PS_MEM=$TOOLS_DIR/venv/bin/ps_mem
if [[ ! -x $PS_MEM ]]; then
    log "installing ps_mem $PS_MEM_VERSION from PyPI into $TOOLS_DIR/venv"
    mkdir -p "$TOOLS_DIR"
    python3 -m venv "$TOOLS_DIR/venv" 2>/dev/null || {
        apt_install python3-venv
        python3 -m venv "$TOOLS_DIR/venv"
    }
    "$TOOLS_DIR/venv/bin/pip" install -q "ps_mem==$PS_MEM_VERSION"
fi

max_map_count=$(cat /proc/sys/vm/max_map_count)
if ((MAPPINGS + 1000 > max_map_count)); then
    die "vm.max_map_count is $max_map_count; $MAPPINGS mappings need about $((MAPPINGS + 1000))" \
        "(sysctl -w vm.max_map_count=$((MAPPINGS + 1000)))"
fi

log "building (release)"
cargo build --release --bin memanalyzer --example workload --example smaps_gen

# ---------------------------------------------------------------------------------------------
# Temporary files and processes, cleaned up on any exit

TMP=$(mktemp -d "${TMPDIR:-/tmp}/memanalyzer-bench.XXXXXX")
WL_PIDS=()
WL_FDS=()
OTHER_PIDS=()

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    local fd pid
    for pid in "${OTHER_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for fd in "${WL_FDS[@]}"; do
        # Ask politely (a line `exit`), then close our end of the workload's stdin.
        { printf 'exit\n' >&"$fd"; } 2>/dev/null || true
        exec {fd}>&- || true
    done
    for pid in "${WL_PIDS[@]}"; do
        for _ in 1 2 3 4 5 6 7 8 9 10; do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
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
cp target/release/examples/smaps_gen "$TMP/smaps_gen"
BIN=$TMP/memanalyzer
WORKLOAD=$TMP/workload
GENERATE=$TMP/smaps_gen

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

# Results, one `key=value` per line, turned into the summary at the end.
RESULTS=$TMP/results
: >"$RESULTS"
result() { printf '%s=%s\n' "$1" "$2" >>"$RESULTS"; }

cat >"$TMP/stats.py" <<'PY'
"""Merges hyperfine JSON exports (PREFIX.*.json) and prints statistics or ratios."""
import glob
import json
import statistics
import sys


def load(prefix, cpu=False):
    """Wall times by command, or with cpu=True user + system times (hyperfine exports only
    their means: each run counts as the mean of its export)."""
    times = {}
    for path in sorted(glob.glob(prefix + ".*.json")):
        with open(path) as f:
            for result in json.load(f)["results"]:
                if cpu:
                    spent = [result["user"] + result["system"]] * len(result["times"])
                else:
                    spent = result["times"]
                times.setdefault(result["command"], []).extend(spent)
    return times


def main():
    what, prefix = sys.argv[1], sys.argv[2]
    times = load(prefix, cpu=what.startswith("cpu-"))
    what = what.removeprefix("cpu-")
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

# bench NAME RUNS_PER_ROUND -n LABEL CMD [-n LABEL CMD ...]: hyperfine in ROUNDS rounds (no shell,
# output to /dev/null), each exported to $TMP/NAME.<round>.json; prints the merged table.
bench() {
    local name=$1 runs=$2 round
    shift 2
    for round in $(seq "$ROUNDS"); do
        hyperfine -N --style basic --warmup "$WARMUP" --runs "$runs" --output=null \
            --export-json "$TMP/$name.$round.json" "$@" >&2
    done
    stats table "$TMP/$name"
}

# gnu_time CMD...: runs CMD three times under GNU time; prints "PEAK_KIB CPU_SECONDS", the
# largest peak RSS and the median user + system time. Fails if CMD fails.
gnu_time() {
    local peaks=() cpus=() peak user system
    for _ in 1 2 3; do
        /usr/bin/time -f '%M %U %S' -o "$TMP/time.out" "$@" >/dev/null ||
            die "failed: $* ($(tail -n 2 "$TMP/time.out" | head -n 1))"
        read -r peak user system < <(tail -n 1 "$TMP/time.out")
        peaks+=("$peak")
        cpus+=("$(python3 -c "print($user + $system)")")
    done
    python3 -c "import statistics, sys; a = sys.argv[1:]; \
print(max(int(x) for x in a[:3]), f'{statistics.median(float(x) for x in a[3:]):.2f}')" \
        "${peaks[@]}" "${cpus[@]}"
}

# ---------------------------------------------------------------------------------------------
# -ps first, before the workloads start: smem would otherwise parse their 60,000 regions.
if [[ $(id -u) -ne 0 ]]; then
    log "-ps: skipped (ps_mem and smem see every process only as root)"
    result ps_skipped "not root"
else
    log "-ps: starting $PS_PROCESSES processes"
    cp "$(command -v sleep)" "$TMP/mabench-sleep"
    PS_PIDS=()
    for _ in $(seq "$PS_PROCESSES"); do
        "$TMP/mabench-sleep" 3600 &
        PS_PIDS+=("$!")
        OTHER_PIDS+=("$!")
    done
    for _ in $(seq 300); do
        (($(pgrep -c -x mabench-sleep || true) >= PS_PROCESSES)) && break
        sleep 0.1
    done
    printf '%s\n' "${PS_PIDS[@]}" >"$TMP/ps.pids"
    result ps_expected "$PS_PROCESSES"
    echo "$(find /proc -maxdepth 1 -name '[0-9]*' | wc -l) processes in /proc"
    log "-ps: memanalyzer -ps vs ps_mem ($PS_RUNS runs) and smem ($SMEM_RUNS runs)"
    bench ps "$(((PS_RUNS + ROUNDS - 1) / ROUNDS))" \
        -n memanalyzer-ps "$BIN -ps" \
        -n ps_mem "$PS_MEM"
    hyperfine -N --style basic --warmup 1 --runs "$SMEM_RUNS" --output=null \
        --export-json "$TMP/ps.smem.json" -n smem smem >&2
    stats table "$TMP/ps"
    read -r mean median < <(stats ratio "$TMP/ps" smem memanalyzer-ps)
    result ps_smem_mean "$mean"
    result ps_smem_median "$median"
    read -r mean median < <(stats ratio "$TMP/ps" ps_mem memanalyzer-ps)
    result ps_psmem_mean "$mean"
    result ps_psmem_median "$median"
    read -r mean _ < <(stats cpu-ratio "$TMP/ps" smem memanalyzer-ps)
    result ps_smem_cpu "$mean"
    read -r mean _ < <(stats cpu-ratio "$TMP/ps" ps_mem memanalyzer-ps)
    result ps_psmem_cpu "$mean"
    read -r mean _ < <(stats mean "$TMP/ps" memanalyzer-ps)
    result ps_ms "$(python3 -c "print(f'{$mean * 1e3:.0f}')")"
    read -r mean _ < <(stats mean "$TMP/ps" ps_mem)
    result ps_psmem_ms "$(python3 -c "print(f'{$mean * 1e3:.0f}')")"
    read -r mean _ < <(stats mean "$TMP/ps" smem)
    result ps_smem_ms "$(python3 -c "print(f'{$mean * 1e3:.0f}')")"

    log "-ps: the PSS each tool reports for the $PS_PROCESSES processes"
    "$BIN" -ps -format json >"$TMP/ps.json"
    "$PS_MEM" -t -p "$(paste -sd, "$TMP/ps.pids")" >"$TMP/ps_mem.out"
    smem -H -c "pid pss" >"$TMP/smem.out"
    sed 's|.*|/proc/&/maps|' "$TMP/ps.pids" | xargs cat | wc -l >"$TMP/ps.regions"
    python3 - "$TMP" >>"$RESULTS" <<'PY'
import json
import sys

tmp = sys.argv[1]
pids = {int(line) for line in open(f"{tmp}/ps.pids")}
ours = sum(p["pss_bytes"] for p in json.load(open(f"{tmp}/ps.json"))["processes"]
           if p["pid"] in pids and p["readable"])
listed = sum(1 for p in json.load(open(f"{tmp}/ps.json"))["processes"] if p["pid"] in pids)
ps_mem = int(open(f"{tmp}/ps_mem.out").read().split()[0])
smem = 0
for line in open(f"{tmp}/smem.out"):
    pid, pss_kib = line.split()
    if int(pid) in pids:
        smem += int(pss_kib) * 1024
regions = int(open(f"{tmp}/ps.regions").read())
print(f"ps_listed={listed}")
print(f"ps_pss={ours}")
print(f"ps_psmem_pss={ps_mem}")
print(f"ps_smem_pss={smem}")
print(f"ps_regions={regions}")
PY
    grep '^ps_' "$RESULTS"
    kill "${PS_PIDS[@]}" 2>/dev/null || true
    wait "${PS_PIDS[@]}" 2>/dev/null || true
    OTHER_PIDS=()
fi

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
log "live process ($RUNS runs per command in $ROUNDS rounds)"
bench live "$PER_ROUND" \
    -n memanalyzer "$BIN -pid $LARGE" \
    -n cat "cat /proc/$LARGE/smaps" \
    -n memanalyzer-all "$BIN -pid $LARGE -all" \
    -n memanalyzer-all-json "$BIN -pid $LARGE -all -format json" \
    -n pmap "pmap -X $LARGE"
for command in memanalyzer memanalyzer-all memanalyzer-all-json pmap cat; do
    read -r mean _ < <(stats mean "$TMP/live" "$command")
    result "live_ms_$command" "$(python3 -c "print(f'{$mean * 1e3:.0f}')")"
done
for command in memanalyzer memanalyzer-all memanalyzer-all-json pmap; do
    read -r mean median < <(stats ratio "$TMP/live" "$command" cat)
    result "live_${command}_mean" "$mean"
    result "live_${command}_median" "$median"
done

log "peak RSS, live (KiB, largest of 3 runs)"
read -r peak _ < <(gnu_time "$BIN" -pid "$LARGE")
result rss_top "$peak"
read -r peak _ < <(gnu_time "$BIN" -pid "$SMALL")
result rss_small "$peak"
read -r peak _ < <(gnu_time "$BIN" -pid "$LARGE" -all)
result rss_all "$peak"
grep '^rss_' "$RESULTS"

# ---------------------------------------------------------------------------------------------
log "-file throughput (page cache warm)"
cat "/proc/$LARGE/smaps" >"$TMP/large.smaps"
cat "/proc/$$/smaps" >"$TMP/tiny.smaps"
cat "$TMP/large.smaps" "$TMP/tiny.smaps" >/dev/null
FILE_BYTES=$(stat -c %s "$TMP/large.smaps")
bench file "$PER_ROUND" \
    -n file "$BIN -file $TMP/large.smaps" \
    -n file-all "$BIN -file $TMP/large.smaps -all" \
    -n file-tiny "$BIN -file $TMP/tiny.smaps"
result file_bytes "$FILE_BYTES"
for command in file file-all; do
    read -r mean median < <(stats mean "$TMP/file" "$command")
    result "${command}_mbps" "$(python3 -c "print(f'{$FILE_BYTES / $mean / 1e6:.0f}')")"
    result "${command}_mbps_median" "$(python3 -c "print(f'{$FILE_BYTES / $median / 1e6:.0f}')")"
done

# ---------------------------------------------------------------------------------------------
log "-watch: a rollup-only tick vs a read of smaps_rollup ($WATCH_TICKS ticks, $WATCH_ROUNDS rounds)"
cat >"$TMP/rollup_loop.py" <<'PY'
"""Reads /proc/PID/smaps_rollup N times; prints the mean wall and CPU time of one read (s)."""
import sys
import time

path, count = f"/proc/{sys.argv[1]}/smaps_rollup", int(sys.argv[2])
started, cpu = time.perf_counter(), time.process_time()
for _ in range(count):
    with open(path, "rb") as f:
        f.read()
print((time.perf_counter() - started) / count, (time.process_time() - cpu) / count)
PY
cat >"$TMP/watch_tick.py" <<'PY'
"""Reads -watch NDJSON: prints the mean time of one tick after the first (full) sample, and how
many samples after the first read the full smaps."""
import json
import sys

samples = [json.loads(line) for line in sys.stdin]
samples = [s for s in samples if s.get("record") == "sample"]
times = [s["time_unix_ms"] for s in samples[1:]]
full = sum(1 for s in samples[1:] if s["full"])
print((times[-1] - times[0]) / 1e3 / (len(times) - 1), full)
PY
# watch_cpu COUNT: user + system seconds of a -watch run of COUNT samples.
watch_cpu() {
    /usr/bin/time -f '%U %S' -o "$TMP/watch.time" "$BIN" -pid "$LARGE" -watch 1ms -count "$1" \
        -full-every "$((WATCH_TICKS + 10))" -format json >"$TMP/watch.ndjson"
    awk '{print $1 + $2}' "$TMP/watch.time"
}
: >"$TMP/watch.ticks"
: >"$TMP/watch.reads"
for _ in $(seq "$WATCH_ROUNDS"); do
    # The CPU time of the ticks: a run of N + 2 samples less one of 2 (the full read and the
    # first rollup-only tick, and the process's start).
    ticks_cpu=$(watch_cpu "$((WATCH_TICKS + 2))")
    read -r tick full < <(python3 "$TMP/watch_tick.py" <"$TMP/watch.ndjson")
    start_cpu=$(watch_cpu 2)
    echo "$tick $full $(python3 -c "print(($ticks_cpu - $start_cpu) / $WATCH_TICKS)")" \
        >>"$TMP/watch.ticks"
    python3 "$TMP/rollup_loop.py" "$LARGE" "$WATCH_TICKS" >>"$TMP/watch.reads"
done
python3 - "$TMP" >>"$RESULTS" <<'PY'
import statistics
import sys

tmp = sys.argv[1]
ticks = [line.split() for line in open(f"{tmp}/watch.ticks")]
reads = [line.split() for line in open(f"{tmp}/watch.reads")]
tick = statistics.median(float(t[0]) for t in ticks)
tick_cpu = statistics.median(float(t[2]) for t in ticks)
read = statistics.median(float(r[0]) for r in reads)
read_cpu = statistics.median(float(r[1]) for r in reads)
print(f"watch_tick_ms={tick * 1e3:.2f}")
print(f"watch_read_ms={read * 1e3:.2f}")
print(f"watch_ratio={tick / read:.3f}")
print(f"watch_tick_cpu_ms={tick_cpu * 1e3:.2f}")
print(f"watch_read_cpu_ms={read_cpu * 1e3:.2f}")
print(f"watch_cpu_ratio={tick_cpu / read_cpu:.3f}")
print(f"watch_full_reads={sum(int(t[1]) for t in ticks)}")
PY
grep '^watch_' "$RESULTS"

# ---------------------------------------------------------------------------------------------
log "-http: cached /debug/memory under load ($HTTP_CLIENTS clients, ${HTTP_SECONDS}s)"
"$BIN" -http 127.0.0.1:0 -pid "$LARGE" -min-interval 3600 2>"$TMP/http.err" &
HTTP_PID=$!
OTHER_PIDS+=("$HTTP_PID")
for _ in $(seq 100); do
    grep -q 'http://' "$TMP/http.err" && break
    sleep 0.1
done
BASE=$(grep -o 'http://[0-9.:]*' "$TMP/http.err") || die "-http did not start: $(cat "$TMP/http.err")"
http_rss() { awk '/^VmRSS:/ {print $2}' "/proc/$HTTP_PID/status"; }
curl -sf -o /dev/null "$BASE/debug/memory" || die "$BASE/debug/memory failed"
wrk -t2 -c"$HTTP_CLIENTS" -d2s "$BASE/debug/memory" >/dev/null
result http_rss_before "$(http_rss)"
wrk -t2 -c"$HTTP_CLIENTS" -d"${HTTP_SECONDS}s" --timeout 10s --latency "$BASE/debug/memory" \
    >"$TMP/wrk.txt"
result http_rss_after "$(http_rss)"
cat "$TMP/wrk.txt"
result http_rate "$(awk '/Requests\/sec/ {print $2}' "$TMP/wrk.txt")"
result http_requests "$(awk '/requests in/ {print $1}' "$TMP/wrk.txt")"
result http_p99 "$(awk '/^ +99%/ {print $2}' "$TMP/wrk.txt")"
result http_errors "$({ grep -oE 'Non-2xx.*|Socket errors.*' "$TMP/wrk.txt" || true; } | paste -sd ' ')"
result http_reads "$(curl -s "$BASE/healthz" | sed -n 's/^smaps_reads: //p')"
kill "$HTTP_PID"
wait "$HTTP_PID" 2>/dev/null || true
grep '^http_' "$RESULTS"

# ---------------------------------------------------------------------------------------------
log "tiny process (this script's shell, pid $$)"
echo "tiny process: $(grep -c '^VmFlags' "/proc/$$/smaps") regions"
bench tiny "$PER_ROUND" \
    -n memanalyzer "$BIN -pid $$" \
    -n cat "cat /proc/$$/smaps"
read -r mean median < <(stats ratio "$TMP/tiny" memanalyzer cat)
result tiny_mean "$mean"
result tiny_median "$median"

# ---------------------------------------------------------------------------------------------
log "CPython process (fixtures/sources/python/objects.py): pool headers read vs not"
mkfifo "$TMP/python.in"
python3 fixtures/sources/python/objects.py <"$TMP/python.in" >"$TMP/python.out" &
PYTHON_PID=$!
exec {python_in}>"$TMP/python.in"
for _ in $(seq 300); do grep -q '^READY' "$TMP/python.out" && break; sleep 0.1; done
grep -q '^READY' "$TMP/python.out" || die "objects.py did not start"
result python_rss_kib "$(awk '/^Rss/ {print $2}' "/proc/$PYTHON_PID/smaps_rollup")"
echo "CPython process: $(grep -c '^VmFlags' "/proc/$PYTHON_PID/smaps") regions"
bench python "$PER_ROUND" \
    -n memanalyzer "$BIN -pid $PYTHON_PID" \
    -n no-reads "$BIN -pid $PYTHON_PID -no-memory-reads" \
    -n cat "cat /proc/$PYTHON_PID/smaps"
read -r mean median < <(stats ratio "$TMP/python" memanalyzer no-reads)
result python_reads_mean "$mean"
read -r mean median < <(stats ratio "$TMP/python" memanalyzer cat)
result python_cat_mean "$mean"
exec {python_in}>&-
wait "$PYTHON_PID" || true

# ---------------------------------------------------------------------------------------------
log "generated file: $HUGE_REGIONS regions"
"$GENERATE" realistic "$HUGE_REGIONS" >"$TMP/huge.smaps"
result huge_bytes "$(stat -c %s "$TMP/huge.smaps")"
result huge_regions "$HUGE_REGIONS"
cat "$TMP/huge.smaps" >/dev/null
read -r peak cpu < <(gnu_time "$BIN" -file "$TMP/huge.smaps")
result huge_rss "$peak"
result huge_cpu "$cpu"
read -r peak cpu < <(gnu_time "$BIN" -file "$TMP/huge.smaps" -all)
result huge_all_rss "$peak"
result huge_all_cpu "$cpu"
rm "$TMP/huge.smaps"
grep '^huge_' "$RESULTS"

log "hostile inputs: peak RSS of the default mode, in each output format (the largest counts)"
for kind in anon-names:"$HOSTILE_NAMES" file-paths:"$HOSTILE_NAMES" \
    long-anon-names:"$LONG_NAMES" long-file-paths:"$LONG_NAMES"; do
    "$GENERATE" "${kind%%:*}" "${kind#*:}" >"$TMP/hostile.smaps"
    largest=0
    largest_format=
    for format in text json prometheus; do
        read -r peak _ < <(gnu_time "$BIN" -file "$TMP/hostile.smaps" -format "$format")
        echo "${kind%%:*} (${kind#*:} regions, $(stat -c %s "$TMP/hostile.smaps") bytes), $format: $peak KiB"
        if ((peak > largest)); then
            largest=$peak
            largest_format=$format
        fi
    done
    result "hostile_${kind%%:*}" "$largest"
    result "hostile_${kind%%:*}_format" "$largest_format"
    rm "$TMP/hostile.smaps"
done
result hostile_counts "$HOSTILE_NAMES:$LONG_NAMES"

# ---------------------------------------------------------------------------------------------
if [[ $ALLOC == 1 ]]; then
    log "allocations (cargo test --release --test alloc)"
    if cargo test --release --test alloc -- --nocapture --test-threads 1 \
        allocations_do_not_grow_with_regions_in_top_mode >"$TMP/alloc.out" 2>&1 &&
        grep -q '1 passed' "$TMP/alloc.out"; then
        result alloc PASS
    else
        result alloc FAIL
    fi
    grep -E '^(Top|test )' "$TMP/alloc.out" || cat "$TMP/alloc.out"
    result alloc_counts "$(sed -n 's/.*Top(20): *\([0-9]*\) regions.*: *\([0-9]*\) allocations.*/\1:\2/p' \
        "$TMP/alloc.out" | paste -sd ' ')"
fi

if [[ $HTTP_CHECKS == 1 ]]; then
    log "HTTP robustness (scripts/bench-http.sh)"
    if BENCH_HTTP_SECONDS=10 bash scripts/bench-http.sh >"$TMP/bench-http.out" 2>&1; then
        result http_checks PASS
    else
        result http_checks FAIL
    fi
    cat "$TMP/bench-http.out"
    result http_checks_counts "$(grep -c ' PASS ' "$TMP/bench-http.out" || true):$(grep -c ' FAIL ' "$TMP/bench-http.out" || true)"
fi

result binary_bytes "$(stat -c %s "$BIN")"
result machine "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), $(nproc) CPUs, Linux $(uname -r | cut -d- -f1)"
result load "$(cut -d' ' -f1-3 /proc/loadavg)"
result date "$(date -u +%Y-%m-%d)"
result runs "$RUNS"

# ---------------------------------------------------------------------------------------------
log "summary"
python3 - "$RESULTS" "$WRITE_README" <<'PY'
import re
import sys

r = dict(line.rstrip("\n").split("=", 1) for line in open(sys.argv[1]) if "=" in line)
write_readme = sys.argv[2] == "1"
rows = []  # (what, measured, target, verdict)


def f(key):
    return float(r[key])


def row(what, target, measured, ok):
    verdict = "info" if ok is None else ("PASS" if ok else "FAIL")
    rows.append((what, measured, target, verdict))


def mib(kib):
    return f"{int(kib) / 1024:.1f} MiB"


if "ps_pss" in r:
    n = int(r["ps_listed"])
    ours, ps_mem, smem = int(r["ps_pss"]), int(r["ps_psmem_pss"]), int(r["ps_smem_pss"])
    regions = int(r["ps_regions"])
    ps_mem_net = ps_mem - 512 * n
    same_ps_mem = abs(ps_mem_net - ours) <= 0.005 * ours
    same_smem = ours - regions * 1024 - 0.005 * ours <= smem <= ours * 1.005
    row(f"`-ps` ({n:,} processes started) vs `smem`", "≥ 10× faster",
        f"{f('ps_smem_mean'):.1f}× ({r['ps_ms']} ms vs {r['ps_smem_ms']} ms);"
        f" CPU time {f('ps_smem_cpu'):.1f}×",
        f("ps_smem_mean") >= 10)
    row(f"`-ps` vs `ps_mem`", "≥ 3× faster",
        f"{f('ps_psmem_mean'):.2f}× ({r['ps_ms']} ms vs {r['ps_psmem_ms']} ms);"
        f" CPU time {f('ps_psmem_cpu'):.2f}×",
        f("ps_psmem_mean") >= 3)
    row("`-ps`: PSS of those processes, same figures",
        "ps_mem − 0.5 KiB/process and smem within 0.5% (smem: less up to 1 KiB/region)",
        f"{ours / 2**20:.2f} MiB; ps_mem {ps_mem_net / 2**20:.2f} MiB (+0.5 KiB each:"
        f" {ps_mem / 2**20:.2f}); smem {smem / 2**20:.2f} MiB ({regions:,} regions)",
        same_ps_mem and same_smem and n == int(r.get("ps_expected", n)))
else:
    row("`-ps` vs `smem` / `ps_mem`", "≥ 10× / ≥ 3× faster", "skipped: " + r["ps_skipped"], False)

live = lambda c: f"{f(f'live_{c}_mean'):.2f}× ({r[f'live_ms_{c}']} ms vs {r['live_ms_cat']} ms)"
row("`-pid P` vs `cat /proc/P/smaps`", "≤ 1.1×", live("memanalyzer"),
    f("live_memanalyzer_mean") <= 1.1)
row("`-pid P -all` vs `cat`", "≤ 1.3×", live("memanalyzer-all"),
    f("live_memanalyzer-all_mean") <= 1.3)
row("`-pid P -all -format json` vs `cat`", "≤ 1.3×", live("memanalyzer-all-json"),
    f("live_memanalyzer-all-json_mean") <= 1.3)
row("`pmap -X P` vs `cat`", "", f"{f('live_pmap_mean'):.2f}× ({r['live_ms_pmap']} ms)", None)
row("peak RSS, `-pid P` (default)", "≤ 8 MiB",
    f"{mib(r['rss_top'])}; {mib(r['rss_small'])} with a tenth of the mappings",
    f("rss_top") <= 8192)
row("peak RSS, `-pid P -all`", "", mib(r["rss_all"]), None)
size = f"{int(r['file_bytes']) / 1e6:.1f} MB"
row(f"`-file` ({size}, page cache warm), whole run", "≥ 1.5 GB/s",
    f"{f('file_mbps') / 1e3:.2f} GB/s", f("file_mbps") >= 1500)
row("`-file -all`, whole run", "≥ 0.8 GB/s", f"{f('file-all_mbps') / 1e3:.2f} GB/s",
    f("file-all_mbps") >= 800)
huge = f"{int(r['huge_bytes']) / 1e6:.0f} MB"
row(f"generated file, {int(r['huge_regions']):,} regions ({huge}): default", "< 1 s CPU, ≤ 8 MiB peak",
    f"{r['huge_cpu']} s CPU, {mib(r['huge_rss'])}",
    f("huge_cpu") < 1 and f("huge_rss") <= 8192)
row("the same, `-all`", "≤ 150 MiB peak",
    f"{mib(r['huge_all_rss'])} ({r['huge_all_cpu']} s CPU)", f("huge_all_rss") <= 150 * 1024)
names, longs = r["hostile_counts"].split(":")
hostile = [("distinct `[anon:…]` names", names, "anon-names"),
           ("distinct file paths", names, "file-paths"),
           ("60 KB `[anon:…]` names", longs, "long-anon-names"),
           ("60 KB file paths", longs, "long-file-paths")]
row("peak RSS, default, hostile inputs (the largest of text, JSON and Prometheus)", "≤ 8 MiB each",
    "; ".join(f"{int(n):,} {what}: {mib(r['hostile_' + key])} ({r['hostile_' + key + '_format']})"
              for what, n, key in hostile),
    all(f("hostile_" + key) <= 8192 for _, _, key in hostile))
full = int(r["watch_full_reads"])
row("`-watch` tick without the full read vs reading `smaps_rollup`", "≤ 1.2×",
    f"{f('watch_ratio'):.2f}× ({r['watch_tick_ms']} ms vs {r['watch_read_ms']} ms);"
    f" CPU time {f('watch_cpu_ratio'):.2f}× ({r['watch_tick_cpu_ms']} ms vs"
    f" {r['watch_read_cpu_ms']} ms)"
    + (f"; {full} unexpected full reads" if full else ""),
    f("watch_ratio") <= 1.2 and full == 0)
growth = int(r["http_rss_after"]) - int(r["http_rss_before"])
rate = float(r["http_rate"] or 0)
row("`-http`: cached `/debug/memory`, loopback", "≥ 1,000 requests/s, flat memory",
    f"{rate:,.0f}/s ({int(r['http_requests'] or 0):,} requests, p99 {r['http_p99']}, {r['http_reads']}"
    f" smaps read); RSS {mib(r['http_rss_before'])} → {mib(r['http_rss_after'])}"
    + (f"; {r['http_errors']}" if r["http_errors"] else ""),
    rate >= 1000 and growth <= 1024 and not r["http_errors"] and r["http_reads"] == "1")
if "http_checks" in r:
    passed, failed = r["http_checks_counts"].split(":")
    row("`-http` robustness (`scripts/bench-http.sh`)", "all pass",
        f"{passed} passed, {failed} failed", r["http_checks"] == "PASS")
row("tiny process (`-pid $$`) vs `cat`", "≤ 1.5×", f"{f('tiny_mean'):.2f}×",
    f("tiny_mean") <= 1.5)
row(f"CPython process (`objects.py`, {int(r['python_rss_kib']) // 1024} MiB RSS): `-pid` vs `-pid -no-memory-reads`", "≤ 2×",
    f"{f('python_reads_mean'):.2f}× ({f('python_cat_mean'):.2f}× `cat`)",
    f("python_reads_mean") <= 2)
if "alloc" in r:
    row("allocations, top-N mode (regions: allocations)", "not growing",
        r["alloc_counts"] or "n/a", r["alloc"] == "PASS")
row("release binary", "", f"{int(r['binary_bytes']) / 1e6:.2f} MB", None)

print(f"machine: {r['machine']}; load average {r['load']}")
print(f"workload: {r['regions']} regions, {int(r['smaps_bytes']) / 1e6:.1f} MB of smaps")
width = max(len(what) for what, _, _, _ in rows)
for what, measured, target, verdict in rows:
    print(f"{verdict:<4}  {what:<{width}}  {target:<16}  {measured}")
failed = [what for what, _, _, verdict in rows if verdict == "FAIL"]
print("overall:", f"FAIL ({len(failed)} targets missed)" if failed else "PASS")

if write_readme:
    table = [
        f"Measured with `bash scripts/bench.sh` on {r['date']}: {r['machine']} (load average"
        f" {r['load']}), against `examples/workload` with {int(r['regions']):,} mappings"
        f" ({int(r['smaps_bytes']) / 1e6:.1f} MB of smaps text); times are means of"
        f" {r['runs']} runs, ratios from one run.",
        "",
        "| what | result | target | |",
        "|---|---|---|---|",
    ]
    table += [f"| {what} | {measured} | {target} | {verdict} |"
              for what, measured, target, verdict in rows]
    begin, end = "<!-- bench.sh: begin -->", "<!-- bench.sh: end -->"
    readme = open("README.md").read()
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
    if not pattern.search(readme):
        sys.exit("README.md has no bench.sh markers: the table was not written")
    readme = pattern.sub(lambda _: begin + "\n" + "\n".join(table) + "\n" + end, readme)
    open("README.md", "w").write(readme)
    print("README.md: the Performance table is rewritten")
sys.exit(1 if failed else 0)
PY
