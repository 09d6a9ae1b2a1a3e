/* Internal contract between bdev.c (validation, queueing, reactor glue) and
 * the three engines (nvme.c, uring.c, aio.c). Not for users of bdev.h. */
#ifndef EMBER_BLOCK_DEV_BACKEND_H
#define EMBER_BLOCK_DEV_BACKEND_H

#include "block/dev/bdev.h"

struct em_bdev_backend {
	/* Start queued I/Os (em_bdev_dequeue) while the ring has room; hand
	 * them to the kernel in one system call. Returns how many started. */
	int (*submit)(struct em_bdev *d);
	/* Complete what the kernel finished (em_bdev_complete) without
	 * blocking; wait: block until at least one completion. Returns count. */
	int (*reap)(struct em_bdev *d, bool wait);
	/* Slot index was filled in d->bufs[]; tell the kernel. Returns 1 if
	 * registered, 0 if the kernel lacks support, or a negative errno. */
	int (*register_buf)(struct em_bdev *d, unsigned slot);
	void (*close)(struct em_bdev *d);
};

struct em_bdev_buf {
	uint8_t *base;
	size_t len;
};

/* Backends embed this as their first member. */
struct em_bdev {
	const struct em_bdev_backend *be;
	struct em_bdev_info info;
	uint32_t queue_depth;
	uint32_t inflight;      /* handed to the kernel, not completed */
	uint32_t queued;
	struct em_bdev_io *qhead, **qtail;
	int event_fd;           /* readable when completions are ready */
	struct em_reactor *reactor;
	struct em_poller *poller;
	struct em_bdev_buf bufs[EM_BDEV_MAX_BUFS];
	unsigned n_bufs;
};

/* Fills the common part; the backend then sets info and event_fd. */
void em_bdev_init(struct em_bdev *d, const struct em_bdev_backend *be,
		  const struct em_bdev_opts *opts);
/* Next queued I/O (counted as in flight), or NULL. */
struct em_bdev_io *em_bdev_dequeue(struct em_bdev *d);
/* Put back an I/O the ring had no room for; it goes first next time. */
void em_bdev_requeue(struct em_bdev *d, struct em_bdev_io *io);
/* Finish an in-flight I/O and run its callback. */
void em_bdev_complete(struct em_bdev *d, struct em_bdev_io *io, int status);
/* Index of the registered buffer holding [buf, buf+len), or -1. */
int em_bdev_buf_index(const struct em_bdev *d, const void *buf, size_t len);

/* Engines. Each returns 0 or a negative errno with *out set on success. */
int em_bdev_nvme_open(const char *path, const struct em_bdev_opts *opts, struct em_bdev **out);
int em_bdev_uring_open(const char *path, const struct em_bdev_opts *opts, struct em_bdev **out);
int em_bdev_aio_open(const char *path, const struct em_bdev_opts *opts, struct em_bdev **out);

/* Shared by uring and aio: open with O_DIRECT and learn size, block size and
 * transfer limit of a regular file or block device. */
int em_bdev_open_direct(const char *path, struct em_bdev_info *info, int *fd_out);

#endif
