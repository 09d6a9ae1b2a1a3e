/* KV conformance: the same checks against every backend.
 *
 *   test_kv_conformance lmdb                 a fresh LMDB store in a temp dir
 *   test_kv_conformance 'postgresql://...'   a PostgreSQL server (the
 *                                            integration suite starts one)
 *
 * Whatever the backend, the semantics callers rely on must be identical:
 * memcmp key order, range bounds and limits in both directions, read-your-
 * writes inside a transaction, aborts leaving nothing behind, read-only
 * enforcement, limits, and serializability under concurrency (no lost
 * update, no write skew).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fs/kv/kv.h"
#include "ember/errors.h"
#include "tap.h"

static char uri[4096];
static char tmpdir[64];
static const struct em_kv_options opts = { .pg_table = "ember_kv_conformance", .pg_pool_size = 16 };

static struct em_kv *open_store(void)
{
	struct em_kv *kv;
	char err[512];
	int rc = em_kv_open(uri, &opts, &kv, err, sizeof(err));
	if (rc < 0) {
		printf("# cannot open %s: %s\n", uri, err);
		return NULL;
	}
	return kv;
}

/* --- small transaction bodies, parameterised through struct op ---------- */

struct op {
	const char *k, *v;
	size_t klen, vlen;
	char out[256];
	size_t outlen;
	int rc;
};

static int do_set(struct em_kv_txn *t, void *a)
{
	struct op *o = a;
	return em_kv_set(t, o->k, o->klen, o->v, o->vlen);
}

static int do_get(struct em_kv_txn *t, void *a)
{
	struct op *o = a;
	const void *v;
	size_t vl;
	int rc = em_kv_get(t, o->k, o->klen, &v, &vl);
	if (rc == 0) {
		o->outlen = vl < sizeof(o->out) ? vl : sizeof(o->out);
		memcpy(o->out, v, o->outlen);
	}
	return rc;
}

static int do_clear(struct em_kv_txn *t, void *a)
{
	struct op *o = a;
	return em_kv_clear(t, o->k, o->klen);
}

static int wipe(struct em_kv_txn *t, void *a)
{
	return em_kv_clear_range(t, NULL, 0, NULL, 0);
}

static int put(struct em_kv *kv, const char *k, const char *v)
{
	struct op o = { .k = k, .klen = strlen(k), .v = v, .vlen = strlen(v) };
	return em_kv_run(kv, 0, do_set, &o);
}

static int get(struct em_kv *kv, const char *k, char *out, size_t outlen)
{
	struct op o = { .k = k, .klen = strlen(k) };
	int rc = em_kv_run(kv, EM_KV_RDONLY, do_get, &o);
	if (rc == 0)
		snprintf(out, outlen, "%.*s", (int)o.outlen, o.out);
	return rc;
}

static void test_basic(struct em_kv *kv)
{
	char buf[64];
	struct op o;

	is_int(get(kv, "missing", buf, sizeof(buf)), -ENOENT, "get of a missing key is ENOENT");
	is_int(put(kv, "alpha", "1"), 0, "set");
	is_int(get(kv, "alpha", buf, sizeof(buf)), 0, "get after set");
	is_str(buf, "1", "value round-trips");
	is_int(put(kv, "alpha", "two"), 0, "overwrite");
	get(kv, "alpha", buf, sizeof(buf));
	is_str(buf, "two", "overwrite replaces the value");

	o = (struct op){ .k = "empty", .klen = 5, .v = NULL, .vlen = 0 };
	is_int(em_kv_run(kv, 0, do_set, &o), 0, "zero-length value");
	is_int(get(kv, "empty", buf, sizeof(buf)), 0, "zero-length value reads back");
	is_str(buf, "", "as empty");

	o = (struct op){ .k = "alpha", .klen = 5 };
	is_int(em_kv_run(kv, 0, do_clear, &o), 0, "clear");
	is_int(get(kv, "alpha", buf, sizeof(buf)), -ENOENT, "cleared key is gone");
	is_int(em_kv_run(kv, 0, do_clear, &o), 0, "clearing a missing key succeeds");

	/* Binary keys and values with NUL and 0xff bytes. */
	static const char bk[] = { 0, 'x', (char)0xff, 0 };
	static const char bv[] = { (char)0xff, 0, 1 };
	o = (struct op){ .k = bk, .klen = sizeof(bk), .v = bv, .vlen = sizeof(bv) };
	is_int(em_kv_run(kv, 0, do_set, &o), 0, "binary key and value");
	o.outlen = 0;
	is_int(em_kv_run(kv, EM_KV_RDONLY, do_get, &o), 0, "binary key reads");
	ok(o.outlen == sizeof(bv) && memcmp(o.out, bv, sizeof(bv)) == 0, "binary value intact");
	em_kv_run(kv, 0, do_clear, &o);
	o = (struct op){ .k = "empty", .klen = 5 };
	em_kv_run(kv, 0, do_clear, &o);
}

