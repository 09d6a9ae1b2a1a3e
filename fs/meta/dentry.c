/* Directory entries: lookup, creating names (files, directories, symlinks,
 * special files, hard links), removing them (unlink, rmdir), readdir and readlink. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "ember/errors.h"
#include "fs/meta/internal.h"
#include "net/core/log.h"

int em_meta_dentry_load(struct em_kv_txn *t, uint64_t parent, const char *name, size_t nlen,
			struct em_meta_dentry *out)
{
	uint8_t key[EM_META_KEY_MAX];
	const void *v;
	size_t vl;
	int rc = em_kv_get(t, key, em_meta_key_dentry(key, parent, name, nlen), &v, &vl);
	if (rc < 0)
		return rc;
	rc = em_meta_dentry_decode(v, vl, out);
	if (rc < 0)
		EM_ERR("meta", "entry '%.*s' in directory %llu is damaged: %s", (int)nlen, name,
		       (unsigned long long)parent, em_errname(rc));
	return rc;
}

int em_meta_dentry_store(struct em_kv_txn *t, uint64_t parent, const char *name, size_t nlen,
			 const struct em_meta_dentry *d)
{
	uint8_t key[EM_META_KEY_MAX], val[EM_META_DENTRY_LEN];
	return em_kv_set(t, key, em_meta_key_dentry(key, parent, name, nlen), val,
			 em_meta_dentry_encode(d, val));
}

int em_meta_dentry_clear(struct em_kv_txn *t, uint64_t parent, const char *name, size_t nlen)
{
	uint8_t key[EM_META_KEY_MAX];
	return em_kv_clear(t, key, em_meta_key_dentry(key, parent, name, nlen));
}

int em_meta_dir_has_entries(struct em_kv_txn *t, uint64_t dir)
{
	uint8_t b[EM_META_KEY_MAX], e[EM_META_KEY_MAX];
	struct em_kv_pair *p;
	size_t n, bl = em_meta_key_ino_prefix(b, 'D', dir);
	size_t el = em_kv_prefix_end(b, bl, e);
	int rc = em_kv_range(t, b, bl, e, el, 1, false, &p, &n);
	return rc < 0 ? rc : n > 0;
}

static void touch_dir(struct em_meta_inode *dir, int64_t now)
{
	dir->a.mtime_ns = now;
	dir->a.ctime_ns = now;
}

/* --- lookup ---------------------------------------------------------------- */

struct lookup_ctx {
	const struct em_meta_cred *cr;
	uint64_t parent;
	const char *name;
	struct em_meta_inode dir, in;
};

static int lookup_fn(struct em_kv_txn *t, void *arg)
{
	struct lookup_ctx *c = arg;
	struct em_meta_dentry d;
	size_t nlen;
	int rc;

	if ((rc = em_meta_dir_load(t, c->parent, &c->dir)) < 0 ||
	    (rc = em_meta_may(c->cr, &c->dir.a, MAY_EXEC)) < 0)
		return rc;
	if (strcmp(c->name, ".") == 0)
		return em_meta_inode_load(t, c->parent, &c->in);
	if (strcmp(c->name, "..") == 0)
		return em_meta_inode_load(t, c->dir.a.parent, &c->in);
	if ((rc = em_meta_check_name(c->name, &nlen)) < 0 ||
	    (rc = em_meta_dentry_load(t, c->parent, c->name, nlen, &d)) < 0)
		return rc;
	return em_meta_inode_load(t, d.ino, &c->in);
}

int em_meta_lookup(struct em_meta *m, const struct em_meta_cred *cr, uint64_t parent,
		   const char *name, struct em_meta_attr *out)
{
	struct lookup_ctx c = { .cr = cr, .parent = parent, .name = name };
	if (!name)
		return -EINVAL;
	int rc = em_kv_run(m->kv, EM_KV_RDONLY, lookup_fn, &c);
	if (rc == 0)
		*out = c.in.a;
	return rc;
}

/* --- creating names -------------------------------------------------------- */

struct mknod_ctx {
	struct em_meta *m;
	const struct em_meta_cred *cr;
	uint64_t parent, ino;
	const char *name;
	size_t nlen;
	uint32_t mode;
	uint64_t rdev;
	const char *target;
	size_t tlen;
	bool is_create;            /* em_meta_create: open an existing file */
	int flags;
	uint64_t client_id;
	struct em_meta_inode dir, in;
	struct em_meta_open_res res;
};

