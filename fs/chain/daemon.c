/* ember-storage's lifecycle (daemon.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/auth.h"
#include "block/service/server.h"
#include "ember/errors.h"
#include "fs/chain/daemon.h"
#include "fs/chain/server.h"
#include "fs/mgmt/client.h"
#include "net/core/log.h"
#include "net/daemon.h"
#include "net/metrics_http.h"

#define MAX_SECRET 4096
#define MAX_MGMTD 16

static const struct em_cfg_option sd_schema[] = {
	{ "storage", "node", EM_CFG_INT, NULL, 1, UINT32_MAX, "this node's id in the cluster" },
	{ "storage", "listen", EM_CFG_STRING, NULL, 0, 0,
	  "addresses to serve, comma-separated: tcp://IP:PORT, rdma://IP:PORT" },
	{ "storage", "advertise", EM_CFG_STRING, "", 0, 0,
	  "address peers and clients dial; empty: the first listen address with its port" },
	{ "storage", "mgmtd", EM_CFG_STRING, NULL, 0, 0, "mgmtd URLs, comma-separated" },
	{ "storage", "secret_file", EM_CFG_STRING, NULL, 0, 0,
	  "file holding the cluster secret (mode 0600, at least 16 bytes)" },
	{ "storage", "heartbeat_interval", EM_CFG_DURATION, "1s", 10, 60000,
	  "how often targets' states are reported; keep well under mgmtd's heartbeat_lease" },
	{ "storage", "forward_timeout", EM_CFG_DURATION, "30s", 100, 3600000,
	  "how long a replica keeps retrying its successor before failing a write" },
	{ "storage", "queue_depth", EM_CFG_INT, "128", 1, 4096, "device queue depth per target" },
	{ "storage", "scrub_rate", EM_CFG_SIZE, "32M", 1 << 20, 1ll << 40,
	  "bytes a second the scrubber reads from each target" },
	{ "storage", "scrub_interval", EM_CFG_DURATION, "168h", 0, 1ll << 40,
	  "a scrub pass of every target this often (the first one this long after start); "
	  "0: only on `ember scrub start`" },
	{ "target.*", "path", EM_CFG_STRING, NULL, 0, 0,
	  "device or file formatted with `ember target format`" },
	{ "target.*", "id", EM_CFG_INT, NULL, 1, UINT32_MAX,
	  "target id, as mgmtd knows it (node * 1000 + slot + 1 by convention)" },
	{ "target.*", "backend", EM_CFG_STRING, "auto", 0, 0, "auto, nvme, uring or aio" },
	EM_CFG_END,
};

struct sd {
	struct em_config *cfg;
	struct em_reactor *r;
	struct em_net *net;
	struct em_rpc *rpc;
	struct em_cs_server *cs;
	struct em_mgmt_client *mgmt;
	struct em_chain_server *chain;
	struct em_metrics_http *http;
	struct em_engine *eng[EM_MGMT_MAX_TARGETS];
	uint32_t ids[EM_MGMT_MAX_TARGETS];
	unsigned n;
	char advert[EM_NODE_ADDR_MAX];
	char *mgmtd_copy;
	const char *mgmtd[MAX_MGMTD];
	struct em_daemon_signals sig;
};

static int open_targets(struct sd *d)
{
	size_t n = em_config_instance_count(d->cfg, "target");
	if (n == 0 || n > EM_MGMT_MAX_TARGETS) {
		EM_ERR("storage", "%zu [target.NAME] sections; expected 1 to %d", n,
		       EM_MGMT_MAX_TARGETS);
		return -EINVAL;
	}
	struct em_engine_opts o = { .queue_depth =
					    (uint32_t)em_config_int(d->cfg, "storage", "queue_depth") };
	for (size_t i = 0; i < n; i++) {
		const char *sec = em_config_instance(d->cfg, "target", i);
		const char *path = em_config_str(d->cfg, sec, "path");
		const char *name = sec + strlen("target.");
		uint32_t id = (uint32_t)em_config_int(d->cfg, sec, "id");
		int rc = em_bdev_kind_parse(em_config_str(d->cfg, sec, "backend"), &o.kind);
		if (rc) {
			EM_ERR("storage", "[%s] backend: expected auto, nvme, uring or aio", sec);
			return rc;
		}
		rc = em_engine_open(path, &o, d->r, &d->eng[i]);
		if (rc) {
			EM_ERR("storage", "[%s] cannot open %s: %s%s", sec, path, em_strerror(rc),
			       rc == -ENODATA ? " (format it with `ember target format PATH`)" : "");
			return rc;
		}
		d->n++;
		d->ids[i] = id;
		rc = em_cs_server_add_target(d->cs, id, name, d->eng[i], d->r);
		if (rc == 0)
			rc = em_chain_server_add_target(d->chain, id, name, d->eng[i]);
		if (rc) {
			EM_ERR("storage", "[%s] id %u: %s", sec, id, em_strerror(rc));
			return rc;
		}
	}
	return 0;
}

static int listen_all(struct sd *d)
{
	snprintf(d->advert, sizeof(d->advert), "%s", em_config_str(d->cfg, "storage", "advertise"));
	int rc = em_daemon_listen(d->rpc, em_config_str(d->cfg, "storage", "listen"), "storage",
				  d->advert, sizeof(d->advert));
	if (rc < 0)
		return rc;
	if (rc == 0 || strstr(d->advert, "//0.0.0.0:")) {
		EM_ERR("storage", "[storage] needs a listen address, and advertise when it is a "
				  "wildcard");
		return -EINVAL;
	}
	return 0;
}

static int mgmt_setup(struct sd *d)
{
	d->mgmtd_copy = strdup(em_config_str(d->cfg, "storage", "mgmtd"));
	if (!d->mgmtd_copy)
		return -ENOMEM;
	size_t n = 0;
	char *save = NULL;
	for (char *u = strtok_r(d->mgmtd_copy, ", ", &save); u && n < MAX_MGMTD;
	     u = strtok_r(NULL, ", ", &save))
		d->mgmtd[n++] = u;
	struct em_mgmt_client_opts o = { .mgmtd = d->mgmtd, .n_mgmtd = n };
	return n ? em_mgmt_client_create(d->r, d->rpc, &o, &d->mgmt) : -EINVAL;
}

static void pump(struct sd *d, uint64_t ms)
{
	uint64_t end = em_now_ms() + ms;
	while (em_now_ms() < end)
		em_reactor_run_once(d->r, 10);
}

/* 3FS's rule for a restarted storage service: no heartbeat until every one
 * of its targets has been taken out of its chain, so each comes back
 * through a resync instead of serving what it missed while down. */
