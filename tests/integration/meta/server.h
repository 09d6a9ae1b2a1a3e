/* Real ember-meta processes and the real `ember` CLI for the integration
 * tests. */
#ifndef EMBER_TESTS_META_SERVER_H
#define EMBER_TESTS_META_SERVER_H

#include <sys/types.h>

struct meta_server {
	pid_t pid;
	char url[128];
};

/* Writes DIR/secret and returns the secret; the tests share one. */
const char *meta_test_secret(const char *dir);

/* Starts EXE with a config in dir (DIR/NAME.ini) serving store kv on an
 * ephemeral loopback port, and waits for its "ready" line. Returns 0 or -1
 * (with a TAP comment saying why). */
int meta_server_start(const char *exe, const char *dir, const char *name, const char *kv,
		      unsigned chain_count, struct meta_server *out);
/* SIGTERM, then waits; returns the exit status (0 is a clean shutdown) or
 * -1 when it died of a signal. */
int meta_server_stop(struct meta_server *s);

/* Runs `EMBER meta fsck --kv URI ARGS` (ARGS go through the shell); returns
 * its exit status, or -1 when it did not exit, with its standard output in
 * out. */
int meta_fsck_cli(const char *ember, const char *uri, const char *args, char *out, size_t len);
/* Prints text as TAP comments, line by line, at most max_lines of it. */
void meta_diag(const char *text, int max_lines);

#endif
