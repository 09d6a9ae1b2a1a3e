#!/usr/bin/env bash
# The posix tier: pjdfstest, the POSIX conformance suite, whole and as root,
# on a fresh `ember up` mount (allow_other, default cache timeouts).
#
#   tests/posix/pjdfstest.sh BUILD_DIR lmdb|postgresql
#
# The suite's source is $EMBER_PJDFSTEST, else ../shared/pjdfstest beside the
# source tree (pjd/pjdfstest, unmodified); it is built once into
# BUILD_DIR/pjdfstest. The metadata store is LMDB, or a throwaway PostgreSQL
# server (tests/integration/pg-setup.sh). No test is skipped or expected to
# fail: the run passes only when prove says PASS. It prints
# "posix BACKEND: P/T passed" (T is every assertion the suite ran) and
# exits 0 only on a pass.
#
# pjdfstest runs rename/22.t (a rename updates the renamed file's ctime)
# only when the file system calls itself ext4, UFS or ZFS. Ember does what
# ext4 does there, so that file runs a second time with df reporting ext4
# to it; its assertions count like the others.
set -uo pipefail

BUILD=$(cd "$1" && pwd) BACKEND=$2
SRC=$(cd "$(dirname "$0")/../.." && pwd)
JOBS=${EMBER_POSIX_JOBS:-8}
say() { echo "posix $BACKEND: $*"; }
die() { say "FAILED: $*"; exit 1; }

case $BACKEND in lmdb | postgresql) ;; *) die "unknown backend '$BACKEND'" ;; esac
[ "$(id -u)" = 0 ] || die "needs root (FUSE mounts, and the suite switches users)"

pjd_src=${EMBER_PJDFSTEST:-$SRC/../shared/pjdfstest}
if [ ! -f "$pjd_src/pjdfstest.c" ] || [ ! -d "$pjd_src/tests" ]; then
	die "pjdfstest's source is not at $pjd_src. Get it (git clone" \
		"https://github.com/pjd/pjdfstest; this tier was checked with commit 85a8aea)" \
		"and set EMBER_PJDFSTEST to that directory"
fi

# Built once per source tree, again when a file of it changes.
pjd_abs=$(cd "$pjd_src" && pwd)
PJD=$BUILD/pjdfstest
if [ ! -x "$PJD/pjdfstest" ] || [ "$(cat "$PJD/.built" 2>/dev/null)" != "$pjd_abs" ] ||
	[ -n "$(find "$pjd_abs" -type f -newer "$PJD/.built" | head -1)" ]; then
	for t in autoreconf automake libtoolize make cc prove; do
		command -v $t > /dev/null ||
			die "$t not found: install autoconf automake libtool make gcc perl (tests/setup-deps.sh does)"
	done
	say "building pjdfstest from $pjd_abs into $PJD"
	rm -rf "$PJD" && mkdir -p "$PJD" && cp -a "$pjd_abs/." "$PJD/" || die "cannot copy $pjd_abs"
	(cd "$PJD" && autoreconf -ifs && ./configure && make pjdfstest) > "$BUILD/pjdfstest-build.log" 2>&1 ||
		{ tail -20 "$BUILD/pjdfstest-build.log"; die "building pjdfstest failed (log $BUILD/pjdfstest-build.log)"; }
	echo "$pjd_abs" > "$PJD/.built"
fi

WORK=$(mktemp -d /tmp/ember-posix-$BACKEND.XXXXXX)
# The suite switches to other users, who must reach the mount point.
chmod 755 "$WORK"
MNT=$WORK/mnt STATE=$WORK/state
case $BACKEND in lmdb) PORT=29700 ;; postgresql) PORT=29750 ;; esac
up_args=(--dir "$STATE" --mount "$MNT" --port-base "$PORT" --target-size 4G)
cleanup() {
	cd /
	timeout 120 "$BUILD/tools/ember" down --dir "$STATE" --force > /dev/null 2>&1
	[ "$BACKEND" = postgresql ] && "$SRC/tests/integration/pg-setup.sh" stop "$WORK/pg" 2> /dev/null
	if [ "${keep:-0}" = 0 ]; then rm -rf "$WORK"; else say "logs kept in $WORK"; fi
}
trap cleanup EXIT
if [ "$BACKEND" = postgresql ]; then
	uri=$("$SRC/tests/integration/pg-setup.sh" start "$WORK/pg") || die "could not start PostgreSQL"
	up_args+=(--meta-kv "$uri")
fi
timeout 300 "$BUILD/tools/ember" up "${up_args[@]}" > "$WORK/up.log" 2>&1 ||
	{ keep=1; tail -20 "$WORK/up.log"; die "ember up failed"; }
grep -q " $MNT fuse.ember .*allow_other" /proc/mounts || { keep=1; die "$MNT is not an allow_other ember mount"; }

mkdir "$MNT/pjd" && cd "$MNT/pjd" || die "cannot use the mount"
t0=$(date +%s)
prove -r -j "$JOBS" "$PJD/tests" > "$WORK/prove.log" 2>&1
prc=$?
# The ext4-only file (see the top), with df reporting ext4 to it.
mkdir -p "$WORK/ext4-df"
cat > "$WORK/ext4-df/df" <<'EOF'
#!/bin/sh
/bin/df "$@" | sed 's/ fuse\.ember / ext4       /'
EOF
chmod 755 "$WORK/ext4-df/df"
PATH=$WORK/ext4-df:$PATH prove "$PJD/tests/rename/22.t" > "$WORK/prove-ext4.log" 2>&1
prc2=$?
secs=$(($(date +%s) - t0))
cd /

# Counts from prove's summaries: Tests=N, and "Failed X/Y subtests" per file.
total() { sed -n 's/^Files=[0-9]*, Tests=\([0-9]*\),.*/\1/p' "$1" | tail -1; }
files() { sed -n 's/^Files=\([0-9]*\),.*/\1/p' "$1" | tail -1; }
bad() { sed -n 's/.*Failed \([0-9]*\)\/[0-9]* subtests.*/\1/p' "$1" | awk '{s += $1} END {print s + 0}'; }
T1=$(total "$WORK/prove.log") T2=$(total "$WORK/prove-ext4.log")
[ -n "$T1" ] && [ -n "$T2" ] || { keep=1; tail -30 "$WORK/prove.log"; die "prove printed no summary"; }
T=$((T1 + T2)) F=$(($(bad "$WORK/prove.log") + $(bad "$WORK/prove-ext4.log")))
ok=1
grep -q '^Result: PASS' "$WORK/prove.log" && [ $prc = 0 ] || ok=0
grep -q '^Result: PASS' "$WORK/prove-ext4.log" && [ $prc2 = 0 ] || ok=0
[ "$T2" -gt 0 ] || ok=0 # rename/22.t must really have run
if [ $ok = 0 ]; then
	keep=1
	sed -n '/^Test Summary Report/,$p' "$WORK/prove.log" "$WORK/prove-ext4.log"
	[ "$F" -gt 0 ] || F=1 # a file that died or broke its plan fails too
fi
# The metadata the suite leaves behind must be consistent.
if ! "$BUILD/tools/ember" fsck --dir "$STATE" > "$WORK/fsck.log" 2>&1; then
	keep=1 ok=0
	tail -20 "$WORK/fsck.log"
	say "ember fsck found problems after the suite"
fi
say "$((T - F))/$T passed ($(files "$WORK/prove.log") files, then rename/22.t as ext4, ${secs}s, $JOBS at once)"
[ $ok = 1 ]
