#!/bin/bash
# ember-fuse end to end (meson.build gives the arguments):
#   fuse.sh BUILD_ROOT test_fuse_posix test_fuse_fsx test_fuse_writer
set -u
BUILD=$1 POSIX=$2 FSX=$3 WRITER=$4
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/cluster.sh"

DIR=$(mktemp -d /tmp/ember-fuse-test.XXXXXX)
# The permission checks run as nobody, who must reach the mounts.
chmod 755 "$DIR"
A=$DIR/mnt-a B=$DIR/mnt-b
FUSE=$BUILD/tools/ember-fuse
failed=0

cleanup() {
	fusermount3 -u "$A" 2>/dev/null
	fusermount3 -u "$B" 2>/dev/null
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
[ "$failed" = 0 ] || exit 1

echo "# POSIX suite"
check "POSIX suite" "$POSIX" "$A"

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

echo "# kill -9 a storage daemon under a writer"
kill_under_writer() {
	"$WRITER" write "$A/survivor.bin" 96 &
	local w=$!
	sleep 1
	cluster_kill_node 2
	wait $w || { echo "writer failed" >&2; return 1; }
	"$WRITER" verify "$B/survivor.bin" 96 || return 1
	cluster_restart_node 2 || return 1
	cluster_wait_serving 120 || return 1
	"$WRITER" verify "$A/survivor.bin" 96
}
check "writer survives kill -9 of a storage node; every byte verified" kill_under_writer

exit $failed
