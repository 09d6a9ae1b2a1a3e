# Chunk helpers for the integration scripts that run a cluster from
# ./ember-up with two targets per node (sourced, not run). They use E (the
# ember CLI), D (ember-up's --dir) and SECRET (its secret file).
#
#   addr_of TARGET     its node's address (target id = node*1000 + slot + 1)
#   chunk SUB ARGS...  `ember chunk SUB` with the cluster's secret
#   chunk0 PATH        chunk 0 of the file at PATH: 32 hex digits
#   holders CHUNK      every target holding CHUNK, one per line
#   target_file TARGET the file behind a target (ember-up's data/targets/)

addr_of() {
	"$E" status --dir "$D" --json | jq -r ".nodes[] | select(.id == $(($1 / 1000))) | .addr"
}

chunk() { "$E" chunk "$1" --secret-file "$SECRET" "${@:2}"; }

# fs/client/layout.h: inode in bytes 2..9, chunk index in bytes 10..13.
chunk0() { printf '0000%016x000000000000' "$(stat -c %i "$1")"; }

holders() {
	local t
	for t in 1001 1002 2001 2002 3001 3002; do
		chunk stat --addr "$(addr_of $t)" --target $t "$1" > /dev/null 2>&1 && echo $t
	done
}

target_file() { echo "$D/data/targets/node$(($1 / 1000))-t$(($1 % 1000 - 1))"; }
