/* File locks shared by every mount: POSIX record locks (fcntl) and BSD
 * whole-file locks (flock), one KV record per (inode, owner, kind).
 *
 * An owner is (client id, the kernel's lock owner): a process on one mount.
 * A lock lives as long as its client renews (the same lease as write
 * sessions); a record whose client lapsed is void, and the next operation
 * on the file that meets it removes it. Taking a lock renews the client, so
 * a client that locks without having written still has a record. */
#include <errno.h>
#include <string.h>

#include "ember/errors.h"
#include "fs/meta/internal.h"
#include "net/core/log.h"

/* Records on one inode read per operation: past this many owners, -ENOLCK. */
#define LOCK_SCAN_MAX 1024

static size_t lock_key(uint8_t *out, uint64_t ino, const struct em_meta_lock *l)
{
	size_t n = em_meta_key_ino_prefix(out, 'L', ino);
	uint8_t tmp[EM_META_KEY_MAX];
	em_meta_key_ino_prefix(tmp, 0, l->client);
	memcpy(out + n, tmp + 1, 8);
	em_meta_key_ino_prefix(tmp, 0, l->owner);
	memcpy(out + n + 8, tmp + 1, 8);
	out[n + 16] = l->kind;
	return n + 17;
}

static bool overlaps(const struct em_meta_lock_range *r, uint64_t start, uint64_t end)
{
	return r->start <= end && start <= r->end;
}

/* A lapsed client's locks are void: read its record in this transaction. */
static int client_lapsed(struct em_kv_txn *t, uint64_t client, int64_t now, bool *out)
{
	uint8_t key[EM_META_KEY_MAX];
	const void *v;
	size_t vl;
	struct em_meta_client_rec c;
	int rc = em_kv_get(t, key, em_meta_key_ino_prefix(key, 'C', client), &v, &vl);
	if (rc == -ENOENT) {
		*out = true;
		return 0;
	}
	if (rc < 0 || (rc = em_meta_client_rec_decode(v, vl, &c)) < 0)
		return rc;
	*out = c.renewed_ns + (int64_t)c.lease_ms * 1000000 < now;
	return 0;
}

/* Removes [start, end] from the ranges, splitting one that straddles it.
 * Returns the new count or -ENOLCK when a split would overflow. */
static int cut(struct em_meta_lock_rec *rec, uint64_t start, uint64_t end)
{
	struct em_meta_lock_rec out = { .n = 0 };
	for (uint32_t i = 0; i < rec->n; i++) {
		struct em_meta_lock_range r = rec->r[i];
		if (!overlaps(&r, start, end)) {
			out.r[out.n++] = r;
			continue;
		}
		if (r.start < start) {
			struct em_meta_lock_range left = r;
			left.end = start - 1;
			out.r[out.n++] = left;
		}
		if (r.end > end) {
			if (out.n == EM_META_LOCK_RANGES)
				return -ENOLCK;
			struct em_meta_lock_range right = r;
			right.start = end + 1;
			out.r[out.n++] = right;
		}
	}
	*rec = out;
	return 0;
}

/* Adds a range, merging it with touching ranges of the same type (POSIX
 * coalesces adjacent locks of one owner). Ranges stay sorted by start. */
static int add(struct em_meta_lock_rec *rec, struct em_meta_lock_range nr)
{
	struct em_meta_lock_rec out = { .n = 0 };
	for (uint32_t i = 0; i < rec->n; i++) {
		struct em_meta_lock_range r = rec->r[i];
		bool touch = r.type == nr.type && (r.end == UINT64_MAX || r.end + 1 >= nr.start) &&
			     (nr.end == UINT64_MAX || nr.end + 1 >= r.start);
		if (touch) {
			nr.start = r.start < nr.start ? r.start : nr.start;
			nr.end = r.end > nr.end ? r.end : nr.end;
			continue;
		}
		out.r[out.n++] = r;
	}
	if (out.n == EM_META_LOCK_RANGES)
		return -ENOLCK;
	uint32_t at = 0;
	while (at < out.n && out.r[at].start < nr.start)
		at++;
	memmove(&out.r[at + 1], &out.r[at], (out.n - at) * sizeof(out.r[0]));
	out.r[at] = nr;
	out.n++;
	*rec = out;
	return 0;
}

struct lock_ctx {
	struct em_meta *m;
	uint64_t ino;
	const struct em_meta_lock *req;
	struct em_meta_lock_range conflict;
	bool granted;
};

