/* ember-meta: the metadata server (fs/meta/service.h), stateless over a
 * shared KV store.
 *
 *   ember-meta -c ember-meta.ini [-l LEVEL]
 *   ember-meta --help-config
 *
 * Serves until SIGINT or SIGTERM, then stops listening, answers what it
 * already accepted (clients resend refused calls to another server) and
 * exits. Prints "ember-meta: ready URL" on stdout once it listens, for
 * scripts.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "ember/errors.h"
#include "fs/kv/kv.h"
#include "fs/mgmt/client.h"
#include "fs/meta/service.h"
#include "net/core/log.h"
#include "net/metrics_http.h"

#define MAX_SECRET 4096

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
};

static struct em_cfg_option full_schema[64];

/* Ours followed by the [net] and [metrics] options. */
static void build_schema(void)
{
	size_t n = 0;
	for (size_t i = 0; i < sizeof(meta_schema) / sizeof(meta_schema[0]); i++)
		full_schema[n++] = meta_schema[i];
	for (size_t i = 0; em_net_cfg_schema[i].section && n < 63; i++)
		full_schema[n++] = em_net_cfg_schema[i];
	for (size_t i = 0; em_metrics_cfg_schema[i].section && n < 63; i++)
		full_schema[n++] = em_metrics_cfg_schema[i];
	full_schema[n] = (struct em_cfg_option)EM_CFG_END;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: ember-meta -c CONFIG [-l error|warn|info|debug|trace]\n"
		   "       ember-meta --help-config   (every option, with defaults)\n");
}

struct daemon {
	struct em_config *cfg;
	struct em_reactor *r;
	struct em_net *net;
	struct em_rpc *rpc;
	struct em_kv *kv;
	struct em_meta *meta;
	struct em_meta_service *svc;
	struct em_metrics_http *http;
	int sigfd;
};

static void on_signal(void *arg, uint32_t events)
{
	struct daemon *d = arg;
	struct signalfd_siginfo si;
	if (read(d->sigfd, &si, sizeof si) == (ssize_t)sizeof si)
		EM_INFO("meta", "signal %u: shutting down", si.ssi_signo);
	em_reactor_stop(d->r);
}

/* Listens on every comma-separated URL; first gets the first one with its
 * bound port (so "tcp://127.0.0.1:0" works in tests). */
static int listen_all(struct em_rpc *rpc, const char *list, char *first, size_t cap)
{
	char *copy = strdup(list), *save = NULL;
	int rc = copy ? 0 : -ENOMEM;
	for (char *u = copy ? strtok_r(copy, ", ", &save) : NULL; u && rc == 0;
	     u = strtok_r(NULL, ", ", &save)) {
		int port = 0;
		rc = em_rpc_listen(rpc, u, &port);
		if (rc < 0) {
			EM_ERR("meta", "listen %s: %s", u, em_strerror(rc));
		} else if (!first[0]) {
			char *colon = strrchr(u, ':');
			snprintf(first, cap, "%.*s:%d", (int)(colon ? colon - u : (long)strlen(u)), u,
				 port);
		}
	}
	free(copy);
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
	uint8_t secret[MAX_SECRET];
	const char *sf = em_config_str(cfg, "meta", "secret_file");
	int n = em_mgmt_read_secret(sf, secret, sizeof(secret));
	if (n < 0) {
		EM_ERR("meta", "secret_file %s: %s", sf, em_strerror(n));
		return n;
	}
	int rc = open_store(d);
	struct em_net_config nc;
	em_net_config_from(cfg, &nc);
	struct em_rpc_opts ro = { .secret = secret, .secret_len = (size_t)n };
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
		rc = listen_all(d->rpc, em_config_str(cfg, "meta", "listen"), url, sizeof(url));
	if (rc == 0 && (rc = em_metrics_http_from_config(cfg, &d->http)) == 0 && d->http)
		printf("ember-meta: metrics port %d\n", em_metrics_http_port(d->http));
	if (rc == 0) {
		EM_INFO("meta", "serving %s on %s", em_kv_backend_name(d->kv), url);
		printf("ember-meta: ready %s\n", url);
		fflush(stdout);
	}
	return rc;
}

static void drained(void *arg)
{
	*(bool *)arg = true;
}

static void stop(struct daemon *d)
{
	em_metrics_http_stop(d->http);
	if (d->rpc) {
		bool done = false;
		uint64_t until = em_now_ms() + em_config_duration_ms(d->cfg, "meta", "drain_timeout");
		em_rpc_drain(d->rpc, drained, &done);
		while (!done && em_now_ms() < until)
			em_reactor_run_once(d->r, 100);
		if (!done)
			EM_WARN("meta", "requests still running after the drain timeout");
		em_rpc_destroy(d->rpc);
	}
	em_meta_service_destroy(d->svc);
	if (d->net)
		em_net_destroy(d->net);
	if (d->sigfd >= 0) {
		em_reactor_del_fd(d->r, d->sigfd);
		close(d->sigfd);
	}
	if (d->r)
		em_reactor_destroy(d->r);
	if (d->meta)
		em_meta_destroy(d->meta);
	em_kv_close(d->kv);
	em_config_free(d->cfg);
}

/* 0 to go on, else the exit status. */
static int parse_args(int argc, char **argv, const char **path)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
			*path = argv[++i];
		} else if (strcmp(argv[i], "-l") == 0 && i + 1 < argc) {
			enum em_log_level lv;
			if (em_log_level_parse(argv[++i], &lv) < 0) {
				usage(stderr);
				return 2;
			}
			em_log_set_level(lv);
		} else if (strcmp(argv[i], "--help-config") == 0) {
			for (const struct em_cfg_option *o = full_schema; o->section; o++)
				printf("[%s] %s = %s\n    %s\n", o->section, o->key,
				       o->def ? o->def : "(required)", o->help);
			return -1;
		} else {
			bool help = strcmp(argv[i], "--help") == 0;
			usage(help ? stdout : stderr);
			return help ? -1 : 2;
		}
	}
	if (!*path) {
		usage(stderr);
		return 2;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *path = NULL;
	struct daemon d = { .sigfd = -1 };
	build_schema();
	int st = parse_args(argc, argv, &path);
	if (st)
		return st < 0 ? 0 : st;
	char err[256];
	if (em_config_load_file(path, full_schema, &d.cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "ember-meta: %s\n", err);
		return 2;
	}
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	/* Blocked before any thread starts, so every thread inherits the mask
	 * and only the signalfd sees them. */
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	int rc = start(&d);
	if (rc == 0) {
		d.sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
		rc = d.sigfd < 0 ? -errno : em_reactor_add_fd(d.r, d.sigfd, EPOLLIN, on_signal, &d);
	}
	if (rc == 0)
		rc = em_reactor_run(d.r);
	stop(&d);
	return rc < 0 ? 1 : 0;
}
