#!/bin/bash
# Metadata benchmark (host tier): creates and stats per second through a real
# ember-meta against the same operations on a local directory.
#
#   tools/bench/meta.sh BUILD_DIR [KV_URI] [THREADS] [FILES_PER_THREAD]
#
# KV_URI defaults to a fresh LMDB store; pass a postgresql:// URI (for
# example from tests/integration/pg-setup.sh start DIR) to measure the
# cluster backend. The reference directory is under /dev/shm (tmpfs), or
# $EMBER_BENCH_REF_DIR (an ext4 path, say). Ends with RESULT lines.
set -euo pipefail
build=$1
work=$(mktemp -d /tmp/ember-meta-bench-XXXXXX)
ref=$(mktemp -d "${EMBER_BENCH_REF_DIR:-/dev/shm}/ember-meta-ref-XXXXXX")
kv=${2:-lmdb:$work/db}
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$work" "$ref"
}
trap cleanup EXIT
head -c 32 /dev/urandom | base64 > "$work/secret"
cat > "$work/meta.ini" <<INI
[meta]
listen = tcp://127.0.0.1:0
kv = $kv
secret_file = $work/secret
reactors = 8
INI
coproc META { exec "$build/tools/ember-meta" -c "$work/meta.ini" -l warn; }
pid=$META_PID
read -r line <&"${META[0]}"
url=${line#ember-meta: ready }
echo "# ember-meta at $url over ${kv%%:*}, reference in $ref"
"$build/tools/meta_bench" "$url" "$work/secret" "$ref" "${3:-16}" "${4:-500}"
