/* Chunk engine operations on a file, through the uring and aio backends, or
 * on a device given as PATH KIND (the vm suite). */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "block/chunk/engine.h"
#include "block/chunk/layout.h"
#include "include/ember/errors.h"
#include "net/core/crc32c.h"
#include "tap.h"
#include "chunk_util.h"

#define DEV_SIZE (1ull << 30)

static char path[64];

static void make_file(void)
{
	strcpy(path, "chunk-engine-XXXXXX");
	int fd = mkstemp(path);
	if (fd < 0 || ftruncate(fd, (off_t)DEV_SIZE) < 0)
		abort();
	close(fd);
}

static void query(struct em_engine *e, uint64_t n, struct em_chunk_meta *m)
{
	struct em_chunk_id id = cu_id(n);
	if (em_chunk_query(e, &id, m) < 0)
		memset(m, 0, sizeof(*m));
}

static struct em_engine *reopen(struct em_engine *e, enum em_bdev_kind kind)
{
	if (e)
		em_engine_close(e);
	struct em_engine_opts o = { .kind = kind };
	struct em_engine *n = NULL;
	int rc = em_engine_open(path, &o, cu_reactor, &n);
	if (rc < 0)
		printf("# open: %s\n", em_strerror(rc));
	return n;
}

static void test_ops(enum em_bdev_kind kind)
{
	const char *k = em_bdev_kind_name(kind);
	char what[160];
#define W(s) (snprintf(what, sizeof(what), "%s: %s", k, s), what)
	struct em_engine_format_opts fo = { .kind = kind };
	is_int(em_engine_format(path, &fo), 0, W("format"));
	struct em_engine *e = reopen(NULL, kind);
	ok(e != NULL, W("open"));
	if (!e)
		return;
	struct em_chunk_meta m, list[8];
	is_int(em_chunk_list(e, NULL, list, 8), 0, W("empty target lists nothing"));

	uint32_t len = 100000;
	uint8_t *a = malloc(1 << 21), *b = malloc(1 << 21), *r = malloc(1 << 21);
	cu_fill(a, len, 1);
	is_int(cu_update(e, 1, 0, len, a, 1, EM_CHUNK_COMMIT, &m), 0, W("write + commit v1"));
	ok(m.commit_ver == 1 && m.length == len && m.crc == em_crc32c(0, a, len) &&
	   !m.pending_ver, W("meta after v1"));
	is_int(cu_read(e, 1, 0, len, r, 0), (int)len, W("full read"));
	ok(memcmp(a, r, len) == 0, W("bytes match"));
	is_int(cu_read(e, 1, 4097, 333, r, 0), 333, W("unaligned partial read"));
	ok(memcmp(a + 4097, r, 333) == 0, W("partial bytes match"));
	is_int(cu_read(e, 1, len - 10, 100, r, 0), 10, W("read past the end is short"));
	is_int(cu_read(e, 1, len, 100, r, 0), 0, W("read at the end is empty"));
	uint64_t loc1 = m.loc;

	/* Overwrite in the middle: a pending version in a new slot. */
	cu_fill(b, 4096, 2);
	is_int(cu_update(e, 1, 5000, 4096, b, 2, 0, &m), 0, W("pending overwrite v2"));
	ok(m.pending_ver == 2 && m.commit_ver == 1 && m.pending_loc != loc1 && m.loc == loc1,
	   W("copy on write into a new slot"));
	is_int(cu_read(e, 1, 0, len, r, 0), (int)len, W("committed read during pending"));
	ok(memcmp(a, r, len) == 0, W("readers still see v1"));
	memcpy(a + 5000, b, 4096);
	is_int(cu_read(e, 1, 0, len, r, EM_CHUNK_READ_PENDING), (int)len, W("pending read"));
	ok(memcmp(a, r, len) == 0, W("pending has the merge"));
	is_int(cu_commit(e, 1, 3), -EM_EVERSION, W("commit of a wrong version refused"));
	is_int(cu_commit(e, 1, 2), 0, W("commit v2"));
	is_int(cu_commit(e, 1, 2), 0, W("commit retried is fine"));
	query(e, 1, &m);
	ok(m.commit_ver == 2 && m.loc != loc1 && !m.pending_ver, W("v2 committed"));
	is_int(cu_update(e, 1, 0, 1, a, 2, 0, NULL), -EM_EVERSION, W("stale update refused"));

	/* Append: same slot. */
	uint64_t loc2 = m.loc;
	cu_fill(a + len, 1000, 3);
	is_int(cu_update(e, 1, len, 1000, a + len, 3, EM_CHUNK_COMMIT, &m), 0, W("append v3"));
	len += 1000;
	ok(m.loc == loc2 && m.length == len && m.crc == em_crc32c(0, a, len), W("append in place"));
	is_int(cu_read(e, 1, 0, len, r, 0), (int)len, W("read after append"));
	ok(memcmp(a, r, len) == 0, W("appended bytes"));
	/* Append past the 128 KiB class: moves to a bigger slot. */
	cu_fill(a + len, 100000, 4);
	is_int(cu_update(e, 1, len, 100000, a + len, 4, EM_CHUNK_COMMIT, &m), 0, W("append v4"));
	len += 100000;
	ok(m.loc != loc2 && em_loc_class(m.loc) == 2, W("outgrew its class: copied"));
	is_int(cu_read(e, 1, 0, len, r, 0), (int)len, W("read grown chunk"));
	ok(memcmp(a, r, len) == 0, W("grown bytes"));

	/* Truncate down and up. */
	is_int(cu_truncate(e, 1, 50000, 5), 0, W("truncate to 50000"));
	query(e, 1, &m);
	ok(m.length == 50000 && m.crc == em_crc32c(0, a, 50000), W("shrunk, CRC recomputed"));
	is_int(cu_truncate(e, 1, 70000, 6), 0, W("truncate up to 70000"));
	memset(a + 50000, 0, 20000);
	is_int(cu_read(e, 1, 0, 70000, r, 0), 70000, W("read extended"));
	ok(memcmp(a, r, 70000) == 0, W("extension reads as zeros"));

	/* Larger than one transfer: 3 MiB, split into device commands. */
	uint8_t *big = malloc(3 << 20), *bigr = malloc(3 << 20);
	cu_fill(big, 3 << 20, 9);
	is_int(cu_update(e, 2, 0, 3 << 20, big, 1, EM_CHUNK_COMMIT, &m), 0, W("3 MiB chunk"));
	is_int(cu_read(e, 2, 0, 3 << 20, bigr, 0), 3 << 20, W("3 MiB read"));
	ok(memcmp(big, bigr, 3 << 20) == 0, W("3 MiB bytes"));

	/* Many chunks in flight: group commit packs their records. */
	struct em_engine_stats s0, s1;
	em_engine_get_stats(e, &s0);
	enum { N = 200 };
	static struct cu_res res[N];
	memset(res, 0, sizeof(res));
	int refused = 0;
	for (int i = 0; i < N; i++) {
		struct em_chunk_update u = { .id = cu_id(1000 + i), .len = 4096, .data = big + i,
					     .update_ver = 1, .flags = EM_CHUNK_COMMIT };
		refused += em_chunk_update(e, &u, cu_cb, &res[i]) != 0;
	}
	int bad = 0;
	for (int i = 0; i < N; i++)
		bad += cu_wait(&res[i], 0) != 0;
	em_engine_get_stats(e, &s1);
	ok(!refused && !bad, W("200 concurrent writes acknowledged"));
	printf("# %s: 200 writes took %llu log pages\n", k,
	       (unsigned long long)(s1.log_head - s0.log_head));
	ok(s1.log_head - s0.log_head < N, W("group commit used fewer pages than records"));

	/* Listing in id order with paging. */
	struct em_chunk_id last;
	size_t total = 0, n;
	int ordered = 1;
	bool first = true;
	uint8_t prev[16] = { 0 };
	while ((n = em_chunk_list(e, first ? NULL : &last, list, 8)) > 0) {
		for (size_t i = 0; i < n; i++) {
			ordered &= memcmp(prev, list[i].id.b, 16) < 0 || (total == 0 && i == 0);
			memcpy(prev, list[i].id.b, 16);
		}
		last = list[n - 1].id;
		first = false;
		total += n;
	}
	is_int(total, N + 2, W("list pages through every chunk"));
	ok(ordered, W("in id order"));

	is_int(cu_remove(e, 1000), 0, W("remove"));
	is_int(cu_read(e, 1000, 0, 10, r, 0), -ENOENT, W("removed chunk is gone"));
	is_int(cu_remove(e, 1000), -ENOENT, W("second remove: ENOENT"));

	/* Everything survives a clean close and reopen. */
	e = reopen(e, kind);
	ok(e != NULL, W("reopen"));
	if (!e)
		return;
	em_engine_get_stats(e, &s1);
	is_int(s1.chunks, N + 1, W("chunk count after reopen"));
	is_int(s1.records_replayed, 0, W("clean close leaves nothing to replay"));
	is_int(cu_read(e, 1, 0, 70000, r, 0), 70000, W("chunk 1 after reopen"));
	ok(memcmp(a, r, 70000) == 0, W("chunk 1 bytes after reopen"));
	is_int(cu_read(e, 2, 0, 3 << 20, bigr, 0), 3 << 20, W("chunk 2 after reopen"));
	ok(memcmp(big, bigr, 3 << 20) == 0, W("chunk 2 bytes after reopen"));
	em_engine_close(e);
	free(a), free(b), free(r), free(big), free(bigr);
}

