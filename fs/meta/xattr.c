/* Extended attributes, one KV key per attribute ("X" ino name), with the
 * Linux namespace rules: user.* follows the file's permission bits and lives
 * only on regular files and directories, trusted.* is root's, security.* is
 * readable by all and writable by the owner (no LSM here), system.* (ACLs)
 * is not supported. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "fs/meta/internal.h"

enum ns { NS_USER, NS_TRUSTED, NS_SECURITY };

static int resolve(const char *name, size_t *nlen, enum ns *ns)
{
	static const struct {
		const char *prefix;
		enum ns ns;
	} table[] = {
		{ "user.", NS_USER },
		{ "trusted.", NS_TRUSTED },
		{ "security.", NS_SECURITY },
	};
	if (!name)
		return -EINVAL;
	size_t n = strnlen(name, EM_META_XATTR_NAME_MAX + 1);
	if (n == 0 || n > EM_META_XATTR_NAME_MAX)
		return -ERANGE;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		size_t pl = strlen(table[i].prefix);
		if (strncmp(name, table[i].prefix, pl) == 0) {
			if (n == pl)
				return -EINVAL;
			*nlen = n;
			*ns = table[i].ns;
			return 0;
		}
	}
	return -EOPNOTSUPP;
}

static bool user_ok(const struct em_meta_attr *a)
{
	return S_ISREG(a->mode) || S_ISDIR(a->mode);
}

static int may_read(const struct em_meta_cred *cr, const struct em_meta_attr *a, enum ns ns)
{
	switch (ns) {
	case NS_USER:
		if (!user_ok(a))
			return -ENODATA;
		return em_meta_may(cr, a, MAY_READ);
	case NS_TRUSTED:
		return cr->uid == 0 ? 0 : -EPERM;
	case NS_SECURITY:
		return 0;
	}
	return -EOPNOTSUPP;
}

static int may_write(const struct em_meta_cred *cr, const struct em_meta_attr *a, enum ns ns)
{
	switch (ns) {
	case NS_USER:
		if (!user_ok(a))
			return -EPERM;
		/* In a sticky directory only the owner may label it: others
		 * could otherwise fill a shared /tmp's metadata. */
		if (S_ISDIR(a->mode) && (a->mode & S_ISVTX) && !em_meta_is_owner(cr, a))
			return -EPERM;
		return em_meta_may(cr, a, MAY_WRITE);
	case NS_TRUSTED:
		return cr->uid == 0 ? 0 : -EPERM;
	case NS_SECURITY:
		return em_meta_is_owner(cr, a) ? 0 : -EPERM;
	}
	return -EOPNOTSUPP;
}

struct xattr_ctx {
	const struct em_meta_cred *cr;
	uint64_t ino;
	const char *name;
	size_t nlen;
	enum ns ns;
	const void *value;         /* set */
	size_t size;               /* set: value size; get/list: buffer size */
	void *buf;                 /* get/list */
	int flags;
	int result;                /* get/list: full size */
	struct em_meta_inode in;
};

static int get_fn(struct em_kv_txn *t, void *arg)
{
	struct xattr_ctx *c = arg;
	uint8_t key[EM_META_KEY_MAX];
	const void *v;
	size_t vl;
	int rc;

	if ((rc = em_meta_inode_load(t, c->ino, &c->in)) < 0 ||
	    (rc = may_read(c->cr, &c->in.a, c->ns)) < 0)
		return rc;
	rc = em_kv_get(t, key, em_meta_key_xattr(key, c->ino, c->name, c->nlen), &v, &vl);
	if (rc < 0)
		return rc == -ENOENT ? -ENODATA : rc;
	if (c->size && vl > c->size)
		return -ERANGE;
	if (c->size)
		memcpy(c->buf, v, vl);
	c->result = (int)vl;
	return 0;
}

int em_meta_getxattr(struct em_meta *m, const struct em_meta_cred *cr, uint64_t ino,
		     const char *name, void *buf, size_t len)
{
	struct xattr_ctx c = { .cr = cr, .ino = ino, .name = name, .buf = buf, .size = len };
	int rc = resolve(name, &c.nlen, &c.ns);
	if (rc == 0)
		rc = em_kv_run(m->kv, EM_KV_RDONLY, get_fn, &c);
	return rc < 0 ? rc : c.result;
}

