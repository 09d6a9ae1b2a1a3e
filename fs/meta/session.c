/* Opening files, write sessions and file length.
 *
 * Read-only opens leave no trace in the store (as in 3FS): only writers get a
 * session, because only they can change the length and only they must keep
 * an unlinked file's chunks alive until they close. */
#include <errno.h>
#include <fcntl.h>
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
		       struct em_meta_inode *in, int flags, uint64_t client_id, bool created,
		       struct em_meta_open_res *out)
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
		if (cr->uid != 0) {
			a->mode &= ~(uint32_t)S_ISUID;
			if (a->mode & S_IXGRP)
				a->mode &= ~(uint32_t)S_ISGID;
		}
	}
	if (S_ISREG(a->mode) && wants_write(flags)) {
		struct em_meta_session s = { client_id, now, cr->uid };
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
	return em_meta_open_inode(t, c->cr, &c->in, c->flags, c->client_id, false, &c->res);
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
	bool closing;
	struct em_meta_inode in;
};

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
	bool changed = false;
	/* Lengths only grow here: a report from a slow writer must not undo
	 * a faster one's. Shrinking is truncate's job. */
	if (c->length > c->in.a.size) {
		c->in.a.size = c->length;
		c->in.a.mtime_ns = c->in.a.ctime_ns = em_meta_now_ns();
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
		  uint64_t session, uint64_t length)
{
	struct length_ctx c = { .ino = ino, .session = session, .length = length, .closing = true };
	return em_kv_run(m->kv, 0, length_fn, &c);
}

int em_meta_set_length(struct em_meta *m, const struct em_meta_cred *cr, uint64_t ino,
		       uint64_t session, uint64_t length)
{
	struct length_ctx c = { .ino = ino, .session = session, .length = length };
	return em_kv_run(m->kv, 0, length_fn, &c);
}
