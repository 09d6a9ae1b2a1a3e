/* Crash consistency of the chunk engine.
 *
 * kill -9: a child writes chunks as fast as it can (16 chunks in flight, so
 * group commit is busy) and appends each acknowledgement to a file; the
 * parent kills it at a random moment, 50 times. After every kill the target
 * must open, every acknowledged version must be there, and whatever version
 * a chunk has must read back whole with the right bytes and checksum: a
 * write nobody acknowledged may appear, but never half.
 *
 * Torn tails: a child writes two chunks and exits without closing; the
 * parent zeroes or corrupts the last log page; the second write must vanish
 * cleanly (and its slot be reclaimed) while the first survives.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "block/chunk/engine.h"
#include "block/chunk/layout.h"
#include "include/ember/errors.h"
#include "tap.h"
#include "chunk_util.h"

#define DEV_SIZE (1ull << 30)
#define NCHUNK 16
#define KILLS 50

static char path[64], ackpath[64];

static uint32_t mix(uint32_t c, uint32_t v)
{
	uint32_t h = c * 2654435761u ^ v * 40503u;
	h ^= h >> 15;
	h *= 2246822519u;
	return h ^ (h >> 13);
}

/* Each chunk cycles through: truncate to 0, rewrite from offset 0, append. */
static uint32_t piece_len(uint32_t c, uint32_t v)
{
	switch (v % 3) {
	case 1: return 0;
	case 2: return 1 + mix(c, v) % 150000;
	default: return 1 + mix(c, v) % 20000;
	}
}

static uint32_t content(uint32_t c, uint32_t v, uint8_t *out)
{
	if (v % 3 == 1 || v == 0)
		return 0;
	uint32_t base = v % 3 == 2 ? 0 : content(c, v - 1, out);
	uint32_t n = piece_len(c, v);
	cu_fill(out + base, n, (uint64_t)c << 32 | v);
	return base + n;
}

/* ---- the writer child --------------------------------------------------- */

struct writer {
	struct em_engine *e;
	int ackfd;
	uint32_t c, v, len;
	uint8_t buf[200000];
};

static void write_next(struct writer *w);

static void written(void *arg, int status, const struct em_chunk_meta *m)
{
	struct writer *w = arg;
	if (status < 0)
		_exit(3);
	uint32_t rec[2] = { w->c, w->v };
	if (write(w->ackfd, rec, sizeof(rec)) != sizeof(rec))
		_exit(4);
	w->len = m->length;
	w->v++;
	write_next(w);
}

static void write_next(struct writer *w)
{
	struct em_chunk_id id = cu_id(w->c);
	if (w->v % 3 == 1) {
		if (em_chunk_truncate(w->e, &id, 0, w->v, 0, EM_CHUNK_COMMIT, written, w) < 0)
			_exit(5);
		return;
	}
	uint32_t n = piece_len(w->c, w->v), off = w->v % 3 == 2 ? 0 : w->len;
	cu_fill(w->buf, n, (uint64_t)w->c << 32 | w->v);
	struct em_chunk_update u = { .id = id, .offset = off, .len = n, .data = w->buf,
				     .update_ver = w->v, .flags = EM_CHUNK_COMMIT };
	if (em_chunk_update(w->e, &u, written, w) < 0)
		_exit(6);
}

static void writer_child(void)
{
	em_reactor_create("writer", &cu_reactor);
	struct em_engine *e;
	if (em_engine_open(path, NULL, cu_reactor, &e) < 0)
		_exit(2);
	int ackfd = open(ackpath, O_WRONLY | O_APPEND);
	static struct writer w[NCHUNK];
	for (uint32_t c = 0; c < NCHUNK; c++) {
		struct em_chunk_meta m = { 0 };
		struct em_chunk_id id = cu_id(c);
		em_chunk_query(e, &id, &m);
		w[c] = (struct writer){ .e = e, .ackfd = ackfd, .c = c, .v = m.commit_ver + 1,
					.len = m.length };
		write_next(&w[c]);
	}
	em_reactor_run(cu_reactor);
	_exit(0);
}

/* ---- the checker -------------------------------------------------------- */

static uint8_t expect[200000], got[200000];

static int verify(const uint32_t *acked, int *unacked_seen)
{
	struct em_engine *e;
	int rc = em_engine_open(path, NULL, cu_reactor, &e);
	if (rc < 0) {
		printf("# open after kill: %s\n", em_strerror(rc));
		return 0;
	}
	int good = 1;
	for (uint32_t c = 0; c < NCHUNK; c++) {
		struct em_chunk_meta m = { 0 };
		struct em_chunk_id id = cu_id(c);
		em_chunk_query(e, &id, &m);
		if (m.commit_ver < acked[c]) {
			printf("# chunk %u: version %u, but %u was acknowledged\n", c, m.commit_ver,
			       acked[c]);
			good = 0;
		}
		if (m.commit_ver > acked[c])
			(*unacked_seen)++;
		if (!m.commit_ver)
			continue;
		uint32_t n = content(c, m.commit_ver, expect);
		int r = cu_read(e, c, 0, sizeof(got), got, 0);
		if (r != (int)n || memcmp(expect, got, n) != 0) {
			printf("# chunk %u v%u: read %d (%s), want %u matching bytes\n", c,
			       m.commit_ver, r, r < 0 ? em_strerror(r) : "", n);
			good = 0;
		}
	}
	em_engine_close(e);
	return good;
}

