#!/bin/bash
# Accept under fd exhaustion (issue 15, finding 4): ember-mgmtd with a
# 64-descriptor limit, 100 connections held open against it. The daemon must
# not spin on EMFILE (CPU under 20% of a core over 5 s), must say so in a few
# log lines, not thousands, and must serve again once the connections go.
#   emfile.sh MGMTD_EXE EMBER_CLI
set -u
MGMTD=$1 E=$2
. "$(dirname "$0")/../lib/tap.sh"
PORT=29700
. "$(dirname "$0")/mgmtd.sh"
edge_mgmtd emfile prlimit --nofile=64:64

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
