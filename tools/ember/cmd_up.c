/* `ember up` and `ember down`: run ember-up (tools/ember-up.sh), the script
 * that starts and stops a single-machine cluster. The orchestration is a
 * script because it is process plumbing (spawn, wait for a ready line,
 * signal, mount) that tests and operators can read and run on its own. */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tools/ember/cli.h"

int em_cmd_up(int argc, char **argv);
int em_cmd_down(int argc, char **argv);

/* ember-up is installed beside this program, in the build tree and in bin/. */
static int script_path(char *out, size_t len)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0)
		return -errno;
	self[n] = 0;
	if (snprintf(out, len, "%s/ember-up", dirname(self)) >= (int)len)
		return -ENAMETOOLONG;
	return access(out, X_OK) == 0 ? 0 : -errno;
}

static int run_script(const char *verb, int argc, char **argv)
{
	char path[PATH_MAX + 16];
	int rc = script_path(path, sizeof(path));
	if (rc < 0) {
		fprintf(stderr, "ember %s: cannot find ember-up beside the ember program (%s); "
				"reinstall, or run it from the build tree\n", verb, strerror(-rc));
		return EM_EXIT_FAIL;
	}
	char *args[argc + 2];
	args[0] = path;
	args[1] = (char *)verb;
	for (int i = 1; i < argc; i++)
		args[i + 1] = argv[i];
	args[argc + 1] = NULL;
	execv(path, args);
	fprintf(stderr, "ember %s: cannot run %s: %s\n", verb, path, strerror(errno));
	return EM_EXIT_FAIL;
}

int em_cmd_up(int argc, char **argv)
{
	return run_script("up", argc, argv);
}

int em_cmd_down(int argc, char **argv)
{
	return run_script("down", argc, argv);
}

static const char *cluster_dir(const char *dir)
{
	if (dir)
		return dir;
	return getenv("EMBER_DIR") && *getenv("EMBER_DIR") ? getenv("EMBER_DIR")
							   : "/var/lib/ember";
}

int em_cli_cluster(const char *name, const char *dir, const char *mgmtd, const char *secret,
		   struct em_cli_cluster *out)
{
	char buf[1024];
	const char *d = cluster_dir(dir);
	const char *m = mgmtd ? mgmtd : em_cli_setting(dir, "EMBER_MGMTD", buf, sizeof(buf));
	snprintf(out->mgmtd, sizeof(out->mgmtd), "%s", m ? m : "tcp://127.0.0.1:9100");
	const char *s = secret ? secret : em_cli_setting(dir, "EMBER_SECRET_FILE", buf, sizeof(buf));
	snprintf(out->secret, sizeof(out->secret), "%s", s ? s : "/etc/ember/secret");
	if (access(out->secret, R_OK) == 0)
		return 0;
	int err = errno;
	if (secret || (getenv("EMBER_SECRET_FILE") && *getenv("EMBER_SECRET_FILE")))
		fprintf(stderr, "ember %s: secret file %s: %s\n", name, out->secret, strerror(err));
	else
		fprintf(stderr, "ember %s: no cluster found: no --secret-file, no $EMBER_SECRET_FILE, "
			"%s/ember.env %s, and %s: %s. Give --dir DIR of a cluster from `ember up`, "
			"or --mgmtd URL --secret-file PATH\n", name, d,
			s ? "names it" : "has no EMBER_SECRET_FILE (or is missing)", out->secret,
			strerror(err));
	return -ENOENT;
}

const char *em_cli_setting(const char *dir, const char *key, char *buf, size_t len)
{
	const char *v = getenv(key);
	if (v && *v)
		return v;
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/ember.env", cluster_dir(dir));
	FILE *f = fopen(path, "re");
	if (!f)
		return NULL;
	size_t kl = strlen(key);
	char line[4096];
	const char *found = NULL;
	while (!found && fgets(line, sizeof(line), f)) {
		if (strncmp(line, key, kl) != 0 || line[kl] != '=')
			continue;
		line[strcspn(line, "\n")] = 0;
		snprintf(buf, len, "%s", line + kl + 1);
		found = buf;
	}
	fclose(f);
	return found;
}