static void test_limits(struct em_kv *kv)
{
	static char big_key[EM_KV_KEY_MAX + 1], max_key[EM_KV_KEY_MAX];
	struct op o;

	memset(big_key, 'k', sizeof(big_key));
	memset(max_key, 'k', sizeof(max_key));
	o = (struct op){ .k = max_key, .klen = sizeof(max_key), .v = "v", .vlen = 1 };
	is_int(em_kv_run(kv, 0, do_set, &o), 0, "key of EM_KV_KEY_MAX bytes");
	em_kv_run(kv, 0, do_clear, &o);
	o = (struct op){ .k = big_key, .klen = sizeof(big_key), .v = "v", .vlen = 1 };
	is_int(em_kv_run(kv, 0, do_set, &o), -EINVAL, "longer key is EINVAL");
	o = (struct op){ .k = "", .klen = 0, .v = "v", .vlen = 1 };
	is_int(em_kv_run(kv, 0, do_set, &o), -EINVAL, "empty key is EINVAL");

	char *big = calloc(1, EM_KV_VALUE_MAX + 1);
	o = (struct op){ .k = "big", .klen = 3, .v = big, .vlen = EM_KV_VALUE_MAX + 1 };
	is_int(em_kv_run(kv, 0, do_set, &o), -E2BIG, "oversized value is E2BIG");
	o.vlen = EM_KV_VALUE_MAX;
	is_int(em_kv_run(kv, 0, do_set, &o), 0, "value of EM_KV_VALUE_MAX bytes");
	em_kv_run(kv, 0, do_clear, &o);
	free(big);
}

/* --- ranges --------------------------------------------------------------- */

struct rq {
	const char *b, *e;
	size_t blen, elen, limit;
	bool reverse;
	char got[512];
	size_t n;
};

/* Collects keys joined by ',' so one string comparison checks order too. */
static int do_range(struct em_kv_txn *t, void *a)
{
	struct rq *q = a;
	struct em_kv_pair *p;
	size_t n, off = 0;
	int rc = em_kv_range(t, q->b, q->blen, q->e, q->elen, q->limit, q->reverse, &p, &n);
	if (rc < 0)
		return rc;
	q->got[0] = 0;
	for (size_t i = 0; i < n; i++)
		off += (size_t)snprintf(q->got + off, sizeof(q->got) - off, "%s%.*s", i ? "," : "",
					(int)p[i].klen, (const char *)p[i].key);
	q->n = n;
	return 0;
}

static const char *range(struct em_kv *kv, struct rq *q)
{
	q->blen = q->b ? strlen(q->b) : 0;
	q->elen = q->e ? strlen(q->e) : 0;
	int rc = em_kv_run(kv, EM_KV_RDONLY, do_range, q);
	if (rc < 0)
		snprintf(q->got, sizeof(q->got), "error %s", em_errname(rc));
	return q->got;
}

