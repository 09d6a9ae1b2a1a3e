/* Backend-independent half of the KV store: URI dispatch, argument checks,
 * the per-attempt arena and the conflict retry loop. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fs/kv/backend.h"
#include "net/core/log.h"

#define ARENA_BLOCK (16u * 1024)
#define BACKOFF_MIN_US 100u
#define BACKOFF_MAX_US 20000u

struct em_kv_arena_block {
	struct em_kv_arena_block *next;
	size_t used, cap;
	max_align_t data[];
};

void *em_kv_txn_alloc(struct em_kv_txn *txn, size_t len)
{
	struct em_kv_arena_block *b = txn->arena;
	size_t need = (len + 15) & ~(size_t)15;

	if (!b || b->cap - b->used < need) {
		size_t cap = need > ARENA_BLOCK ? need : ARENA_BLOCK;
		b = malloc(sizeof(*b) + cap);
		if (!b)
			return NULL;
		b->next = txn->arena;
		b->used = 0;
		b->cap = cap;
		txn->arena = b;
	}
	void *p = (char *)b->data + b->used;
	b->used += need;
	return p;
}

static void arena_free(struct em_kv_txn *txn)
{
	while (txn->arena) {
		struct em_kv_arena_block *next = txn->arena->next;
		free(txn->arena);
		txn->arena = next;
	}
}

int em_kv_pairs_push(struct em_kv_txn *txn, struct em_kv_pairs_builder *b,
		     const void *key, size_t klen, const void *val, size_t vlen)
{
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 16;
		struct em_kv_pair *v = em_kv_txn_alloc(txn, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		if (b->n)
			memcpy(v, b->v, b->n * sizeof(*v));
		b->v = v;
		b->cap = cap;
	}
	/* One allocation for both; +1 keeps a zero-length value non-NULL. */
	char *mem = em_kv_txn_alloc(txn, klen + vlen + 1);
	if (!mem)
		return -ENOMEM;
	memcpy(mem, key, klen);
	if (vlen)
		memcpy(mem + klen, val, vlen);
	b->v[b->n++] = (struct em_kv_pair){ mem, mem + klen, klen, vlen };
	return 0;
}

int em_kv_open(const char *uri, const struct em_kv_options *opts, struct em_kv **out,
	       char *err, size_t errlen)
{
	static const struct em_kv_options defaults;
	struct em_kv *kv;
	int rc;

	*out = NULL;
	if (!opts)
		opts = &defaults;
	kv = calloc(1, sizeof(*kv));
	if (!kv) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	kv->max_attempts = opts->max_attempts ? opts->max_attempts : 1000;

	if (strncmp(uri, "lmdb:", 5) == 0) {
		rc = em_kv_lmdb_open(kv, uri + 5, opts, err, errlen);
	} else if (strncmp(uri, "pg:", 3) == 0) {
		rc = em_kv_pg_open(kv, uri + 3, opts, err, errlen);
	} else if (strncmp(uri, "postgresql://", 13) == 0 || strncmp(uri, "postgres://", 11) == 0) {
		rc = em_kv_pg_open(kv, uri, opts, err, errlen);
	} else {
		snprintf(err, errlen, "unknown KV store '%s' (want lmdb:PATH or postgresql://...)", uri);
		rc = -EINVAL;
	}
	if (rc < 0) {
		free(kv);
		return rc;
	}
	*out = kv;
	return 0;
}

void em_kv_close(struct em_kv *kv)
{
	if (!kv)
		return;
	kv->ops->close(kv);
	free(kv);
}

const char *em_kv_backend_name(const struct em_kv *kv)
{
	return kv->ops->name;
}

unsigned em_kv_txn_attempt(const struct em_kv_txn *txn)
{
	return txn->attempt;
}

/* Jittered exponential backoff so that colliding transactions spread out
 * instead of colliding again in lockstep. */
static void backoff(unsigned attempt, unsigned *seed)
{
	unsigned cap = BACKOFF_MIN_US << (attempt < 8 ? attempt : 8);
	if (cap > BACKOFF_MAX_US)
		cap = BACKOFF_MAX_US;
	unsigned us = rand_r(seed) % cap + 1;
	struct timespec ts = { 0, (long)us * 1000 };
	nanosleep(&ts, NULL);
}

