#!/usr/bin/env bash
# smoke.sh BINARY: start edged with its embedded demo config on loopback,
# check a miss, a hit, a compressed hit and the admin endpoints, then stop
# it gracefully. Uses only loopback and stops only the process it started.
set -euo pipefail
bin=${1:?usage: smoke.sh path/to/edged}
log=$(mktemp)
"$bin" -log-format text >"$log" 2>&1 &
pid=$!
cleanup() {
  if kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid"; wait "$pid" || true; fi
  rm -f "$log"
}
trap cleanup EXIT
fail() { echo "smoke: $*" >&2; cat "$log" >&2; exit 1; }
for _ in $(seq 1 50); do
  curl -sf -o /dev/null http://127.0.0.1:9090/ready && break
  kill -0 "$pid" 2>/dev/null || fail "edged exited"
  sleep 0.1
done
curl -sf -o /dev/null http://127.0.0.1:9090/ready || fail "not ready after 5s"
cs1=$(curl -sf -o /dev/null -D - http://127.0.0.1:8080/demo/text/2048 | tr -d '\r' | sed -n 's/^Cache-Status: //Ip')
cs2=$(curl -sf -o /dev/null -D - http://127.0.0.1:8080/demo/text/2048 | tr -d '\r' | sed -n 's/^Cache-Status: //Ip')
ce=$(curl -sf -o /dev/null -D - -H 'Accept-Encoding: gzip' http://127.0.0.1:8080/demo/text/2048 | tr -d '\r' | sed -n 's/^Content-Encoding: //Ip')
[[ $cs1 == *fwd=uri-miss* ]] || fail "first request: Cache-Status '$cs1', want a miss"
[[ $cs2 == *hit* ]] || fail "second request: Cache-Status '$cs2', want a hit"
[[ $ce == gzip ]] || fail "gzip client got Content-Encoding '$ce'"
# Capture before grepping: grep -q exits at the first match, and with
# pipefail the curl it cut off would fail the check.
metrics=$(curl -sf http://127.0.0.1:9090/metrics) || fail "no metrics"
grep -q '^edge_cache_lookups_total{result="hit",site="demo"} [1-9]' <<<"$metrics" || fail "no hit in metrics"
status=$(curl -sf http://127.0.0.1:9090/status) || fail "no status"
grep -q '"ready": true' <<<"$status" || fail "status not ready"
dnsmsg="dns skipped (no dig)"
if command -v dig >/dev/null; then
  eu=$(dig @127.0.0.1 -p 8053 www.cdn.demo.test A +subnet=198.51.100.0/24 +short +tries=1 +time=2) || fail "dig failed"
  apac=$(dig @127.0.0.1 -p 8053 www.cdn.demo.test A +subnet=203.0.113.0/24 +short +tcp +tries=1 +time=2) || fail "dig +tcp failed"
  [[ $eu == 127.0.0.11 && $apac == 127.0.0.13 ]] || fail "geo DNS: eu '$eu' apac '$apac', want 127.0.0.11 and 127.0.0.13"
  dnsmsg="geo dns over udp and tcp"
fi
kill -TERM "$pid"
wait "$pid" || fail "edged exited with an error on SIGTERM"
echo "smoke: ok (miss, hit, gzip hit, metrics, status, $dnsmsg, graceful stop)"
