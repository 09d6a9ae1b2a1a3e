#!/bin/bash
# Space that comes back (meson.build gives the arguments):
#   space.sh BUILD_ROOT FILL [PG_URI]
# A cluster of 3 nodes x 2 targets whose data areas hold 256 MiB each (264M
# files: the log and checkpoints take the rest), 3 replicas, 1 MiB chunks,
# the metadata in LMDB or, with PG_URI, in PostgreSQL (then with two
# ember-meta servers, one running the GC by lease):
#   - df: size within 5% of target sizes / replicas; used follows writes and
#     comes back after delete + GC;
#   - 5x the usable capacity written, read back byte for byte and deleted,
#     with no ENOSPC or EIO; df back near zero; fsck clean;
#   - the cluster filled on purpose: the write that does not fit fails with
#     ENOSPC within a second; after delete + GC the same amount fits again;
#   - kill -9 of the GC's metadata server mid-batch: the queue drains (after a
#     restart, or through the other server), live files keep every byte.
# Needs root and /dev/fuse (else skipped).
set -u
BUILD=$1 FILL=$2 PG=${3:-}
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/cluster.sh"
if [ "$(id -u)" -ne 0 ] || [ ! -c /dev/fuse ]; then
	echo "1..0 # SKIP needs root and /dev/fuse"
	exit 77
fi
T=$(mktemp -d /tmp/ember-space-test.XXXXXX)
M=$T/mnt
MIB=1048576
FUSE=$BUILD/tools/ember-fuse
failed=0 n=0 meta_b=

cleanup() {
	fusermount3 -u "$M" 2>/dev/null
	[ -n "$meta_b" ] && kill -9 "$meta_b" 2>/dev/null
	cluster_stop
	if [ "$failed" = 0 ]; then rm -rf "$T"; else echo "# logs kept in $T" >&2; fi
}
trap cleanup EXIT

# check NAME CMD...: one TAP line; CMD's output becomes comments. CMD runs
# in this shell (not a subshell), so it may kill and wait for daemons.
check() {
	n=$((n + 1))
	local rc
	"${@:2}" > "$T/check.out" 2>&1
	rc=$?
	sed 's/^/# /' "$T/check.out"
	if [ $rc = 0 ]; then echo "ok $n - $1"; else echo "not ok $n - $1"; failed=1; fi
}

df_mib() { # df_mib size|used|avail
	df -B1 --output="$1" "$M" 2>/dev/null | tail -1 | awk '{ printf "%d", $1 / 1048576 }'
}

# wait_used MAX_MIB SECS: until df used is at most MAX_MIB; prints how long.
wait_used() {
	local t0 now u
	t0=$(date +%s%N)
	while :; do
		u=$(df_mib used)
		now=$(date +%s%N)
		if [ "$u" -le "$1" ]; then
			echo "used ${u} MiB after $(((now - t0) / 1000000)) ms"
			return 0
		fi
		[ $(((now - t0) / 1000000000)) -lt "$2" ] || break
		sleep 0.1
	done
	echo "used still ${u} MiB after $2 s (want <= $1)"
	return 1
}

metric() { # metric PORT NAME
	local v
	v=$(curl -s "http://127.0.0.1:$1/metrics" | awk -v m="$2" '$1 == m { print $2 }')
	echo "${v:-0}"
}

fsck_clean() {
	"$EM_CLI" fsck --db "${CLUSTER_META_KV}" --mgmtd "$EM_MGMTD" --secret-file "$EM_SECRET" \
		> "$T/fsck.out" 2>&1
	local rc=$?
	tail -4 "$T/fsck.out"
	return $rc
}

