/* ember-nvmf: the NVMe-oF/RDMA target daemon.
 *
 *   ember-nvmf -c ember-nvmf.ini [-l LEVEL]
 *
 * Loads the configuration (block/nvmf/config.h), opens the namespaces'
 * devices, listens over RDMA and serves until SIGINT or SIGTERM. Prints
 * "ember-nvmf: ready" on stdout once it accepts connections, for scripts.
 * (Issue 5's ember-target will host this next to the chunk target.)
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "block/nvmf/config.h"
#include "block/nvmf/nvmf.h"
#include "block/nvmf/rdma.h"
#include "ember/errors.h"
#include "net/core/log.h"
#include "net/core/reactor.h"
#include "net/metrics_http.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: ember-nvmf -c CONFIG [-l error|warn|info|debug|trace]\n"
		   "       ember-nvmf --help-config   (every option, with defaults)\n");
}

static struct em_cfg_option full_schema[128];

/* The target's options followed by the [metrics] ones. */
static void build_schema(void)
{
	size_t n = 0;
	for (size_t i = 0; em_nvmf_config_schema[i].section && n < 127; i++)
		full_schema[n++] = em_nvmf_config_schema[i];
	for (size_t i = 0; em_metrics_cfg_schema[i].section && n < 127; i++)
		full_schema[n++] = em_metrics_cfg_schema[i];
	full_schema[n] = (struct em_cfg_option)EM_CFG_END;
}

static void help_config(void)
{
	for (const struct em_cfg_option *o = full_schema; o->section; o++)
		printf("[%s] %s = %s\n    %s\n", o->section, o->key, o->def ? o->def : "(required)",
		       o->help);
}

struct sig {
	int fd;
	struct em_reactor *r;
};

static void on_signal(void *arg, uint32_t events)
{
	struct sig *sg = arg;
	struct signalfd_siginfo si;

	if (read(sg->fd, &si, sizeof si) == (ssize_t)sizeof si)
		EM_INFO("nvmf", "signal %u: shutting down", si.ssi_signo);
	em_reactor_stop(sg->r);
}

int main(int argc, char **argv)
{
	const char *path = NULL;
	struct em_config *cfg = NULL;
	struct em_reactor *r = NULL;
	struct em_nvmf_tgt *t = NULL;
	struct em_nvmf_rdma *rt = NULL;
	struct em_metrics_http *http = NULL;
	struct sig sg = { .fd = -1 };
	char err[512];
	sigset_t mask;
	int opt, rc;

	build_schema();
	if (argc == 2 && strcmp(argv[1], "--help-config") == 0) {
		help_config();
		return 0;
	}
	while ((opt = getopt(argc, argv, "c:l:h")) != -1) {
		enum em_log_level lvl;
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 'l':
			if (em_log_level_parse(optarg, &lvl) < 0) {
				usage(stderr);
				return 2;
			}
			em_log_set_level(lvl);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!path || optind != argc) {
		usage(stderr);
		return 2;
	}
	rc = em_config_load_file(path, full_schema, &cfg, err, sizeof err);
	if (rc < 0) {
		fprintf(stderr, "ember-nvmf: %s\n", err);
		return 1;
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	rc = em_reactor_create("nvmf", &r);
	if (rc == 0)
		rc = em_nvmf_tgt_from_config(cfg, r, &t, err, sizeof err);
	else
		snprintf(err, sizeof err, "reactor: %s", em_strerror(rc));
	if (rc == 0) {
		rc = em_nvmf_rdma_create(t, &rt);
		if (rc < 0)
			snprintf(err, sizeof err, "rdma listener: %s", em_strerror(rc));
	}
	if (rc == 0) {
		rc = em_metrics_http_from_config(cfg, &http);
		if (rc < 0)
			snprintf(err, sizeof err, "metrics: %s", em_strerror(rc));
	}
	if (rc == 0) {
		sg.r = r;
		sg.fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
		rc = sg.fd < 0 ? -errno : em_reactor_add_fd(r, sg.fd, EPOLLIN, on_signal, &sg);
		if (rc < 0)
			snprintf(err, sizeof err, "signalfd: %s", em_strerror(rc));
	}
	if (rc == 0) {
		printf("ember-nvmf: ready\n");
		fflush(stdout);
		rc = em_reactor_run(r);
	} else {
		fprintf(stderr, "ember-nvmf: %s\n", err);
	}
	em_metrics_http_stop(http);
	em_nvmf_rdma_destroy(rt);
	em_nvmf_tgt_destroy(t);
	if (sg.fd >= 0) {
		em_reactor_del_fd(r, sg.fd);
		close(sg.fd);
	}
	if (r)
		em_reactor_destroy(r);
	em_config_free(cfg);
	return rc < 0 ? 1 : 0;
}
