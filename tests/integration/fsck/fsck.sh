#!/bin/bash
# `ember fsck` on a cluster from ./ember-up (in a temp dir):
#   fsck.sh SOURCE_ROOT BUILD_ROOT CHUNK_RM
# Clean after files written through the mount; then, on single replicas
# through the chunk service (bypassing replication), a chunk for an inode
# that does not exist, a file chunk removed and a file chunk overwritten:
# fsck must exit 1 and name the orphan, the missing and the divergent chunk.
# Needs root and /dev/fuse (else skipped).
set -u
SRC=$1 BUILD=$2 CHUNK_RM=$3
E=$BUILD/tools/ember
# Failing commands explain themselves on stderr: show it next to the check.
CHECK_STDERR=1
. "$(dirname "$0")/../lib/tap.sh"
tap_need_root_fuse
T=$(mktemp -d /tmp/ember-fsck-test.XXXXXX)
D=$T/state M=$T/mnt

trap tap_cleanup EXIT

up() {
	# Ports apart from up.sh's, which may run in the same meson invocation.
	EMBER_BUILD_DIR=$BUILD "$SRC/ember-up" --dir "$D" --mount "$M" --port-base 29300 \
		> "$T/up.out" 2>&1 || { cat "$T/up.out"; return 1; }
}

write_files() {
	head -c 5000000 /dev/urandom > "$M/big" && echo "hello, ember" > "$M/hello.txt" &&
		for i in $(seq 10); do echo "small $i" > "$M/f$i" || return 1; done
}

. "$(dirname "$0")/../lib/chunks.sh"

clean() {
	"$E" fsck --dir "$D" && "$E" fsck --dir "$D" --json | jq -e '.problems == 0' > /dev/null
}

ORPHAN=00000000007fffffff00000000000000
damage() {
	local h f
	h=$(holders "$HELLO" | head -1) f=$(holders "$F1" | head -1)
	[ -n "$h" ] && [ -n "$f" ] || { echo "no replica holds $HELLO or $F1"; return 1; }
	echo "removing $HELLO from $h, overwriting $F1 on $f, orphan $ORPHAN on 1001"
	"$CHUNK_RM" "$(addr_of "$h")" "$SECRET" "$h" "$HELLO" &&
		echo "not small 1" | chunk put --addr "$(addr_of "$f")" --target "$f" "$F1" &&
		echo "nobody's" | chunk put --addr "$(addr_of 1001)" --target 1001 "$ORPHAN"
}

named() {
	local out rc
	out=$("$E" fsck --dir "$D")
	rc=$?
	echo "$out"
	[ $rc = 1 ] && echo "$out" | grep -q "^problem: orphan: chunk $ORPHAN " &&
		echo "$out" | grep -q "^problem: missing: chunk $HELLO " &&
		echo "$out" | grep -q "^problem: divergent: chunk $F1 " &&
		echo "$out" | grep -q "^PROBLEMS: "
}

json_counts() {
	local j rc
	j=$("$E" fsck --dir "$D" --json)
	rc=$?
	[ $rc = 1 ] && echo "$j" | jq -e '.chunks.orphan == 1 and .chunks.divergent == 1 and
		.chunks.missing >= 3 and .metadata.problems == 0 and
		any(.problem_list[]; .chunk == "'"$ORPHAN"'")' > /dev/null ||
		{ echo "exit $rc: $j"; return 1; }
}

limited() { # one line shown, the rest counted
	local out
	out=$("$E" fsck --dir "$D" --limit 1)
	[ "$(echo "$out" | grep -c '^problem: ')" = 1 ] && echo "$out" | grep -q "more problems not shown"
}

usage() {
	"$E" fsck --help | grep -q "divergent" && { "$E" fsck --bogus 2> /dev/null; [ $? = 2 ]; }
}

check "cluster up, mounted" up
[ "$failed" = 0 ] || exit 1
check "files written through the mount" write_files
check "fsck: clean (exit 0, JSON 0 problems)" clean
# check runs its command in a subshell: what later checks need is set here.
SECRET=$(sed -n 's/^EMBER_SECRET_FILE=//p' "$D/ember.env")
HELLO=$(chunk0 "$M/hello.txt") F1=$(chunk0 "$M/f1")
check "orphan, removed and overwritten chunks on single replicas" damage
check "fsck: exit 1 naming the orphan, missing and divergent chunks" named
check "fsck --json: counts and the orphan's id" json_counts
check "fsck --limit 1: one line, total counted" limited
check "--help says what is checked; bad option exits 2" usage
tap_done
