# A whole Ember cluster on 127.0.0.1 for integration tests, in bash.
#
#   . tests/integration/lib/cluster.sh
#   cluster_start BUILDDIR WORKDIR [NODES=3] [TARGETS_PER_NODE=2] [REPLICAS=3] [META_INI_EXTRA]
#   ...  $EM_MGMTD $EM_META $EM_SECRET $EM_CLI are set; chains are serving
#   cluster_kill_node I        kill -9 storage node I (1-based); fails unless that killed it
#   cluster_restart_node I     start it again on the same port
#   cluster_wait_serving [S]   until every chain member is serving (S seconds, default 60)
#   cluster_kill_meta          kill -9 ember-meta; fails unless that killed it
#   cluster_restart_meta       start it again on the same port
#   cluster_stop               SIGTERM everything, remove nothing (WORKDIR is the caller's)
#
# Daemons listen on port 0 and announce "NAME: ready URL" on stdout; their
# logs are WORKDIR/NAME.log. Target files are sparse, $CLUSTER_TARGET_SIZE
# (default 512M); the metadata store is $CLUSTER_META_KV (default LMDB in
# WORKDIR), new files' chunks $CLUSTER_CHUNK_SIZE (default 64K).

_cluster_pids=()

# _cluster_spawn NAME LOG EXE ARGS... : starts EXE, waits for its ready line,
# sets _ready_url.
_cluster_spawn() {
	local name=$1 log=$2; shift 2
	: > "$log.out"
	"$@" > "$log.out" 2> "$log" &
	local pid=$!
	_cluster_pids+=("$pid")
	_spawned_pid=$pid
	for _ in $(seq 200); do
		if grep -q "^$name: ready " "$log.out"; then
			_ready_url=$(sed -n "s/^$name: ready \([^ ]*\).*/\1/p" "$log.out" | head -1)
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	echo "cluster: $name did not start; log $log:" >&2
	tail -20 "$log" >&2
	return 1
}

_storage_ini() {
	local i=$1 listen=$2 ini="$CLUSTER_DIR/storage$i.ini"
	{
		printf '[storage]\nnode = %d\nlisten = %s\nmgmtd = %s\nsecret_file = %s\n' \
			"$i" "$listen" "$EM_MGMTD" "$EM_SECRET"
		printf 'heartbeat_interval = 200ms\nforward_timeout = 20s\n'
		for s in $(seq 0 $((CLUSTER_TPN - 1))); do
			printf '[target.t%d]\npath = %s/node%d-t%d\nid = %d\n' \
				"$s" "$CLUSTER_DIR" "$i" "$s" $((i * 1000 + s + 1))
		done
	} > "$ini"
}

_meta_ini() {
	{
		printf '[meta]\nlisten = %s\nkv = %s\nsecret_file = %s\n' "$1" \
			"${CLUSTER_META_KV:-lmdb:$CLUSTER_DIR/meta-kv}" "$EM_SECRET"
		printf 'chunk_size = %s\nmgmtd = %s\ngc_interval = 500ms\n%s\n' \
			"${CLUSTER_CHUNK_SIZE:-64K}" "$EM_MGMTD" "$CLUSTER_META_EXTRA"
	} > "$CLUSTER_DIR/meta.ini"
}

