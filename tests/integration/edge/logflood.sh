#!/bin/bash
# Log flood before authentication (issue 15, finding 3): 400,000 READ_REQ
# frames for ungranted memory from a peer that never authenticated, against
# ember-mgmtd. The daemon closes each connection at its first bulk frame and
# the flood reconnects. At most 100 log lines may come of it, and the daemon
# serves on.
#   logflood.sh MGMTD_EXE EMBER_CLI FLOOD
set -u
MGMTD=$1 E=$2 FLOOD=$3
. "$(dirname "$0")/../lib/tap.sh"
PORT=29710
. "$(dirname "$0")/mgmtd.sh"
edge_mgmtd flood

flood() {
	local before after out
	before=$(wc -l < "$T/mgmtd.log")
	out=$("$FLOOD" 127.0.0.1 $PORT 400000) || return 1
	echo "$out"
	sleep 1.5 # a second window, for the "suppressed" line
	serves || return 1
	after=$(wc -l < "$T/mgmtd.log")
	echo "$((after - before)) log lines from it"
	tail -n +"$((before + 1))" "$T/mgmtd.log" | sort | uniq -c | sort -rn | head -5
	[ "$(echo "$out" | awk '{ print $2 }')" -ge 400000 ] && [ $((after - before)) -le 100 ]
}

check "ember-mgmtd starts" ready
[ "$failed" = 0 ] || tap_done
check "400,000 refused frames before authentication: at most 100 log lines, still serving" flood
tap_done
