#!/usr/bin/env bash
# rounds.sh — per-round figures of a compare.sh run, with the interference on
# the proxy's core.
#
#   bench/http/rounds.sh DIR/raw.txt [WORKLOAD] [MAX_OTHER_%]
#
# For every workload case and proxy it prints each round's p99 (ms), CPU per
# request (µs) and "other": the share of the proxy's pinned core that
# neither the proxy nor idle time accounts for (1 - proxy_cpu -
# proxy_core_idle), i.e. CPU something else took on that core (kernel work,
# another tenant of the host). A round with much "other" shows interference
# more than the proxy, on any proxy. The last two columns are the medians
# over all rounds and over the clean ones (other <= MAX_OTHER_%, default 3).
# WORKLOAD filters on the workload name (a.hot, b.zipf, ...). A directory
# compare.sh wrote to twice lists the rounds of both runs.
set -euo pipefail

if [[ $# -lt 1 || $1 == -h || $1 == --help ]]; then
  sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi
raw=$1 wl=${2:-} maxother=${3:-3}
[[ -r $raw ]] || { echo "rounds.sh: cannot read $raw" >&2; exit 1; }

grep -h '^fig ' "$raw" | awk -v maxother="$maxother" -v want="$wl" '
function field(name,   i) {
  for (i = 2; i <= NF; i++) if (index($i, name "=") == 1) return substr($i, length(name) + 2)
  return ""
}
function median(list,   a, n, i, j, t) {
  n = split(list, a, " ")
  if (n == 0) return "-"
  for (i = 2; i <= n; i++) { t = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
  return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
{
  proxy = field("proxy"); w = field("wl"); c = field("case")
  m = field("metric"); v = field("value")
  # compare.sh appends to raw.txt, so a directory used twice holds several
  # runs with the same round names; each proxy round starts with its env
  # figures, which tell them apart.
  if (w == "env") { if (c == "load") sess[proxy, field("run")]++; next }
  run = field("run") "#" sess[proxy, field("run")]
  if (want != "" && w != want) next
  k = w " " c " " proxy
  if (!(k in seen)) { seen[k] = 1; order[++nk] = k }
  if (!((k SUBSEP run) in runseen)) { runseen[k, run] = 1; runs[k] = runs[k] " " run }
  val[k, run, m] = v
}
END {
  printf "%-34s %-8s %-44s %9s %9s\n", "case", "proxy", "rounds: p99 ms / cpu us / other %", "p99 all", "p99 clean"
  for (i = 1; i <= nk; i++) {
    k = order[i]; split(k, p, " ")
    n = split(runs[k], rr, " "); line = ""; all = ""; clean = ""
    for (j = 1; j <= n; j++) {
      r = rr[j]
      if (!((k SUBSEP r SUBSEP "p99") in val)) continue
      p99 = val[k, r, "p99"]; cpu = val[k, r, "cpu_per_req"]
      other = "?"
      if ((k SUBSEP r SUBSEP "proxy_cpu") in val && (k SUBSEP r SUBSEP "proxy_core_idle") in val) {
        o = (1 - val[k, r, "proxy_cpu"] - val[k, r, "proxy_core_idle"] / 100) * 100
        other = sprintf("%.0f", o < 0 ? 0 : o)
      }
      line = line sprintf(" %.2f/%.1f/%s", p99, cpu, other)
      all = all " " p99
      if (other != "?" && other + 0 <= maxother) clean = clean " " p99
    }
    if (all == "") continue
    printf "%-34s %-8s %-44s %9s %9s\n", p[1] " " p[2], p[3], line, median(all), median(clean)
  }
}'
