/* Primary election through a KV lease (see lease.h).
 *
 * Value: u64 term, u64 expiry (ms), u16 holder length, holder bytes; all
 * little-endian. A released lease keeps its term with expiry 0, so terms
 * never repeat.
 */
#include <errno.h>
#include <string.h>

#include "fs/mgmt/lease.h"
#include "fs/mgmt/record.h"

/* Reads the stored lease; a missing key is a free lease of term 0. */
static int load(struct em_kv_txn *txn, const char *key, struct em_lease *l)
{
	const void *val;
	size_t vlen;
	memset(l, 0, sizeof(*l));
	strcpy(l->key, key);
	int rc = em_kv_get(txn, key, strlen(key), &val, &vlen);
	if (rc == -ENOENT)
		return 0;
	if (rc < 0)
		return rc;
	struct em_mrd r = { .p = val, .len = vlen };
	l->term = em_mrd_u64(&r);
	l->expires_ms = em_mrd_u64(&r);
	uint16_t len = em_mrd_u16(&r);
	const uint8_t *name = em_mrd_take(&r, len);
	if (!name || len >= EM_LEASE_HOLDER_MAX)
		return -EUCLEAN;
	memcpy(l->holder, name, len);
	return 0;
}

static int store(struct em_kv_txn *txn, const struct em_lease *l)
{
	uint8_t buf[8 + 8 + 2 + EM_LEASE_HOLDER_MAX];
	struct em_mwr w = { .p = buf, .cap = sizeof(buf) };
	size_t len = strlen(l->holder);
	em_mwr_u64(&w, l->term);
	em_mwr_u64(&w, l->expires_ms);
	em_mwr_u16(&w, (uint16_t)len);
	em_mwr_raw(&w, l->holder, len);
	return em_kv_set(txn, l->key, strlen(l->key), buf, w.len);
}

struct op {
	const char *key, *self;
	const struct em_lease *held;
	uint64_t now_ms, duration_ms;
	struct em_lease result;
};

static bool is_ours(const struct em_lease *stored, const struct em_lease *held)
{
	return stored->term == held->term && strcmp(stored->holder, held->holder) == 0;
}

static int acquire_fn(struct em_kv_txn *txn, void *arg)
{
	struct op *op = arg;
	struct em_lease cur;
	int rc = load(txn, op->key, &cur);
	if (rc < 0)
		return rc;
	bool live = op->now_ms < cur.expires_ms;
	if (live && strcmp(cur.holder, op->self) != 0) {
		op->result = cur;
		return -EBUSY;
	}
	/* A new tenure unless we extend our own live one: after an expiry
	 * we may already have stepped down, so the term must say so. */
	if (!live)
		cur.term++;
	strcpy(cur.holder, op->self);
	cur.expires_ms = op->now_ms + op->duration_ms;
	op->result = cur;
	return store(txn, &cur);
}

int em_lease_acquire(struct em_kv *kv, const char *key, const char *self, uint64_t now_ms,
		     uint64_t duration_ms, struct em_lease *out)
{
	size_t len = strlen(self), klen = strlen(key);
	if (len == 0 || len >= EM_LEASE_HOLDER_MAX || klen == 0 || klen >= EM_LEASE_KEY_MAX ||
	    duration_ms == 0)
		return -EINVAL;
	struct op op = { .key = key, .self = self, .now_ms = now_ms, .duration_ms = duration_ms };
	int rc = em_kv_run(kv, 0, acquire_fn, &op);
	if (rc == 0 || rc == -EBUSY)
		*out = op.result;
	return rc;
}

static int renew_fn(struct em_kv_txn *txn, void *arg)
{
	struct op *op = arg;
	struct em_lease cur;
	int rc = load(txn, op->held->key, &cur);
	if (rc < 0)
		return rc;
	if (!is_ours(&cur, op->held) || cur.expires_ms == 0)
		return -ESTALE;
	cur.expires_ms = op->now_ms + op->duration_ms;
	op->result = cur;
	return store(txn, &cur);
}

int em_lease_renew(struct em_kv *kv, const struct em_lease *held, uint64_t now_ms,
		   uint64_t duration_ms, struct em_lease *out)
{
	if (duration_ms == 0)
		return -EINVAL;
	struct op op = { .held = held, .now_ms = now_ms, .duration_ms = duration_ms };
	int rc = em_kv_run(kv, 0, renew_fn, &op);
	if (rc == 0)
		*out = op.result;
	return rc;
}

static int release_fn(struct em_kv_txn *txn, void *arg)
{
	struct op *op = arg;
	struct em_lease cur;
	int rc = load(txn, op->held->key, &cur);
	if (rc < 0 || !is_ours(&cur, op->held))
		return rc;
	cur.expires_ms = 0;
	return store(txn, &cur);
}

int em_lease_release(struct em_kv *kv, const struct em_lease *held)
{
	struct op op = { .held = held };
	return em_kv_run(kv, 0, release_fn, &op);
}

int em_lease_check(struct em_kv_txn *txn, const struct em_lease *held, uint64_t now_ms)
{
	struct em_lease cur;
	int rc = load(txn, held->key, &cur);
	if (rc < 0)
		return rc;
	return is_ours(&cur, held) && now_ms < cur.expires_ms ? 0 : -ESTALE;
}
