/* `ember status`: the cluster at a glance, from one mgmtd LIST answer and
 * /proc/mounts: the primary, nodes alive or dead, targets by state, chains
 * serving or degraded, and the Ember mounts of this machine. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "fs/mgmt/proto.h"
#include "fs/mgmt/state.h"
#include "tools/ember/cli.h"

int em_cmd_status(int argc, char **argv);

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ember status [--dir DIR] [--mgmtd URL[,URL]] [--secret-file PATH] [--json]\n\n"
		"The cluster at a glance: the mgmtd primary, storage nodes alive or dead with\n"
		"the age of their last heartbeat, targets by state, chains serving (every\n"
		"replica serving), degraded (some replica not serving, data still readable) or\n"
		"down (no readable replica), and the Ember file systems mounted here.\n"
		"A node is dead once mgmtd has not heard from it for its heartbeat lease.\n\n"
		EM_CLI_CLUSTER_HELP
		"  --json              one JSON object\n\n"
		"Exits 0 when mgmtd answered, 1 when it could not be reached.\n");
}

struct counts {
	unsigned alive, dead;
	unsigned state[EM_PUB_COUNT];
	unsigned serving, degraded, down;
};

static void count(const struct em_mgmt_list *l, struct counts *c)
{
	const struct em_routing *r = &l->routing;
	for (size_t i = 0; i < r->nnodes; i++) {
		if (l->hb_age_ms[i] < l->hb_lease_ms)
			c->alive++;
		else
			c->dead++;
	}
	for (size_t i = 0; i < r->nchains; i++) {
		const struct em_chain *ch = &r->chains[i];
		unsigned serving = 0, readable = 0;
		for (unsigned j = 0; j < ch->n; j++) {
			enum em_pub_state st = ch->m[j].state;
			c->state[st]++;
			serving += st == EM_PUB_SERVING;
			readable += em_pub_state_readable(st);
		}
		if (serving == ch->n)
			c->serving++;
		else if (readable)
			c->degraded++;
		else
			c->down++;
	}
}

/* Calls fn for each Ember file system in /proc/mounts. */
static void each_mount(void (*fn)(void *arg, const char *dir, bool first), void *arg)
{
	FILE *f = fopen("/proc/mounts", "re");
	char line[4096], dev[1024], dir[1024], type[64];
	bool first = true;
	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%1023s %1023s %63s", dev, dir, type) == 3 &&
		    strcmp(type, "fuse.ember") == 0) {
			fn(arg, dir, first);
			first = false;
		}
	}
	if (f)
		fclose(f);
}

static void mount_json(void *arg, const char *dir, bool first)
{
	printf("%s\"%s\"", first ? "" : ",", dir); /* /proc/mounts escapes odd bytes */
}

static void mount_human(void *arg, const char *dir, bool first)
{
	*(bool *)arg = true;
	printf("%s%s", first ? "" : ", ", dir);
}

static void print_json(const struct em_mgmt_list *l, const struct counts *c)
{
	const struct em_routing *r = &l->routing;
	printf("{\"primary\":\"%s\",\"term\":%llu,\"routing_version\":%llu,"
	       "\"heartbeat_lease_ms\":%u,\"nodes\":[",
	       l->primary, (unsigned long long)l->term, (unsigned long long)r->version,
	       l->hb_lease_ms);
	for (size_t i = 0; i < r->nnodes; i++)
		printf("%s{\"id\":%u,\"addr\":\"%s\",\"heartbeat_age_ms\":%llu,\"alive\":%s}",
		       i ? "," : "", r->nodes[i].id, r->nodes[i].addr,
		       (unsigned long long)l->hb_age_ms[i],
		       l->hb_age_ms[i] < l->hb_lease_ms ? "true" : "false");
	printf("],\"nodes_alive\":%u,\"nodes_dead\":%u,\"targets\":{", c->alive, c->dead);
	for (int s = 0; s < EM_PUB_COUNT; s++)
		printf("%s\"%s\":%u", s ? "," : "", em_pub_state_name(s), c->state[s]);
	struct em_routing_space sp;
	em_routing_space(r, &sp);
	printf("},\"chains\":{\"total\":%zu,\"serving\":%u,\"degraded\":%u,\"down\":%u},"
	       "\"space\":{\"raw_total_bytes\":%llu,\"raw_used_bytes\":%llu,\"total_bytes\":%llu,"
	       "\"used_bytes\":%llu,\"replicas\":%u},\"mounts\":[",
	       r->nchains, c->serving, c->degraded, c->down, (unsigned long long)sp.raw_total,
	       (unsigned long long)sp.raw_used, (unsigned long long)sp.total,
	       (unsigned long long)sp.used, sp.replicas);
	each_mount(mount_json, NULL);
	printf("]}\n");
}

