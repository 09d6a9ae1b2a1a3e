/* ember-target: serves chunk targets (one per SSD or file) over Ember's RPC.
 * The work is in block/service/daemon.c; this is argument parsing and
 * signal handling. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "block/service/daemon.h"
#include "net/core/log.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: ember-target [-c] CONFIG.ini\n\n"
		"Serves the chunk targets of CONFIG over the listen addresses it names.\n"
		"SIGTERM or SIGINT drains the requests in flight, checkpoints and exits.\n"
		"Format a target first with `ember target format PATH`. Options of\n"
		"CONFIG are described in docs/target.md. EMBER_LOG=debug for detail.\n");
}

int main(int argc, char **argv)
{
	const char *config = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		}
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc && !config)
			config = argv[++i];
		else if (argv[i][0] != '-' && !config)
			config = argv[i];
		else {
			usage(stderr);
			return 2;
		}
	}
	if (!config) {
		usage(stderr);
		return 2;
	}

	/* Blocked before any thread starts, so only sigwait below sees them. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct em_td *d;
	if (em_td_start(config, &d))
		return 1;
	int sig = 0;
	sigwait(&set, &sig);
	EM_INFO("target", "%s received", strsignal(sig));
	em_td_stop(d);
	em_td_wait(d);
	return 0;
}
