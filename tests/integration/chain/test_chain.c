/* Chain replication end to end: ember-mgmtd and three ember-storage daemons
 * on 127.0.0.1 over TCP, one file target each, one chain of three.
 *
 *   test_chain PATH/ember-mgmtd PATH/ember-storage
 *
 * A writer (fs/chain/client.h) writes random ranges of a few chunks and
 * records what was acknowledged. Each round a child kills one daemon with
 * SIGKILL while the writer runs (head, middle and tail in turn); the writer
 * carries on through the routing change; the daemon restarts, waits to be
 * offlined, resyncs and serves again. A round that cannot run (no chain
 * from mgmtd, a daemon that died before the kill) fails. At the end every
 * replica is read directly through its chunk service: each acknowledged
 * byte is there, bytes never written read as zeros, and the three copies of
 * each chunk are identical.
 *
 * A write may fail only during a kill (from the kill until the chain serves
 * on three targets again), and only by returning an error: each such write
 * is reported and counted, and each of its bytes must read back as either
 * what it was before or what the write wrote (the three copies identical,
 * so every replica took the same outcome); later writes avoid those bytes
 * so that the check has them to look at. A failure outside a kill fails
 * the test.
 *
 * EMBER_CHAIN_KILLS=N runs N kill rounds (default 3) and
 * EMBER_CHAIN_KILL_MS=MS writes MS milliseconds through each kill (default
 * 3000); raise meson's timeout to match (meson test --timeout-multiplier).
 *
 * Chain truncates and
 * removes reach every replica. Stale chain versions and writes to a
 * non-head target are refused with their codes.
 *
 *   test_chain PATH/ember-mgmtd PATH/ember-storage soak
 *
 * runs the soak of soak.c on the same cluster instead, and
 *
 *   test_chain PATH/ember-mgmtd PATH/ember-storage basic|soak rdma IP DEV1 DEV2 DEV3
 *
 * runs either over verbs, every daemon listening on IP, their targets on
 * the devices (the vm tier: the guest's file systems have no O_DIRECT). */
#include <sys/stat.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include "block/service/client.h"
#include "ember/errors.h"
#include "fs/chain/client.h"
#include "fs/chain/proto.h"
#include "fs/mgmt/client.h"
#include "tap.h"
#include "chain_test.h"

#define NCHUNK 4
#define CHUNK (256u << 10)
#define ROUNDS 3		/* kill rounds; EMBER_CHAIN_KILLS overrides */
#define KILL_WRITE_MS 3000	/* writing through each kill; EMBER_CHAIN_KILL_MS */
#define KILL_DELAY_MS 300	/* from the round's start to the kill */
#define LEASE_MS 1500
#define MAXALT 8		/* failed writes over one byte that the check can follow */

const char secret[] = "chain integration secret";
char dir[64], mgmtd_url[128];
static char mgmtd_exe[512], storage_exe[512], listen_url[128];
static const char *devs[NNODES]; /* NULL: a file in dir */
static pid_t mgmtd_pid;
struct node nodes[NNODES];