static void test_ranges(struct em_kv *kv)
{
	/* "a" < "aa" < "ab" < "b" < "ba" < "c": memcmp with the shorter key
	 * first on a common prefix. */
	const char *keys[] = { "c", "ab", "a", "ba", "aa", "b" };
	for (size_t i = 0; i < 6; i++)
		put(kv, keys[i], "v");

	is_str(range(kv, &(struct rq){ .b = "a", .e = "d" }), "a,aa,ab,b,ba,c", "forward, full");
	is_str(range(kv, &(struct rq){ .b = "a", .e = "d", .reverse = true }), "c,ba,b,ab,aa,a",
	       "reverse, full");
	is_str(range(kv, &(struct rq){ .b = "aa", .e = "b" }), "aa,ab", "begin inclusive, end exclusive");
	is_str(range(kv, &(struct rq){ .b = "aa", .e = "b", .reverse = true }), "ab,aa",
	       "reverse honours the same bounds");
	is_str(range(kv, &(struct rq){ .b = "a", .e = "d", .limit = 2 }), "a,aa", "forward limit");
	is_str(range(kv, &(struct rq){ .b = "a", .e = "d", .limit = 2, .reverse = true }), "c,ba",
	       "reverse limit takes from the end");
	is_str(range(kv, &(struct rq){ .b = "a", .e = "b", .limit = 100 }), "a,aa,ab",
	       "limit larger than the range");
	is_str(range(kv, &(struct rq){ .b = "ab0", .e = "b" }), "", "empty range");
	is_str(range(kv, &(struct rq){ .b = "b" }), "b,ba,c", "no end bound");
	is_str(range(kv, &(struct rq){ .b = "b", .reverse = true, .limit = 1 }), "c",
	       "no end bound, reverse");
	is_str(range(kv, &(struct rq){ .e = "aa" }), "a", "empty begin starts at the first key");
	is_str(range(kv, &(struct rq){ .b = "bb", .e = "bz", .reverse = true }), "",
	       "reverse over an empty range");
	is_str(range(kv, &(struct rq){ .b = "0", .e = "a0", .reverse = true }), "a",
	       "reverse when end falls between keys");

	char pe[8];
	size_t pl = em_kv_prefix_end("a", 1, pe);
	ok(pl == 1 && pe[0] == 'b', "prefix_end increments the last byte");
	is_int(em_kv_prefix_end("a\xff\xff", 3, pe), 1, "prefix_end drops trailing 0xff");
	is_int(em_kv_prefix_end("\xff", 1, pe), 0, "all-0xff prefix has no bound");
	struct rq q = { .b = "a", .e = pe };
	pl = em_kv_prefix_end("a", 1, pe);
	q.blen = 1, q.elen = pl;
	em_kv_run(kv, EM_KV_RDONLY, do_range, &q);
	is_str(q.got, "a,aa,ab", "prefix scan with prefix_end");
}

struct cr {
	const char *b, *e;
};

static int do_clear_range(struct em_kv_txn *t, void *a)
{
	struct cr *c = a;
	return em_kv_clear_range(t, c->b, strlen(c->b), c->e, c->e ? strlen(c->e) : 0);
}

static void test_clear_range(struct em_kv *kv)
{
	is_int(em_kv_run(kv, 0, do_clear_range, &(struct cr){ "aa", "b" }), 0, "clear_range");
	is_str(range(kv, &(struct rq){ .b = "a", .e = "d" }), "a,b,ba,c", "cleared [aa, b) only");
	is_int(em_kv_run(kv, 0, do_clear_range, &(struct cr){ "b", NULL }), 0,
	       "clear_range without end");
	is_str(range(kv, &(struct rq){ .b = "a", .e = "d" }), "a", "cleared everything from b");
	em_kv_run(kv, 0, wipe, NULL);
}

/* --- transaction semantics ----------------------------------------------- */

static int ryw_body(struct em_kv_txn *t, void *a)
{
	struct rq *q = a;
	const void *v;
	size_t vl;
	int rc;

	if ((rc = em_kv_set(t, "t1", 2, "x", 1)) < 0 || (rc = em_kv_set(t, "t2", 2, "y", 1)) < 0 ||
	    (rc = em_kv_clear(t, "t0", 2)) < 0)
		return rc;
	rc = em_kv_get(t, "t1", 2, &v, &vl);
	if (rc < 0 || vl != 1 || memcmp(v, "x", 1) != 0)
		return -EPROTO;
	/* Earlier value pointers survive later writes. */
	if ((rc = em_kv_set(t, "t1", 2, "z", 1)) < 0 || memcmp(v, "x", 1) != 0)
		return -EPROTO;
	if (em_kv_get(t, "t0", 2, &v, &vl) != -ENOENT)
		return -EPROTO;
	q->b = "t", q->blen = 1, q->e = "u", q->elen = 1;
	return do_range(t, q);
}

static int fail_body(struct em_kv_txn *t, void *a)
{
	int rc = em_kv_set(t, "t9", 2, "lost", 4);
	return rc < 0 ? rc : -EIO;
}

static int ro_body(struct em_kv_txn *t, void *a)
{
	int *rcs = a;
	rcs[0] = em_kv_set(t, "ro", 2, "x", 1);
	rcs[1] = em_kv_clear(t, "ro", 2);
	rcs[2] = em_kv_clear_range(t, "a", 1, "b", 1);
	return 0;
}

