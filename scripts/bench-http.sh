#!/usr/bin/env bash
# Load check of `memanalyzer -http`, on loopback only, bounded in time (about a minute).
#
# Usage (from anywhere): bash scripts/bench-http.sh
#
# Environment:
#   BENCH_HTTP_SECONDS     length of the load run (default 20)
#   BENCH_HTTP_CLIENTS     concurrent clients (default 50)
#   BENCH_HTTP_INTERVAL    -min-interval in seconds (default 2)
#   BENCH_HTTP_MAPPINGS    mappings of the workload served (default 5000: a read that costs)
#
# What it checks (each line ends in PASS or FAIL; the exit status is 1 if any failed):
#   1. 50 clients asking /debug/memory for 20 s (wrk): every request answered 200, no socket
#      error; smaps read at most ceil(20 / min-interval) + 1 times (the server's own counter,
#      /healthz's smaps_reads); the server's RSS flat (the largest sample during the run at
#      most 4 MiB above the one taken after warm-up).
#   2. 100 connections sending their headers one byte a second: a normal request is not
#      delayed by more than 100 ms (median of 20, against the median without them).
#   3. oversized headers (431), a bad method (405), a bad top (400, twice): each a clear 4xx.
#   4. connections beyond the server's bound (256) are answered 503 at once.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

SECONDS_RUN=${BENCH_HTTP_SECONDS:-20}
CLIENTS=${BENCH_HTTP_CLIENTS:-50}
INTERVAL=${BENCH_HTTP_INTERVAL:-2}
MAPPINGS=${BENCH_HTTP_MAPPINGS:-5000}

for tool in wrk curl python3; do
    command -v "$tool" >/dev/null || {
        echo "bench-http.sh: $tool is missing (apt-get install wrk curl python3)" >&2
        exit 1
    }
done

failures=0
verdict() { # verdict NAME CONDITION(0/1) DETAIL
    if [[ $2 == 1 ]]; then
        printf '%-58s PASS  %s\n' "$1" "$3"
    else
        printf '%-58s FAIL  %s\n' "$1" "$3"
        failures=$((failures + 1))
    fi
}

cargo build --release --quiet --bin memanalyzer --example workload
work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# The target: a workload with many regions, kept alive by an open pipe on its stdin.
mkfifo "$work/workload-stdin"
target/release/examples/workload --mappings "$MAPPINGS" --anon-rw-mb 32 --threads 4 \
    <"$work/workload-stdin" >"$work/workload-out" &
pids+=($!)
exec 3>"$work/workload-stdin"
for _ in $(seq 100); do grep -q '^ready pid=' "$work/workload-out" && break; sleep 0.1; done
workload_pid=$(sed -n 's/^ready pid=//p' "$work/workload-out")
[[ -n $workload_pid ]] || { echo "bench-http.sh: the workload did not start" >&2; exit 1; }

target/release/memanalyzer -http 127.0.0.1:0 -pid "$workload_pid" -min-interval "${INTERVAL}s" \
    2>"$work/server-err" &
server_pid=$!
pids+=("$server_pid")
for _ in $(seq 100); do grep -q 'http://' "$work/server-err" && break; sleep 0.1; done
base=$(grep -o 'http://[0-9.:]*' "$work/server-err")
[[ -n $base ]] || { cat "$work/server-err" >&2; exit 1; }
echo "serving PID $workload_pid ($MAPPINGS mappings) at $base, -min-interval ${INTERVAL}s"

