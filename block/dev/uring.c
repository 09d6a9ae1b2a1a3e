/* The uring engine: io_uring reads and writes on an O_DIRECT regular file or
 * block device, through a registered file and registered buffers. FUA maps
 * to RWF_DSYNC, which the block layer turns into a FUA write; write zeroes
 * and discard are fallocate zero-range and punch-hole. */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdlib.h>

#include "block/dev/ring.h"

static void uring_prep(struct em_ring_dev *r, struct io_uring_sqe *sqe,
		       struct em_bdev_io *io, int idx)
{
	switch (io->op) {
	case EM_BDEV_READ:
		if (idx >= 0)
			io_uring_prep_read_fixed(sqe, 0, io->buf, io->len, io->offset, idx);
		else
			io_uring_prep_read(sqe, 0, io->buf, io->len, io->offset);
		break;
	case EM_BDEV_WRITE:
		if (idx >= 0)
			io_uring_prep_write_fixed(sqe, 0, io->buf, io->len, io->offset, idx);
		else
			io_uring_prep_write(sqe, 0, io->buf, io->len, io->offset);
		if (io->flags & EM_BDEV_FUA)
			sqe->rw_flags = RWF_DSYNC;
		break;
	case EM_BDEV_FLUSH:
		io_uring_prep_fsync(sqe, 0, IORING_FSYNC_DATASYNC);
		break;
	case EM_BDEV_WRITE_ZEROES:
		io_uring_prep_fallocate(sqe, 0, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
					(off_t)io->offset, (off_t)io->len);
		break;
	case EM_BDEV_DISCARD:
		io_uring_prep_fallocate(sqe, 0, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
					(off_t)io->offset, (off_t)io->len);
		break;
	}
	sqe->flags |= IOSQE_FIXED_FILE;
}

static int uring_result(struct em_ring_dev *r, struct em_bdev_io *io,
			const struct io_uring_cqe *cqe)
{
	if (cqe->res < 0)
		return cqe->res;
	if ((io->op == EM_BDEV_READ || io->op == EM_BDEV_WRITE) && (uint32_t)cqe->res != io->len)
		return -EIO; /* short transfer inside the device: media trouble */
	return 0;
}

static const struct em_ring_ops uring_ops = { uring_prep, uring_result };

static const struct em_bdev_backend uring_backend = {
	.submit = em_ring_submit,
	.reap = em_ring_reap,
	.register_buf = em_ring_register_buf,
	.close = em_ring_close,
};

int em_bdev_uring_open(const char *path, const struct em_bdev_opts *opts, struct em_bdev **out)
{
	struct em_ring_dev *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	em_bdev_init(&r->d, &uring_backend, opts);
	r->ops = &uring_ops;
	r->fd = -1;
	int rc = em_bdev_open_direct(path, &r->d.info, &r->fd);
	if (rc == 0)
		rc = em_ring_setup(r, 0);
	if (rc < 0) {
		em_ring_close(&r->d);
		return rc;
	}
	*out = &r->d;
	return 0;
}