static void test_txn(struct em_kv *kv)
{
	char buf[16];
	struct rq q = { 0 };
	int rcs[3];

	put(kv, "t0", "old");
	is_int(em_kv_run(kv, 0, ryw_body, &q), 0, "read-your-writes transaction commits");
	is_str(q.got, "t1,t2", "range sees the transaction's own sets and clears");
	get(kv, "t1", buf, sizeof(buf));
	is_str(buf, "z", "last write in a transaction wins");

	is_int(em_kv_run(kv, 0, fail_body, NULL), -EIO, "a failing transaction returns its error");
	is_int(get(kv, "t9", buf, sizeof(buf)), -ENOENT, "and leaves nothing behind");

	is_int(em_kv_run(kv, EM_KV_RDONLY, ro_body, rcs), 0, "read-only transaction runs");
	is_int(rcs[0], -EROFS, "set in a read-only transaction is EROFS");
	is_int(rcs[1], -EROFS, "clear in a read-only transaction is EROFS");
	is_int(rcs[2], -EROFS, "clear_range in a read-only transaction is EROFS");
	em_kv_run(kv, 0, wipe, NULL);
}

/* --- concurrency ------------------------------------------------------------ */

#define THREADS 8
#define INCREMENTS 60
#define COUNTERS 2

struct worker {
	struct em_kv *kv;
	int id, rc;
	unsigned max_attempt;
};

struct incr {
	const char *key;
	unsigned attempts;
};

static int incr_body(struct em_kv_txn *t, void *a)
{
	struct incr *in = a;
	const void *v;
	size_t vl;
	long n = 0;
	char buf[32];

	in->attempts = em_kv_txn_attempt(t);
	int rc = em_kv_get(t, in->key, strlen(in->key), &v, &vl);
	if (rc == 0) {
		snprintf(buf, sizeof(buf), "%.*s", (int)vl, (const char *)v);
		n = strtol(buf, NULL, 10);
	} else if (rc != -ENOENT) {
		return rc;
	}
	snprintf(buf, sizeof(buf), "%ld", n + 1);
	return em_kv_set(t, in->key, strlen(in->key), buf, strlen(buf));
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	char key[16];
	for (int i = 0; i < INCREMENTS && w->rc == 0; i++) {
		snprintf(key, sizeof(key), "ctr%d", (w->id + i) % COUNTERS);
		struct incr in = { key, 0 };
		w->rc = em_kv_run(w->kv, 0, incr_body, &in);
		if (in.attempts > w->max_attempt)
			w->max_attempt = in.attempts;
	}
	return NULL;
}

static void test_no_lost_update(struct em_kv *kv)
{
	pthread_t th[THREADS];
	struct worker w[THREADS];
	unsigned max_attempt = 0;
	int failed = 0;
	long total = 0;

	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){ .kv = kv, .id = i };
		pthread_create(&th[i], NULL, worker_main, &w[i]);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		failed += w[i].rc != 0;
		if (w[i].max_attempt > max_attempt)
			max_attempt = w[i].max_attempt;
	}
	is_int(failed, 0, "every concurrent increment transaction committed");
	for (int c = 0; c < COUNTERS; c++) {
		char key[16], buf[32];
		snprintf(key, sizeof(key), "ctr%d", c);
		if (get(kv, key, buf, sizeof(buf)) == 0)
			total += strtol(buf, NULL, 10);
	}
	is_int(total, THREADS * INCREMENTS, "no lost update across concurrent transactions");
	printf("# %s: most attempts for one increment: %u\n", em_kv_backend_name(kv), max_attempt);
	em_kv_run(kv, 0, wipe, NULL);
}

/* Write skew: x = y = 1 and the rule x + y >= 1. Each transaction reads both
 * and, seeing 2, zeroes its own. Snapshot isolation lets both commit (0 + 0);
 * serializable must not. Both first attempts read before either writes, when
 * the backend lets them (LMDB's single writer lock makes the second wait, so
 * the rendezvous times out there, which is fine: it is serial anyway). */
struct skew {
	struct em_kv *kv;
	const char *mine;
	pthread_mutex_t *mu;
	pthread_cond_t *cv;
	int *arrived;
	int rc;
};

static int skew_body(struct em_kv_txn *t, void *a)
{
	struct skew *s = a;
	const void *v;
	size_t vl;
	int sum = 0, rc;

	for (const char *k = "x"; k; k = (*k == 'x' ? "y" : NULL)) {
		rc = em_kv_get(t, k, 1, &v, &vl);
		if (rc < 0)
			return rc;
		sum += vl == 1 && *(const char *)v == '1';
	}
	if (em_kv_txn_attempt(t) == 1) {
		struct timespec dl;
		clock_gettime(CLOCK_REALTIME, &dl);
		dl.tv_nsec += 300 * 1000000L;
		if (dl.tv_nsec >= 1000000000L)
			dl.tv_sec++, dl.tv_nsec -= 1000000000L;
		pthread_mutex_lock(s->mu);
		++*s->arrived;
		pthread_cond_broadcast(s->cv);
		while (*s->arrived < 2 && pthread_cond_timedwait(s->cv, s->mu, &dl) == 0)
			;
		pthread_mutex_unlock(s->mu);
	}
	if (sum == 2)
		return em_kv_set(t, s->mine, 1, "0", 1);
	return 0;
}

