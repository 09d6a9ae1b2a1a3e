/* ember-mgmtd: the cluster manager daemon (fs/mgmt/service.h).
 *
 *   ember-mgmtd -c ember-mgmtd.ini [-l LEVEL]
 *   ember-mgmtd --help-config
 *
 * Serves until SIGINT or SIGTERM, then releases the primary lease so a
 * standby takes over at once. Prints "ember-mgmtd: ready URL" on stdout once
 * it listens, for scripts.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "net/auth.h"
#include "ember/errors.h"
#include "fs/kv/kv.h"
#include "fs/mgmt/client.h"
#include "fs/mgmt/service.h"
#include "fs/mgmt/routing.h"
#include "net/core/log.h"
#include "net/daemon.h"
#include "net/metrics_http.h"

#define MAX_SECRET 4096

static const struct em_cfg_option mgmtd_schema[] = {
	{ "mgmtd", "listen", EM_CFG_STRING, "tcp://0.0.0.0:9100", 0, 0,
	  "addresses to serve, comma-separated: tcp://IP:PORT, rdma://IP:PORT" },
	{ "mgmtd", "advertise", EM_CFG_STRING, "", 0, 0,
	  "address clients and standbys are told to use; empty: the first listen address "
	  "(which must not then be a wildcard)" },
	{ "mgmtd", "kv", EM_CFG_STRING, NULL, 0, 0,
	  "cluster state store: lmdb:PATH (one host) or pg:CONNINFO / postgresql://... "
	  "(shared by every mgmtd instance)" },
	{ "mgmtd", "secret_file", EM_CFG_STRING, NULL, 0, 0,
	  "file holding the cluster secret (peers must prove they know it)" },
	{ "mgmtd", "heartbeat_lease", EM_CFG_DURATION, "10s", 100, 3600000,
	  "a storage node not heard from this long has its targets offlined" },
	{ "mgmtd", "tick", EM_CFG_DURATION, "1s", 10, 60000,
	  "how often target states are recomputed and the primary lease renewed" },
	{ "mgmtd", "primary_lease", EM_CFG_DURATION, "10s", 100, 3600000,
	  "primary lease in the KV store; a standby takes over this long after a crash" },
	{ "mgmtd", "clock_margin", EM_CFG_DURATION, "0", 0, 3600000,
	  "stop serving this long before the lease expires (clock skew); 0: 1/5 of the lease" },
	{ "mgmtd", "chain_seed", EM_CFG_INT, "1", 1, INT64_MAX,
	  "seed of the chain table generator for create-chains" },
	EM_CFG_END,
};

struct daemon {
	struct em_config *cfg;
	struct em_reactor *r;
	struct em_net *net;
	struct em_rpc *rpc;
	struct em_kv *kv;
	struct em_mgmt_service *svc;
	struct em_metrics_collector *col;
	struct em_metrics_http *http;
	struct em_daemon_signals sig;
};

/* Callback gauges, on the reactor (the routing state is its alone): whether
 * we are primary and, if so, every target's and chain's state. */
static void collect(void *arg, struct em_metrics_out *out)
{
	const struct em_mgmt_service *svc = arg;
	const struct em_routing *r = em_mgmt_service_routing(svc);
	em_metrics_emit(out, "ember_mgmt_primary", "1 while this mgmtd holds the primary lease",
			NULL, NULL, 0, r ? 1 : 0);
	if (!r)
		return;
	em_metrics_emit(out, "ember_mgmt_routing_version", "version of the routing info", NULL,
			NULL, 0, (double)r->version);
	static const char *const tl[] = { "target", "node", "chain" }, *const cl[] = { "chain" };
	char t[16], n[16], c[16];
	for (size_t i = 0; i < r->ntargets; i++) {
		const struct em_target *tg = &r->targets[i];
		int st = em_routing_target_state(r, tg->id);
		snprintf(t, sizeof(t), "%u", tg->id);
		snprintf(n, sizeof(n), "%u", tg->node);
		snprintf(c, sizeof(c), "%u", tg->chain);
		const char *v[] = { t, n, c };
		em_metrics_emit(out, "ember_mgmt_target_state",
				"public state: 0 serving, 1 syncing, 2 waiting, 3 lastsrv, "
				"4 offline; -1 in no chain", tl, v, 3, st < 0 ? -1 : st);
	}
	for (size_t i = 0; i < r->nchains; i++) {
		snprintf(c, sizeof(c), "%u", r->chains[i].id);
		const char *v[] = { c };
		em_metrics_emit(out, "ember_mgmt_chain_version",
				"chain version, bumped by every change of order or state", cl, v, 1,
				(double)r->chains[i].version);
	}
}

