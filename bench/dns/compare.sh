#!/usr/bin/env bash
# compare.sh: run the shared geo-DNS benchmark (../shared/bench/dns) against
# edged and the reference servers (gdnsd 3 with its geoip plugin, PowerDNS
# Authoritative with its geoip backend) in one run, interleaved, all on the
# same GeoLite2 City database and the same 5-region policy, each server
# pinned to one core, dnsperf to the other. It starts every server itself
# and stops them (by PID) on exit, then prints the medians.
#
# usage: bench/dns/compare.sh --mmdb FILE --out DIR [--reps N] [--servers "edge gdnsd pdns"]
#                             [--shared DIR] [-- bench.sh options...]
#
#   --mmdb FILE     GeoLite2-City.mmdb (how to fetch it: ../shared/bench/dns/README.md;
#                   never commit it)
#   --out DIR       raw figures per run, logs, medians.md
#   --reps N        rounds (default 3; the order reverses every other round)
#   --servers LIST  default "edge gdnsd pdns"
#
# Needs: go, dnsperf, dig, taskset; for the peers apt-get install gdnsd
# pdns-server pdns-backend-geoip.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
shared="$repo/../shared/bench/dns"
mmdb="" out="" reps=3 servers="edge gdnsd pdns" server_cpu=0 extra=()
while [[ $# -gt 0 ]]; do
  case $1 in
  --mmdb) mmdb=$2; shift 2 ;;
  --out) out=$2; shift 2 ;;
  --reps) reps=$2; shift 2 ;;
  --servers) servers=$2; shift 2 ;;
  --shared) shared=$2; shift 2 ;;
  --) shift; extra=("$@"); break ;;
  -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) echo "compare: unknown option $1" >&2; exit 2 ;;
  esac
done
[[ -n $mmdb && -r $mmdb ]] || { echo "compare: need --mmdb FILE (readable)" >&2; exit 2; }
[[ -n $out ]] || { echo "compare: need --out DIR" >&2; exit 2; }
[[ -x $shared/bench.sh ]] || { echo "compare: no harness at $shared (use --shared)" >&2; exit 2; }
mmdb=$(cd "$(dirname "$mmdb")" && pwd)/$(basename "$mmdb")
mkdir -p "$out"
out=$(cd "$out" && pwd)
qname=www.cdn.example.test
run=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$run"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export GEODNSBENCH=$run/geodnsbench
(cd "$shared/tools" && go build -o "$GEODNSBENCH" .)
version=$(git -C "$repo" describe --always --dirty 2>/dev/null || echo dev)
(cd "$repo" && go build -trimpath -ldflags "-X github.com/edgecdn/edgecdn/edge.Version=$version" -o "$run/edged" ./cmd/edged)
echo "building the query file and the expected-region table ..." >&2
"$GEODNSBENCH" queries -db "$mmdb" -qname "$qname" -n 100000 -seed 2 -out "$run/ecs.bin" 2>"$out/queries.log"
"$GEODNSBENCH" expected -db "$mmdb" -regions "$shared/regions.tsv" -policy "$shared/policy.txt" >"$out/expected.tsv"

