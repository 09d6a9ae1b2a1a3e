#include <stdio.h>
#include <string.h>

#include "tools/ember/cli.h"

static int cmd_version(int argc, char **argv);
int em_cmd_target(int argc, char **argv);
int em_cmd_chunk(int argc, char **argv);
int em_cmd_nodes(int argc, char **argv);
int em_cmd_targets(int argc, char **argv);
int em_cmd_chains(int argc, char **argv);
int em_cmd_offline_target(int argc, char **argv);
int em_cmd_create_chains(int argc, char **argv);
int em_cmd_meta(int argc, char **argv);
int em_cmd_mount(int argc, char **argv);
int em_cmd_up(int argc, char **argv);
int em_cmd_down(int argc, char **argv);
int em_cmd_status(int argc, char **argv);
int em_cmd_fsck(int argc, char **argv);
int em_cmd_bench(int argc, char **argv);
int em_cmd_scrub(int argc, char **argv);

static const struct em_cli_cmd commands[] = {
	{ "version", "print the Ember version", cmd_version },
	{ "target", "format and inspect chunk targets", em_cmd_target },
	{ "chunk", "put, get, stat and list chunks on an ember-target", em_cmd_chunk },
	{ "nodes", "storage nodes known to mgmtd", em_cmd_nodes },
	{ "targets", "targets with their chain and local states", em_cmd_targets },
	{ "chains", "chains head to tail, member states and versions", em_cmd_chains },
	{ "offline-target", "take a target out of its chain now", em_cmd_offline_target },
	{ "create-chains", "build the chain table over registered nodes", em_cmd_create_chains },
	{ "meta", "inspect and check a metadata store: ls, stat, tree, fsck", em_cmd_meta },
	{ "mount", "mount the file system with ember-fuse", em_cmd_mount },
	{ "up", "start a whole cluster on this machine and mount it", em_cmd_up },
	{ "down", "unmount and stop what `ember up` started; keep the data", em_cmd_down },
	{ "status", "the cluster at a glance: primary, nodes, targets, chains, mounts", em_cmd_status },
	{ "fsck", "check metadata and chunks: orphans, missing and divergent replicas", em_cmd_fsck },
	{ "scrub", "storage daemons' scrubbers: status, start, stop", em_cmd_scrub },
	{ "bench", "write and read a file through the mount: throughput, latency", em_cmd_bench },
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static int cmd_version(int argc, char **argv)
{
	printf("ember %s\n", EMBER_VERSION);
	return EM_EXIT_OK;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: ember COMMAND [ARGS...]\n\ncommands:\n");
	for (size_t i = 0; i < N_COMMANDS; i++)
		fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].summary);
	fprintf(out, "\n'ember COMMAND --help' describes a command.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EM_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return EM_EXIT_OK;
	}
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "ember: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return EM_EXIT_USAGE;
}
