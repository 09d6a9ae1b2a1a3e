/* ember-target's lifecycle (daemon.h). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/auth.h"
#include "block/nvmf/config.h"
#include "block/nvmf/nvmf.h"
#include "block/nvmf/rdma.h"
#include "ember/errors.h"
#include "net/conn.h"
#include "net/core/config.h"
#include "net/core/log.h"
#include "net/metrics_http.h"
#include "net/rpc.h"
#include "block/service/daemon.h"
#include "block/service/proto.h"
#include "block/service/server.h"

#define MAX_REACTORS 64
#define MAX_SECRET 4096

static const struct em_cfg_option td_schema[] = {
	/* Both optional so that a file may configure only the NVMe-oF target;
	 * setup() requires them together. */
	{ "server", "listen", EM_CFG_STRING, "", 0, 0,
	  "addresses of the chunk service, comma-separated: tcp://IP:PORT, rdma://IP:PORT; "
	  "empty: no chunk service (an NVMe-oF target only)" },
	{ "server", "secret_file", EM_CFG_STRING, "", 0, 0,
	  "file holding the cluster secret (peers must prove they know it); required with listen" },
	{ "server", "reactors", EM_CFG_INT, "1", 1, MAX_REACTORS,
	  "reactor threads; reactor 0 also runs the network, the last one the NVMe-oF target" },
	{ "server", "queue_depth", EM_CFG_INT, "128", 1, 4096, "device queue depth per target" },
	{ "target.*", "path", EM_CFG_STRING, NULL, 0, 0,
	  "device (/dev/ngXnY, block device) or file formatted with `ember target format`" },
	{ "target.*", "id", EM_CFG_INT, NULL, 0, UINT32_MAX, "target id clients address" },
	{ "target.*", "backend", EM_CFG_STRING, "auto", 0, 0, "auto, nvme, uring or aio" },
	EM_CFG_END,
};

struct td_target {
	const char *name;
	struct em_engine *eng;
	struct em_reactor *r;
};

struct em_td {
	struct em_config *cfg;
	int n_reactors;
	struct em_reactor *r[MAX_REACTORS];
	pthread_t th[MAX_REACTORS];
	int n_threads;
	struct em_net *net;
	struct em_rpc *rpc;
	struct em_cs_server *cs;
	struct td_target *targets;
	size_t n_targets;
	/* The NVMe-oF target, when configured, and the reactor it runs on. */
	struct em_reactor *nvmf_r;
	struct em_nvmf_tgt *nvmf;
	struct em_nvmf_rdma *nvmf_rdma;
	struct em_metrics_http *http;
	atomic_bool stopping;
	struct em_timer *drain_timer; /* on r[0]: hang up if the drain takes too long */
	bool hung_up;
};

/* How long the drain waits for requests before hanging up on their peers,
 * so that one stuck on a client's bulk transfer cannot hold the exit; and
 * then how long for those to answer before the engines close regardless
 * (closing waits for their device I/O, whose replies go nowhere). */
#define DRAIN_TIMEOUT_MS 5000
#define HANGUP_GRACE_MS 2000

/* The program's schema: ours, then the [net], NVMe-oF and [metrics] options. */
static struct em_cfg_option full_schema[128];
static pthread_once_t schema_once = PTHREAD_ONCE_INIT;

static void build_schema(void)
{
	em_config_schema_concat(full_schema, sizeof(full_schema) / sizeof(full_schema[0]),
				(const struct em_cfg_option *const[]){
					td_schema, em_net_cfg_schema, em_nvmf_config_schema,
					em_metrics_cfg_schema, NULL });
}

const struct em_cfg_option *em_td_config_schema(void)
{
	pthread_once(&schema_once, build_schema);
	return full_schema;
}

static int read_secret(const char *path, uint8_t *buf, size_t *len)
{
	int n = em_auth_read_secret(path, buf, MAX_SECRET);
	if (n < 0) {
		EM_ERR("target", "secret_file %s: %s", path, em_strerror(n));
		return n;
	}
	*len = (size_t)n;
	return 0;
}