static void wait_targets_out(struct sd *d)
{
	bool logged = false;
	for (;;) {
		int rc = em_mgmt_refresh_wait(d->mgmt);
		bool out = rc == 0;
		for (unsigned i = 0; out && i < d->n; i++) {
			int st = em_routing_target_state(em_mgmt_routing(d->mgmt), d->ids[i]);
			out = st != EM_PUB_SERVING && st != EM_PUB_SYNCING;
		}
		if (out)
			return;
		if (!logged)
			EM_INFO("storage", "waiting for mgmtd to mark our targets offline (%s)",
				rc ? em_strerror(rc) : "they are still in service");
		logged = true;
		pump(d, 200);
	}
}

const struct em_cfg_option *em_storage_schema(void)
{
	static struct em_cfg_option full_schema[64];
	if (!full_schema[0].section)
		em_config_schema_concat(full_schema, sizeof(full_schema) / sizeof(full_schema[0]),
					(const struct em_cfg_option *const[]){
						sd_schema, em_net_cfg_schema, em_metrics_cfg_schema,
						NULL });
	return full_schema;
}

static int setup(struct sd *d, const char *path)
{
	char err[512];
	int rc = em_config_load_file(path, em_storage_schema(), &d->cfg, err, sizeof(err));
	if (rc) {
		EM_ERR("storage", "%s", err);
		return rc;
	}
	static uint8_t secret[MAX_SECRET];
	const char *sf = em_config_str(d->cfg, "storage", "secret_file");
	int n = em_auth_read_secret(sf, secret, sizeof(secret));
	if (n < 0) {
		EM_ERR("storage", "secret_file %s: %s", sf, em_strerror(n));
		return n;
	}
	struct em_net_config nc;
	em_net_config_from(d->cfg, &nc);
	struct em_rpc_opts ro = { .secret = secret, .secret_len = (size_t)n };
	struct em_chain_server_opts co = {
		.forward_timeout_ms = em_config_duration_ms(d->cfg, "storage", "forward_timeout"),
		.scrub_rate = (uint64_t)em_config_size(d->cfg, "storage", "scrub_rate"),
		.scrub_interval_ms = em_config_duration_ms(d->cfg, "storage", "scrub_interval"),
	};
	rc = em_reactor_create("storage", &d->r);
	if (rc == 0)
		rc = em_net_create(d->r, &nc, &d->net);
	if (rc == 0)
		rc = em_rpc_create(d->net, &ro, &d->rpc);
	if (rc == 0)
		rc = em_cs_server_create(d->rpc, d->r, &d->cs);
	if (rc == 0)
		rc = mgmt_setup(d);
	if (rc == 0)
		rc = em_chain_server_create(d->rpc, d->r, d->mgmt, &co, &d->chain);
	if (rc) {
		EM_ERR("storage", "setup: %s", em_strerror(rc));
		return rc;
	}
	rc = open_targets(d);
	if (rc == 0)
		rc = listen_all(d);
	if (rc == 0) {
		rc = em_metrics_http_from_config(d->cfg, &d->http);
		if (rc)
			EM_ERR("storage", "[metrics]: %s", em_strerror(rc));
	}
	return rc;
}

