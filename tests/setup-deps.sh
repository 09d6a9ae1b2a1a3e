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
	# the fio ioengine (tools/fio) builds against fio's source: dpkg-source
	dpkg-dev
	# posix tier: pjdfstest is built with autotools and run with prove (perl)
	autoconf automake libtool perl
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "setup-deps: all ${#packages[@]} packages present"
else
	echo "setup-deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	apt-get install -y -q "${missing[@]}"
fi

# The installed fio's source, configured, for the fio ioengine
# (-Dfio_source=, which tests/run.sh passes). Fetched once into
# /var/cache/ember-fio with a private apt source list; cached afterwards.
# A failed fetch must not stop every other tier: the 'fio' test fails loudly.
if fio_src=$("$(dirname "$0")/../tools/fio/fetch-fio-src.sh"); then
	echo "setup-deps: fio source in $fio_src"
else
	echo "setup-deps: WARNING: could not fetch fio's source; the integration test 'fio' will fail" >&2
fi
