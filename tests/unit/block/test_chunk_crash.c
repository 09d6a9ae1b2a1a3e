/* Crash consistency of the chunk engine.
 *
 * kill -9: a child writes chunks as fast as it can (16 chunks in flight, so
 * group commit is busy) and appends each acknowledgement to a file; the
 * parent kills it at a random moment, 50 times (EMBER_CRASH_KILLS=N for
 * more). Every child must die by that SIGKILL: one that exited on its own
 * (a write error, say) was not killed mid-write and fails the test. The
 * moments come from a seed printed as "# seed N"; EMBER_CRASH_SEED=N runs
 * the same sequence again. After every kill the target
 * must open, every acknowledged version must be there, and whatever version
 * a chunk has must read back whole with the right bytes and checksum: a
 * write nobody acknowledged may appear, but never half. Whole-chunk replaces
 * are in the mix: a chunk is its old content or its new one, never missing
 * (every acknowledged version is checked) and never mixed.
 *
 * Torn tails: a child writes two chunks and exits without closing; the
 * parent zeroes or corrupts the last log page; the second write must vanish
 * cleanly (and its slot be reclaimed) while the first survives.
 */
#include <errno.h>
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
#define KILLS 50 /* default; EMBER_CRASH_KILLS overrides */

static char path[64], ackpath[64];

static uint32_t mix(uint32_t c, uint32_t v)
{
	uint32_t h = c * 2654435761u ^ v * 40503u;
	h ^= h >> 15;
	h *= 2246822519u;
	return h ^ (h >> 13);
}

/* Each chunk cycles through: truncate to 0, rewrite from offset 0, append,
 * whole-chunk replace (EM_CHUNK_REPLACE; every other one committed by a
 * separate commit, so a kill can find it pending). A replace is mostly
 * shorter than what it replaces: a mix of old and new would show. */
static uint32_t piece_len(uint32_t c, uint32_t v)
{
	switch (v % 4) {
	case 1: return 0;
	case 2: return 1 + mix(c, v) % 150000;
	case 3: return 1 + mix(c, v) % 20000;
	default: return 1 + mix(c, v) % 60000;
	}
}

static bool replace_pending_first(uint32_t v)
{
	return v % 8 == 0;
}

static uint32_t content(uint32_t c, uint32_t v, uint8_t *out)
{
	if (v % 4 == 1 || v == 0)
		return 0;
	uint32_t base = v % 4 == 3 ? content(c, v - 1, out) : 0;
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

static void replaced(void *arg, int status, const struct em_chunk_meta *m)
{
	struct writer *w = arg;
	struct em_chunk_id id = cu_id(w->c);
	if (status < 0 || m->pending_ver != w->v)
		_exit(7);
	if (em_chunk_commit(w->e, &id, w->v, written, w) < 0)
		_exit(8);
}

static void write_next(struct writer *w)
{
	struct em_chunk_id id = cu_id(w->c);
	if (w->v % 4 == 1) {
		if (em_chunk_truncate(w->e, &id, 0, w->v, 0, EM_CHUNK_COMMIT, written, w) < 0)
			_exit(5);
		return;
	}
	uint32_t n = piece_len(w->c, w->v), off = w->v % 4 == 3 ? w->len : 0;
	cu_fill(w->buf, n, (uint64_t)w->c << 32 | w->v);
	struct em_chunk_update u = { .id = id, .offset = off, .len = n, .data = w->buf,
				     .update_ver = w->v, .flags = EM_CHUNK_COMMIT };
	em_chunk_cb cb = written;
	if (w->v % 4 == 0) {
		u.flags = EM_CHUNK_REPLACE | EM_CHUNK_COMMIT;
		if (replace_pending_first(w->v)) {
			u.flags = EM_CHUNK_REPLACE;
			cb = replaced;
		}
	}
	if (em_chunk_update(w->e, &u, cb, w) < 0)
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
		/* A replace the last kill left pending is simply redone. */
		w[c] = (struct writer){ .e = e, .ackfd = ackfd, .c = c, .v = m.commit_ver + 1,
					.len = m.length };
		write_next(&w[c]);
	}
	em_reactor_run(cu_reactor);
	_exit(0);
}

/* ---- the checker -------------------------------------------------------- */

static uint8_t expect[200000], got[200000];

/* Whatever version of chunk c the target holds (committed, or pending if
 * flags say so) reads back whole and equal to what that version wrote. */