/* EM_CHUNK_REPLACE: the whole chunk at once, at any version, old content
 * kept until the switching record is durable. */
static void test_replace(enum em_bdev_kind kind)
{
	const char *k = em_bdev_kind_name(kind);
	char what[160];
	struct em_engine_format_opts fo = { .kind = kind };
	is_int(em_engine_format(path, &fo), 0, W("format for replace"));
	struct em_engine *e = reopen(NULL, kind);
	if (!e)
		return;
	uint32_t big = 300000, small = 5000;
	uint8_t *a = malloc(big), *b = malloc(big), *r = malloc(big);
	struct em_chunk_meta m, old;
	struct em_engine_stats s;
	cu_fill(a, big, 11);
	is_int(cu_update(e, 7, 0, big, a, 5, EM_CHUNK_COMMIT, &old), 0, W("v5: 300000 bytes"));

	cu_fill(b, small, 12);
	is_int(cu_update(e, 7, 1, small, b, 9, EM_CHUNK_REPLACE, NULL), -EINVAL,
	       W("replace at an offset refused"));
	is_int(cu_update(e, 7, 0, small, b, 3, EM_CHUNK_REPLACE | EM_CHUNK_COMMIT, &m), 0,
	       W("replace + commit at a lower version"));
	ok(m.commit_ver == 3 && m.length == small && m.crc == em_crc32c(0, b, small) &&
	   !m.pending_ver && m.loc != old.loc && em_loc_class(m.loc) == 0,
	   W("shorter chunk in a new slot of its own size"));
	is_int(cu_read(e, 7, 0, big, r, 0), (int)small, W("read sees only the new length"));
	ok(memcmp(r, b, small) == 0, W("new bytes, nothing of the old"));
	em_engine_get_stats(e, &s);
	ok(s.cls[em_loc_class(old.loc)].slots_used == 0 && s.cls[0].slots_used == 1,
	   W("old slot freed once the record is durable"));

	/* Pending above the committed version: the committed one stays. */
	old = m;
	cu_fill(a, big, 13);
	is_int(cu_update(e, 7, 0, big, a, 8, EM_CHUNK_REPLACE, &m), 0, W("pending replace v8"));
	ok(m.pending_ver == 8 && m.pending_length == big && m.commit_ver == 3 &&
	   m.loc == old.loc && m.pending_loc != old.loc, W("committed v3 kept beside it"));
	is_int(cu_read(e, 7, 0, big, r, 0), (int)small, W("readers still see v3"));
	ok(memcmp(r, b, small) == 0, W("v3 bytes"));
	is_int(cu_read(e, 7, 0, big, r, EM_CHUNK_READ_PENDING), (int)big, W("pending read"));
	ok(memcmp(r, a, big) == 0, W("pending has exactly the replace's bytes"));
	is_int(cu_commit(e, 7, 8), 0, W("commit v8"));

	/* Pending at or below the committed version: one record drops it. */
	cu_fill(b, small, 14);
	is_int(cu_update(e, 7, 0, small, b, 8, EM_CHUNK_REPLACE, &m), 0,
	       W("pending replace at the committed version"));
	ok(m.pending_ver == 8 && !m.commit_ver && !m.loc && m.pending_length == small,
	   W("only the new pending version left"));
	is_int(cu_read(e, 7, 0, small, r, 0), -ENOENT, W("no committed version to read"));
	e = reopen(e, kind);
	ok(e != NULL, W("reopen with the replace in the log"));
	if (!e)
		return;
	query(e, 7, &m);
	ok(m.pending_ver == 8 && !m.commit_ver, W("pending replace replayed"));
	is_int(cu_commit(e, 7, 8), 0, W("commit it"));
	is_int(cu_read(e, 7, 0, big, r, 0), (int)small, W("committed replace read"));
	ok(memcmp(r, b, small) == 0, W("its bytes"));

	is_int(cu_update(e, 7, 0, 0, NULL, 2, EM_CHUNK_REPLACE | EM_CHUNK_COMMIT, &m), 0,
	       W("replace with nothing"));
	ok(m.commit_ver == 2 && m.length == 0 && !m.loc, W("empty chunk, no slot"));
	is_int(cu_update(e, 8, 0, small, b, 1, EM_CHUNK_REPLACE | EM_CHUNK_COMMIT, &m), 0,
	       W("replace of a chunk that does not exist creates it"));
	em_engine_get_stats(e, &s);
	is_int(s.cls[0].slots_used, 1, W("only the new chunk holds a slot"));

	/* The new slot cannot be had: the old chunk is untouched. Fill the
	 * data area with 64 MiB chunks, then replace chunk 8 by one. */
	uint8_t *huge = calloc(1, EM_CHUNK_MAX_SIZE);
	int rc = 0;
	for (uint64_t n = 100; rc == 0 && huge; n++)
		rc = cu_update(e, n, 0, EM_CHUNK_MAX_SIZE, huge, 1, EM_CHUNK_COMMIT, NULL);
	is_int(rc, -ENOSPC, W("data area full"));
	is_int(cu_update(e, 8, 0, EM_CHUNK_MAX_SIZE, huge, 9, EM_CHUNK_REPLACE | EM_CHUNK_COMMIT,
			 NULL), -ENOSPC, W("replace without room fails"));
	e = reopen(e, kind);
	ok(e != NULL, W("reopen after the failed replace"));
	if (e) {
		query(e, 8, &m);
		ok(m.commit_ver == 1 && m.length == small, W("old chunk still there"));
		ok(cu_read(e, 8, 0, small, r, 0) == (int)small && memcmp(r, b, small) == 0,
		   W("with its bytes"));
		em_engine_close(e);
	}
	free(huge), free(a), free(b), free(r);
}

