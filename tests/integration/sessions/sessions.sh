#!/bin/bash
# Write sessions that end (meson.build gives the arguments):
#   sessions.sh BUILD_ROOT WRITER [PG_URI]
# A 3 x 2 cluster of 1 GiB targets, 3 replicas, 1 MiB chunks, session_lease 3s, the metadata
# in LMDB or, with PG_URI, in PostgreSQL:
#   - kill -9 of ember-meta while 8 writers write and fsync (retrying what
#     fails while it is down), restart: every fsync'd byte reads back and
#     every file is at least its last fsync'd length; the writers' closes
#     land (the lengths are the bytes written);
#   - kill -9 of ember-fuse holding files open for writing (fsync'd part way,
#     more written after) and one unlinked while open: the sessions expire,
#     the lengths are recovered from storage (exactly the bytes written), the
#     unlinked file goes to GC; fsck saw the dead sessions, is clean after.
# Needs root and /dev/fuse (else skipped).
set -u
BUILD=$1 WRITER=$2 PG=${3:-}
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/cluster.sh"
if [ "$(id -u)" -ne 0 ] || [ ! -c /dev/fuse ]; then
	echo "1..0 # SKIP needs root and /dev/fuse"
	exit 77
fi
T=$(mktemp -d /tmp/ember-sessions-test.XXXXXX)
M=$T/mnt
FUSE=$BUILD/tools/ember-fuse
failed=0 n=0 holder=

cleanup() {
	[ -n "$holder" ] && kill -9 "$holder" 2>/dev/null
	fusermount3 -u -z "$M" 2>/dev/null
	fusermount3 -u -z "$T/mnt2" 2>/dev/null
	cluster_stop
	if [ "$failed" = 0 ]; then rm -rf "$T"; else echo "# logs kept in $T" >&2; fi
}
trap cleanup EXIT

check() {
	n=$((n + 1))
	local rc
	"${@:2}" > "$T/check.out" 2>&1
	rc=$?
	sed 's/^/# /' "$T/check.out"
	if [ $rc = 0 ]; then echo "ok $n - $1"; else echo "not ok $n - $1"; failed=1; fi
}

metric() { # metric NAME: from the (current) ember-meta
	local port v
	port=$(sed -n 's/^ember-meta: metrics port //p' "$T/cluster/meta.log.out" | tail -1)
	v=$(curl -s "http://127.0.0.1:$port/metrics" | awk -v m="$1" '$1 == m { print $2 }')
	echo "${v:-0}"
}

mount_fs() {
	mkdir -p "$M"
	"$FUSE" "$EM_MGMTD" "$M" -o "meta=$EM_META,secret_file=$EM_SECRET" 2>> "$T/fuse.log" ||
		return 1
	for _ in $(seq 50); do grep -q " $M fuse.ember " /proc/mounts && return 0; sleep 0.1; done
	return 1
}

fsck_out() {
	"$EM_CLI" fsck --db "$CLUSTER_META_KV" --mgmtd "$EM_MGMTD" --secret-file "$EM_SECRET" "$@"
}

CLUSTER_TARGET_SIZE=1G CLUSTER_CHUNK_SIZE=1M
CLUSTER_META_KV=${PG:-lmdb:$T/cluster/meta-kv}
EXTRA='session_lease = 3s
[metrics]
enabled = true
listen = 127.0.0.1:0'
cluster_start "$BUILD" "$T/cluster" 3 2 3 "$EXTRA" || { failed=1; echo "Bail out! cluster"; exit 1; }
mount_fs || { failed=1; echo "Bail out! mount"; exit 1; }