static void print_human(const struct em_mgmt_list *l, const struct counts *c,
			const char *expected_mount)
{
	const struct em_routing *r = &l->routing;
	printf("mgmtd    primary %s (term %llu), routing version %llu\n", l->primary,
	       (unsigned long long)l->term, (unsigned long long)r->version);
	printf("nodes    %u alive, %u dead (heartbeat lease %.1f s)\n", c->alive, c->dead,
	       (double)l->hb_lease_ms / 1000);
	for (size_t i = 0; i < r->nnodes; i++)
		printf("         node %-4u %-28s last heartbeat %6.1f s ago  %s\n", r->nodes[i].id,
		       r->nodes[i].addr, (double)l->hb_age_ms[i] / 1000,
		       l->hb_age_ms[i] < l->hb_lease_ms ? "alive" : "DEAD");
	printf("targets  %zu:", r->ntargets);
	bool any = false;
	for (int s = 0; s < EM_PUB_COUNT; s++) {
		if (!c->state[s])
			continue;
		printf("%s %u %s", any ? "," : "", c->state[s], em_pub_state_name(s));
		any = true;
	}
	printf("%s\n", any ? "" : " none in chains (ember create-chains)");
	printf("chains   %zu: %u serving, %u degraded, %u down\n", r->nchains, c->serving,
	       c->degraded, c->down);
	struct em_routing_space sp;
	em_routing_space(r, &sp);
	char a[32], b[32], f[32];
	if (sp.reported)
		printf("space    %s usable (%u replicas), %s used, %s free (%.0f%% used)\n",
		       em_fmt_bytes(sp.total, a, sizeof(a)), sp.replicas,
		       em_fmt_bytes(sp.used, b, sizeof(b)), em_fmt_bytes(sp.total - sp.used, f, sizeof(f)),
		       sp.total ? 100.0 * (double)sp.used / (double)sp.total : 0);
	else
		printf("space    not reported yet\n");
	printf("mounts   ");
	bool mounted = false;
	each_mount(mount_human, &mounted);
	if (!mounted)
		printf("none here%s%s%s", expected_mount ? " (" : "",
		       expected_mount ? expected_mount : "",
		       expected_mount ? " is not mounted)" : "");
	printf("\n");
}

int em_cmd_status(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "mgmtd", required_argument, NULL, 'm' },
		{ "secret-file", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *dir = NULL, *mgmtd = NULL, *secret = NULL;
	bool json = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'm': mgmtd = optarg; break;
		case 's': secret = optarg; break;
		case 'j': json = true; break;
		case 'h': usage(stdout); return EM_EXIT_OK;
		default: usage(stderr); return EM_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ember status: unexpected '%s'\n", argv[optind]);
		return EM_EXIT_USAGE;
	}
	char mnt[1024];
	struct em_cli_cluster cl;
	struct em_mgmt_list l;
	if (em_cli_cluster("status", dir, mgmtd, secret, &cl) < 0 ||
	    em_cli_mgmt_list("status", cl.mgmtd, cl.secret, &l) < 0)
		return EM_EXIT_FAIL;
	struct counts n = { 0 };
	count(&l, &n);
	if (json)
		print_json(&l, &n);
	else
		print_human(&l, &n, em_cli_setting(dir, "EMBER_MOUNT", mnt, sizeof(mnt)));
	em_mgmt_list_free(&l);
	return EM_EXIT_OK;
}
