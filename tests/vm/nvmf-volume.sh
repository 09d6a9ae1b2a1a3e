#!/bin/bash
# A chunk-volume namespace of ember-nvmf through the kernel host, inside the
# vm-run guest:
#   tests/vm/vm-run --nvme-size 512M -- tests/vm/nvmf-volume.sh BUILD/tools/ember-nvmf BUILD/tools/ember
# The drive is formatted as a chunk engine (ember target format); the
# namespace is a 128 MiB volume of 1 MiB chunks on it. Checks: the unwritten
# namespace reads as zeroes, fio writes all of it with crc32c verify,
# everything reads back after target restarts, zeroed and discarded ranges
# (whole chunk, chunk tail, inside a chunk) read as zeroes and stay so.
set -uo pipefail

usage="usage: nvmf-volume.sh EMBER_NVMF EMBER"
BIN=$(realpath "${1:?$usage}")
EMBER=$(realpath "${2:?$usage}")
NQN=nqn.2024-01.io.ember:vm-volume
HOST=nqn.2024-01.io.ember:host-volume
SIZE_MB=128
work=$(mktemp -d)
. "$(dirname "$0")/nvmf-lib.sh"
trap 'nvme disconnect -n "$NQN" >/dev/null 2>&1; stop_target; grep -v " debug " "$work/target.log" | tail -n 30' EXIT

cat >"$work/target.ini" <<INI
[nvmf]
listen = 192.0.2.1
[subsystem.vol]
nqn = $NQN
allowed_hosts = $HOST
namespace = chunk:/dev/ng0n1
volume_size = ${SIZE_MB}M
chunk_size = 1M
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

check "format /dev/ng0n1 as a chunk engine" "$EMBER" target format /dev/ng0n1 || finish
check "target starts with a chunk volume namespace" start_target || finish
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
check "nvme disconnect" disconnect
check "target exits cleanly (engine checkpointed)" stop_target
check "engine inspect shows the volume's chunks" \
	bash -c "'$EMBER' target inspect /dev/ng0n1 | tee '$work/inspect' | grep -q chunks"
sed 's/^/    /' "$work/inspect"
finish
