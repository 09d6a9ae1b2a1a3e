# TAP output and teardown for the integration scripts that run a cluster
# from ./ember-up (sourced, not run):
#
#   . tests/integration/lib/tap.sh
#   tap_need_root_fuse          exit 77 (meson's skip) without root or /dev/fuse
#   trap tap_cleanup EXIT       after setting E (the ember CLI), D (ember-up's
#                               --dir) and T (the temp dir holding it)
#   check NAME CMD...           one TAP line; CMD's stdout becomes comments
#   tap_done                    the plan line, exit 0 or 1
#
# Set CHECK_STDERR=1 before checks to show CMD's stderr as comments too;
# otherwise it goes to the test log as it is.

failed=0 n=0

tap_need_root_fuse() {
	if [ "$(id -u)" -ne 0 ] || [ ! -c /dev/fuse ]; then
		echo "1..0 # SKIP needs root and /dev/fuse"
		exit 77
	fi
}

# Takes the cluster down whatever happened; keeps the state and logs of a
# failed run for a look.
tap_cleanup() {
	"$E" down --dir "$D" --force > /dev/null 2>&1
	if [ "$failed" = 0 ]; then rm -rf "$T"; else echo "# state and logs kept in $T" >&2; fi
}

check() {
	n=$((n + 1))
	local out rc
	if [ "${CHECK_STDERR:-0}" = 1 ]; then out=$("${@:2}" 2>&1); else out=$("${@:2}"); fi
	rc=$?
	[ -z "$out" ] || echo "$out" | sed 's/^/# /'
	if [ $rc = 0 ]; then echo "ok $n - $1"; else echo "not ok $n - $1"; failed=1; fi
}

# The plan comes last: the number of checks is known only after they ran.
tap_done() {
	echo "1..$n"
	exit $failed
}
