# One ember-mgmtd on 127.0.0.1 for the edge tests (sourced, not run), after
# tap.sh, with MGMTD (the binary) and PORT set:
#   edge_mgmtd NAME [PREFIX...]  temp dir T, a 0600 secret, the daemon started
#                                in this shell (PREFIX, e.g. prlimit, runs it);
#                                $EDGE_NET: extra [net] lines for its config
#   ready                        waits for its ready line
#   serves                       `ember nodes` (E: the CLI) against it
# The EXIT trap stops it and keeps T of a failed run.

edge_cleanup() {
	[ -n "${PID:-}" ] && kill "$PID" 2> /dev/null && wait "$PID" 2> /dev/null
	if [ "$failed" = 0 ]; then rm -rf "$T"; else echo "# state and logs kept in $T" >&2; fi
}

edge_mgmtd() {
	T=$(mktemp -d "/tmp/ember-edge-$1.XXXXXX")
	shift
	trap edge_cleanup EXIT
	head -c 32 /dev/urandom | base64 > "$T/secret"
	chmod 600 "$T/secret"
	printf '[mgmtd]\nlisten = tcp://127.0.0.1:%d\nkv = lmdb:%s/kv\nsecret_file = %s/secret\n' \
		"$PORT" "$T" "$T" > "$T/mgmtd.ini"
	# EDGE_NET: lines for a [net] section, e.g. "frame_timeout = 1s".
	[ -n "${EDGE_NET:-}" ] && printf '[net]\n%s\n' "$EDGE_NET" >> "$T/mgmtd.ini"
	# Here, not in a check's subshell, so the trap knows the pid.
	"$@" "$MGMTD" -c "$T/mgmtd.ini" > "$T/mgmtd.log" 2>&1 &
	PID=$!
}

ready() {
	local i
	for i in $(seq 100); do
		grep -q "ready" "$T/mgmtd.log" && return 0
		sleep 0.1
	done
	cat "$T/mgmtd.log"
	return 1
}

serves() { "$E" nodes --mgmtd "tcp://127.0.0.1:$PORT" --secret-file "$T/secret" > /dev/null; }