CLUSTER_TARGET_SIZE=264M CLUSTER_CHUNK_SIZE=1M
CLUSTER_META_KV=${PG:-lmdb:$T/cluster/meta-kv}
EXTRA='gc_lease = 2s
gc_batch = 16
[metrics]
enabled = true
listen = 127.0.0.1:0'
cluster_start "$BUILD" "$T/cluster" 3 2 3 "$EXTRA" || { failed=1; echo "Bail out! cluster"; exit 1; }
metrics_port() { sed -n 's/^ember-meta: metrics port //p' "$1" | tail -1; }
MP=$(metrics_port "$T/cluster/meta.log.out")
if [ -n "$PG" ]; then
	# A second metadata server over the same store: one of the two runs the GC.
	sed -e 's|^listen = tcp.*|listen = tcp://127.0.0.1:0|' "$T/cluster/meta.ini" > "$T/meta-b.ini"
	"$BUILD/tools/ember-meta" -c "$T/meta-b.ini" -l warn > "$T/meta-b.out" 2> "$T/meta-b.log" &
	meta_b=$!
	for _ in $(seq 100); do grep -q "ready" "$T/meta-b.out" && break; sleep 0.05; done
	MPB=$(metrics_port "$T/meta-b.out")
fi
mkdir -p "$M"
"$FUSE" "$EM_MGMTD" "$M" -o "meta=$EM_META,secret_file=$EM_SECRET" 2> "$T/fuse.log" ||
	{ failed=1; echo "Bail out! mount"; exit 1; }
for _ in $(seq 50); do grep -q " $M fuse.ember " /proc/mounts && break; sleep 0.1; done

echo "# df against the targets"
df_size() {
	local s want=$((6 * 264 / 3)) i
	for i in $(seq 50); do
		s=$(df_mib size)
		[ "$s" -gt 0 ] && break
		sleep 0.1
	done
	echo "df size ${s} MiB; target files 6 x 264 MiB / 3 replicas = $want MiB"
	[ $((s * 100)) -ge $((want * 95)) ] && [ $((s * 100)) -le $((want * 105)) ]
}
check "df size within 5% of the target sizes over the replicas" df_size

df_follows() {
	head -c $((100 * MIB)) /dev/urandom > "$T/src" || return 1
	cp "$T/src" "$M/hundred" && sync || return 1
	local u i
	for i in $(seq 50); do
		u=$(df_mib used)
		[ "$u" -ge 100 ] && break
		sleep 0.1
	done
	echo "after writing 100 MiB: used ${u} MiB"
	[ "$u" -ge 100 ] && [ "$u" -le 104 ] || return 1
	rm "$M/hundred" && wait_used 2 5
}
check "df used grows by the bytes written and shrinks after delete + GC" df_follows

echo "# 5x the usable capacity through the mount"
cycle() {
	local usable round k total=0 target
	usable=$(df_mib size)
	target=$((5 * usable))
	round=0
	while [ $total -lt $target ]; do
		round=$((round + 1))
		for k in 1 2 3 4 5 6 7 8; do
			head -c $((40 * MIB)) /dev/urandom > "$T/src$k" || return 1
			cp "$T/src$k" "$M/r$k" || { echo "round $round: writing r$k failed"; return 1; }
		done
		for k in 1 2 3 4 5 6 7 8; do
			cmp "$T/src$k" "$M/r$k" || { echo "round $round: r$k read back wrong"; return 1; }
		done
		rm "$M"/r[1-8] || return 1
		total=$((total + 320))
		wait_used 10 15 > /dev/null || { echo "round $round: space did not come back"; return 1; }
	done
	echo "$round rounds, $total MiB written, read back and deleted ($((total / usable))x $usable MiB)"
	grep -c "ENOSPC\|EIO" "$T/fuse.log" | sed 's/^/fuse log lines with ENOSPC or EIO: /'
	! grep -q "ENOSPC\|EIO" "$T/fuse.log"
}
check "5x the capacity written and deleted: every byte right, no ENOSPC or EIO" cycle
check "df used back near zero" wait_used 2 5
check "fsck clean after the cycles" fsck_clean