declare -A port pid
start() { # start NAME PORT: starts one server pinned to $server_cpu
  local s=$1 p=$2
  case $s in
  edge)
    sed -e "s|@DNS_PORT@|$p|" -e "s|@HTTP_PORT@|$((p + 1000))|" -e "s|@ADMIN_PORT@|$((p + 1100))|" \
      -e "s|@MMDB@|$mmdb|" "$here/edged.yaml.in" >"$run/edged.yaml"
    taskset -c "$server_cpu" "$run/edged" -config "$run/edged.yaml" -log-format json >"$out/edge.log" 2>&1 &
    ;;
  gdnsd)
    mkdir -p "$run/gdnsd/zones" "$run/gdnsd/run" "$run/gdnsd/state"
    sed -e "s|@LISTEN@|127.0.0.1:$p|" -e "s|@MMDB@|\"$mmdb\"|" -e "s|@RUNDIR@|\"$run/gdnsd/run\"|" \
      -e "s|@STATEDIR@|\"$run/gdnsd/state\"|" "$shared/configs/gdnsd/config.tmpl" >"$run/gdnsd/config"
    cp "$shared"/configs/gdnsd/zones/* "$run/gdnsd/zones/"
    taskset -c "$server_cpu" gdnsd -c "$run/gdnsd" start >"$out/gdnsd.log" 2>&1 &
    ;;
  pdns)
    mkdir -p "$run/pdns/run"
    cp "$shared/configs/pdns/geo.yaml" "$run/pdns/geo.yaml"
    sed -e "s|@MMDB@|$mmdb|" -e "s|@CONFDIR@|$run/pdns|" -e "s|@ADDR@|127.0.0.1|" -e "s|@PORT@|$p|" \
      -e "s|@RUNDIR@|$run/pdns/run|" "$shared/configs/pdns/pdns.conf.tmpl" >"$run/pdns/pdns.conf"
    taskset -c "$server_cpu" pdns_server --config-dir="$run/pdns" >"$out/pdns.log" 2>&1 &
    ;;
  *) echo "compare: unknown server $s" >&2; exit 2 ;;
  esac
  pid[$s]=$! port[$s]=$p
  pids+=("$!")
  # Ready when www answers one of the policy's addresses.
  for _ in $(seq 1 240); do
    kill -0 "${pid[$s]}" 2>/dev/null || { echo "compare: $s exited, see $out/$s.log" >&2; exit 1; }
    if dig +short +time=1 +tries=1 -p "$p" @127.0.0.1 "$qname" A 2>/dev/null | grep -q '^203\.0\.113\.'; then return 0; fi
    sleep 0.5
  done
  echo "compare: $s did not answer within 2 minutes, see $out/$s.log" >&2
  exit 1
}

names=()
i=0
for s in $servers; do
  start "$s" $((20060 + i))
  names+=("$s")
  i=$((i + 1))
done
{
  echo "# compare.sh $(date -u +%FT%TZ): reps=$reps servers=$servers; servers on cpu $server_cpu"
  echo "# host: $(nproc) cpus, $(uname -r); edged $version"
  "$GEODNSBENCH" info -db "$mmdb" >"$run/db-info.txt" 2>&1 || true
  sed -n '1,3p' "$run/db-info.txt"
} >"$out/notes.log"

for rep in $(seq 1 "$reps"); do
  order=("${names[@]}")
  if ((rep % 2 == 0)); then
    order=()
    for ((j = ${#names[@]} - 1; j >= 0; j--)); do order+=("${names[$j]}"); done
  fi
  for s in "${order[@]}"; do
    echo "round $rep: $s" >&2
    "$shared/bench.sh" -l "$s." -p "${pid[$s]}" -m "$mmdb" -b "$run/ecs.bin" -e "$out/expected.tsv" \
      -o "$out/rep$rep" "${extra[@]}" "127.0.0.1:${port[$s]}" "$qname" >"$out/rep$rep.$s.txt"
  done
done

# Medians over the rounds: one row per figure, one column per server.
cat "$out"/rep*.txt | awk -v names="${names[*]}" '
  { split($1, a, "."); srv=a[1]; fig=substr($1, length(srv)+2);
    if ($2 ~ /^-?[0-9.]+$/) { n=++cnt[srv, fig]; val[srv, fig, n]=$2 } else if (!((srv, fig) in txt)) txt[srv, fig]=$2
    if (!(fig in seen)) { seen[fig]=1; order[++nf]=fig } }
  function median(s, f,   n, i, j, t, v) { n=cnt[s, f]; if (!n) return ((s, f) in txt) ? txt[s, f] : "-";
    for (i=1;i<=n;i++) v[i]=val[s, f, i];
    for (i=1;i<=n;i++) for (j=i+1;j<=n;j++) if (v[j]+0 < v[i]+0) { t=v[i]; v[i]=v[j]; v[j]=t }
    return (n%2) ? v[(n+1)/2] : (v[n/2]+v[n/2+1])/2 }
  END { ns=split(names, S, " "); printf "| figure |"; for (i=1;i<=ns;i++) printf " %s |", S[i]; printf "\n|---|";
    for (i=1;i<=ns;i++) printf "---|"; printf "\n";
    for (k=1;k<=nf;k++) { printf "| %s |", order[k]; for (i=1;i<=ns;i++) printf " %s |", median(S[i], order[k]); printf "\n" } }' |
  tee "$out/medians.md"
echo "raw results: $out" >&2
