/* Opening files, write sessions and file length.
 *
 * Read-only opens leave no trace in the store (as in 3FS): only writers get a
 * session, because only they can change the length and only they must keep
 * an unlinked file's chunks alive until they close. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "fs/meta/internal.h"

static uint64_t new_session_id(void)
{
	uint64_t id = 0;
	/* Random ids need no coordination between metadata servers. */
	while (id == 0)
		if (getrandom(&id, sizeof(id), 0) != sizeof(id))
			id = (uint64_t)em_meta_now_ns();
	return id;
}

static bool wants_write(int flags)
{
	return (flags & O_ACCMODE) != O_RDONLY;
}

int em_meta_open_inode(struct em_kv_txn *t, const struct em_meta_cred *cr,
		       struct em_meta_inode *in, int flags, uint64_t client_id, uint32_t lease_ms,
		       bool created, struct em_meta_open_res *out)
{
	struct em_meta_attr *a = &in->a;
	int64_t now = em_meta_now_ns();
	int mask, rc;

	memset(out, 0, sizeof(*out));
	if (S_ISLNK(a->mode))
		return -ELOOP;
	if (S_ISDIR(a->mode) && (wants_write(flags) || (flags & O_TRUNC)))
		return -EISDIR;
	switch (flags & O_ACCMODE) {
	case O_RDONLY:
		mask = MAY_READ;
		break;
	case O_WRONLY:
		mask = MAY_WRITE;
		break;
	case O_RDWR:
		mask = MAY_READ | MAY_WRITE;
		break;
	default:
		return -EINVAL;
	}
	if (flags & O_TRUNC)
		mask |= MAY_WRITE;
	/* The creator may open its new file whatever mode it asked for. */
	if (!created && (rc = em_meta_may(cr, a, mask)) < 0)
		return rc;
	if (S_ISREG(a->mode) && (flags & O_TRUNC)) {
		a->size = 0;
		a->mtime_ns = a->ctime_ns = now;
		if (cr->uid != 0)
			em_meta_kill_priv(a);
	}
	if (S_ISREG(a->mode) && wants_write(flags)) {
		struct em_meta_session s = { client_id, now, cr->uid, lease_ms };
		uint8_t key[EM_META_KEY_MAX], val[EM_META_SESSION_LEN];
		out->session = new_session_id();
		rc = em_kv_set(t, key, em_meta_key_session(key, a->ino, out->session), val,
			       em_meta_session_encode(&s, val));
		if (rc < 0)
			return rc;
	}
	if (created || (flags & O_TRUNC)) {
		rc = em_meta_inode_store(t, in);
		if (rc < 0)
			return rc;
	}
	out->attr = *a;
	out->created = created;
	return 0;
}

struct open_ctx {
	struct em_meta *m;
	const struct em_meta_cred *cr;
	uint64_t ino, client_id;
	int flags;
	struct em_meta_inode in;
	struct em_meta_open_res res;
};

static int open_fn(struct em_kv_txn *t, void *arg)
{
	struct open_ctx *c = arg;
	int rc = em_meta_inode_load(t, c->ino, &c->in);
	if (rc < 0)
		return rc;
	/* An unlinked file lives on only for sessions already open. */
	if (c->in.a.nlink == 0)
		return -ENOENT;
	return em_meta_open_inode(t, c->cr, &c->in, c->flags, c->client_id,
				  c->m->opts.session_lease_ms, false, &c->res);
}

int em_meta_open(struct em_meta *m, const struct em_meta_cred *cr, uint64_t ino, int flags,
		 uint64_t client_id, struct em_meta_open_res *out)
{
	struct open_ctx c = { .m = m, .cr = cr, .ino = ino, .client_id = client_id, .flags = flags };
	bool writes = wants_write(flags) || (flags & O_TRUNC);
	/* Read-only opens only read: let them share LMDB's snapshot readers. */
	int rc = em_kv_run(m->kv, writes ? 0 : EM_KV_RDONLY, open_fn, &c);
	if (rc == 0)
		*out = c.res;
	return rc;
}

struct length_ctx {
	uint64_t ino, session, length;
	bool closing, wrote;
	int64_t recover_at;         /* recovering: only if expired at this time */
	uint32_t lease_ms;
	struct em_meta_inode in;
};

