#!/usr/bin/env bash
# qdelay.sh: where a hot hit's latency goes inside edged. Builds edged with
# -tags h1qdelay (edge/internal/h1/qdelay_linux.go), runs one hot-hit case
# of the shared benchmark against it (wrk, pinned as compare.sh pins), and
# prints wrk's p50/p99 next to the node's own split of each request's time:
#
#   queue     kernel receive time of the request -> the node read it
#   dispatch  receive -> the node's poller woke the connection    } requests whose
#   runq      poller woke the connection -> it ran and read        } connection the poller
#   service   read -> response written                               woke after they arrived
#   total     receive -> response written
#
# and, per 100 ms of arrivals, the requests served, their mean and max total
# time and mean service time (windows.txt). With --perf it also counts
# cpu-clock samples per window on both cores (fewer than 100: the core was
# idle or the host took the vCPU away for part of the window; the guest's
# steal counter stays at 0 on these machines).
#
# usage: bench/http/qdelay.sh --out DIR [--size BYTES] [--ae gzip] [--duration S]
#                             [--conns N] [--runs N] [--perf] [--shared DIR]
#                             [--proxy-cpu N] [--lg-cpu N]
#
#   --size BYTES  object size (default 1048576)
#   --ae VALUE    Accept-Encoding sent by wrk (default none: identity)
#   --duration S  seconds of wrk per run (default 10)
#   --conns N     wrk connections (default 64, as bench.sh)
#   --runs N      runs, each with a fresh node (default 1)
#   --perf        also record cpu-clock samples on both cores (needs perf)
#
# Needs: go, wrk, curl, taskset, awk. Linux only. Stops what it started (by PID).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
shared="$repo/../shared/bench/http"
out="" size=1048576 ae="" duration=10 conns=64 runs=1 use_perf=0 proxy_cpu=0 lg_cpu=1
origin_port=19380 port=19381 admin_port=19481
while [[ $# -gt 0 ]]; do
  case $1 in
  --out) out=$2; shift 2 ;;
  --size) size=$2; shift 2 ;;
  --ae) ae=$2; shift 2 ;;
  --duration) duration=$2; shift 2 ;;
  --conns) conns=$2; shift 2 ;;
  --runs) runs=$2; shift 2 ;;
  --perf) use_perf=1; shift ;;
  --shared) shared=$2; shift 2 ;;
  --proxy-cpu) proxy_cpu=$2; shift 2 ;;
  --lg-cpu) lg_cpu=$2; shift 2 ;;
  -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) echo "qdelay: unknown option $1" >&2; exit 2 ;;
  esac
done
[[ -n $out ]] || { echo "qdelay: need --out DIR" >&2; exit 2; }
[[ $(uname -s) == Linux ]] || { echo "qdelay: Linux only" >&2; exit 2; }
[[ $duration =~ ^[0-9]+$ && $duration -ge 1 && $duration -le 120 ]] || { echo "qdelay: --duration 1..120" >&2; exit 2; }
[[ $runs =~ ^[0-9]+$ && $runs -ge 1 && $runs -le 50 ]] || { echo "qdelay: --runs 1..50" >&2; exit 2; }
[[ $conns =~ ^[0-9]+$ && $conns -ge 1 && $conns -le 1000 ]] || { echo "qdelay: --conns 1..1000" >&2; exit 2; }
[[ $size =~ ^[0-9]+$ && $size -ge 1 ]] || { echo "qdelay: --size BYTES" >&2; exit 2; }
for t in go wrk curl taskset awk; do command -v $t >/dev/null || { echo "qdelay: missing $t" >&2; exit 2; }; done
if ((use_perf)); then command -v perf >/dev/null || { echo "qdelay: --perf needs perf" >&2; exit 2; }; fi
mkdir -p "$out"
out=$(cd "$out" && pwd)

