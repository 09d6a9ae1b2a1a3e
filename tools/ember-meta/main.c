/* ember-meta: the metadata server (fs/meta/service.h), stateless over a
 * shared KV store.
 *
 *   ember-meta -c ember-meta.ini [-l LEVEL]
 *   ember-meta --help-config
 *
 * Serves until SIGINT or SIGTERM, then stops listening, answers what it
 * already accepted (clients resend refused calls to another server) and
 * exits. With [meta] mgmtd set it also runs the upkeep thread
 * (fs/client/gc.h): chunk GC when it holds the GC lease, and the cluster's
 * space for statfs. Prints "ember-meta: ready URL" on stdout once it listens, for
 * scripts.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/auth.h"
#include "ember/errors.h"
#include "fs/client/gc.h"
#include "fs/kv/kv.h"
#include "fs/meta/service.h"
#include "net/core/log.h"
#include "net/daemon.h"
#include "net/metrics_http.h"

#define MAX_SECRET 4096
#define MAX_MGMTD 16

static const struct em_cfg_option meta_schema[] = {
	{ "meta", "listen", EM_CFG_STRING, "tcp://0.0.0.0:9101", 0, 0,
	  "addresses to serve, comma-separated: tcp://IP:PORT, rdma://IP:PORT" },
	{ "meta", "kv", EM_CFG_STRING, NULL, 0, 0,
	  "metadata store: lmdb:DIR (one server) or postgresql://... / pg:CONNINFO "
	  "(any number of servers share it)" },
	{ "meta", "secret_file", EM_CFG_STRING, NULL, 0, 0,
	  "file holding the cluster secret (clients must prove they know it)" },
	{ "meta", "reactors", EM_CFG_INT, "4", 1, 256,
	  "worker reactors running metadata transactions (each blocks on the store); "
	  "PostgreSQL gets as many connections" },
	{ "meta", "chain_count", EM_CFG_INT, "1", 1, 1 << 20,
	  "chains in the default table, for new files' first chain" },
	{ "meta", "chunk_size", EM_CFG_SIZE, "1M", 65536, 64 << 20,
	  "default chunk size of new files (the root directory's layout)" },
	{ "meta", "stripe", EM_CFG_INT, "1", 1, 1 << 20, "default stripe of new files" },
	{ "meta", "capacity", EM_CFG_SIZE, "0", 0, 0,
	  "capacity statfs reports until the cluster manager reports real space" },
	{ "meta", "drain_timeout", EM_CFG_DURATION, "5s", 0, 600000,
	  "on SIGTERM, how long accepted requests may take to finish" },
	{ "meta", "mgmtd", EM_CFG_STRING, "", 0, 0,
	  "mgmtd URLs, comma-separated: for the chunk GC and the space statfs reports "
	  "(empty: neither; deleted files' chunks stay until a server with it runs)" },
	{ "meta", "gc_interval", EM_CFG_DURATION, "2s", 100, 3600000,
	  "how often the GC drains its queue and the space is refreshed" },
	{ "meta", "gc_lease", EM_CFG_DURATION, "10s", 1000, 600000,
	  "lease of the one metadata server running the GC; another takes over this "
	  "long after it stops" },
	{ "meta", "gc_batch", EM_CFG_INT, "256", 1, 1024,
	  "deleted files (and expired write sessions) per GC pass" },
	{ "meta", "session_lease", EM_CFG_DURATION, "60s", 1000, 86400000,
	  "a write session outlives its client's last renewal by this (clients renew every "
	  "quarter of it); then the GC leader recovers the file's length from storage" },
	EM_CFG_END,
};

struct daemon {
	struct em_config *cfg;
	struct em_reactor *r;
	struct em_net *net;
	struct em_rpc *rpc;
	struct em_kv *kv;
	struct em_meta *meta;
	struct em_meta_service *svc;
	struct em_metrics_http *http;
	struct em_daemon_signals sig;
	char *mgmtd_copy;
	const char *mgmtd[MAX_MGMTD];
	struct em_fs_gc *gc;
	uint8_t secret[MAX_SECRET];  /* the GC thread connects with it later */
	size_t secret_len;
};

/* The upkeep thread, named in the GC lease by host and listen address. */
static int start_gc(struct daemon *d, const char *url)
{
	const struct em_config *cfg = d->cfg;
	d->mgmtd_copy = strdup(em_config_str(cfg, "meta", "mgmtd"));
	if (!d->mgmtd_copy)
		return -ENOMEM;
	size_t n = 0;
	char *save = NULL;
	for (char *u = strtok_r(d->mgmtd_copy, ", ", &save); u && n < MAX_MGMTD;
	     u = strtok_r(NULL, ", ", &save))
		d->mgmtd[n++] = u;
	if (!n) {
		EM_WARN("meta", "no [meta] mgmtd: no chunk GC and no space reports from here");
		return 0;
	}
	char host[64] = "?", self[128];
	gethostname(host, sizeof(host) - 1);
	snprintf(self, sizeof(self), "meta@%s/%s", host, url);
	struct em_fs_gc_opts go = {
		.kv = d->kv, .meta = d->meta, .self = self,
		.mgmtd = d->mgmtd, .n_mgmtd = n,
		.secret = d->secret, .secret_len = d->secret_len,
		.interval_ms = (uint32_t)em_config_duration_ms(cfg, "meta", "gc_interval"),
		.lease_ms = (uint32_t)em_config_duration_ms(cfg, "meta", "gc_lease"),
		.batch = (uint32_t)em_config_int(cfg, "meta", "gc_batch"),
		.session_lease_ms = (uint32_t)em_config_duration_ms(cfg, "meta", "session_lease"),
	};
	int rc = em_fs_gc_start(&go, &d->gc);
	if (rc)
		EM_ERR("meta", "starting the GC: %s", em_strerror(rc));
	return rc;
}

