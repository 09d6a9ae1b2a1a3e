#!/bin/bash
# A whole Ember cluster on one machine: what `ember up` and `ember down` run.
# Installed as `ember-up` next to the daemons; the `ember` CLI finds it beside
# itself. Also usable directly:
#
#   ember-up up   [--dir DIR] [--mount PATH] [--port-base N] [--address IP]
#                 [--target-size SIZE] [--targets-per-node N] [--meta-kv URI]
#   ember-up down [--dir DIR] [--force]
#
# Layout under DIR (default /var/lib/ember):
#   secret             cluster secret (0600)
#   etc/*.ini          daemon configs, written on the first `up`, then kept
#   data/              mgmtd-kv/, meta-kv/ (LMDB unless --meta-kv), targets/nodeI-tS
#   log/*.log          each daemon's stdout+stderr
#   run/*.pid          pids of what runs
#   ember.env          EMBER_* settings the CLI reads (and a shell can source)
#
# The settings of the first `up` are kept in ember.env; later runs reuse them
# unless given again, so a second `up` serves and mounts the same files.
set -u
umask 022

PROG=ember
BIN=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)

die() {
	echo "$PROG: $*" >&2
	exit 1
}

# A program beside this script (a build tree or bin/), else from PATH.
find_bin() {
	if [ -x "$BIN/$1" ]; then echo "$BIN/$1"; else command -v "$1"; fi
}

usage() {
	cat <<EOF
usage: ember up   [--dir DIR] [--mount PATH] [--port-base N] [--address IP]
                  [--target-size SIZE] [--targets-per-node N] [--meta-kv URI]
       ember down [--dir DIR] [--force]

up    starts a single-machine cluster: ember-mgmtd (LMDB), ember-meta (LMDB,
      or the store --meta-kv names),
      3 ember-storage daemons with file-backed targets in chains of 3
      replicas, and an ember-fuse mount. The first run generates the secret
      and configs and formats the targets; later runs reuse them and mount
      the same files. Needs root and /dev/fuse.
down  unmounts, stops the daemons (fuse, meta, storage, then mgmtd) with
      SIGTERM and waits; the data stays. --force unmounts lazily when the
      mount is busy.

--dir DIR               state, configs and logs (default /var/lib/ember)
--mount PATH            mount point (default /mnt/ember)
--port-base N           mgmtd N, meta N+1, storage N+2..N+4, metrics N+80..
                        (default 9100)
--address IP            address the daemons listen on (default 127.0.0.1)
--target-size SIZE      size of each sparse target file (default 4G)
--targets-per-node N    targets per storage daemon (default 2)
--meta-kv URI           the metadata store, e.g. postgresql://user@host/db
                        (default lmdb:DIR/data/meta-kv); first run only

Settings are remembered in DIR/ember.env. See docs/operations.md.
EOF
}

# ---- settings -------------------------------------------------------------