/* A small log wraps many times: checkpoints must keep up. */
static void test_log_wrap(void)
{
	struct em_engine_format_opts fo = { .kind = EM_BDEV_URING, .log_pages = 64 };
	is_int(em_engine_format(path, &fo), 0, "format with a 64-page log");
	struct em_engine *e = reopen(NULL, EM_BDEV_URING);
	if (!e)
		return;
	uint8_t buf[4096];
	int bad = 0;
	for (uint32_t v = 1; v <= 300; v++) {
		cu_fill(buf, sizeof(buf), v);
		bad += cu_update(e, v % 7, 0, sizeof(buf), buf, v / 7 + 1, EM_CHUNK_COMMIT, NULL) != 0;
	}
	is_int(bad, 0, "300 sequential writes through a 64-page ring");
	struct em_engine_stats s;
	em_engine_get_stats(e, &s);
	ok(s.log_head > 64 && s.log_head - s.log_tail <= 64, "ring wrapped, checkpoints freed it");
	e = reopen(e, EM_BDEV_URING);
	uint8_t r[4096];
	int good = 0;
	for (uint32_t c = 0; c < 7 && e; c++) {
		/* chunk c last got the largest v <= 300 with v % 7 == c */
		uint32_t v = 300 - ((300 - c) % 7 + 7) % 7;
		cu_fill(buf, sizeof(buf), v);
		good += cu_read(e, c, 0, 4096, r, 0) == 4096 && memcmp(buf, r, 4096) == 0;
	}
	is_int(good, 7, "latest versions after reopen");
	em_engine_close(e);
}

