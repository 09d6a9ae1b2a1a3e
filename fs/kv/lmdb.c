/* LMDB backend: the embedded default for a single node.
 *
 * LMDB admits one write transaction at a time (a process-shared mutex), so
 * write transactions are serializable by construction and never conflict;
 * read-only transactions see a snapshot and never block. MDB_NOTLS lets a
 * read transaction be used by whichever thread em_kv_run() runs on, and
 * reader slots are not pinned to threads that may come and go.
 */
#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fs/kv/backend.h"
#include "net/core/log.h"

#define DEFAULT_MAP_SIZE (16ull << 30)

struct lmdb_store {
	MDB_env *env;
	MDB_dbi dbi;
};

static struct lmdb_store *store(struct em_kv_txn *txn)
{
	return txn->kv->impl;
}

/* LMDB's own codes are positive and outside errno's range. */
static int map_err(int rc)
{
	switch (rc) {
	case 0:
		return 0;
	case MDB_NOTFOUND:
		return -ENOENT;
	case MDB_MAP_FULL:
		return -ENOSPC;
	case MDB_BAD_VALSIZE:
		return -EINVAL;
	case MDB_READERS_FULL:
	case MDB_TXN_FULL:
	case MDB_CURSOR_FULL:
		return -EBUSY;
	default:
		if (rc > 0 && rc < 4096)
			return -rc;
		EM_ERR("kv", "lmdb: %s", mdb_strerror(rc));
		return -EIO;
	}
}

static int lmdb_begin(struct em_kv_txn *txn)
{
	MDB_txn *t;
	int rc = mdb_txn_begin(store(txn)->env, NULL, txn->rdonly ? MDB_RDONLY : 0, &t);
	if (rc)
		return map_err(rc);
	txn->impl = t;
	return 0;
}

static int lmdb_commit(struct em_kv_txn *txn)
{
	int rc = mdb_txn_commit(txn->impl);
	txn->impl = NULL;
	return map_err(rc);
}

static void lmdb_abort(struct em_kv_txn *txn)
{
	mdb_txn_abort(txn->impl);
	txn->impl = NULL;
}

static int lmdb_get(struct em_kv_txn *txn, const void *key, size_t klen,
		    const void **val, size_t *vlen)
{
	MDB_val k = { klen, (void *)key }, v;
	int rc = mdb_get(txn->impl, store(txn)->dbi, &k, &v);
	if (rc)
		return map_err(rc);
	/* Copy: LMDB's pointer dies at the next write to the same page. */
	void *copy = em_kv_txn_alloc(txn, v.mv_size + 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, v.mv_data, v.mv_size);
	*val = copy;
	*vlen = v.mv_size;
	return 0;
}

static int lmdb_set(struct em_kv_txn *txn, const void *key, size_t klen,
		    const void *val, size_t vlen)
{
	MDB_val k = { klen, (void *)key }, v = { vlen, (void *)val };
	return map_err(mdb_put(txn->impl, store(txn)->dbi, &k, &v, 0));
}

static int lmdb_clear(struct em_kv_txn *txn, const void *key, size_t klen)
{
	MDB_val k = { klen, (void *)key };
	int rc = map_err(mdb_del(txn->impl, store(txn)->dbi, &k, NULL));
	return rc == -ENOENT ? 0 : rc;
}

static int keycmp(const MDB_val *a, const void *b, size_t blen)
{
	size_t n = a->mv_size < blen ? a->mv_size : blen;
	int c = memcmp(a->mv_data, b, n);
	if (c)
		return c;
	return a->mv_size < blen ? -1 : a->mv_size > blen;
}

/* Positions the cursor at the last key < end (or the last key at all when
 * end is NULL). */
static int seek_last_below(MDB_cursor *c, const void *end, size_t elen, MDB_val *k, MDB_val *v)
{
	if (!end)
		return mdb_cursor_get(c, k, v, MDB_LAST);
	k->mv_size = elen;
	k->mv_data = (void *)end;
	int rc = mdb_cursor_get(c, k, v, MDB_SET_RANGE);
	if (rc == MDB_NOTFOUND)
		return mdb_cursor_get(c, k, v, MDB_LAST);
	if (rc)
		return rc;
	return mdb_cursor_get(c, k, v, MDB_PREV);
}

static int lmdb_range(struct em_kv_txn *txn, const void *begin, size_t blen,
		      const void *end, size_t elen, size_t limit, bool reverse,
		      struct em_kv_pair **pairs, size_t *n)
{
	struct em_kv_pairs_builder b = { 0 };
	MDB_cursor *c;
	MDB_val k, v;
	int rc = mdb_cursor_open(txn->impl, store(txn)->dbi, &c);
	if (rc)
		return map_err(rc);

