/* PostgreSQL backend: the shared store that lets metadata servers be
 * stateless and scale out.
 *
 * One table (k bytea PRIMARY KEY, v bytea); bytea compares bytewise like
 * memcmp, so ORDER BY k gives the same order as LMDB. Every transaction runs
 * at SERIALIZABLE, so PostgreSQL's SSI detects the anomalies FoundationDB
 * would, and both of its "try again" outcomes - serialization failure (40001)
 * and deadlock (40P01) - become em_kv_run() retries. Statements are prepared
 * once per connection and exchange keys and values in binary.
 */
#include <errno.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/kv/backend.h"
#include "net/core/log.h"

#define BYTEA_OID 17
#define INT8_OID 20

struct pg_conn {
	PGconn *c;
	struct pg_conn *next;
	bool broken;   /* lost mid-use; reset before the next transaction */
};

struct pg_store {
	char *conninfo;
	char table[64];
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned size, opened;
	struct pg_conn *idle;
};

static struct pg_store *store_of(struct em_kv_txn *txn)
{
	return txn->kv->impl;
}

static struct pg_conn *conn_of(struct em_kv_txn *txn)
{
	return txn->impl;
}

static void quiet_notice(void *arg, const char *msg)
{
	EM_DEBUG("kv", "postgresql: %s", msg);
}

/* "host:port: reason" in one line, for the operator who has to fix it. */
static void describe_failure(PGconn *c, char *buf, size_t len)
{
	const char *host = PQhost(c), *port = PQport(c);
	char reason[512];

	snprintf(reason, sizeof(reason), "%s", PQerrorMessage(c));
	for (char *p = reason; *p; p++)
		if (*p == '\n' || *p == '\t')
			*p = (p[1] ? ' ' : '\0');
	snprintf(buf, len, "postgresql %s:%s: %s", host && *host ? host : "(default)",
		 port && *port ? port : "5432", reason[0] ? reason : "connection failed");
}

struct stmt {
	const char *name, *head, *tail;   /* SQL is head + table + tail */
	int nparams;
	Oid types[3];
};

/* The table name is validated to [a-z0-9_] before it is spliced in. */
static const struct stmt stmts[] = {
	{ "get", "SELECT v FROM ", " WHERE k = $1", 1, { BYTEA_OID } },
	{ "set", "INSERT INTO ", " (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v",
	  2, { BYTEA_OID, BYTEA_OID } },
	{ "clear", "DELETE FROM ", " WHERE k = $1", 1, { BYTEA_OID } },
	{ "range_fb", "SELECT k, v FROM ", " WHERE k >= $1 AND k < $2 ORDER BY k LIMIT $3",
	  3, { BYTEA_OID, BYTEA_OID, INT8_OID } },
	{ "range_fu", "SELECT k, v FROM ", " WHERE k >= $1 ORDER BY k LIMIT $2",
	  2, { BYTEA_OID, INT8_OID } },
	{ "range_rb", "SELECT k, v FROM ", " WHERE k >= $1 AND k < $2 ORDER BY k DESC LIMIT $3",
	  3, { BYTEA_OID, BYTEA_OID, INT8_OID } },
	{ "range_ru", "SELECT k, v FROM ", " WHERE k >= $1 ORDER BY k DESC LIMIT $2",
	  2, { BYTEA_OID, INT8_OID } },
	{ "clear_rb", "DELETE FROM ", " WHERE k >= $1 AND k < $2", 2, { BYTEA_OID, BYTEA_OID } },
	{ "clear_ru", "DELETE FROM ", " WHERE k >= $1", 1, { BYTEA_OID } },
};

static int prepare_all(struct pg_store *s, PGconn *c, char *err, size_t errlen)
{
	for (size_t i = 0; i < sizeof(stmts) / sizeof(stmts[0]); i++) {
		char sql[256];
		snprintf(sql, sizeof(sql), "%s%s%s", stmts[i].head, s->table, stmts[i].tail);
		PGresult *r = PQprepare(c, stmts[i].name, sql, stmts[i].nparams, stmts[i].types);
		bool good = PQresultStatus(r) == PGRES_COMMAND_OK;
		PQclear(r);
		if (!good) {
			describe_failure(c, err, errlen);
			return -EIO;
		}
	}
	return 0;
}

