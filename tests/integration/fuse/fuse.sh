#!/bin/bash
# ember-fuse end to end (meson.build gives the arguments):
#   fuse.sh BUILD_ROOT test_fuse_posix test_fuse_fsx test_fuse_writer test_fuse_perm lockctl
# EMBER_FUSE_KILLS=N: kill -9 cycles under the writer (default 3; raise
# meson's timeout to match, meson test --timeout-multiplier).
set -u
BUILD=$1 POSIX=$2 FSX=$3 WRITER=$4 PERM=$5 LOCKCTL=$6
KILLS=${EMBER_FUSE_KILLS:-3}
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/cluster.sh"

DIR=$(mktemp -d /tmp/ember-fuse-test.XXXXXX)
# The permission checks run as nobody, who must reach the mounts.
chmod 755 "$DIR"
A=$DIR/mnt-a B=$DIR/mnt-b C=$DIR/mnt-c D=$DIR/mnt-d
FUSE=$BUILD/tools/ember-fuse
failed=0

cleanup() {
	fusermount3 -u "$A" 2>/dev/null
	fusermount3 -u "$B" 2>/dev/null
	fusermount3 -u "$C" 2>/dev/null
	fusermount3 -u "$D" 2>/dev/null
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

two_mount_locks() {
	echo x > "$A/lk" || return 1
	flock -x "$A/lk" -c "sleep 2" &
	local bg=$! t0 t1
	sleep 0.5
	if flock -n -x "$B/lk" -c true; then wait $bg; return 1; fi
	if flock -n -s "$B/lk" -c true; then wait $bg; return 1; fi
	t0=$(date +%s%N)
	flock -x "$B/lk" -c true || return 1 # blocks until A's holder exits
	t1=$(date +%s%N)
	wait $bg
	[ $(((t1 - t0) / 1000000)) -ge 500 ] || return 1
	flock -s "$A/lk" -c 'flock -n -s "'"$B"'/lk" -c true' # shared locks share
}
check "flock: exclusive across mounts, a waiter on B wakes when A releases" two_mount_locks

fcntl_locks() {
	local h w out ms
	echo x > "$A/rlk" || return 1
	"$LOCKCTL" hold "$A/rlk" 0 100 2 > "$DIR/hold.out" &
	h=$!
	for _ in $(seq 50); do grep -q held "$DIR/hold.out" && break; sleep 0.1; done
	grep -q held "$DIR/hold.out" || { wait $h; return 1; }
	"$LOCKCTL" try "$B/rlk"
	[ $? = 3 ] || { echo "B took a record lock A holds" >&2; wait $h; return 1; }
	out=$("$LOCKCTL" getlk "$B/rlk")
	echo "# F_GETLK on B while A holds [0,100): $out"
	case $out in "write 0 100 "*) ;; *) wait $h; return 1 ;; esac
	# A signal ends a blocked F_SETLKW with EINTR, the lock still A's.
	ms=$("$LOCKCTL" intr "$B/rlk" 300) || { wait $h; return 1; }
	echo "# F_SETLKW on B interrupted by SIGALRM after $ms ms"
	# A blocked F_SETLKW on B wakes when A's holder exits.
	ms=$("$LOCKCTL" wait "$B/rlk") || { wait $h; return 1; }
	wait $h || return 1
	echo "# F_SETLKW on B waited $ms ms for A's holder to exit"
	[ "$ms" -ge 300 ] && [ "$("$LOCKCTL" getlk "$A/rlk")" = unlocked ]
}
check "fcntl locks: exclusive across mounts, F_GETLK reports the holder, F_SETLKW wakes and is interruptible" \
	fcntl_locks

close_to_open() {
	local i
	# D keeps the default cache timeouts, like A.
	mount_at "$D" || return 1
	echo v0 > "$A/cto" && [ "$(cat "$D/cto")" = v0 ] || return 1
	for i in 1 2 3; do
		echo "v$i from A" > "$A/cto" && [ "$(cat "$D/cto")" = "v$i from A" ] || return 1
		echo "v$i from D, longer" > "$D/cto" &&
			[ "$(cat "$A/cto")" = "v$i from D, longer" ] || return 1
	done
	[ "$(stat -c %s "$A/cto")" = 18 ]
}
check "close-to-open across two mounts with the default cache timeouts" close_to_open

special_nodes() {
	mkfifo "$A/fifo" && [ -p "$B/fifo" ] || return 1
	mknod "$A/chr" c 1 7 && [ "$(stat -c '%F %t:%T' "$B/chr")" = "character special file 1:7" ] ||
		return 1
	mv "$B/fifo" "$B/fifo2" && ln "$A/fifo2" "$A/fifo3" && [ "$(stat -c %h "$B/fifo3")" = 2 ] ||
		return 1
	# A FIFO's data moves through the kernel of the host that opened it.
	(echo through-the-fifo > "$A/fifo2") &
	local w=$!
	[ "$(cat "$A/fifo2")" = through-the-fifo ] || return 1
	wait $w || return 1
	rm "$A/fifo2" "$B/fifo3" "$A/chr"
}
check "FIFOs and device nodes: stored, seen and renamed across mounts, a FIFO carries data" \
	special_nodes

setid_cleared() {
	echo data > "$A/setid" && chmod 0777 "$A/setid" || return 1
	stat -c %a "$A/setid" > /dev/null # A caches mode 0777
	chmod 6777 "$B/setid" || return 1
	# A's kernel still believes 0777: ember-meta must clear the bits itself.
	su nobody -s /bin/sh -c "echo more >> '$A/setid'" || return 1
	[ "$(stat -c %a "$B/setid")" = 777 ] || return 1
	chmod 6777 "$B/setid" && su nobody -s /bin/sh -c "echo again >> '$B/setid'" &&
		[ "$(stat -c %a "$B/setid")" = 777 ] || return 1
	[ "$(cat "$B/setid")" = "$(printf 'data\nmore\nagain')" ]
}
check "a non-owner's write clears setuid and setgid, even through a stale attribute cache" setid_cleared

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
