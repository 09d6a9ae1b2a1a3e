/* The client half of tools/bench/meta: mdtest-style creates, stats,
 * renames and unlinks per second through ember-meta against the same
 * operations on a local directory.
 *
 *   meta_bench URL SECRET_FILE REF_DIR LABEL [THREADS [FILES_PER_THREAD]]
 *
 * Each of THREADS threads works in its own directory (mdtest's "unique
 * directory" mode) through FILES_PER_THREAD files, phase by phase: create
 * (O_CREAT|O_EXCL), stat (lookup), rename to a new name in the same
 * directory, unlink. The reference does open(O_CREAT|O_EXCL)+close, stat(2),
 * rename(2) and unlink(2) in REF_DIR (tmpfs or ext4: the kernel's own
 * metadata speed, no network, no transactions). Prints RESULT lines named
 * meta_LABEL_<op> (DESIGN.md §7); exits 0 even when a goal is missed.
 * A failed call would make its phase look fast: an operation with any
 * failed call, on either side, gets no RESULT line, the first error of
 * each side is printed, and the exit status is 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "net/auth.h"
#include "ember/errors.h"
#include "fs/meta/client.h"
#include "fs/mgmt/client.h"

#define MAX_THREADS 64

static const struct em_meta_cred cred = { 1000, 1000, 0, { 0 } };
static const struct em_meta_cred root = { 0, 0, 0, { 0 } };

enum op { OP_CREATE, OP_STAT, OP_RENAME, OP_UNLINK, OP_COUNT };
static const char *const op_name[OP_COUNT] = { "create", "stat", "rename", "unlink" };

struct job {
	struct em_meta_client *c; /* NULL: the local reference */
	const char *ref_dir;
	int id, files;
	int errors[OP_COUNT];
	int first_error[OP_COUNT]; /* each op's first failure: -errno or an EM_ code */
	uint64_t dir;
	enum op op;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* name is the file's name before the rename phase, renamed after it. */
static int ember_op(struct job *j, const char *name, const char *renamed)
{
	struct em_meta_attr a;
	struct em_meta_open_res o;
	switch (j->op) {
	case OP_CREATE:
		return em_meta_client_create(j->c, &cred, j->dir, name, 0644,
					     O_RDONLY | O_CREAT | O_EXCL, 0, &o);
	case OP_STAT:
		return em_meta_client_lookup(j->c, &cred, j->dir, name, &a);
	case OP_RENAME:
		return em_meta_client_rename(j->c, &cred, j->dir, name, j->dir, renamed, 0);
	default:
		return em_meta_client_unlink(j->c, &cred, j->dir, renamed);
	}
}

/* 0 or -errno. */
static int ref_op(struct job *j, const char *name, const char *renamed)
{
	char path[512], to[512];
	struct stat st;
	snprintf(path, sizeof(path), "%s/t%d/%s", j->ref_dir, j->id, name);
	snprintf(to, sizeof(to), "%s/t%d/%s", j->ref_dir, j->id, renamed);
	switch (j->op) {
	case OP_CREATE: {
		int fd = open(path, O_RDONLY | O_CREAT | O_EXCL, 0644);
		return fd < 0 || close(fd) ? -errno : 0;
	}
	case OP_STAT:
		return stat(path, &st) ? -errno : 0;
	case OP_RENAME:
		return rename(path, to) ? -errno : 0;
	default:
		return unlink(to) ? -errno : 0;
	}
}

static void *run(void *arg)
{
	struct job *j = arg;
	char name[32], renamed[32];
	for (int i = 0; i < j->files; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		snprintf(renamed, sizeof(renamed), "r%d", i);
		int rc = j->c ? ember_op(j, name, renamed) : ref_op(j, name, renamed);
		if (rc != 0 && j->errors[j->op]++ == 0)
			j->first_error[j->op] = rc < 0 ? rc : -EIO;
	}
	return NULL;
}

/* Runs one phase on every thread; returns operations per second, or -1
 * when a thread could not start (the phase counts as failed). */
static double phase(struct job *jobs, int n, enum op op)
{
	pthread_t th[MAX_THREADS];
	int started = 0;
	double t0 = now_s();
	for (int i = 0; i < n; i++) {
		jobs[i].op = op;
		if (pthread_create(&th[i], NULL, run, &jobs[i]) != 0)
			break;
		started++;
	}
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	if (started < n) {
		fprintf(stderr, "meta_bench: cannot start thread %d\n", started);
		return -1;
	}
	return (double)n * jobs[0].files / (now_s() - t0);
}

