#include <errno.h>
#include <stdlib.h>

#include "block/chunk/eio.h"

struct eio {
	em_eio_cb cb;
	void *arg;
	uint32_t left;
	int status;
	struct em_bdev_io io[];
};

static void piece_done(struct em_bdev_io *io, int status)
{
	struct eio *x = io->arg;
	if (status < 0 && x->status == 0)
		x->status = status;
	if (--x->left == 0) {
		x->cb(x->arg, x->status);
		free(x);
	}
}

int em_eio(struct em_bdev *d, enum em_bdev_op op, uint32_t flags, uint64_t off, uint64_t len,
	   void *buf, em_eio_cb cb, void *arg)
{
	uint32_t max = op == EM_BDEV_FLUSH ? 1 : em_bdev_get_info(d)->max_transfer;
	uint64_t n = op == EM_BDEV_FLUSH ? 1 : (len + max - 1) / max;
	if (n == 0 || n > UINT32_MAX)
		return -EINVAL;
	struct eio *x = malloc(sizeof(*x) + n * sizeof(x->io[0]));
	if (!x)
		return -ENOMEM;
	*x = (struct eio){ .cb = cb, .arg = arg, .left = (uint32_t)n };
	for (uint64_t i = 0; i < n; i++) {
		uint64_t at = i * max;
		x->io[i] = (struct em_bdev_io){
			.op = op, .flags = flags, .offset = off + at,
			.len = op == EM_BDEV_FLUSH ? 0 : (uint32_t)(len - at < max ? len - at : max),
			.buf = buf ? (uint8_t *)buf + at : NULL, .cb = piece_done, .arg = x,
		};
		int rc = em_bdev_submit(d, &x->io[i]);
		if (rc < 0) {
			/* Pieces already queued will still complete: count the
			 * rest as finished with this error. */
			if (i == 0) {
				free(x);
				return rc;
			}
			x->status = rc;
			x->left -= (uint32_t)(n - i);
			return 0;
		}
	}
	return 0;
}

static void sync_done(void *arg, int status)
{
	int *st = arg;
	*st = status;
}

int em_eio_sync(struct em_bdev *d, enum em_bdev_op op, uint32_t flags, uint64_t off,
		uint64_t len, void *buf)
{
	int status = 1;
	int rc = em_eio(d, op, flags, off, len, buf, sync_done, &status);
	if (rc < 0)
		return rc;
	rc = em_bdev_drain(d);
	if (rc < 0)
		return rc;
	return status;
}