/* CREATE TABLE IF NOT EXISTS can still fail when two servers race to create
 * it (a unique violation in the catalog); the loser just checks again. */
static int create_table(struct pg_store *s, PGconn *c, char *err, size_t errlen)
{
	char sql[160];
	snprintf(sql, sizeof(sql),
		 "CREATE TABLE IF NOT EXISTS %s (k bytea PRIMARY KEY, v bytea NOT NULL)", s->table);
	for (int attempt = 0; attempt < 3; attempt++) {
		PGresult *r = PQexec(c, sql);
		bool good = PQresultStatus(r) == PGRES_COMMAND_OK;
		PQclear(r);
		if (good)
			return 0;
	}
	describe_failure(c, err, errlen);
	return -EIO;
}

static int connect_one(struct pg_store *s, PGconn **out, bool create, char *err, size_t errlen)
{
	/* Defaults first: the caller's conninfo (expanded from dbname) wins. */
	const char *keys[] = { "connect_timeout", "application_name", "dbname", NULL };
	const char *vals[] = { "10", "ember", s->conninfo, NULL };
	PGconn *c = PQconnectdbParams(keys, vals, 1);

	if (!c) {
		snprintf(err, errlen, "postgresql: out of memory");
		return -ENOMEM;
	}
	if (PQstatus(c) != CONNECTION_OK) {
		describe_failure(c, err, errlen);
		PQfinish(c);
		return -ECONNREFUSED;
	}
	PQsetNoticeProcessor(c, quiet_notice, NULL);
	/* The table must exist before statements naming it can be prepared. */
	int rc = create ? create_table(s, c, err, errlen) : 0;
	if (rc == 0)
		rc = prepare_all(s, c, err, errlen);
	if (rc < 0) {
		PQfinish(c);
		return rc;
	}
	*out = c;
	return 0;
}

/* Takes an idle connection, opening one while under the pool size, else
 * waits for one to come back. */
static int pool_get(struct pg_store *s, struct pg_conn **out)
{
	struct pg_conn *pc = NULL;
	char err[600];
	int rc = 0;

	pthread_mutex_lock(&s->mu);
	while (!s->idle && s->opened >= s->size)
		pthread_cond_wait(&s->cv, &s->mu);
	if (s->idle) {
		pc = s->idle;
		s->idle = pc->next;
	} else {
		s->opened++;
	}
	pthread_mutex_unlock(&s->mu);

	if (pc && pc->broken) {
		PQfinish(pc->c);
		pc->c = NULL;
	}
	if (!pc) {
		pc = calloc(1, sizeof(*pc));
		if (!pc)
			rc = -ENOMEM;
	}
	if (rc == 0 && !pc->c) {
		rc = connect_one(s, &pc->c, false, err, sizeof(err));
		if (rc < 0)
			EM_ERR("kv", "%s", err);
	}
	if (rc < 0) {
		free(pc);
		pthread_mutex_lock(&s->mu);
		s->opened--;
		pthread_cond_signal(&s->cv);
		pthread_mutex_unlock(&s->mu);
		return rc;
	}
	pc->broken = false;
	*out = pc;
	return 0;
}