/* Flip one byte of the device at off, behind the engine's back. */
static void flip(uint64_t off)
{
	int fd = open(path, O_RDWR);
	uint8_t c;
	if (fd < 0 || pread(fd, &c, 1, (off_t)off) != 1)
		abort();
	c ^= 0x40;
	if (pwrite(fd, &c, 1, (off_t)off) != 1 || fsync(fd) < 0)
		abort();
	close(fd);
}

static uint64_t dev_off(struct em_engine *e, uint64_t n, uint32_t at)
{
	struct em_engine_stats st;
	struct em_chunk_meta m;
	em_engine_get_stats(e, &st);
	query(e, n, &m);
	return st.data_off + (m.loc & ~0xffull) + at;
}

/* Every read verified: full, partial and tail blocks, after a reopen too, and
 * no update builds on a bad base. */
static void test_corruption(enum em_bdev_kind kind)
{
	const char *k = em_bdev_kind_name(kind);
	char what[160];
	struct em_engine_format_opts fo = { .kind = kind };
	is_int(em_engine_format(path, &fo), 0, W("format"));
	struct em_engine *e = reopen(NULL, kind);
	if (!e) {
		ok(0, W("open"));
		return;
	}
	uint32_t len = 100000; /* 24 full blocks and a 1696-byte tail */
	uint8_t *a = malloc(len), *r = malloc(len);
	cu_fill(a, len, 7);
	is_int(cu_update(e, 1, 0, len, a, 1, EM_CHUNK_COMMIT, NULL), 0, W("write v1"));
	uint64_t b1 = dev_off(e, 1, 5000), tail = dev_off(e, 1, 99000);
	flip(b1);
	memset(r, 0x5a, len);
	is_int(cu_read(e, 1, 0, len, r, 0), -EM_ECHECKSUM, W("full read over a bad block fails"));
	ok(r[4096] == 0x5a && r[8191] == 0x5a && r[len - 1] == 0x5a,
	   W("a failed read returns no byte of the bad block or after it"));
	is_int(cu_read(e, 1, 4096, 4096, r, 0), -EM_ECHECKSUM, W("4 KiB read of the bad block fails"));
	is_int(cu_read(e, 1, 4990, 20, r, 0), -EM_ECHECKSUM, W("20-byte read inside it fails"));
	is_int(cu_read(e, 1, 0, 4096, r, 0), 4096, W("the block before reads"));
	is_int(cu_read(e, 1, 8192, 8192, r, 0), 8192, W("blocks after read"));
	ok(memcmp(r, a + 8192, 8192) == 0, W("and match"));
	struct em_engine_stats st;
	em_engine_get_stats(e, &st);
	ok(st.csum_errors >= 3, W("mismatches counted"));

	/* No update may copy the bad bytes into a fresh, valid-looking slot. */
	uint8_t small[10] = { 1, 2, 3 };
	is_int(cu_update(e, 1, 0, 10, small, 2, EM_CHUNK_COMMIT, NULL), -EM_ECHECKSUM,
	       W("copy-on-write over a bad base refused"));
	struct em_chunk_meta m;
	query(e, 1, &m);
	ok(m.commit_ver == 1 && !m.pending_ver, W("chunk left as it was"));
	is_int(cu_update(e, 1, 0, len, a, 2, EM_CHUNK_COMMIT | EM_CHUNK_REPLACE, NULL), 0,
	       W("a whole-chunk replace heals it"));
	is_int(cu_read(e, 1, 0, len, r, 0), (int)len, W("healed chunk reads"));
	ok(memcmp(r, a, len) == 0, W("healed bytes match"));

	/* Checksums are on disk, not only cached. */
	e = reopen(e, kind);
	tail = dev_off(e, 1, 99000);
	flip(tail);
	is_int(cu_read(e, 1, 98304, 1696, r, 0), -EM_ECHECKSUM, W("after reopen: bad tail caught"));
	is_int(cu_update(e, 1, len, 100, small, 3, EM_CHUNK_COMMIT, NULL), -EM_ECHECKSUM,
	       W("in-place append onto a bad tail refused"));
	flip(tail);
	is_int(cu_read(e, 1, 0, len, r, 0), (int)len, W("tail restored reads"));

	/* In-place appends keep the committed version checkable while the
	 * pending one rewrites its last block. */
	cu_fill(a, len, 8);
	is_int(cu_update(e, 2, 0, 5000, a, 1, EM_CHUNK_COMMIT, NULL), 0, W("5000 bytes"));
	is_int(cu_update(e, 2, 5000, 5000, a + 5000, 2, 0, NULL), 0, W("append pending"));
	is_int(cu_read(e, 2, 0, 5000, r, 0), 5000, W("committed reads under a pending append"));
	ok(memcmp(r, a, 5000) == 0, W("committed bytes"));
	is_int(cu_read(e, 2, 0, 10000, r, EM_CHUNK_READ_PENDING), 10000, W("pending reads"));
	ok(memcmp(r, a, 10000) == 0, W("pending bytes"));
	is_int(cu_commit(e, 2, 2), 0, W("commit the append"));
	is_int(cu_truncate(e, 2, 6000, 3), 0, W("shrink to 6000"));
	is_int(cu_read(e, 2, 0, len, r, 0), 6000, W("shrunk chunk reads"));
	ok(memcmp(r, a, 6000) == 0, W("shrunk bytes"));
	flip(dev_off(e, 2, 5999));
	is_int(cu_read(e, 2, 4096, 10, r, 0), -EM_ECHECKSUM, W("new tail is checked"));

	/* A small cache: slots of 4 MiB own their table pages, so six chunks
	 * need six pages through a cache of two. */
	em_engine_close(e);
	struct em_engine_opts o = { .kind = kind, .csum_cache_pages = 2 };
	e = NULL;
	is_int(em_engine_open(path, &o, cu_reactor, &e), 0, W("open with a 2-page cache"));
	uint32_t big = 3u << 20;
	uint8_t *c = malloc(big), *cr = malloc(big);
	int good = 0;
	for (uint64_t n = 10; n < 16; n++) {
		cu_fill(c, big, n);
		good += cu_update(e, n, 0, big, c, 1, EM_CHUNK_COMMIT, NULL) == 0;
		/* and 64 KiB chunks sharing pages */
		good += cu_update(e, 100 + n, 0, 65536, c, 1, EM_CHUNK_COMMIT, NULL) == 0;
	}
	is_int(good, 12, W("12 chunks written through the small cache"));
	em_engine_close(e);
	e = NULL;
	em_engine_open(path, &o, cu_reactor, &e);
	good = 0;
	for (uint64_t n = 10; n < 16 && e; n++) {
		cu_fill(c, big, n);
		good += cu_read(e, n, 0, big, cr, 0) == (int)big && memcmp(c, cr, big) == 0;
		good += cu_read(e, 100 + n, 0, 65536, cr, 0) == 65536 && memcmp(c, cr, 65536) == 0;
	}
	is_int(good, 12, W("all read back verified after reopen"));
	if (e) {
		flip(dev_off(e, 13, (2u << 20) + 1));
		is_int(cu_read(e, 13, 0, big, cr, 0), -EM_ECHECKSUM, W("bad block in a big chunk"));
		flip(dev_off(e, 113, 65535));
		is_int(cu_read(e, 113, 61440, 4096, cr, 0), -EM_ECHECKSUM,
		       W("bad last block of a 64 KiB chunk"));
		is_int(cu_read(e, 112, 0, 65536, cr, 0), 65536, W("its neighbour reads"));
		em_engine_close(e);
	}
	free(c);
	free(cr);
	free(a);
	free(r);
}

