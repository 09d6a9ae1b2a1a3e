#!/usr/bin/env bash
# fio through the native API (tools/fio/libember_fio.so) against a 3-node
# R=3 cluster on 127.0.0.1: a 64 MiB sequential write with crc32c verify
# headers, read back and verified by a second job (a new client session);
# a random read/write mix over two jobs with a verify pass at the end; and a
# negative control - data written without headers must FAIL verification,
# which shows verification really ran through the engine.
#
#   fio.sh BUILD_DIR ENGINE_SO
#
# Fails (does not skip) when the engine was not built: configure the build
# with -Dfio_source=DIR (tools/fio/fetch-fio-src.sh, tests/setup-deps.sh).
set -u
build=$1 engine=${2:-}
here=$(cd "$(dirname "$0")" && pwd)

if [ -z "$engine" ] || [ ! -f "$engine" ]; then
	echo "FAIL: the fio engine is not built; configure with" \
		"-Dfio_source=\$(tools/fio/fetch-fio-src.sh) (tests/run.sh does)" >&2
	exit 1
fi
# Absolute: the script works in its own directory below.
build=$(cd "$build" && pwd) engine=$(realpath "$engine")
command -v fio > /dev/null || { echo "FAIL: fio not installed" >&2; exit 1; }

. "$here/../lib/cluster.sh"
work=$(mktemp -d /tmp/ember-fio.XXXXXX)
cleanup() {
	cluster_stop
	rm -rf "$work"
}
trap cleanup EXIT
# fio writes verify state files (local-JOB-N-verify.state) to its working
# directory; keep them in ours.
cd "$work" || exit 1
cluster_start "$build" "$work/cluster" || { echo "FAIL: cluster did not start" >&2; exit 1; }

# Under ASan the engine needs the runtime loaded first (fio is not built
# with it); fio's own leaks are not ours to report.
if [ -n "${EM_FIO_PRELOAD:-}" ]; then
	export LD_PRELOAD=$EM_FIO_PRELOAD
	export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
fi

failures=0
fail() {
	echo "not ok - $*"
	failures=$((failures + 1))
}

# run_fio NAME EXPECT(ok|fail) JOBFILE_TEXT: runs fio with the engine and
# the cluster options, JSON to $work/NAME.json, stderr to $work/NAME.err.
run_fio() {
	local name=$1 expect=$2 jobs=$3
	printf '[global]\nioengine=external:%s\nmgmtd=%s\nmeta=%s\nsecret_file=%s\n%s\n' \
		"$engine" "$EM_MGMTD" "$EM_META" "$EM_SECRET" "$jobs" > "$work/$name.fio"
	timeout 300 fio --output-format=json --output="$work/$name.json" "$work/$name.fio" \
		2> "$work/$name.err"
	local rc=$?
	if [ "$expect" = ok ] && [ $rc -ne 0 ]; then
		fail "$name: fio exited $rc"
		sed 's/^/# /' "$work/$name.err" | tail -20
		return 1
	fi
	if [ "$expect" = fail ] && [ $rc -eq 0 ]; then
		fail "$name: fio exited 0 but should have failed"
		return 1
	fi
	return 0
}

# check NAME PY_EXPR: PY_EXPR over `jobs` (fio's JSON job list; `MiB`
# defined) must be true, and every job's error 0.
check() {
	local name=$1 expr=$2
	if python3 - "$work/$name.json" "$expr" <<'PY'
import json, sys
text = open(sys.argv[1]).read()
# fio may print notes before the JSON object.
doc = json.loads(text[text.index('{'):])
jobs = doc["jobs"]
MiB = 1 << 20
errs = [(j["jobname"], j["error"]) for j in jobs if j["error"]]
if errs:
    print("# job errors:", errs)
    sys.exit(1)
ok = eval(sys.argv[2])
if not ok:
    for j in jobs:
        print("# %s: read %d B, written %d B" % (j["jobname"], j["read"]["io_bytes"],
                                                j["write"]["io_bytes"]))
sys.exit(0 if ok else 1)
PY
	then
		echo "ok - $name"
	else
		fail "$name: $expr"
	fi
}

# 1. Sequential write with verify headers, then a separate read job that
# verifies every block (a fresh session, so the length was published).
run_fio seq-write ok 'bs=1M
iodepth=16
[seq-write]
filename=/fio-seq.dat
rw=write
size=64M
verify=crc32c
do_verify=0' && check seq-write 'jobs[0]["write"]["io_bytes"] == 64 * MiB'
run_fio seq-verify ok 'bs=1M
iodepth=16
[seq-verify]
filename=/fio-seq.dat
rw=read
size=64M
verify=crc32c' && check seq-verify 'jobs[0]["read"]["io_bytes"] == 64 * MiB'

# 2. Random mix: two jobs (two sessions) on their own files, filled first,
# then 4 KiB..192 KiB random reads and writes (crossing 64 KiB chunks) and a
# verify pass over every block written.
run_fio randmix ok 'iodepth=32
filename_format=/fio-mix.$jobnum
size=32M
numjobs=2
[fill]
rw=write
bs=1M
[mix]
stonewall
rw=randrw
rwmixread=40
bsrange=4k-192k
verify=crc32c
do_verify=1' &&
	check randmix 'all(j["write"]["io_bytes"] > 0 for j in jobs) and all(j["read"]["io_bytes"] >= j["write"]["io_bytes"] for j in jobs if j["jobname"] == "mix")'

# 3. Negative control: a file without verify headers must fail crc32c
# verification when read back through the engine.
run_fio plain-write ok 'bs=256k
[plain-write]
filename=/fio-plain.dat
rw=write
size=8M' && check plain-write 'jobs[0]["write"]["io_bytes"] == 8 * MiB'
if run_fio plain-verify fail 'bs=256k
[plain-verify]
filename=/fio-plain.dat
rw=read
size=8M
verify=crc32c'; then
	if grep -qi 'verify' "$work/plain-verify.err"; then
		echo "ok - plain-verify: verification ran and caught unverifiable data"
	else
		fail "plain-verify: fio failed, but not with a verify error"
		sed 's/^/# /' "$work/plain-verify.err" | tail -10
	fi
fi

if [ $failures -ne 0 ]; then
	echo "FAIL: $failures check(s) failed; logs in $work kept"
	trap cluster_stop EXIT
	exit 1
fi
echo "PASS"