echo "# kill -9 of ember-meta under 8 fsync writers"
meta_kill() {
	mkdir -p "$M/fs" "$T/progress" || return 1
	"$WRITER" fsync "$M/fs" 8 10 "$T/progress" > "$T/writers.out" 2>&1 &
	local w=$! i
	sleep 3
	cluster_kill_meta || return 1
	echo "ember-meta killed after 3 s of writing"
	sleep 2
	cluster_restart_meta || return 1
	wait "$w"
	local rc=$?
	cat "$T/writers.out"
	[ $rc = 0 ] || { echo "a writer failed"; return 1; }
	grep -q "fsync_errors [1-9]" "$T/writers.out" ||
		{ echo "no fsync failed: the kill did not hit the writers"; return 1; }
	for i in $(seq 0 7); do
		local synced written out
		synced=$(cat "$T/progress/w$i")
		written=$(awk -v w="w$i" '$1 == w { print $3 }' "$T/writers.out")
		out=$("$WRITER" verify "$M/fs/w$i" "$synced") ||
			{ echo "w$i: $out (fsync'd $synced)"; return 1; }
		echo "w$i: fsync'd $synced, $out, written $written"
		[ "$out" = "size $written" ] || { echo "w$i: the close did not publish its length"; return 1; }
	done
	rm -r "$M/fs"
}
check "meta killed under fsync writers: every fsync'd byte back, lengths at least fsync'd" meta_kill

echo "# kill -9 of ember-fuse holding write sessions"
fuse_kill() {
	mkdir -p "$M/held" || return 1
	"$WRITER" hold "$M/held" 4 > "$T/hold.out" 2>&1 &
	holder=$!
	local i
	for i in $(seq 300); do grep -q holding "$T/hold.out" && break; sleep 0.1; done
	grep -q holding "$T/hold.out" || { cat "$T/hold.out"; return 1; }
	cat "$T/hold.out"
	local pid
	pid=$(pgrep -f "ember-fuse .* $M " | head -1)
	[ -n "$pid" ] || { echo "no ember-fuse process for $M"; return 1; }
	kill -9 "$pid"
	kill -9 "$holder" 2>/dev/null
	wait "$holder" 2>/dev/null
	holder=
	fusermount3 -u -z "$M" 2>/dev/null
	echo "ember-fuse killed with 5 write sessions open"
	local base t0 now
	base=$(metric ember_sessions_recovered_total)
	t0=$(date +%s%N)
	for i in $(seq 200); do
		[ "$(metric ember_sessions_recovered_total)" -ge $((base + 5)) ] && break
		sleep 0.1
	done
	now=$(date +%s%N)
	echo "sessions recovered: $(($(metric ember_sessions_recovered_total) - base)) of 5, \
$(((now - t0) / 1000000)) ms after the kill (lease 3 s)"
	[ "$(metric ember_sessions_recovered_total)" -ge $((base + 5)) ] || return 1
	grep "write session of client" "$T/cluster/meta.log" | tail -5
	mount_fs || return 1
	for i in 0 1 2 3; do
		local y x out
		y=$(awk -v h="h$i" '$1 == h { print $3 }' "$T/hold.out")
		x=$(awk -v h="h$i" '$1 == h { print $5 }' "$T/hold.out")
		out=$("$WRITER" verify "$M/held/h$i" "$y") || { echo "h$i: $out"; return 1; }
		echo "h$i: fsync'd $y, written $x, recovered $out"
		[ "$out" = "size $x" ] || return 1
	done
}
check "fuse killed: sessions expire, lengths recovered from storage" fuse_kill
fsck_clean() {
	local i
	for i in $(seq 50); do
		fsck_out > "$T/fsck.out" 2>&1 && { tail -3 "$T/fsck.out"; return 0; }
		sleep 0.2
	done
	tail -20 "$T/fsck.out"
	return 1
}
check "fsck clean after recovery (the unlinked file collected)" fsck_clean

