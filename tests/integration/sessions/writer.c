/* Writers for the sessions test (sessions.sh).
 *
 *   sess_writer fsync DIR N SECONDS PROGRESS   N threads each write DIR/wI in
 *       256 KiB pieces and fsync every MiB for SECONDS, retrying a failed
 *       write or fsync (a metadata server being killed) until it succeeds;
 *       after each successful fsync PROGRESS/wI holds the length it covered
 *       (written and fsync'd on the local disk). Prints one line per writer.
 *   sess_writer hold DIR N   writes DIR/hI: fsyncs at some length, writes
 *       3 MiB more without fsync, prints "hI fsynced Y written X"; then DIR/gone
 *       likewise, unlinked while open; then "holding" and waits forever.
 *   sess_writer verify PATH MIN   the file is at least MIN bytes and every byte
 *       is the pattern; prints "size S".
 * The byte at offset o of a file named n is pattern(n, o). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PIECE (256 * 1024)
#define MIB (1024 * 1024)

static uint32_t name_seed(const char *path)
{
	const char *n = strrchr(path, '/');
	uint32_t h = 2166136261u;
	for (n = n ? n + 1 : path; *n; n++)
		h = (h ^ (uint8_t)*n) * 16777619u;
	return h;
}

static uint8_t pattern(uint32_t seed, uint64_t o)
{
	uint64_t x = (o >> 3) * 0x9e3779b97f4a7c15ull ^ seed;
	return (uint8_t)(x >> (8 * (o & 7)));
}

static void fill(uint32_t seed, uint64_t off, uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = pattern(seed, off + i);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

struct writer {
	int idx;
	const char *dir, *progress;
	double deadline;
	uint64_t written, synced, write_errs, sync_errs;
	int close_rc;
};

static void note_progress(const struct writer *w)
{
	char p[4096], line[64];
	snprintf(p, sizeof(p), "%s/w%d", w->progress, w->idx);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return;
	int n = snprintf(line, sizeof(line), "%llu\n", (unsigned long long)w->synced);
	if (write(fd, line, (size_t)n) != n || fsync(fd) != 0)
		perror("progress");
	close(fd);
}

static void *fsync_writer(void *arg)
{
	struct writer *w = arg;
	char path[4096];
	snprintf(path, sizeof(path), "%s/w%d", w->dir, w->idx);
	uint32_t seed = name_seed(path);
	uint8_t *buf = malloc(PIECE);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || !buf) {
		perror(path);
		w->close_rc = -1;
		free(buf);
		return NULL;
	}
	while (now_s() < w->deadline) {
		fill(seed, w->written, buf, PIECE);
		if (pwrite(fd, buf, PIECE, (off_t)w->written) != PIECE) {
			w->write_errs++;
			usleep(100000);
			continue;
		}
		w->written += PIECE;
		if (w->written % MIB)
			continue;
		while (fsync(fd) != 0) {
			w->sync_errs++;
			usleep(100000);
		}
		w->synced = w->written;
		note_progress(w);
	}
	w->close_rc = close(fd);
	free(buf);
	return NULL;
}

static int run_fsync(const char *dir, int n, int secs, const char *progress)
{
	struct writer w[64];
	pthread_t th[64];
	if (n < 1 || n > 64)
		return 2;
	for (int i = 0; i < n; i++) {
		w[i] = (struct writer){ .idx = i, .dir = dir, .progress = progress,
					.deadline = now_s() + secs };
		pthread_create(&th[i], NULL, fsync_writer, &w[i]);
	}
	int bad = 0;
	for (int i = 0; i < n; i++) {
		pthread_join(th[i], NULL);
		printf("w%d written %llu synced %llu write_errors %llu fsync_errors %llu close %d\n", i,
		       (unsigned long long)w[i].written, (unsigned long long)w[i].synced,
		       (unsigned long long)w[i].write_errs, (unsigned long long)w[i].sync_errs,
		       w[i].close_rc);
		bad |= w[i].close_rc != 0 || w[i].synced == 0;
	}
	return bad;
}

/* Writes [0, y), fsyncs, writes [y, x); returns the descriptor. */
static int write_held(const char *path, uint64_t y, uint64_t x)
{
	uint32_t seed = name_seed(path);
	uint8_t *buf = malloc(PIECE);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || !buf) {
		perror(path);
		exit(1);
	}
	for (uint64_t off = 0; off < x;) {
		uint64_t end = off < y ? y : x;
		size_t len = end - off < PIECE ? (size_t)(end - off) : PIECE;
		fill(seed, off, buf, len);
		if (pwrite(fd, buf, len, (off_t)off) != (ssize_t)len) {
			perror(path);
			exit(1);
		}
		off += len;
		if (off == y && fsync(fd) != 0) {
			perror("fsync");
			exit(1);
		}
	}
	free(buf);
	return fd;
}

static int run_hold(const char *dir, int n)
{
	char path[4096];
	for (int i = 0; i < n; i++) {
		uint64_t y = (uint64_t)(i + 1) * MIB + 12345, x = y + 3 * MIB + 777 * (i + 1);
		snprintf(path, sizeof(path), "%s/h%d", dir, i);
		write_held(path, y, x);
		printf("h%d fsynced %llu written %llu\n", i, (unsigned long long)y,
		       (unsigned long long)x);
	}
	snprintf(path, sizeof(path), "%s/gone", dir);
	write_held(path, MIB, 2 * MIB + 5);
	if (unlink(path) != 0) {
		perror("unlink");
		return 1;
	}
	printf("holding\n");
	fflush(stdout);
	for (;;)
		pause();
}

static int run_verify(const char *path, uint64_t min)
{
	struct stat st;
	int fd = open(path, O_RDONLY);
	if (fd < 0 || fstat(fd, &st) != 0) {
		perror(path);
		return 1;
	}
	uint32_t seed = name_seed(path);
	uint8_t *buf = malloc(PIECE);
	uint64_t size = (uint64_t)st.st_size;
	printf("size %llu\n", (unsigned long long)size);
	if (size < min) {
		printf("shorter than %llu\n", (unsigned long long)min);
		return 1;
	}
	for (uint64_t off = 0; off < size;) {
		ssize_t r = pread(fd, buf, PIECE, (off_t)off);
		if (r <= 0) {
			printf("read at %llu: %s\n", (unsigned long long)off, r ? strerror(errno) : "EOF");
			return 1;
		}
		for (ssize_t i = 0; i < r; i++)
			if (buf[i] != pattern(seed, off + (uint64_t)i)) {
				printf("byte %llu wrong\n", (unsigned long long)(off + (uint64_t)i));
				return 1;
			}
		off += (uint64_t)r;
	}
	free(buf);
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 6 && strcmp(argv[1], "fsync") == 0)
		return run_fsync(argv[2], atoi(argv[3]), atoi(argv[4]), argv[5]);
	if (argc == 4 && strcmp(argv[1], "hold") == 0)
		return run_hold(argv[2], atoi(argv[3]));
	if (argc == 4 && strcmp(argv[1], "verify") == 0)
		return run_verify(argv[2], strtoull(argv[3], NULL, 10));
	fprintf(stderr, "usage: sess_writer fsync DIR N SECONDS PROGRESS | hold DIR N | "
			"verify PATH MIN\n");
	return 2;
}