static int open_target(struct em_td *d, size_t i, const char *section, uint32_t qd)
{
	const char *path = em_config_str(d->cfg, section, "path");
	const char *bk = em_config_str(d->cfg, section, "backend");
	struct td_target *t = &d->targets[i];
	struct em_engine_opts o = { .queue_depth = qd };
	t->name = section + strlen("target.");
	/* Chunk volumes call their engine from the NVMe-oF target's reactor,
	 * so an engine they use lives there. */
	if (d->nvmf_r && em_nvmf_config_uses_engine(d->cfg, t->name, path))
		t->r = d->nvmf_r;
	else
		t->r = d->r[i % (size_t)d->n_reactors];
	if (em_bdev_kind_parse(bk, &o.kind)) {
		EM_ERR("target", "[%s] backend '%s': expected auto, nvme, uring or aio", section, bk);
		return -EINVAL;
	}
	if (access(path, F_OK) != 0) {
		int err = -errno;
		EM_ERR("target", "[%s] path %s: %s", section, path, strerror(errno));
		return err;
	}
	int rc = em_engine_open(path, &o, t->r, &t->eng);
	if (rc == -ENODATA) {
		EM_ERR("target", "[%s] %s is not an Ember target; format it with "
		       "`ember target format %s`", section, path, path);
		return rc;
	}
	if (rc) {
		EM_ERR("target", "[%s] cannot open %s: %s", section, path, em_strerror(rc));
		return rc;
	}
	uint32_t id = (uint32_t)em_config_int(d->cfg, section, "id");
	rc = d->cs ? em_cs_server_add_target(d->cs, id, t->name, t->eng, t->r) : 0;
	if (rc) {
		EM_ERR("target", "[%s] id %u: %s", section, id,
		       rc == -EEXIST ? "used by another target" : em_strerror(rc));
		return rc;
	}
	struct em_engine_stats st;
	em_engine_get_stats(t->eng, &st);
	EM_INFO("target", "target %u (%s) on %s, reactor %s: %llu chunks, %llu log records "
		"replayed", id, t->name, path, em_reactor_name(t->r),
		(unsigned long long)st.chunks, (unsigned long long)st.records_replayed);
	return 0;
}

/* The NVMe-oF target on its reactor, lent every open engine: chunk volumes
 * share the chunk service's engines instead of opening the devices again. */
static int start_nvmf(struct em_td *d)
{
	struct em_nvmf_lent_engine *lent = calloc(d->n_targets + 1, sizeof(*lent));
	char err[512];
	int rc;

	if (!lent)
		return -ENOMEM;
	for (size_t i = 0; i < d->n_targets; i++) {
		const char *sec = em_config_instance(d->cfg, "target", i);
		lent[i] = (struct em_nvmf_lent_engine){
			.name = d->targets[i].name,
			.path = em_config_str(d->cfg, sec, "path"),
			.engine = d->targets[i].eng,
		};
	}
	rc = em_nvmf_tgt_from_config_lent(d->cfg, d->nvmf_r, lent, d->n_targets, &d->nvmf, err,
					  sizeof(err));
	free(lent);
	if (rc) {
		EM_ERR("target", "%s", err);
		return rc;
	}
	rc = em_nvmf_rdma_create(d->nvmf, &d->nvmf_rdma);
	if (rc)
		EM_ERR("target", "NVMe-oF RDMA listener: %s", em_strerror(rc));
	return rc;
}

