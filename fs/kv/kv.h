/* Transactional ordered key-value store.
 *
 * The model 3FS gets from FoundationDB: byte-string keys in memcmp order
 * (a shorter key sorts before any longer key it prefixes), values of bytes,
 * and serializable transactions. Work is written as a function that runs
 * inside a transaction; em_kv_run() begins the transaction, calls it, commits,
 * and calls it again from scratch when the store reports a conflict, with
 * bounded, jittered exponential backoff. A transaction function must
 * therefore have no side effects outside the transaction other than writing
 * its result into its argument (overwritten by the last, successful attempt),
 * and must not call em_kv_run() itself (on LMDB a nested writer would wait
 * for its own lock).
 *
 * Backends, picked by the URI given to em_kv_open():
 *   "lmdb:/path/to/dir"   LMDB, embedded, one node. One writer at a time, so
 *                         write transactions are serializable by construction
 *                         and never conflict; readers never block.
 *   "postgresql://..." or "postgres://..." or "pg:<libpq conninfo>"
 *                         PostgreSQL through libpq: one table (k bytea primary
 *                         key, v bytea), SERIALIZABLE isolation, conflicts
 *                         (SQLSTATE 40001, 40P01) retried, a connection pool.
 *
 * Values returned by reads live in memory owned by the transaction attempt and
 * stay valid until the transaction function returns, even across later writes
 * in the same transaction; copy anything needed afterwards into the argument.
 *
 * Errors are negative errno values: -ENOENT (no such key), -EROFS (write in a
 * read-only transaction), -EINVAL (key empty or longer than EM_KV_KEY_MAX),
 * -E2BIG (value longer than EM_KV_VALUE_MAX), -ENOSPC (LMDB map full),
 * -EAGAIN (still conflicting after the retry budget), -ECONNREFUSED /
 * -ECONNRESET / -EIO (store unreachable or failed; details are logged).
 */
#ifndef EMBER_FS_KV_KV_H
#define EMBER_FS_KV_KV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* LMDB's compile-time key limit, imposed on every backend so data can move
 * between them. */
#define EM_KV_KEY_MAX 511
#define EM_KV_VALUE_MAX (1u << 20)

struct em_kv;
struct em_kv_txn;

struct em_kv_options {
	size_t lmdb_map_size;      /* bytes of address space; 0: 16 GiB */
	unsigned pg_pool_size;     /* connections; 0: 8 */
	const char *pg_table;      /* [a-z0-9_]+; NULL: "ember_kv" */
	unsigned max_attempts;     /* per em_kv_run(); 0: 1000 */
};

/* Opens (creating when missing: the LMDB directory, the PostgreSQL table) the
 * store named by uri. opts may be NULL for defaults. On failure returns a
 * negative errno, *out is NULL and err holds one line naming the store and the
 * reason, such as "postgresql 127.0.0.1:5432: connection refused ...". */
int em_kv_open(const char *uri, const struct em_kv_options *opts, struct em_kv **out,
	       char *err, size_t errlen);
void em_kv_close(struct em_kv *kv);

/* "lmdb" or "postgresql". */
const char *em_kv_backend_name(const struct em_kv *kv);

enum {
	EM_KV_RDONLY = 1u << 0,    /* reads only; cheaper, never conflicts on LMDB */
};

typedef int (*em_kv_fn)(struct em_kv_txn *txn, void *arg);

/* Runs fn in a transaction, retrying on conflict. A negative return from fn
 * aborts the transaction and is returned (unless the transaction hit a
 * conflict, which always retries); 0 or a positive value commits and is
 * returned. */
int em_kv_run(struct em_kv *kv, unsigned flags, em_kv_fn fn, void *arg);

/* Attempts made by the current em_kv_run() so far, starting at 1; lets tests
 * and metrics see retries. */
unsigned em_kv_txn_attempt(const struct em_kv_txn *txn);

int em_kv_get(struct em_kv_txn *txn, const void *key, size_t klen,
	      const void **val, size_t *vlen);
int em_kv_set(struct em_kv_txn *txn, const void *key, size_t klen,
	      const void *val, size_t vlen);
/* Clearing a missing key succeeds. */
int em_kv_clear(struct em_kv_txn *txn, const void *key, size_t klen);

struct em_kv_pair {
	const void *key, *val;
	size_t klen, vlen;
};

/* Keys k with begin <= k < end, in ascending order, or descending with
 * reverse; at most limit pairs (limit 0: no limit). end NULL means no upper
 * bound. On success *pairs (transaction-owned) holds *n pairs. */
int em_kv_range(struct em_kv_txn *txn, const void *begin, size_t blen,
		const void *end, size_t elen, size_t limit, bool reverse,
		struct em_kv_pair **pairs, size_t *n);

/* Clears every key in [begin, end); end NULL means no upper bound. */
int em_kv_clear_range(struct em_kv_txn *txn, const void *begin, size_t blen,
		      const void *end, size_t elen);

/* The smallest key greater than every key starting with prefix: the prefix
 * with its last non-0xff byte incremented and the rest dropped. Writes into
 * out (capacity >= plen) and returns the length, or 0 when the prefix is all
 * 0xff (no bound: pass end NULL). */
size_t em_kv_prefix_end(const void *prefix, size_t plen, void *out);

/* Copies into transaction-owned memory; NULL on allocation failure. Backends
 * and callers use it for results that must outlive a buffer. */
void *em_kv_txn_alloc(struct em_kv_txn *txn, size_t len);

#endif
