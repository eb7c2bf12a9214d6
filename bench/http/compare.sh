#!/usr/bin/env bash
# compare.sh: run the shared HTTP benchmark (../shared/bench/http) against
# edged and the reference proxies (nginx, Varnish, Apache Traffic Server) in
# one run, interleaved (edge nginx varnish ats edge nginx ...), each proxy
# freshly started per round and pinned to the same core, then summarise the
# medians. It starts the benchmark origin itself and stops everything it
# started (by PID) on exit.
#
# usage: bench/http/compare.sh --out DIR [--reps N] [--proxies "edge nginx varnish ats"]
#                              [--shared DIR] [-- bench.sh options...]
#
#   --out DIR       raw.txt (all fig lines), notes.log, summary.md go here
#   --reps N        rounds (default 3)
#   --proxies LIST  in round order (default "edge nginx varnish ats")
#   --shared DIR    the shared harness (default: ../shared/bench/http next to the repo)
#   --proxy-cpu N / --lg-cpu N   cores for the proxies and for origin + load (default 0 / 1)
#
# Needs: go, wrk, curl, taskset; for the peers, apt-get install nginx varnish trafficserver.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
shared="$repo/../shared/bench/http"
out="" reps=3 proxies="edge nginx varnish ats" origin_port=19080 base_port=19081 proxy_cpu=0 lg_cpu=1
extra=()
while [[ $# -gt 0 ]]; do
  case $1 in
  --out) out=$2; shift 2 ;;
  --reps) reps=$2; shift 2 ;;
  --proxies) proxies=$2; shift 2 ;;
  --shared) shared=$2; shift 2 ;;
  --proxy-cpu) proxy_cpu=$2; shift 2 ;;
  --lg-cpu) lg_cpu=$2; shift 2 ;;
  --) shift; extra=("$@"); break ;;
  -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) echo "compare: unknown option $1" >&2; exit 2 ;;
  esac
done
[[ -n $out ]] || { echo "compare: need --out DIR" >&2; exit 2; }
[[ -x $shared/bench.sh ]] || { echo "compare: no harness at $shared (use --shared)" >&2; exit 2; }
mkdir -p "$out"
out=$(cd "$out" && pwd)
shared=$(cd "$shared" && pwd)

scratch=$(mktemp -d)
cache_root=""
if [[ -d /dev/shm && -w /dev/shm ]]; then cache_root=$(mktemp -d -p /dev/shm); fi
export CACHE_ROOT=$cache_root
origin_pid="" current="" edge_pid=""
cleanup() {
  if [[ -n $edge_pid ]] && kill -0 "$edge_pid" 2>/dev/null; then kill -TERM "$edge_pid"; wait "$edge_pid" 2>/dev/null || true; fi
  [[ -n $current ]] && "$shared/proxyctl.sh" stop "$current" || true
  if [[ -n $origin_pid ]]; then kill "$origin_pid" 2>/dev/null || true; wait "$origin_pid" 2>/dev/null || true; fi
  rm -rf "$scratch"
  [[ -n $cache_root ]] && rm -rf "$cache_root"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

version=$(git -C "$repo" describe --always --dirty 2>/dev/null || echo dev)
(cd "$repo" && go build -trimpath -ldflags "-X github.com/edgecdn/edgecdn/edge.Version=$version" -o "$scratch/edged" ./cmd/edged)
(cd "$shared/origin" && go build -o "$scratch/origin" .)
(cd "$shared/tools" && go build -o "$scratch/hpbench" .)

pin_lg=(taskset -c "$lg_cpu")
pin_proxy=(taskset -c "$proxy_cpu")
"${pin_lg[@]}" "$scratch/origin" -listen "127.0.0.1:$origin_port" >>"$out/origin.log" 2>&1 &
origin_pid=$!
for _ in $(seq 1 50); do curl -sf -o /dev/null "http://127.0.0.1:$origin_port/healthz" && break; sleep 0.1; done

start_edge() { # start_edge <port>: prints pid
  local port=$1
  sed -e "s/@PORT@/$port/" -e "s/@ADMIN_PORT@/$((port + 100))/" -e "s/@ORIGIN@/127.0.0.1:$origin_port/" \
    "$here/edged.yaml.in" >"$scratch/edged.yaml"
  "${pin_proxy[@]}" "$scratch/edged" -config "$scratch/edged.yaml" -log-format json >>"$out/edged.log" 2>&1 &
  edge_pid=$!
  for _ in $(seq 1 100); do
    curl -sf -o /dev/null "http://127.0.0.1:$((port + 100))/ready" && return 0
    kill -0 "$edge_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "compare: edged did not start" >&2
  return 1
}

{
  echo "# compare.sh started $(date -u +%FT%TZ); reps=$reps proxies=$proxies; proxy cpu $proxy_cpu, load cpu $lg_cpu"
  echo "# host: $(nproc) cpus, $(uname -r); $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  echo "# wrk: $(wrk -v 2>&1 | head -1); edged $version"
} >>"$out/notes.log"

for rep in $(seq 1 "$reps"); do
  i=0
  for p in $proxies; do
    port=$((base_port + i))
    i=$((i + 1))
    curl -s -o /dev/null "http://127.0.0.1:$origin_port/stats/reset"
    cd_arg=()
    if [[ $p == edge ]]; then
      start_edge "$port"
      pid=$edge_pid pv=$version
    else
      dir="$scratch/$p-$rep"
      current=$dir
      info=$("$shared/proxyctl.sh" start "$p" "$dir" "$port" "127.0.0.1:$origin_port" "$proxy_cpu")
      pid=$(sed -n 's/.*pid=\([0-9]*\).*/\1/p' <<<"$info")
      pv=$(sed -n 's/.*version=\([^ ]*\).*/\1/p' <<<"$info")
      cache_dir=$(sed -n 's/.*cache_dir=\([^ ]*\).*/\1/p' <<<"$info")
      [[ $cache_dir != - ]] && cd_arg=(--cache-dir "$cache_dir")
    fi
    echo "# round $rep: $p $pv pid $pid port $port ($(date -u +%T))" >>"$out/notes.log"
    "$shared/bench.sh" --proxy "http://127.0.0.1:$port" --origin "127.0.0.1:$origin_port" \
      --label "$p" --version "$pv" --pid "$pid" --proxy-cpu "$proxy_cpu" --lg-cpu "$lg_cpu" \
      "${cd_arg[@]}" --run-id "r$rep-$p" "${extra[@]}" >>"$out/raw.txt" 2>>"$out/notes.log" ||
      echo "# bench.sh failed for $p round $rep" >>"$out/notes.log"
    if [[ $p == edge ]]; then
      kill -TERM "$edge_pid"; wait "$edge_pid" 2>/dev/null || true; edge_pid=""
    else
      "$shared/proxyctl.sh" stop "$dir"; current=""; rm -rf "$dir"
    fi
  done
done

"$scratch/hpbench" summarize -order "$(tr ' ' ',' <<<"$proxies")" "$out/raw.txt" >"$out/summary.md"
echo "# compare.sh finished $(date -u +%FT%TZ)" >>"$out/notes.log"
echo "summary: $out/summary.md"