/* Ownership of a new inode, with the setgid-directory rule: inside a setgid
 * directory new inodes take the directory's group, and new directories stay
 * setgid so the rule propagates. */
static void init_owner(const struct em_meta_cred *cr, const struct em_meta_attr *dir,
		       struct em_meta_attr *a)
{
	a->uid = cr->uid;
	if (dir->mode & S_ISGID) {
		a->gid = dir->gid;
		if (S_ISDIR(a->mode))
			a->mode |= S_ISGID;
	} else {
		a->gid = cr->gid;
	}
	/* A setgid file for a group its creator is not in would grant that
	 * group's powers to anyone running it. */
	if (!S_ISDIR(a->mode) && (a->mode & S_ISGID) && (a->mode & S_IXGRP) && cr->uid != 0 &&
	    !em_meta_in_group(cr, a->gid))
		a->mode &= ~(uint32_t)S_ISGID;
}

static int mknod_fn(struct em_kv_txn *t, void *arg)
{
	struct mknod_ctx *c = arg;
	struct em_meta_attr *a = &c->in.a, *dir = &c->dir.a;
	struct em_meta_dentry d;
	int64_t now = em_meta_now_ns();
	int rc;

	memset(&c->res, 0, sizeof(c->res));
	if ((rc = em_meta_dir_load(t, c->parent, &c->dir)) < 0 ||
	    (rc = em_meta_may(c->cr, dir, MAY_EXEC)) < 0)
		return rc;
	if (em_meta_is_dot(c->name))
		return -EEXIST;
	rc = em_meta_dentry_load(t, c->parent, c->name, c->nlen, &d);
	if (rc == 0) {
		if (!c->is_create || (c->flags & O_EXCL))
			return -EEXIST;
		if ((rc = em_meta_inode_load(t, d.ino, &c->in)) < 0)
			return rc;
		return em_meta_open_inode(t, c->cr, &c->in, c->flags, c->client_id,
					  c->m->opts.session_lease_ms, false, &c->res);
	}
	if (rc != -ENOENT)
		return rc;
	if ((rc = em_meta_may(c->cr, dir, MAY_WRITE | MAY_EXEC)) < 0)
		return rc;

	memset(&c->in, 0, sizeof(c->in));
	a->ino = c->ino;
	a->mode = c->mode;
	a->atime_ns = a->mtime_ns = a->ctime_ns = now;
	init_owner(c->cr, dir, a);
	a->layout = dir->layout;
	if (S_ISDIR(a->mode)) {
		if (dir->nlink >= EM_META_LINK_MAX)
			return -EMLINK;
		a->nlink = 2;
		a->parent = c->parent;
		dir->nlink++;
	} else if (S_ISLNK(a->mode)) {
		a->nlink = 1;
		a->size = c->tlen;
		memset(&a->layout, 0, sizeof(a->layout));
		c->in.tlen = (uint16_t)c->tlen;
		memcpy(c->in.target, c->target, c->tlen);
	} else if (!S_ISREG(a->mode)) {
		/* FIFOs, sockets and device nodes hold no data. */
		a->nlink = 1;
		a->rdev = c->rdev;
		memset(&a->layout, 0, sizeof(a->layout));
	} else {
		a->nlink = 1;
		/* Files start on successive chains so load spreads. */
		a->layout.first_chain = em_meta_next_chain(c->m);
		a->layout.seed = c->ino;
	}
	touch_dir(&c->dir, now);
	d = (struct em_meta_dentry){ c->ino, (uint8_t)em_meta_type_of_mode(a->mode) };
	if ((rc = em_meta_dentry_store(t, c->parent, c->name, c->nlen, &d)) < 0 ||
	    (rc = em_meta_inode_store(t, &c->dir)) < 0)
		return rc;
	if (c->is_create)
		return em_meta_open_inode(t, c->cr, &c->in, c->flags & ~O_TRUNC,
					  c->client_id, c->m->opts.session_lease_ms, true, &c->res);
	return em_meta_inode_store(t, &c->in);
}

