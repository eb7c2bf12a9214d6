#!/usr/bin/env bash
# lab.sh — bring the edgecdn network-namespace lab up by hand.
#
#   deploy/lab/lab.sh up [-edges N]     namespaces, links, BIRD in the router, origin
#   deploy/lab/lab.sh status            namespaces, BGP sessions, VIP routes (BIRD and kernel)
#   deploy/lab/lab.sh down              stop what the lab runs (by PID), delete its namespaces
#   deploy/lab/lab.sh config N          print edge N's node config (for edged -config)
#
# It is the same lab the Go tests build (package deploy/lab), with the same
# addresses, through the same code: the script builds labtool and runs
# `labtool up|down|status`. Everything lives in network namespaces named
# <prefix>-router, -edge1..N, -origin and -client, with a random "ecl..."
# prefix; nothing is configured in the host's namespace. Only the
# documentation prefixes 198.51.100.0/24 and 203.0.113.0/24 are used.
#
# State (BIRD config, socket and log, origin log, labtool) is kept in
# $EDGECDN_LAB_STATE (default /run/edgecdn-lab/manual).
set -euo pipefail

state=${EDGECDN_LAB_STATE:-/run/edgecdn-lab/manual}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

usage() {
	sed -n '2,7p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

[ $# -ge 1 ] || usage
cmd=$1
shift

if [ "$cmd" = config ]; then
	[ $# -eq 1 ] || usage
	cd "$here" && exec go run ./cmd/labtool config -edge "$1"
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "lab.sh: refusing to run: must be root (network namespaces)" >&2
	exit 3
fi
for tool in ip bird birdc nft go; do
	command -v "$tool" >/dev/null || { echo "lab.sh: $tool not found (apt-get install iproute2 bird2 nftables; Go)" >&2; exit 1; }
done

# labtool builds labtool into the state directory (go build is cached).
labtool() {
	mkdir -p "$state"
	(cd "$here" && go build -o "$state/labtool.new" ./cmd/labtool) && mv "$state/labtool.new" "$state/labtool"
	echo "$state/labtool"
}

case $cmd in
up)
	bin=$(labtool)
	"$bin" up -state "$state" "$@"
	prefix=$(sed -n 's/.*"Prefix": "\(ecl[0-9a-z]*\)".*/\1/p' "$state/lab.json")
	cat <<EOF

Run the node in an edge (repeat for edge2, edge3):
  $0 config 1 > /tmp/edge1.yaml
  ip netns exec $prefix-edge1 bin/edged -config /tmp/edge1.yaml
Send bounded traffic from the client namespace (new connection per request):
  ip netns exec $prefix-client $bin loop -netns $prefix-client -url http://198.51.100.80/obj/1024 -rate 50 -duration 10s
Watch the router:
  birdc -s $state/bird.ctl show route 198.51.100.80/32 all
  ip -n $prefix-router route show 198.51.100.80
Break edge 1's HTTP (and heal it):
  echo 'add rule inet edgecdn_lab http_in tcp dport 80 reject with tcp reset' | ip netns exec $prefix-edge1 nft -f -
  ip netns exec $prefix-edge1 nft flush chain inet edgecdn_lab http_in
EOF
	;;
down)
	if [ -x "$state/labtool" ]; then
		bin="$state/labtool"
	else
		bin=$(labtool)
	fi
	"$bin" down -state "$state" "$@"
	;;
status)
	if [ -x "$state/labtool" ]; then
		"$state/labtool" status -state "$state" "$@"
	else
		echo "no lab up in $state"
		exit 1
	fi
	;;
*)
	usage
	;;
esac