static void pool_put(struct pg_store *s, struct pg_conn *pc)
{
	pthread_mutex_lock(&s->mu);
	pc->next = s->idle;
	s->idle = pc;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

/* Turns a failed result into an errno, marking conflicts for retry and lost
 * connections for reset. Consumes r. */
static int result_error(struct em_kv_txn *txn, PGresult *r, const char *what)
{
	struct pg_conn *pc = conn_of(txn);
	const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	int rc;

	if (state && (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0)) {
		rc = em_kv_txn_conflict(txn);
	} else if (PQstatus(pc->c) == CONNECTION_BAD) {
		char msg[600];
		describe_failure(pc->c, msg, sizeof(msg));
		EM_WARN("kv", "%s during %s", msg, what);
		pc->broken = true;
		/* Nothing was committed, so the whole transaction can run again
		 * on a fresh connection; pool_get() fails cleanly if the server
		 * is really gone. */
		rc = em_kv_txn_conflict(txn);
	} else {
		EM_ERR("kv", "postgresql %s: %s%s", what, state ? state : "", PQresultErrorMessage(r));
		rc = -EIO;
	}
	PQclear(r);
	return rc;
}

static int simple(struct em_kv_txn *txn, const char *sql)
{
	PGresult *r = PQexec(conn_of(txn)->c, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		return result_error(txn, r, sql);
	PQclear(r);
	return 0;
}

static int pg_begin(struct em_kv_txn *txn)
{
	struct pg_conn *pc;
	int rc = pool_get(store_of(txn), &pc);
	if (rc < 0)
		return rc;
	txn->impl = pc;
	rc = simple(txn, txn->rdonly ? "BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY"
				     : "BEGIN ISOLATION LEVEL SERIALIZABLE");
	if (rc < 0) {
		pool_put(store_of(txn), pc);
		txn->impl = NULL;
	}
	return rc;
}

static void pg_abort(struct em_kv_txn *txn)
{
	struct pg_conn *pc = conn_of(txn);

	if (!pc->broken) {
		PGresult *r = PQexec(pc->c, "ROLLBACK");
		if (PQresultStatus(r) != PGRES_COMMAND_OK)
			pc->broken = true;
		PQclear(r);
	}
	pool_put(store_of(txn), pc);
	txn->impl = NULL;
}

static int pg_commit(struct em_kv_txn *txn)
{
	struct pg_conn *pc = conn_of(txn);
	PGresult *r = PQexec(pc->c, "COMMIT");
	int rc = 0;

	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
		if (PQstatus(pc->c) == CONNECTION_BAD) {
			/* The commit may or may not have landed; retrying could
			 * apply it twice, so the caller must decide. */
			char msg[600];
			describe_failure(pc->c, msg, sizeof(msg));
			EM_ERR("kv", "%s during COMMIT: outcome unknown", msg);
			pc->broken = true;
			PQclear(r);
			rc = -ECONNRESET;
		} else if (state && (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0)) {
			PQclear(r);
			rc = em_kv_txn_conflict(txn);
		} else {
			rc = result_error(txn, r, "COMMIT");
		}
	} else {
		PQclear(r);
	}
	pool_put(store_of(txn), pc);
	txn->impl = NULL;
	return rc;
}

/* Runs a prepared statement; params are binary except a trailing LIMIT,
 * which is text (NULL meaning no limit). */
static PGresult *exec(struct em_kv_txn *txn, const char *name, int n, const char *const *vals,
		      const int *lens, const int *fmts)
{
	return PQexecPrepared(conn_of(txn)->c, name, n, vals, lens, fmts, 1);
}

static int pg_get(struct em_kv_txn *txn, const void *key, size_t klen,
		  const void **val, size_t *vlen)
{
	const char *v[] = { key };
	int l[] = { (int)klen }, f[] = { 1 };
	PGresult *r = exec(txn, "get", 1, v, l, f);

	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		return result_error(txn, r, "get");
	if (PQntuples(r) == 0) {
		PQclear(r);
		return -ENOENT;
	}
	size_t len = (size_t)PQgetlength(r, 0, 0);
	void *copy = em_kv_txn_alloc(txn, len + 1);
	if (!copy) {
		PQclear(r);
		return -ENOMEM;
	}
	memcpy(copy, PQgetvalue(r, 0, 0), len);
	PQclear(r);
	*val = copy;
	*vlen = len;
	return 0;
}

static int command(struct em_kv_txn *txn, const char *name, int n, const char *const *vals,
		   const int *lens, const int *fmts)
{
	PGresult *r = exec(txn, name, n, vals, lens, fmts);
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		return result_error(txn, r, name);
	PQclear(r);
	return 0;
}

static int pg_set(struct em_kv_txn *txn, const void *key, size_t klen,
		  const void *val, size_t vlen)
{
	const char *v[] = { key, val };
	int l[] = { (int)klen, (int)vlen }, f[] = { 1, 1 };
	return command(txn, "set", 2, v, l, f);
}

static int pg_clear(struct em_kv_txn *txn, const void *key, size_t klen)
{
	const char *v[] = { key };
	int l[] = { (int)klen }, f[] = { 1 };
	return command(txn, "clear", 1, v, l, f);
}

static int pg_range(struct em_kv_txn *txn, const void *begin, size_t blen,
		    const void *end, size_t elen, size_t limit, bool reverse,
		    struct em_kv_pair **pairs, size_t *n)
{
	struct em_kv_pairs_builder b = { 0 };
	char lim[24];
	const char *v[3];
	int l[3], f[3], np = 0;
	const char *name;

	snprintf(lim, sizeof(lim), "%zu", limit);
	v[np] = begin, l[np] = (int)blen, f[np++] = 1;
	if (end)
		v[np] = end, l[np] = (int)elen, f[np++] = 1;
	v[np] = limit ? lim : NULL, l[np] = 0, f[np++] = 0;
	name = reverse ? (end ? "range_rb" : "range_ru") : (end ? "range_fb" : "range_fu");

	PGresult *r = exec(txn, name, np, v, l, f);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		return result_error(txn, r, name);
	int rows = PQntuples(r), rc = 0;
	for (int i = 0; i < rows && rc == 0; i++)
		rc = em_kv_pairs_push(txn, &b, PQgetvalue(r, i, 0), (size_t)PQgetlength(r, i, 0),
				      PQgetvalue(r, i, 1), (size_t)PQgetlength(r, i, 1));
	PQclear(r);
	if (rc < 0)
		return rc;
	*pairs = b.v;
	*n = b.n;
	return 0;
}

static int pg_clear_range(struct em_kv_txn *txn, const void *begin, size_t blen,
			  const void *end, size_t elen)
{
	const char *v[] = { begin, end };
	int l[] = { (int)blen, (int)elen }, f[] = { 1, 1 };
	return command(txn, end ? "clear_rb" : "clear_ru", end ? 2 : 1, v, l, f);
}

static void pg_close(struct em_kv *kv)
{
	struct pg_store *s = kv->impl;
	while (s->idle) {
		struct pg_conn *pc = s->idle;
		s->idle = pc->next;
		if (pc->c)
			PQfinish(pc->c);
		free(pc);
	}
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s->conninfo);
	free(s);
}

