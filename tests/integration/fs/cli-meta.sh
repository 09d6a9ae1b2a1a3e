#!/bin/bash
# `ember meta` over a real store: the namespace the metadata POSIX suite
# leaves behind in an LMDB directory.
#   cli-meta.sh EMBER TEST_META
set -euo pipefail
ember=$1 test_meta=$2
dir=$(mktemp -d /tmp/ember-cli-meta-XXXXXX)
trap 'rm -rf "$dir"' EXIT
"$test_meta" "lmdb:$dir/db" >"$dir/suite.log" || { cat "$dir/suite.log"; exit 1; }

fail() { echo "FAIL: $*"; exit 1; }
out=$("$ember" meta ls --db "$dir/db" /home)
grep -q ' f1$' <<<"$out" || fail "ls /home lacks f1: $out"
grep -q '^lrwxrwxrwx .* lnk -> f1$' <<<"$out" || fail "ls shows symlink targets"
out=$("$ember" meta stat --db "$dir/db" /home/plain --json)
grep -q '"chunk_size": 1048576' <<<"$out" || fail "stat --json has the layout: $out"
out=$("$ember" meta tree --db "$dir/db" /shared)
grep -q '^    deeper/$' <<<"$out" || fail "tree nests: $out"
grep -q '^2 directories, 2 files$' <<<"$out" || fail "tree counts: $out"
if "$ember" meta stat --db "$dir/db" /missing 2>/dev/null; then fail "stat of a missing path succeeds"; fi
if "$ember" meta ls --db "$dir/nothing" 2>/dev/null; then fail "a missing store is not an error"; fi
[ ! -e "$dir/nothing" ] || fail "inspecting created a store"
echo "ember meta: ok"