static void test_kill9(void)
{
	uint32_t acked[NCHUNK] = { 0 };
	int fd = open(ackpath, O_RDWR | O_CREAT | O_TRUNC, 0600);
	close(fd);
	srand((unsigned)time(NULL));
	int passed = 0, unacked_seen = 0;
	for (int i = 0; i < KILLS; i++) {
		pid_t pid = fork();
		if (pid == 0)
			writer_child();
		struct timespec ts = { 0, (40 + rand() % 200) * 1000000L };
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		int st;
		waitpid(pid, &st, 0);
		if (!WIFSIGNALED(st))
			printf("# child %d exited early with %d\n", i, WEXITSTATUS(st));
		/* Highest acknowledged version per chunk, over every run. */
		fd = open(ackpath, O_RDONLY);
		uint32_t rec[2];
		while (read(fd, rec, sizeof(rec)) == sizeof(rec))
			if (rec[0] < NCHUNK && rec[1] > acked[rec[0]])
				acked[rec[0]] = rec[1];
		close(fd);
		passed += verify(acked, &unacked_seen);
	}
	uint64_t total = 0;
	for (int c = 0; c < NCHUNK; c++)
		total += acked[c];
	printf("# %llu acknowledged writes over %d kills; %d chunks showed a complete "
	       "unacknowledged write\n", (unsigned long long)total, KILLS, unacked_seen);
	is_int(passed, KILLS, "every kill: acknowledged writes intact, nothing half visible");
	ok(total > KILLS, "the writer made progress");
}

/* ---- torn log tails ------------------------------------------------------ */

static void two_writes_child(void)
{
	em_reactor_create("writer", &cu_reactor);
	struct em_engine *e;
	if (em_engine_open(path, NULL, cu_reactor, &e) < 0)
		_exit(2);
	uint8_t buf[5000];
	cu_fill(buf, sizeof(buf), 1);
	if (cu_update(e, 1, 0, sizeof(buf), buf, 1, EM_CHUNK_COMMIT, NULL) < 0)
		_exit(3);
	cu_fill(buf, sizeof(buf), 2);
	if (cu_update(e, 2, 0, sizeof(buf), buf, 1, EM_CHUNK_COMMIT, NULL) < 0)
		_exit(3);
	_exit(0); /* no close: the log is not folded into a checkpoint */
}

static void test_torn(const char *how, int zero)
{
	struct em_engine_format_opts fo = { 0 };
	em_engine_format(path, &fo);
	pid_t pid = fork();
	if (pid == 0)
		two_writes_child();
	int st;
	waitpid(pid, &st, 0);
	struct em_engine_stats s;
	em_engine_inspect(path, EM_BDEV_AUTO, &s);
	char what[128];
	snprintf(what, sizeof(what), "%s: two records in the log before the damage", how);
	is_int(s.log_head - s.log_tail, 2, what);
	/* Damage the page with the second record. */
	int fd = open(path, O_RDWR);
	struct em_superblock sb;
	uint8_t page[EM_PAGE];
	if (pread(fd, page, EM_PAGE, 0) != EM_PAGE || em_sb_decode(page, EM_PAGE, &sb) < 0)
		abort();
	off_t at = (off_t)(sb.log_off + ((s.log_head - 1) % sb.log_pages) * EM_PAGE);
	if (pread(fd, page, EM_PAGE, at) != EM_PAGE)
		abort();
	if (zero)
		memset(page, 0, EM_PAGE); /* the write never landed */
	else
		page[EM_LOG_HDR + 20] ^= 0x10; /* corrupt inside a record */
	if (pwrite(fd, page, EM_PAGE, at) != EM_PAGE)
		abort();
	close(fd);

	struct em_engine *e;
	snprintf(what, sizeof(what), "%s: target opens", how);
	is_int(em_engine_open(path, NULL, cu_reactor, &e), 0, what);
	uint8_t buf[5000], want[5000];
	cu_fill(want, sizeof(want), 1);
	snprintf(what, sizeof(what), "%s: first write intact", how);
	ok(cu_read(e, 1, 0, sizeof(buf), buf, 0) == (int)sizeof(buf) &&
	   memcmp(buf, want, sizeof(buf)) == 0, what);
	snprintf(what, sizeof(what), "%s: damaged record ignored", how);
	is_int(cu_read(e, 2, 0, sizeof(buf), buf, 0), -ENOENT, what);
	em_engine_get_stats(e, &s);
	snprintf(what, sizeof(what), "%s: its slot reclaimed", how);
	is_int(s.cls[0].slots_used, 1, what);
	/* New writes after recovery land where the damaged page was. */
	cu_fill(want, sizeof(want), 3);
	cu_update(e, 3, 0, sizeof(want), want, 1, EM_CHUNK_COMMIT, NULL);
	em_engine_close(e);
	is_int(em_engine_open(path, NULL, cu_reactor, &e), 0, "reopen after new writes");
	snprintf(what, sizeof(what), "%s: later write survives", how);
	ok(cu_read(e, 3, 0, sizeof(buf), buf, 0) == (int)sizeof(buf) &&
	   memcmp(buf, want, sizeof(buf)) == 0, what);
	em_engine_close(e);
}

int main(void)
{
	strcpy(path, "chunk-crash-XXXXXX");
	int fd = mkstemp(path);
	if (fd < 0 || ftruncate(fd, (off_t)DEV_SIZE) < 0)
		return 1;
	close(fd);
	snprintf(ackpath, sizeof(ackpath), "%s.acks", path);
	em_reactor_create("checker", &cu_reactor);

	test_torn("missing tail page", 1);
	test_torn("corrupt tail", 0);

	struct em_engine_format_opts fo = { .log_pages = 256 }; /* wrap the ring too */
	is_int(em_engine_format(path, &fo), 0, "format for the kill test");
	test_kill9();

	unlink(path);
	unlink(ackpath);
	em_reactor_destroy(cu_reactor);
	return tap_done();
}
