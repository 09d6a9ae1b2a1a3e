/* The backend-independent half of block devices: choosing an engine,
 * validating requests, the submission queue, reactor glue and NVMe status
 * mapping. Engines only move queued I/Os into their kernel interface and
 * report completions. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block/dev/backend.h"
#include "include/ember/errors.h"
#include "net/core/log.h"
#include "net/core/reactor.h"

#define DEFAULT_QUEUE_DEPTH 128

static const char *const kind_names[] = {
	[EM_BDEV_AUTO] = "auto",
	[EM_BDEV_NVME] = "nvme",
	[EM_BDEV_URING] = "uring",
	[EM_BDEV_AIO] = "aio",
};

const char *em_bdev_kind_name(enum em_bdev_kind kind)
{
	if ((unsigned)kind >= sizeof(kind_names) / sizeof(kind_names[0]))
		return "unknown";
	return kind_names[kind];
}

int em_bdev_kind_parse(const char *name, enum em_bdev_kind *out)
{
	for (unsigned i = 0; i < sizeof(kind_names) / sizeof(kind_names[0]); i++) {
		if (strcmp(name, kind_names[i]) == 0) {
			*out = (enum em_bdev_kind)i;
			return 0;
		}
	}
	return -EINVAL;
}

enum em_bdev_kind em_bdev_kind_for_path(const char *path)
{
	/* NVMe generic character devices are the only path passthrough
	 * works on; everything else goes through the block layer. */
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	return strncmp(base, "ng", 2) == 0 && strncmp(path, "/dev/", 5) == 0 ? EM_BDEV_NVME
									       : EM_BDEV_URING;
}

void em_bdev_init(struct em_bdev *d, const struct em_bdev_backend *be,
		  const struct em_bdev_opts *opts)
{
	d->be = be;
	d->queue_depth = opts && opts->queue_depth ? opts->queue_depth : DEFAULT_QUEUE_DEPTH;
	d->qhead = NULL;
	d->qtail = &d->qhead;
	d->event_fd = -1;
}

int em_bdev_open(const char *path, const struct em_bdev_opts *opts, struct em_bdev **out)
{
	enum em_bdev_kind kind = opts ? opts->kind : EM_BDEV_AUTO;
	if (kind == EM_BDEV_AUTO)
		kind = em_bdev_kind_for_path(path);
	if (opts && opts->queue_depth > 4096)
		return -EINVAL;
	int rc;
	switch (kind) {
	case EM_BDEV_NVME:
		rc = em_bdev_nvme_open(path, opts, out);
		break;
	case EM_BDEV_URING:
		rc = em_bdev_uring_open(path, opts, out);
		break;
	case EM_BDEV_AIO:
		rc = em_bdev_aio_open(path, opts, out);
		break;
	default:
		return -EINVAL;
	}
	if (rc < 0)
		return rc;
	(*out)->info.kind = kind;
	EM_DEBUG("bdev", "%s: %s, block %u, size %llu, max transfer %u", path,
		 em_bdev_kind_name(kind), (*out)->info.block_size,
		 (unsigned long long)(*out)->info.size, (*out)->info.max_transfer);
	return 0;
}

const struct em_bdev_info *em_bdev_get_info(const struct em_bdev *d)
{
	return &d->info;
}

uint32_t em_bdev_inflight(const struct em_bdev *d)
{
	return d->inflight + d->queued;
}

void *em_bdev_alloc_buf(const struct em_bdev *d, size_t len)
{
	/* Page alignment satisfies every block size and O_DIRECT. */
	size_t align = d->info.block_size > 4096 ? d->info.block_size : 4096;
	size_t rounded = (len + align - 1) / align * align;
	void *p = NULL;
	if (posix_memalign(&p, align, rounded ? rounded : align) != 0)
		return NULL;
	return p;
}

static int validate(const struct em_bdev *d, const struct em_bdev_io *io)
{
	const struct em_bdev_info *in = &d->info;
	if (!io->cb)
		return -EINVAL;
	if (io->flags & ~EM_BDEV_FUA)
		return -EINVAL;
	if (io->op == EM_BDEV_FLUSH)
		return 0;
	if (io->len == 0 || io->offset % in->block_size || io->len % in->block_size)
		return -EINVAL;
	if (io->offset > in->size || io->len > in->size - io->offset)
		return -ERANGE;
	switch (io->op) {
	case EM_BDEV_READ:
	case EM_BDEV_WRITE:
		if (io->len > in->max_transfer)
			return -E2BIG;
		if (!io->buf || (uintptr_t)io->buf % in->block_size)
			return -EINVAL;
		return 0;
	case EM_BDEV_WRITE_ZEROES:
		if (!in->write_zeroes)
			return -EOPNOTSUPP;
		return io->len > in->max_zeroes ? -E2BIG : 0;
	case EM_BDEV_DISCARD:
		if (!in->discard)
			return -EOPNOTSUPP;
		return io->len > in->max_zeroes ? -E2BIG : 0;
	default:
		return -EINVAL;
	}
}

int em_bdev_submit(struct em_bdev *d, struct em_bdev_io *io)
{
	int rc = validate(d, io);
	if (rc < 0)
		return rc;
	io->nvme_status = 0;
	io->next = NULL;
	*d->qtail = io;
	d->qtail = &io->next;
	d->queued++;
	return 0;
}

struct em_bdev_io *em_bdev_dequeue(struct em_bdev *d)
{
	struct em_bdev_io *io = d->qhead;
	if (!io || d->inflight >= d->queue_depth)
		return NULL;
	d->qhead = io->next;
	if (!d->qhead)
		d->qtail = &d->qhead;
	d->queued--;
	d->inflight++;
	return io;
}