parse() {
	DIR=${EMBER_DIR:-/var/lib/ember}
	local a
	OPT_MOUNT='' OPT_PORT='' OPT_ADDR='' OPT_SIZE='' OPT_TPN='' OPT_KV='' FORCE=0
	while [ $# -gt 0 ]; do
		a=$1
		case "$a" in
		-h | --help) usage; exit 0 ;;
		--force) FORCE=1; shift; continue ;;
		--dir | --mount | --port-base | --address | --target-size | --targets-per-node | --meta-kv)
			[ $# -ge 2 ] || { usage >&2; exit 2; }
			case "$a" in
			--dir) DIR=$2 ;;
			--mount) OPT_MOUNT=$2 ;;
			--port-base) OPT_PORT=$2 ;;
			--address) OPT_ADDR=$2 ;;
			--target-size) OPT_SIZE=$2 ;;
			--targets-per-node) OPT_TPN=$2 ;;
			--meta-kv) OPT_KV=$2 ;;
			esac
			shift 2 ;;
		*) echo "$PROG $CMD: unexpected '$a'" >&2; usage >&2; exit 2 ;;
		esac
	done
	case "$DIR" in /*) ;; *) DIR=$(pwd)/$DIR ;; esac
	if [ -n "$OPT_MOUNT" ]; then
		case "$OPT_MOUNT" in /*) ;; *) OPT_MOUNT=$(pwd)/$OPT_MOUNT ;; esac
	fi
	ENV=$DIR/ember.env
	# Remembered settings, then the flags on top of them.
	EMBER_MOUNT=/mnt/ember EMBER_PORT_BASE=9100 EMBER_ADDRESS=127.0.0.1
	EMBER_TARGET_SIZE=4G EMBER_TARGETS_PER_NODE=2 EMBER_META_KV=
	if [ -f "$ENV" ]; then
		# shellcheck disable=SC1090
		. "$ENV" || die "cannot read $ENV"
	fi
	EMBER_MOUNT=${OPT_MOUNT:-$EMBER_MOUNT}
	EMBER_PORT_BASE=${OPT_PORT:-$EMBER_PORT_BASE}
	EMBER_ADDRESS=${OPT_ADDR:-$EMBER_ADDRESS}
	EMBER_TARGET_SIZE=${OPT_SIZE:-$EMBER_TARGET_SIZE}
	EMBER_TARGETS_PER_NODE=${OPT_TPN:-$EMBER_TARGETS_PER_NODE}
	# The store is fixed by the first run: its files are there.
	EMBER_META_KV=${EMBER_META_KV:-${OPT_KV:-lmdb:$DIR/data/meta-kv}}
	[ -z "$OPT_KV" ] || [ "$OPT_KV" = "$EMBER_META_KV" ] ||
		die "--meta-kv: this cluster's metadata is in $EMBER_META_KV (a new --dir starts another)"
	[[ $EMBER_PORT_BASE =~ ^[0-9]+$ ]] && [ "$EMBER_PORT_BASE" -ge 1 ] &&
		[ "$EMBER_PORT_BASE" -le 65400 ] || die "--port-base: expected 1..65400"
	[[ $EMBER_TARGETS_PER_NODE =~ ^[1-8]$ ]] || die "--targets-per-node: expected 1..8"
	NODES=3 REPLICAS=3
	P_MGMTD=$EMBER_PORT_BASE P_META=$((EMBER_PORT_BASE + 1))
	MGMTD_URL=tcp://$EMBER_ADDRESS:$P_MGMTD META_URL=tcp://$EMBER_ADDRESS:$P_META
	SECRET=$DIR/secret
}

save_env() {
	cat > "$ENV.tmp" <<EOF
# Written by 'ember up'; the ember CLI reads it (--dir), a shell may source it.
EMBER_MOUNT=$EMBER_MOUNT
EMBER_PORT_BASE=$EMBER_PORT_BASE
EMBER_ADDRESS=$EMBER_ADDRESS
EMBER_TARGET_SIZE=$EMBER_TARGET_SIZE
EMBER_TARGETS_PER_NODE=$EMBER_TARGETS_PER_NODE
EMBER_MGMTD=$MGMTD_URL
EMBER_META=$META_URL
EMBER_SECRET_FILE=$SECRET
EMBER_META_KV=$EMBER_META_KV
EMBER_METRICS_MGMTD=$EMBER_ADDRESS:$((EMBER_PORT_BASE + 80))
EOF
	mv "$ENV.tmp" "$ENV" || die "cannot write $ENV"
}

# The daemons of this cluster, in start order, with their config names.
daemons() {
	echo mgmtd
	for i in $(seq 1 $NODES); do echo "storage$i"; done
	echo meta
}

pidof_d() { # pidof_d NAME: the pid in run/NAME.pid if that process lives
	local f=$DIR/run/$1.pid p
	[ -f "$f" ] || return 1
	p=$(cat "$f" 2>/dev/null)
	[[ $p =~ ^[0-9]+$ ]] && kill -0 "$p" 2>/dev/null && echo "$p"
}

mounted() { grep -q " $EMBER_MOUNT fuse.ember " /proc/mounts; }

cli() { "$EMBER_CLI" "$@" --mgmtd "$MGMTD_URL" --secret-file "$SECRET"; }

# ---- preflight: say everything that is missing at once -----------------------

preflight() {
	local missing=() b
	[ "$(id -u)" -eq 0 ] || missing+=("root: run it with sudo (FUSE mount for every user, $DIR)")
	[ -c /dev/fuse ] || missing+=("/dev/fuse: load the module (modprobe fuse) or, in a container, pass --device /dev/fuse --cap-add SYS_ADMIN")
	for b in ember ember-mgmtd ember-meta ember-storage ember-fuse; do
		find_bin "$b" > /dev/null || missing+=("$b: not beside $0 nor on PATH (build: meson setup build && ninja -C build)")
	done
	if [ ${#missing[@]} -eq 0 ]; then
		local running=() d
		for d in $(daemons); do pidof_d "$d" > /dev/null && running+=("$d"); done
		if [ ${#running[@]} -gt 0 ]; then
			echo "$PROG up: already running from $DIR: ${running[*]}" >&2
			echo "  'ember status --dir $DIR' shows it; 'ember down --dir $DIR' stops it" >&2
			exit 1
		fi
		local p
		for p in $P_MGMTD $P_META $(seq $((EMBER_PORT_BASE + 2)) $((EMBER_PORT_BASE + 1 + NODES))) \
			$((EMBER_PORT_BASE + 80)) $((EMBER_PORT_BASE + 81)); do
			if (exec 3<> "/dev/tcp/$EMBER_ADDRESS/$p") 2> /dev/null; then
				missing+=("port $p on $EMBER_ADDRESS is taken (by: $(ss -Hltnp "sport = :$p" 2>/dev/null | sed -n 's/.*users:((\"\([^\"]*\)\".*/\1/p' | head -1)); choose others with --port-base N")
			fi
		done
		mounted && missing+=("$EMBER_MOUNT: an Ember file system is mounted there already")
	fi
	if [ ${#missing[@]} -gt 0 ]; then
		echo "$PROG up: cannot start; missing:" >&2
		printf '  - %s\n' "${missing[@]}" >&2
		exit 1
	fi
	EMBER_CLI=$(find_bin ember)
}

# ---- first run: secret, configs -----------------------------------------------

# [metrics] for a daemon whose schema has it (ember-X --help-config lists it).
metrics_section() { # metrics_section EXE PORT
	if "$1" --help-config 2> /dev/null | grep -q '^\[metrics\] enabled'; then
		printf '\n[metrics]\nenabled = true\nlisten = %s:%d\n' "$EMBER_ADDRESS" "$2"
	fi
}

write_configs() {
	mkdir -p "$DIR"/{etc,log,run,data/mgmtd-kv,data/meta-kv,data/targets} ||
		die "cannot create $DIR"
	if [ ! -s "$SECRET" ]; then
		(umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$SECRET") ||
			die "cannot write $SECRET"
	fi
	local ini=$DIR/etc/mgmtd.ini
	[ -f "$ini" ] || {
		printf '# ember-mgmtd (docs/configuration.md); written by ember up\n[mgmtd]\n'
		printf 'listen = %s\nkv = lmdb:%s/data/mgmtd-kv\nsecret_file = %s\n' \
			"$MGMTD_URL" "$DIR" "$SECRET"
		metrics_section "$(find_bin ember-mgmtd)" $((EMBER_PORT_BASE + 80))
	} > "$ini"
	local nchains=$((NODES * EMBER_TARGETS_PER_NODE / REPLICAS))
	ini=$DIR/etc/meta.ini
	[ -f "$ini" ] || {
		printf '# ember-meta (docs/configuration.md); written by ember up\n[meta]\n'
		printf 'listen = %s\nkv = %s\nsecret_file = %s\n' \
			"$META_URL" "$EMBER_META_KV" "$SECRET"
		printf 'chain_count = %d\nstripe = %d\nmgmtd = %s\n' "$nchains" "$nchains" "$MGMTD_URL"
		metrics_section "$(find_bin ember-meta)" $((EMBER_PORT_BASE + 81))
	} > "$ini"
	# Written by an older `ember up`: the GC and space reports need mgmtd.
	grep -q '^mgmtd *=' "$ini" || sed -i "/^\[meta\]/a mgmtd = $MGMTD_URL" "$ini"
	local i s
	for i in $(seq 1 $NODES); do
		ini=$DIR/etc/storage$i.ini
		[ -f "$ini" ] && continue
		{
			printf '# ember-storage node %d (docs/configuration.md); written by ember up\n' "$i"
			printf '[storage]\nnode = %d\nlisten = tcp://%s:%d\nmgmtd = %s\nsecret_file = %s\n' \
				"$i" "$EMBER_ADDRESS" $((EMBER_PORT_BASE + 1 + i)) "$MGMTD_URL" "$SECRET"
			for s in $(seq 0 $((EMBER_TARGETS_PER_NODE - 1))); do
				printf '\n[target.t%d]\npath = %s/data/targets/node%d-t%d\nid = %d\n' \
					"$s" "$DIR" "$i" "$s" $((i * 1000 + s + 1))
			done
			metrics_section "$(find_bin ember-storage)" $((EMBER_PORT_BASE + 81 + i))
		} > "$ini"
	done
	save_env
}

# Target files of a storage config, formatted once: a second `up` keeps them.
format_targets() {
	local i t
	for i in $(seq 1 $NODES); do
		for t in $(sed -n 's/^path *= *//p' "$DIR/etc/storage$i.ini"); do
			"$EMBER_CLI" target inspect "$t" > /dev/null 2>&1 && continue
			echo "formatting target $t ($EMBER_TARGET_SIZE, sparse)"
			"$EMBER_CLI" target format "$t" --size "$EMBER_TARGET_SIZE" > /dev/null ||
				return 1
		done
	done
}

# ---- processes --------------------------------------------------------------

# start_d NAME EXE ARGS...: runs EXE in its own session (it outlives this
# shell and the terminal), logs to log/NAME.log, waits for its ready line.
start_d() {
	local name=$1 exe=$2 log=$DIR/log/$1.log; shift 2
	echo "=== $(date '+%F %T') ember up: $exe $*" >> "$log"
	# The ready line of this run, not of an earlier one in the same log.
	local from=$(($(wc -l < "$log") + 1))
	setsid "$exe" "$@" >> "$log" 2>&1 < /dev/null &
	local pid=$!
	echo "$pid" > "$DIR/run/$name.pid"
	for _ in $(seq 300); do
		tail -n +"$from" "$log" | grep -q "^$(basename "$exe"): ready " && return 0
		kill -0 "$pid" 2> /dev/null || break
		sleep 0.1
	done
	echo "$PROG up: $name did not start; the end of $log:" >&2
	tail -n +"$from" "$log" | tail -15 | sed 's/^/    /' >&2
	return 1
}

# Every member of every chain serving.
wait_serving() {
	local out
	for _ in $(seq $(($1 * 5))); do
		out=$(cli chains --json 2> /dev/null)
		if echo "$out" | grep -q '"serving"' &&
			! echo "$out" | grep -Eq '"(syncing|waiting|lastsrv|offline)"'; then
			return 0
		fi
		sleep 0.2
	done
	echo "$PROG up: chains not all serving after $1 s:" >&2
	cli chains >&2
	return 1
}

start_mount() {
	local log=$DIR/log/fuse.log
	mkdir -p "$EMBER_MOUNT" || return 1
	echo "=== $(date '+%F %T') ember up: mount $EMBER_MOUNT" >> "$log"
	# -f: stays our child, so its pid is the one we record and stop.
	setsid "$(find_bin ember-fuse)" "$MGMTD_URL" "$EMBER_MOUNT" \
		-o "meta=$META_URL,secret_file=$SECRET" -f >> "$log" 2>&1 < /dev/null &
	local pid=$!
	echo "$pid" > "$DIR/run/fuse.pid"
	for _ in $(seq 100); do
		mounted && return 0
		kill -0 "$pid" 2> /dev/null || break
		sleep 0.1
	done
	echo "$PROG up: mount at $EMBER_MOUNT failed; the end of $log:" >&2
	tail -15 "$log" | sed 's/^/    /' >&2
	return 1
}

stop_pid() { # stop_pid NAME: SIGTERM, wait up to 30 s, then SIGKILL
	local p
	p=$(pidof_d "$1") || { rm -f "$DIR/run/$1.pid"; return 0; }
	kill -TERM "$p" 2> /dev/null
	for _ in $(seq 300); do
		kill -0 "$p" 2> /dev/null || { rm -f "$DIR/run/$1.pid"; return 0; }
		sleep 0.1
	done
	echo "$PROG down: $1 (pid $p) ignored SIGTERM for 30 s; killing it" >&2
	kill -KILL "$p" 2> /dev/null
	rm -f "$DIR/run/$1.pid"
}

do_down() {
	if mounted; then
		if ! umount "$EMBER_MOUNT" 2> /dev/null; then
			if [ "$FORCE" = 1 ]; then
				umount -l "$EMBER_MOUNT" || die "cannot unmount $EMBER_MOUNT"
			else
				echo "$PROG down: $EMBER_MOUNT is busy; nothing stopped. Users:" >&2
				fuser -vm "$EMBER_MOUNT" 2>&1 | sed 's/^/    /' >&2
				die "close them, or 'ember down --force' to unmount lazily"
			fi
		fi
	fi
	stop_pid fuse
	# Clients first, then the servers they use; mgmtd last so it sees the
	# storage daemons leave instead of losing them.
	stop_pid meta
	local i
	for i in $(seq 1 $NODES); do stop_pid "storage$i" & done
	wait
	stop_pid mgmtd
}

summary() {
	local d p cfg
	echo
	echo "Ember is up (state in $DIR)."
	echo
	printf '%-10s %-8s %-26s %-34s %s\n' PROCESS PID ADDRESS CONFIG LOG
	for d in $(daemons) fuse; do
		p=$(pidof_d "$d") || p=-
		case $d in
		mgmtd) a=$MGMTD_URL ;;
		meta) a=$META_URL ;;
		storage*) a=tcp://$EMBER_ADDRESS:$((EMBER_PORT_BASE + 1 + ${d#storage})) ;;
		fuse) a=$EMBER_MOUNT ;;
		esac
		cfg=$DIR/etc/$d.ini
		[ "$d" = fuse ] && cfg="(options: meta=$META_URL)"
		printf '%-10s %-8s %-26s %-34s %s\n' "$d" "$p" "$a" "$cfg" "$DIR/log/$d.log"
	done
	echo
	echo "targets    $DIR/data/targets ($NODES nodes x $EMBER_TARGETS_PER_NODE files of $EMBER_TARGET_SIZE, $REPLICAS replicas)"
	echo "metadata   $(echo "$EMBER_META_KV" | sed -E 's|^lmdb:(.*)|\1 (LMDB)|; s|//([^:@/]*):[^@/]*@|//\1:***@|')    cluster state  $DIR/data/mgmtd-kv (LMDB)"
	echo "secret     $SECRET"
	grep -q '^\[metrics\]' "$DIR/etc/mgmtd.ini" &&
		echo "metrics    http://$EMBER_ADDRESS:$((EMBER_PORT_BASE + 80))/metrics (mgmtd), :$((EMBER_PORT_BASE + 81)) (meta)"
	grep -q '^\[metrics\]' "$DIR/etc/storage1.ini" &&
		echo "           :$((EMBER_PORT_BASE + 82))..$((EMBER_PORT_BASE + 81 + NODES)) (storage 1..$NODES)"
	cat <<EOF

