/* The client half of tools/bench/fs: one workload run over one of four
 * paths to the data, so the driver script can set them side by side.
 *
 *   fs_bench posix  PATH   MIB SECONDS          a file through the kernel
 *   fs_bench client /NAME  MIB SECONDS MGMTD META SECRET_FILE
 *   fs_bench native /NAME  MIB SECONDS MGMTD META SECRET_FILE
 *   fs_bench meta   DIR    FILES THREADS        creates, stats, unlinks
 *
 * posix is the FUSE mount or the local file system (the same code, so the
 * same system calls); client is the raw client library (fs/client/client.h)
 * and native the ring API (include/ember/client.h), both on a file NAME in
 * the root directory of the cluster.
 *
 * Data workload, one stream at queue depth 1 on every path (fio's psync
 * with numjobs=1): write MIB MiB in 1 MiB blocks from offset 0 to a new
 * file and close it (fsync first on posix: Ember acknowledges a write only
 * once every replica has it, so the local reference must not stop at the
 * page cache either); read it back in 1 MiB blocks; then read 4 KiB blocks
 * at random 4 KiB-aligned offsets (a fixed-seed sequence, the same on every
 * path) for SECONDS. posix opens with O_DIRECT so neither FUSE nor the
 * local file is read from the page cache; when a file system refuses
 * O_DIRECT it says so and runs buffered, dropping nothing.
 *
 * meta: THREADS threads, each in its own directory under DIR (mdtest's
 * unique-directory mode, so the figure is throughput rather than contention
 * on one directory), create FILES files each (open O_CREAT|O_EXCL + close),
 * stat them, unlink them, phase by phase.
 *
 * Prints "fs_bench: OP VALUE" lines (MiB/s for seqwrite/seqread, IOPS for
 * randread, ops/s for create/stat/unlink); exits non-zero only when the
 * measurement could not be taken. A phase with a failed call prints no
 * line (a failed call would make it look fast) and makes the exit status 1.
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
#include "ember/client.h"
#include "ember/errors.h"
#include "fs/client/client.h"
#include "fs/mgmt/client.h"

#define EM_BLOCK (1u << 20)
#define EM_SMALL 4096u
#define EM_MAX_THREADS 64

static const struct em_meta_cred em_root_cred = { 0, 0, 0, { 0 } };

static double em_now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* xorshift64: cheap and identical on every path, so each path reads the
 * same offsets in the same order. */