reads() { curl -s "$base/healthz" | sed -n 's/^smaps_reads: //p'; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$server_pid/status"; }

# --- 1. load ------------------------------------------------------------------------------
curl -s -o /dev/null "$base/debug/memory" # warm-up: the first read, the first buffers
wrk -t2 -c"$CLIENTS" -d2s "$base/debug/memory" >/dev/null
sleep "$INTERVAL"
rss_before=$(rss_kb)
reads_before=$(reads)
(
    end=$((SECONDS + SECONDS_RUN))
    while ((SECONDS < end)); do
        rss_kb
        sleep 0.5
    done >"$work/rss-samples"
) &
sampler=$!
wrk -t2 -c"$CLIENTS" -d"${SECONDS_RUN}s" --timeout 10s --latency "$base/debug/memory" \
    >"$work/wrk.txt"
wait "$sampler"
reads_after=$(reads)
rss_after=$(rss_kb)
echo "server RSS samples (kB, every 0.5 s): $(tr '\n' ' ' <"$work/rss-samples")"
half=$(($(wc -l <"$work/rss-samples") / 2))
rss_first_half=$(head -n "$half" "$work/rss-samples" | sort -n | tail -1)
rss_peak=$(sort -n "$work/rss-samples" | tail -1)
requests=$(awk '/requests in/ {print $1}' "$work/wrk.txt")
non_2xx=$(awk '/Non-2xx/ {print $NF}' "$work/wrk.txt")
socket_errors=$(grep -o 'Socket errors:.*' "$work/wrk.txt" || true)
rate=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.txt")
p50=$(awk '/^ +50%/ {print $2}' "$work/wrk.txt")
p99=$(awk '/^ +99%/ {print $2}' "$work/wrk.txt")
read_count=$((reads_after - reads_before))
allowed=$(((SECONDS_RUN + INTERVAL - 1) / INTERVAL + 1))
verdict "every request answered 200 ($CLIENTS clients, ${SECONDS_RUN}s)" \
    "$([[ -z $non_2xx && -z $socket_errors && ${requests:-0} -gt 0 ]] && echo 1 || echo 0)" \
    "$requests requests, $rate/s, p50 $p50, p99 $p99${non_2xx:+, non-2xx $non_2xx}${socket_errors:+, $socket_errors}"
verdict "smaps reads <= ceil($SECONDS_RUN/$INTERVAL)+1 = $allowed" \
    "$( ((read_count <= allowed)) && echo 1 || echo 0)" "$read_count reads"
verdict "server RSS flat (2nd half's peak <= 1st half's + 1 MiB)" \
    "$( ((rss_peak <= rss_first_half + 1024)) && echo 1 || echo 0)" \
    "before ${rss_before} kB, 1st half peak ${rss_first_half} kB, peak ${rss_peak} kB, after ${rss_after} kB"

# --- 2. slow clients ------------------------------------------------------------------------
python3 - "$base" <<'EOF' >"$work/slow.txt"
import socket, statistics, sys, threading, time, urllib.request
base = sys.argv[1]
host, port = base.removeprefix("http://").split(":")

def median_latency(count=20):
    times = []
    for _ in range(count):
        started = time.monotonic()
        with urllib.request.urlopen(base + "/debug/memory?top=5", timeout=10) as response:
            assert response.status == 200
            response.read()
        times.append(time.monotonic() - started)
        time.sleep(0.05)
    return statistics.median(times), max(times)

baseline, _ = median_latency()
stop = threading.Event()
def slow_client():
    try:
        sock = socket.create_connection((host, int(port)))
        for byte in b"GET /debug/memory HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 1000:
            if stop.is_set():
                break
            sock.send(bytes([byte]))
            time.sleep(1)
    except OSError:
        pass  # the server closed it: its header-read timeout
slow = [threading.Thread(target=slow_client, daemon=True) for _ in range(100)]
for thread in slow:
    thread.start()
time.sleep(1)
loaded, worst = median_latency()
stop.set()
print(f"{baseline * 1000:.1f} {loaded * 1000:.1f} {worst * 1000:.1f}")
EOF
read -r baseline_ms loaded_ms worst_ms <"$work/slow.txt"
verdict "100 slow-header clients delay a request by <= 100 ms" \
    "$(awk -v a="$loaded_ms" -v b="$baseline_ms" 'BEGIN {print (a - b <= 100) ? 1 : 0}')" \
    "median ${baseline_ms} ms alone, ${loaded_ms} ms beside them (worst ${worst_ms} ms)"

# --- 3. bad requests ------------------------------------------------------------------------
status() { curl -s -o "$work/body" -w '%{http_code}' "$@"; }
big_header="X-Padding: $(head -c 32768 /dev/zero | tr '\0' a)"
code=$(status -H "$big_header" "$base/debug/memory")
verdict "oversized headers: 431" "$([[ $code == 431 ]] && echo 1 || echo 0)" "$code"
code=$(status -X DELETE "$base/debug/memory")
verdict "bad method: 405" "$([[ $code == 405 ]] && echo 1 || echo 0)" "$code $(head -c 60 "$work/body")"
for top in -5 abc; do
    code=$(status "$base/debug/memory?top=$top")
    verdict "top=$top: 400" "$([[ $code == 400 ]] && echo 1 || echo 0)" "$code $(head -c 60 "$work/body")"
done

# --- 4. too many connections ----------------------------------------------------------------
python3 - "$base" <<'EOF' >"$work/flood.txt"
import socket, sys, time
host, port = sys.argv[1].removeprefix("http://").split(":")
held = [socket.create_connection((host, int(port))) for _ in range(256)]
time.sleep(0.5)
extra = socket.create_connection((host, int(port)))
extra.settimeout(2)
started = time.monotonic()
try:
    answer = extra.recv(100).split(b"\r\n")[0].decode()
except socket.timeout:
    answer = "no answer"
print(f"{answer}|{(time.monotonic() - started) * 1000:.1f}")
EOF
IFS='|' read -r answer answer_ms <"$work/flood.txt"
verdict "connection 257 answered 503 at once" \
    "$([[ $answer == *503* ]] && echo 1 || echo 0)" "'$answer' in ${answer_ms} ms"

exec 3>&-
if ((failures > 0)); then
    echo "bench-http.sh: $failures check(s) failed" >&2
    exit 1
fi
echo "bench-http.sh: all checks passed"
