#!/bin/bash
# ember-fuse end to end (meson.build gives the arguments):
#   fuse.sh BUILD_ROOT test_fuse_posix test_fuse_fsx test_fuse_writer test_fuse_perm
# EMBER_FUSE_KILLS=N: kill -9 cycles under the writer (default 3; raise
# meson's timeout to match, meson test --timeout-multiplier).
set -u
BUILD=$1 POSIX=$2 FSX=$3 WRITER=$4 PERM=$5
KILLS=${EMBER_FUSE_KILLS:-3}
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/cluster.sh"

DIR=$(mktemp -d /tmp/ember-fuse-test.XXXXXX)
# The permission checks run as nobody, who must reach the mounts.
chmod 755 "$DIR"
A=$DIR/mnt-a B=$DIR/mnt-b C=$DIR/mnt-c
FUSE=$BUILD/tools/ember-fuse
failed=0

cleanup() {
	fusermount3 -u "$A" 2>/dev/null
	fusermount3 -u "$B" 2>/dev/null
	fusermount3 -u "$C" 2>/dev/null
	cluster_stop
	if [ "$failed" = 0 ]; then rm -rf "$DIR"; else echo "logs kept in $DIR" >&2; fi
}
trap cleanup EXIT

check() { # check NAME CMD...
	if "${@:2}"; then echo "ok - $1"; else echo "not ok - $1"; failed=1; fi
}

mount_at() { # mount_at DIR [extra -o options]
	mkdir -p "$1"
	"$FUSE" "$EM_MGMTD" "$1" -o "meta=$EM_META,secret_file=$EM_SECRET${2:+,$2}" \
		2> "$DIR/fuse-$(basename "$1").log" || return 1
	for _ in $(seq 50); do
		grep -q " $1 fuse.ember " /proc/mounts && return 0
		sleep 0.1
	done
	return 1
}

cluster_start "$BUILD" "$DIR/cluster" || { failed=1; exit 1; }
# A: the defaults; B: no kernel caching, the strictest reader.
check "mount A" mount_at "$A"
check "mount B (entry_timeout=0, attr_timeout=0)" mount_at "$B" entry_timeout=0,attr_timeout=0
# C: no default_permissions, so the kernel leaves mode bits to ember-meta;
# no caching, so no lookup is answered for one user from another's.
check "mount C (no_default_permissions, entry_timeout=0, attr_timeout=0)" \
	mount_at "$C" no_default_permissions,entry_timeout=0,attr_timeout=0
[ "$failed" = 0 ] || exit 1
check "C is mounted without default_permissions, A with it" \
	eval '! grep " $C fuse.ember " /proc/mounts | grep -q default_permissions &&
		grep " $A fuse.ember " /proc/mounts | grep -q default_permissions'

echo "# POSIX suite"
check "POSIX suite" "$POSIX" "$A"

echo "# permissions as other users"
check "permissions on A (kernel and ember-meta both check)" "$PERM" "$A"
check "permissions on C (ember-meta checks alone)" "$PERM" "$C"

echo "# random-operation exerciser"
check "fsx: 2000 random ops match a local file" "$FSX" "$A/fsx.bin" "$DIR/fsx.local" 2000 7
check "fsx: 500 random ops on B (no kernel caching)" "$FSX" "$B/fsx2.bin" "$DIR/fsx2.local" 500 11

echo "# two mounts"
two_mounts() {
	head -c 3000000 /dev/urandom > "$DIR/payload"
	cp "$DIR/payload" "$A/shared.bin" && cmp "$DIR/payload" "$B/shared.bin" || return 1
	mkdir "$B/from-b" && echo "written by B" > "$B/from-b/note" || return 1
	[ "$(cat "$A/from-b/note")" = "written by B" ] || return 1
	# Overwrite and shrink in A; B sees the new contents after A closed.
	head -c 1000 /dev/urandom > "$DIR/payload2"
	cp "$DIR/payload2" "$A/shared.bin" && cmp "$DIR/payload2" "$B/shared.bin"
}
check "two mounts see each other's closed files" two_mounts

echo "# kill -9 a storage daemon under a writer, $KILLS times"
MIB=96
progress() { cat "$1" 2>/dev/null || echo 0; }
length_is() { # length_is FILE BYTES
	local n
	n=$(stat -c %s "$1") || return 1
	[ "$n" = "$2" ] || { echo "$1: $n bytes, want $2" >&2; return 1; }
}
# kill_under_writer N: a writer on A; once it has written some MiB (more
# each cycle) and is still making progress, storage node N%3+1 is killed;
# the writer must still be short of the end then (mid-write), finish
# without an error, and every byte and the length must be right through B
# before and through A and B after the restart.
kill_under_writer() {
	local c=$1 node=$(($1 % 3 + 1)) f=survivor-$1.bin p=$DIR/progress-$1
	local total=$((MIB << 20)) want=$((((c * 13) % 40 + 8) << 20)) w prev now at_kill
	"$WRITER" write "$A/$f" "$MIB" "$p" &
	w=$!
	prev=0
	for _ in $(seq 600); do
		now=$(progress "$p")
		[ "$now" -ge "$want" ] && break
		kill -0 "$w" 2>/dev/null || break
		sleep 0.1
	done
	now=$(progress "$p")
	if [ "$now" -lt "$want" ]; then
		echo "cycle $c: the writer reached only $now of $want bytes" >&2
		kill "$w" 2>/dev/null
		wait "$w"
		return 1
	fi
	# Still moving: the file grew between two looks just before the kill.
	prev=$now
	for _ in $(seq 50); do
		sleep 0.05
		now=$(progress "$p")
		[ "$now" -gt "$prev" ] && break
	done
	cluster_kill_node "$node"
	local kill_rc=$?
	at_kill=$(progress "$p")
	echo "# cycle $c: killed storage node $node with the writer at $((at_kill >> 20)) MiB" \
		"of $MIB (it wrote $(((now - prev) >> 10)) KiB in the moment before)"
	local bad=0
	if [ "$kill_rc" != 0 ] || [ "$now" -le "$prev" ] || [ "$at_kill" -ge "$total" ]; then
		echo "cycle $c: not a kill in the middle of writing (kill status $kill_rc," \
			"progress $prev -> $now -> $at_kill of $total)" >&2
		bad=1
	fi
	# Whatever happened, the rest runs, so that the node is back for the
	# next cycle.
	wait "$w" || { echo "cycle $c: the writer failed" >&2; bad=1; }
	[ "$(progress "$p")" = "$total" ] || { echo "cycle $c: the writer stopped short" >&2; bad=1; }
	"$WRITER" verify "$B/$f" "$MIB" && length_is "$B/$f" "$total" || bad=1
	cluster_restart_node "$node" && cluster_wait_serving 120 || return 1
	"$WRITER" verify "$A/$f" "$MIB" && length_is "$A/$f" "$total" &&
		"$WRITER" verify "$B/$f" "$MIB" && length_is "$B/$f" "$total" || bad=1
	rm -f "$A/$f"
	return $bad
}
case $KILLS in
'' | *[!0-9]* | 0)
	echo "not ok - EMBER_FUSE_KILLS=$KILLS: want a number > 0"
	failed=1 KILLS=0
	;;
esac
for c in $(seq "$KILLS"); do
	check "cycle $c: writer survives kill -9 of a storage node mid-write; every byte and the length verified" \
		kill_under_writer "$c"
done

exit $failed
