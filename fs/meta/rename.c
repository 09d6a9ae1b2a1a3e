/* rename(2) with RENAME_NOREPLACE and RENAME_EXCHANGE, atomic because it is
 * one serializable transaction: every read below (both entries, both
 * directories, the ancestor walk) joins the conflict set, so a concurrent
 * rename that would create a loop cannot commit alongside this one. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fs/meta/internal.h"

/* Deeper than any real tree; reaching it means the parent chain loops. */
#define MAX_DEPTH 4096

struct rename_ctx {
	const struct em_meta_cred *cr;
	uint64_t sp, dp;
	const char *sn, *dn;
	size_t snl, dnl;
	unsigned flags;
	struct em_meta_inode sdir, ddir_own, src, dst, walk;
};

/* EINVAL when dir would move into itself or below itself: walk from the new
 * parent up to the root through the directories' parent fields. */
static int check_loop(struct em_kv_txn *t, struct em_meta_inode *tmp, uint64_t dir,
		      uint64_t new_parent)
{
	uint64_t cur = new_parent;
	for (int depth = 0; depth < MAX_DEPTH; depth++) {
		if (cur == dir)
			return -EINVAL;
		if (cur == EM_META_ROOT_INO)
			return 0;
		int rc = em_meta_inode_load(t, cur, tmp);
		if (rc < 0)
			return rc;
		cur = tmp->a.parent;
	}
	return -ELOOP;
}

