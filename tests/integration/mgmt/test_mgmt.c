/* ember-mgmtd on loopback: real daemons over TCP sharing one LMDB store;
 * this process plays three storage nodes through fs/mgmt/client.h (the
 * same heartbeat loop ember-storage runs) and an operator through the CLI.
 *
 *   test_mgmt PATH/ember-mgmtd PATH/ember
 *
 * Two instances elect one primary; three nodes register two targets each;
 * `ember create-chains --replicas 3`; a node stops heartbeating and within
 * the lease its targets go offline to the chains' tails, versions bumped;
 * it comes back online: waiting -> syncing, and serving once it reports
 * up-to-date; the primary is killed with SIGKILL and the standby takes over
 * after the lease with routing versions still increasing; SIGTERM makes a
 * primary hand over without waiting for the lease. */
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ember/errors.h"
#include "fs/mgmt/client.h"
#include "tap.h"

#define LEASE_MS 1500 /* both the node heartbeat lease and the primary lease */
#define NNODES 3
#define TPN 2 /* targets per node */

static const char secret[] = "mgmt integration secret";
static char dir[64], mgmtd_exe[512], cli_exe[512];
static struct em_reactor *reactor;
static struct em_rpc *rpc;

/* ---- daemons ------------------------------------------------------------- */

struct daemon {
	pid_t pid;
	char url[128];
};

