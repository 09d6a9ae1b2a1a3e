#!/bin/bash
# Corruption on purpose, on a cluster from ./ember-up (in a temp dir):
#   heal.sh SOURCE_ROOT BUILD_ROOT CHUNK_FLIP
# Bits are flipped in chunk data on the target files of a running cluster,
# behind the storage daemons' backs, as a failing SSD would:
#   - one replica of a chunk: readers through the mount still get every byte
#     right, the replica is repaired from another one, metrics count one
#     repair, and its copy reads back correct;
#   - a 4 KiB read of a bad block through the chunk service fails, never
#     returns the block;
#   - a chunk nobody reads: `ember scrub start` finds and heals it;
#   - every replica of a chunk: readers get EIO (never wrong bytes), `ember
#     fsck --data` names the chunk on each replica, `ember scrub status`
#     counts it unrepairable;
#   - a chunk whose head and its successor committed other bytes at the same
#     version (through the chunk service, bypassing the chain): the head's
#     scrub reports it divergent.
# Needs root and /dev/fuse (else skipped).
set -u
SRC=$1 BUILD=$2 FLIP=$3
E=$BUILD/tools/ember
CHECK_STDERR=1
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/chunks.sh"
tap_need_root_fuse
T=$(mktemp -d /tmp/ember-heal-test.XXXXXX)
D=$T/state M=$T/mnt
PORT=29500
MIB=1048576

trap tap_cleanup EXIT

up() {
	# Ports apart from the other ember-up tests of the same meson run.
	EMBER_BUILD_DIR=$BUILD "$SRC/ember-up" --dir "$D" --mount "$M" --port-base $PORT \
		> "$T/up.out" 2>&1 || { cat "$T/up.out"; return 1; }
}

write_files() {
	local f
	for f in big cold lost div; do
		head -c $((3 * MIB)) /dev/urandom > "$T/$f" && cp "$T/$f" "$M/$f" || return 1
	done
	sync
}

