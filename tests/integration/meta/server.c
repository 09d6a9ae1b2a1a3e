/* Starting and stopping ember-meta for tests (server.h). */
#include <sys/stat.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server.h"

static const char secret[] = "ember meta test secret";

const char *meta_test_secret(const char *dir)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/secret", dir);
	FILE *f = fopen(path, "w");
	if (f) {
		fputs(secret, f);
		fclose(f);
		chmod(path, 0600); /* daemons refuse a secret others can read */
	}
	return secret;
}

int meta_server_start(const char *exe, const char *dir, const char *name, const char *kv,
		      unsigned chain_count, struct meta_server *out)
{
	char ini[256];
	snprintf(ini, sizeof(ini), "%s/%s.ini", dir, name);
	FILE *f = fopen(ini, "w");
	if (!f)
		return -1;
	fprintf(f, "[meta]\nlisten = tcp://127.0.0.1:0\nkv = %s\nsecret_file = %s/secret\n"
		   "reactors = 4\nchain_count = %u\n",
		kv, dir, chain_count);
	fclose(f);
	int p[2];
	if (pipe(p) < 0)
		return -1;
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		/* Never outlive the test, even when it crashes. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(p[1], STDOUT_FILENO);
		close(p[0]);
		close(p[1]);
		execl(exe, exe, "-c", ini, "-l", "warn", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	FILE *in = pid > 0 ? fdopen(p[0], "r") : NULL;
	char line[256] = "";
	bool ok = in && fgets(line, sizeof(line), in) &&
		  sscanf(line, "ember-meta: ready %127s", out->url) == 1;
	if (in)
		fclose(in);
	else
		close(p[0]);
	out->pid = pid;
	if (!ok) {
		printf("# %s did not start (got '%s')\n", name, line);
		if (pid > 0)
			meta_server_stop(out);
		return -1;
	}
	return 0;
}

int meta_server_stop(struct meta_server *s)
{
	int st;
	if (s->pid <= 0)
		return -1;
	kill(s->pid, SIGTERM);
	pid_t r = waitpid(s->pid, &st, 0);
	s->pid = 0;
	if (r < 0 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

int meta_fsck_cli(const char *ember, const char *uri, const char *args, char *out, size_t len)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "'%s' meta fsck --kv '%s' %s", ember, uri, args);
	fflush(stdout);
	FILE *p = popen(cmd, "r");
	if (!p)
		return -1;
	size_t n = fread(out, 1, len - 1, p);
	out[n] = 0;
	int st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

void meta_diag(const char *text, int max_lines)
{
	for (int i = 0; i < max_lines && *text; i++) {
		size_t n = strcspn(text, "\n");
		printf("# %.*s\n", (int)n, text);
		text += n + (text[n] != 0);
	}
}
