/* Two ember-meta servers over one real PostgreSQL, eight client processes
 * racing creates, renames (plain, NOREPLACE, EXCHANGE, directories into each
 * other), links, unlinks, rmdirs and write-open-unlink-close in one shared
 * directory; then the namespace must pass `ember meta fsck` (the real CLI)
 * and account for every file ever created.
 *
 *   test_meta_race EMBER_META_EXE EMBER_EXE POSTGRES_URI
 *                                                   (with-pg.sh adds the URI)
 *
 * EMBER_RACE_SECONDS sets how long the clients race (default 15; the issue's
 * acceptance run uses 60).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ember/errors.h"
#include "fs/meta/client.h"
#include "server.h"
#include "tap.h"

#define CLIENTS 8
#define NAMES 24

static const struct em_meta_cred user = { 1000, 1000, 0, { 0 } };

/* What each client did, in shared memory. */
struct tally {
	long ops, creates, unexpected;
	int last_unexpected;
};

static uint64_t lookup(struct em_meta_client *c, uint64_t dir, const char *name)
{
	struct em_meta_attr a;
	return em_meta_client_lookup(c, &user, dir, name, &a) == 0 ? a.ino : 0;
}

/* Errors the race makes legitimately; anything else is a bug. */
static bool expected(int rc)
{
	switch (rc) {
	case 0:
	case -EEXIST:
	case -ENOENT:
	case -ENOTEMPTY:
	case -EISDIR:
	case -ENOTDIR:
	case -EINVAL:   /* a directory into its own subtree */
	case -EPERM:    /* a hard link to a directory */
		return true;
	default:
		return false;
	}
}

static int one_op(struct em_meta_client *c, uint64_t dir, unsigned *seed, struct tally *t)
{
	char a[16], b[16];
	unsigned r = (unsigned)rand_r(seed);
	snprintf(a, sizeof(a), "%c%u", r & 1 ? 'd' : 'f', (r >> 4) % NAMES);
	snprintf(b, sizeof(b), "%c%u", r & 2 ? 'd' : 'f', (r >> 12) % NAMES);
	struct em_meta_attr at;
	struct em_meta_open_res o;
	uint64_t ino, sub;
	int rc;
	switch ((r >> 20) % 9) {
	case 0:
	case 1:
		rc = em_meta_client_create(c, &user, dir, a, 0644, O_RDONLY | O_CREAT | O_EXCL, 0, &o);
		t->creates += rc == 0;
		return rc;
	case 2:
		rc = em_meta_client_mkdir(c, &user, dir, a, 0755, &at);
		return rc;
	case 3:
		return em_meta_client_rename(c, &user, dir, a, dir, b, 0);
	case 4:
		return em_meta_client_rename(c, &user, dir, a, dir, b, (r >> 8) & 1 ? RENAME_NOREPLACE
										   : RENAME_EXCHANGE);
	case 5:
		/* Move an entry into a subdirectory or back up. */
		sub = lookup(c, dir, b);
		if (!sub)
			return 0;
		if ((ino = lookup(c, sub, a)))
			return em_meta_client_rename(c, &user, sub, a, dir, a, 0);
		return em_meta_client_rename(c, &user, dir, a, sub, a, 0);
	case 6:
		ino = lookup(c, dir, a);
		return ino ? em_meta_client_link(c, &user, ino, dir, b, &at) : 0;
	case 7:
		rc = em_meta_client_unlink(c, &user, dir, a);
		return rc == 0 ? 0 : em_meta_client_rmdir(c, &user, dir, a);
	default:
		/* Write-open, unlink while open, close: the orphan path. */
		rc = em_meta_client_create(c, &user, dir, a, 0644, O_WRONLY | O_CREAT | O_EXCL, 0, &o);
		if (rc < 0)
			return rc;
		t->creates++;
		rc = em_meta_client_unlink(c, &user, dir, (r >> 9) & 1 ? a : b);
		if (!expected(rc))
			return rc;
		return em_meta_client_close(c, &user, o.attr.ino, o.session, 4096, 0);
	}
}

static void client(const char *const *urls, const char *secret, uint64_t dir, int id,
		   int seconds, struct tally *t)
{
	struct em_meta_client_opts o = { .servers = urls, .n_servers = 2, .secret = secret,
					 .secret_len = strlen(secret) };
	struct em_meta_client *c;
	if (em_meta_connect(&o, &c) < 0) {
		t->unexpected++;
		return;
	}
	unsigned seed = (unsigned)id * 7919u + 1;
	time_t end = time(NULL) + seconds;
	while (time(NULL) < end) {
		int rc = one_op(c, dir, &seed, t);
		t->ops++;
		if (!expected(rc)) {
			t->unexpected++;
			t->last_unexpected = rc;
		}
	}
	em_meta_disconnect(c);
}