static void test_refusals(void)
{
	struct em_engine *e = NULL;
	int fd = open(path, O_WRONLY);
	uint8_t zeros[8192] = { 0 };
	if (pwrite(fd, zeros, sizeof(zeros), 0) != (ssize_t)sizeof(zeros))
		abort();
	is_int(em_engine_open(path, NULL, cu_reactor, &e), -ENODATA, "blank device refused");
	struct em_engine_format_opts fo = { .kind = EM_BDEV_URING };
	em_engine_format(path, &fo);
	/* Damage copy A only: B still opens the target. */
	if (pwrite(fd, "garbage!", 8, 32) != 8)
		abort();
	is_int(em_engine_open(path, NULL, cu_reactor, &e), 0, "one damaged superblock tolerated");
	em_engine_close(e);
	if (pwrite(fd, "garbage!", 8, 32) != 8 || pwrite(fd, "garbage!", 8, 4096 + 32) != 8)
		abort();
	is_int(em_engine_open(path, NULL, cu_reactor, &e), -EUCLEAN, "both damaged: refused");
	close(fd);
	struct em_engine_stats s;
	is_int(em_engine_inspect(path, EM_BDEV_URING, &s), -EUCLEAN, "inspect refuses too");
}

int main(int argc, char **argv)
{
	if (em_reactor_create("chunk-test", &cu_reactor) < 0)
		return 1;
	if (argc >= 3) {
		/* A real device: `test_chunk_engine /dev/ng0n1 nvme` (destroys it). */
		enum em_bdev_kind kind;
		if (em_bdev_kind_parse(argv[2], &kind) < 0)
			return 2;
		snprintf(path, sizeof(path), "%s", argv[1]);
		test_ops(kind);
		em_reactor_destroy(cu_reactor);
		return tap_done();
	}
	make_file();
	test_ops(EM_BDEV_URING);
	test_ops(EM_BDEV_AIO);
	test_replace(EM_BDEV_URING);
	test_replace(EM_BDEV_AIO);
	test_corruption(EM_BDEV_URING);
	test_corruption(EM_BDEV_AIO);
	test_log_wrap();
	test_refusals();
	unlink(path);
	em_reactor_destroy(cu_reactor);
	return tap_done();
}