/* Starts a daemon and waits for its "NAME: ready URL" line. */
static pid_t spawn(const char *exe, const char *ini, const char *name, char *url)
{
	int fds[2];
	if (pipe(fds) < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(fds[1], 1);
		close(fds[0]);
		execl(exe, exe, "-c", ini, "-l", "warn", (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	FILE *out = fdopen(fds[0], "r");
	char line[256] = "", want[64];
	snprintf(want, sizeof(want), "%s: ready ", name);
	int ok = out && fgets(line, sizeof(line), out) && !strncmp(line, want, strlen(want)) &&
		 sscanf(line + strlen(want), "%127s", url) == 1;
	if (out)
		fclose(out);
	return ok ? pid : -1;
}

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -errno;
	fputs(text, f);
	return fclose(f) ? -errno : 0;
}

int start_node(int i, bool first)
{
	struct node *n = &nodes[i];
	char text[1024], path[128];
	snprintf(path, sizeof(path), "%s/t%d", dir, i + 1);
	if (devs[i])
		snprintf(path, sizeof(path), "%s", devs[i]);
	if (first) {
		int fd = devs[i] ? -2 : open(path, O_CREAT | O_RDWR, 0600);
		if (fd == -1 || (fd >= 0 && ftruncate(fd, 512ll << 20) < 0))
			return -errno;
		if (fd >= 0)
			close(fd);
		struct em_engine_format_opts fo = { 0 };
		int rc = em_engine_format(path, &fo);
		if (rc)
			return rc;
		n->target = EM_TARGET_ID((uint32_t)i + 1, 0);
		snprintf(n->ini, sizeof(n->ini), "%s/storage%d.ini", dir, i + 1);
	}
	/* A restart keeps its port so the log reads simply; mgmtd would take a
	 * new address too. */
	snprintf(text, sizeof(text),
		 "[storage]\nnode = %d\nlisten = %s\nmgmtd = %s\nsecret_file = %s/secret\n"
		 "heartbeat_interval = 200ms\nforward_timeout = 20s\n"
		 "[target.t%d]\npath = %s\nid = %u\n",
		 i + 1, first ? listen_url : n->url, mgmtd_url, dir, i + 1, path,
		 n->target);
	if (write_file(n->ini, text))
		return -EIO;
	n->pid = spawn(storage_exe, n->ini, "ember-storage", n->url);
	return n->pid > 0 ? 0 : -EIO;
}

/* ---- cluster state through mgmtd ----------------------------------------- */

static struct em_reactor *reactor;
static struct em_net *net;
static struct em_rpc *rpc;
static struct em_mgmt_client *admin;
uint32_t chain_id;

static int list(struct em_mgmt_list *l)
{
	void *rsp;
	size_t len;
	int rc = em_mgmt_call_wait(admin, EM_MGMT_LIST, NULL, 0, &rsp, &len);
	memset(l, 0, sizeof(*l));
	if (rc == 0)
		rc = em_mgmt_dec_list(rsp, len, l);
	free(rsp);
	return rc;
}

/* The first chain, copied; 0 on success. */
int get_chain(struct em_chain *out)
{
	struct em_mgmt_list l;
	int rc = list(&l);
	if (rc == 0 && l.routing.nchains == 0)
		rc = -ENOENT;
	if (rc == 0)
		*out = l.routing.chains[0];
	em_mgmt_list_free(&l);
	return rc;
}

bool all_serving(void)
{
	struct em_chain c;
	if (get_chain(&c))
		return false;
	for (unsigned i = 0; i < c.n; i++)
		if (c.m[i].state != EM_PUB_SERVING)
			return false;
	return c.n == NNODES;
}

/* ---- the writer ------------------------------------------------------------ */

static struct em_chain_client *cl;
/* model: each byte as the last acknowledged write left it (0 if none did);
 * known: an acknowledged write covers it; alt: what the failed writes since
 * then would have left there, each as likely as model. */
static uint8_t model[NCHUNK][CHUNK], known[NCHUNK][CHUNK];
static uint8_t alt[NCHUNK][CHUNK][MAXALT], nalt[NCHUNK][CHUNK];
static unsigned acked, failed_in_kill, failed_outside, alt_overflow;
/* A kill round: from the moment the killer is seen done (it exits right
 * after its kill(2)) until the chain serves on three targets again, a write
 * may fail. */
static bool in_kill, killed;
static pid_t killer_pid;
static int killer_status;
static unsigned acked_at_kill;

static bool kill_done(void)
{
	if (in_kill && !killed && waitpid(killer_pid, &killer_status, WNOHANG) == killer_pid) {
		killed = true;
		acked_at_kill = acked;
	}
	return killed;
}
static uint64_t rng = 88172645463325252ull;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static struct em_chunk_id chunk_id(unsigned k)
{
	struct em_chunk_id id = { { 0 } };
	id.b[0] = 0xc4;
	id.b[15] = (uint8_t)(k + 1);
	return id;
}

/* Whether [off, off + len) of chunk k holds bytes of a failed write. */
static bool touches_failed(unsigned k, uint32_t off, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++)
		if (nalt[k][off + i])
			return true;
	return false;
}

static void write_one(void)
{
	static uint8_t buf[32768];
	unsigned k;
	uint32_t len, off;
	/* Steer clear of a failed write's bytes (a few tries), so that they
	 * are still there for verify() to find old or new. */
	for (int tries = 0;; tries++) {
		k = (unsigned)(rnd() % NCHUNK);
		len = 512 + (uint32_t)(rnd() % (sizeof(buf) - 512));
		off = (uint32_t)(rnd() % (CHUNK - len));
		if (tries == 16 || !touches_failed(k, off, len))
			break;
	}
	for (uint32_t i = 0; i < len; i++)
		buf[i] = (uint8_t)rnd();
	struct em_chunk_id id = chunk_id(k);
	int rc = em_chain_write(cl, chain_id, &id, off, buf, len, NULL);
	if (rc == 0) {
		memcpy(&model[k][off], buf, len);
		memset(&known[k][off], 1, len);
		memset(&nalt[k][off], 0, len);
		acked++;
		return;
	}
	/* Maybe applied, maybe not: either outcome is checked later. */
	bool allowed = in_kill && kill_done();
	if (allowed)
		failed_in_kill++;
	else
		failed_outside++;
	printf("# write of chunk %u [%u, +%u) failed %s: %s\n", k, off, len,
	       allowed ? "during a kill" : "OUTSIDE any kill", em_strerror(rc));
	for (uint32_t i = 0; i < len; i++) {
		uint8_t *n = &nalt[k][off + i];
		if (*n < MAXALT)
			alt[k][off + i][(*n)++] = buf[i];
		else
			alt_overflow++;
	}
}

/* Byte b of chunk k may read v: what the last acknowledged write (or
 * nothing: 0) left, or what a failed write since then wrote. */
static bool byte_ok(unsigned k, uint32_t b, uint8_t v)
{
	if (v == model[k][b])
		return true;
	for (unsigned i = 0; i < nalt[k][b]; i++)
		if (v == alt[k][b][i])
			return true;
	return false;
}

static void write_for(uint64_t ms)
{
	uint64_t end = em_now_ms() + ms;
	while (em_now_ms() < end)
		write_one();
}

/* ---- verification ------------------------------------------------------------ */

/* Query (and with data, read) chunk id on node i through its chunk
 * service: the result's status, *m filled when it exists. */
int replica_get(int i, const struct em_chunk_id *id, struct em_chunk_meta *m, void *data,
		uint32_t len)
{
	struct em_cs_client *c;
	struct em_cs_client_opts o = { .url = nodes[i].url, .secret = secret,
				       .secret_len = strlen(secret) };
	int rc = em_cs_client_create(&o, &c);
	if (rc)
		return rc;
	struct em_cs_io io = { .item = { .target = nodes[i].target, .id = *id, .len = len },
			       .data = data };
	struct em_cs_result res;
	rc = em_cs_client_batch(c, EM_CS_QUERY, &io, 1, &res);
	if (rc == 0 && res.status == 0)
		*m = res.meta;
	if (rc == 0 && res.status == 0 && data)
		rc = em_cs_client_batch(c, EM_CS_READ, &io, 1, &res);
	em_cs_client_destroy(c);
	return rc ? rc : res.status;
}

static void verify(void)
{
	static uint8_t got[CHUNK];
	struct em_chunk_meta metas[NNODES][NCHUNK];
	memset(metas, 0, sizeof(metas));
	for (int i = 0; i < NNODES; i++) {
		struct em_cs_client *c;
		struct em_cs_client_opts o = { .url = nodes[i].url, .secret = secret,
					       .secret_len = strlen(secret) };
		if (em_cs_client_create(&o, &c)) {
			ok(0, "chunk client to a storage daemon");
			continue;
		}
		unsigned bad = 0;
		for (unsigned k = 0; k < NCHUNK; k++) {
			struct em_cs_io io = { .item = { .target = nodes[i].target, .id = chunk_id(k),
							 .len = CHUNK },
					       .data = got };
			struct em_cs_result res;
			memset(got, 0, sizeof(got));
			int rc = em_cs_client_batch(c, EM_CS_QUERY, &io, 1, &res);
			if (rc == 0 && res.status == 0)
				metas[i][k] = res.meta;
			rc = rc ? rc : em_cs_client_batch(c, EM_CS_READ, &io, 1, &res);
			if (rc || res.status || metas[i][k].pending_ver) {
				bad++;
				continue;
			}
			/* Past the chunk's length got stays 0, as unwritten bytes read. */
			for (uint32_t b = 0; b < CHUNK; b++)
				if (!byte_ok(k, b, got[b])) {
					bad++;
					printf("# target %u chunk %u byte %u: %u, want %u%s (%s)\n",
					       nodes[i].target, k, b, got[b], model[k][b],
					       nalt[k][b] ? " or a failed write's byte" : "",
					       known[k][b] ? "acknowledged" : "never acknowledged");
					break;
				}
		}
		is_int(bad, 0, "every acknowledged byte is on this replica, committed; unwritten "
			       "ones zero, failed writes' old or new");
		em_cs_client_destroy(c);
	}
	unsigned same = 0;
	for (unsigned k = 0; k < NCHUNK; k++)
		same += metas[0][k].crc == metas[1][k].crc && metas[1][k].crc == metas[2][k].crc &&
			metas[0][k].length == metas[1][k].length &&
			metas[1][k].length == metas[2][k].length &&
			metas[0][k].commit_ver == metas[2][k].commit_ver;
	is_int(same, NCHUNK, "the three replicas of every chunk are identical (length, crc, version)");
	unsigned rd_ok = 0;
	for (unsigned k = 0; k < NCHUNK; k++) {
		struct em_chunk_id id = chunk_id(k);
		int n = em_chain_read(cl, chain_id, &id, 0, got, CHUNK);
		bool good = n >= 0;
		for (uint32_t b = 0; good && b < CHUNK; b++)
			good = byte_ok(k, b, b < (uint32_t)n ? got[b] : 0);
		rd_ok += good;
	}
	is_int(rd_ok, NCHUNK, "reads through the chain client return the acknowledged bytes");
}

/* ---- version and head checks ------------------------------------------------- */

static void raw_done(void *arg, int status, const void *p, size_t len)
{
	(void)p;
	(void)len;
	struct raw *w = arg;
	w->done = true;
	w->status = status;
}

int raw_start(const char *url, uint16_t method, const void *req, size_t len,
	      const struct em_rpc_call_opts *co, struct raw *w)
{
	memset(w, 0, sizeof(*w));
	return em_rpc_call(rpc, url, EM_CHAIN_SERVICE, method, req, len, co, raw_done, w);
}

int raw_wait(struct raw *w)
{
	while (!w->done)
		em_reactor_run_once(reactor, 10);
	return w->status;
}

static int raw_write(const char *url, uint32_t target, uint64_t ver)
{
	struct em_chain_update_req u = { .chain = chain_id, .chain_ver = ver, .target = target,
					 .id = chunk_id(0) };
	uint8_t req[EM_CHAIN_UPDATE_REQ_SIZE];
	int n = em_chain_enc_update(req, sizeof(req), &u);
	struct raw w;
	if (n < 0 || raw_start(url, EM_CHAIN_WRITE, req, (size_t)n, NULL, &w))
		return -EIO;
	return raw_wait(&w);
}

/* Truncate and remove through the chain reach every replica. */
static void trims(void)
{
	static uint8_t got[CHUNK];
	struct em_chunk_id id0 = chunk_id(0), id1 = chunk_id(1), idn = chunk_id(NCHUNK);
	struct em_chain_ack ack0, ack;
	is_int(em_chain_truncate(cl, chain_id, &id0, 1000, &ack0), 0, "truncate a chunk");
	is_int(ack0.length, 1000, "the truncate's answer has the new length");
	is_int(em_chain_remove(cl, chain_id, &id1), 0, "remove a chunk");
	is_int(em_chain_remove(cl, chain_id, &id1), 0, "remove it again: still 0");
	is_int(em_chain_truncate(cl, chain_id, &idn, 4096, &ack), 0,
	       "truncate a chunk that does not exist");
	is_int(ack.length, 0, "it is not created");
	unsigned good = 0;
	for (int i = 0; i < NNODES; i++) {
		struct em_chunk_meta m = { 0 };
		bool ok0 = replica_get(i, &id0, &m, got, 1000) == 0 && m.length == 1000 &&
			   m.commit_ver == ack0.commit_ver && !m.pending_ver;
		for (uint32_t b = 0; ok0 && b < 1000; b++)
			ok0 = byte_ok(0, b, got[b]);
		good += ok0 && replica_get(i, &id1, &m, NULL, 0) == -ENOENT &&
			replica_get(i, &idn, &m, NULL, 0) == -ENOENT;
	}
	is_int(good, NNODES, "every replica: truncated chunk cut with its bytes, removed chunks gone");
	is_int(em_chain_read(cl, chain_id, &id1, 0, got, 16), -ENOENT,
	       "a read of the removed chunk: ENOENT");
}

static void refusals(void)
{
	struct em_chain c;
	if (get_chain(&c)) {
		ok(0, "chain for the refusal checks");
		return;
	}
	const char *head = NULL, *mid = NULL;
	for (int i = 0; i < NNODES; i++) {
		if (nodes[i].target == c.m[0].target)
			head = nodes[i].url;
		if (nodes[i].target == c.m[1].target)
			mid = nodes[i].url;
	}
	is_int(raw_write(head, c.m[0].target, c.version - 1), -EM_ECHAINVER,
	       "a write with a stale chain version: EM_ECHAINVER");
	is_int(raw_write(mid, c.m[1].target, c.version), -EM_ENOTARGET,
	       "a write to a target that is not the head: EM_ENOTARGET");
}

/* ---- the scenario -------------------------------------------------------------- */

static int setup(void)
{
	char path[128], text[512];
	snprintf(path, sizeof(path), "%s/secret", dir);
	write_file(path, secret);
	chmod(path, 0600); /* daemons refuse a secret others can read */
	snprintf(path, sizeof(path), "%s/mgmtd.ini", dir);
	snprintf(text, sizeof(text),
		 "[mgmtd]\nlisten = %s\nkv = lmdb:%s/kv\nsecret_file = %s/secret\n"
		 "heartbeat_lease = %dms\nprimary_lease = 10s\ntick = 100ms\n",
		 listen_url, dir, dir, LEASE_MS);
	write_file(path, text);
	mgmtd_pid = spawn(mgmtd_exe, path, "ember-mgmtd", mgmtd_url);
	if (mgmtd_pid <= 0)
		return -EIO;
	const char *urls[1] = { mgmtd_url };
	struct em_rpc_opts ro = { .secret = secret, .secret_len = strlen(secret) };
	struct em_mgmt_client_opts mo = { .mgmtd = urls, .n_mgmtd = 1 };
	int rc = em_reactor_create("test", &reactor);
	if (rc == 0)
		rc = em_net_create(reactor, NULL, &net);
	if (rc == 0)
		rc = em_rpc_create(net, &ro, &rpc);
	if (rc == 0)
		rc = em_mgmt_client_create(reactor, rpc, &mo, &admin);
	for (int i = 0; rc == 0 && i < NNODES; i++)
		rc = start_node(i, true);
	if (rc)
		return rc;
	struct em_mgmt_list l;
	bool all = false;
	for (int i = 0; i < 100 && !all; i++) {
		usleep(50000);
		if (list(&l) == 0)
			all = l.routing.ntargets == NNODES;
		em_mgmt_list_free(&l);
	}
	if (!all)
		return -ETIMEDOUT;
	uint8_t req[32];
	struct em_enc e;
	em_enc_init(&e, req, sizeof(req));
	struct em_mgmt_create_chains cc = { .replicas = 3 };
	em_mgmt_enc_create_chains(&e, &cc);
	void *rsp;
	size_t len;
	rc = em_mgmt_call_wait(admin, EM_MGMT_CREATE_CHAINS, req, e.len, &rsp, &len);
	free(rsp);
	struct em_chain c = { 0 };
	if (rc == 0)
		rc = get_chain(&c);
	chain_id = c.id;
	return rc ? rc : chain_client(42, &cl);
}

int chain_client(uint64_t id, struct em_chain_client **out)
{
	const char *mg[1] = { mgmtd_url };
	struct em_chain_client_opts co = { .mgmtd = mg, .n_mgmtd = 1, .secret = secret,
					   .secret_len = strlen(secret), .client_id = id,
					   .timeout_ms = 60000 };
	return em_chain_client_create(&co, out);
}

static bool wait_all_serving(uint64_t ms)
{
	uint64_t end = em_now_ms() + ms;
	while (em_now_ms() < end) {
		if (all_serving())
			return true;
		write_for(100); /* the writer keeps going during the resync */
	}
	return false;
}

/* A count from the environment: def when unset, 0 when not a number > 0. */
static unsigned env_count(const char *name, unsigned def)
{
	const char *v = getenv(name);
	if (!v || !*v)
		return def;
	char *end;
	unsigned long n = strtoul(v, &end, 10);
	if (*end || n == 0 || n > 1000000) {
		printf("# %s=%s: want a number > 0\n", name, v);
		return 0;
	}
	return (unsigned)n;
}

static void round_kill(int r, unsigned write_ms)
{
	char what[128];
	struct em_chain c;
	int rc = get_chain(&c);
	/* A round that cannot run fails, rather than pass without a kill. */
	if (rc || c.n != NNODES) {
		snprintf(what, sizeof(what), "round %d: the chain from mgmtd, to pick a victim", r);
		ok(0, what);
		printf("#   get_chain: %s, %u members\n", rc ? em_strerror(rc) : "ok", rc ? 0 : c.n);
		return;
	}
	/* Head, middle, tail in turn. */
	uint32_t victim_target = c.m[r % NNODES].target;
	int v = 0;
	while (v < NNODES && nodes[v].target != victim_target)
		v++;
	if (v == NNODES || waitpid(nodes[v].pid, NULL, WNOHANG) != 0) {
		snprintf(what, sizeof(what), "round %d: the victim (target %u) is a running daemon",
			 r, victim_target);
		ok(0, what);
		return;
	}
	pid_t killer = fork();
	if (killer == 0) {
		usleep(KILL_DELAY_MS * 1000);
		_exit(kill(nodes[v].pid, SIGKILL) ? 1 : 0);
	}
	if (killer < 0) {
		snprintf(what, sizeof(what), "round %d: fork the killer", r);
		ok(0, what);
		return;
	}
	in_kill = true;
	killed = false;
	killer_pid = killer;
	unsigned before = acked;
	uint64_t end = em_now_ms() + write_ms;
	while (em_now_ms() < end) {
		kill_done();
		write_one();
	}
	if (!kill_done()) { /* not seen yet: no write came after it */
		waitpid(killer, &killer_status, 0);
		killed = true;
		acked_at_kill = acked;
	}
	bool kill_ok = WIFEXITED(killer_status) && WEXITSTATUS(killer_status) == 0;
	if (!kill_ok) /* the round fails; the daemon goes all the same */
		kill(nodes[v].pid, SIGKILL);
	int nst = -1;
	waitpid(nodes[v].pid, &nst, 0);
	printf("# round %d: killed node %d (chain position %d); %u writes acknowledged before "
	       "the kill, %u after\n", r, v + 1, r % NNODES, acked_at_kill - before,
	       acked - acked_at_kill);
	snprintf(what, sizeof(what), "round %d: the daemon died by our SIGKILL", r);
	ok(kill_ok && WIFSIGNALED(nst) && WTERMSIG(nst) == SIGKILL, what);
	ok(acked > acked_at_kill, "the writer made progress after the kill");
	is_int(start_node(v, false), 0, "the killed daemon restarts");
	ok(wait_all_serving(60000), "it resyncs and the chain is back to three serving targets");
	in_kill = false;
	write_for(500);
}

int main(int argc, char **argv)
{
	bool soak_mode = argc >= 4 && !strcmp(argv[3], "soak");
	if (argc != 3 && argc != 4 && argc != 6 + NNODES) {
		fprintf(stderr, "usage: test_chain PATH/ember-mgmtd PATH/ember-storage "
				"[basic|soak [tcp|rdma IP DEV1 DEV2 DEV3]]\n");
		return 2;
	}
	bool remote = argc == 6 + NNODES;
	snprintf(listen_url, sizeof(listen_url), "%s://%s:0", remote ? argv[4] : "tcp",
		 remote ? argv[5] : "127.0.0.1");
	for (int i = 0; remote && i < NNODES; i++)
		devs[i] = argv[6 + i];
	snprintf(mgmtd_exe, sizeof(mgmtd_exe), "%s", argv[1]);
	snprintf(storage_exe, sizeof(storage_exe), "%s", argv[2]);
	snprintf(dir, sizeof(dir), "/tmp/ember-chain-XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	signal(SIGPIPE, SIG_IGN);
	int rc = setup(), soak_status = 0;
	if (soak_mode) {
		soak_status = soak(rc); /* its own TAP stream: tap.h counts per file */
	} else if (ok(rc == 0, "mgmtd, three storage daemons, one chain of three")) {
		ok(wait_all_serving(10000), "the chain serves");
		write_for(1000);
		ok(acked > 0 && failed_outside == 0, "writes are acknowledged");
		unsigned rounds = env_count("EMBER_CHAIN_KILLS", ROUNDS);
		unsigned write_ms = env_count("EMBER_CHAIN_KILL_MS", KILL_WRITE_MS);
		if (rounds && write_ms >= 2 * KILL_DELAY_MS) {
			printf("# %u kill rounds, %u ms of writes through each\n", rounds, write_ms);
			for (unsigned r = 0; r < rounds; r++)
				round_kill((int)r, write_ms);
		} else {
			ok(0, "EMBER_CHAIN_KILLS > 0, EMBER_CHAIN_KILL_MS >= 600");
		}
		verify();
		trims();
		refusals();
		printf("# %u writes acknowledged; %u failed during kills (each returned its error; "
		       "its bytes checked as old or new), %u outside\n", acked, failed_in_kill,
		       failed_outside);
		is_int(failed_outside, 0, "no write failed outside a kill");
		is_int(alt_overflow, 0, "every byte of a failed write could be checked");
	}
	em_chain_client_destroy(cl);
	for (int i = 0; i < NNODES; i++)
		if (nodes[i].pid > 0) {
			kill(nodes[i].pid, SIGTERM);
			waitpid(nodes[i].pid, NULL, 0);
		}
	if (mgmtd_pid > 0) {
		kill(mgmtd_pid, SIGTERM);
		waitpid(mgmtd_pid, NULL, 0);
	}
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (!getenv("EMBER_KEEP") && system(cmd)) {
		/* best effort */
	}
	return soak_mode ? soak_status : tap_done();
}
