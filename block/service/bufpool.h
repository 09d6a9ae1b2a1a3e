/* Registered bounce buffers for the chunk service's bulk transfers.
 *
 * Registering memory is expensive on RDMA (pinning, NIC tables), so buffers
 * are registered once and kept in power-of-two free lists for reuse, up to a
 * cap on the bytes held idle. One pool per network reactor; not thread-safe.
 */
#ifndef EMBER_BLOCK_SERVICE_BUFPOOL_H
#define EMBER_BLOCK_SERVICE_BUFPOOL_H

#include <stddef.h>

#include "net/mr.h"

struct em_cs_buf {
	struct em_cs_buf *next;
	void *data;
	size_t cap;
	struct em_mr *mr;
	int cls;
};

struct em_cs_bufpool;

int em_cs_bufpool_create(size_t max_idle_bytes, struct em_cs_bufpool **out);
/* The same, with buffers registered for access (EM_ACCESS_REMOTE_*): for
 * servers that in turn grant their buffers to a peer (chain forwarding). */
int em_cs_bufpool_create_access(size_t max_idle_bytes, unsigned access,
				struct em_cs_bufpool **out);
void em_cs_bufpool_destroy(struct em_cs_bufpool *p);
/* A buffer of at least len bytes (len <= 64 MiB), 4 KiB aligned; -ENOMEM or
 * the registration error. */
int em_cs_buf_get(struct em_cs_bufpool *p, size_t len, struct em_cs_buf **out);
void em_cs_buf_put(struct em_cs_bufpool *p, struct em_cs_buf *b);

#endif