static uint64_t em_next_rand(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* One path to the data: open for writing (new file) or reading, positional
 * I/O, close. Returns bytes or a negative errno, like pread/pwrite. */
struct em_path {
	int (*open)(struct em_path *p, bool write);
	ssize_t (*io)(struct em_path *p, bool write, void *buf, size_t len, uint64_t off);
	int (*close)(struct em_path *p, bool write);
	const char *name;
	/* posix */
	int fd;
	bool direct;
	/* client */
	struct em_fs *fs;
	struct em_fs_file *file;
	uint64_t ino;
	/* native */
	struct em_client *nc;
	struct em_client_file *nf;
	struct em_ring *ring;
	struct em_iov *iov;
};

static int em_posix_open(struct em_path *p, bool write)
{
	int flags = write ? O_WRONLY | O_CREAT | O_TRUNC : O_RDONLY;
	p->fd = open(p->name, flags | O_DIRECT, 0644);
	if (p->fd < 0 && errno == EINVAL) {
		if (p->direct)
			fprintf(stderr, "fs_bench: %s: no O_DIRECT, running buffered\n", p->name);
		p->direct = false;
		p->fd = open(p->name, flags, 0644);
	}
	return p->fd < 0 ? -errno : 0;
}

static ssize_t em_posix_io(struct em_path *p, bool write, void *buf, size_t len, uint64_t off)
{
	ssize_t n = write ? pwrite(p->fd, buf, len, (off_t)off) : pread(p->fd, buf, len, (off_t)off);
	return n < 0 ? -errno : n;
}

static int em_posix_close(struct em_path *p, bool write)
{
	int rc = write && fsync(p->fd) < 0 ? -errno : 0;
	if (close(p->fd) < 0 && rc == 0)
		rc = -errno;
	return rc;
}

static int em_client_path_open(struct em_path *p, bool write)
{
	struct em_meta_attr a;
	if (write) {
		int rc = em_fs_file_create(p->fs, &em_root_cred, EM_META_ROOT_INO, p->name + 1, 0644,
					   O_RDWR | O_CREAT | O_TRUNC, &p->file, &a);
		p->ino = a.ino;
		return rc;
	}
	return em_fs_file_open(p->fs, &em_root_cred, p->ino, O_RDONLY, &p->file, &a);
}

static ssize_t em_client_path_io(struct em_path *p, bool write, void *buf, size_t len, uint64_t off)
{
	return write ? em_fs_write(p->fs, p->file, buf, len, off)
		     : em_fs_read(p->fs, p->file, buf, len, off);
}

static int em_client_path_close(struct em_path *p, bool write)
{
	(void)write;
	return em_fs_file_release(p->fs, p->file);
}

static int em_native_open(struct em_path *p, bool write)
{
	return em_client_file_open(p->nc, p->name, write ? O_RDWR | O_CREAT | O_TRUNC : O_RDONLY,
				   0644, &p->nf);
}

/* Depth 1, like the other paths: prep, submit, wait for that one. */
static ssize_t em_native_io(struct em_path *p, bool write, void *buf, size_t len, uint64_t off)
{
	struct em_cqe cqe;
	int rc = em_ring_prep(p->ring, p->iov, write, p->nf, off, buf, len, NULL);
	if (rc < 0)
		return rc;
	rc = em_ring_submit(p->ring);
	if (rc < 0)
		return rc;
	rc = em_ring_wait(p->ring, &cqe, 1, 1, -1);
	if (rc < 0)
		return rc;
	return rc == 1 ? cqe.result : -EIO;
}

static int em_native_close(struct em_path *p, bool write)
{
	(void)write;
	return em_client_file_close(p->nf);
}

static int em_fail(const char *what, const char *name, int rc)
{
	fprintf(stderr, "fs_bench: %s %s: %s\n", what, name, em_strerror(rc));
	return 1;
}

/* The data workload of the header comment over one path. */
static int em_run_data(struct em_path *p, uint64_t mib, double seconds, uint8_t *buf)
{
	uint64_t size = mib * EM_BLOCK;
	memset(buf, 0x5a, EM_BLOCK);
	for (int write = 1; write >= 0; write--) {
		double t0 = em_now_s();
		int rc = p->open(p, write);
		if (rc < 0)
			return em_fail("open", p->name, rc);
		for (uint64_t off = 0; off < size; off += EM_BLOCK) {
			ssize_t n = p->io(p, write, buf, EM_BLOCK, off);
			if (n != (ssize_t)EM_BLOCK)
				return em_fail(write ? "write" : "read", p->name, n < 0 ? (int)n : -EIO);
		}
		/* Closing is part of a write: it is where posix fsyncs and
		 * where Ember publishes the length. */
		if (write && (rc = p->close(p, true)) < 0)
			return em_fail("close", p->name, rc);
		printf("fs_bench: %s %.1f\n", write ? "seqwrite" : "seqread",
		       (double)mib / (em_now_s() - t0));
	}
	uint64_t blocks = size / EM_SMALL, seed = 0x9e3779b97f4a7c15ull, ops = 0;
	double t0 = em_now_s(), t = t0;
	/* Check the clock every 64 reads: cheap next to a 4 KiB read. */
	for (; t - t0 < seconds; ops++) {
		uint64_t off = em_next_rand(&seed) % blocks * EM_SMALL;
		ssize_t n = p->io(p, false, buf, EM_SMALL, off);
		if (n != (ssize_t)EM_SMALL)
			return em_fail("random read", p->name, n < 0 ? (int)n : -EIO);
		if (ops % 64 == 63)
			t = em_now_s();
	}
	printf("fs_bench: randread %.0f\n", (double)ops / (em_now_s() - t0));
	int rc = p->close(p, false);
	return rc < 0 ? em_fail("close", p->name, rc) : 0;
}

/* Both Ember paths: the cluster's URLs and the secret from argv. */
static int em_run_ember(bool native, char **argv, uint64_t mib, double seconds, uint8_t *buf)
{
	struct em_path p = { .name = argv[2] };
	const char *mgmtd = argv[5], *meta = argv[6], *secret_file = argv[7];
	int rc, ret;
	if (p.name[0] != '/' || strchr(p.name + 1, '/')) {
		fprintf(stderr, "fs_bench: %s: give /NAME, a file in the root directory\n", p.name);
		return 2;
	}
	if (native) {
		struct em_client_opts o = { .mgmtd = mgmtd, .meta = meta, .secret_file = secret_file };
		if ((rc = em_client_open(&o, &p.nc)) < 0)
			return em_fail("connect", mgmtd, rc);
		if ((rc = em_ring_create(p.nc, 1, &p.ring)) < 0 ||
		    (rc = em_iov_register(p.nc, buf, EM_BLOCK, &p.iov)) < 0)
			return em_fail("ring", p.name, rc);
		p.open = em_native_open, p.io = em_native_io, p.close = em_native_close;
		ret = em_run_data(&p, mib, seconds, buf);
		em_iov_deregister(p.iov);
		em_ring_destroy(p.ring);
		em_client_close(p.nc);
		return ret;
	}
	uint8_t secret[4096];
	int n = em_auth_read_secret(secret_file, secret, sizeof(secret));
	if (n < 0)
		return em_fail("secret", secret_file, n);
	const char *mgmtd_urls[] = { mgmtd }, *meta_urls[] = { meta };
	/* io_threads left at the default (8), as ember-fuse and the native
	 * client leave it, so the three paths split work alike. */
	struct em_fs_opts o = { .mgmtd = mgmtd_urls, .n_mgmtd = 1, .meta = meta_urls, .n_meta = 1,
				.secret = secret, .secret_len = (size_t)n };
	if ((rc = em_fs_open(&o, &p.fs)) < 0)
		return em_fail("connect", mgmtd, rc);
	p.open = em_client_path_open, p.io = em_client_path_io, p.close = em_client_path_close;
	ret = em_run_data(&p, mib, seconds, buf);
	em_fs_close(p.fs);
	return ret;
}

enum em_meta_op { EM_OP_CREATE, EM_OP_STAT, EM_OP_UNLINK, EM_OP_COUNT };
static const char *const em_meta_op_name[EM_OP_COUNT] = { "create", "stat", "unlink" };

struct em_meta_job {
	pthread_t th;
	const char *dir;
	int id, files, errors, first_errno; /* this phase's */
	enum em_meta_op op;
};

static void *em_meta_run(void *arg)
{
	struct em_meta_job *j = arg;
	char path[4096];
	struct stat st;
	for (int i = 0; i < j->files; i++) {
		snprintf(path, sizeof(path), "%s/t%d/f%d", j->dir, j->id, i);
		int rc;
		if (j->op == EM_OP_CREATE) {
			int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
			rc = fd < 0 ? -1 : close(fd);
		} else if (j->op == EM_OP_STAT) {
			rc = stat(path, &st);
		} else {
			rc = unlink(path);
		}
		if (rc != 0 && j->errors++ == 0)
			j->first_errno = errno;
	}
	return NULL;
}

static int em_run_meta(const char *dir, int files, int threads)
{
	static struct em_meta_job jobs[EM_MAX_THREADS];
	char path[4096];
	for (int i = 0; i < threads; i++) {
		snprintf(path, sizeof(path), "%s/t%d", dir, i);
		if (mkdir(path, 0755) < 0)
			return em_fail("mkdir", path, -errno);
		jobs[i] = (struct em_meta_job){ .dir = dir, .id = i, .files = files };
	}
	int failed_phases = 0;
	for (int op = 0; op < EM_OP_COUNT; op++) {
		int started = 0, errors = 0, first = 0;
		double t0 = em_now_s();
		for (int i = 0; i < threads; i++) {
			jobs[i].op = (enum em_meta_op)op;
			jobs[i].errors = jobs[i].first_errno = 0;
			if (pthread_create(&jobs[i].th, NULL, em_meta_run, &jobs[i]) != 0)
				break;
			started++;
		}
		for (int i = 0; i < started; i++)
			pthread_join(jobs[i].th, NULL);
		double secs = em_now_s() - t0;
		for (int i = 0; i < started; i++) {
			errors += jobs[i].errors;
			if (!first)
				first = jobs[i].first_errno;
		}
		/* A failed call would make its phase look fast: no figure. */
		if (started < threads || errors) {
			if (started < threads)
				fprintf(stderr, "fs_bench: %s: cannot start thread %d\n",
					em_meta_op_name[op], started);
			if (errors)
				fprintf(stderr, "fs_bench: %s %s: %d of %d calls failed (first: %s)\n",
					dir, em_meta_op_name[op], errors, started * files,
					strerror(first));
			failed_phases++;
			continue;
		}
		printf("fs_bench: %s %.0f\n", em_meta_op_name[op], (double)threads * files / secs);
	}
	for (int i = 0; i < threads; i++) {
		snprintf(path, sizeof(path), "%s/t%d", dir, i);
		rmdir(path);
	}
	return failed_phases ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc >= 5 && strcmp(argv[1], "meta") == 0) {
		int files = atoi(argv[3]), threads = atoi(argv[4]);
		if (files < 1 || threads < 1 || threads > EM_MAX_THREADS)
			return 2;
		return em_run_meta(argv[2], files, threads);
	}
	bool posix = argc == 5 && strcmp(argv[1], "posix") == 0;
	bool ember = argc == 8 && (strcmp(argv[1], "client") == 0 || strcmp(argv[1], "native") == 0);
	if (!posix && !ember) {
		fprintf(stderr, "usage: fs_bench posix PATH MIB SECONDS\n"
				"       fs_bench client|native /NAME MIB SECONDS MGMTD META SECRET_FILE\n"
				"       fs_bench meta DIR FILES THREADS\n");
		return 2;
	}
	long mib = atol(argv[3]);
	double seconds = atof(argv[4]);
	if (mib < 1 || seconds <= 0)
		return 2;
	/* Page-aligned for O_DIRECT; the native path registers it once. */
	uint8_t *buf;
	if (posix_memalign((void **)&buf, 4096, EM_BLOCK) != 0)
		return 1;
	int ret;
	if (posix) {
		struct em_path p = { .name = argv[2], .direct = true, .open = em_posix_open,
				     .io = em_posix_io, .close = em_posix_close };
		ret = em_run_data(&p, (uint64_t)mib, seconds, buf);
		if (ret == 0)
			printf("fs_bench: direct %d\n", p.direct);
		unlink(p.name);
	} else {
		ret = em_run_ember(strcmp(argv[1], "native") == 0, argv, (uint64_t)mib, seconds, buf);
	}
	free(buf);
	return ret;
}