/* Failed calls of op on one side; prints the first error once. */
static int failures(const struct job *jobs, int n, enum op op, const char *side)
{
	int errors = 0, first = 0;
	for (int i = 0; i < n; i++) {
		errors += jobs[i].errors[op];
		if (jobs[i].errors[op] && !first)
			first = jobs[i].first_error[op];
	}
	if (errors)
		fprintf(stderr, "meta_bench: %s %s: %d of %d calls failed (first: %s)\n", side,
			op_name[op], errors, n * jobs[0].files, em_strerror(first));
	return errors;
}

/* Per-thread directories, so the threads measure throughput rather than
 * conflicts on one directory inode (mdtest's "unique directory" mode). */
static int setup(struct em_meta_client *c, const char *ref_dir, struct job *ej, struct job *rj,
		 int threads, int files)
{
	char name[32], path[512];
	for (int i = 0; i < threads; i++) {
		struct em_meta_attr a;
		snprintf(name, sizeof(name), "bench-%d-%d", (int)getpid(), i);
		/* Root makes them, open to the bench user. */
		int rc = em_meta_client_mkdir(c, &root, EM_META_ROOT_INO, name, 0777, &a);
		snprintf(path, sizeof(path), "%s/t%d", ref_dir, i);
		if (rc < 0 || mkdir(path, 0755) < 0) {
			fprintf(stderr, "meta_bench: setup: %s\n", rc < 0 ? em_strerror(rc) : path);
			return -1;
		}
		ej[i] = (struct job){ .c = c, .id = i, .files = files, .dir = a.ino };
		rj[i] = (struct job){ .ref_dir = ref_dir, .id = i, .files = files };
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: meta_bench URL SECRET_FILE REF_DIR LABEL [THREADS [FILES]]\n");
		return 2;
	}
	int threads = argc > 5 ? atoi(argv[5]) : 16, files = argc > 6 ? atoi(argv[6]) : 500;
	if (threads < 1 || threads > MAX_THREADS || files < 1)
		return 2;
	uint8_t secret[4096];
	int n = em_auth_read_secret(argv[2], secret, sizeof(secret));
	if (n < 0) {
		fprintf(stderr, "meta_bench: %s: %s\n", argv[2], em_strerror(n));
		return 1;
	}
	const char *urls[] = { argv[1] };
	struct em_meta_client_opts o = { .servers = urls, .n_servers = 1, .secret = secret,
					 .secret_len = (size_t)n };
	struct em_meta_client *c;
	static struct job ej[MAX_THREADS], rj[MAX_THREADS];
	if (em_meta_connect(&o, &c) < 0 || setup(c, argv[3], ej, rj, threads, files) < 0)
		return 1;
	/* In order on each side: every phase works on what the previous one
	 * left (stat and rename the created files, unlink the renamed ones). */
	double e[OP_COUNT], r[OP_COUNT];
	for (int op = 0; op < OP_COUNT; op++)
		e[op] = phase(ej, threads, op);
	for (int op = 0; op < OP_COUNT; op++)
		r[op] = phase(rj, threads, op);
	em_meta_disconnect(c);
	int errors = 0, failed_ops = 0;
	int bad[OP_COUNT];
	for (int op = 0; op < OP_COUNT; op++) {
		int nerr = failures(ej, threads, op, "ember") + failures(rj, threads, op, "reference");
		bad[op] = nerr > 0 || e[op] <= 0 || r[op] <= 0;
		errors += nerr;
		failed_ops += bad[op];
	}
	printf("# %s: %d threads x %d files; %d errors\n", argv[4], threads, files, errors);
	for (int op = 0; op < OP_COUNT; op++) {
		if (bad[op]) {
			printf("# meta_%s_%s: not measured, its calls failed\n", argv[4], op_name[op]);
			continue;
		}
		printf("RESULT meta_%s_%s ember=%.0f ref=%.0f unit=ops/s ratio=%.3f goal=0.05\n",
		       argv[4], op_name[op], e[op], r[op], e[op] / r[op]);
	}
	return failed_ops ? 1 : 0;
}
