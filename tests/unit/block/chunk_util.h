/* Synchronous wrappers over the asynchronous chunk engine for tests: submit,
 * then run the reactor until the callback fired. */
#ifndef EMBER_TESTS_BLOCK_CHUNK_UTIL_H
#define EMBER_TESTS_BLOCK_CHUNK_UTIL_H

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "block/chunk/engine.h"
#include "net/core/reactor.h"

struct cu_res {
	bool done;
	int status;
	bool has_meta;
	struct em_chunk_meta meta;
};

static struct em_reactor *cu_reactor;

static void cu_cb(void *arg, int status, const struct em_chunk_meta *m)
{
	struct cu_res *r = arg;
	r->done = true;
	r->status = status;
	r->has_meta = m != NULL;
	if (m)
		r->meta = *m;
}

static void cu_read_cb(void *arg, int status)
{
	struct cu_res *r = arg;
	r->done = true;
	r->status = status;
}

static inline int cu_wait(struct cu_res *r, int rc)
{
	if (rc < 0)
		return rc;
	while (!r->done)
		em_reactor_run_once(cu_reactor, 100);
	return r->status;
}

static inline struct em_chunk_id cu_id(uint64_t n)
{
	struct em_chunk_id id = { { 0 } };
	for (int i = 0; i < 8; i++)
		id.b[8 + i] = (uint8_t)(n >> (56 - 8 * i)); /* big-endian: lists in order */
	return id;
}

static inline int cu_update(struct em_engine *e, uint64_t n, uint32_t off, uint32_t len,
			    const void *data, uint32_t ver, uint32_t flags, struct em_chunk_meta *out)
{
	struct cu_res r = { 0 };
	struct em_chunk_update u = { .id = cu_id(n), .offset = off, .len = len, .data = data,
				     .update_ver = ver, .chain_ver = 1, .flags = flags };
	int rc = cu_wait(&r, em_chunk_update(e, &u, cu_cb, &r));
	if (rc == 0 && out)
		*out = r.meta;
	return rc;
}

static inline int cu_commit(struct em_engine *e, uint64_t n, uint32_t ver)
{
	struct cu_res r = { 0 };
	struct em_chunk_id id = cu_id(n);
	return cu_wait(&r, em_chunk_commit(e, &id, ver, cu_cb, &r));
}

static inline int cu_truncate(struct em_engine *e, uint64_t n, uint32_t len, uint32_t ver)
{
	struct cu_res r = { 0 };
	struct em_chunk_id id = cu_id(n);
	return cu_wait(&r, em_chunk_truncate(e, &id, len, ver, 1, EM_CHUNK_COMMIT, cu_cb, &r));
}

static inline int cu_remove(struct em_engine *e, uint64_t n)
{
	struct cu_res r = { 0 };
	struct em_chunk_id id = cu_id(n);
	return cu_wait(&r, em_chunk_remove(e, &id, cu_cb, &r));
}

static inline int cu_read(struct em_engine *e, uint64_t n, uint32_t off, uint32_t len, void *buf,
			  uint32_t flags)
{
	struct cu_res r = { 0 };
	struct em_chunk_id id = cu_id(n);
	return cu_wait(&r, em_chunk_read(e, &id, off, len, buf, flags, cu_read_cb, &r));
}

/* Deterministic bytes for (seed, index). */
static inline void cu_fill(uint8_t *p, size_t n, uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (uint8_t)x;
	}
}

#endif