echo "# filling up on purpose"
fill_up() {
	local out
	out=$("$FILL" "$M/fill" 2000) || return 1
	echo "$out"
	echo "$out" > "$T/fill.out"
	echo "$out" | grep -Eq "failed ENOSPC in [0-9]+ ms" || return 1
	local ms=${out##* in }
	ms=${ms% ms}
	[ "$ms" -le 1000 ]
}
check "the write that does not fit fails with ENOSPC within a second" fill_up
refill() {
	local before after
	before=$(awk '{ print $2 }' "$T/fill.out")
	rm "$M/fill" && wait_used 2 10 || return 1
	after=$("$FILL" "$M/fill" "$before") || return 1
	echo "$after"
	[ "$after" = "written $before failed none" ] && rm "$M/fill" && wait_used 2 10
}
check "after delete + GC the same writes fit again" refill

echo "# kill -9 of the GC's metadata server mid-batch"
gc_kill() {
	local k i port=$MP killed=a base done_a done_b
	# Live files beside the doomed ones; their bytes must survive the GC.
	for k in 1 2 3; do
		head -c $((3 * MIB + k)) /dev/urandom > "$T/live$k" && cp "$T/live$k" "$M/live$k" || return 1
	done
	mkdir "$M/doomed" || return 1
	for k in $(seq 200); do head -c $((MIB / 2)) /dev/zero > "$M/doomed/$k" || return 1; done
	sync
	if [ -n "$PG" ] && [ "$(metric "$MPB" ember_gc_leader)" = 1 ]; then
		port=$MPB killed=b
	fi
	echo "GC leader: server $killed"
	base=$(metric "$port" ember_gc_files_total)
	rm -r "$M/doomed" || return 1
	for i in $(seq 500); do
		[ "$(metric "$port" ember_gc_files_total)" -gt "$base" ] && break
		sleep 0.01
	done
	done_a=$(($(metric "$port" ember_gc_files_total) - base))
	if [ "$killed" = a ]; then cluster_kill_meta || return 1; else kill -9 "$meta_b"; meta_b=; fi
	echo "killed with $done_a of 200 deleted files collected"
	[ "$done_a" -lt 200 ] || { echo "too late: the queue was already drained"; return 1; }
	if [ -n "$PG" ] && [ "$killed" = a ]; then
		# The standby takes the lease once it expires and drains the queue,
		# while the killed server stays down.
		# (A may have finished a few more entries after the count above.)
		base=$(metric "$MPB" ember_gc_files_total)
		for i in $(seq 150); do
			done_b=$(($(metric "$MPB" ember_gc_files_total) - base))
			[ "$(metric "$MPB" ember_gc_leader)" = 1 ] && [ "$done_b" -gt 0 ] &&
				[ "$(metric "$MPB" ember_gc_queue_entries)" = 0 ] && break
			sleep 0.1
		done
		echo "the standby took over and collected $done_b in $((i / 10)).$((i % 10)) s"
		[ "$(metric "$MPB" ember_gc_leader)" = 1 ] && [ "$done_b" -gt 0 ] &&
			[ "$(metric "$MPB" ember_gc_queue_entries)" = 0 ] &&
			[ $((done_a + done_b)) -ge 180 ] || return 1
	fi
	if [ "$killed" = a ]; then
		cluster_restart_meta || return 1
		MP=$(metrics_port "$T/cluster/meta.log.out")
	fi
	wait_used 12 30 || return 1
	for k in 1 2 3; do cmp "$T/live$k" "$M/live$k" || return 1; done
}
check "GC killed mid-batch: the queue drains, live files keep every byte" gc_kill
check "fsck clean after the kill" fsck_clean
if [ -n "$PG" ]; then
	one_leader() {
		local a b
		if [ -z "$meta_b" ]; then
			"$BUILD/tools/ember-meta" -c "$T/meta-b.ini" -l warn > "$T/meta-b.out" \
				2> "$T/meta-b.log" &
			meta_b=$!
			for _ in $(seq 100); do grep -q "ready" "$T/meta-b.out" && break; sleep 0.05; done
			MPB=$(metrics_port "$T/meta-b.out")
		fi
		sleep 3
		a=$(metric "$MP" ember_gc_leader)
		b=$(metric "$MPB" ember_gc_leader)
		echo "GC leader gauges: a=$a b=$b"
		[ $((a + b)) = 1 ]
	}
	check "two metadata servers, exactly one runs the GC" one_leader
fi
echo "1..$n"
exit $failed
