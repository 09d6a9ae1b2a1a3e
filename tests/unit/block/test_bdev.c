/* Block device backends against a real kernel: uring and aio on a file in
 * the build directory, or, given a path and a kind (`test_bdev /dev/ng0n1
 * nvme`), any device; the VM suite runs it on an emulated NVMe drive.
 * The device's first 8 MiB are overwritten. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block/dev/bdev.h"
#include "include/ember/errors.h"
#include "net/core/reactor.h"
#include "tap.h"

#define AREA (8u << 20)

struct waiter {
	int done, status;
};

static void on_done(struct em_bdev_io *io, int status)
{
	struct waiter *w = io->arg;
	w->done++;
	w->status = status;
}

/* Submit one I/O and drain: the synchronous path tools use. */
static int do_io(struct em_bdev *d, enum em_bdev_op op, uint32_t flags, uint64_t off,
		 uint32_t len, void *buf)
{
	struct waiter w = { 0, 0 };
	struct em_bdev_io io = { .op = op, .flags = flags, .offset = off, .len = len,
				 .buf = buf, .cb = on_done, .arg = &w };
	int rc = em_bdev_submit(d, &io);
	if (rc < 0)
		return rc;
	rc = em_bdev_drain(d);
	if (rc < 0)
		return rc;
	return w.done == 1 ? w.status : -EPROTO;
}

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
	}
}

static int all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

static void *registered;

static void test_sync(struct em_bdev *d, const char *name)
{
	const struct em_bdev_info *in = em_bdev_get_info(d);
	uint32_t bs = in->block_size, len = in->max_transfer < (256u << 10) ? in->max_transfer : 256u << 10;
	char what[128];
	uint8_t *w = em_bdev_alloc_buf(d, len), *r = em_bdev_alloc_buf(d, len);
	fill(w, len, 7);
	snprintf(what, sizeof(what), "%s: FUA write", name);
	is_int(do_io(d, EM_BDEV_WRITE, EM_BDEV_FUA, bs * 3, len, w), 0, what);
	memset(r, 0xee, len);
	snprintf(what, sizeof(what), "%s: read back", name);
	is_int(do_io(d, EM_BDEV_READ, 0, bs * 3, len, r), 0, what);
	snprintf(what, sizeof(what), "%s: same bytes", name);
	ok(memcmp(w, r, len) == 0, what);
	snprintf(what, sizeof(what), "%s: flush", name);
	is_int(do_io(d, EM_BDEV_FLUSH, 0, 0, 0, NULL), 0, what);

	if (in->write_zeroes) {
		snprintf(what, sizeof(what), "%s: write zeroes", name);
		is_int(do_io(d, EM_BDEV_WRITE_ZEROES, 0, bs * 3, bs * 2, NULL), 0, what);
		do_io(d, EM_BDEV_READ, 0, bs * 3, len, r);
		snprintf(what, sizeof(what), "%s: zeroed range reads zero, rest intact", name);
		ok(all_zero(r, bs * 2) && memcmp(r + bs * 2, w + bs * 2, len - bs * 2) == 0, what);
	}
	if (in->discard) {
		snprintf(what, sizeof(what), "%s: discard", name);
		is_int(do_io(d, EM_BDEV_DISCARD, 0, bs * 3, len, NULL), 0, what);
	}

	/* Requests that can never succeed are refused at submit. */
	snprintf(what, sizeof(what), "%s: misaligned offset refused", name);
	is_int(do_io(d, EM_BDEV_READ, 0, 1, bs, r), -EINVAL, what);
	snprintf(what, sizeof(what), "%s: past the end refused", name);
	is_int(do_io(d, EM_BDEV_READ, 0, in->size, bs, r), -ERANGE, what);
	snprintf(what, sizeof(what), "%s: larger than max transfer refused", name);
	is_int(do_io(d, EM_BDEV_READ, 0, 0, in->max_transfer + bs, r), -E2BIG, what);
	snprintf(what, sizeof(what), "%s: unaligned buffer refused", name);
	is_int(do_io(d, EM_BDEV_READ, 0, 0, bs, r + 1), -EINVAL, what);

	/* A registered buffer takes the fixed-buffer path transparently. */
	snprintf(what, sizeof(what), "%s: register buffer", name);
	is_int(em_bdev_register_buf(d, w, len), 0, what);
	fill(w, len, 99);
	do_io(d, EM_BDEV_WRITE, 0, 0, len, w);
	memset(r, 0, len);
	do_io(d, EM_BDEV_READ, 0, 0, len, r);
	snprintf(what, sizeof(what), "%s: registered-buffer write reads back", name);
	ok(memcmp(w, r, len) == 0, what);
	/* Registered buffers must outlive the device: run_on frees it. */
	registered = w;
	free(r);
}

/* Many I/Os at once through a reactor: one batch per iteration, all
 * callbacks on the reactor thread. */
#define NIO 256
static int async_done, async_bad;
static struct em_reactor *async_r;
static void on_async(struct em_bdev_io *io, int status)
{
	if (status)
		async_bad++;
	if (++async_done == NIO)
		em_reactor_stop(async_r);
}

