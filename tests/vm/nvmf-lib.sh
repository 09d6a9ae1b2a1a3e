# Shared by the nvmf vm scripts (sourced, not run): TAP-ish checks and the
# ember-target process. Callers set BIN (ember-target), work (a directory) and
# write "$work/target.ini" before start_target. The guest has no /dev/fd:
# no process substitution here.
failed=0
pid=

say() { echo "${0##*/}: $*"; }
ok() { echo "ok - $*"; }
notok() {
	echo "not ok - $*"
	failed=$((failed + 1))
}
check() { # check "what" command...
	local what=$1
	shift
	if "$@"; then
		ok "$what"
	else
		notok "$what"
		return 1
	fi
}

# Starts ember-target and waits (bounded) for its "ready" line. Only the lines
# this start appends count: the log holds earlier runs' "ready" lines after a
# restart, and at EMBER_LOG=debug the line need not be among the last few.
start_target() {
	local from
	from=$(($(cat "$work/target.log" 2>/dev/null | wc -l) + 1))
	EMBER_LOG=${EMBER_LOG:-info} "$BIN" -c "$work/target.ini" >>"$work/target.log" 2>&1 &
	pid=$!
	for _ in $(seq 150); do
		tail -n "+$from" "$work/target.log" | grep -q 'ember-target: ready' && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.2
	done
	tail -n 20 "$work/target.log"
	return 1
}

# SIGTERM and a bounded wait for a clean exit (status 0).
stop_target() {
	local rc
	[[ -n $pid ]] || return 0
	kill -TERM "$pid" 2>/dev/null
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid"
		wait "$pid" 2>/dev/null
		pid=
		return 1
	fi
	wait "$pid"
	rc=$?
	pid=
	return $rc
}

# The fabric namespace's block device: an nvme*n1 other than the drive's.
fabric_dev() {
	local d
	for _ in $(seq 100); do
		for d in /dev/nvme*n1; do
			[[ $d == /dev/nvme0n1 ]] && continue
			[[ -b $d ]] && echo "$d" && return 0
		done
		sleep 0.1
	done
	return 1
}

finish() {
	say "$failed failed check(s)"
	exit $((failed > 100 ? 100 : failed))
}
