#!/usr/bin/env bash
# Installs everything Ember needs to build and to run every test tier on
# Debian 12. Noninteractive and idempotent: a second run changes nothing.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
	echo "setup-deps: needs root to install packages (try: sudo $0)" >&2
	exit 1
fi

packages=(
	# build
	build-essential meson ninja-build pkg-config clang llvm libclang-rt-14-dev
	# libraries (DESIGN.md §1)
	liburing-dev libibverbs-dev librdmacm-dev libnvme-dev libjson-c-dev libaio-dev
	libfuse3-dev fuse3 liblmdb-dev libpq-dev libinih-dev libisal-dev libmicrohttpd-dev
	# integration tier: a real PostgreSQL server
	postgresql
	# vm tier (tests/vm/README.md): QEMU guest with soft-RoCE and emulated NVMe
	qemu-system-x86 busybox-static cpio kmod rdma-core ibverbs-providers ibverbs-utils
	rdmacm-utils perftest nvme-cli fio iproute2
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "setup-deps: all ${#packages[@]} packages present"
	exit 0
fi
echo "setup-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q "${missing[@]}"
