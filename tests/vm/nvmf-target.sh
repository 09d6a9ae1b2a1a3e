#!/bin/bash
# NVMe-oF/RDMA acceptance test for ember-target's NVMe-oF target (a config
# with only [nvmf] and [subsystem.NAME]), run inside the vm-run guest:
#   tests/vm/vm-run --nvme 1 --nvme-size 256M -- tests/vm/nvmf-target.sh BUILD/tools/ember-target
# The kernel host (nvme-rdma) and nvme-cli drive our target, which serves
# /dev/ng0n1 (io_uring passthrough) on 192.0.2.1:4420. Every check prints
# "ok"/"not ok"; the exit status is the number of failed checks (capped).
set -uo pipefail

BIN=$(realpath "${1:?usage: nvmf-target.sh PATH/TO/ember-target}")
NQN=nqn.2024-01.io.ember:vm-test
HOST=nqn.2024-01.io.ember:host-allowed
DENIED=nqn.2024-01.io.ember:host-denied
ADDR=192.0.2.1
PORT=4420
SERIAL=EMBERVM0001
MODEL="Ember VM Test"
work=$(mktemp -d)
# Debug level by default: the disconnect check shows the target's own view
# of it from this log when it is slow.
export EMBER_LOG=${EMBER_LOG:-debug}
. "$(dirname "$0")/nvmf-lib.sh"
ms() { echo $(($(date +%s%N) / 1000000)); }

cleanup() {
	nvme disconnect -n "$NQN" >/dev/null 2>&1
	[[ -n $pid ]] && kill -TERM "$pid" 2>/dev/null && wait "$pid"
	say "target log (info and above, last 40 lines):"
	grep -v ' debug ' "$work/target.log" | tail -n 40
}
trap cleanup EXIT

cat >"$work/target.ini" <<INI
[nvmf]
listen = $ADDR
port = $PORT
[subsystem.vm]
nqn = $NQN
serial = $SERIAL
model = $MODEL
allowed_hosts = $HOST
namespace = /dev/ng0n1
INI

# The 8 MiB pattern at 3 MiB of a device equals what we wrote.
same_as_pattern() {
	dd if="$1" of="$work/read" bs=1M skip=3 count=8 iflag=direct status=none &&
		cmp "$work/pattern" "$work/read"
}

connect() {
	timeout 60 nvme connect -t rdma -a "$ADDR" -s "$PORT" -n "$NQN" -q "$HOST" "$@"
}

check "target starts on $ADDR:$PORT backed by /dev/ng0n1" start_target || exit 1

out=$(timeout 60 nvme discover -t rdma -a "$ADDR" -s "$PORT" -q "$HOST" 2>&1)
echo "$out" | sed 's/^/    /'
check "nvme discover lists $NQN" grep -q "subnqn: *$NQN" <<<"$out"
check "discovery entry has traddr $ADDR, trsvcid $PORT" \
	bash -c "grep -q 'traddr: *$ADDR' <<<'$out' && grep -q 'trsvcid: *$PORT' <<<'$out'"

out=$(timeout 60 nvme discover -t rdma -a "$ADDR" -s "$PORT" -q "$DENIED" 2>&1)
check "discovery hides the subsystem from a disallowed host" \
	bash -c "! grep -q 'subnqn: *$NQN' <<<'$out'"

check "nvme connect" connect || exit $failed
dev=$(fabric_dev) || dev=
check "a fabric block device appears ($dev)" test -n "$dev" || exit $failed
ctrl=
for c in /sys/class/nvme/nvme*; do
	[[ $(cat "$c/subsysnqn" 2>/dev/null) == "$NQN" ]] && ctrl=/dev/$(basename "$c")
done
say "fabric controller $ctrl, namespace $dev"

