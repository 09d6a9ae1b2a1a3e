/* `ember nodes|targets|chains|offline-target|create-chains`: the cluster
 * manager's view and its admin actions, over fs/mgmt/client.h. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "net/auth.h"
#include "ember/errors.h"
#include "fs/mgmt/client.h"
#include "fs/mgmt/proto.h"
#include "tools/ember/cli.h"

int em_cmd_nodes(int argc, char **argv);
int em_cmd_targets(int argc, char **argv);
int em_cmd_chains(int argc, char **argv);
int em_cmd_offline_target(int argc, char **argv);
int em_cmd_create_chains(int argc, char **argv);

#define MAX_MGMTD 8

struct opts {
	const char *name;
	const char *mgmtd[MAX_MGMTD];
	size_t n_mgmtd;
	const char *secret_file;
	bool json;
	unsigned replicas, width;
	uint64_t seed;
	struct em_cli_cluster cl;  /* where mgmtd and secret_file point into */
};

struct session {
	struct em_reactor *r;
	struct em_net *net;
	struct em_rpc *rpc;
	struct em_mgmt_client *c;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ember nodes|targets|chains [--json] [COMMON]\n"
		"       ember offline-target TARGET-ID [COMMON]\n"
		"       ember create-chains --replicas R [--targets-per-node T] [--seed S] [COMMON]\n\n"
		"nodes           storage nodes, their address and last heartbeat\n"
		"targets         targets with their public (chain) and reported local state\n"
		"chains          chains head to tail, each member's state, chain versions\n"
		"offline-target  take a target out of its chain now (it resyncs when back)\n"
		"create-chains   build the chain table over the registered nodes, R replicas each\n\n"
		"COMMON:\n"
		EM_CLI_CLUSTER_HELP
		"  --json              machine-readable output\n");
}

static void add_mgmtd(struct opts *o, char *list)
{
	char *save = NULL;
	for (char *u = strtok_r(list, ",", &save); u && o->n_mgmtd < MAX_MGMTD;
	     u = strtok_r(NULL, ",", &save))
		o->mgmtd[o->n_mgmtd++] = u;
}

/* Returns -1 to go on, else the exit status. */
static int parse(int argc, char **argv, struct opts *o, const char **arg)
{
	static const struct option lo[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "mgmtd", required_argument, NULL, 'm' },
		{ "secret-file", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "replicas", required_argument, NULL, 'r' },
		{ "targets-per-node", required_argument, NULL, 't' },
		{ "seed", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	o->name = argv[0];
	const char *dir = NULL;
	char mgmtd[1024] = ""; /* every --mgmtd, comma-joined */
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'm':
			snprintf(mgmtd + strlen(mgmtd), sizeof(mgmtd) - strlen(mgmtd), "%s%s",
				 *mgmtd ? "," : "", optarg);
			break;
		case 's': o->secret_file = optarg; break;
		case 'j': o->json = true; break;
		case 'r': o->replicas = (unsigned)strtoul(optarg, NULL, 10); break;
		case 't': o->width = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'S': o->seed = strtoull(optarg, NULL, 10); break;
		case 'h': usage(stdout); return EM_EXIT_OK;
		default: usage(stderr); return EM_EXIT_USAGE;
		}
	}
	*arg = optind < argc ? argv[optind++] : NULL;
	if (optind < argc) {
		fprintf(stderr, "ember %s: unexpected '%s'\n", o->name, argv[optind]);
		return EM_EXIT_USAGE;
	}
	if (em_cli_cluster(o->name, dir, *mgmtd ? mgmtd : NULL, o->secret_file, &o->cl) < 0)
		return EM_EXIT_FAIL;
	add_mgmtd(o, o->cl.mgmtd);
	o->secret_file = o->cl.secret;
	return -1;
}

static void session_close(struct session *s)
{
	if (s->rpc)
		em_rpc_destroy(s->rpc);
	em_mgmt_client_destroy(s->c);
	if (s->net)
		em_net_destroy(s->net);
	if (s->r)
		em_reactor_destroy(s->r);
}

