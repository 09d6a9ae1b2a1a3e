/* io_uring plumbing shared by the uring and nvme engines: ring setup with a
 * registered file, sparse registered-buffer table and completion eventfd;
 * batched submission and completion. The engines differ only in how one I/O
 * becomes an SQE and how a CQE becomes a status. */
#ifndef EMBER_BLOCK_DEV_RING_H
#define EMBER_BLOCK_DEV_RING_H

#include <liburing.h>

#include "block/dev/backend.h"

struct em_ring_dev;

struct em_ring_ops {
	/* Fill sqe for io; buf_index is a registered buffer or -1. The file is
	 * registered at index 0 (IOSQE_FIXED_FILE). */
	void (*prep)(struct em_ring_dev *r, struct io_uring_sqe *sqe,
		     struct em_bdev_io *io, int buf_index);
	/* Status of a finished io from its CQE: 0 or a negative errno. */
	int (*result)(struct em_ring_dev *r, struct em_bdev_io *io,
		      const struct io_uring_cqe *cqe);
};

struct em_ring_dev {
	struct em_bdev d;
	const struct em_ring_ops *ops;
	struct io_uring ring;
	int fd;
	bool ring_ready;
	bool fixed_bufs;        /* sparse buffer table registered */
};

/* Create the ring (setup_flags such as SQE128|CQE32) over r->fd. */
int em_ring_setup(struct em_ring_dev *r, unsigned setup_flags);
int em_ring_submit(struct em_bdev *d);
int em_ring_reap(struct em_bdev *d, bool wait);
int em_ring_register_buf(struct em_bdev *d, unsigned slot);
/* Tear down ring, eventfd and fd, and free r. */
void em_ring_close(struct em_bdev *d);

#endif
