// Command edgectl is the operator's client for the admin API of edgecdn
// nodes (edged): purge, status, drain, undrain, reload and the effective
// config, sent to one node or fanned out to many in parallel.
//
//	edgectl [flags] COMMAND [ARGS]
//
//	purge url URL...        purge these URLs (absolute http or https URLs)
//	purge prefix PREFIX...  purge every URL that starts with one of these
//	purge tag TAG...        purge every object carrying one of these surrogate keys
//	purge host HOST...      purge every object of these hosts
//	purge all --yes         purge everything
//	status                  show each node's state
//	drain                   start an operator drain (routes withdrawn, /ready fails)
//	undrain                 end an operator drain
//	reload                  make each node reload its config file
//	config                  print each node's effective config (YAML)
//
// Flags may go anywhere on the line; "--" ends them (for a tag that starts
// with "-"):
//
//	--node URL         admin base URL of a node; repeat for several
//	                   (default http://127.0.0.1:9090; "host:port" means http://host:port)
//	--nodes FILE       file with one admin base URL per line (# comments, blank lines)
//	--token-file FILE  file holding the bearer token (default: $EDGECTL_TOKEN)
//	--timeout D        per-node request timeout (default 10s)
//	--json             print a JSON array of per-node results instead of a table
//	--soft             purge: mark objects stale instead of removing them
//	--yes              purge all: confirm
//
// With several nodes the requests go out in parallel (at most 32 at a
// time). The table (or JSON array) on stdout has one row per node, in the
// order given; every failure is also reported on stderr as
// "edgectl: node URL: what went wrong". The exit status is 0 if every node
// succeeded, 1 if any failed (unreachable, timed out, or an answer other
// than 2xx), and 2 for a usage error, when nothing is sent.
//
// The token is sent as "Authorization: Bearer TOKEN" and never printed. A
// node without configured tokens accepts requests from loopback without one.
package main