static void test_async(struct em_bdev *d, const char *name)
{
	const struct em_bdev_info *in = em_bdev_get_info(d);
	uint32_t bs = in->block_size > 4096 ? in->block_size : 4096;
	char what[128];
	struct em_bdev_io *ios = calloc(NIO, sizeof(*ios));
	uint8_t *buf = em_bdev_alloc_buf(d, (size_t)NIO * bs);
	uint8_t *chk = em_bdev_alloc_buf(d, (size_t)NIO * bs);
	fill(buf, (size_t)NIO * bs, 3);
	if (em_reactor_create("bdev-test", &async_r) < 0)
		return;
	snprintf(what, sizeof(what), "%s: attach to reactor", name);
	is_int(em_bdev_attach(d, async_r), 0, what);
	async_done = async_bad = 0;
	int refused = 0;
	for (int i = 0; i < NIO; i++) {
		ios[i] = (struct em_bdev_io){ .op = EM_BDEV_WRITE, .offset = (uint64_t)i * bs,
					      .len = bs, .buf = buf + (size_t)i * bs,
					      .cb = on_async };
		refused += em_bdev_submit(d, &ios[i]) != 0;
	}
	em_reactor_run(async_r);
	snprintf(what, sizeof(what), "%s: %d queued writes complete without error", name, NIO);
	ok(refused == 0 && async_done == NIO && async_bad == 0, what);
	is_int(do_io(d, EM_BDEV_READ, 0, 0, NIO * bs > in->max_transfer ? in->max_transfer : NIO * bs, chk), 0,
	       "read back the async area");
	uint32_t cmp = NIO * bs > in->max_transfer ? in->max_transfer : NIO * bs;
	snprintf(what, sizeof(what), "%s: async data intact", name);
	ok(memcmp(buf, chk, cmp) == 0, what);
	snprintf(what, sizeof(what), "%s: nothing left in flight", name);
	is_int(em_bdev_inflight(d), 0, what);
	em_bdev_close(d);
	em_reactor_destroy(async_r);
	free(ios);
	free(buf);
	free(chk);
}

static void run_on(const char *path, enum em_bdev_kind kind)
{
	struct em_bdev *d = NULL;
	struct em_bdev_opts o = { .kind = kind, .queue_depth = 64 };
	const char *name = em_bdev_kind_name(kind);
	char what[128];
	snprintf(what, sizeof(what), "%s: open %s", name, path);
	int rc = em_bdev_open(path, &o, &d);
	is_int(rc, 0, what);
	if (rc < 0) {
		printf("# %s\n", em_strerror(rc));
		return;
	}
	const struct em_bdev_info *in = em_bdev_get_info(d);
	printf("# %s: block %u size %llu max_transfer %u wz %d discard %d\n", name,
	       in->block_size, (unsigned long long)in->size, in->max_transfer,
	       in->write_zeroes, in->discard);
	snprintf(what, sizeof(what), "%s: reports its kind", name);
	is_int(in->kind, kind, what);
	test_sync(d, name);
	test_async(d, name);
	free(registered);
	registered = NULL;
}

static void test_pure(void)
{
	is_int(em_bdev_kind_for_path("/dev/ng0n1"), EM_BDEV_NVME, "ng char dev -> nvme");
	is_int(em_bdev_kind_for_path("/dev/nvme0n1"), EM_BDEV_URING, "block dev -> uring");
	is_int(em_bdev_kind_for_path("./ng.img"), EM_BDEV_URING, "file named ng* -> uring");
	enum em_bdev_kind k;
	ok(em_bdev_kind_parse("aio", &k) == 0 && k == EM_BDEV_AIO, "parse aio");
	is_int(em_bdev_kind_parse("spdk", &k), -EINVAL, "unknown kind refused");
	is_int(em_bdev_nvme_status_errno(0), 0, "NVMe success");
	is_int(em_bdev_nvme_status_errno(0x0080), -ERANGE, "LBA out of range");
	is_int(em_bdev_nvme_status_errno(0x0002), -EINVAL, "invalid field");
	is_int(em_bdev_nvme_status_errno(0x0281), -EIO, "unrecovered read error");
	is_int(em_bdev_nvme_status_errno(0x0282), -EM_ECHECKSUM, "guard check");
	is_int(em_bdev_nvme_status_errno(0x0020), -EROFS, "write protected");
	struct em_bdev *d;
	is_int(em_bdev_open("/nonexistent/x", NULL, &d), -ENOENT, "missing path");
}

int main(int argc, char **argv)
{
	if (argc >= 3) {
		enum em_bdev_kind kind;
		if (em_bdev_kind_parse(argv[2], &kind) < 0) {
			fprintf(stderr, "usage: test_bdev [PATH KIND]\n");
			return 2;
		}
		run_on(argv[1], kind);
		return tap_done();
	}
	test_pure();
	char path[] = "bdev-test-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0 || ftruncate(fd, AREA) < 0) {
		perror("temp file");
		return 1;
	}
	close(fd);
	run_on(path, EM_BDEV_URING);
	run_on(path, EM_BDEV_AIO);
	unlink(path);
	return tap_done();
}
