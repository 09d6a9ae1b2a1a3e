/* Chunk volumes on a real chunk engine in a file (uring backend): chunk
 * splitting, zeroes for unwritten blocks, each zeroing case (remove,
 * truncate, zero write, nothing), persistence across a reopen, refusals. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block/chunk/engine.h"
#include "block/nvmf/volume.h"
#include "ember/errors.h"
#include "net/core/reactor.h"
#include "tap.h"

#define DEV_SIZE (1ull << 30)
#define CHUNK (64u << 10)
#define VOL_SIZE (16u * CHUNK + 8192) /* a partial last chunk */
#define VOL_ID 0x0102030405060708ull

static struct em_reactor *R;
static char path[] = "nvmf-volume-XXXXXX";

struct res {
	bool done;
	int status;
};

static void io_cb(struct em_bdev_io *io, int status)
{
	struct res *r = io->arg;
	r->done = true;
	r->status = status;
}

/* Submit and wait: the status, or the submit error; 1 if the callback ran
 * inside submit (never allowed). */
static int vio(struct em_volume *v, enum em_bdev_op op, uint64_t off, uint32_t len, void *buf)
{
	struct res r = { 0 };
	struct em_bdev_io io = { .op = op, .offset = off, .len = len, .buf = buf, .cb = io_cb,
				 .arg = &r };
	int rc = em_volume_submit(v, &io);

	if (rc < 0)
		return rc;
	if (r.done)
		return 1;
	for (uint64_t end = em_now_ms() + 10000; !r.done && em_now_ms() < end;)
		em_reactor_run_once(R, 10);
	return r.done ? r.status : -ETIMEDOUT;
}

static struct em_engine *engine_open(void)
{
	struct em_engine_opts o = { .kind = EM_BDEV_URING };
	struct em_engine *e = NULL;
	int rc = em_engine_open(path, &o, R, &e);
	if (rc < 0)
		printf("# engine open: %s\n", em_strerror(rc));
	return e;
}

static int chunk_len(struct em_engine *e, uint64_t idx)
{
	struct em_chunk_id id;
	struct em_chunk_meta m;

	em_volume_chunk_id(VOL_ID, idx, &id);
	return em_chunk_query(e, &id, &m) < 0 ? -1 : (int)m.length;
}

static bool all(const uint8_t *p, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 31 + seed);
}

static void test_id(void)
{
	struct em_chunk_id id;
	static const uint8_t want[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0x01, 0x23 };

	em_volume_chunk_id(VOL_ID, 0x123, &id);
	ok(memcmp(id.b, want, 16) == 0, "chunk id = volume id, chunk index (big-endian)");
}

static void test_refusals(struct em_engine *e)
{
	struct em_volume *v;
	struct em_volume_opts o = { .id = VOL_ID, .size = VOL_SIZE, .chunk_size = CHUNK };
	uint8_t buf[4096];

	o.chunk_size = 3 * CHUNK;
	is_int(em_volume_open(e, R, &o, &v), -EINVAL, "chunk size not a power of two refused");
	o.chunk_size = CHUNK;
	o.size = VOL_SIZE + 100;
	is_int(em_volume_open(e, R, &o, &v), -EINVAL, "size not a multiple of the block refused");
	o.size = VOL_SIZE;
	o.block_size = 8192;
	is_int(em_volume_open(e, R, &o, &v), -EINVAL, "8 KiB blocks refused");
	o.block_size = 0;
	is_int(em_volume_open(e, R, &o, &v), 0, "volume opened");
	is_int(vio(v, EM_BDEV_READ, 100, 4096, buf), -EINVAL, "misaligned read refused");
	is_int(vio(v, EM_BDEV_READ, VOL_SIZE, 4096, buf), -ERANGE, "read past the end refused");
	is_int(vio(v, EM_BDEV_WRITE, VOL_SIZE - 4096, 8192, buf), -ERANGE,
	       "write across the end refused");
	is_int(vio(v, EM_BDEV_READ, 0, 0, buf), -EINVAL, "empty read refused");
	em_volume_close(v);
}

