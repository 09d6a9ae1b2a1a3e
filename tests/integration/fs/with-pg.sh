#!/bin/bash
# Runs a test program against a throwaway PostgreSQL server:
#   with-pg.sh PG_SETUP PROGRAM [ARGS...]
# The server's URI is appended to the program's arguments. If the server
# cannot be started the test fails (TAP "Bail out!"), never skips: a green
# run must mean the PostgreSQL backend was really exercised.
set -uo pipefail
setup=$1
shift
dir=$(mktemp -d /tmp/ember-pg-XXXXXX)
trap '"$setup" stop "$dir"' EXIT
if ! uri=$("$setup" start "$dir"); then
	echo "Bail out! PostgreSQL could not be started by $setup"
	exit 1
fi
"$@" "$uri"