/* One count from fsck's JSON report, or -1 when it is not there. */
static long long report_count(const char *json, const char *field)
{
	char key[32];
	snprintf(key, sizeof(key), "\"%s\": ", field);
	const char *p = strstr(json, key);
	return p ? strtoll(p + strlen(key), NULL, 10) : -1;
}

/* Checks the store as an operator would, with the real CLI: its human
 * report (shown, up to 20 lines), then --json for the counts. */
static void check_store(const char *ember, const char *uri, long creates)
{
	static char out[1 << 16];
	is_int(meta_fsck_cli(ember, uri, "", out, sizeof(out)), 0,
	       "ember meta fsck finds no problem");
	meta_diag(out, 20);
	is_int(meta_fsck_cli(ember, uri, "--json", out, sizeof(out)), 0, "ember meta fsck --json too");
	long long files = report_count(out, "files"), gc = report_count(out, "gc");
	is_int(report_count(out, "problems"), 0, "the namespace is consistent");
	is_int(report_count(out, "orphans") + report_count(out, "sessions"), 0,
	       "every write session was closed");
	/* Each file ever created is live or queued for GC exactly once. */
	is_int(files + gc, creates, "no file lost or duplicated");
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		printf("Bail out! usage: %s EMBER_META_EXE EMBER_EXE POSTGRES_URI\n", argv[0]);
		return 1;
	}
	const char *env = getenv("EMBER_RACE_SECONDS");
	int seconds = env ? atoi(env) : 15;
	char dir[] = "/tmp/ember-meta-race-XXXXXX";
	if (!mkdtemp(dir))
		return 1;
	const char *secret = meta_test_secret(dir);
	struct meta_server s[2];
	if (meta_server_start(argv[1], dir, "meta0", argv[3], 4, &s[0]) < 0 ||
	    meta_server_start(argv[1], dir, "meta1", argv[3], 4, &s[1]) < 0) {
		printf("Bail out! ember-meta did not start over %s\n", argv[3]);
		return 1;
	}
	const char *urls[2] = { s[0].url, s[1].url };

	/* The shared directory, made through the first server only. */
	struct em_meta_client_opts o = { .servers = urls, .n_servers = 1, .secret = secret,
					 .secret_len = strlen(secret) };
	struct em_meta_client *c;
	struct em_meta_attr home;
	const struct em_meta_cred root = { 0, 0, 0, { 0 } };
	if (em_meta_connect(&o, &c) < 0 ||
	    em_meta_client_mkdir(c, &root, EM_META_ROOT_INO, "race", 0777, &home) < 0) {
		printf("Bail out! cannot make the race directory\n");
		return 1;
	}
	em_meta_disconnect(c);

	struct tally *t = mmap(NULL, CLIENTS * sizeof(*t), PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (t == MAP_FAILED)
		return 1;
	memset(t, 0, CLIENTS * sizeof(*t));
	fflush(stdout);
	for (int i = 0; i < CLIENTS; i++)
		if (fork() == 0) {
			client(urls, secret, home.ino, i, seconds, &t[i]);
			_exit(0);
		}
	int clean = 0;
	for (int i = 0; i < CLIENTS; i++) {
		int st;
		if (wait(&st) > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0)
			clean++;
	}
	is_int(clean, CLIENTS, "every client process finished");
	long ops = 0, creates = 0, unexpected = 0;
	for (int i = 0; i < CLIENTS; i++) {
		ops += t[i].ops;
		creates += t[i].creates;
		unexpected += t[i].unexpected;
		if (t[i].unexpected)
			printf("# client %d: last unexpected error %s\n", i,
			       em_errname(t[i].last_unexpected));
	}
	printf("# %ld operations in %d s by %d clients over 2 servers, %ld files created\n", ops,
	       seconds, CLIENTS, creates);
	ok(ops > CLIENTS, "the clients made progress");
	is_int(unexpected, 0, "no operation failed in an unexpected way");
	is_int(meta_server_stop(&s[0]), 0, "server 0 exits cleanly on SIGTERM");
	is_int(meta_server_stop(&s[1]), 0, "server 1 exits cleanly on SIGTERM");
	check_store(argv[2], argv[3], creates);

	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", dir);
	return tap_done();
}