static int start_metrics(struct daemon *d)
{
	int rc = em_metrics_add_collector(em_metrics_default(), d->r, collect, d->svc, &d->col);
	if (rc == 0)
		rc = em_metrics_http_from_config(d->cfg, &d->http);
	/* Before the ready line, so scripts that wait for it know the port
	 * (which port 0 leaves to the kernel). */
	if (rc == 0 && d->http)
		printf("ember-mgmtd: metrics port %d\n", em_metrics_http_port(d->http));
	return rc;
}

static int start(struct daemon *d)
{
	const struct em_config *cfg = d->cfg;
	char err[256], advert[EM_NODE_ADDR_MAX];
	uint8_t secret[MAX_SECRET];
	int n = em_auth_read_secret(em_config_str(cfg, "mgmtd", "secret_file"), secret,
				    sizeof(secret));
	if (n < 0) {
		EM_ERR("mgmtd", "secret_file %s: %s", em_config_str(cfg, "mgmtd", "secret_file"),
		       em_strerror(n));
		return n;
	}
	int rc = em_kv_open(em_config_str(cfg, "mgmtd", "kv"), NULL, &d->kv, err, sizeof(err));
	if (rc < 0) {
		EM_ERR("mgmtd", "%s", err);
		return rc;
	}
	struct em_net_config nc;
	em_net_config_from(cfg, &nc);
	struct em_rpc_opts ro = { .secret = secret, .secret_len = (size_t)n };
	rc = em_reactor_create("mgmtd", &d->r);
	if (rc == 0)
		rc = em_net_create(d->r, &nc, &d->net);
	if (rc == 0)
		rc = em_rpc_create(d->net, &ro, &d->rpc);
	snprintf(advert, sizeof(advert), "%s", em_config_str(cfg, "mgmtd", "advertise"));
	if (rc == 0)
		rc = em_daemon_listen(d->rpc, em_config_str(cfg, "mgmtd", "listen"), "mgmtd", advert,
				      sizeof(advert));
	if (rc >= 0 && (strstr(advert, "//0.0.0.0:") || strstr(advert, "//[::]:"))) {
		EM_ERR("mgmtd", "[mgmtd] advertise is needed when listening on a wildcard address");
		rc = -EINVAL;
	}
	struct em_mgmt_service_opts so = {
		.kv = d->kv,
		.self = advert,
		.hb_lease_ms = em_config_duration_ms(cfg, "mgmtd", "heartbeat_lease"),
		.tick_ms = em_config_duration_ms(cfg, "mgmtd", "tick"),
		.primary_lease_ms = em_config_duration_ms(cfg, "mgmtd", "primary_lease"),
		.clock_margin_ms = em_config_duration_ms(cfg, "mgmtd", "clock_margin"),
		.chain_seed = (uint64_t)em_config_int(cfg, "mgmtd", "chain_seed"),
	};
	if (rc >= 0 && (rc = em_mgmt_service_create(d->r, d->rpc, &so, &d->svc)) < 0)
		EM_ERR("mgmtd", "service: %s (is tick shorter than the lease minus the margin?)",
		       em_strerror(rc));
	if (rc == 0)
		rc = start_metrics(d);
	if (rc == 0) {
		printf("ember-mgmtd: ready %s\n", advert);
		fflush(stdout);
	}
	return rc;
}

static void stop(struct daemon *d)
{
	em_metrics_http_stop(d->http);
	em_metrics_del_collector(em_metrics_default(), d->col);
	if (d->svc)
		em_mgmt_service_stop(d->svc);
	if (d->rpc) {
		em_daemon_drain(d->rpc, d->r, 5000); /* no option: mgmtd calls are short */
		em_rpc_destroy(d->rpc);
	}
	em_mgmt_service_destroy(d->svc);
	if (d->net)
		em_net_destroy(d->net);
	em_daemon_unwatch_signals(&d->sig);
	if (d->r)
		em_reactor_destroy(d->r);
	em_kv_close(d->kv);
	em_config_free(d->cfg);
}

int main(int argc, char **argv)
{
	struct daemon d = { .sig.fd = -1 };
	int st = em_daemon_load_config(argc, argv, "ember-mgmtd", mgmtd_schema, &d.cfg);
	if (st >= 0)
		return st;
	em_daemon_block_signals(NULL);
	int rc = start(&d);
	if (rc == 0)
		rc = em_daemon_watch_signals(&d.sig, d.r, "mgmtd");
	if (rc == 0)
		rc = em_reactor_run(d.r);
	stop(&d);
	return rc < 0 ? 1 : 0;
}