static void test_io(struct em_engine *e)
{
	struct em_volume_opts o = { .id = VOL_ID, .size = VOL_SIZE, .chunk_size = CHUNK };
	const struct em_bdev_info *info;
	struct em_volume *v;
	size_t n = 3 * CHUNK;
	uint8_t *w = malloc(n), *r = malloc(n);

	is_int(em_volume_open(e, R, &o, &v), 0, "volume opened");
	info = em_volume_get_info(v);
	is_int(info->block_size, 4096, "default 4 KiB blocks");
	is_int(info->size, VOL_SIZE, "size as asked");
	ok(info->write_zeroes && info->discard, "write zeroes and discard supported");

	memset(r, 0xee, n);
	is_int(vio(v, EM_BDEV_READ, 0, (uint32_t)n, r), 0, "read unwritten blocks");
	ok(all(r, n, 0), "unwritten blocks read as zeroes");

	/* 2.5 chunks from the middle of chunk 1: three pieces, the last one
	 * starting chunk 4 short. */
	fill(w, n, 1);
	is_int(vio(v, EM_BDEV_WRITE, CHUNK + CHUNK / 2, (uint32_t)(2 * CHUNK + CHUNK / 4), w), 0,
	       "write across chunk boundaries");
	is_int(chunk_len(e, 1), CHUNK, "chunk 1 ends at the chunk size");
	is_int(chunk_len(e, 2), CHUNK, "chunk 2 full");
	is_int(chunk_len(e, 3), CHUNK / 4 * 3, "chunk 3 holds what was written");
	is_int(chunk_len(e, 0), -1, "chunk 0 never created");
	memset(r, 0xee, n);
	is_int(vio(v, EM_BDEV_READ, CHUNK, (uint32_t)n, r), 0, "read chunks 1..3");
	ok(all(r, CHUNK / 2, 0), "before the write: zeroes");
	ok(memcmp(r + CHUNK / 2, w, 2 * CHUNK + CHUNK / 4) == 0, "written bytes read back");
	ok(all(r + CHUNK / 2 + 2 * CHUNK + CHUNK / 4, CHUNK / 4, 0), "after the write: zeroes");

	/* Overwrite inside chunk 2 (copy on write), then append past chunk 3's end. */
	fill(w, 8192, 9);
	is_int(vio(v, EM_BDEV_WRITE, 2 * CHUNK + 4096, 8192, w), 0, "overwrite inside a chunk");
	is_int(vio(v, EM_BDEV_READ, 2 * CHUNK + 4096, 8192, r), 0, "read it");
	ok(memcmp(r, w, 8192) == 0, "overwrite reads back");
	is_int(vio(v, EM_BDEV_WRITE, 4 * CHUNK - 4096, 4096, w), 0, "write the last block of chunk 3");
	is_int(chunk_len(e, 3), CHUNK, "chunk 3 grew to the chunk size");
	is_int(vio(v, EM_BDEV_READ, 3 * CHUNK + CHUNK / 4 * 3, CHUNK / 4, r), 0, "read the gap");
	ok(all(r, CHUNK / 4 - 4096, 0) && memcmp(r + CHUNK / 4 - 4096, w, 4096) == 0,
	   "gap before an append reads as zeroes");

	/* The partial last chunk. */
	fill(w, 8192, 5);
	is_int(vio(v, EM_BDEV_WRITE, VOL_SIZE - 8192, 8192, w), 0, "write the partial last chunk");
	is_int(vio(v, EM_BDEV_READ, VOL_SIZE - 8192, 8192, r), 0, "read it");
	ok(memcmp(r, w, 8192) == 0, "last chunk reads back");
	is_int(vio(v, EM_BDEV_FLUSH, 0, 0, NULL), 0, "flush completes (engine acks durable data)");

	/* Zeroing: inside data (zero write), a tail (truncate), a whole chunk
	 * (remove), past the data (nothing). */
	is_int(vio(v, EM_BDEV_WRITE_ZEROES, 2 * CHUNK + 4096, 4096, NULL), 0, "zero inside chunk 2");
	is_int(chunk_len(e, 2), CHUNK, "chunk 2 keeps its length");
	is_int(vio(v, EM_BDEV_READ, 2 * CHUNK, 3 * 4096, r), 0, "read around it");
	ok(all(r + 4096, 4096, 0) && !all(r, 4096, 0) && !all(r + 8192, 4096, 0),
	   "only the zeroed block reads as zeroes");
	is_int(vio(v, EM_BDEV_DISCARD, CHUNK + CHUNK / 2, CHUNK / 2, NULL), 0,
	       "deallocate the tail of chunk 1");
	is_int(chunk_len(e, 1), CHUNK / 2, "chunk 1 truncated");
	is_int(vio(v, EM_BDEV_WRITE_ZEROES, 3 * CHUNK - 4096, CHUNK + 8192, NULL), 0,
	       "zero the end of chunk 2, all of chunk 3, the start of chunk 4");
	is_int(chunk_len(e, 2), CHUNK - 4096, "chunk 2 truncated");
	is_int(chunk_len(e, 3), -1, "chunk 3 removed");
	is_int(chunk_len(e, 4), -1, "chunk 4 still absent");
	is_int(vio(v, EM_BDEV_READ, CHUNK, 3 * CHUNK, r), 0, "read chunks 1..3");
	ok(all(r, CHUNK / 2, 0) && all(r + CHUNK, CHUNK, 0) == false &&
	   all(r + 2 * CHUNK - 4096, CHUNK + 4096, 0), "zeroed ranges read as zeroes");
	em_volume_close(v);
	free(w);
	free(r);
}

