#!/bin/bash
# A chunk-volume namespace through the kernel host, inside the vm-run guest:
#   tests/vm/vm-run --nvme-size 512M -- tests/vm/nvmf-volume.sh BUILD/tools/ember-target BUILD/tools/ember
# The drive is formatted as a chunk engine (ember target format) and served
# by ONE ember-target process as chunk target 1 (chunk service over rdma://
# and tcp://) and, through `namespace = target:t0`, as a 128 MiB volume of
# 1 MiB chunks on the same engine instance. Checks: the unwritten namespace
# reads as zeroes, fio writes all of it with crc32c verify, the chunk
# service sees the volume's chunks and serves the bytes written through the
# fabric, everything reads back after target restarts, zeroed and discarded
# ranges (whole chunk, chunk tail, inside a chunk) read as zeroes and stay
# so, and SIGTERM under fabric and chunk load exits cleanly and in time.
set -uo pipefail

usage="usage: nvmf-volume.sh EMBER_TARGET EMBER"
BIN=$(realpath "${1:?$usage}")
EMBER=$(realpath "${2:?$usage}")
NQN=nqn.2024-01.io.ember:vm-volume
HOST=nqn.2024-01.io.ember:host-volume
SIZE_MB=128
work=$(mktemp -d)
. "$(dirname "$0")/nvmf-lib.sh"
trap 'nvme disconnect -n "$NQN" >/dev/null 2>&1; stop_target; grep -v " debug " "$work/target.log" | tail -n 30' EXIT

VOLUME_ID=7
RDMA=rdma://192.0.2.1:9000
TCP=tcp://192.0.2.1:9001
head -c 32 /dev/urandom | base64 >"$work/secret"
chmod 600 "$work/secret"
export EMBER_SECRET_FILE=$work/secret
# Two reactors: the network on reactor 0, the NVMe-oF target and the engine
# it uses on reactor 1, so chunk requests hop to the engine's reactor.
cat >"$work/target.ini" <<INI
[server]
listen = $RDMA, $TCP
secret_file = $work/secret
reactors = 2
[target.t0]
path = /dev/ng0n1
id = 1
[nvmf]
listen = 192.0.2.1
[subsystem.vol]
nqn = $NQN
allowed_hosts = $HOST
namespace = target:t0
volume_size = ${SIZE_MB}M
chunk_size = 1M
volume_id = $VOLUME_ID
INI

connect() {
	timeout 60 nvme connect -t rdma -a 192.0.2.1 -s 4420 -n "$NQN" -q "$HOST" &&
		dev=$(fabric_dev)
}
disconnect() { timeout 30 nvme disconnect -n "$NQN" >/dev/null; }
restart() { disconnect && stop_target && start_target && connect; }
# MiB [at, at + n) of the namespace equals file $3.
same() { dd if="$dev" of="$work/read" bs=1M skip="$1" count="$2" iflag=direct status=none &&
	cmp "$3" "$work/read"; }
# Bytes [off, off + len) are zeroes (and, with "not", are not all zeroes).
zeroes() {
	dd if="$dev" of="$work/z" bs=4K skip=$(($1 / 4096)) count=$(($2 / 4096)) iflag=direct \
		status=none && cmp -s -n "$2" "$work/z" /dev/zero
}
not() { ! "$@"; }
fio_job() { # fio_job NAME OFFSET_MB extra-args...: 128 KiB blocks from OFFSET_MB to the end
	local name=$1 at=$2
	shift 2
	fio --eta=never --name="$name" --filename="$dev" --ioengine=libaio --direct=1 --rw=write \
		--bs=128k --iodepth=16 --offset=${at}m --size=$((SIZE_MB - at))m --verify=crc32c \
		--verify_fatal=1 --output="$work/$name.txt" "$@"
	local rc=$?
	grep -E 'WRITE:|READ:|err=' "$work/$name.txt" | sed 's/^/    /'
	return $rc
}

# Chunk INDEX of the volume: the volume id, then the index, both big-endian.
chunk_id() { printf '%016x%016x' "$VOLUME_ID" "$1"; }
n_chunks() { "$EMBER" chunk ls --addr "$1" --target 1 | grep -c ' len '; }
# Chunk INDEX fetched over the chunk service at URL equals MiB [at, at + 1) of file.
chunk_is() { # chunk_is URL INDEX FILE MIB
	"$EMBER" chunk get --addr "$1" --target 1 "$(chunk_id "$2")" -o "$work/chunk" &&
		dd if="$3" of="$work/want" bs=1M skip="$4" count=1 status=none &&
		cmp "$work/want" "$work/chunk"
}

check "format /dev/ng0n1 as a chunk engine" "$EMBER" target format /dev/ng0n1 || finish
check "target starts with the chunk service and a chunk volume namespace" start_target || finish
check "one engine: the device opened once, the volume on target t0" \
	bash -c "[[ \$(grep -c 'target 1 (t0) on /dev/ng0n1' '$work/target.log') == 1 ]] &&
		grep -q 'chunk volume 0x7 on target:t0' '$work/target.log'"
check "chunk service up next to the fabric: no chunks yet ($RDMA)" test "$(n_chunks "$RDMA")" = 0
check "nvme connect" connect || finish
say "fabric namespace $dev"
nvme id-ns "$dev" | grep -E '^(nsze|ncap|dlfeat)|in use' | sed 's/^/    /'
check "namespace size ${SIZE_MB} MiB" test "$(blockdev --getsize64 "$dev")" = $((SIZE_MB << 20))
check "unwritten namespace reads as zeroes" cmp -n $((SIZE_MB << 20)) "$dev" /dev/zero

