/* ember mount: runs ember-fuse with the CLI's usual cluster options, so an
 * operator mounts with the same --mgmtd / --secret-file as every command. */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tools/ember/cli.h"

int em_cmd_mount(int argc, char **argv);

static void usage(FILE *f)
{
	fprintf(f, "usage: ember mount MOUNTPOINT [--mgmtd URL[,URL]] [--meta URL[,URL]]\n"
		   "                   [--secret-file PATH] [-o OPTIONS] [-f]\n\n"
		   "Mounts the cluster's file system with ember-fuse (docs/fuse.md lists the\n"
		   "-o options). Defaults: $EMBER_MGMTD, $EMBER_META, $EMBER_SECRET_FILE.\n"
		   "-f stays in the foreground. Unmount with `fusermount3 -u MOUNTPOINT`.\n");
}

/* ember-fuse beside this program (a build tree or bin/), else from PATH. */
static void fuse_path(char *out, size_t len)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = 0;
		char *dir = dirname(self);
		snprintf(out, len, "%s/../ember-fuse/ember-fuse", dir);
		if (access(out, X_OK) == 0)
			return;
		snprintf(out, len, "%s/ember-fuse", dir);
		if (access(out, X_OK) == 0)
			return;
	}
	snprintf(out, len, "ember-fuse");
}

int em_cmd_mount(int argc, char **argv)
{
	const char *mnt = NULL, *mgmtd = getenv("EMBER_MGMTD"), *meta = getenv("EMBER_META");
	const char *secret = getenv("EMBER_SECRET_FILE"), *extra = NULL;
	int fg = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return EM_EXIT_OK;
		} else if (!strcmp(a, "--mgmtd") && i + 1 < argc) {
			mgmtd = argv[++i];
		} else if (!strcmp(a, "--meta") && i + 1 < argc) {
			meta = argv[++i];
		} else if (!strcmp(a, "--secret-file") && i + 1 < argc) {
			secret = argv[++i];
		} else if (!strcmp(a, "-o") && i + 1 < argc) {
			extra = argv[++i];
		} else if (!strcmp(a, "-f")) {
			fg = 1;
		} else if (a[0] != '-' && !mnt) {
			mnt = a;
		} else {
			usage(stderr);
			return EM_EXIT_USAGE;
		}
	}
	if (!mnt) {
		usage(stderr);
		return EM_EXIT_USAGE;
	}
	char opts[4096];
	int n = snprintf(opts, sizeof(opts), "mgmtd=%s,meta=%s,secret_file=%s%s%s",
			 mgmtd ? mgmtd : "tcp://127.0.0.1:9100", meta ? meta : "tcp://127.0.0.1:9101",
			 secret ? secret : "/etc/ember/secret", extra ? "," : "", extra ? extra : "");
	if (n >= (int)sizeof(opts)) {
		fprintf(stderr, "ember mount: options too long\n");
		return EM_EXIT_USAGE;
	}
	char exe[PATH_MAX + 32];
	fuse_path(exe, sizeof(exe));
	char *args[] = { exe, (char *)mnt, "-o", opts, fg ? "-f" : NULL, NULL };
	execvp(exe, args);
	fprintf(stderr, "ember mount: cannot run %s: %s\n", exe, strerror(errno));
	return EM_EXIT_FAIL;
}