cluster_start() {
	CLUSTER_BUILD=$1 CLUSTER_DIR=$2
	CLUSTER_NODES=${3:-3} CLUSTER_TPN=${4:-2}
	local replicas=${5:-3} meta_extra=${6:-}
	local bin=$CLUSTER_BUILD/tools
	EM_CLI=$bin/ember
	EM_SECRET=$CLUSTER_DIR/secret
	mkdir -p "$CLUSTER_DIR"
	head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$EM_SECRET"
	chmod 600 "$EM_SECRET" # daemons refuse a secret others can read
	printf '[mgmtd]\nlisten = tcp://127.0.0.1:0\nkv = lmdb:%s/mgmtd-kv\nsecret_file = %s\n' \
		"$CLUSTER_DIR" "$EM_SECRET" > "$CLUSTER_DIR/mgmtd.ini"
	printf 'heartbeat_lease = 3s\ntick = 200ms\nprimary_lease = 10s\n' >> "$CLUSTER_DIR/mgmtd.ini"
	mkdir -p "$CLUSTER_DIR/mgmtd-kv" "$CLUSTER_DIR/meta-kv"
	_cluster_spawn ember-mgmtd "$CLUSTER_DIR/mgmtd.log" "$bin/ember-mgmtd" \
		-c "$CLUSTER_DIR/mgmtd.ini" -l warn || return 1
	EM_MGMTD=$_ready_url
	local nchains=$((CLUSTER_NODES * CLUSTER_TPN / replicas))
	CLUSTER_STORAGE_URL=()
	CLUSTER_STORAGE_PID=()
	for i in $(seq 1 "$CLUSTER_NODES"); do
		for s in $(seq 0 $((CLUSTER_TPN - 1))); do
			"$EM_CLI" target format "$CLUSTER_DIR/node$i-t$s" \
				--size "${CLUSTER_TARGET_SIZE:-512M}" > /dev/null || return 1
		done
		_storage_ini "$i" tcp://127.0.0.1:0
		_cluster_spawn ember-storage "$CLUSTER_DIR/storage$i.log" "$bin/ember-storage" \
			-c "$CLUSTER_DIR/storage$i.ini" -l warn || return 1
		CLUSTER_STORAGE_URL[$i]=$_ready_url
		CLUSTER_STORAGE_PID[$i]=$_spawned_pid
	done
	"$EM_CLI" create-chains --replicas "$replicas" --mgmtd "$EM_MGMTD" \
		--secret-file "$EM_SECRET" > /dev/null || return 1
	cluster_wait_serving 30 || return 1
	CLUSTER_META_EXTRA="chain_count = $nchains
stripe = $nchains
$meta_extra"
	_meta_ini tcp://127.0.0.1:0
	_cluster_spawn ember-meta "$CLUSTER_DIR/meta.log" "$bin/ember-meta" \
		-c "$CLUSTER_DIR/meta.ini" -l warn || return 1
	CLUSTER_META_PID=$_spawned_pid
	EM_META=$_ready_url
	export EM_MGMTD EM_META EM_SECRET EM_CLI
}

# Every member of every chain serving, per `ember chains --json`.
cluster_wait_serving() {
	local secs=${1:-60}
	for _ in $(seq $((secs * 5))); do
		local out
		out=$("$EM_CLI" chains --json --mgmtd "$EM_MGMTD" --secret-file "$EM_SECRET" 2>/dev/null)
		if [ -n "$out" ] && echo "$out" | grep -q '"serving"' &&
			! echo "$out" | grep -Eq '"(syncing|waiting|lastsrv|offline)"'; then
			return 0
		fi
		sleep 0.2
	done
	echo "cluster: chains not all serving after ${secs}s:" >&2
	"$EM_CLI" chains --mgmtd "$EM_MGMTD" --secret-file "$EM_SECRET" >&2
	return 1
}

# Fails unless the daemon was running and died by this SIGKILL (status 137).
cluster_kill_node() {
	local st
	kill -9 "${CLUSTER_STORAGE_PID[$1]}" 2>/dev/null
	wait "${CLUSTER_STORAGE_PID[$1]}" 2>/dev/null
	st=$?
	[ "$st" = 137 ] || { echo "cluster: storage node $1 ended with status $st, not by SIGKILL" >&2; return 1; }
}

cluster_restart_node() {
	local i=$1
	_storage_ini "$i" "${CLUSTER_STORAGE_URL[$i]}"
	_cluster_spawn ember-storage "$CLUSTER_DIR/storage$i.log" \
		"$CLUSTER_BUILD/tools/ember-storage" -c "$CLUSTER_DIR/storage$i.ini" -l warn || return 1
	CLUSTER_STORAGE_PID[$i]=$_spawned_pid
}

cluster_kill_meta() {
	local st
	kill -9 "$CLUSTER_META_PID" 2>/dev/null
	wait "$CLUSTER_META_PID" 2>/dev/null
	st=$?
	[ "$st" = 137 ] || { echo "cluster: ember-meta ended with status $st, not by SIGKILL" >&2; return 1; }
}

cluster_restart_meta() {
	_meta_ini "$EM_META"
	_cluster_spawn ember-meta "$CLUSTER_DIR/meta.log" "$CLUSTER_BUILD/tools/ember-meta" \
		-c "$CLUSTER_DIR/meta.ini" -l warn || return 1
	CLUSTER_META_PID=$_spawned_pid
}

cluster_stop() {
	for pid in "${_cluster_pids[@]}"; do
		kill "$pid" 2>/dev/null
	done
	for pid in "${_cluster_pids[@]}"; do
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	_cluster_pids=()
}