Use it:
  cp some-file $EMBER_MOUNT/ && ls -l $EMBER_MOUNT   files are replicated 3 ways
  ember status --dir $DIR     cluster at a glance (also: nodes, targets, chains)
  ember bench --dir $DIR      write and read through the mount
  ember fsck --dir $DIR       check the metadata
  ember down --dir $DIR       unmount and stop; the data stays for the next 'ember up'
EOF
}

do_up() {
	preflight
	write_configs
	local fail=0
	start_d mgmtd "$(find_bin ember-mgmtd)" -c "$DIR/etc/mgmtd.ini" -l warn || fail=1
	[ $fail = 0 ] && { format_targets || fail=1; }
	local i
	for i in $(seq 1 $NODES); do
		[ $fail = 0 ] || break
		start_d "storage$i" "$(find_bin ember-storage)" -c "$DIR/etc/storage$i.ini" -l warn ||
			fail=1
	done
	# The chain table lives in mgmtd's store: built once, on the first run.
	if [ $fail = 0 ] && cli chains --json 2> /dev/null | grep -q '"chains":\[\]'; then
		cli create-chains --replicas $REPLICAS --targets-per-node "$EMBER_TARGETS_PER_NODE" \
			> /dev/null || fail=1
	fi
	[ $fail = 0 ] && { wait_serving 60 || fail=1; }
	[ $fail = 0 ] && { start_d meta "$(find_bin ember-meta)" -c "$DIR/etc/meta.ini" -l warn || fail=1; }
	[ $fail = 0 ] && { start_mount || fail=1; }
	if [ $fail = 1 ]; then
		echo "$PROG up: stopping what was started; state and logs stay in $DIR" >&2
		do_down
		exit 1
	fi
	summary
}

CMD=${1:-}
[ $# -gt 0 ] && shift
case "$CMD" in
up) parse "$@"; do_up ;;
down)
	parse "$@"
	[ -d "$DIR/run" ] || die "nothing to stop: $DIR/run does not exist"
	[ "$(id -u)" -eq 0 ] || die "needs root: run it with sudo"
	do_down
	echo "Ember is down; data kept in $DIR ('ember up --dir $DIR' brings it back)."
	;;
-h | --help | help) usage ;;
*) usage >&2; exit 2 ;;
esac
