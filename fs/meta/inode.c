/* Inodes: loading, storing, destruction, getattr and setattr. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "ember/errors.h"
#include "fs/meta/internal.h"
#include "net/core/log.h"

int em_meta_inode_load(struct em_kv_txn *t, uint64_t ino, struct em_meta_inode *out)
{
	uint8_t key[EM_META_KEY_MAX];
	const void *v;
	size_t vl;
	int rc = em_kv_get(t, key, em_meta_key_inode(key, ino), &v, &vl);
	if (rc < 0)
		return rc;
	rc = em_meta_inode_decode(v, vl, out);
	if (rc < 0) {
		EM_ERR("meta", "inode %llu is damaged: %s", (unsigned long long)ino, em_errname(rc));
		return rc;
	}
	out->a.ino = ino;
	return 0;
}

int em_meta_inode_store(struct em_kv_txn *t, const struct em_meta_inode *in)
{
	uint8_t key[EM_META_KEY_MAX], val[EM_META_INODE_MAX];
	return em_kv_set(t, key, em_meta_key_inode(key, in->a.ino), val,
			 em_meta_inode_encode(in, val));
}

int em_meta_dir_load(struct em_kv_txn *t, uint64_t ino, struct em_meta_inode *out)
{
	int rc = em_meta_inode_load(t, ino, out);
	if (rc < 0)
		return rc;
	if (!S_ISDIR(out->a.mode))
		return -ENOTDIR;
	return 0;
}

void em_meta_kill_priv(struct em_meta_attr *a)
{
	a->mode &= ~(uint32_t)S_ISUID;
	/* setgid without group execute marks mandatory locking and stays. */
	if (a->mode & S_IXGRP)
		a->mode &= ~(uint32_t)S_ISGID;
}

int em_meta_has_sessions(struct em_kv_txn *t, uint64_t ino)
{
	uint8_t b[EM_META_KEY_MAX], e[EM_META_KEY_MAX];
	struct em_kv_pair *p;
	size_t n, bl = em_meta_key_ino_prefix(b, 'S', ino);
	size_t el = em_kv_prefix_end(b, bl, e);
	int rc = em_kv_range(t, b, bl, e, el, 1, false, &p, &n);
	return rc < 0 ? rc : n > 0;
}

int em_meta_inode_destroy(struct em_kv_txn *t, const struct em_meta_inode *in)
{
	uint8_t key[EM_META_KEY_MAX], end[EM_META_KEY_MAX];
	size_t kl, el;
	int rc;

	kl = em_meta_key_inode(key, in->a.ino);
	if ((rc = em_kv_clear(t, key, kl)) < 0)
		return rc;
	kl = em_meta_key_ino_prefix(key, 'X', in->a.ino);
	el = em_kv_prefix_end(key, kl, end);
	if ((rc = em_kv_clear_range(t, key, kl, end, el)) < 0)
		return rc;
	kl = em_meta_key_ino_prefix(key, 'O', in->a.ino);
	if ((rc = em_kv_clear(t, key, kl)) < 0 || (rc = em_meta_locks_destroy(t, in->a.ino)) < 0)
		return rc;
	if (!S_ISREG(in->a.mode))
		return 0;
	/* Chunk ids derive from (inode, index), so the entry needs only the
	 * inode and its layout for a worker to find every chunk. */
	struct em_meta_gc_entry g = { in->a.ino, in->a.size, in->a.layout, em_meta_now_ns() };
	uint8_t val[EM_META_GC_LEN];
	kl = em_meta_key_ino_prefix(key, 'G', in->a.ino);
	return em_kv_set(t, key, kl, val, em_meta_gc_encode(&g, val));
}

int em_meta_inode_unlink(struct em_kv_txn *t, struct em_meta_inode *in, int64_t now)
{
	in->a.nlink--;
	in->a.ctime_ns = now;
	if (in->a.nlink > 0)
		return em_meta_inode_store(t, in);
	int rc = em_meta_has_sessions(t, in->a.ino);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return em_meta_inode_destroy(t, in);
	/* Still write-open: keep it, findable by fsck, until the last close. */
	uint8_t key[EM_META_KEY_MAX];
	rc = em_kv_set(t, key, em_meta_key_ino_prefix(key, 'O', in->a.ino), "", 0);
	return rc < 0 ? rc : em_meta_inode_store(t, in);
}

struct getattr_ctx {
	uint64_t ino;
	struct em_meta_inode in;
};

static int getattr_fn(struct em_kv_txn *t, void *arg)
{
	struct getattr_ctx *c = arg;
	return em_meta_inode_load(t, c->ino, &c->in);
}

/* No permission check: stat(2) needs search permission on the path, which
 * the client proved by looking each component up. */
int em_meta_getattr(struct em_meta *m, const struct em_meta_cred *cr, uint64_t ino,
		    struct em_meta_attr *out)
{
	struct getattr_ctx c = { .ino = ino };
	int rc = em_kv_run(m->kv, EM_KV_RDONLY, getattr_fn, &c);
	if (rc == 0)
		*out = c.in.a;
	return rc;
}

struct setattr_ctx {
	const struct em_meta_cred *cr;
	uint64_t ino;
	const struct em_meta_setattr *req;
	struct em_meta_inode in;
};

static int chmod_check(const struct em_meta_cred *cr, struct em_meta_attr *a, uint32_t mode)
{
	if (!em_meta_is_owner(cr, a))
		return -EPERM;
	mode &= 07777;
	/* A non-member cannot make a file setgid to a group it is not in
	 * (Linux clears the bit rather than failing). */
	if (cr->uid != 0 && !em_meta_in_group(cr, a->gid))
		mode &= ~(uint32_t)S_ISGID;
	a->mode = (a->mode & S_IFMT) | mode;
	return 0;
}