check "fio: write the whole namespace, verify=crc32c" fio_job fill 0 --do_verify=1
# The pattern replaces fio's blocks in [3, 11) MiB; the re-verify skips them.
head -c $((8 << 20)) /dev/urandom >"$work/pattern"
check "dd 8 MiB at 3 MiB (across chunks)" \
	dd if="$work/pattern" of="$dev" bs=1M seek=3 oflag=direct conv=fsync status=none
# The same process and engine answer over the chunk service.
check "ember chunk ls over rdma: the volume's $SIZE_MB chunks" test "$(n_chunks "$RDMA")" = "$SIZE_MB"
check "ember chunk stat over tcp: target 1 holds $SIZE_MB chunks" \
	bash -c "'$EMBER' chunk stat --addr '$TCP' --json | grep -q '\"chunks\":$SIZE_MB,'"
check "ember chunk stat: chunk 3 is 1 MiB" \
	bash -c "'$EMBER' chunk stat --addr '$RDMA' --target 1 $(chunk_id 3) | grep -q 'len 1048576 '"
check "ember chunk get over rdma: chunk 3 = the bytes written through the fabric" \
	chunk_is "$RDMA" 3 "$work/pattern" 0
check "ember chunk get over tcp: chunk 10 = the bytes written through the fabric" \
	chunk_is "$TCP" 10 "$work/pattern" 7

check "restart the target, reconnect" restart || finish
check "after restart: pattern reads back" same 3 8 "$work/pattern"
check "after restart: fio verifies every block from 16 MiB" fio_job reverify 16 --verify_only=1

# Zeroing: a whole chunk (removed), a chunk's tail (truncated), blocks
# inside a chunk (zeroes written), the last with discard (DSM).
check "write zeroes, whole chunk at 20 MiB" blkdiscard -z -o $((20 << 20)) -l $((1 << 20)) "$dev"
check "write zeroes, tail of the chunk at 30 MiB" \
	blkdiscard -z -o $((30 << 20 | 512 << 10)) -l $((512 << 10)) "$dev"
check "discard 8 KiB inside the chunk at 40 MiB" \
	blkdiscard -o $((40 << 20 | 64 << 10)) -l 8192 "$dev"
check_zeroed() {
	check "$1: whole chunk zeroes" zeroes $((20 << 20)) $((1 << 20))
	check "$1: chunk tail zeroes" zeroes $((30 << 20 | 512 << 10)) $((512 << 10))
	check "$1: discarded blocks zeroes" zeroes $((40 << 20 | 64 << 10)) 8192
	check "$1: data next to the zeroed blocks intact" not zeroes $((40 << 20)) $((64 << 10))
	check "$1: pattern intact" same 3 8 "$work/pattern"
}
check_zeroed "zeroed"
check "restart the target again" restart || finish
check_zeroed "after restart"
# The kernel may split the 1 MiB write zeroes, so the chunk may be gone or
# hold zeroes: either way the chunk service must not return data.
check "chunk 20 (zeroed through the fabric) holds no data for the chunk service" \
	bash -c "! '$EMBER' chunk get --addr '$RDMA' --target 1 $(chunk_id 20) -o '$work/c20' \
		2>/dev/null || cmp -s -n \$(stat -c %s '$work/c20') '$work/c20' /dev/zero"

# SIGTERM with fio reading through the fabric and chunk reads in flight:
# the NVMe-oF association ends, chunk requests drain, the process exits 0.
# A short ctrl-loss timeout lets the host give up (and fio end) promptly.
check "nvme disconnect" disconnect
check "connect with a 2 s ctrl-loss timeout" bash -c "timeout 60 nvme connect -t rdma \
	-a 192.0.2.1 -s 4420 -n '$NQN' -q '$HOST' --ctrl-loss-tmo=2 --reconnect-delay=1 >/dev/null"
dev=$(fabric_dev) || dev=
fio --eta=never --name=load --filename="$dev" --ioengine=libaio --direct=1 --rw=randread \
	--bs=4k --iodepth=32 --runtime=60 --time_based --output="$work/load.txt" >/dev/null 2>&1 &
fio_pid=$!
(while "$EMBER" chunk get --addr "$RDMA" --target 1 "$(chunk_id 3)" -o /dev/null; do :; done) \
	>/dev/null 2>&1 &
get_pid=$!
sleep 3
t0=$(date +%s%N)
check "SIGTERM under load: target exits 0 within 10 s" stop_target
say "stopped in $((($(date +%s%N) - t0) / 1000000)) ms"
check "the target logged the NVMe-oF shutdown before the chunk drain" \
	bash -c "grep -A100 'disconnecting NVMe-oF hosts' '$work/target.log' |
		grep -q 'every queue closed' && grep -q 'draining requests in flight' '$work/target.log'"
gone() { for _ in $(seq 300); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done; return 1; }
check "the host lost the association: fio ends within 30 s" gone "$fio_pid"
grep -E 'err=|READ:' "$work/load.txt" | sed 's/^/    /'
kill "$get_pid" 2>/dev/null
wait "$get_pid" 2>/dev/null
timeout 10 nvme disconnect -n "$NQN" >/dev/null 2>&1
check "engine inspect shows the volume's chunks" \
	bash -c "'$EMBER' target inspect /dev/ng0n1 | tee '$work/inspect' | grep -q chunks"
sed 's/^/    /' "$work/inspect"
finish