	if (reverse) {
		rc = seek_last_below(c, end, elen, &k, &v);
	} else {
		k.mv_size = blen;
		k.mv_data = (void *)begin;
		/* LMDB rejects a zero-length key; an empty begin means "first". */
		rc = mdb_cursor_get(c, &k, &v, blen ? MDB_SET_RANGE : MDB_FIRST);
	}
	int pushed = 0;   /* kept apart: LMDB's own codes are negative too */
	while (rc == 0 && (!limit || b.n < limit)) {
		if (reverse ? keycmp(&k, begin, blen) < 0 : end && keycmp(&k, end, elen) >= 0)
			break;
		pushed = em_kv_pairs_push(txn, &b, k.mv_data, k.mv_size, v.mv_data, v.mv_size);
		if (pushed < 0)
			break;
		rc = mdb_cursor_get(c, &k, &v, reverse ? MDB_PREV : MDB_NEXT);
	}
	mdb_cursor_close(c);
	if (pushed < 0)
		return pushed;
	if (rc && rc != MDB_NOTFOUND)
		return map_err(rc);
	*pairs = b.v;
	*n = b.n;
	return 0;
}

static int lmdb_clear_range(struct em_kv_txn *txn, const void *begin, size_t blen,
			    const void *end, size_t elen)
{
	MDB_cursor *c;
	MDB_val k, v;
	int rc = mdb_cursor_open(txn->impl, store(txn)->dbi, &c);
	if (rc)
		return map_err(rc);
	k.mv_size = blen;
	k.mv_data = (void *)begin;
	rc = mdb_cursor_get(c, &k, &v, blen ? MDB_SET_RANGE : MDB_FIRST);
	while (rc == 0) {
		if (end && keycmp(&k, end, elen) >= 0)
			break;
		rc = mdb_cursor_del(c, 0);
		if (rc)
			break;
		/* Seek again rather than trust the cursor position after a
		 * delete, which LMDB leaves subtle at page boundaries. */
		k.mv_size = blen;
		k.mv_data = (void *)begin;
		rc = mdb_cursor_get(c, &k, &v, blen ? MDB_SET_RANGE : MDB_FIRST);
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : map_err(rc);
}

static void lmdb_close(struct em_kv *kv)
{
	struct lmdb_store *s = kv->impl;
	mdb_dbi_close(s->env, s->dbi);
	mdb_env_close(s->env);
	free(s);
}

static const struct em_kv_backend_ops lmdb_ops = {
	.name = "lmdb",
	.begin = lmdb_begin,
	.commit = lmdb_commit,
	.abort = lmdb_abort,
	.get = lmdb_get,
	.set = lmdb_set,
	.clear = lmdb_clear,
	.range = lmdb_range,
	.clear_range = lmdb_clear_range,
	.close = lmdb_close,
};

int em_kv_lmdb_open(struct em_kv *kv, const char *path, const struct em_kv_options *opts,
		    char *err, size_t errlen)
{
	struct lmdb_store *s = calloc(1, sizeof(*s));
	MDB_txn *t;
	int rc;

	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (mkdir(path, 0700) < 0 && errno != EEXIST) {
		rc = -errno;
		snprintf(err, errlen, "lmdb %s: cannot create directory: %s", path, strerror(errno));
		free(s);
		return rc;
	}
	rc = mdb_env_create(&s->env);
	if (!rc)
		rc = mdb_env_set_mapsize(s->env, opts->lmdb_map_size ? opts->lmdb_map_size
								       : DEFAULT_MAP_SIZE);
	if (!rc)
		rc = mdb_env_set_maxreaders(s->env, 1024);
	if (!rc)
		rc = mdb_env_open(s->env, path, MDB_NOTLS, 0600);
	if (!rc)
		rc = mdb_txn_begin(s->env, NULL, 0, &t);
	if (!rc) {
		rc = mdb_dbi_open(t, NULL, 0, &s->dbi);
		if (!rc)
			rc = mdb_txn_commit(t);
		else
			mdb_txn_abort(t);
	}
	if (rc) {
		snprintf(err, errlen, "lmdb %s: %s", path, mdb_strerror(rc));
		if (s->env)
			mdb_env_close(s->env);
		free(s);
		return map_err(rc);
	}
	kv->impl = s;
	kv->ops = &lmdb_ops;
	return 0;
}