static int chown_check(const struct em_meta_cred *cr, struct em_meta_attr *a,
		       const struct em_meta_setattr *r)
{
	uint32_t uid = (r->valid & EM_SETATTR_UID) ? r->uid : a->uid;
	uint32_t gid = (r->valid & EM_SETATTR_GID) ? r->gid : a->gid;

	/* Only root gives files away; an owner may change the group to one of
	 * its own groups. */
	if (cr->uid != 0 &&
	    (cr->uid != a->uid || uid != a->uid || (gid != a->gid && !em_meta_in_group(cr, gid))))
		return -EPERM;
	a->uid = uid;
	a->gid = gid;
	/* A new owner must not inherit set-id powers. Linux strips them on
	 * every chown of a non-directory, even a no-op one and even by root. */
	if (!S_ISDIR(a->mode))
		em_meta_kill_priv(a);
	return 0;
}

static int times_check(const struct em_meta_cred *cr, struct em_meta_attr *a,
		       const struct em_meta_setattr *r, int64_t now)
{
	uint32_t v = r->valid;
	bool explicit_time = v & (EM_SETATTR_ATIME | EM_SETATTR_MTIME);

	/* Setting arbitrary times needs ownership; "now" is also allowed to
	 * anyone who may write the file (utimes(NULL) semantics). */
	if (!em_meta_is_owner(cr, a)) {
		if (explicit_time)
			return -EPERM;
		if (em_meta_may(cr, a, MAY_WRITE) < 0)
			return -EACCES;
	}
	if (v & EM_SETATTR_ATIME_NOW)
		a->atime_ns = now;
	else if (v & EM_SETATTR_ATIME)
		a->atime_ns = r->atime_ns;
	if (v & EM_SETATTR_MTIME_NOW)
		a->mtime_ns = now;
	else if (v & EM_SETATTR_MTIME)
		a->mtime_ns = r->mtime_ns;
	return 0;
}

/* Write permission from the mode, or from the caller's open write session. */
static int may_write(struct em_kv_txn *t, const struct em_meta_cred *cr,
		     const struct em_meta_attr *a, uint64_t session)
{
	int rc = em_meta_may(cr, a, MAY_WRITE);
	if (rc == 0 || !session)
		return rc;
	uint8_t key[EM_META_KEY_MAX];
	const void *v;
	size_t vl;
	int grc = em_kv_get(t, key, em_meta_key_session(key, a->ino, session), &v, &vl);
	return grc == 0 ? 0 : grc == -ENOENT ? rc : grc;
}

static int truncate_check(struct em_kv_txn *t, const struct em_meta_cred *cr,
			  struct em_meta_attr *a, const struct em_meta_setattr *r, int64_t now)
{
	uint64_t size = r->size;
	if (S_ISDIR(a->mode))
		return -EISDIR;
	if (!S_ISREG(a->mode))
		return -EINVAL;
	if (size > EM_META_MAX_FILE_SIZE)
		return -EFBIG;
	int rc = may_write(t, cr, a, r->session);
	if (rc < 0)
		return rc;
	a->size = size;
	a->mtime_ns = now;
	/* Writing through a file strips set-id bits unless root does it. */
	if (cr->uid != 0)
		em_meta_kill_priv(a);
	return 0;
}

static int killpriv_check(struct em_kv_txn *t, const struct em_meta_cred *cr,
			  struct em_meta_attr *a, uint64_t session)
{
	if (!S_ISREG(a->mode))
		return -EINVAL;
	if (cr->uid == 0)
		return 0;
	int rc = em_meta_is_owner(cr, a) ? 0 : may_write(t, cr, a, session);
	if (rc < 0)
		return rc;
	em_meta_kill_priv(a);
	return 0;
}

static int setattr_fn(struct em_kv_txn *t, void *arg)
{
	struct setattr_ctx *c = arg;
	const struct em_meta_setattr *r = c->req;
	struct em_meta_attr *a = &c->in.a;
	int64_t now = em_meta_now_ns();
	int rc = em_meta_inode_load(t, c->ino, &c->in);

	if (rc < 0)
		return rc;
	if (a->nlink == 0 && !S_ISREG(a->mode))
		return -ENOENT;
	if ((r->valid & EM_SETATTR_SIZE) && (rc = truncate_check(t, c->cr, a, r, now)) < 0)
		return rc;
	if ((r->valid & EM_SETATTR_KILL_PRIV) && (rc = killpriv_check(t, c->cr, a, r->session)) < 0)
		return rc;
	if ((r->valid & (EM_SETATTR_UID | EM_SETATTR_GID)) && (rc = chown_check(c->cr, a, r)) < 0)
		return rc;
	if ((r->valid & EM_SETATTR_MODE) && (rc = chmod_check(c->cr, a, r->mode)) < 0)
		return rc;
	if ((r->valid & (EM_SETATTR_ATIME | EM_SETATTR_MTIME | EM_SETATTR_ATIME_NOW |
			 EM_SETATTR_MTIME_NOW)) &&
	    (rc = times_check(c->cr, a, r, now)) < 0)
		return rc;
	a->ctime_ns = now;
	return em_meta_inode_store(t, &c->in);
}

int em_meta_setattr(struct em_meta *m, const struct em_meta_cred *cr, uint64_t ino,
		    const struct em_meta_setattr *req, struct em_meta_attr *out)
{
	struct setattr_ctx c = { .cr = cr, .ino = ino, .req = req };
	int rc = em_kv_run(m->kv, 0, setattr_fn, &c);
	if (rc == 0 && out)
		*out = c.in.a;
	return rc;
}
