/* ember-storage: the storage daemon with chain replication. The work is in
 * fs/chain/daemon.c; this is argument parsing. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "fs/chain/daemon.h"
#include "net/core/log.h"

static void usage(FILE *out)
{
	fprintf(out, "usage: ember-storage -c CONFIG.ini [-l error|warn|info|debug|trace]\n"
		     "       ember-storage --help-config\n\n"
		     "Serves the targets of CONFIG as members of their chains (docs/chain.md).\n"
		     "SIGTERM or SIGINT answers the requests in flight, checkpoints and exits.\n");
}

int main(int argc, char **argv)
{
	const char *config = NULL;
	for (int i = 1; i < argc; i++) {
		enum em_log_level lv;
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		}
		if (strcmp(argv[i], "--help-config") == 0) {
			em_config_print_schema(stdout, em_storage_schema());
			return 0;
		}
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc && !config) {
			config = argv[++i];
		} else if (strcmp(argv[i], "-l") == 0 && i + 1 < argc &&
			   em_log_level_parse(argv[i + 1], &lv) == 0) {
			em_log_set_level(lv);
			i++;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (!config) {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	return em_storage_run(config) ? 1 : 0;
}