static int session_open(const struct opts *o, struct session *s)
{
	uint8_t secret[4096];
	int n = em_auth_read_secret(o->secret_file, secret, sizeof(secret));
	if (n < 0) {
		fprintf(stderr, "ember %s: secret file %s: %s\n", o->name, o->secret_file,
			em_strerror(n));
		return n;
	}
	struct em_rpc_opts ro = { .secret = secret, .secret_len = (size_t)n };
	struct em_mgmt_client_opts co = { .mgmtd = o->mgmtd, .n_mgmtd = o->n_mgmtd };
	int rc = em_reactor_create("ember", &s->r);
	if (rc == 0)
		rc = em_net_create(s->r, NULL, &s->net);
	if (rc == 0)
		rc = em_rpc_create(s->net, &ro, &s->rpc);
	if (rc == 0)
		rc = em_mgmt_client_create(s->r, s->rpc, &co, &s->c);
	if (rc < 0) {
		fprintf(stderr, "ember %s: %s\n", o->name, em_strerror(rc));
		session_close(s);
	}
	return rc;
}

/* One call; prints the failure (with the primary a standby named). */
static int call(const struct opts *o, uint16_t method, const void *req, size_t len, void **rsp,
		size_t *rsp_len)
{
	struct session s = { 0 };
	int rc = session_open(o, &s);
	if (rc < 0)
		return rc;
	rc = em_mgmt_call_wait(s.c, method, req, len, rsp, rsp_len);
	if (rc < 0) {
		fprintf(stderr, "ember %s: %s: %s\n", o->name, o->mgmtd[0], em_strerror(rc));
		free(*rsp);
		*rsp = NULL;
	}
	session_close(&s);
	return rc;
}

static int get_list(const struct opts *o, struct em_mgmt_list *l)
{
	void *rsp;
	size_t len;
	int rc = call(o, EM_MGMT_LIST, NULL, 0, &rsp, &len);
	if (rc < 0)
		return rc;
	rc = em_mgmt_dec_list(rsp, len, l);
	free(rsp);
	if (rc < 0)
		fprintf(stderr, "ember %s: bad answer from mgmtd: %s\n", o->name, em_strerror(rc));
	return rc;
}

static const char *pub_name(const struct em_routing *r, uint32_t target)
{
	int st = em_routing_target_state(r, target);
	return st < 0 ? "-" : em_pub_state_name(st);
}

static void print_nodes(const struct opts *o, const struct em_mgmt_list *l)
{
	const struct em_routing *r = &l->routing;
	if (!o->json)
		printf("%-8s %-32s %-8s %-10s %s\n", "NODE", "ADDRESS", "TARGETS", "HEARTBEAT",
		       "STATUS");
	else
		printf("{\"routing_version\":%llu,\"primary\":\"%s\",\"nodes\":[",
		       (unsigned long long)r->version, l->primary);
	for (size_t i = 0; i < r->nnodes; i++) {
		const struct em_node *n = &r->nodes[i];
		unsigned nt = 0;
		for (size_t j = 0; j < r->ntargets; j++)
			nt += r->targets[j].node == n->id;
		bool alive = l->hb_age_ms[i] < l->hb_lease_ms;
		if (o->json)
			printf("%s{\"id\":%u,\"addr\":\"%s\",\"targets\":%u,\"heartbeat_age_ms\":%llu,"
			       "\"alive\":%s}", i ? "," : "", n->id, n->addr, nt,
			       (unsigned long long)l->hb_age_ms[i], alive ? "true" : "false");
		else
			printf("%-8u %-32s %-8u %7.1fs  %s\n", n->id, n->addr, nt,
			       (double)l->hb_age_ms[i] / 1000, alive ? "alive" : "lease expired");
	}
	if (o->json)
		printf("]}\n");
}

static double pct(uint64_t part, uint64_t whole)
{
	return whole ? 100.0 * (double)part / (double)whole : 0;
}

