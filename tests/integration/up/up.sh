#!/bin/bash
# The quickstart as a newcomer runs it (README "Run Ember"), in a temp dir:
#   up.sh SOURCE_ROOT BUILD_ROOT
# ./ember-up from a clean state, files written and read through the mount,
# ember down, ember up again and the same files, then kill -9 of a storage
# daemon seen dead by `ember status` (and offline in mgmtd's /metrics)
# within the heartbeat lease. Needs root and /dev/fuse (else skipped).
set -u
SRC=$1 BUILD=$2
E=$BUILD/tools/ember
. "$(dirname "$0")/../lib/tap.sh"
tap_need_root_fuse
T=$(mktemp -d /tmp/ember-up-test.XXXXXX)
D=$T/state M=$T/mnt
# Off the default ports, so a developer's own `ember up` does not collide.
PORTS=(--port-base 29100)

trap tap_cleanup EXIT

# The README command, with the build tree meson is testing and a temp dir.
readme_up() {
	EMBER_BUILD_DIR=$BUILD "$SRC/ember-up" --dir "$D" --mount "$M" "${PORTS[@]}" \
		> "$T/up1.out" 2>&1 || { cat "$T/up1.out" >&2; return 1; }
	grep -q "^Ember is up" "$T/up1.out" && grep -q " $M fuse.ember " /proc/mounts
}

write_files() {
	head -c 5000000 /dev/urandom > "$T/big" &&
		mkdir -p "$M/dir/sub" && cp "$T/big" "$M/dir/sub/big" &&
		echo "hello, ember" > "$M/hello.txt" &&
		for i in $(seq 20); do echo "small $i" > "$M/dir/f$i" || return 1; done
}

files_there() {
	cmp "$T/big" "$M/dir/sub/big" && [ "$(cat "$M/hello.txt")" = "hello, ember" ] &&
		for i in $(seq 20); do [ "$(cat "$M/dir/f$i")" = "small $i" ] || return 1; done
}

status_json() { "$E" status --dir "$D" --json; }

healthy() {
	local j
	j=$(status_json) && echo "$j" | grep -q '"nodes_alive":3,"nodes_dead":0' &&
		echo "$j" | grep -q '"serving":2,"degraded":0,"down":0'
}

# nodes, targets and chains find the cluster from --dir (or $EMBER_DIR) alone.
cluster_cli() {
	"$E" nodes --dir "$D" --json | jq -e '.nodes | length == 3' > /dev/null &&
		"$E" targets --dir "$D" --json | jq -e '.targets | length == 6' > /dev/null &&
		"$E" chains --dir "$D" --json | jq -e '.chains | length == 2' > /dev/null &&
		EMBER_DIR=$D "$E" targets > /dev/null &&
		"$E" scrub status --dir "$D" > /dev/null
}

# With no cluster to find, the error says where it looked.
nowhere() {
	local out rc
	out=$(env -u EMBER_MGMTD -u EMBER_SECRET_FILE EMBER_DIR="$T/none" "$E" targets 2>&1)
	rc=$?
	echo "$out"
	[ $rc = 1 ] || return 1
	if [ -e /etc/ember/secret ]; then # this machine has a cluster of its own there
		echo "$out" | grep -q "tcp://127.0.0.1:9100"
	else
		echo "$out" | grep -q "$T/none/ember.env" && echo "$out" | grep -q "/etc/ember/secret"
	fi
}

down_clean() {
	"$E" down --dir "$D" > /dev/null || return 1
	! grep -q " $M fuse.ember " /proc/mounts || return 1
	local f
	for f in "$D"/run/*.pid; do [ -e "$f" ] && { echo "left: $f" >&2; return 1; }; done
	return 0
}

up_again() {
	# Settings (mount, ports) are remembered in DIR: only --dir is needed.
	"$E" up --dir "$D" > "$T/up2.out" 2>&1 || { cat "$T/up2.out" >&2; return 1; }
	grep -q " $M fuse.ember " /proc/mounts && ! grep -q "^formatting" "$T/up2.out"
}

# Within the heartbeat lease (10 s) plus a tick and a little slack.
dead_within_lease() {
	kill -9 "$(cat "$D/run/storage2.pid")" || return 1
	local t0=$SECONDS
	for _ in $(seq 130); do
		if status_json | grep -q '"id":2,[^}]*"alive":false'; then
			echo "node 2 dead after $((SECONDS - t0)) s"
			"$E" status --dir "$D"
			return 0
		fi
		sleep 0.1
	done
	"$E" status --dir "$D" >&2
	return 1
}

metrics_offline() {
	grep -q '^\[metrics\]' "$D/etc/mgmtd.ini" || { echo "no metrics in mgmtd"; return 0; }
	local url
	url=http://$(sed -n 's/^EMBER_METRICS_MGMTD=//p' "$D/ember.env")/metrics
	for _ in $(seq 50); do
		curl -s "$url" |
			grep -Eq '^ember_mgmt_target_state\{target="2001",node="2",[^}]*\} 4$' && return 0
		sleep 0.1
	done
	curl -s "$url" | grep target_state >&2
	return 1
}

check "README command from a clean state: cluster up, mounted" readme_up
[ "$failed" = 0 ] || exit 1
check "files written through the mount" write_files
check "files read back" files_there
check "status: 3 nodes alive, chains serving" healthy
check "nodes, targets, chains, scrub with --dir or \$EMBER_DIR" cluster_cli
check "no cluster to find: the error names the places looked at" nowhere
check "fsck: no problem" "$E" fsck --dir "$D"
check "bench through the mount" "$E" bench --dir "$D" --size 16M
check "ember down: unmounted, every daemon stopped" down_clean
check "ember up again reuses the data (no format)" up_again
check "the same files after down and up" files_there
check "kill -9 of a storage daemon: status says dead within the lease" dead_within_lease
check "mgmtd /metrics: its targets offline" metrics_offline
check "ember down with a dead daemon" down_clean
tap_done
