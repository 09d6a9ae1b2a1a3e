/* The aio engine: Linux native AIO (libaio) on an O_DIRECT file or block
 * device, for kernels or sandboxes where io_uring is unavailable. FUA is
 * RWF_DSYNC, flush is an async fdsync. AIO has no fallocate command, so write
 * zeroes and discard run synchronously at submit and complete on the next
 * poll, keeping callbacks off the submitter's stack. */
#include <errno.h>
#include <fcntl.h>
#include <libaio.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "block/dev/backend.h"
#include "net/core/log.h"

#define REAP_BATCH 64

struct aio_dev {
	struct em_bdev d;
	io_context_t ctx;
	bool ctx_ready;
	int fd;
	struct iocb *iocbs;     /* queue_depth of them */
	uint32_t *free_slots;   /* stack of unused iocb indexes */
	uint32_t n_free;
	struct em_bdev_io *done, **done_tail; /* finished synchronously */
};

static void finish_sync(struct aio_dev *a, struct em_bdev_io *io, int status)
{
	io->priv[1] = (uint64_t)(int64_t)status;
	io->next = NULL;
	*a->done_tail = io;
	a->done_tail = &io->next;
}

static void prep(struct aio_dev *a, struct iocb *cb, struct em_bdev_io *io)
{
	switch (io->op) {
	case EM_BDEV_READ:
		io_prep_pread(cb, a->fd, io->buf, io->len, (long long)io->offset);
		break;
	case EM_BDEV_WRITE:
		io_prep_pwrite(cb, a->fd, io->buf, io->len, (long long)io->offset);
		if (io->flags & EM_BDEV_FUA)
			cb->aio_rw_flags = RWF_DSYNC;
		break;
	default: /* EM_BDEV_FLUSH */
		io_prep_fdsync(cb, a->fd);
		break;
	}
	cb->data = io;
	io_set_eventfd(cb, a->d.event_fd);
}

static int aio_submit(struct em_bdev *d)
{
	struct aio_dev *a = (struct aio_dev *)d;
	struct iocb *list[REAP_BATCH];
	struct em_bdev_io *io;
	int started = 0;
	long n = 0;
	while (n < REAP_BATCH && (io = em_bdev_dequeue(d)) != NULL) {
		if (io->op == EM_BDEV_WRITE_ZEROES || io->op == EM_BDEV_DISCARD) {
			int mode = io->op == EM_BDEV_DISCARD ? FALLOC_FL_PUNCH_HOLE : FALLOC_FL_ZERO_RANGE;
			int rc = fallocate(a->fd, mode | FALLOC_FL_KEEP_SIZE, (off_t)io->offset,
					   (off_t)io->len);
			finish_sync(a, io, rc < 0 ? -errno : 0);
			started++;
			continue;
		}
		uint32_t slot = a->free_slots[--a->n_free];
		io->priv[0] = slot;
		prep(a, &a->iocbs[slot], io);
		list[n++] = &a->iocbs[slot];
	}
	long done = 0;
	while (done < n) {
		int rc = io_submit(a->ctx, n - done, list + done);
		if (rc == -EINTR)
			continue;
		if (rc <= 0) {
			/* -EAGAIN: the kernel is out of aio requests; put the rest
			 * back in order and retry on the next poll. */
			for (long i = n - 1; i >= done; i--) {
				struct em_bdev_io *back = list[i]->data;
				a->free_slots[a->n_free++] = (uint32_t)back->priv[0];
				em_bdev_requeue(d, back);
			}
			if (rc < 0 && rc != -EAGAIN)
				return rc;
			break;
		}
		done += rc;
	}
	return started + (int)done;
}

static int aio_reap(struct em_bdev *d, bool wait)
{
	struct aio_dev *a = (struct aio_dev *)d;
	int total = 0;
	while (a->done) {
		struct em_bdev_io *io = a->done;
		a->done = io->next;
		if (!a->done)
			a->done_tail = &a->done;
		em_bdev_complete(d, io, (int)(int64_t)io->priv[1]);
		total++;
		wait = false;
	}
	struct timespec zero = { 0, 0 };
	for (;;) {
		struct io_event ev[REAP_BATCH];
		long min = wait && d->inflight ? 1 : 0;
		int n = io_getevents(a->ctx, min, REAP_BATCH, ev, min ? NULL : &zero);
		if (n == -EINTR)
			continue;
		if (n < 0)
			return n;
		if (n == 0)
			return total;
		wait = false;
		for (int i = 0; i < n; i++) {
			struct em_bdev_io *io = ev[i].data;
			long res = (long)ev[i].res;
			int status = res < 0 ? (int)res
				     : (io->op == EM_BDEV_READ || io->op == EM_BDEV_WRITE) &&
						       (unsigned long)res != io->len
					     ? -EIO
					     : 0;
			a->free_slots[a->n_free++] = (uint32_t)io->priv[0];
			em_bdev_complete(d, io, status);
		}
		total += n;
	}
}

static void aio_close(struct em_bdev *d)
{
	struct aio_dev *a = (struct aio_dev *)d;
	if (a->ctx_ready)
		io_destroy(a->ctx);
	if (d->event_fd >= 0)
		close(d->event_fd);
	if (a->fd >= 0)
		close(a->fd);
	free(a->iocbs);
	free(a->free_slots);
	free(a);
}

static const struct em_bdev_backend aio_backend = {
	.submit = aio_submit,
	.reap = aio_reap,
	.register_buf = NULL, /* AIO pins pages per request; nothing to register */
	.close = aio_close,
};

int em_bdev_aio_open(const char *path, const struct em_bdev_opts *opts, struct em_bdev **out)
{
	struct aio_dev *a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	em_bdev_init(&a->d, &aio_backend, opts);
	a->fd = -1;
	a->done_tail = &a->done;
	uint32_t qd = a->d.queue_depth;
	int rc = em_bdev_open_direct(path, &a->d.info, &a->fd);
	if (rc == 0) {
		a->iocbs = calloc(qd, sizeof(*a->iocbs));
		a->free_slots = calloc(qd, sizeof(*a->free_slots));
		if (!a->iocbs || !a->free_slots)
			rc = -ENOMEM;
	}
	if (rc == 0) {
		for (uint32_t i = 0; i < qd; i++)
			a->free_slots[i] = qd - 1 - i;
		a->n_free = qd;
		a->d.event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (a->d.event_fd < 0)
			rc = -errno;
	}
	if (rc == 0) {
		rc = io_setup((int)qd, &a->ctx);
		a->ctx_ready = rc == 0;
		if (rc == -EAGAIN)
			EM_ERR("bdev", "%s: io_setup(%u): aio request limit reached (fs.aio-max-nr)",
			       path, qd);
	}
	if (rc < 0) {
		aio_close(&a->d);
		return rc;
	}
	*out = &a->d;
	return 0;
}
