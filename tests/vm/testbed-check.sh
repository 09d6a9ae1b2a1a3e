#!/bin/bash
# Checks the vm testbed itself with the reference tools later benchmarks compare
# against: rxe0 ACTIVE with GID index 1 = ::ffff:192.0.2.1 (ibv_devinfo),
# an RC ping-pong over rxe0 (ibv_rc_pingpong, both ends in the guest) and the
# emulated NVMe drive (nvme-cli). Run it with: tests/vm/vm-run tests/vm/testbed-check.sh
set -euo pipefail

fail() {
	echo "testbed-check: FAIL: $*"
	exit 1
}

ibv_devinfo -d rxe0 -v >/tmp/devinfo.txt 2>&1 || fail "ibv_devinfo -d rxe0 failed: $(cat /tmp/devinfo.txt)"
grep -q 'state:.*PORT_ACTIVE' /tmp/devinfo.txt || fail "rxe0 port 1 is not PORT_ACTIVE"
grep -Eq 'GID\[ *1\]:.*::ffff:192\.0\.2\.1' /tmp/devinfo.txt ||
	fail "rxe0 GID index 1 is not ::ffff:192.0.2.1: $(grep GID /tmp/devinfo.txt)"
echo "testbed-check: rxe0 PORT_ACTIVE, GID index 1 ::ffff:192.0.2.1 (ibv_devinfo)"

timeout 60 ibv_rc_pingpong -d rxe0 -g 1 -n 200 >/tmp/pp-server.txt 2>&1 &
server=$!
sleep 1
timeout 60 ibv_rc_pingpong -d rxe0 -g 1 -n 200 127.0.0.1 >/tmp/pp-client.txt 2>&1 ||
	fail "ibv_rc_pingpong client failed: $(cat /tmp/pp-client.txt)"
wait "$server" || fail "ibv_rc_pingpong server failed: $(cat /tmp/pp-server.txt)"
echo "testbed-check: ibv_rc_pingpong over rxe0: $(grep -m1 'iters in' /tmp/pp-client.txt)"

nvme list -o json >/tmp/nvme.json 2>&1 || fail "nvme list failed: $(cat /tmp/nvme.json)"
grep -q '"DevicePath" *: *"/dev/nvme0n1"' /tmp/nvme.json || fail "nvme list shows no /dev/nvme0n1"
[[ -c /dev/ng0n1 ]] || fail "/dev/ng0n1 missing"
echo "testbed-check: NVMe /dev/nvme0n1 and /dev/ng0n1 present (nvme list)"
echo "testbed-check: PASS"