nvme list | sed 's/^/    /'
check "nvme list shows serial and model" bash -c "nvme list | grep '$dev' | grep -q '$SERIAL.*$MODEL'"
idc=$(nvme id-ctrl "$ctrl" 2>&1)
echo "$idc" | grep -E '^(sn|mn|fr|mdts|cntlid|ver|kas|subnqn|ioccsz|sgls|oncs|vwc|cntrltype) ' | sed 's/^/    /'
check "id-ctrl sn" grep -q "^sn *: $SERIAL" <<<"$idc"
check "id-ctrl mn" grep -q "^mn *: $MODEL" <<<"$idc"
check "id-ctrl subnqn" grep -q "^subnqn *: $NQN" <<<"$idc"
idn=$(nvme id-ns "$dev" 2>&1)
echo "$idn" | grep -E '^(nsze|ncap|nuse|nlbaf|flbas|nguid)|in use' | sed 's/^/    /'
want=$(blockdev --getsize64 /dev/nvme0n1)
got=$(blockdev --getsize64 "$dev")
check "namespace size matches the backing drive ($got = $want bytes)" test "$got" = "$want"

# Whole namespace: sequential write with CRC32C verify, then 4K random.
check "fio: write the whole namespace, verify=crc32c" \
	fio --eta=never --name=seq --filename="$dev" --ioengine=libaio --direct=1 --rw=write --bs=128k \
	--iodepth=16 --size=100% --verify=crc32c --do_verify=1 --verify_fatal=1 \
	--output="$work/fio-seq.txt"
grep -E 'WRITE:|READ:|err=' "$work/fio-seq.txt" | sed 's/^/    /'
check "fio: 4K random write QD32 with verify=crc32c (32 MiB)" \
	fio --eta=never --name=rand --filename="$dev" --ioengine=libaio --direct=1 --rw=randwrite --bs=4k \
	--iodepth=32 --size=32m --offset=64m --verify=crc32c --do_verify=1 --verify_fatal=1 \
	--output="$work/fio-rand.txt"
grep -E 'WRITE:|READ:|err=' "$work/fio-rand.txt" | sed 's/^/    /'

# Bytes written through the fabric are on the drive, read directly.
head -c $((8 << 20)) /dev/urandom >"$work/pattern"
check "dd 8 MiB through the fabric" \
	dd if="$work/pattern" of="$dev" bs=1M seek=3 oflag=direct conv=fsync status=none
check "same bytes read back through the fabric" same_as_pattern "$dev"
check "same bytes read directly from /dev/nvme0n1" same_as_pattern /dev/nvme0n1
check "whole device identical through fabric and directly" \
	test "$(sha256sum <"$dev" | cut -d' ' -f1)" = "$(sha256sum </dev/nvme0n1 | cut -d' ' -f1)"
check "discard (blkdiscard 1 MiB)" blkdiscard -o $((200 << 20)) -l $((1 << 20)) "$dev"
check "write zeroes (blkdiscard -z 1 MiB)" blkdiscard -z -o $((201 << 20)) -l $((1 << 20)) "$dev"
head -c $((1 << 20)) /dev/zero >"$work/zero"
dd if="$dev" of="$work/read" bs=1M skip=201 count=1 iflag=direct status=none
check "zeroed range reads back as zeroes" cmp "$work/zero" "$work/read"
check "smart-log" nvme smart-log "$ctrl"

t0=$(ms)
say "disconnect at $(date +%T.%N)"
check "nvme disconnect" nvme disconnect -n "$NQN"
dt=$(($(ms) - t0))
say "disconnect done at $(date +%T.%N)"
if ! check "disconnect took ${dt} ms (< 1000)" test "$dt" -lt 1000; then
	say "target's view of the disconnect:"
	awk -v t="$(date -d "@$((t0 / 1000))" +%T)" '$1 >= t' "$work/target.log" | head -n 30
fi

check "reconnect" connect
dev=$(fabric_dev) || dev=
check "reconnected: data still there" same_as_pattern "$dev"
check "disconnect again" nvme disconnect -n "$NQN"

out=$(timeout 60 nvme connect -t rdma -a "$ADDR" -s "$PORT" -n "$NQN" -q "$DENIED" 2>&1)
rc=$?
echo "$out" | sed 's/^/    /'
check "disallowed host is refused (nvme connect status $rc)" test "$rc" -ne 0
check "target logged the refusal" grep -q "host $DENIED is not allowed" "$work/target.log"
dmesg | grep -i 'nvme' | tail -n 5 | sed 's/^/    dmesg: /'

check "target still alive" kill -0 "$pid"
finish
