/* The daemons' shared start-up and shutdown (daemon.h). */
#include "net/daemon.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "ember/errors.h"
#include "net/conn.h"
#include "net/core/log.h"
#include "net/metrics_http.h"

static void usage(FILE *f, const char *prog)
{
	fprintf(f, "usage: %s -c CONFIG [-l error|warn|info|debug|trace]\n"
		   "       %s --help-config   (every option, with defaults)\n", prog, prog);
}

static int parse_args(int argc, char **argv, const char *prog,
		      const struct em_cfg_option *schema, const char **config)
{
	*config = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
			*config = argv[++i];
		} else if (strcmp(argv[i], "-l") == 0 && i + 1 < argc) {
			enum em_log_level lv;
			if (em_log_level_parse(argv[++i], &lv) < 0) {
				usage(stderr, prog);
				return 2;
			}
			em_log_set_level(lv);
		} else if (strcmp(argv[i], "--help-config") == 0) {
			em_config_print_schema(stdout, schema);
			return 0;
		} else {
			bool help = strcmp(argv[i], "--help") == 0;
			usage(help ? stdout : stderr, prog);
			return help ? 0 : 2;
		}
	}
	if (!*config) {
		usage(stderr, prog);
		return 2;
	}
	return -1;
}

int em_daemon_load_config(int argc, char **argv, const char *prog,
			  const struct em_cfg_option *own, struct em_config **cfg)
{
	/* Static: the loaded config keeps pointing at its schema. */
	static struct em_cfg_option schema[64];
	em_config_schema_concat(schema, sizeof(schema) / sizeof(schema[0]),
				(const struct em_cfg_option *const[]){
					own, em_net_cfg_schema, em_metrics_cfg_schema, NULL });
	const char *path;
	int st = parse_args(argc, argv, prog, schema, &path);
	if (st >= 0)
		return st;
	char err[256];
	if (em_config_load_file(path, schema, cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: %s\n", prog, err);
		return 2;
	}
	return -1;
}

static void stop_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
}

void em_daemon_block_signals(sigset_t *set)
{
	sigset_t s;
	stop_signals(&s);
	pthread_sigmask(SIG_BLOCK, &s, NULL);
	/* A peer that hangs up is an error on the socket, not a death. */
	signal(SIGPIPE, SIG_IGN);
	if (set)
		*set = s;
}

static void on_signal(void *arg, uint32_t events)
{
	(void)events;
	struct em_daemon_signals *s = arg;
	struct signalfd_siginfo si;
	if (read(s->fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		EM_INFO(s->subsys, "signal %u: shutting down", si.ssi_signo);
	em_reactor_stop(s->r);
}

int em_daemon_watch_signals(struct em_daemon_signals *s, struct em_reactor *r,
			    const char *subsys)
{
	sigset_t set;
	stop_signals(&set);
	/* Unblocked, a signal would kill the process rather than reach the fd. */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	*s = (struct em_daemon_signals){ .r = r, .subsys = subsys,
					 .fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK) };
	if (s->fd < 0)
		return -errno;
	int rc = em_reactor_add_fd(r, s->fd, EPOLLIN, on_signal, s);
	if (rc < 0)
		em_daemon_unwatch_signals(s);
	return rc;
}

void em_daemon_unwatch_signals(struct em_daemon_signals *s)
{
	if (s->fd < 0)
		return;
	em_reactor_del_fd(s->r, s->fd);
	close(s->fd);
	s->fd = -1;
}

int em_daemon_listen(struct em_rpc *rpc, const char *list, const char *subsys, char *first,
		     size_t cap)
{
	char *copy = strdup(list), *save = NULL;
	if (!copy)
		return -ENOMEM;
	int n = 0, rc = 0;
	for (char *u = strtok_r(copy, ", ", &save); u; u = strtok_r(NULL, ", ", &save)) {
		int port = 0;
		rc = em_rpc_listen(rpc, u, &port);
		if (rc < 0) {
			EM_ERR(subsys, "listen %s: %s", u, em_strerror(rc));
			break;
		}
		if (!first[0]) {
			char *colon = strrchr(u, ':');
			snprintf(first, cap, "%.*s:%d", (int)(colon ? colon - u : (long)strlen(u)), u,
				 port);
		}
		n++;
	}
	free(copy);
	return rc < 0 ? rc : n;
}

/* After hanging up: long enough for failed transfers to reach their
 * handlers and for disk I/O in flight to finish. */
#define HANGUP_GRACE_MS 2000

static void drained(void *arg)
{
	*(bool *)arg = true;
}

bool em_daemon_drain(struct em_rpc *rpc, struct em_reactor *r, uint64_t timeout_ms)
{
	bool done = false;
	uint64_t until = em_now_ms() + timeout_ms;
	em_rpc_drain(rpc, drained, &done);
	/* A short poll, so that the deadline is kept to within 10 ms. */
	while (!done && em_now_ms() < until)
		em_reactor_run_once(r, 10);
	if (done)
		return true;
	/* Out of time: hang up, so that requests waiting on a peer (a bulk pull
	 * it never serves) fail and answer while their handlers still exist. */
	size_t left = em_rpc_inflight(rpc);
	em_rpc_hangup(rpc);
	until = em_now_ms() + HANGUP_GRACE_MS;
	while (!done && em_now_ms() < until)
		em_reactor_run_once(r, 10);
	EM_WARN("daemon", "drain timed out after %llu ms with %zu requests unanswered; hung up, "
		"%zu still running", (unsigned long long)timeout_ms, left, em_rpc_inflight(rpc));
	if (!done)
		em_rpc_drain(rpc, NULL, NULL); /* done lives on this stack */
	return false;
}
