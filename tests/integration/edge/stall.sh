#!/bin/bash
# Bulk transfers a peer never serves (issue 15, findings 1 and 5), against a
# real ember-storage (one node, one target, lib/cluster.sh): a chunk WRITE
# whose client never answers the pull.
#   - with a 2 s deadline the request ends at its deadline (answered with
#     ETIMEDOUT, or the connection closed), not when the client goes;
#   - with a 60 s deadline, SIGTERM of ember-storage while the pull is
#     pending: the drain gives up, hangs up, and the daemon exits 0 without
#     a sanitizer report (this runs under ASan in the unit-san tier).
#   stall.sh BUILD_DIR PROBE
set -u
B=$1 PROBE=$2
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/cluster.sh"
T=$(mktemp -d /tmp/ember-edge-stall.XXXXXX)
cleanup() {
	cluster_stop
	if [ "$failed" = 0 ]; then rm -rf "$T"; else echo "# state and logs kept in $T" >&2; fi
}
trap cleanup EXIT

start() { CLUSTER_TARGET_SIZE=256M cluster_start "$B" "$T" 1 1 1 > /dev/null; }
hostport() { local u=${CLUSTER_STORAGE_URL[1]#tcp://}; echo "${u%:*} ${u##*:}"; }

deadline() {
	local out ms
	# shellcheck disable=SC2046
	out=$("$PROBE" stall $(hostport) "$EM_SECRET" 1001 2000) || { echo "$out"; return 1; }
	echo "$out"
	ms=$(echo "$out" | sed -n 's/.* after \([0-9]*\) ms.*/\1/p')
	echo "$out" | grep -q "pull pending" && [ -n "$ms" ] && [ "$ms" -lt 4000 ] &&
		{ echo "$out" | grep -q "status -110" || echo "$out" | grep -q "closed"; }
}

# In this shell, not a check's subshell: only the parent can wait for the
# daemon's exit status. Leaves its report in $T/sigterm.out.
sigterm() {
	local pid=${CLUSTER_STORAGE_PID[1]} i st t0 t1 probe
	# shellcheck disable=SC2046
	"$PROBE" stall $(hostport) "$EM_SECRET" 1001 60000 > "$T/probe.out" 2>&1 &
	probe=$!
	for i in $(seq 100); do
		grep -q "pull pending" "$T/probe.out" && break
		sleep 0.1
	done
	grep -q "pull pending" "$T/probe.out" || { cat "$T/probe.out"; return 1; }
	t0=$(date +%s%N)
	kill -TERM "$pid"
	wait "$pid"
	st=$?
	t1=$(date +%s%N)
	wait "$probe"
	cat "$T/probe.out"
	echo "ember-storage exited with status $st after $(( (t1 - t0) / 1000000 )) ms"
	grep -E "drain|Sanitizer|runtime error" "$T/storage1.log" | cut -c1-200 | head -5
	[ "$st" = 0 ] && ! grep -qE "Sanitizer|runtime error" "$T/storage1.log"
}

# Not inside check: its subshell would keep the cluster's variables.
up=0
start && up=1
check "one storage node starts" [ $up = 1 ]
[ "$failed" = 0 ] || tap_done
check "a WRITE whose pull is never served ends at its 2 s deadline" deadline
sigterm > "$T/sigterm.out" 2>&1
st=$?
check "SIGTERM with a pull pending: clean exit (status 0, no sanitizer report)" \
	sh -c "cat '$T/sigterm.out'; exit $st"
tap_done