/* Listens on d->url, or on a free port when it is empty. */
static int start_mgmtd(struct daemon *d, int idx)
{
	char ini[128], text[512];
	snprintf(ini, sizeof(ini), "%s/mgmtd%d.ini", dir, idx);
	snprintf(text, sizeof(text),
		 "[mgmtd]\nlisten = %s\nkv = lmdb:%s/kv\nsecret_file = %s/secret\n"
		 "heartbeat_lease = %dms\nprimary_lease = %dms\ntick = 100ms\n",
		 d->url[0] ? d->url : "tcp://127.0.0.1:0", dir, dir, LEASE_MS, LEASE_MS);
	FILE *f = fopen(ini, "w");
	if (!f)
		return -errno;
	fputs(text, f);
	fclose(f);
	int fds[2];
	if (pipe(fds) < 0)
		return -errno;
	d->pid = fork();
	if (d->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(fds[1], 1);
		close(fds[0]);
		execl(mgmtd_exe, mgmtd_exe, "-c", ini, "-l", "warn", (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	FILE *out = fdopen(fds[0], "r");
	char line[256] = "";
	int rc = out && fgets(line, sizeof(line), out) &&
		 sscanf(line, "ember-mgmtd: ready %127s", d->url) == 1 ? 0 : -EIO;
	if (out)
		fclose(out);
	return rc;
}

static void stop_mgmtd(struct daemon *d, int sig)
{
	if (d->pid > 0) {
		kill(d->pid, sig);
		waitpid(d->pid, NULL, 0);
	}
	d->pid = 0;
}

/* ---- the reactor of this process ------------------------------------------ */

static void pump(uint64_t ms)
{
	uint64_t end = em_now_ms() + ms;
	while (em_now_ms() < end)
		em_reactor_run_once(reactor, 10);
}

struct raw {
	bool done;
	int status;
	char hint[128];
};

static void raw_done(void *arg, int status, const void *p, size_t len)
{
	struct raw *w = arg;
	w->done = true;
	w->status = status;
	if (status == EM_MGMT_ENOTPRIMARY) {
		struct em_dec d;
		em_dec_init(&d, p, len);
		em_dec_str(&d, w->hint, sizeof(w->hint));
	}
}

/* One LIST straight to url, no primary seeking: who answers as primary. */
static int raw_list(const char *url, char *hint)
{
	struct raw w = { 0 };
	if (em_rpc_call(rpc, url, EM_MGMT_SERVICE, EM_MGMT_LIST, NULL, 0, NULL, raw_done, &w) < 0)
		return -EIO;
	while (!w.done)
		em_reactor_run_once(reactor, 10);
	if (hint)
		snprintf(hint, 128, "%s", w.hint);
	return w.status;
}

/* ---- the storage side ------------------------------------------------------ */

struct node {
	uint32_t id;
	struct em_mgmt_client *c;
	uint8_t local; /* what this node reports for each of its targets */
};

static struct node nodes[NNODES];
static const char *urls[2];

static unsigned report(void *arg, struct em_target_report *out, unsigned cap)
{
	struct node *n = arg;
	for (unsigned s = 0; s < TPN; s++)
		/* Space: 1 GiB per target, node id x target slot + 1 MiB used. */
		out[s] = (struct em_target_report){ EM_TARGET_ID(n->id, s), n->local, 1ull << 30,
						    (uint64_t)n->id * (s + 1) << 20 };
	return TPN;
}

static int beat(struct node *n)
{
	char addr[64];
	uint32_t targets[TPN];
	for (unsigned s = 0; s < TPN; s++)
		targets[s] = EM_TARGET_ID(n->id, s);
	snprintf(addr, sizeof(addr), "tcp://127.0.0.1:%u", 20000 + n->id);
	struct em_mgmt_hb_opts o = { .node = n->id, .addr = addr, .targets = targets,
				     .ntargets = TPN, .interval_ms = 200, .report = report,
				     .arg = n };
	return em_mgmt_heartbeat_start(n->c, &o);
}

/* ---- the operator ------------------------------------------------------------ */

static struct em_mgmt_client *admin;

static int list(struct em_mgmt_list *l)
{
	void *rsp;
	size_t len;
	int rc = em_mgmt_call_wait(admin, EM_MGMT_LIST, NULL, 0, &rsp, &len);
	if (rc == 0)
		rc = em_mgmt_dec_list(rsp, len, l);
	free(rsp);
	return rc;
}

static int target_state(uint32_t t, uint64_t *version)
{
	struct em_mgmt_list l;
	if (list(&l) < 0)
		return -1;
	int st = em_routing_target_state(&l.routing, t);
	if (version)
		*version = l.routing.version;
	em_mgmt_list_free(&l);
	return st;
}

/* Polls every 20 ms until target t is in state want; returns the ms it took
 * or -1 after timeout_ms. Each distinct state seen on the way is added to
 * *seen as a bit. */
static long wait_state(uint32_t t, int want, uint64_t timeout_ms, unsigned *seen)
{
	uint64_t t0 = em_now_ms();
	while (em_now_ms() - t0 < timeout_ms) {
		int st = target_state(t, NULL);
		if (seen && st >= 0)
			*seen |= 1u << st;
		if (st == want)
			return (long)(em_now_ms() - t0);
		pump(20);
	}
	return -1;
}

/* pumping: run the nodes' heartbeats while the CLI runs. */
static int cli(const char *args, char *out, size_t cap, bool pumping)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "%s %s --mgmtd %s,%s --secret-file %s/secret", cli_exe, args,
		 urls[0], urls[1], dir);
	FILE *p = popen(cmd, "r");
	if (!p)
		return -1;
	/* The nodes' heartbeats run on this thread: keep pumping while the
	 * CLI runs (slow under ASan), or their leases lapse meanwhile. */
	int fd = fileno(p);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	size_t n = 0;
	while (n < cap - 1) {
		ssize_t r = read(fd, out + n, cap - 1 - n);
		if (r > 0)
			n += (size_t)r;
		else if (r == 0 || errno != EAGAIN)
			break;
		else if (pumping)
			pump(10);
		else
			usleep(10000);
	}
	out[n] = '\0';
	int st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int run_cli(const char *args, char *out, size_t cap)
{
	return cli(args, out, cap, true);
}

/* ---- the scenario ------------------------------------------------------------ */

static int primary_of(struct daemon *d)
{
	char hint[128];
	int a = raw_list(d[0].url, hint), b = raw_list(d[1].url, NULL);
	if (a == 0 && b == EM_MGMT_ENOTPRIMARY)
		return 0;
	if (b == 0 && a == EM_MGMT_ENOTPRIMARY && strcmp(hint, d[1].url) == 0)
		return 1;
	return -1;
}

static void election(struct daemon *d, int *primary)
{
	*primary = -1;
	for (int i = 0; i < 100 && *primary < 0; i++) {
		pump(50);
		*primary = primary_of(d);
	}
	ok(*primary >= 0, "two instances on one store: exactly one primary, the other names it");
	struct raw w = { 0 };
	uint8_t req[8] = { 0 };
	em_rpc_call(rpc, d[!*primary].url, EM_MGMT_SERVICE, EM_MGMT_GET_ROUTING, req, 8, NULL,
		    raw_done, &w);
	while (!w.done)
		em_reactor_run_once(reactor, 10);
	is_int(w.status, EM_MGMT_ENOTPRIMARY, "the standby refuses to serve");
	is_str(w.hint, d[*primary].url, "and points at the primary");
}

static void membership(void)
{
	for (int i = 0; i < NNODES; i++)
		ok(beat(&nodes[i]) == 0, "node heartbeat loop started");
	struct em_mgmt_list l = { 0 };
	bool all = false;
	for (int i = 0; i < 100 && !all; i++) {
		pump(50);
		if (list(&l) == 0) {
			all = l.routing.nnodes == NNODES && l.routing.ntargets == NNODES * TPN;
			em_mgmt_list_free(&l);
		}
	}
	ok(all, "three nodes registered with their targets");

	char out[4096];
	is_int(run_cli("create-chains --replicas 3", out, sizeof(out)), 0, "ember create-chains");
	ok(strstr(out, "created 2 chains of 3 replicas"), "two chains of three");
	is_int(run_cli("create-chains --replicas 3", out, sizeof(out)), 1,
	       "a second table is refused");
	is_int(run_cli("chains --json", out, sizeof(out)), 0, "ember chains --json");
	ok(strstr(out, "\"chains\":[{\"id\":1,\"version\":1,"), "chain 1 at version 1");
	is_int(run_cli("nodes", out, sizeof(out)), 0, "ember nodes");
	ok(strstr(out, "tcp://127.0.0.1:20002") && strstr(out, "alive"), "lists the nodes alive");
	is_int(run_cli("targets", out, sizeof(out)), 0, "ember targets");
	ok(strstr(out, "2001") && strstr(out, "serving"), "lists targets serving");
}

/* Chain holding target t, and t's position in it. */
static const struct em_chain *chain_of(const struct em_routing *r, uint32_t t, int *pos)
{
	const struct em_target *tg = em_routing_target(r, t);
	const struct em_chain *c = tg ? em_routing_chain(r, tg->chain) : NULL;
	*pos = c ? em_chain_find(c, t) : -1;
	return c;
}

static void failure_and_resync(void)
{
	struct node *victim = &nodes[1];
	uint32_t t = EM_TARGET_ID(victim->id, 0);
	uint64_t v0;
	is_int(target_state(t, &v0), EM_PUB_SERVING, "target serving before the failure");

	em_mgmt_heartbeat_stop(victim->c);
	long took = wait_state(t, EM_PUB_OFFLINE, LEASE_MS + 2000, NULL);
	ok(took >= 0 && took <= LEASE_MS + 1000, "silent node: its target offline within the lease");
	printf("# offline after %ld ms (lease %d ms)\n", took, LEASE_MS);
	struct em_mgmt_list l;
	ok(list(&l) == 0, "list");
	int pos;
	const struct em_chain *c = chain_of(&l.routing, t, &pos);
	ok(c && pos == (int)c->n - 1, "the failed target moved to the chain's tail");
	ok(c && c->version > 1, "the chain version was bumped");
	ok(l.routing.version > v0, "the routing version was bumped");
	const struct em_target *sp = em_routing_target(&l.routing, EM_TARGET_ID(nodes[0].id, 1));
	ok(sp && sp->total_bytes == 1ull << 30 && sp->used_bytes == (uint64_t)nodes[0].id * 2 << 20,
	   "LIST carries the space a heartbeat reported");
	is_int(em_routing_target_state(&l.routing, EM_TARGET_ID(victim->id, 1)), EM_PUB_OFFLINE,
	       "the node's other target too");
	uint64_t cv = c ? c->version : 0, rv = l.routing.version;
	em_mgmt_list_free(&l);
	pump(500);
	ok(em_mgmt_routing(nodes[0].c)->version >= rv,
	   "a live node's routing cache caught up through its heartbeat replies");
	int hp;
	const struct em_chain *hc = chain_of(em_mgmt_routing(nodes[0].c), t, &hp);
	ok(hc && hp == (int)hc->n - 1 && hc->m[hp].state == EM_PUB_OFFLINE,
	   "and shows the target offline at the tail");

	victim->local = EM_LOCAL_ONLINE; /* back, but missed writes */
	ok(beat(victim) == 0, "node resumes heartbeating");
	unsigned seen = 0;
	ok(wait_state(t, EM_PUB_SYNCING, 5000, &seen) >= 0, "returning target: syncing");
	pump(600);
	is_int(target_state(t, NULL), EM_PUB_SYNCING, "stays syncing while it reports online");
	victim->local = EM_LOCAL_UPTODATE; /* its predecessor's syncDone */
	ok(wait_state(t, EM_PUB_SERVING, 5000, &seen) >= 0, "up-to-date: serving again");
	ok(!(seen & ~(1u << EM_PUB_OFFLINE | 1u << EM_PUB_WAITING | 1u << EM_PUB_SYNCING |
		      1u << EM_PUB_SERVING)), "only offline, waiting, syncing, serving on the way");
	ok(list(&l) == 0, "list");
	c = chain_of(&l.routing, t, &pos);
	ok(c && c->version >= cv + 3, "waiting, syncing, serving: three more chain versions");
	em_mgmt_list_free(&l);

	char out[4096];
	snprintf(out, sizeof(out), "offline-target %u", EM_TARGET_ID(3, 1));
	/* No heartbeat meanwhile: the target's next one starts it back on
	 * its way to serving. */
	is_int(cli(out, out, sizeof(out), false), 0, "ember offline-target");
	is_int(target_state(EM_TARGET_ID(3, 1), NULL), EM_PUB_OFFLINE, "operator's target offline");
	/* A storage daemon reports online for a target it sees waiting, so it
	 * gets resynced (docs/cluster.md). */
	nodes[2].local = EM_LOCAL_ONLINE;
	ok(wait_state(EM_TARGET_ID(3, 1), EM_PUB_SYNCING, 5000, NULL) >= 0, "it resyncs");
	nodes[2].local = EM_LOCAL_UPTODATE;
	ok(wait_state(EM_TARGET_ID(3, 1), EM_PUB_SERVING, 5000, NULL) >= 0, "and serves again");
}

static void failover(struct daemon *d, int primary)
{
	uint64_t v0;
	is_int(target_state(EM_TARGET_ID(1, 0), &v0), EM_PUB_SERVING, "serving before failover");
	uint64_t t0 = em_now_ms();
	stop_mgmtd(&d[primary], SIGKILL);
	int now = -1;
	while (now < 0 && em_now_ms() - t0 < LEASE_MS + 3000) {
		pump(50);
		char hint[128];
		if (raw_list(d[!primary].url, hint) == 0)
			now = !primary;
	}
	uint64_t took = em_now_ms() - t0;
	is_int(now, !primary, "kill -9 the primary: the standby takes over");
	printf("# took over after %llu ms (lease %d ms)\n", (unsigned long long)took, LEASE_MS);
	ok(took <= LEASE_MS + 1500, "within the lease and a few ticks");
	uint64_t v1;
	is_int(target_state(EM_TARGET_ID(1, 0), &v1), EM_PUB_SERVING, "chains unchanged by failover");
	ok(v1 > v0, "the routing version keeps increasing across the failover");
	pump(2 * LEASE_MS);
	uint64_t v2;
	is_int(target_state(EM_TARGET_ID(2, 0), &v2), EM_PUB_SERVING,
	       "nodes found the new primary: no target lost its lease");
	ok(em_mgmt_routing(nodes[2].c)->version >= v1, "node routing caches follow the new primary");

	ok(start_mgmtd(&d[primary], primary + 2) == 0, "restart the killed instance, same address");
	pump(500);
	char hint[128];
	is_int(raw_list(d[primary].url, hint), EM_MGMT_ENOTPRIMARY, "it comes back as standby");

	t0 = em_now_ms();
	stop_mgmtd(&d[!primary], SIGTERM);
	now = -1;
	while (now < 0 && em_now_ms() - t0 < LEASE_MS + 3000) {
		pump(20);
		if (raw_list(d[primary].url, hint) == 0)
			now = primary;
	}
	is_int(now, primary, "SIGTERM the primary: the standby takes over");
	ok(em_now_ms() - t0 < LEASE_MS, "without waiting for the lease (released)");
	uint64_t v3;
	is_int(target_state(EM_TARGET_ID(3, 0), &v3), EM_PUB_SERVING, "still serving");
	ok(v3 > v2, "routing version increased again");
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: test_mgmt EMBER-MGMTD EMBER\n");
		return 2;
	}
	snprintf(mgmtd_exe, sizeof(mgmtd_exe), "%s", argv[1]);
	snprintf(cli_exe, sizeof(cli_exe), "%s", argv[2]);
	signal(SIGPIPE, SIG_IGN);
	snprintf(dir, sizeof(dir), "/tmp/ember-mgmt-XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	char path[128];
	snprintf(path, sizeof(path), "%s/secret", dir);
	FILE *f = fopen(path, "w");
	fputs(secret, f);
	fclose(f);
	chmod(path, 0600); /* daemons refuse a secret others can read */

	struct em_net *net;
	struct em_rpc_opts ro = { .secret = secret, .secret_len = strlen(secret),
				  .default_timeout_ms = 2000 };
	if (em_reactor_create("test", &reactor) || em_net_create(reactor, NULL, &net) ||
	    em_rpc_create(net, &ro, &rpc))
		return 1;

	struct daemon d[2] = { 0 };
	ok(start_mgmtd(&d[0], 0) == 0 && start_mgmtd(&d[1], 1) == 0, "two ember-mgmtd started");
	urls[0] = d[0].url;
	urls[1] = d[1].url;
	int primary;
	election(d, &primary);

	struct em_mgmt_client_opts co = { .mgmtd = urls, .n_mgmtd = 2, .timeout_ms = 5000 };
	ok(em_mgmt_client_create(reactor, rpc, &co, &admin) == 0, "admin client");
	for (int i = 0; i < NNODES; i++) {
		nodes[i] = (struct node){ .id = (uint32_t)i + 1, .local = EM_LOCAL_UPTODATE };
		ok(em_mgmt_client_create(reactor, rpc, &co, &nodes[i].c) == 0, "node client");
	}
	membership();
	failure_and_resync();
	failover(d, primary);

	for (int i = 0; i < NNODES; i++)
		em_mgmt_heartbeat_stop(nodes[i].c);
	stop_mgmtd(&d[0], SIGKILL);
	stop_mgmtd(&d[1], SIGKILL);
	em_rpc_destroy(rpc);
	for (int i = 0; i < NNODES; i++)
		em_mgmt_client_destroy(nodes[i].c);
	em_mgmt_client_destroy(admin);
	em_net_destroy(net);
	em_reactor_destroy(reactor);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", dir);
	return tap_done();
}
