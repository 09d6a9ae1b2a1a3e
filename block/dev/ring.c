#include <errno.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "block/dev/ring.h"
#include "net/core/log.h"

/* Completions handled per pass; callbacks run after the CQ head moved so a
 * callback that polls the device again never sees the same CQE twice. */
#define REAP_BATCH 64

int em_ring_setup(struct em_ring_dev *r, unsigned setup_flags)
{
	struct io_uring_params p = { .flags = setup_flags };
	int rc = io_uring_queue_init_params(r->d.queue_depth, &r->ring, &p);
	if (rc < 0)
		return rc;
	r->ring_ready = true;
	rc = io_uring_register_files(&r->ring, &r->fd, 1);
	if (rc < 0)
		return rc;
	/* A sparse table lets buffers be registered one by one while I/O is
	 * in flight; kernels without it simply go without fixed buffers. */
	r->fixed_bufs = io_uring_register_buffers_sparse(&r->ring, EM_BDEV_MAX_BUFS) == 0;
	r->d.event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (r->d.event_fd < 0)
		return -errno;
	return io_uring_register_eventfd(&r->ring, r->d.event_fd);
}

int em_ring_submit(struct em_bdev *d)
{
	struct em_ring_dev *r = (struct em_ring_dev *)d;
	struct em_bdev_io *io;
	int n = 0;
	while ((io = em_bdev_dequeue(d)) != NULL) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
		if (!sqe) {
			em_bdev_requeue(d, io);
			break;
		}
		int idx = -1;
		if (r->fixed_bufs && io->buf && (io->op == EM_BDEV_READ || io->op == EM_BDEV_WRITE))
			idx = em_bdev_buf_index(d, io->buf, io->len);
		r->ops->prep(r, sqe, io, idx);
		io_uring_sqe_set_data(sqe, io);
		n++;
	}
	int rc = io_uring_submit(&r->ring);
	/* A busy kernel keeps the SQEs in the ring; the next poll retries. */
	if (rc < 0 && rc != -EAGAIN && rc != -EBUSY && rc != -EINTR)
		return rc;
	return n;
}

int em_ring_reap(struct em_bdev *d, bool wait)
{
	struct em_ring_dev *r = (struct em_ring_dev *)d;
	if (wait && d->inflight) {
		struct io_uring_cqe *cqe;
		int rc;
		do
			rc = io_uring_wait_cqe(&r->ring, &cqe);
		while (rc == -EINTR);
		if (rc < 0)
			return rc;
	}
	int total = 0;
	for (;;) {
		struct em_bdev_io *ios[REAP_BATCH];
		int status[REAP_BATCH];
		unsigned head, n = 0;
		struct io_uring_cqe *cqe;
		io_uring_for_each_cqe(&r->ring, head, cqe) {
			struct em_bdev_io *io = io_uring_cqe_get_data(cqe);
			ios[n] = io;
			status[n] = r->ops->result(r, io, cqe);
			if (++n == REAP_BATCH)
				break;
		}
		if (n == 0)
			return total;
		io_uring_cq_advance(&r->ring, n);
		for (unsigned i = 0; i < n; i++)
			em_bdev_complete(d, ios[i], status[i]);
		total += (int)n;
	}
}

int em_ring_register_buf(struct em_bdev *d, unsigned slot)
{
	struct em_ring_dev *r = (struct em_ring_dev *)d;
	if (!r->fixed_bufs)
		return 0;
	struct iovec iov = { .iov_base = d->bufs[slot].base, .iov_len = d->bufs[slot].len };
	int rc = io_uring_register_buffers_update_tag(&r->ring, slot, &iov, NULL, 1);
	if (rc < 0)
		return rc;
	return 1;
}

void em_ring_close(struct em_bdev *d)
{
	struct em_ring_dev *r = (struct em_ring_dev *)d;
	if (r->ring_ready)
		io_uring_queue_exit(&r->ring);
	if (d->event_fd >= 0)
		close(d->event_fd);
	if (r->fd >= 0)
		close(r->fd);
	free(r);
}
