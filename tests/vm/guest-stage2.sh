#!/bin/bash
# Second stage of the vm-run guest: PID 1 inside the chroot on the host's
# userland (started by initramfs-init.sh). vm-run copies this file into the
# run's share for every run, so editing it needs no initramfs rebuild.
#
# Brings up the test network (veth0/veth1, 192.0.2.1/24, soft-RoCE rxe0 on
# veth0), checks the emulated NVMe drives, prints an environment report, and
# runs the requested program. The outcome goes to /run/ember-vm/result ("exit
# N" or "fail REASON") and to the console as "EMBER-VM-RESULT: ...", then the
# guest reboots, which ends QEMU (-no-reboot).
set -uo pipefail

R=/run/ember-vm
EMBER_VM_NVME=0
EMBER_VM_CWD=/
EMBER_VM_PROG_TIMEOUT=0
EMBER_VM_INTERACTIVE=0
EMBER_VM_ARGS=()
# shellcheck source=/dev/null
source "$R/conf.sh"

say() { echo "ember-vm: [$(cut -d' ' -f1 /proc/uptime) s] $*"; }

uptime_s() { cut -d' ' -f1 /proc/uptime; }

end_guest() {
	sync
	echo 1 >/proc/sys/kernel/sysrq
	echo b >/proc/sysrq-trigger
	sleep 60
}

fail() {
	say "FAIL: $*"
	echo "EMBER-VM-RESULT: FAIL $*"
	echo "fail $*" >"$R/result"
	end_guest
}

hostname ember-vm 2>/dev/null || true
mountpoint -q /sys/kernel/config || mount -t configfs none /sys/kernel/config ||
	say "warning: cannot mount configfs on /sys/kernel/config"

# --- network and soft-RoCE --------------------------------------------------
say "bringing up veth0/veth1 (192.0.2.1/24) and rxe0"
ip link set lo up || fail "ip link set lo up failed"
ip link add veth0 type veth peer name veth1 || fail "cannot create veth0/veth1 (module veth loaded?)"
ip addr add 192.0.2.1/24 dev veth0 || fail "cannot add 192.0.2.1/24 to veth0"
ip link set veth0 up || fail "cannot bring veth0 up"
ip link set veth1 up || fail "cannot bring veth1 up"
if ! rdma link add rxe0 type rxe netdev veth0; then
	dmesg | tail -n 10
	fail "rdma link add rxe0 type rxe netdev veth0 failed: rdma_rxe missing, or crc32_generic missing before it, in tests/vm/modules.list? (kernel messages above)"
fi

# Wait for the port and its RoCE v2 GID for IPv4 (index 1), reading sysfs
# only: under a loaded host, TCG is slow and every exec from 9p costs.
active=0
deadline=$((SECONDS + 60))
port=/sys/class/infiniband/rxe0/ports/1
while ((SECONDS < deadline)); do
	state=$(<"$port/state") 2>/dev/null || state=
	gid=$(<"$port/gids/1") 2>/dev/null || gid=
	if [[ $state == *ACTIVE* && $gid == *ffff:c000:0201 ]]; then
		active=1
		break
	fi
	sleep 0.2
done
if ((active)) && ! ibv_devinfo -d rxe0 2>/dev/null | grep -q 'PORT_ACTIVE'; then
	say "sysfs says rxe0 is ACTIVE but ibv_devinfo does not"
	active=0
fi

# --- NVMe -------------------------------------------------------------------
missing=()
deadline=$((SECONDS + 60))
for ((i = 0; i < EMBER_VM_NVME; i++)); do
	while ((SECONDS < deadline)) && ! [[ -c /dev/ng${i}n1 && -b /dev/nvme${i}n1 ]]; do
		sleep 0.2
	done
	[[ -c /dev/ng${i}n1 ]] || missing+=("/dev/ng${i}n1")
	[[ -b /dev/nvme${i}n1 ]] || missing+=("/dev/nvme${i}n1")
done

# --- environment report -----------------------------------------------------
echo "===== ember-vm environment (guest uptime $(uptime_s) s) ====="
echo "uname: $(uname -a)"
echo "--- rdma link"
rdma link show
echo "--- ibv_devinfo -d rxe0"
ibv_devinfo -d rxe0 2>&1 | grep -E 'hca_id|transport|fw_ver|node_guid|port:|state:|active_mtu|link_layer'
echo "--- rxe0 port 1 GID index 1: $(cat /sys/class/infiniband/rxe0/ports/1/gids/1 2>&1)"
echo "--- nvme list"
if ((EMBER_VM_NVME > 0)); then
	nvme list 2>&1
	ls -l /dev/ng* /dev/nvme* 2>&1 | sed 's/^/    /'
else
	echo "(no NVMe drives requested)"
fi
echo "============================================================"

((active)) || fail "rxe0 is not ACTIVE (or GID index 1 is not ::ffff:192.0.2.1) after 60 s; see the report above"
((${#missing[@]} == 0)) || fail "expected NVMe devices missing: ${missing[*]} (module nvme loaded? --nvme $EMBER_VM_NVME)"
say "environment OK: rxe0 ACTIVE on veth0 (192.0.2.1, GID index 1), $EMBER_VM_NVME NVMe drive(s)"

# --- the program --------------------------------------------------------------
if [[ -f "$R/env.sh" ]]; then
	# shellcheck source=/dev/null
	source "$R/env.sh"
fi
export HOME=/root
cd "$EMBER_VM_CWD" || fail "cannot cd to $EMBER_VM_CWD in the guest"
say "running: ${EMBER_VM_ARGS[*]}  (cwd $EMBER_VM_CWD)"
if ((EMBER_VM_INTERACTIVE)); then
	"${EMBER_VM_ARGS[@]}"
	rc=$?
else
	timeout -k 10 "$EMBER_VM_PROG_TIMEOUT" "${EMBER_VM_ARGS[@]}" </dev/null
	rc=$?
	if ((rc == 124)); then
		fail "program timed out after $EMBER_VM_PROG_TIMEOUT s: ${EMBER_VM_ARGS[*]}"
	fi
fi
say "program exited with status $rc"
echo "exit $rc" >"$R/result"
echo "EMBER-VM-RESULT: exit=$rc"
end_guest