static int make_node(struct mknod_ctx *c)
{
	int rc = em_meta_check_name(c->name, &c->nlen);
	if (rc < 0)
		return rc;
	if ((rc = em_meta_alloc_ino(c->m, &c->ino)) < 0)
		return rc;
	return em_kv_run(c->m->kv, 0, mknod_fn, c);
}

int em_meta_create(struct em_meta *m, const struct em_meta_cred *cr, uint64_t parent,
		   const char *name, uint32_t mode, int flags, uint64_t client_id,
		   struct em_meta_open_res *out)
{
	struct mknod_ctx c = {
		.m = m, .cr = cr, .parent = parent, .name = name,
		.mode = S_IFREG | (mode & 07777), .is_create = true, .flags = flags,
		.client_id = client_id,
	};
	int rc = make_node(&c);
	if (rc == 0)
		*out = c.res;
	return rc;
}

int em_meta_mkdir(struct em_meta *m, const struct em_meta_cred *cr, uint64_t parent,
		  const char *name, uint32_t mode, struct em_meta_attr *out)
{
	struct mknod_ctx c = {
		.m = m, .cr = cr, .parent = parent, .name = name,
		.mode = S_IFDIR | (mode & 07777),
	};
	int rc = make_node(&c);
	if (rc == 0 && out)
		*out = c.in.a;
	return rc;
}

int em_meta_mknod(struct em_meta *m, const struct em_meta_cred *cr, uint64_t parent,
		  const char *name, uint32_t mode, uint64_t rdev, struct em_meta_attr *out)
{
	struct mknod_ctx c = { .m = m, .cr = cr, .parent = parent, .name = name,
			       .mode = mode & (S_IFMT | 07777) };
	switch (mode & S_IFMT) {
	case S_IFREG:
	case S_IFIFO:
	case S_IFSOCK:
		break;
	case S_IFCHR:
	case S_IFBLK:
		if (cr->uid != 0)
			return -EPERM;
		c.rdev = rdev;
		break;
	default:
		return -EINVAL;
	}
	int rc = make_node(&c);
	if (rc == 0 && out)
		*out = c.in.a;
	return rc;
}

int em_meta_symlink(struct em_meta *m, const struct em_meta_cred *cr, uint64_t parent,
		    const char *name, const char *target, struct em_meta_attr *out)
{
	struct mknod_ctx c = {
		.m = m, .cr = cr, .parent = parent, .name = name,
		.mode = S_IFLNK | 0777, .target = target,
	};
	if (!target)
		return -EINVAL;
	c.tlen = strnlen(target, EM_META_SYMLINK_MAX + 1);
	if (c.tlen == 0)
		return -ENOENT;
	if (c.tlen > EM_META_SYMLINK_MAX)
		return -ENAMETOOLONG;
	int rc = make_node(&c);
	if (rc == 0 && out)
		*out = c.in.a;
	return rc;
}

struct link_ctx {
	const struct em_meta_cred *cr;
	uint64_t ino, parent;
	const char *name;
	size_t nlen;
	struct em_meta_inode dir, in;
};

static int link_fn(struct em_kv_txn *t, void *arg)
{
	struct link_ctx *c = arg;
	struct em_meta_dentry d;
	int64_t now = em_meta_now_ns();
	int rc;

	if ((rc = em_meta_inode_load(t, c->ino, &c->in)) < 0)
		return rc;
	if (S_ISDIR(c->in.a.mode))
		return -EPERM;
	if (c->in.a.nlink == 0)
		return -ENOENT;
	if ((rc = em_meta_dir_load(t, c->parent, &c->dir)) < 0 ||
	    (rc = em_meta_may(c->cr, &c->dir.a, MAY_EXEC)) < 0)
		return rc;
	if (em_meta_is_dot(c->name))
		return -EEXIST;
	rc = em_meta_dentry_load(t, c->parent, c->name, c->nlen, &d);
	if (rc == 0)
		return -EEXIST;
	if (rc != -ENOENT)
		return rc;
	if ((rc = em_meta_may(c->cr, &c->dir.a, MAY_WRITE | MAY_EXEC)) < 0)
		return rc;
	if (c->in.a.nlink >= EM_META_LINK_MAX)
		return -EMLINK;
	c->in.a.nlink++;
	c->in.a.ctime_ns = now;
	touch_dir(&c->dir, now);
	d = (struct em_meta_dentry){ c->ino, (uint8_t)em_meta_type_of_mode(c->in.a.mode) };
	if ((rc = em_meta_dentry_store(t, c->parent, c->name, c->nlen, &d)) < 0 ||
	    (rc = em_meta_inode_store(t, &c->dir)) < 0)
		return rc;
	return em_meta_inode_store(t, &c->in);
}

