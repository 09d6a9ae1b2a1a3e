/* The `ember` admin CLI: one program, one file per command family.
 *
 * Each family exports a run function taking the arguments after its name
 * (argv[0] is the family name) and returning the process exit status. Add a
 * family by writing cmd_<name>.c and one line in main.c's table.
 */
#ifndef EMBER_TOOLS_CLI_H
#define EMBER_TOOLS_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct em_cli_cmd {
	const char *name;
	const char *summary;
	int (*run)(int argc, char **argv);
};

/* Exit statuses: 0 ok, 1 the operation failed, 2 bad usage. */
#define EM_EXIT_OK 0
#define EM_EXIT_FAIL 1
#define EM_EXIT_USAGE 2

/* Progress bar on stderr when it is a terminal, silent otherwise. */
struct em_progress {
	const char *label;
	uint64_t total, done;
	uint64_t start_ms, last_draw_ms;
	bool tty;
};
void em_progress_start(struct em_progress *p, const char *label, uint64_t total);
void em_progress_update(struct em_progress *p, uint64_t done);
void em_progress_finish(struct em_progress *p);

/* "1.5 GiB" style sizes for human output. */
const char *em_fmt_bytes(uint64_t bytes, char *buf, size_t len);

#endif
