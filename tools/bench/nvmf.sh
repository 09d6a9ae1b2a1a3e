#!/bin/bash
# NVMe-oF/RDMA target benchmark (tier: vm). Run from the repository:
#   tools/bench/nvmf.sh [BUILD_DIR]        (default BUILD_DIR: build)
# Boots the vm-run guest and, in it, measures through the kernel host
# (nvme-rdma) with fio: 4 KiB random read QD32 and 128 KiB sequential read
# QD8, first against ember-target's NVMe-oF target serving /dev/ng0n1 (io_uring passthrough),
# then against the kernel's nvmet-rdma serving the same drive (/dev/nvme0n1).
# Ends with RESULT lines (DESIGN.md §7); exits 0 even when a goal is missed.
# A metric with a side that could not be measured (connect or fio failed)
# gets no RESULT line, and the exit status is then 1.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

if [[ ${1:-} != --guest ]]; then
	build=$(realpath "${1:-$repo/build}")
	[[ -x $build/tools/ember-target ]] || { echo "nvmf.sh: no $build/tools/ember-target (build first)"; exit 2; }
	exec "$repo/tests/vm/vm-run" --nvme 1 --nvme-size 1G --timeout 900 -- \
		"$here/nvmf.sh" --guest "$build/tools/ember-target"
fi

BIN=$2
# The guest mounts its own tmpfs on /tmp: a build tree under the host's /tmp
# is not there unless it holds the repository.
[[ -x $BIN ]] || { echo "nvmf-bench: $BIN is not visible in the guest (use a build dir inside the repository)"; exit 2; }
ADDR=192.0.2.1
RUNTIME=${EMBER_BENCH_RUNTIME:-15}
ENQN=nqn.2024-01.io.ember:bench
KNQN=nqn.2024-01.io.kernel:bench
work=$(mktemp -d)
pid=

say() { echo "nvmf-bench: $*"; }

# fio on the fabric device; prints IOPS or MiB/s.
run_fio() { # dev rw bs qd field
	fio --name=b --filename="$1" --ioengine=libaio --direct=1 --rw="$2" --bs="$3" \
		--iodepth="$4" --runtime="$RUNTIME" --time_based --ramp_time=2 --size=512m \
		--output-format=json --output="$work/fio.json" >/dev/null 2>&1 || return 1
	python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["jobs"][0]["read"]
print(round(r["iops"]) if sys.argv[2]=="iops" else round(r["bw"]/1024, 1))' "$work/fio.json" "$5"
}

fabric_dev() {
	local d
	for _ in $(seq 100); do
		for d in /dev/nvme*n1; do
			[[ $d != /dev/nvme0n1 && -b $d ]] && echo "$d" && return 0
		done
		sleep 0.1
	done
	return 1
}

measure() { # nqn port label -> sets iops_$label bw_$label
	local dev
	timeout 60 nvme connect -t rdma -a "$ADDR" -s "$2" -n "$1" >/dev/null || { say "connect to $1 failed"; return 1; }
	dev=$(fabric_dev) || return 1
	eval "iops_$3=\$(run_fio $dev randread 4k 32 iops)"
	eval "bw_$3=\$(run_fio $dev read 128k 8 bw)"
	nvme disconnect -n "$1" >/dev/null
	sleep 1
}

# --- Ember ---------------------------------------------------------------------
cat >"$work/t.ini" <<INI
[nvmf]
listen = $ADDR
[subsystem.bench]
nqn = $ENQN
allow_any_host = true
namespace = /dev/ng0n1
INI
"$BIN" -c "$work/t.ini" >"$work/target.log" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q 'ember-target: ready' "$work/target.log" && break; sleep 0.2; done
iops_e= bw_e=
measure "$ENQN" 4420 e || tail "$work/target.log"
kill -TERM "$pid"; wait "$pid"
say "ember: randread 4k QD32 ${iops_e:-failed} IOPS, read 128k QD8 ${bw_e:-failed} MiB/s"

# --- kernel nvmet-rdma on the same drive ---------------------------------------
C=/sys/kernel/config/nvmet
modprobe nvmet-rdma 2>/dev/null
mkdir "$C/subsystems/$KNQN" && echo 1 >"$C/subsystems/$KNQN/attr_allow_any_host"
mkdir "$C/subsystems/$KNQN/namespaces/1"
echo -n /dev/nvme0n1 >"$C/subsystems/$KNQN/namespaces/1/device_path"
echo 1 >"$C/subsystems/$KNQN/namespaces/1/enable"
mkdir "$C/ports/1"
echo rdma >"$C/ports/1/addr_trtype"; echo ipv4 >"$C/ports/1/addr_adrfam"
echo "$ADDR" >"$C/ports/1/addr_traddr"; echo 4421 >"$C/ports/1/addr_trsvcid"
ln -s "$C/subsystems/$KNQN" "$C/ports/1/subsystems/$KNQN"
iops_k= bw_k=
measure "$KNQN" 4421 k
rm "$C/ports/1/subsystems/$KNQN"; rmdir "$C/ports/1" "$C/subsystems/$KNQN/namespaces/1" "$C/subsystems/$KNQN"
say "nvmet: randread 4k QD32 ${iops_k:-failed} IOPS, read 128k QD8 ${bw_k:-failed} MiB/s"

ratio() { python3 -c 'import sys; e,r=float(sys.argv[1]),float(sys.argv[2]); print(f"{e/r:.2f}" if r else "0")' "$1" "$2"; }
status=0
result() { # metric ember ref unit; a side without a figure: no RESULT, status 1
	local num='^[0-9]+(\.[0-9]+)?$'
	if ! [[ $2 =~ $num && $3 =~ $num ]]; then
		say "$1: not measured (ember '$2', ref '$3')"
		status=1
		return
	fi
	echo "RESULT $1 ember=$2 ref=$3 unit=$4 ratio=$(ratio "$2" "$3") goal=1.0"
}
result nvmf_randread_iops "$iops_e" "$iops_k" IOPS
result nvmf_seqread_bw "$bw_e" "$bw_k" MiB/s
exit $status