int em_meta_link(struct em_meta *m, const struct em_meta_cred *cr, uint64_t ino,
		 uint64_t new_parent, const char *new_name, struct em_meta_attr *out)
{
	struct link_ctx c = { .cr = cr, .ino = ino, .parent = new_parent, .name = new_name };
	int rc = em_meta_check_name(new_name, &c.nlen);
	if (rc < 0)
		return rc;
	rc = em_kv_run(m->kv, 0, link_fn, &c);
	if (rc == 0 && out)
		*out = c.in.a;
	return rc;
}

/* --- removing names -------------------------------------------------------- */

struct remove_ctx {
	const struct em_meta_cred *cr;
	uint64_t parent;
	const char *name;
	size_t nlen;
	bool dir_wanted;           /* rmdir */
	struct em_meta_inode dir, in;
};

static int remove_fn(struct em_kv_txn *t, void *arg)
{
	struct remove_ctx *c = arg;
	struct em_meta_dentry d;
	int64_t now = em_meta_now_ns();
	int rc;

	if ((rc = em_meta_dir_load(t, c->parent, &c->dir)) < 0 ||
	    (rc = em_meta_may(c->cr, &c->dir.a, MAY_EXEC)) < 0)
		return rc;
	if ((rc = em_meta_dentry_load(t, c->parent, c->name, c->nlen, &d)) < 0 ||
	    (rc = em_meta_may(c->cr, &c->dir.a, MAY_WRITE | MAY_EXEC)) < 0 ||
	    (rc = em_meta_inode_load(t, d.ino, &c->in)) < 0 ||
	    (rc = em_meta_may_delete(c->cr, &c->dir.a, &c->in.a)) < 0)
		return rc;
	if (c->dir_wanted && !S_ISDIR(c->in.a.mode))
		return -ENOTDIR;
	if (!c->dir_wanted && S_ISDIR(c->in.a.mode))
		return -EISDIR;
	if ((rc = em_meta_dentry_clear(t, c->parent, c->name, c->nlen)) < 0)
		return rc;
	touch_dir(&c->dir, now);
	if (c->dir_wanted) {
		rc = em_meta_dir_has_entries(t, c->in.a.ino);
		if (rc != 0)
			return rc < 0 ? rc : -ENOTEMPTY;
		c->dir.a.nlink--;
		rc = em_meta_inode_destroy(t, &c->in);
	} else {
		rc = em_meta_inode_unlink(t, &c->in, now);
	}
	return rc < 0 ? rc : em_meta_inode_store(t, &c->dir);
}

static int remove_name(struct em_meta *m, struct remove_ctx *c)
{
	int rc = em_meta_check_name(c->name, &c->nlen);
	if (rc < 0)
		return rc;
	return em_kv_run(m->kv, 0, remove_fn, c);
}

int em_meta_unlink(struct em_meta *m, const struct em_meta_cred *cr, uint64_t parent,
		   const char *name)
{
	struct remove_ctx c = { .cr = cr, .parent = parent, .name = name };
	if (name && em_meta_is_dot(name))
		return -EISDIR;
	return remove_name(m, &c);
}

int em_meta_rmdir(struct em_meta *m, const struct em_meta_cred *cr, uint64_t parent,
		  const char *name)
{
	struct remove_ctx c = { .cr = cr, .parent = parent, .name = name, .dir_wanted = true };
	if (name && strcmp(name, ".") == 0)
		return -EINVAL;
	if (name && strcmp(name, "..") == 0)
		return -ENOTEMPTY;
	return remove_name(m, &c);
}

/* --- reading ----------------------------------------------------------------- */