static int open_store(struct daemon *d)
{
	const struct em_config *cfg = d->cfg;
	char err[256];
	struct em_kv_options ko = { .pg_pool_size = (unsigned)em_config_int(cfg, "meta", "reactors") };
	int rc = em_kv_open(em_config_str(cfg, "meta", "kv"), &ko, &d->kv, err, sizeof(err));
	if (rc < 0) {
		EM_ERR("meta", "%s", err);
		return rc;
	}
	struct em_meta_options mo = {
		.layout = { .chunk_size = (uint32_t)em_config_size(cfg, "meta", "chunk_size"),
			    .stripe = (uint32_t)em_config_int(cfg, "meta", "stripe") },
		.chain_count = (uint32_t)em_config_int(cfg, "meta", "chain_count"),
		.capacity_bytes = em_config_size(cfg, "meta", "capacity"),
		.session_lease_ms = (uint32_t)em_config_duration_ms(cfg, "meta", "session_lease"),
	};
	rc = em_meta_init(d->kv, &mo, &d->meta);
	if (rc < 0)
		EM_ERR("meta", "namespace in %s: %s", em_config_str(cfg, "meta", "kv"),
		       em_strerror(rc));
	return rc;
}

static int start(struct daemon *d)
{
	const struct em_config *cfg = d->cfg;
	const char *sf = em_config_str(cfg, "meta", "secret_file");
	int n = em_auth_read_secret(sf, d->secret, sizeof(d->secret));
	if (n < 0) {
		EM_ERR("meta", "secret_file %s: %s", sf, em_strerror(n));
		return n;
	}
	d->secret_len = (size_t)n;
	int rc = open_store(d);
	struct em_net_config nc;
	em_net_config_from(cfg, &nc);
	struct em_rpc_opts ro = { .secret = d->secret, .secret_len = d->secret_len };
	if (rc == 0)
		rc = em_reactor_create("meta", &d->r);
	if (rc == 0)
		rc = em_net_create(d->r, &nc, &d->net);
	if (rc == 0)
		rc = em_rpc_create(d->net, &ro, &d->rpc);
	struct em_meta_service_opts so = {
		.meta = d->meta,
		.workers = (unsigned)em_config_int(cfg, "meta", "reactors"),
	};
	if (rc == 0)
		rc = em_meta_service_create(d->r, d->rpc, &so, &d->svc);
	char url[256] = "";
	if (rc == 0)
		rc = em_daemon_listen(d->rpc, em_config_str(cfg, "meta", "listen"), "meta", url,
				      sizeof(url));
	if (rc >= 0)
		rc = start_gc(d, url);
	if (rc >= 0 && (rc = em_metrics_http_from_config(cfg, &d->http)) == 0 && d->http)
		printf("ember-meta: metrics port %d\n", em_metrics_http_port(d->http));
	if (rc == 0) {
		EM_INFO("meta", "serving %s on %s", em_kv_backend_name(d->kv), url);
		printf("ember-meta: ready %s\n", url);
		fflush(stdout);
	}
	return rc;
}

static void stop(struct daemon *d)
{
	em_metrics_http_stop(d->http);
	em_fs_gc_stop(d->gc);
	free(d->mgmtd_copy);
	if (d->rpc) {
		em_daemon_drain(d->rpc, d->r, em_config_duration_ms(d->cfg, "meta", "drain_timeout"));
		em_rpc_destroy(d->rpc);
	}
	em_meta_service_destroy(d->svc);
	if (d->net)
		em_net_destroy(d->net);
	em_daemon_unwatch_signals(&d->sig);
	if (d->r)
		em_reactor_destroy(d->r);
	if (d->meta)
		em_meta_destroy(d->meta);
	em_kv_close(d->kv);
	em_config_free(d->cfg);
}

int main(int argc, char **argv)
{
	struct daemon d = { .sig.fd = -1 };
	int st = em_daemon_load_config(argc, argv, "ember-meta", meta_schema, &d.cfg);
	if (st >= 0)
		return st;
	em_daemon_block_signals(NULL);
	int rc = start(&d);
	if (rc == 0)
		rc = em_daemon_watch_signals(&d.sig, d.r, "meta");
	if (rc == 0)
		rc = em_reactor_run(d.r);
	stop(&d);
	return rc < 0 ? 1 : 0;
}