scratch=$(mktemp -d)
origin_pid="" edge_pid="" perf_pid=""
stop_pid() { [[ -n $1 ]] && kill -0 "$1" 2>/dev/null && { kill -TERM "$1"; wait "$1" 2>/dev/null || true; }; return 0; }
cleanup() {
  stop_pid "$perf_pid"; stop_pid "$edge_pid"; stop_pid "$origin_pid"
  rm -rf "$scratch"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
wait_report() { # wait_report FILE: until edged has written a whole report (its last line)
  for _ in $(seq 1 100); do grep -q '^h1qdelay end' "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "qdelay: no report from edged in $1" >&2; exit 1
}

(cd "$repo" && go build -tags h1qdelay -o "$scratch/edged" ./cmd/edged)
(cd "$shared/origin" && go build -o "$scratch/origin" .)
sed -e "s/@PORT@/$port/" -e "s/@ADMIN_PORT@/$admin_port/" -e "s/@ORIGIN@/127.0.0.1:$origin_port/" \
  "$here/edged.yaml.in" >"$scratch/edged.yaml"

taskset -c "$lg_cpu" "$scratch/origin" -listen "127.0.0.1:$origin_port" >>"$out/origin.log" 2>&1 &
origin_pid=$!
for _ in $(seq 1 50); do curl -sf -o /dev/null "http://127.0.0.1:$origin_port/healthz" && break; sleep 0.1; done

hdr=()
[[ -n $ae ]] && hdr=(-H "Accept-Encoding: $ae")
url="http://127.0.0.1:$port/obj/$size/qdelay-hot"
: >"$out/windows.txt"
echo "# qdelay.sh $(date -u +%FT%TZ) size=$size ae=${ae:-identity} duration=${duration}s conns=$conns runs=$runs edged $(git -C "$repo" describe --always --dirty 2>/dev/null || echo dev)" | tee "$out/report.txt"

for run in $(seq 1 "$runs"); do
  rep="$scratch/report-$run.txt"
  EDGECDN_H1_QDELAY=$rep taskset -c "$proxy_cpu" "$scratch/edged" -config "$scratch/edged.yaml" >>"$out/edged.log" 2>&1 &
  edge_pid=$!
  for _ in $(seq 1 100); do
    curl -sf -o /dev/null "http://127.0.0.1:$admin_port/ready" && break
    kill -0 "$edge_pid" 2>/dev/null || { echo "qdelay: edged exited" >&2; exit 1; }
    sleep 0.1
  done
  for _ in 1 2; do curl -s -o /dev/null "${hdr[@]}" "$url"; done
  kill -USR1 "$edge_pid" # start the period here: drop the warm-up requests
  wait_report "$rep"
  rm -f "$rep"
  if ((use_perf)); then
    perf record -q -k CLOCK_REALTIME -e cpu-clock -F 1000 -C "$proxy_cpu,$lg_cpu" -o "$scratch/perf.data" \
      -- sleep "$((duration + 2))" >/dev/null 2>&1 &
    perf_pid=$!
    sleep 1 # perf takes a moment to start recording
  fi
  w=$(taskset -c "$lg_cpu" wrk -t1 -c"$conns" -d"${duration}s" --timeout 10s --latency "${hdr[@]}" "$url" 2>&1)
  kill -USR1 "$edge_pid"
  wait_report "$rep"
  if [[ -n $perf_pid ]]; then wait "$perf_pid" 2>/dev/null || true; perf_pid=""; fi
  stop_pid "$edge_pid"; edge_pid=""

  p50=$(awk '$1=="50%"{print $2}' <<<"$w") p99=$(awk '$1=="99%"{print $2}' <<<"$w")
  rps=$(awk '/^Requests\/sec/{print $2}' <<<"$w")
  {
    echo "run $run: wrk p50 $p50 p99 $p99 req/s $rps"
    grep -E '^h1qdelay (period|stage)' "$rep" | sed 's/^h1qdelay /  /'
  } | tee -a "$out/report.txt"

  # windows.txt: run unix_ms offset_ms requests mean_ms max_ms service_mean_ms [samples_proxy_core samples_load_core]
  if [[ -f $scratch/perf.data ]]; then
    perf script -i "$scratch/perf.data" -F cpu,time 2>/dev/null |
      awk -v pc="$proxy_cpu" -v lc="$lg_cpu" -v run="$run" -v rep="$rep" '
        { gsub(/[\[\]:]/, ""); n[($1 + 0) "," sprintf("%.0f", int($2 * 10) * 100)]++ }
        END {
          while ((getline l < rep) > 0) {
            split(l, f, " ")
            if (f[2] != "window") continue
            print run, f[3], f[4], f[5], f[6], f[7], f[8], n[pc "," f[3]] + 0, n[lc "," f[3]] + 0
          }
        }' >>"$out/windows.txt"
    rm -f "$scratch/perf.data"
  else
    awk -v run="$run" '$2 == "window" { print run, $3, $4, $5, $6, $7, $8 }' "$rep" >>"$out/windows.txt"
  fi
done

# Slowest windows: the tail comes in spells, not evenly spread.
{
  cols="run unix_ms offset_ms requests mean_ms max_ms service_mean_ms"
  ((use_perf)) && cols+=" samples_proxy_core samples_load_core (1000 Hz: 100 = a whole window)"
  echo "slowest 100 ms windows by mean total ($cols):"
  sort -k5,5 -g -r "$out/windows.txt" | head -8 | sed 's/^/  /'
  awk '{ n++; r += $4 } END { if (n) printf "%d windows, %.0f requests per window on average\n", n, r / n }' "$out/windows.txt"
} | tee -a "$out/report.txt"
echo "report: $out/report.txt; windows: $out/windows.txt"