# metric TARGET NAME [RESULT]: the storage node's counter (0 when absent).
metric() {
	local sel="target=\"$1\"" v
	[ $# -ge 3 ] && sel="$sel,result=\"$3\""
	v=$(curl -s "http://127.0.0.1:$((PORT + 81 + $1 / 1000))/metrics" |
		awk -v m="$2{$sel}" '$1 == m { print $2 }')
	echo "${v:-0}"
}

flip() { # flip TARGET CHUNK OFFSET
	"$FLIP" "$(target_file "$1")" "$2" "$3"
}

# Reads the file through the mount until its bytes matched N times; any
# mismatch fails at once (a wrong byte must never reach a reader).
reads_right() { # reads_right NAME N
	local i
	for i in $(seq "$2"); do
		cmp "$M/$1" "$T/$1" || { echo "read $i of $1 returned wrong bytes"; return 1; }
	done
}

# Waits up to 20 s, reading NAME through the mount meanwhile, for TARGET's
# repairs counter to reach WANT. Reads go round robin over the replicas, one
# step per chain read; a whole read of NAME can take a multiple of the
# replica count in steps and so ask the same replica for the same block every
# time. A read of another file between them moves the phase along.
repaired() { # repaired TARGET WANT NAME
	local i
	for i in $(seq 40); do
		[ "$(metric "$1" ember_chunk_repairs_total repaired)" -ge "$2" ] && return 0
		reads_right "$3" 1 || return 1
		head -c 4096 "$M/cold" > /dev/null || return 1
		sleep 0.5
	done
	echo "target $1: $(metric "$1" ember_chunk_repairs_total repaired) repairs, want $2"
	return 1
}

replica_right() { # replica_right TARGET CHUNK NAME: its copy is chunk 0 of NAME
	chunk get --addr "$(addr_of "$1")" --target "$1" "$2" | cmp - <(head -c $MIB "$T/$3")
}

one_replica() {
	flip "$V" "$BIG" 5000 && reads_right big 6 && repaired "$V" 1 big &&
		[ "$(metric "$V" ember_chunk_repairs_total repaired)" = 1 ] &&
		[ "$(metric "$V" ember_chunk_checksum_errors_total)" -ge 1 ] &&
		replica_right "$V" "$BIG" big
}

partial_read() {
	local out
	flip "$V" "$BIG" 8292 || return 1
	out=$(chunk get --addr "$(addr_of "$V")" --target "$V" "$BIG" --offset 8192 --length 4096 \
		2>&1 > "$T/partial")
	[ $? != 0 ] && [ ! -s "$T/partial" ] && echo "$out" | grep -qi checksum ||
		{ echo "a 4 KiB read of the bad block gave: $out ($(stat -c %s "$T/partial") bytes)"
		  return 1; }
	# Readers heal it again.
	reads_right big 3 && repaired "$V" 2 big && replica_right "$V" "$BIG" big
}

scrub_heals() {
	local i
	flip "$W" "$COLD" 123456 || return 1
	"$E" scrub start --dir "$D" --target "$W" || return 1
	for i in $(seq 60); do
		[ "$(metric "$W" ember_chunk_repairs_total repaired)" -ge 1 ] && break
		sleep 0.5
	done
	"$E" scrub status --dir "$D" --target "$W"
	"$E" scrub status --dir "$D" --target "$W" --json |
		jq -e '.targets[0].repaired >= 1 and .targets[0].checksum_errors >= 1' > /dev/null &&
		replica_right "$W" "$COLD" cold && reads_right cold 3
}

every_replica() {
	local t out
	for t in $LOST_HOLDERS; do flip "$t" "$LOST" 100 || return 1; done
	# At once: the reader asks each replica once, it does not wait out its
	# timeout (60 s) retrying them.
	local t0=$SECONDS
	out=$(timeout 20 cat "$M/lost" 2>&1 > "$T/lost.read")
	[ $? = 1 ] && echo "$out" | grep -q "Input/output error" ||
		{ echo "reading a chunk bad on every replica: '$out'"; return 1; }
	echo "EIO after $((SECONDS - t0)) s"
	# Not one byte of the bad chunk came back.
	[ ! -s "$T/lost.read" ] || { echo "$(stat -c %s "$T/lost.read") bytes returned"; return 1; }
}

fsck_names() {
	local out t
	out=$("$E" fsck --dir "$D" --data)
	[ $? = 1 ] || { echo "$out"; return 1; }
	for t in $LOST_HOLDERS; do
		echo "$out" | grep -q "^problem: corrupt: chunk $LOST on chain [0-9]*: target $t:" ||
			{ echo "$out"; echo "target $t not named"; return 1; }
	done
	[ "$(echo "$out" | grep -c '^problem: ')" = 3 ] || { echo "$out"; return 1; }
	echo "$out" | grep '^problem: '
}

unrepairable() {
	local t sum=0 i
	for i in $(seq 40); do
		sum=0
		for t in $LOST_HOLDERS; do
			sum=$((sum + $(metric "$t" ember_chunk_repairs_total unrepairable)))
		done
		[ $sum -ge 3 ] && break
		sleep 0.5
	done
	[ $sum -ge 3 ] || { echo "$sum unrepairable, want 3"; return 1; }
	# Readers that keep trying a lost chunk do not make the replicas try
	# (and log) again and again: once each.
	for i in 1 2 3; do cat "$M/lost" > /dev/null 2>&1 && return 1; done
	sleep 1
	sum=0
	for t in $LOST_HOLDERS; do
		sum=$((sum + $(metric "$t" ember_chunk_repairs_total unrepairable)))
	done
	[ $sum = 3 ] || { echo "$sum unrepairable after more reads, want 3"; return 1; }
	"$E" scrub status --dir "$D" > "$T/status.out"
	[ $? = 1 ] || { cat "$T/status.out"; echo "scrub status exits 0"; return 1; }
}

divergence() {
	local chain head succ v i
	chain=$("$E" targets --dir "$D" --json | jq -r ".targets[] | select(.id == $DIV_HOLDER) | .chain")
	read -r head succ < <("$E" chains --dir "$D" --json |
		jq -r ".chains[] | select(.id == $chain) | [.targets[0].id, .targets[1].id] | @tsv")
	v=$(chunk stat --addr "$(addr_of "$head")" --target "$head" "$DIV" --json | jq -r .commit_ver)
	[ -n "$head" ] && [ -n "$succ" ] && [ -n "$v" ] || { echo "chain $chain: '$head' '$succ' '$v'"; return 1; }
	echo "head's" | chunk put --addr "$(addr_of "$head")" --target "$head" "$DIV" --version $((v + 1)) &&
		echo "successor's" | chunk put --addr "$(addr_of "$succ")" --target "$succ" "$DIV" \
			--version $((v + 1)) || return 1
	"$E" scrub start --dir "$D" --target "$head" || return 1
	for i in $(seq 60); do
		[ "$(metric "$head" ember_scrub_divergent_total)" -ge 1 ] && break
		sleep 0.5
	done
	"$E" scrub status --dir "$D" --target "$head"
	"$E" scrub status --dir "$D" --target "$head" --json |
		jq -e '.targets[0].divergent >= 1' > /dev/null
}

check "cluster up, mounted" up
[ "$failed" = 0 ] || exit 1
check "four 3 MiB files written through the mount" write_files
SECRET=$(sed -n 's/^EMBER_SECRET_FILE=//p' "$D/ember.env")
BIG=$(chunk0 "$M/big") COLD=$(chunk0 "$M/cold") LOST=$(chunk0 "$M/lost")
V=$(holders "$BIG" | head -1) W=$(holders "$COLD" | tail -1)
LOST_HOLDERS=$(holders "$LOST" | tr '\n' ' ')
DIV=$(chunk0 "$M/div") DIV_HOLDER=$(holders "$(chunk0 "$M/div")" | head -1)
check "every chunk on three replicas" \
	test -n "$V" -a -n "$W" -a "$(echo $LOST_HOLDERS | wc -w)" = 3
check "one bad replica: reads stay right, it is repaired, metrics count one repair" one_replica
check "a 4 KiB read over a bad block fails, returns nothing; readers heal it" partial_read
check "scrub finds and heals a bad chunk nobody reads" scrub_heals
check "bad on every replica: EIO, never its bytes" every_replica
check "fsck --data names the chunk on each replica" fsck_names
check "each replica counts it unrepairable once, however often it is read; scrub status exits 1" unrepairable
check "scrub reports a chunk divergent between the head and its successor" divergence
tap_done