/* Everything acknowledged survives closing and reopening the engine. */
static struct em_engine *test_persistence(struct em_engine *e)
{
	struct em_volume_opts o = { .id = VOL_ID, .size = VOL_SIZE, .chunk_size = CHUNK };
	struct em_volume *v;
	uint8_t w[8192], r[8192];

	is_int(em_volume_open(e, R, &o, &v), 0, "volume opened");
	fill(w, sizeof w, 77);
	is_int(vio(v, EM_BDEV_WRITE, 5 * CHUNK + 4096, sizeof w, w), 0, "write chunk 5");
	/* Overwrite again so the reopened volume must continue the versions. */
	is_int(vio(v, EM_BDEV_WRITE, 5 * CHUNK + 4096, sizeof w, w), 0, "write it again");
	em_volume_close(v);
	em_engine_close(e);
	e = engine_open();
	ok(e != NULL, "engine reopened");
	if (!e)
		return NULL;
	is_int(em_volume_open(e, R, &o, &v), 0, "volume reopened");
	is_int(vio(v, EM_BDEV_READ, 5 * CHUNK + 4096, sizeof r, r), 0, "read after reopen");
	ok(memcmp(r, w, sizeof w) == 0, "data persisted");
	fill(w, sizeof w, 78);
	is_int(vio(v, EM_BDEV_WRITE, 5 * CHUNK + 4096, sizeof w, w), 0,
	       "overwrite after reopen (versions continue)");
	is_int(vio(v, EM_BDEV_READ, 5 * CHUNK + 4096, sizeof r, r), 0, "read it");
	ok(memcmp(r, w, sizeof w) == 0, "new data reads back");
	em_volume_close(v);

	/* A volume written with 1 MiB chunks, reopened with 64 KiB ones, is
	 * refused rather than misread. */
	o = (struct em_volume_opts){ .id = VOL_ID + 1, .size = 4u << 20, .chunk_size = 1u << 20 };
	is_int(em_volume_open(e, R, &o, &v), 0, "1 MiB-chunk volume");
	is_int(vio(v, EM_BDEV_WRITE, 0, sizeof w, w), 0, "write 8 KiB");
	is_int(vio(v, EM_BDEV_WRITE, 512u << 10, sizeof w, w), 0, "write at 512 KiB");
	em_volume_close(v);
	o.chunk_size = CHUNK;
	is_int(em_volume_open(e, R, &o, &v), -EUCLEAN, "reopening it with 64 KiB chunks is refused");
	return e;
}