static void print_targets(const struct opts *o, const struct em_mgmt_list *l)
{
	const struct em_routing *r = &l->routing;
	if (!o->json)
		printf("%-8s %-8s %-8s %-9s %-9s %10s %10s %10s %5s\n", "TARGET", "NODE", "CHAIN",
		       "STATE", "LOCAL", "SIZE", "USED", "FREE", "USE%");
	else
		printf("{\"routing_version\":%llu,\"targets\":[", (unsigned long long)r->version);
	for (size_t i = 0; i < r->ntargets; i++) {
		const struct em_target *t = &r->targets[i];
		uint64_t free_b = t->total_bytes - t->used_bytes;
		if (o->json) {
			printf("%s{\"id\":%u,\"node\":%u,\"chain\":%u,\"state\":\"%s\",\"local\":\"%s\","
			       "\"total_bytes\":%llu,\"used_bytes\":%llu,\"free_bytes\":%llu}",
			       i ? "," : "", t->id, t->node, t->chain, pub_name(r, t->id),
			       em_local_state_name(t->local), (unsigned long long)t->total_bytes,
			       (unsigned long long)t->used_bytes, (unsigned long long)free_b);
			continue;
		}
		char sz[32], us[32], fr[32];
		if (!t->total_bytes) {
			printf("%-8u %-8u %-8u %-9s %-9s %10s %10s %10s %5s\n", t->id, t->node, t->chain,
			       pub_name(r, t->id), em_local_state_name(t->local), "-", "-", "-", "-");
			continue;
		}
		printf("%-8u %-8u %-8u %-9s %-9s %10s %10s %10s %4.0f%%\n", t->id, t->node, t->chain,
		       pub_name(r, t->id), em_local_state_name(t->local),
		       em_fmt_bytes(t->total_bytes, sz, sizeof(sz)),
		       em_fmt_bytes(t->used_bytes, us, sizeof(us)),
		       em_fmt_bytes(free_b, fr, sizeof(fr)), pct(t->used_bytes, t->total_bytes));
	}
	struct em_routing_space sp;
	em_routing_space(r, &sp);
	if (o->json) {
		printf("],\"space\":{\"raw_total_bytes\":%llu,\"raw_used_bytes\":%llu,"
		       "\"total_bytes\":%llu,\"used_bytes\":%llu,\"replicas\":%u}}\n",
		       (unsigned long long)sp.raw_total, (unsigned long long)sp.raw_used,
		       (unsigned long long)sp.total, (unsigned long long)sp.used, sp.replicas);
		return;
	}
	char a[32], b[32], c[32], d[32];
	printf("total: %s raw, %s used (%.0f%%); usable with %u replicas: %s, %s free\n",
	       em_fmt_bytes(sp.raw_total, a, sizeof(a)), em_fmt_bytes(sp.raw_used, b, sizeof(b)),
	       pct(sp.raw_used, sp.raw_total), sp.replicas, em_fmt_bytes(sp.total, c, sizeof(c)),
	       em_fmt_bytes(sp.total - sp.used, d, sizeof(d)));
}

static void print_chains(const struct opts *o, const struct em_mgmt_list *l)
{
	const struct em_routing *r = &l->routing;
	if (o->json)
		printf("{\"routing_version\":%llu,\"chains\":[", (unsigned long long)r->version);
	else
		printf("routing version %llu, primary %s (term %llu)\n%-8s %-8s %s\n",
		       (unsigned long long)r->version, l->primary, (unsigned long long)l->term,
		       "CHAIN", "VERSION", "TARGETS (head first)");
	for (size_t i = 0; i < r->nchains; i++) {
		const struct em_chain *c = &r->chains[i];
		if (o->json)
			printf("%s{\"id\":%u,\"version\":%llu,\"targets\":[", i ? "," : "", c->id,
			       (unsigned long long)c->version);
		else
			printf("%-8u %-8llu", c->id, (unsigned long long)c->version);
		for (unsigned j = 0; j < c->n; j++) {
			const char *st = em_pub_state_name(c->m[j].state);
			if (o->json)
				printf("%s{\"id\":%u,\"state\":\"%s\"}", j ? "," : "", c->m[j].target, st);
			else
				printf(" %u:%s", c->m[j].target, st);
		}
		printf(o->json ? "]}" : "\n");
	}
	if (o->json)
		printf("]}\n");
}