static int serve(struct sd *d)
{
	wait_targets_out(d);
	struct em_mgmt_hb_opts ho = {
		.node = (uint32_t)em_config_int(d->cfg, "storage", "node"),
		.addr = d->advert,
		.targets = d->ids,
		.ntargets = d->n,
		.interval_ms = em_config_duration_ms(d->cfg, "storage", "heartbeat_interval"),
		.report = em_chain_server_report,
		.arg = d->chain,
	};
	int rc = em_mgmt_heartbeat_start(d->mgmt, &ho);
	if (rc) {
		EM_ERR("storage", "heartbeat: %s", em_strerror(rc));
		return rc;
	}
	rc = em_daemon_watch_signals(&d->sig, d->r, "storage");
	if (rc)
		return rc;
	printf("ember-storage: ready %s\n", d->advert);
	fflush(stdout);
	EM_INFO("storage", "node %u serving %u targets at %s", ho.node, d->n, d->advert);
	return em_reactor_run(d->r);
}

static void teardown(struct sd *d)
{
	em_metrics_http_stop(d->http);
	if (d->mgmt)
		em_mgmt_heartbeat_stop(d->mgmt);
	if (d->chain)
		em_chain_server_stop(d->chain);
	if (d->rpc)
		em_daemon_drain(d->rpc, d->r, 5000);
	em_daemon_unwatch_signals(&d->sig);
	if (d->rpc)
		em_rpc_destroy(d->rpc);
	for (int i = 0; d->r && i < 4; i++)
		em_reactor_run_once(d->r, 0);
	for (unsigned i = 0; i < d->n; i++)
		em_engine_close(d->eng[i]);
	em_chain_server_destroy(d->chain);
	em_cs_server_destroy(d->cs);
	if (d->mgmt)
		em_mgmt_client_destroy(d->mgmt);
	if (d->net)
		em_net_destroy(d->net);
	if (d->r)
		em_reactor_destroy(d->r);
	free(d->mgmtd_copy);
	em_config_free(d->cfg);
}

int em_storage_run(const char *config_path)
{
	struct sd d = { .sig.fd = -1 };
	/* Before setup starts the metrics thread: a stop signal must reach the
	 * reactor's signalfd, not kill the process from another thread. One that
	 * arrives during startup waits until serving begins. */
	em_daemon_block_signals(NULL);
	int rc = setup(&d, config_path);
	if (rc == 0)
		rc = serve(&d);
	teardown(&d);
	return rc;
}