static int client_load(struct em_kv_txn *t, uint64_t client, struct em_meta_client_rec *out)
{
	uint8_t key[EM_META_KEY_MAX];
	const void *v;
	size_t vl;
	int rc = em_kv_get(t, key, em_meta_key_ino_prefix(key, 'C', client), &v, &vl);
	return rc < 0 ? rc : em_meta_client_rec_decode(v, vl, out);
}

/* The session's expiry in this transaction's view. */
static int session_expiry(struct em_kv_txn *t, const struct em_meta_session *s,
			  uint32_t lease_ms, int64_t *out)
{
	struct em_meta_client_rec c;
	int rc = client_load(t, s->client_id, &c);
	if (rc < 0 && rc != -ENOENT)
		return rc;
	*out = em_meta_session_expiry(s, rc == 0 ? &c : NULL, lease_ms);
	return 0;
}

static int length_fn(struct em_kv_txn *t, void *arg)
{
	struct length_ctx *c = arg;
	uint8_t key[EM_META_KEY_MAX];
	size_t kl = em_meta_key_session(key, c->ino, c->session);
	const void *v;
	size_t vl;
	struct em_meta_session s;
	int rc;

	if ((rc = em_meta_inode_load(t, c->ino, &c->in)) < 0)
		return rc;
	if ((rc = em_kv_get(t, key, kl, &v, &vl)) < 0)
		return rc == -ENOENT ? -EBADF : rc;
	if ((rc = em_meta_session_decode(v, vl, &s)) < 0)
		return rc;
	if (c->recover_at) {
		int64_t exp;
		if ((rc = session_expiry(t, &s, c->lease_ms, &exp)) < 0)
			return rc;
		if (exp > c->recover_at)
			return -EBUSY;
	}
	bool changed = false;
	/* Lengths only grow here: a report from a slow writer must not undo
	 * a faster one's. Shrinking is truncate's job. */
	if (c->length > EM_META_MAX_FILE_SIZE)
		return -EFBIG;
	if (c->length > c->in.a.size) {
		c->in.a.size = c->length;
		c->in.a.mtime_ns = c->in.a.ctime_ns = em_meta_now_ns();
		changed = true;
	}
	if (c->wrote) {
		c->in.a.mtime_ns = c->in.a.ctime_ns = em_meta_now_ns();
		if (s.uid != 0)
			em_meta_kill_priv(&c->in.a);
		changed = true;
	}
	if (c->closing) {
		if ((rc = em_kv_clear(t, key, kl)) < 0)
			return rc;
		if (c->in.a.nlink == 0) {
			rc = em_meta_has_sessions(t, c->ino);
			if (rc < 0)
				return rc;
			if (rc == 0)
				return em_meta_inode_destroy(t, &c->in);
		}
	}
	return changed ? em_meta_inode_store(t, &c->in) : 0;
}

int em_meta_close(struct em_meta *m, const struct em_meta_cred *cr, uint64_t ino,
		  uint64_t session, uint64_t length, uint32_t flags)
{
	struct length_ctx c = { .ino = ino, .session = session, .length = length, .closing = true,
				.wrote = flags & EM_META_WROTE };
	return em_kv_run(m->kv, 0, length_fn, &c);
}

int em_meta_set_length(struct em_meta *m, const struct em_meta_cred *cr, uint64_t ino,
		       uint64_t session, uint64_t length, uint32_t flags)
{
	struct length_ctx c = { .ino = ino, .session = session, .length = length,
				.wrote = flags & EM_META_WROTE };
	return em_kv_run(m->kv, 0, length_fn, &c);
}

int em_meta_session_recover(struct em_meta *m, uint64_t ino, uint64_t session,
			    uint64_t length, int64_t now_ns)
{
	struct length_ctx c = { .ino = ino, .session = session, .length = length, .closing = true,
				.recover_at = now_ns, .lease_ms = m->opts.session_lease_ms };
	return em_kv_run(m->kv, 0, length_fn, &c);
}

struct renew_ctx {
	uint64_t client;
	struct em_meta_client_rec rec;
};

static int renew_fn(struct em_kv_txn *t, void *arg)
{
	struct renew_ctx *c = arg;
	uint8_t key[EM_META_KEY_MAX], val[EM_META_CLIENT_LEN];
	return em_kv_set(t, key, em_meta_key_ino_prefix(key, 'C', c->client), val,
			 em_meta_client_rec_encode(&c->rec, val));
}