static int run_list(int argc, char **argv, void (*print)(const struct opts *,
							 const struct em_mgmt_list *))
{
	struct opts o = { 0 };
	const char *arg;
	int rc = parse(argc, argv, &o, &arg);
	if (rc >= 0)
		return rc;
	if (arg) {
		fprintf(stderr, "ember %s: unexpected '%s'\n", o.name, arg);
		return EM_EXIT_USAGE;
	}
	struct em_mgmt_list l;
	if (get_list(&o, &l) < 0)
		return EM_EXIT_FAIL;
	print(&o, &l);
	em_mgmt_list_free(&l);
	return EM_EXIT_OK;
}

int em_cmd_nodes(int argc, char **argv)
{
	return run_list(argc, argv, print_nodes);
}

int em_cmd_targets(int argc, char **argv)
{
	return run_list(argc, argv, print_targets);
}

int em_cmd_chains(int argc, char **argv)
{
	return run_list(argc, argv, print_chains);
}

int em_cmd_offline_target(int argc, char **argv)
{
	struct opts o = { 0 };
	const char *arg;
	int rc = parse(argc, argv, &o, &arg);
	if (rc >= 0)
		return rc;
	char *end;
	unsigned long id = arg ? strtoul(arg, &end, 10) : 0;
	if (!arg || *end || id == 0 || id > UINT32_MAX) {
		fprintf(stderr, "ember offline-target: expected a target id\n");
		return EM_EXIT_USAGE;
	}
	uint8_t req[4];
	em_put_le32(req, (uint32_t)id);
	void *rsp;
	size_t len;
	if (call(&o, EM_MGMT_OFFLINE_TARGET, req, sizeof(req), &rsp, &len) < 0)
		return EM_EXIT_FAIL;
	uint64_t version = len >= 8 ? em_get_le64(rsp) : 0;
	free(rsp);
	if (o.json)
		printf("{\"target\":%lu,\"routing_version\":%llu}\n", id, (unsigned long long)version);
	else
		printf("target %lu offline; routing version %llu\n", id, (unsigned long long)version);
	return EM_EXIT_OK;
}

int em_cmd_create_chains(int argc, char **argv)
{
	struct opts o = { 0 };
	const char *arg;
	int rc = parse(argc, argv, &o, &arg);
	if (rc >= 0)
		return rc;
	if (arg || o.replicas < 1 || o.replicas > EM_CHAIN_MAX) {
		fprintf(stderr, "ember create-chains: --replicas 1..%d is required\n", EM_CHAIN_MAX);
		return EM_EXIT_USAGE;
	}
	struct em_mgmt_create_chains m = { .replicas = (uint8_t)o.replicas,
					   .targets_per_node = o.width, .seed = o.seed };
	uint8_t req[16];
	struct em_enc e;
	em_enc_init(&e, req, sizeof(req));
	em_mgmt_enc_create_chains(&e, &m);
	void *rsp;
	size_t len;
	if (call(&o, EM_MGMT_CREATE_CHAINS, req, e.len, &rsp, &len) < 0)
		return EM_EXIT_FAIL;
	uint64_t version = len >= 12 ? em_get_le64(rsp) : 0;
	uint32_t n = len >= 12 ? em_get_le32((uint8_t *)rsp + 8) : 0;
	free(rsp);
	if (o.json)
		printf("{\"chains\":%u,\"replicas\":%u,\"routing_version\":%llu}\n", n, o.replicas,
		       (unsigned long long)version);
	else
		printf("created %u chains of %u replicas; routing version %llu\n", n, o.replicas,
		       (unsigned long long)version);
	return EM_EXIT_OK;
}

int em_cli_mgmt_list(const char *name, char *mgmtd_list, const char *secret_file,
		     struct em_mgmt_list *out)
{
	struct opts o = { .name = name, .secret_file = secret_file };
	add_mgmtd(&o, mgmtd_list);
	return get_list(&o, out);
}