static void *skew_main(void *arg)
{
	struct skew *s = arg;
	s->rc = em_kv_run(s->kv, 0, skew_body, s);
	return NULL;
}

static void test_write_skew(struct em_kv *kv)
{
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
	int arrived = 0;
	struct skew s[2] = {
		{ kv, "x", &mu, &cv, &arrived, 0 },
		{ kv, "y", &mu, &cv, &arrived, 0 },
	};
	pthread_t th[2];
	char x[8], y[8];

	put(kv, "x", "1");
	put(kv, "y", "1");
	for (int i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, skew_main, &s[i]);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	ok(s[0].rc == 0 && s[1].rc == 0, "both write-skew transactions finish");
	get(kv, "x", x, sizeof(x));
	get(kv, "y", y, sizeof(y));
	ok((x[0] == '0') + (y[0] == '0') == 1, "serializable: exactly one of x, y was zeroed");
	em_kv_run(kv, 0, wipe, NULL);
}

/* --- lifecycle and errors ------------------------------------------------- */

static void test_reopen(struct em_kv **kv)
{
	char buf[16];
	put(*kv, "durable", "yes");
	em_kv_close(*kv);
	*kv = open_store();
	ok(*kv != NULL, "store reopens");
	if (!*kv)
		return;
	is_int(get(*kv, "durable", buf, sizeof(buf)), 0, "committed data survives close and reopen");
	is_str(buf, "yes", "with its value");
	em_kv_run(*kv, 0, wipe, NULL);
}

static void test_open_errors(void)
{
	struct em_kv *kv;
	char err[512];

	is_int(em_kv_open("bogus:x", NULL, &kv, err, sizeof(err)), -EINVAL, "unknown scheme");
	ok(kv == NULL, "no store on failure");
	/* Port 1 on loopback: nothing listens, the refusal is immediate. */
	is_int(em_kv_open("postgresql://127.0.0.1:1/ember", NULL, &kv, err, sizeof(err)),
	       -ECONNREFUSED, "unreachable PostgreSQL is ECONNREFUSED");
	ok(strstr(err, "127.0.0.1:1") != NULL, "error names host and port");
	ok(strstr(err, "refused") != NULL, "error carries libpq's reason");
	printf("# %s\n", err);
	struct em_kv_options bad = { .pg_table = "x; DROP TABLE y" };
	is_int(em_kv_open("pg:host=127.0.0.1 port=1", &bad, &kv, err, sizeof(err)), -EINVAL,
	       "table names are validated before use in SQL");
	is_int(em_kv_open("lmdb:/proc/nonexistent/dir", NULL, &kv, err, sizeof(err)), -ENOENT,
	       "LMDB in an impossible directory fails");
	ok(strstr(err, "/proc/nonexistent/dir") != NULL, "and names it");
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s lmdb | postgresql://...\n", argv[0]);
		return 2;
	}
	if (strcmp(argv[1], "lmdb") == 0) {
		snprintf(tmpdir, sizeof(tmpdir), "/tmp/ember-kv-XXXXXX");
		if (!mkdtemp(tmpdir)) {
			perror("mkdtemp");
			return 1;
		}
		snprintf(uri, sizeof(uri), "lmdb:%s/db", tmpdir);
	} else {
		snprintf(uri, sizeof(uri), "%s", argv[1]);
	}

	struct em_kv *kv = open_store();
	ok(kv != NULL, "store opens");
	if (kv) {
		printf("# backend %s\n", em_kv_backend_name(kv));
		em_kv_run(kv, 0, wipe, NULL);
		test_basic(kv);
		test_limits(kv);
		test_ranges(kv);
		test_clear_range(kv);
		test_txn(kv);
		test_no_lost_update(kv);
		test_write_skew(kv);
		test_reopen(&kv);
		em_kv_close(kv);
	}
	test_open_errors();

	if (tmpdir[0]) {
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			printf("# could not remove %s\n", tmpdir);
	}
	return tap_done();
}
