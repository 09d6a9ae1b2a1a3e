/* Block device backends: one asynchronous interface over three engines.
 *
 *   nvme   io_uring IORING_OP_URING_CMD passthrough on /dev/ngXnY
 *   uring  io_uring on an O_DIRECT regular file or block device
 *   aio    libaio on O_DIRECT (fallback)
 *
 * A device is owned by one reactor thread: submit, poll and close are called
 * only from it. Submissions are queued and handed to the kernel in one batch
 * per reactor iteration; completions call the I/O's callback on the same
 * thread. Offsets and lengths are in bytes and must be multiples of the
 * device's block size; buffers must be aligned to it (em_bdev_alloc_buf()).
 */
#ifndef EMBER_BLOCK_DEV_BDEV_H
#define EMBER_BLOCK_DEV_BDEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct em_reactor;
struct em_bdev;

enum em_bdev_kind {
	EM_BDEV_AUTO = 0, /* /dev/ng* -> nvme, otherwise uring */
	EM_BDEV_NVME,
	EM_BDEV_URING,
	EM_BDEV_AIO,
};

enum em_bdev_op {
	EM_BDEV_READ,
	EM_BDEV_WRITE,
	EM_BDEV_FLUSH,
	EM_BDEV_WRITE_ZEROES,
	EM_BDEV_DISCARD, /* Dataset Management deallocate / fallocate punch hole */
};

#define EM_BDEV_FUA 0x1u /* write reaches media before completion */

struct em_bdev_io;
/* status: 0, or a negative errno (NVMe status codes are mapped, see bdev.c). */
typedef void (*em_bdev_cb)(struct em_bdev_io *io, int status);

struct em_bdev_io {
	enum em_bdev_op op;
	uint32_t flags;
	uint64_t offset;
	uint32_t len;
	void *buf;
	em_bdev_cb cb;
	void *arg;
	struct em_bdev_io *next; /* backend-private queue link */
	/* nvme backend: the raw completion status (SCT << 8 | SC) so a
	 * passthrough user (the NVMe-oF target) can hand it on unchanged;
	 * 0 on success and on the other backends. */
	uint16_t nvme_status;
	uint64_t priv[2];        /* backend scratch (e.g. a DSM range) */
};

struct em_bdev_info {
	enum em_bdev_kind kind;
	uint32_t block_size;    /* bytes, e.g. 512 or 4096 */
	uint64_t size;          /* bytes */
	uint32_t max_transfer;  /* bytes per command */
	bool write_zeroes;      /* supported; submit says -EOPNOTSUPP otherwise */
	bool discard;
	uint64_t max_zeroes;    /* bytes per WRITE_ZEROES/DISCARD command */
	uint32_t nsid;          /* nvme only */
	bool rotational;        /* hint from sysfs; false for files */
};

struct em_bdev_opts {
	enum em_bdev_kind kind;
	uint32_t queue_depth;   /* 0: default 128 */
};

/* Errors: -ENOENT, -EACCES (for nvme: with a log line saying that Linux 6.1
 * passthrough needs CAP_SYS_ADMIN), -EINVAL (not a usable device, or a file
 * of size 0), -EOPNOTSUPP (O_DIRECT or the ring features unavailable). */
int em_bdev_open(const char *path, const struct em_bdev_opts *opts, struct em_bdev **out);
/* Drains outstanding I/O (running callbacks), detaches, frees. */
void em_bdev_close(struct em_bdev *d);
const struct em_bdev_info *em_bdev_get_info(const struct em_bdev *d);

/* Queue an I/O. Returns 0, or a negative errno for a request that can never
 * succeed (misaligned, out of range, too large); the callback is then not
 * called. */
int em_bdev_submit(struct em_bdev *d, struct em_bdev_io *io);

/* Hand queued I/Os to the kernel and run completions. Returns the number of
 * submissions plus completions handled, or a negative errno. */
int em_bdev_poll(struct em_bdev *d);

/* Register the device's completion eventfd and poller with a reactor, so
 * submissions and completions progress while the reactor runs. */
int em_bdev_attach(struct em_bdev *d, struct em_reactor *r);

/* A buffer aligned for this device's I/O, freed with free(). */
void *em_bdev_alloc_buf(const struct em_bdev *d, size_t len);

const char *em_bdev_kind_name(enum em_bdev_kind kind);
/* "auto", "nvme", "uring" or "aio". Returns 0 or -EINVAL. */
int em_bdev_kind_parse(const char *name, enum em_bdev_kind *out);

/* The backend AUTO resolves to for this path. */
enum em_bdev_kind em_bdev_kind_for_path(const char *path);

/* I/Os queued or in flight. */
uint32_t em_bdev_inflight(const struct em_bdev *d);

/* Register a buffer with the kernel (io_uring fixed buffers) so I/O into it
 * skips per-request page pinning. Any I/O whose [buf, buf+len) lies inside a
 * registered buffer uses it automatically. At most EM_BDEV_MAX_BUFS; a no-op
 * on aio. Returns 0 or a negative errno. The buffer must stay allocated until
 * close. */
#define EM_BDEV_MAX_BUFS 16
int em_bdev_register_buf(struct em_bdev *d, void *buf, size_t len);

/* Map an NVMe completion status (SCT << 8 | SC, without phase/DNR/More bits)
 * to a negative errno or Ember error code; 0 for success. */
int em_bdev_nvme_status_errno(uint16_t status);

/* Run until every queued and in-flight I/O completed (callbacks included),
 * blocking in the kernel. For tools and shutdown, not the reactor path. */
int em_bdev_drain(struct em_bdev *d);

#endif