static int listen_all(struct em_td *d)
{
	const char *spec = em_config_str(d->cfg, "server", "listen");
	char *copy = strdup(spec), *save = NULL;
	if (!copy)
		return -ENOMEM;
	int n = 0, rc = 0;
	for (char *tok = strtok_r(copy, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
		int port;
		rc = em_rpc_listen(d->rpc, tok, &port);
		if (rc) {
			EM_ERR("target", "listen on %s: %s", tok, em_strerror(rc));
			break;
		}
		EM_INFO("target", "listening on %s (port %d)", tok, port);
		n++;
	}
	free(copy);
	if (rc == 0 && n == 0) {
		EM_ERR("target", "[server] listen names no address");
		rc = -EINVAL;
	}
	return rc;
}

static void *reactor_main(void *arg)
{
	int rc = em_reactor_run(arg);
	if (rc)
		EM_ERR("target", "reactor %s: %s", em_reactor_name(arg), em_strerror(rc));
	return NULL;
}

static void td_free(struct em_td *d)
{
	em_metrics_http_stop(d->http);
	/* What is still open here was never served: close it on this thread,
	 * which owns the reactors while no reactor thread runs. The NVMe-oF
	 * target goes first: its volumes use the engines. */
	em_nvmf_rdma_destroy(d->nvmf_rdma);
	em_nvmf_tgt_destroy(d->nvmf);
	for (size_t i = 0; i < d->n_targets; i++)
		if (d->targets[i].eng)
			em_engine_close(d->targets[i].eng);
	em_cs_server_destroy(d->cs);
	em_rpc_destroy(d->rpc);
	if (d->net)
		em_net_destroy(d->net);
	for (int i = 0; i < d->n_reactors; i++)
		if (d->r[i])
			em_reactor_destroy(d->r[i]);
	free(d->targets);
	em_config_free(d->cfg);
	free(d);
}

/* The network, RPC and chunk server; targets are added as they open. */
static int start_chunk_service(struct em_td *d, const char *config_path)
{
	const char *secret_file = em_config_str(d->cfg, "server", "secret_file");
	if (!*secret_file) {
		EM_ERR("target", "%s: [server] secret_file is required with [server] listen",
		       config_path);
		return -EINVAL;
	}
	uint8_t secret[MAX_SECRET];
	size_t secret_len = 0;
	int rc = read_secret(secret_file, secret, &secret_len);
	if (rc)
		return rc;
	struct em_net_config nc;
	em_net_config_from(d->cfg, &nc);
	struct em_rpc_opts ro = { .secret = secret, .secret_len = secret_len };
	rc = em_net_create(d->r[0], &nc, &d->net);
	if (rc == 0)
		rc = em_rpc_create(d->net, &ro, &d->rpc);
	explicit_bzero(secret, sizeof(secret)); /* the RPC layer keeps its own copy */
	if (rc == 0)
		rc = em_cs_server_create(d->rpc, d->r[0], &d->cs);
	if (rc)
		EM_ERR("target", "network setup: %s", em_strerror(rc));
	return rc;
}

static int setup(struct em_td *d, const char *config_path)
{
	char err[512];
	int rc = em_config_load_file(config_path, em_td_config_schema(), &d->cfg, err, sizeof(err));
	if (rc) {
		EM_ERR("target", "%s", err);
		return rc;
	}
	bool chunk_service = *em_config_str(d->cfg, "server", "listen") != '\0';
	bool nvmf = em_nvmf_config_enabled(d->cfg);
	size_t n_targets = em_config_instance_count(d->cfg, "target");
	if (!chunk_service && !nvmf) {
		EM_ERR("target", "%s: nothing to serve; set [server] listen (chunk service) and/or "
		       "[nvmf] listen (NVMe-oF target)", config_path);
		return -EINVAL;
	}
	if ((chunk_service && n_targets == 0) || n_targets > EM_CS_MAX_TARGETS) {
		EM_ERR("target", "%s: %zu [target.NAME] sections; expected 1 to %d", config_path,
		       n_targets, EM_CS_MAX_TARGETS);
		return -EINVAL;
	}
	d->targets = calloc(n_targets + 1, sizeof(*d->targets)); /* + 1: none is fine */
	if (!d->targets)
		return -ENOMEM;
	d->n_targets = n_targets;
	d->n_reactors = (int)em_config_int(d->cfg, "server", "reactors");
	for (int i = 0; i < d->n_reactors; i++) {
		char name[32];
		snprintf(name, sizeof(name), "target-r%d", i);
		rc = em_reactor_create(name, &d->r[i]);
		if (rc)
			return rc;
	}
	/* The last reactor, so that with several the network's reactor 0 does
	 * not also carry the fabric; docs/nvmf.md explains the placement. */
	if (nvmf)
		d->nvmf_r = d->r[d->n_reactors - 1];
	if (chunk_service) {
		rc = start_chunk_service(d, config_path);
		if (rc)
			return rc;
	}
	uint32_t qd = (uint32_t)em_config_int(d->cfg, "server", "queue_depth");
	for (size_t i = 0; i < d->n_targets; i++) {
		rc = open_target(d, i, em_config_instance(d->cfg, "target", i), qd);
		if (rc)
			return rc;
	}
	if (nvmf) {
		rc = start_nvmf(d);
		if (rc)
			return rc;
	}
	if (chunk_service) {
		rc = listen_all(d);
		if (rc)
			return rc;
	}
	rc = em_metrics_http_from_config(d->cfg, &d->http);
	if (rc)
		EM_ERR("target", "[metrics]: %s", em_strerror(rc));
	return rc;
}


int em_td_start(const char *config_path, struct em_td **out)
{
	struct em_td *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	atomic_init(&d->stopping, false);
	int rc = setup(d, config_path);
	for (int i = 0; rc == 0 && i < d->n_reactors; i++) {
		rc = -pthread_create(&d->th[i], NULL, reactor_main, d->r[i]);
		if (rc == 0)
			d->n_threads++;
	}
	if (rc) {
		if (d->n_threads) {
			/* Threads already run: stop them the orderly way. */
			em_td_stop(d);
			em_td_wait(d);
		} else {
			td_free(d);
		}
		return rc;
	}
	*out = d;
	return 0;
}

static void stop_reactor(void *arg)
{
	em_reactor_stop(arg);
}

static void close_engine(void *arg)
{
	struct td_target *t = arg;
	em_engine_close(t->eng);
	t->eng = NULL;
}

/* Every request was answered: close the engines on their own reactors,
 * then stop the reactors. Sends from one thread arrive in order, so each
 * reactor closes its engines before it stops. */
static void drained(void *arg)
{
	struct em_td *d = arg;
	if (d->drain_timer) {
		em_reactor_timer_cancel(d->r[0], d->drain_timer);
		d->drain_timer = NULL;
	}
	for (size_t i = 0; i < d->n_targets; i++) {
		if (!d->targets[i].eng)
			continue;
		int rc = em_reactor_send(d->targets[i].r, close_engine, &d->targets[i]);
		if (rc)
			EM_ERR("target", "cannot close target %s: %s", d->targets[i].name,
			       em_strerror(rc));
	}
	for (int i = d->n_reactors - 1; i >= 0; i--) {
		int rc = em_reactor_send(d->r[i], stop_reactor, d->r[i]);
		if (rc) /* fall back to the flag; engines left open are closed in td_free */
			em_reactor_stop(d->r[i]);
	}
}

static void drain_overdue(void *arg)
{
	struct em_td *d = arg;
	d->drain_timer = NULL;
	if (d->hung_up) {
		EM_WARN("target", "drain: %zu requests still unanswered %u ms after hanging up; "
			"stopping", em_rpc_inflight(d->rpc), HANGUP_GRACE_MS);
		em_rpc_drain(d->rpc, NULL, NULL);
		drained(d);
		return;
	}
	EM_WARN("target", "drain: %zu requests still unanswered after %u ms; hanging up",
		em_rpc_inflight(d->rpc), DRAIN_TIMEOUT_MS);
	d->hung_up = true;
	em_rpc_hangup(d->rpc);
	if (em_reactor_timer(d->r[0], HANGUP_GRACE_MS, drain_overdue, d, &d->drain_timer) < 0)
		d->drain_timer = NULL;
}

static void begin_drain(void *arg)
{
	struct em_td *d = arg;
	if (!d->rpc) {
		drained(d);
		return;
	}
	EM_INFO("target", "shutting down: draining requests in flight");
	em_rpc_drain(d->rpc, drained, d);
	if (em_reactor_timer(d->r[0], DRAIN_TIMEOUT_MS, drain_overdue, d, &d->drain_timer) < 0)
		d->drain_timer = NULL;
}

/* On the NVMe-oF reactor, every queue closed and its I/O done: free the
 * target (closing its volumes, not the lent engines), then drain the chunk
 * service, which closes the engines. */
static void nvmf_stopped(void *arg)
{
	struct em_td *d = arg;
	em_nvmf_rdma_destroy(d->nvmf_rdma);
	d->nvmf_rdma = NULL;
	em_nvmf_tgt_destroy(d->nvmf);
	d->nvmf = NULL;
	EM_INFO("target", "NVMe-oF target stopped");
	int rc = em_reactor_send(d->r[0], begin_drain, d);
	if (rc) {
		EM_ERR("target", "cannot start the drain: %s; stopping at once", em_strerror(rc));
		drained(d);
	}
}

static void stop_nvmf(void *arg)
{
	struct em_td *d = arg;
	EM_INFO("target", "shutting down: disconnecting NVMe-oF hosts");
	em_nvmf_rdma_shutdown(d->nvmf_rdma, nvmf_stopped, d);
}

void em_td_stop(struct em_td *d)
{
	if (atomic_exchange(&d->stopping, true))
		return;
	/* The NVMe-oF target first: its volumes use the engines the drain
	 * closes at its end. */
	int rc = d->nvmf ? em_reactor_send(d->nvmf_r, stop_nvmf, d)
			 : em_reactor_send(d->r[0], begin_drain, d);
	if (rc) {
		EM_ERR("target", "cannot start the drain: %s; stopping at once", em_strerror(rc));
		for (int i = 0; i < d->n_reactors; i++)
			em_reactor_stop(d->r[i]);
	}
}

void em_td_wait(struct em_td *d)
{
	for (int i = 0; i < d->n_threads; i++)
		pthread_join(d->th[i], NULL);
	td_free(d);
	EM_INFO("target", "stopped");
}
