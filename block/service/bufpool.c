/* Registered buffer free lists (bufpool.h). */
#include <errno.h>
#include <stdlib.h>

#include "block/chunk/engine.h"
#include "block/service/bufpool.h"

#define MIN_SHIFT 12 /* 4 KiB */
#define CLASSES 15   /* 4 KiB .. 64 MiB */

struct em_cs_bufpool {
	struct em_cs_buf *free[CLASSES];
	size_t idle, max_idle;
	unsigned access;
};

int em_cs_bufpool_create(size_t max_idle_bytes, struct em_cs_bufpool **out)
{
	struct em_cs_bufpool *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->max_idle = max_idle_bytes;
	*out = p;
	return 0;
}

int em_cs_bufpool_create_access(size_t max_idle_bytes, unsigned access,
				struct em_cs_bufpool **out)
{
	int rc = em_cs_bufpool_create(max_idle_bytes, out);
	if (rc == 0)
		(*out)->access = access;
	return rc;
}

static void buf_free(struct em_cs_buf *b)
{
	em_mr_dereg(b->mr);
	free(b->data);
	free(b);
}

void em_cs_bufpool_destroy(struct em_cs_bufpool *p)
{
	if (!p)
		return;
	for (int c = 0; c < CLASSES; c++) {
		while (p->free[c]) {
			struct em_cs_buf *b = p->free[c];
			p->free[c] = b->next;
			buf_free(b);
		}
	}
	free(p);
}

static int class_of(size_t len)
{
	int c = 0;
	while (((size_t)1 << (MIN_SHIFT + c)) < len)
		c++;
	return c;
}

int em_cs_buf_get(struct em_cs_bufpool *p, size_t len, struct em_cs_buf **out)
{
	if (len == 0 || len > EM_CHUNK_MAX_SIZE)
		return -EINVAL;
	int c = class_of(len);
	struct em_cs_buf *b = p->free[c];
	if (b) {
		p->free[c] = b->next;
		p->idle -= b->cap;
		*out = b;
		return 0;
	}
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->cls = c;
	b->cap = (size_t)1 << (MIN_SHIFT + c);
	b->data = aligned_alloc(4096, b->cap);
	if (!b->data) {
		free(b);
		return -ENOMEM;
	}
	/* Local access only: these buffers are the server's side of bulk
	 * transfers and are never granted to a peer. */
	int rc = em_mr_reg(b->data, b->cap, p->access, &b->mr);
	if (rc) {
		free(b->data);
		free(b);
		return rc;
	}
	*out = b;
	return 0;
}

void em_cs_buf_put(struct em_cs_bufpool *p, struct em_cs_buf *b)
{
	if (p->idle + b->cap > p->max_idle) {
		buf_free(b);
		return;
	}
	b->next = p->free[b->cls];
	p->free[b->cls] = b;
	p->idle += b->cap;
}
