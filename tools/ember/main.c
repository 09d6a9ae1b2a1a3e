#include <stdio.h>
#include <string.h>

#include "tools/ember/cli.h"

static int cmd_version(int argc, char **argv);
int em_cmd_target(int argc, char **argv);

static const struct em_cli_cmd commands[] = {
	{ "version", "print the Ember version", cmd_version },
	{ "target", "format and inspect chunk targets", em_cmd_target },
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