static int lock_fn(struct em_kv_txn *t, void *arg)
{
	struct lock_ctx *c = arg;
	const struct em_meta_lock *l = c->req;
	int64_t now = em_meta_now_ns();
	uint8_t b[EM_META_KEY_MAX], e[EM_META_KEY_MAX], mine[EM_META_KEY_MAX];
	struct em_meta_inode in;
	struct em_kv_pair *p;
	size_t n;
	int rc;

	c->granted = false;
	if ((rc = em_meta_inode_load(t, c->ino, &in)) < 0)
		return rc;
	size_t ml = lock_key(mine, c->ino, l);
	size_t bl = em_meta_key_ino_prefix(b, 'L', c->ino);
	size_t el = em_kv_prefix_end(b, bl, e);
	if ((rc = em_kv_range(t, b, bl, e, el, LOCK_SCAN_MAX + 1, false, &p, &n)) < 0)
		return rc;
	if (n > LOCK_SCAN_MAX)
		return -ENOLCK;

	struct em_meta_lock_rec own = { .n = 0 };
	for (size_t i = 0; i < n; i++) {
		struct em_meta_lock_rec rec;
		if (p[i].klen != ml) {
			EM_ERR("meta", "inode %llu: a lock record with a %zu-byte key",
			       (unsigned long long)c->ino, p[i].klen);
			return -EUCLEAN;
		}
		if ((rc = em_meta_lock_rec_decode(p[i].val, p[i].vlen, &rec)) < 0) {
			EM_ERR("meta", "inode %llu: a lock record is damaged: %s",
			       (unsigned long long)c->ino, em_errname(rc));
			return rc;
		}
		if (memcmp(p[i].key, mine, ml) == 0) {
			own = rec;
			continue;
		}
		if (((const uint8_t *)p[i].key)[ml - 1] != l->kind || l->type == EM_META_LOCK_UN)
			continue;
		for (uint32_t j = 0; j < rec.n; j++) {
			const struct em_meta_lock_range *r = &rec.r[j];
			if (!overlaps(r, l->start, l->end) ||
			    (r->type == EM_META_LOCK_RD && l->type == EM_META_LOCK_RD))
				continue;
			bool lapsed;
			if ((rc = client_lapsed(t, em_meta_get_be64((const uint8_t *)p[i].key + 9),
						now, &lapsed)) < 0)
				return rc;
			if (lapsed)
				break;
			c->conflict = *r;
			return 0;
		}
	}
	/* Lapsed owners' records may still be there: the holder of a live lock
	 * never conflicts with them, and unlock or upkeep removes them. */
	c->granted = true;
	c->conflict.type = EM_META_LOCK_UN;
	if (l->test)
		return 0;
	if ((rc = cut(&own, l->start, l->end)) < 0)
		return rc;
	if (l->type != EM_META_LOCK_UN) {
		struct em_meta_lock_range nr = { l->start, l->end, l->pid, l->type };
		if ((rc = add(&own, nr)) < 0)
			return rc;
		/* A locker proves it lives, as a renewal would. */
		struct em_meta_client_rec cr = { now, c->m->opts.session_lease_ms };
		uint8_t key[EM_META_KEY_MAX], val[EM_META_CLIENT_LEN];
		rc = em_kv_set(t, key, em_meta_key_ino_prefix(key, 'C', l->client), val,
			       em_meta_client_rec_encode(&cr, val));
		if (rc < 0)
			return rc;
	}
	if (own.n == 0)
		return em_kv_clear(t, mine, ml);
	uint8_t val[EM_META_LOCK_REC_MAX];
	return em_kv_set(t, mine, ml, val, em_meta_lock_rec_encode(&own, val));
}

int em_meta_lock(struct em_meta *m, const struct em_meta_cred *cr, uint64_t ino,
		 const struct em_meta_lock *req, struct em_meta_lock_range *conflict)
{
	if (!req->client || req->start > req->end ||
	    (req->kind != EM_META_LOCK_POSIX && req->kind != EM_META_LOCK_FLOCK) ||
	    (req->type != EM_META_LOCK_RD && req->type != EM_META_LOCK_WR &&
	     req->type != EM_META_LOCK_UN))
		return -EINVAL;
	struct lock_ctx c = { .m = m, .ino = ino, .req = req };
	int rc = em_kv_run(m->kv, 0, lock_fn, &c);
	if (rc < 0)
		return rc;
	if (conflict)
		*conflict = c.conflict;
	return c.granted || req->test ? 0 : -EAGAIN;
}

int em_meta_locks_destroy(struct em_kv_txn *t, uint64_t ino)
{
	uint8_t b[EM_META_KEY_MAX], e[EM_META_KEY_MAX];
	size_t bl = em_meta_key_ino_prefix(b, 'L', ino);
	size_t el = em_kv_prefix_end(b, bl, e);
	return em_kv_clear_range(t, b, bl, e, el);
}
