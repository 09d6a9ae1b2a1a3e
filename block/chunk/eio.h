/* Device I/O of any length: split at the device's transfer limit, issued
 * together, one callback when all pieces finished (the first error wins). */
#ifndef EMBER_BLOCK_CHUNK_EIO_H
#define EMBER_BLOCK_CHUNK_EIO_H

#include <stdint.h>

#include "block/dev/bdev.h"

typedef void (*em_eio_cb)(void *arg, int status);

/* Returns 0 (cb will run) or a negative errno (cb will not). */
int em_eio(struct em_bdev *d, enum em_bdev_op op, uint32_t flags, uint64_t off, uint64_t len,
	   void *buf, em_eio_cb cb, void *arg);
/* The same, waiting in the kernel: for format, recovery and inspect. */
int em_eio_sync(struct em_bdev *d, enum em_bdev_op op, uint32_t flags, uint64_t off,
		uint64_t len, void *buf);

#endif
