/* What a KV backend implements; private to fs/kv.
 *
 * kv.c owns argument checks, the retry loop and the per-attempt arena, so a
 * backend only moves bytes. Backend calls receive validated keys and values.
 * A backend that sees a serialization failure or deadlock marks the
 * transaction with em_kv_txn_conflict() and returns -EAGAIN; em_kv_run() then
 * retries whatever the transaction function returned.
 */
#ifndef EMBER_FS_KV_BACKEND_H
#define EMBER_FS_KV_BACKEND_H

#include <errno.h>

#include "fs/kv/kv.h"

struct em_kv_arena_block;

struct em_kv_backend_ops {
	const char *name;
	int (*begin)(struct em_kv_txn *txn);
	int (*commit)(struct em_kv_txn *txn);
	void (*abort)(struct em_kv_txn *txn);
	int (*get)(struct em_kv_txn *txn, const void *key, size_t klen,
		   const void **val, size_t *vlen);
	int (*set)(struct em_kv_txn *txn, const void *key, size_t klen,
		   const void *val, size_t vlen);
	int (*clear)(struct em_kv_txn *txn, const void *key, size_t klen);
	int (*range)(struct em_kv_txn *txn, const void *begin, size_t blen,
		     const void *end, size_t elen, size_t limit, bool reverse,
		     struct em_kv_pair **pairs, size_t *n);
	int (*clear_range)(struct em_kv_txn *txn, const void *begin, size_t blen,
			   const void *end, size_t elen);
	void (*close)(struct em_kv *kv);
};

struct em_kv {
	const struct em_kv_backend_ops *ops;
	unsigned max_attempts;
	void *impl;
};

struct em_kv_txn {
	struct em_kv *kv;
	bool rdonly;
	bool conflict;
	unsigned attempt;
	struct em_kv_arena_block *arena;
	void *impl;
};

static inline int em_kv_txn_conflict(struct em_kv_txn *txn)
{
	txn->conflict = true;
	return -EAGAIN;
}

/* Growable pair array for range results, in the transaction arena. */
struct em_kv_pairs_builder {
	struct em_kv_pair *v;
	size_t n, cap;
};
int em_kv_pairs_push(struct em_kv_txn *txn, struct em_kv_pairs_builder *b,
		     const void *key, size_t klen, const void *val, size_t vlen);

int em_kv_lmdb_open(struct em_kv *kv, const char *path, const struct em_kv_options *opts,
		    char *err, size_t errlen);
int em_kv_pg_open(struct em_kv *kv, const char *conninfo, const struct em_kv_options *opts,
		  char *err, size_t errlen);

#endif
