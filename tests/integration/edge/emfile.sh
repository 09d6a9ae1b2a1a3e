#!/bin/bash
# Accept under fd exhaustion (issue 15, finding 4): ember-mgmtd with a
# 64-descriptor limit, 100 connections held open against it. The daemon must
# not spin on EMFILE (CPU under 20% of a core over 5 s), must say so in a few
# log lines, not thousands, and must serve again once the connections go.
#   emfile.sh MGMTD_EXE EMBER_CLI
set -u
MGMTD=$1 E=$2
. "$(dirname "$0")/../lib/tap.sh"
T=$(mktemp -d /tmp/ember-edge-emfile.XXXXXX)
PORT=29700
cleanup() {
	[ -n "${PID:-}" ] && kill "$PID" 2> /dev/null && wait "$PID" 2> /dev/null
	if [ "$failed" = 0 ]; then rm -rf "$T"; else echo "# state and logs kept in $T" >&2; fi
}
trap cleanup EXIT

head -c 32 /dev/urandom | base64 > "$T/secret"
chmod 600 "$T/secret"
printf '[mgmtd]\nlisten = tcp://127.0.0.1:%d\nkv = lmdb:%s/kv\nsecret_file = %s/secret\n' \
	$PORT "$T" "$T" > "$T/mgmtd.ini"

# In this shell, not in a check's subshell, so cleanup knows the pid.
prlimit --nofile=64:64 "$MGMTD" -c "$T/mgmtd.ini" > "$T/mgmtd.log" 2>&1 &
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

serves() { "$E" nodes --mgmtd tcp://127.0.0.1:$PORT --secret-file "$T/secret" > /dev/null; }

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$PID/stat"; }

exhausted() {
	local i fds=() t0 t1 hz lines
	for i in $(seq 100); do
		exec {fd}<> /dev/tcp/127.0.0.1/$PORT || break
		fds+=("$fd")
	done
	echo "${#fds[@]} connections open"
	sleep 0.5
	t0=$(cpu_ticks)
	sleep 5
	t1=$(cpu_ticks)
	hz=$(getconf CLK_TCK)
	lines=$(grep -c "accept" "$T/mgmtd.log")
	echo "CPU over 5 s: $(( (t1 - t0) * 100 / hz )) ticks of 100 per second-core -> $(( (t1 - t0) * 100 / (5 * hz) ))%; $lines accept log lines"
	grep "accept" "$T/mgmtd.log" | sed -n "1p;\$p"
	for fd in "${fds[@]}"; do exec {fd}>&-; done
	[ ${#fds[@]} -ge 70 ] && [ $(( (t1 - t0) * 100 / (5 * hz) )) -lt 20 ] && [ "$lines" -le 20 ]
}

again() {
	local i
	for i in $(seq 50); do
		serves && return 0
		sleep 0.1
	done
	return 1
}

check "ember-mgmtd with 64 descriptors starts" ready
[ "$failed" = 0 ] || tap_done
check "it answers" again
check "100 connections past its fd limit: no spin, a few log lines" exhausted
check "they close: it accepts and answers again" again
tap_done