static int check_version(struct em_engine *e, uint32_t c, uint32_t v, uint32_t flags)
{
	uint32_t n = content(c, v, expect);
	int r = cu_read(e, c, 0, sizeof(got), got, flags);
	if (r == (int)n && memcmp(expect, got, n) == 0)
		return 1;
	printf("# chunk %u v%u%s: read %d (%s), want %u matching bytes\n", c, v,
	       flags ? " (pending)" : "", r, r < 0 ? em_strerror(r) : "", n);
	return 0;
}

static int verify(const uint32_t *acked, int *unacked_seen, int *pending_seen)
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
		/* Only a replace waiting for its commit leaves a pending
		 * version: the new bytes, next to the whole old chunk. */
		if (m.pending_ver) {
			(*pending_seen)++;
			if (!replace_pending_first(m.pending_ver) ||
			    m.pending_ver != m.commit_ver + 1) {
				printf("# chunk %u: unexpected pending v%u over v%u\n", c,
				       m.pending_ver, m.commit_ver);
				good = 0;
			}
			good &= check_version(e, c, m.pending_ver, EM_CHUNK_READ_PENDING);
		}
		if (m.commit_ver)
			good &= check_version(e, c, m.commit_ver, 0);
	}
	em_engine_close(e);
	return good;
}

/* A decimal >= 0 from the environment, or def when unset; -1 when set
 * to anything else (the caller fails rather than run something else). */
static long long env_num(const char *name, long long def)
{
	const char *v = getenv(name);
	if (!v || !*v)
		return def;
	char *end;
	errno = 0;
	long long n = strtoll(v, &end, 10);
	if (errno || *end || n < 0) {
		printf("# %s=%s: not a number\n", name, v);
		return -1;
	}
	return n;
}

static void test_kill9(void)
{
	uint32_t acked[NCHUNK] = { 0 };
	long long kills = env_num("EMBER_CRASH_KILLS", KILLS);
	long long seed = env_num("EMBER_CRASH_SEED", (long long)time(NULL) ^ (long long)getpid() << 16);
	if (kills <= 0 || seed < 0) {
		ok(0, "EMBER_CRASH_KILLS is a positive number, EMBER_CRASH_SEED a number");
		return;
	}
	unsigned sd = (unsigned)seed;
	printf("# seed %u (EMBER_CRASH_SEED=%u repeats these kill moments), %lld kills\n", sd, sd,
	       kills);
	srand(sd);
	int fd = open(ackpath, O_RDWR | O_CREAT | O_TRUNC, 0600);
	close(fd);
	int passed = 0, killed = 0, unacked_seen = 0, pending_seen = 0;
	for (int i = 0; i < kills; i++) {
		pid_t pid = fork();
		if (pid == 0)
			writer_child();
		struct timespec ts = { 0, (40 + rand() % 200) * 1000000L };
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		int st;
		waitpid(pid, &st, 0);
		/* Only a writer that our SIGKILL stopped was killed mid-write;
		 * any other end (an exit on a write error, a crash) is a failure. */
		if (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL)
			killed++;
		else if (WIFSIGNALED(st))
			printf("# kill %d: the writer died by signal %d before the SIGKILL\n", i,
			       WTERMSIG(st));
		else
			printf("# kill %d: the writer exited with status %d before the SIGKILL\n", i,
			       WEXITSTATUS(st));
		/* Highest acknowledged version per chunk, over every run. */
		fd = open(ackpath, O_RDONLY);
		uint32_t rec[2];
		while (read(fd, rec, sizeof(rec)) == sizeof(rec))
			if (rec[0] < NCHUNK && rec[1] > acked[rec[0]])
				acked[rec[0]] = rec[1];
		close(fd);
		passed += verify(acked, &unacked_seen, &pending_seen);
	}
	uint64_t total = 0;
	for (int c = 0; c < NCHUNK; c++)
		total += acked[c];
	printf("# %llu acknowledged writes over %lld kills; %d chunks showed a complete "
	       "unacknowledged write, %d a pending replace\n", (unsigned long long)total, kills,
	       unacked_seen, pending_seen);
	is_int(killed, kills, "every writer was still writing when the SIGKILL came, and died by it");
	is_int(passed, kills, "every kill: acknowledged writes intact, nothing half visible");
	ok(total > (uint64_t)kills, "the writer made progress");
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
	char what[128];
	snprintf(what, sizeof(what), "%s: the two writes were acknowledged", how);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, what);
	struct em_engine_stats s;
	em_engine_inspect(path, EM_BDEV_AUTO, &s);
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