struct readdir_ctx {
	const struct em_meta_cred *cr;
	uint64_t ino;
	const char *after;
	size_t alen;
	struct em_meta_dirent *ents;
	size_t max, n;
	bool eof;
	struct em_meta_inode dir;
};

static uint32_t dirent_type(uint8_t t)
{
	switch (t) {
	case EM_META_T_DIR:
		return DT_DIR;
	case EM_META_T_SYMLINK:
		return DT_LNK;
	case EM_META_T_FIFO:
		return DT_FIFO;
	case EM_META_T_CHR:
		return DT_CHR;
	case EM_META_T_BLK:
		return DT_BLK;
	case EM_META_T_SOCK:
		return DT_SOCK;
	default:
		return DT_REG;
	}
}

static int readdir_fn(struct em_kv_txn *t, void *arg)
{
	struct readdir_ctx *c = arg;
	uint8_t b[EM_META_KEY_MAX + 1], e[EM_META_KEY_MAX];
	struct em_kv_pair *p;
	size_t n, bl, el;
	int rc;

	if ((rc = em_meta_dir_load(t, c->ino, &c->dir)) < 0 ||
	    (rc = em_meta_may(c->cr, &c->dir.a, MAY_READ)) < 0)
		return rc;
	el = em_kv_prefix_end(b, em_meta_key_ino_prefix(b, 'D', c->ino), e);
	/* Resume strictly after the cursor: the next possible key is the
	 * cursor's key followed by a zero byte. Keys are names in byte order,
	 * so entries created or removed meanwhile never shift the position. */
	bl = em_meta_key_dentry(b, c->ino, c->after, c->alen);
	if (c->alen)
		b[bl++] = 0;
	/* One extra entry tells whether anything follows. */
	rc = em_kv_range(t, b, bl, e, el, c->max + 1, false, &p, &n);
	if (rc < 0)
		return rc;
	c->eof = n <= c->max;
	c->n = 0;
	for (size_t i = 0; i < n && c->n < c->max; i++) {
		struct em_meta_dentry d;
		size_t nlen = p[i].klen - 9;
		rc = em_meta_dentry_decode(p[i].val, p[i].vlen, &d);
		if (rc < 0 || nlen == 0 || nlen > EM_META_NAME_MAX) {
			EM_ERR("meta", "directory %llu has a damaged entry", (unsigned long long)c->ino);
			return rc < 0 ? rc : -EUCLEAN;
		}
		struct em_meta_dirent *de = &c->ents[c->n++];
		de->ino = d.ino;
		de->type = dirent_type(d.type);
		memcpy(de->name, (const char *)p[i].key + 9, nlen);
		de->name[nlen] = 0;
	}
	return 0;
}

int em_meta_readdir(struct em_meta *m, const struct em_meta_cred *cr, uint64_t ino,
		    const char *after, struct em_meta_dirent *ents, size_t max, size_t *n,
		    bool *eof)
{
	struct readdir_ctx c = { .cr = cr, .ino = ino, .after = after ? after : "", .ents = ents,
				 .max = max };
	*n = 0;
	*eof = false;
	if (max == 0)
		return -EINVAL;
	c.alen = strnlen(c.after, EM_META_NAME_MAX + 1);
	if (c.alen > EM_META_NAME_MAX)
		return -ENAMETOOLONG;
	int rc = em_kv_run(m->kv, EM_KV_RDONLY, readdir_fn, &c);
	if (rc == 0) {
		*n = c.n;
		*eof = c.eof;
	}
	return rc;
}

struct readlink_ctx {
	uint64_t ino;
	struct em_meta_inode in;
};

static int readlink_fn(struct em_kv_txn *t, void *arg)
{
	struct readlink_ctx *c = arg;
	return em_meta_inode_load(t, c->ino, &c->in);
}

int em_meta_readlink(struct em_meta *m, const struct em_meta_cred *cr, uint64_t ino,
		     char *buf, size_t len)
{
	struct readlink_ctx c = { .ino = ino };
	int rc = em_kv_run(m->kv, EM_KV_RDONLY, readlink_fn, &c);
	if (rc < 0)
		return rc;
	if (!S_ISLNK(c.in.a.mode))
		return -EINVAL;
	if (len)
		snprintf(buf, len, "%s", c.in.target);
	return c.in.tlen;
}
