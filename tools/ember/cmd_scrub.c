/* `ember scrub status|start|stop`: the storage daemons' scrubbers
 * (docs/chain.md), asked node by node over the chain service. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "net/auth.h"
#include "ember/errors.h"
#include "fs/chain/proto.h"
#include "fs/mgmt/client.h"
#include "fs/mgmt/proto.h"
#include "net/client_stack.h"
#include "tools/ember/cli.h"

int em_cmd_scrub(int argc, char **argv);

#define MAX_SECRET 4096
#define CALL_TIMEOUT_MS 10000

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ember scrub status|start|stop [--target ID] [--dir DIR] [--mgmtd URL[,URL]]\n"
		"                  [--secret-file PATH] [--json]\n\n"
		"Every storage daemon scrubs its targets: it reads every committed chunk at a\n"
		"bounded rate ([storage] scrub_rate, default 32 MiB/s per target), so the\n"
		"engine checks every 4 KiB block against its CRC32C, heals a bad chunk from\n"
		"another replica, and compares each chunk's version, length and CRC with the\n"
		"chain successor's. A pass starts every [storage] scrub_interval (default\n"
		"168h, counted from the daemon's start) or on `start`.\n\n"
		"  status              each target: pass progress, passes done, bad blocks\n"
		"                      found, chunks repaired, unrepairable, divergent\n"
		"  start               begin a pass now on every target (or --target ID)\n"
		"  stop                end the running passes\n"
		"  --target ID         only this target\n"
		EM_CLI_CLUSTER_HELP
		"  --json              one JSON object\n\n"
		"Exits 0 when every node answered and no target has an unrepairable chunk,\n"
		"1 otherwise, 2 on bad usage.\n");
}

struct call {
	bool done;
	int status;
	struct em_chain_scrub_stat st[EM_CHAIN_SCRUB_MAX];
	uint32_t n;
};

static void on_reply(void *arg, int status, const void *p, size_t len)
{
	struct call *c = arg;
	c->done = true;
	c->status = status ? status
			   : em_chain_dec_scrub_rsp(p, len, c->st, EM_CHAIN_SCRUB_MAX, &c->n);
}

static int ask(struct em_reactor *r, struct em_rpc *rpc, const char *url,
	       const struct em_chain_scrub_req *q, struct call *c)
{
	uint8_t req[16];
	int n = em_chain_enc_scrub(req, sizeof(req), q);
	struct em_rpc_call_opts co = { .timeout_ms = CALL_TIMEOUT_MS };
	int rc = n < 0 ? n
		       : em_rpc_call(rpc, url, EM_CHAIN_SERVICE, EM_CHAIN_SCRUB, req, (size_t)n, &co,
				     on_reply, c);
	while (rc == 0 && !c->done)
		rc = em_reactor_run_once(r, 100) < 0 ? -EIO : 0;
	return rc ? rc : c->status;
}

static const char *when(uint64_t ms, char *buf, size_t len)
{
	if (!ms)
		return "never";
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	strftime(buf, len, "%Y-%m-%d %H:%M:%S", localtime_r(&t, &tm));
	return buf;
}

static void print_stat(const struct em_chain_scrub_stat *s, bool json, bool first)
{
	if (json) {
		printf("%s\n    {\"target\": %u, \"running\": %s, \"chunks_done\": %llu, "
		       "\"chunks_total\": %llu, \"bytes_done\": %llu, \"passes\": %llu, "
		       "\"last_pass_ms\": %llu, \"checksum_errors\": %llu, \"repaired\": %llu, "
		       "\"unrepairable\": %llu, \"divergent\": %llu}", first ? "" : ",", s->target,
		       s->running ? "true" : "false", (unsigned long long)s->chunks_done,
		       (unsigned long long)s->chunks_total, (unsigned long long)s->bytes_done,
		       (unsigned long long)s->passes, (unsigned long long)s->last_pass_ms,
		       (unsigned long long)s->errors, (unsigned long long)s->repaired,
		       (unsigned long long)s->unrepairable, (unsigned long long)s->divergent);
		return;
	}
	char b[32], w[32];
	printf("%-8u %-8s %7llu/%-7llu %10s %6llu  %-19s %6llu %8llu %12llu %9llu\n", s->target,
	       s->running ? "running" : "idle", (unsigned long long)s->chunks_done,
	       (unsigned long long)s->chunks_total, em_fmt_bytes(s->bytes_done, b, sizeof(b)),
	       (unsigned long long)s->passes, when(s->last_pass_ms, w, sizeof(w)),
	       (unsigned long long)s->errors, (unsigned long long)s->repaired,
	       (unsigned long long)s->unrepairable, (unsigned long long)s->divergent);
}

int em_cmd_scrub(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "mgmtd", required_argument, NULL, 'm' },
		{ "secret-file", required_argument, NULL, 's' },
		{ "target", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *dir = NULL, *mgmtd = NULL, *secret = NULL;
	struct em_chain_scrub_req q = { 0 };
	bool json = false;
	char *end;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'm': mgmtd = optarg; break;
		case 's': secret = optarg; break;
		case 'j': json = true; break;
		case 't':
			q.target = (uint32_t)strtoul(optarg, &end, 10);
			if (*end || !q.target) {
				fprintf(stderr, "ember scrub: bad --target '%s'\n", optarg);
				return EM_EXIT_USAGE;
			}
			break;
		case 'h': usage(stdout); return EM_EXIT_OK;
		default: usage(stderr); return EM_EXIT_USAGE;
		}
	}
	const char *op = optind < argc ? argv[optind++] : NULL;
	if (!op || optind < argc) {
		usage(stderr);
		return EM_EXIT_USAGE;
	}
	if (!strcmp(op, "status"))
		q.op = EM_CHAIN_SCRUB_STATUS;
	else if (!strcmp(op, "start"))
		q.op = EM_CHAIN_SCRUB_START;
	else if (!strcmp(op, "stop"))
		q.op = EM_CHAIN_SCRUB_STOP;
	else {
		fprintf(stderr, "ember scrub: unknown '%s' (status, start or stop)\n", op);
		return EM_EXIT_USAGE;
	}
	struct em_cli_cluster cl;
	if (em_cli_cluster("scrub", dir, mgmtd, secret, &cl) < 0)
		return EM_EXIT_FAIL;
	static uint8_t key[MAX_SECRET];
	int n = em_auth_read_secret(cl.secret, key, sizeof(key));
	if (n < 0) {
		fprintf(stderr, "ember scrub: secret file %s: %s\n", cl.secret, em_strerror(n));
		return EM_EXIT_FAIL;
	}
	struct em_mgmt_list l;
	if (em_cli_mgmt_list("scrub", cl.mgmtd, cl.secret, &l) < 0)
		return EM_EXIT_FAIL;
	struct em_rpc_opts ro = { .secret = key, .secret_len = (size_t)n };
	struct em_reactor *r = NULL;
	struct em_net *net = NULL;
	struct em_rpc *rpc = NULL;
	int rc = em_client_stack_create("scrub", NULL, &ro, &r, &net, &rpc);
	if (rc) {
		fprintf(stderr, "ember scrub: %s\n", em_strerror(rc));
		em_client_stack_release(r, net);
		em_mgmt_list_free(&l);
		return EM_EXIT_FAIL;
	}
	const struct em_routing *rt = &l.routing;
	bool fail = false, first = true, found = !q.target;
	uint64_t bad = 0;
	if (json)
		printf("{\"targets\": [");
	else
		printf("%-8s %-8s %15s %10s %6s  %-19s %6s %8s %12s %9s\n", "TARGET", "SCRUB",
		       "CHUNKS", "READ", "PASSES", "LAST PASS", "ERRORS", "REPAIRED",
		       "UNREPAIRABLE", "DIVERGENT");
	for (size_t i = 0; i < rt->nnodes; i++) {
		const struct em_node *nd = &rt->nodes[i];
		bool mine = false;
		for (size_t j = 0; j < rt->ntargets; j++)
			mine |= rt->targets[j].node == nd->id &&
				(!q.target || rt->targets[j].id == q.target);
		if (!mine)
			continue;
		found = true;
		struct call ans = { 0 };
		rc = ask(r, rpc, nd->addr, &q, &ans);
		if (rc) {
			fprintf(stderr, "ember scrub: node %u at %s: %s\n", nd->id, nd->addr,
				em_strerror(rc));
			fail = true;
			continue;
		}
		for (uint32_t k = 0; k < ans.n; k++) {
			print_stat(&ans.st[k], json, first);
			first = false;
			bad += ans.st[k].unrepairable;
		}
	}
	if (!found) {
		fprintf(stderr, "ember scrub: mgmtd knows no target %u\n", q.target);
		fail = true;
	}
	if (json)
		printf("\n  ], \"unrepairable\": %llu, \"ok\": %s}\n", (unsigned long long)bad,
		       fail || bad ? "false" : "true");
	em_rpc_destroy(rpc);
	em_client_stack_release(r, net);
	em_mgmt_list_free(&l);
	return fail || bad ? EM_EXIT_FAIL : EM_EXIT_OK;
}