void em_bdev_requeue(struct em_bdev *d, struct em_bdev_io *io)
{
	io->next = d->qhead;
	d->qhead = io;
	if (d->qtail == &d->qhead)
		d->qtail = &io->next;
	d->queued++;
	d->inflight--;
}

void em_bdev_complete(struct em_bdev *d, struct em_bdev_io *io, int status)
{
	d->inflight--;
	io->cb(io, status);
}

int em_bdev_buf_index(const struct em_bdev *d, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	for (unsigned i = 0; i < d->n_bufs; i++) {
		const struct em_bdev_buf *b = &d->bufs[i];
		if (p >= b->base && p + len <= b->base + b->len)
			return (int)i;
	}
	return -1;
}

int em_bdev_register_buf(struct em_bdev *d, void *buf, size_t len)
{
	if (!buf || !len)
		return -EINVAL;
	if (d->n_bufs >= EM_BDEV_MAX_BUFS)
		return -ENOSPC;
	if (!d->be->register_buf)
		return 0;
	unsigned slot = d->n_bufs;
	d->bufs[slot] = (struct em_bdev_buf){ .base = buf, .len = len };
	/* 1: registered; 0: the kernel cannot, so I/O just goes unregistered. */
	int rc = d->be->register_buf(d, slot);
	if (rc < 0)
		return rc;
	if (rc > 0)
		d->n_bufs++;
	return 0;
}

int em_bdev_poll(struct em_bdev *d)
{
	int work = 0;
	/* Reap first: completions free ring slots and their callbacks often
	 * queue follow-up I/O that then goes out in the same batch. */
	int rc = d->be->reap(d, false);
	if (rc < 0)
		return rc;
	work += rc;
	if (d->qhead) {
		rc = d->be->submit(d);
		if (rc < 0)
			return rc;
		work += rc;
	}
	return work;
}

int em_bdev_drain(struct em_bdev *d)
{
	while (d->inflight || d->queued) {
		int rc = em_bdev_poll(d);
		if (rc < 0)
			return rc;
		if (rc == 0 && d->inflight) {
			rc = d->be->reap(d, true);
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

static int bdev_poller(void *arg)
{
	struct em_bdev *d = arg;
	int rc = em_bdev_poll(d);
	if (rc < 0) {
		EM_ERR("bdev", "poll: %s", em_strerror(rc));
		return 0;
	}
	return rc;
}

static void bdev_event(void *arg, uint32_t events)
{
	struct em_bdev *d = arg;
	uint64_t n;
	/* Level-triggered: empty the counter, then the poller (which runs on
	 * every iteration) reaps. Reap here too so a sleeping reactor does
	 * not need a second pass to run the callbacks. */
	if (read(d->event_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		EM_WARN("bdev", "eventfd read: %s", strerror(errno));
	bdev_poller(d);
}

int em_bdev_attach(struct em_bdev *d, struct em_reactor *r)
{
	if (d->reactor)
		return -EBUSY;
	int rc = em_reactor_add_poller(r, bdev_poller, d, &d->poller);
	if (rc < 0)
		return rc;
	if (d->event_fd >= 0) {
		rc = em_reactor_add_fd(r, d->event_fd, EPOLLIN, bdev_event, d);
		if (rc < 0) {
			em_reactor_del_poller(r, d->poller);
			d->poller = NULL;
			return rc;
		}
	}
	d->reactor = r;
	return 0;
}

void em_bdev_close(struct em_bdev *d)
{
	if (!d)
		return;
	int rc = em_bdev_drain(d);
	if (rc < 0)
		EM_ERR("bdev", "close: draining I/O: %s", em_strerror(rc));
	if (d->reactor) {
		if (d->event_fd >= 0)
			em_reactor_del_fd(d->reactor, d->event_fd);
		em_reactor_del_poller(d->reactor, d->poller);
	}
	d->be->close(d);
}

int em_bdev_nvme_status_errno(uint16_t status)
{
	unsigned sct = (status >> 8) & 0x7, sc = status & 0xff;
	if (sct == 0 && sc == 0)
		return 0;
	switch (sct) {
	case 0: /* generic command status */
		switch (sc) {
		case 0x01: return -EOPNOTSUPP; /* invalid opcode */
		case 0x02: return -EINVAL;     /* invalid field */
		case 0x04: return -EIO;        /* data transfer error */
		case 0x06: return -EIO;        /* internal error */
		case 0x07:                     /* abort requested */
		case 0x08: return -ECANCELED;  /* aborted: SQ deletion */
		case 0x0b: return -ENXIO;      /* invalid namespace or format */
		case 0x15: return -ENODEV;     /* namespace not ready (legacy) */
		case 0x20: return -EROFS;      /* namespace write protected */
		case 0x21: return -EINTR;      /* command interrupted */
		case 0x80: return -ERANGE;     /* LBA out of range */
		case 0x81: return -ENOSPC;     /* capacity exceeded */
		case 0x82: return -EAGAIN;     /* namespace not ready */
		case 0x83: return -EBADE;      /* reservation conflict */
		default: return -EIO;
		}
	case 1: /* command specific */
		switch (sc) {
		case 0x80: return -EINVAL; /* conflicting attributes */
		case 0x82: return -EROFS;  /* write to read-only range */
		default: return -EIO;
		}
	case 2: /* media and data integrity */
		switch (sc) {
		case 0x82: /* end-to-end guard check */
		case 0x83: /* application tag check */
		case 0x84: /* reference tag check */
			return -EM_ECHECKSUM;
		case 0x86: return -EACCES;  /* access denied */
		case 0x87: return -ENODATA; /* deallocated or unwritten block */
		default: return -EIO;      /* write fault, unrecovered read ... */
		}
	case 3: /* path related */
		return -ENOLINK;
	default:
		return -EIO;
	}
}