int em_meta_renew(struct em_meta *m, uint64_t client_id, uint32_t *lease_ms)
{
	if (!client_id)
		return -EINVAL;
	struct renew_ctx c = { client_id, { em_meta_now_ns(), m->opts.session_lease_ms } };
	int rc = em_kv_run(m->kv, 0, renew_fn, &c);
	if (rc == 0)
		*lease_ms = m->opts.session_lease_ms;
	return rc;
}

/* Session and client keys are "S"/"C" + 8 or 16 bytes: a page of them. */
#define SCAN_PAGE 256

struct expired_ctx {
	struct em_meta *m;
	int64_t now;
	struct em_meta_session_info *out;
	size_t max, n;
};

static int expired_fn(struct em_kv_txn *t, void *arg)
{
	struct expired_ctx *c = arg;
	uint8_t begin[EM_META_KEY_MAX + 1] = { 'S' }, end[1] = { 'T' };
	size_t blen = 1;
	c->n = 0;
	for (;;) {
		struct em_kv_pair *p;
		size_t n;
		int rc = em_kv_range(t, begin, blen, end, 1, SCAN_PAGE, false, &p, &n);
		if (rc < 0)
			return rc;
		for (size_t i = 0; i < n && c->n < c->max; i++) {
			struct em_meta_session s;
			struct em_meta_inode in;
			int64_t exp;
			/* fsck reports damaged records; the upkeep skips them. */
			if (p[i].klen != 17 || em_meta_session_decode(p[i].val, p[i].vlen, &s) < 0)
				continue;
			if ((rc = session_expiry(t, &s, c->m->opts.session_lease_ms, &exp)) < 0)
				return rc;
			if (exp > c->now)
				continue;
			uint64_t ino = em_meta_get_be64((const uint8_t *)p[i].key + 1);
			rc = em_meta_inode_load(t, ino, &in);
			if (rc == -ENOENT)
				continue;
			if (rc < 0)
				return rc;
			c->out[c->n++] = (struct em_meta_session_info){
				ino, em_meta_get_be64((const uint8_t *)p[i].key + 9), s.client_id, exp,
				in.a,
			};
		}
		if (n < SCAN_PAGE || c->n == c->max)
			return 0;
		memcpy(begin, p[n - 1].key, p[n - 1].klen);
		begin[p[n - 1].klen] = 0;
		blen = p[n - 1].klen + 1;
	}
}

int em_meta_expired_sessions(struct em_meta *m, int64_t now_ns,
			     struct em_meta_session_info *out, size_t max, size_t *n)
{
	struct expired_ctx c = { m, now_ns, out, max, 0 };
	int rc = em_kv_run(m->kv, EM_KV_RDONLY, expired_fn, &c);
	*n = rc == 0 ? c.n : 0;
	return rc;
}

struct prune_ctx {
	int64_t now;
	uint32_t lease_ms;
};

static int prune_fn(struct em_kv_txn *t, void *arg)
{
	struct prune_ctx *c = arg;
	uint8_t begin[1] = { 'C' }, end[1] = { 'D' };
	struct em_kv_pair *p;
	size_t n;
	int rc = em_kv_range(t, begin, 1, end, 1, SCAN_PAGE, false, &p, &n);
	if (rc < 0)
		return rc;
	/* Copied out: clearing may invalidate the range's buffers. */
	uint8_t (*dead)[9] = calloc(n ? n : 1, sizeof(*dead));
	size_t nd = 0;
	if (!dead)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct em_meta_client_rec r;
		if (p[i].klen != 9 || em_meta_client_rec_decode(p[i].val, p[i].vlen, &r) < 0)
			continue;
		uint32_t lease = r.lease_ms > c->lease_ms ? r.lease_ms : c->lease_ms;
		if (r.renewed_ns + 2 * (int64_t)lease * 1000000 < c->now)
			memcpy(dead[nd++], p[i].key, 9);
	}
	for (size_t i = 0; i < nd && rc == 0; i++)
		rc = em_kv_clear(t, dead[i], 9);
	free(dead);
	return rc;
}

int em_meta_prune_clients(struct em_meta *m, int64_t now_ns)
{
	struct prune_ctx c = { now_ns, m->opts.session_lease_ms };
	return em_kv_run(m->kv, 0, prune_fn, &c);
}