/* Many I/Os in flight on the same chunks keep their order. */
static void test_concurrent(struct em_engine *e)
{
	struct em_volume_opts o = { .id = VOL_ID + 2, .size = 8 * CHUNK, .chunk_size = CHUNK };
	struct em_volume *v;
	enum { N = 32 };
	struct res rs[N] = { 0 };
	struct em_bdev_io ios[N];
	static uint8_t bufs[N][4096], r[4096];
	int done = 0;

	is_int(em_volume_open(e, R, &o, &v), 0, "volume opened");
	for (int i = 0; i < N; i++) {
		memset(bufs[i], i + 1, 4096);
		ios[i] = (struct em_bdev_io){ .op = EM_BDEV_WRITE, .offset = (uint64_t)(i % 4) * 4096,
					      .len = 4096, .buf = bufs[i], .cb = io_cb,
					      .arg = &rs[i] };
		if (em_volume_submit(v, &ios[i]) < 0)
			break;
	}
	for (uint64_t end = em_now_ms() + 10000; done < N && em_now_ms() < end;) {
		em_reactor_run_once(R, 10);
		done = 0;
		for (int i = 0; i < N; i++)
			done += rs[i].done && rs[i].status == 0;
	}
	is_int(done, N, "32 writes to 4 blocks of one chunk, all in flight, succeed");
	for (int b = 0; b < 4; b++) {
		vio(v, EM_BDEV_READ, (uint64_t)b * 4096, 4096, r);
		ok(all(r, 4096, (uint8_t)(N - 4 + b + 1)), "each block holds the last write to it");
	}
	em_volume_close(v);
}

/* A block flipped on the device under a volume: the read of it fails with
 * EM_ECHECKSUM (the target answers Unrecovered Read Error), its neighbours
 * read, and a write that must merge with it is refused. */
static void test_corruption(struct em_engine *e)
{
	struct em_volume_opts o = { .id = VOL_ID, .size = VOL_SIZE, .chunk_size = CHUNK };
	struct em_volume *v;
	uint8_t w[8192], r[8192];
	is_int(em_volume_open(e, R, &o, &v), 0, "volume opened for corruption");
	fill(w, sizeof(w), 5);
	is_int(vio(v, EM_BDEV_WRITE, 5 * CHUNK, sizeof(w), w), 0, "two blocks into chunk 5");
	struct em_chunk_id id;
	struct em_chunk_meta m;
	struct em_engine_stats st;
	em_volume_chunk_id(VOL_ID, 5, &id);
	em_engine_get_stats(e, &st);
	int fd = open(path, O_RDWR);
	uint8_t c = 0;
	off_t at = em_chunk_query(e, &id, &m) == 0
			   ? (off_t)(st.data_off + (m.loc & ~0xffull) + 4096 + 17) : 0;
	ok(fd >= 0 && at && pread(fd, &c, 1, at) == 1, "found block 1 of chunk 5 on the device");
	c ^= 1;
	ok(pwrite(fd, &c, 1, at) == 1 && fsync(fd) == 0, "flipped one bit of it");
	close(fd);
	is_int(vio(v, EM_BDEV_READ, 5 * CHUNK + 4096, 4096, r), -EM_ECHECKSUM,
	       "the bad block's read fails");
	is_int(vio(v, EM_BDEV_READ, 5 * CHUNK, 4096, r), 0, "the block before it reads");
	ok(memcmp(r, w, 4096) == 0, "with its bytes");
	is_int(vio(v, EM_BDEV_WRITE, 5 * CHUNK, 4096, w), -EM_ECHECKSUM,
	       "a write merging with the bad block is refused");
	em_volume_close(v);
}

int main(void)
{
	struct em_engine_format_opts fo = { .kind = EM_BDEV_URING };
	struct em_engine *e;
	int fd = mkstemp(path);

	if (fd < 0 || ftruncate(fd, (off_t)DEV_SIZE) < 0)
		return 1;
	close(fd);
	if (em_reactor_create("test", &R) < 0)
		return 1;
	is_int(em_engine_format(path, &fo), 0, "engine formatted on a file");
	e = engine_open();
	ok(e != NULL, "engine opened");
	if (e) {
		test_id();
		test_refusals(e);
		test_io(e);
		e = test_persistence(e);
	}
	if (e) {
		test_concurrent(e);
		test_corruption(e);
		em_engine_close(e);
	}
	em_reactor_destroy(R);
	unlink(path);
	return tap_done();
}
