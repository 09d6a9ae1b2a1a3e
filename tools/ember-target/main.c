/* ember-target: serves chunk targets (one per SSD or file) over Ember's RPC
 * and, when configured, the NVMe-oF/RDMA target (block/nvmf) in the same
 * process. The work is in block/service/daemon.c; this is argument parsing
 * and signal handling. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "block/service/daemon.h"
#include "net/core/log.h"
#include "net/daemon.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: ember-target [-c] CONFIG.ini\n"
		"       ember-target --help-config   (every option, with defaults)\n\n"
		"Serves the chunk targets of CONFIG over the listen addresses it names,\n"
		"and its NVMe-oF subsystems. Prints \"ember-target: ready\" once serving.\n"
		"SIGTERM or SIGINT disconnects NVMe-oF hosts, drains the requests in\n"
		"flight, checkpoints and exits. Format a target first with\n"
		"`ember target format PATH`. Options of CONFIG are described in\n"
		"docs/target.md and docs/nvmf.md. EMBER_LOG=debug for detail.\n");
}

int main(int argc, char **argv)
{
	const char *config = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		}
		if (strcmp(argv[i], "--help-config") == 0) {
			em_config_print_schema(stdout, em_td_config_schema());
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

	/* Before any thread starts, so only sigwait below sees them. */
	sigset_t set;
	em_daemon_block_signals(&set);

	struct em_td *d;
	if (em_td_start(config, &d))
		return 1;
	/* For scripts: everything listens now. */
	printf("ember-target: ready\n");
	fflush(stdout);
	int sig = 0;
	sigwait(&set, &sig);
	EM_INFO("target", "%s received", strsignal(sig));
	em_td_stop(d);
	em_td_wait(d);
	return 0;
}