static int set_fn(struct em_kv_txn *t, void *arg)
{
	struct xattr_ctx *c = arg;
	uint8_t key[EM_META_KEY_MAX];
	const void *v;
	size_t vl, kl = em_meta_key_xattr(key, c->ino, c->name, c->nlen);
	int rc;

	if ((rc = em_meta_inode_load(t, c->ino, &c->in)) < 0 ||
	    (rc = may_write(c->cr, &c->in.a, c->ns)) < 0)
		return rc;
	rc = em_kv_get(t, key, kl, &v, &vl);
	if (rc < 0 && rc != -ENOENT)
		return rc;
	if (rc == 0 && (c->flags & XATTR_CREATE))
		return -EEXIST;
	if (rc == -ENOENT && (c->flags & XATTR_REPLACE))
		return -ENODATA;
	if (c->value)
		rc = em_kv_set(t, key, kl, c->value, c->size);
	else if (rc == -ENOENT)
		return -ENODATA;
	else
		rc = em_kv_clear(t, key, kl);
	if (rc < 0)
		return rc;
	c->in.a.ctime_ns = em_meta_now_ns();
	return em_meta_inode_store(t, &c->in);
}

int em_meta_setxattr(struct em_meta *m, const struct em_meta_cred *cr, uint64_t ino,
		     const char *name, const void *value, size_t size, int flags)
{
	struct xattr_ctx c = { .cr = cr, .ino = ino, .name = name, .value = value ? value : "",
			       .size = size, .flags = flags };
	if (flags & ~(XATTR_CREATE | XATTR_REPLACE))
		return -EINVAL;
	if (size > EM_META_XATTR_SIZE_MAX)
		return -E2BIG;
	int rc = resolve(name, &c.nlen, &c.ns);
	return rc < 0 ? rc : em_kv_run(m->kv, 0, set_fn, &c);
}

int em_meta_removexattr(struct em_meta *m, const struct em_meta_cred *cr, uint64_t ino,
			const char *name)
{
	struct xattr_ctx c = { .cr = cr, .ino = ino, .name = name };
	int rc = resolve(name, &c.nlen, &c.ns);
	return rc < 0 ? rc : em_kv_run(m->kv, 0, set_fn, &c);
}

static int list_fn(struct em_kv_txn *t, void *arg)
{
	struct xattr_ctx *c = arg;
	uint8_t b[EM_META_KEY_MAX], e[EM_META_KEY_MAX];
	struct em_kv_pair *p;
	size_t n, total = 0, bl, el;
	int rc;

	if ((rc = em_meta_inode_load(t, c->ino, &c->in)) < 0)
		return rc;
	bl = em_meta_key_ino_prefix(b, 'X', c->ino);
	el = em_kv_prefix_end(b, bl, e);
	if ((rc = em_kv_range(t, b, bl, e, el, 0, false, &p, &n)) < 0)
		return rc;
	for (size_t i = 0; i < n; i++) {
		const char *name = (const char *)p[i].key + bl;
		size_t nl = p[i].klen - bl;
		/* Only root sees trusted.* names, as on Linux. */
		if (c->cr->uid != 0 && nl >= 8 && memcmp(name, "trusted.", 8) == 0)
			continue;
		if (c->size) {
			if (total + nl + 1 > c->size)
				return -ERANGE;
			memcpy((char *)c->buf + total, name, nl);
			((char *)c->buf)[total + nl] = 0;
		}
		total += nl + 1;
	}
	c->result = (int)total;
	return 0;
}

int em_meta_listxattr(struct em_meta *m, const struct em_meta_cred *cr, uint64_t ino,
		      char *buf, size_t len)
{
	struct xattr_ctx c = { .cr = cr, .ino = ino, .buf = buf, .size = len };
	int rc = em_kv_run(m->kv, EM_KV_RDONLY, list_fn, &c);
	return rc < 0 ? rc : c.result;
}
