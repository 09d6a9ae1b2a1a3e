#!/bin/bash
# Log flood before authentication (issue 15, finding 3): 400,000 READ_REQ
# frames for ungranted memory from a peer that never authenticated, against
# ember-mgmtd. At most 100 log lines may come of it, and the daemon serves on.
#   logflood.sh MGMTD_EXE EMBER_CLI FLOOD
set -u
MGMTD=$1 E=$2 FLOOD=$3
. "$(dirname "$0")/../lib/tap.sh"
T=$(mktemp -d /tmp/ember-edge-flood.XXXXXX)
PORT=29710
cleanup() {
	[ -n "${PID:-}" ] && kill "$PID" 2> /dev/null && wait "$PID" 2> /dev/null
	if [ "$failed" = 0 ]; then rm -rf "$T"; else echo "# state and logs kept in $T" >&2; fi
}
trap cleanup EXIT

head -c 32 /dev/urandom | base64 > "$T/secret"
chmod 600 "$T/secret"
printf '[mgmtd]\nlisten = tcp://127.0.0.1:%d\nkv = lmdb:%s/kv\nsecret_file = %s/secret\n' \
	$PORT "$T" "$T" > "$T/mgmtd.ini"
"$MGMTD" -c "$T/mgmtd.ini" > "$T/mgmtd.log" 2>&1 &
PID=$!

ready() {
	local i
	for i in $(seq 100); do
		grep -q "ready" "$T/mgmtd.log" && return 0
		sleep 0.1
	done
	cat "$T/mgmtd.log"
	return 1
}

flood() {
	local before after out
	before=$(wc -l < "$T/mgmtd.log")
	out=$("$FLOOD" 127.0.0.1 $PORT 400000) || return 1
	echo "$out"
	sleep 1.5 # a second window, for the "suppressed" line
	"$E" nodes --mgmtd tcp://127.0.0.1:$PORT --secret-file "$T/secret" > /dev/null || return 1
	after=$(wc -l < "$T/mgmtd.log")
	echo "$((after - before)) log lines from it"
	tail -n +"$((before + 1))" "$T/mgmtd.log" | sort | uniq -c | sort -rn | head -5
	[ "$(echo "$out" | awk '{ print $2 }')" -ge 400000 ] && [ $((after - before)) -le 100 ]
}

check "ember-mgmtd starts" ready
[ "$failed" = 0 ] || tap_done
check "400,000 refused frames before authentication: at most 100 log lines, still serving" flood
tap_done
