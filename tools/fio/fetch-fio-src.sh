#!/usr/bin/env bash
# Fetches the source of the installed fio from Debian's archive, unpacks it
# with Debian's patches and runs its ./configure, so that tools/fio's external
# ioengine can be compiled against fio.h/ioengines.h/optgroup.h of exactly the
# fio that will load it (fio has no stable plugin ABI: struct thread_data and
# struct io_u must match the binary). Prints the source directory on stdout;
# use it as `meson setup ... -Dfio_source=DIR`.
#
#   tools/fio/fetch-fio-src.sh [CACHE_DIR]     default /var/cache/ember-fio
#   tools/fio/fetch-fio-src.sh --path [CACHE_DIR]
#                      only print where the source is (or would be) kept:
#                      tests/run.sh uses it and never fetches
#
# The system's apt configuration is not touched: a private sources list with
# deb-src lines, private list and package-cache directories under CACHE_DIR,
# and apt options that point at them. Idempotent: a second run with the same
# fio version only prints the directory. Needs fio, dpkg-dev and network
# access to deb.debian.org on the first run; root only if CACHE_DIR is not
# writable by the caller.
set -euo pipefail

path_only=false
if [ "${1:-}" = --path ]; then
	path_only=true
	shift
fi
cache=${1:-/var/cache/ember-fio}
log() { echo "fetch-fio-src: $*" >&2; }

version=$(dpkg-query -W -f='${Version}' fio 2>/dev/null) || {
	log "fio is not installed (apt-get install fio)"
	exit 1
}
upstream=${version#*:}
upstream=${upstream%-*}
srcdir=$cache/fio-$upstream
stamp=$srcdir/.ember-fio-version
if $path_only; then
	echo "$srcdir"
	exit 0
fi

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$version" ] && [ -f "$srcdir/config-host.h" ]; then
	echo "$srcdir"
	exit 0
fi
command -v dpkg-source > /dev/null || {
	log "dpkg-source missing (apt-get install dpkg-dev)"
	exit 1
}

mkdir -p "$cache"
# The private apt tree: our own sources, lists and binary caches, so the
# system's lists and pkgcache.bin stay exactly as they were.
apt_dir=$cache/apt
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
cat > "$apt_dir/sources.list" <<EOF
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $codename main
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $codename-updates main
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian-security $codename-security main
EOF
apt_opts=(
	-o "Dir::Etc::SourceList=$apt_dir/sources.list"
	-o "Dir::Etc::SourceParts=/dev/null"
	-o "Dir::State::Lists=$apt_dir/lists"
	-o "Dir::Cache=$apt_dir/cache"
	# Only the Sources indices; no Packages/Contents/translations.
	-o "Acquire::Languages=none"
	-o "APT::Get::List-Cleanup=false"
)
# As non-root apt cannot drop privileges to _apt; as root the private
# directories must be writable by _apt, which is simpler to avoid.
apt_opts+=(-o "APT::Sandbox::User=$(id -un)")

log "updating private source lists in $apt_dir"
apt-get -q "${apt_opts[@]}" update >&2

dl=$cache/dl
rm -rf "$dl" "$cache"/fio_*.orig.tar.*
mkdir -p "$dl"
log "downloading fio $version source"
(cd "$dl" && apt-get -q "${apt_opts[@]}" source --download-only "fio=$version" >&2)
dsc=$(ls "$dl"/fio_*.dsc)

rm -rf "$srcdir.tmp"
# Debian's patches applied, as in the binary package; the .dsc signature
# belongs to the maintainer and needs debian-keyring to check, so rely on
# apt's verification of the Sources index (which holds the files' hashes).
dpkg-source --no-check -x "$dsc" "$srcdir.tmp" >&2

# Configured as debian/rules does, minus --enable-gfio and --enable-libnbd,
# whose libraries (gtk, libnbd) are not installed here. Only CONFIG_* macros
# used in the headers an engine includes matter: of the libraries Debian's
# build has and this one may lack (numa, rbd, gluster, pmem, nbd, gtk), only
# CONFIG_LIBNUMA appears there, and it only includes numa.h; none changes a
# struct. CONFIG_LIBAIO/CONFIG_RDMA do (members of io_u's engine union), and
# their -dev packages are in tests/setup-deps.sh, as in Debian's build.
log "configuring fio"
(cd "$srcdir.tmp" && ./configure --disable-native --prefix=/usr >&2)
for m in CONFIG_LIBAIO CONFIG_RDMA; do
	grep -q "^#define $m" "$srcdir.tmp/config-host.h" || {
		log "fio's configure found no $m (Debian's fio has it; struct io_u would differ)"
		exit 1
	}
done
echo "$version" > "$srcdir.tmp/.ember-fio-version"
rm -rf "$srcdir"
mv "$srcdir.tmp" "$srcdir"
rm -rf "$dl" "$cache"/fio_*.orig.tar.*
echo "$srcdir"
