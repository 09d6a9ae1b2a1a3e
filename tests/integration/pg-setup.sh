#!/bin/bash
# A throwaway PostgreSQL server on loopback for integration tests.
#
#   pg-setup.sh start DIR   install PostgreSQL if missing, create a cluster in
#                           DIR, start it on 127.0.0.1 with its socket in DIR,
#                           create database "ember", print its connection URI
#                           (the only line on stdout; progress goes to stderr)
#   pg-setup.sh stop DIR    stop that server and delete DIR
#
# Idempotent installation (apt-get, Debian 12's postgresql is version 15).
# The port starts at $EMBER_PG_PORT (default 54329) and moves up past ports
# in use, so parallel test runs each get their own server. initdb refuses to
# run as root, so as root the server runs as the postgres user.
set -euo pipefail

log() { echo "pg-setup: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

as_root() {
	if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi
}

pg_bindir() {
	local d
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
		if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then echo "$d"; return 0; fi
	done
	return 1
}

install_pg() {
	if pg_bindir >/dev/null; then return 0; fi
	log "installing PostgreSQL with apt-get"
	export DEBIAN_FRONTEND=noninteractive
	as_root apt-get update -qq >&2 || die "apt-get update failed"
	as_root apt-get install -y -qq --no-install-recommends postgresql >&2 ||
		die "apt-get install postgresql failed"
	pg_bindir >/dev/null || die "PostgreSQL installed but no initdb found under /usr/lib/postgresql"
}

# Runs a command as the cluster owner: postgres when we are root.
as_owner() {
	if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

port_busy() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

start() {
	local dir=$1 bin port tries
	install_pg
	bin=$(pg_bindir)
	mkdir -p "$dir"
	[ -z "$(ls -A "$dir")" ] || die "$dir is not empty"
	if [ "$(id -u)" = 0 ]; then
		id postgres >/dev/null 2>&1 || die "no postgres user (is the postgresql package installed?)"
		chown postgres: "$dir"
	fi
	chmod 700 "$dir"

	as_owner "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C \
		>"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "initdb failed"; }

	port=${EMBER_PG_PORT:-54329}
	for tries in $(seq 1 50); do
		if port_busy "$port"; then port=$((port + 1)); continue; fi
		if as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
			-o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" \
			start >&2; then
			echo "$port" >"$dir/port"
			break
		fi
		# Lost a race for the port to another run: try the next one.
		tail -5 "$dir/server.log" >&2 || true
		port=$((port + 1))
	done
	[ -f "$dir/port" ] || die "could not start PostgreSQL (see $dir/server.log)"

	as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres ember >&2 ||
		die "createdb failed"
	log "PostgreSQL $("$bin/pg_ctl" --version | awk '{print $3}') up on 127.0.0.1:$port, data in $dir"
	echo "postgresql://postgres@127.0.0.1:$port/ember"
}

stop() {
	local dir=$1 bin
	[ -d "$dir" ] || return 0
	if [ -f "$dir/data/postmaster.pid" ] && bin=$(pg_bindir); then
		as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >&2 || true
	fi
	rm -rf "$dir"
}

case "${1:-}" in
start) [ $# = 2 ] || die "usage: $0 start DIR"; start "$2" ;;
stop) [ $# = 2 ] || die "usage: $0 stop DIR"; stop "$2" ;;
*) echo "usage: $0 start DIR | stop DIR" >&2; exit 2 ;;
esac