static const struct em_kv_backend_ops pg_ops = {
	.name = "postgresql",
	.begin = pg_begin,
	.commit = pg_commit,
	.abort = pg_abort,
	.get = pg_get,
	.set = pg_set,
	.clear = pg_clear,
	.range = pg_range,
	.clear_range = pg_clear_range,
	.close = pg_close,
};

static bool valid_table(const char *t)
{
	size_t n = strlen(t);
	if (n == 0 || n >= 64)
		return false;
	for (; *t; t++)
		if (!((*t >= 'a' && *t <= 'z') || (*t >= '0' && *t <= '9') || *t == '_'))
			return false;
	return true;
}

int em_kv_pg_open(struct em_kv *kv, const char *conninfo, const struct em_kv_options *opts,
		  char *err, size_t errlen)
{
	struct pg_store *s = calloc(1, sizeof(*s));
	struct pg_conn *pc = NULL;
	PGconn *c = NULL;
	int rc;

	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	snprintf(s->table, sizeof(s->table), "%s", opts->pg_table ? opts->pg_table : "ember_kv");
	if (!valid_table(s->table)) {
		snprintf(err, errlen, "postgresql: table name '%s' must be [a-z0-9_]{1,63}",
			 opts->pg_table);
		free(s);
		return -EINVAL;
	}
	s->size = opts->pg_pool_size ? opts->pg_pool_size : 8;
	s->conninfo = strdup(conninfo);
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	kv->impl = s;
	kv->ops = &pg_ops;

	/* Connect once now: a wrong address should fail at startup with a
	 * clear message, not at the first request. */
	if (!s->conninfo) {
		rc = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	rc = connect_one(s, &c, true, err, errlen);
	if (rc < 0)
		goto fail;
	pc = calloc(1, sizeof(*pc));
	if (!pc) {
		rc = -ENOMEM;
		goto fail;
	}
	pc->c = c;
	s->opened = 1;
	s->idle = pc;
	return 0;
fail:
	if (c)
		PQfinish(c);
	pg_close(kv);
	kv->impl = NULL;
	return rc;
}