echo "# fsck reports an expired session, --repair recovers it"
fsck_repair() {
	mkdir -p "$M/rep" || return 1
	"$WRITER" hold "$M/rep" 1 > "$T/hold2.out" 2>&1 &
	holder=$!
	local i
	for i in $(seq 300); do grep -q holding "$T/hold2.out" && break; sleep 0.1; done
	local pid
	pid=$(pgrep -f "ember-fuse .* $M " | head -1)
	# The GC leader must not recover it first: stop the metadata server.
	cluster_kill_meta || return 1
	kill -9 "$pid"
	kill -9 "$holder" 2>/dev/null
	wait "$holder" 2>/dev/null
	holder=
	fusermount3 -u -z "$M" 2>/dev/null
	sleep 4
	if fsck_out > "$T/fsck-exp.out" 2>&1; then
		echo "fsck passed with a dead client's sessions:"
		tail -5 "$T/fsck-exp.out"
		return 1
	fi
	grep -E "problem: metadata: (write session|orphan)" "$T/fsck-exp.out" | head -3
	grep -q "expired" "$T/fsck-exp.out" || return 1
	fsck_out --repair > "$T/fsck-rep.out" 2>&1
	local rc=$?
	grep -E "^repair|^fixed|^clean|PROBLEMS" "$T/fsck-rep.out"
	[ $rc = 0 ] || { tail -10 "$T/fsck-rep.out"; return 1; }
	grep -q "2 write sessions recovered" "$T/fsck-rep.out" || return 1
	cluster_restart_meta || return 1
	mount_fs || return 1
	local y x out
	y=$(awk '$1 == "h0" { print $3 }' "$T/hold2.out")
	x=$(awk '$1 == "h0" { print $5 }' "$T/hold2.out")
	out=$("$WRITER" verify "$M/rep/h0" "$y") || { echo "h0: $out"; return 1; }
	echo "h0: fsync'd $y, written $x, recovered by fsck --repair: $out"
	[ "$out" = "size $x" ]
}
check "fsck calls expired sessions problems; fsck --repair recovers their lengths" fsck_repair

echo "# a lock dies with its mount: kill -9 of the holder's ember-fuse"
M2=$T/mnt2
lock_kill() {
	mkdir -p "$M2" || return 1
	"$FUSE" "$EM_MGMTD" "$M2" -o "meta=$EM_META,secret_file=$EM_SECRET" 2>> "$T/fuse2.log" ||
		return 1
	local i
	for i in $(seq 50); do grep -q " $M2 fuse.ember " /proc/mounts && break; sleep 0.1; done
	echo data > "$M/locked" || return 1
	flock -x "$M2/locked" -c "echo held; sleep 600" > "$T/lock.out" 2>&1 &
	holder=$!
	for i in $(seq 100); do grep -q held "$T/lock.out" && break; sleep 0.1; done
	grep -q held "$T/lock.out" || { echo "mount 2 never got the lock"; return 1; }
	if flock -n -x "$M/locked" -c true; then echo "mount 1 got a lock mount 2 holds"; return 1; fi
	echo "mount 1: EWOULDBLOCK while mount 2 holds it"
	local pid t0 now
	pid=$(pgrep -f "ember-fuse .* $M2 " | head -1)
	[ -n "$pid" ] || { echo "no ember-fuse process for $M2"; return 1; }
	kill -9 "$pid"
	t0=$(date +%s%N)
	# Blocks until the dead mount's lease (3 s) lapses; bounded at 30 s.
	timeout 30 flock -x "$M/locked" -c true || { echo "lock never released"; return 1; }
	now=$(date +%s%N)
	echo "mount 1 got the lock $(((now - t0) / 1000000)) ms after the holder's mount died"
	kill -9 "$holder" 2>/dev/null
	wait "$holder" 2>/dev/null
	holder=
	fusermount3 -u -z "$M2" 2>/dev/null
	[ $(((now - t0) / 1000000)) -ge 1000 ]
}
check "a dead mount's lock lapses after the session lease" lock_kill
check "fsck clean at the end" fsck_clean
echo "1..$n"
exit $failed