int em_kv_run(struct em_kv *kv, unsigned flags, em_kv_fn fn, void *arg)
{
	struct em_kv_txn txn = { .kv = kv, .rdonly = flags & EM_KV_RDONLY };
	unsigned seed = (unsigned)(uintptr_t)&txn ^ (unsigned)time(NULL);
	int rc = -EAGAIN;

	for (txn.attempt = 1; txn.attempt <= kv->max_attempts; txn.attempt++) {
		txn.conflict = false;
		rc = kv->ops->begin(&txn);
		if (rc < 0 && !txn.conflict)
			return rc;
		if (rc == 0) {
			rc = fn(&txn, arg);
			if (rc >= 0 && !txn.conflict) {
				int crc = kv->ops->commit(&txn);
				if (crc < 0)
					rc = crc;
			} else {
				kv->ops->abort(&txn);
			}
		}
		arena_free(&txn);
		if (!txn.conflict)
			return rc;
		backoff(txn.attempt, &seed);
	}
	EM_WARN("kv", "%s: transaction still conflicting after %u attempts",
		kv->ops->name, kv->max_attempts);
	return -EAGAIN;
}

static int check_key(const void *key, size_t klen)
{
	return key && klen > 0 && klen <= EM_KV_KEY_MAX ? 0 : -EINVAL;
}

/* A conflicted attempt is doomed: fail fast so the function unwinds. */
#define CHECK_LIVE(txn)                                                        \
	do {                                                                   \
		if ((txn)->conflict)                                           \
			return -EAGAIN;                                        \
	} while (0)

int em_kv_get(struct em_kv_txn *txn, const void *key, size_t klen,
	      const void **val, size_t *vlen)
{
	CHECK_LIVE(txn);
	int rc = check_key(key, klen);
	return rc < 0 ? rc : txn->kv->ops->get(txn, key, klen, val, vlen);
}

int em_kv_set(struct em_kv_txn *txn, const void *key, size_t klen,
	      const void *val, size_t vlen)
{
	CHECK_LIVE(txn);
	if (txn->rdonly)
		return -EROFS;
	int rc = check_key(key, klen);
	if (rc < 0)
		return rc;
	if (vlen > EM_KV_VALUE_MAX)
		return -E2BIG;
	if (!val && vlen)
		return -EINVAL;
	return txn->kv->ops->set(txn, key, klen, val ? val : "", vlen);
}

int em_kv_clear(struct em_kv_txn *txn, const void *key, size_t klen)
{
	CHECK_LIVE(txn);
	if (txn->rdonly)
		return -EROFS;
	int rc = check_key(key, klen);
	return rc < 0 ? rc : txn->kv->ops->clear(txn, key, klen);
}

/* Range bounds may be empty (begin: from the first key) but not oversized. */
static int check_bounds(const void *begin, size_t blen, const void *end, size_t elen)
{
	if (blen > EM_KV_KEY_MAX || (blen && !begin) || (end && elen > EM_KV_KEY_MAX))
		return -EINVAL;
	return 0;
}

int em_kv_range(struct em_kv_txn *txn, const void *begin, size_t blen,
		const void *end, size_t elen, size_t limit, bool reverse,
		struct em_kv_pair **pairs, size_t *n)
{
	CHECK_LIVE(txn);
	*pairs = NULL;
	*n = 0;
	int rc = check_bounds(begin, blen, end, elen);
	if (rc < 0)
		return rc;
	return txn->kv->ops->range(txn, begin ? begin : "", blen, end, elen, limit, reverse,
				   pairs, n);
}

int em_kv_clear_range(struct em_kv_txn *txn, const void *begin, size_t blen,
		      const void *end, size_t elen)
{
	CHECK_LIVE(txn);
	if (txn->rdonly)
		return -EROFS;
	int rc = check_bounds(begin, blen, end, elen);
	if (rc < 0)
		return rc;
	return txn->kv->ops->clear_range(txn, begin ? begin : "", blen, end, elen);
}

size_t em_kv_prefix_end(const void *prefix, size_t plen, void *out)
{
	const unsigned char *p = prefix;
	unsigned char *o = out;

	while (plen > 0 && p[plen - 1] == 0xff)
		plen--;
	if (plen == 0)
		return 0;
	memcpy(o, p, plen);
	o[plen - 1]++;
	return plen;
}
