/* What the daemons (ember-meta, ember-mgmtd, ember-storage, ember-target)
 * share around their own service: the command line, signals, listening on
 * a list of addresses and the drain on shutdown. One copy, so that they
 * answer -c/-l/--help-config, a SIGTERM and a slow client alike. */
#ifndef EMBER_NET_DAEMON_H
#define EMBER_NET_DAEMON_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/core/config.h"
#include "net/core/reactor.h"
#include "net/rpc.h"

/* The common start of a daemon's main: its own options plus [net] and
 * [metrics], then -c CONFIG, -l LEVEL, --help and --help-config, then the
 * config file (an error is printed to stderr as "prog: file:line: ..."). prog
 * names the program in the usage. Returns -1 with *cfg loaded to go on, or
 * the exit status: 0 after help, 2 for bad usage or a bad config. */
int em_daemon_load_config(int argc, char **argv, const char *prog,
			  const struct em_cfg_option *own, struct em_config **cfg);

/* Blocks SIGINT and SIGTERM and ignores SIGPIPE. Call it before any thread
 * starts: threads inherit the mask, so the stop signals reach only the
 * thread that waits for them (set, when not NULL, receives them for
 * sigwait()) or em_daemon_watch_signals(). */
void em_daemon_block_signals(sigset_t *set);

/* A signalfd for SIGINT and SIGTERM, watched on a reactor. */
struct em_daemon_signals {
	struct em_reactor *r;
	const char *subsys;
	int fd; /* -1 when not watching */
};

/* Blocks the two signals (if not already) and watches them on r: the first
 * one logs "signal N: shutting down" under subsys and stops r. Returns 0 or
 * a negative errno. */
int em_daemon_watch_signals(struct em_daemon_signals *s, struct em_reactor *r,
			    const char *subsys);
/* Idempotent; fine on a struct whose fd is -1. */
void em_daemon_unwatch_signals(struct em_daemon_signals *s);

/* Listens on every address of a comma-separated list; an error is logged
 * under subsys and ends the walk. When first is empty it receives the first
 * address with its bound port, so "tcp://127.0.0.1:0" can be advertised.
 * Returns how many addresses listen, or a negative errno. */
int em_daemon_listen(struct em_rpc *rpc, const char *list, const char *subsys, char *first,
		     size_t cap);

/* Stops accepting and runs r until every accepted request is answered, at
 * most timeout_ms. Past that it hangs up every connection (em_rpc_hangup)
 * and runs r up to 2 s more, so that requests stuck on a peer fail and
 * answer before the caller frees their handlers; logs what was left. True
 * when every request was answered in time. */
bool em_daemon_drain(struct em_rpc *rpc, struct em_reactor *r, uint64_t timeout_ms);

#endif