static int rename_fn(struct em_kv_txn *t, void *arg)
{
	struct rename_ctx *c = arg;
	struct em_meta_inode *sdir = &c->sdir, *ddir = &c->ddir_own;
	struct em_meta_inode *src = &c->src, *dst = &c->dst;
	struct em_meta_dentry sd, dd;
	bool exchange = c->flags & RENAME_EXCHANGE, have_dst, moved = c->sp != c->dp;
	int64_t now = em_meta_now_ns();
	int rc;

	if ((rc = em_meta_dir_load(t, c->sp, sdir)) < 0)
		return rc;
	/* One directory, one copy: both roles must see the same updates. */
	if (!moved)
		ddir = sdir;
	else if ((rc = em_meta_dir_load(t, c->dp, ddir)) < 0)
		return rc;
	if ((rc = em_meta_may(c->cr, &sdir->a, MAY_EXEC)) < 0 ||
	    (rc = em_meta_may(c->cr, &ddir->a, MAY_EXEC)) < 0)
		return rc;
	if ((rc = em_meta_dentry_load(t, c->sp, c->sn, c->snl, &sd)) < 0 ||
	    (rc = em_meta_inode_load(t, sd.ino, src)) < 0)
		return rc;
	rc = em_meta_dentry_load(t, c->dp, c->dn, c->dnl, &dd);
	if (rc < 0 && rc != -ENOENT)
		return rc;
	have_dst = rc == 0;
	if (exchange && !have_dst)
		return -ENOENT;
	if ((c->flags & RENAME_NOREPLACE) && have_dst)
		return -EEXIST;
	/* Two names of one inode: POSIX says do nothing and succeed. */
	if (have_dst && dd.ino == sd.ino)
		return 0;
	if (have_dst && (rc = em_meta_inode_load(t, dd.ino, dst)) < 0)
		return rc;

	bool sdir_is = S_ISDIR(src->a.mode), ddir_is = have_dst && S_ISDIR(dst->a.mode);
	if (sdir_is && moved && (rc = check_loop(t, &c->walk, src->a.ino, c->dp)) < 0)
		return rc;
	if (exchange && ddir_is && moved && (rc = check_loop(t, &c->walk, dst->a.ino, c->sp)) < 0)
		return rc;

	if ((rc = em_meta_may(c->cr, &sdir->a, MAY_WRITE | MAY_EXEC)) < 0 ||
	    (rc = em_meta_may(c->cr, &ddir->a, MAY_WRITE | MAY_EXEC)) < 0 ||
	    (rc = em_meta_may_delete(c->cr, &sdir->a, &src->a)) < 0)
		return rc;
	if (have_dst && (rc = em_meta_may_delete(c->cr, &ddir->a, &dst->a)) < 0)
		return rc;
	/* A directory changing parent rewrites its "..": that is a write to
	 * the directory itself. */
	if (sdir_is && moved && (rc = em_meta_may(c->cr, &src->a, MAY_WRITE)) < 0)
		return rc;
	if (exchange && ddir_is && moved && (rc = em_meta_may(c->cr, &dst->a, MAY_WRITE)) < 0)
		return rc;

	if (have_dst && !exchange) {
		if (sdir_is && !ddir_is)
			return -ENOTDIR;
		if (!sdir_is && ddir_is)
			return -EISDIR;
		if (ddir_is) {
			rc = em_meta_dir_has_entries(t, dst->a.ino);
			if (rc != 0)
				return rc < 0 ? rc : -ENOTEMPTY;
		}
	}

	struct em_meta_dentry src_entry = { src->a.ino, sd.type };
	if (exchange) {
		struct em_meta_dentry dst_entry = { dst->a.ino, dd.type };
		if ((rc = em_meta_dentry_store(t, c->sp, c->sn, c->snl, &dst_entry)) < 0)
			return rc;
		if (ddir_is && moved) {
			ddir->a.nlink--;
			sdir->a.nlink++;
			dst->a.parent = c->sp;
		}
		dst->a.ctime_ns = now;
		if ((rc = em_meta_inode_store(t, dst)) < 0)
			return rc;
	} else {
		if ((rc = em_meta_dentry_clear(t, c->sp, c->sn, c->snl)) < 0)
			return rc;
		if (have_dst && ddir_is) {
			ddir->a.nlink--;
			rc = em_meta_inode_destroy(t, dst);
		} else if (have_dst) {
			rc = em_meta_inode_unlink(t, dst, now);
		}
		if (rc < 0)
			return rc;
	}
	if ((rc = em_meta_dentry_store(t, c->dp, c->dn, c->dnl, &src_entry)) < 0)
		return rc;
	if (sdir_is && moved) {
		sdir->a.nlink--;
		ddir->a.nlink++;
		src->a.parent = c->dp;
	}
	src->a.ctime_ns = now;
	sdir->a.mtime_ns = sdir->a.ctime_ns = now;
	ddir->a.mtime_ns = ddir->a.ctime_ns = now;
	if ((rc = em_meta_inode_store(t, src)) < 0 || (rc = em_meta_inode_store(t, sdir)) < 0)
		return rc;
	return moved ? em_meta_inode_store(t, ddir) : 0;
}

int em_meta_rename(struct em_meta *m, const struct em_meta_cred *cr, uint64_t src_parent,
		   const char *src_name, uint64_t dst_parent, const char *dst_name,
		   unsigned flags)
{
	struct rename_ctx *c;
	int rc;

	if (flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE))
		return -EINVAL;
	if ((flags & RENAME_NOREPLACE) && (flags & RENAME_EXCHANGE))
		return -EINVAL;
	if (!src_name || !dst_name)
		return -EINVAL;
	/* "." and ".." name the directories themselves, never entries. */
	if (em_meta_is_dot(src_name) || em_meta_is_dot(dst_name))
		return (flags & RENAME_NOREPLACE) && em_meta_is_dot(dst_name) ? -EEXIST : -EBUSY;

	/* Five inodes with symlink buffers: too big for a server thread's
	 * stack to take lightly. */
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->cr = cr;
	c->sp = src_parent;
	c->dp = dst_parent;
	c->sn = src_name;
	c->dn = dst_name;
	c->flags = flags;
	if ((rc = em_meta_check_name(src_name, &c->snl)) == 0 &&
	    (rc = em_meta_check_name(dst_name, &c->dnl)) == 0)
		rc = em_kv_run(m->kv, 0, rename_fn, c);
	free(c);
	return rc;
}
