/* The metadata client's operations: each one's arguments into a request,
 * and its synchronous form (client.h). */
#include <errno.h>
#include <string.h>

#include "fs/meta/client_int.h"

static uint32_t clamp32(size_t v)
{
	return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

/* A string that does not fit the protocol fails here with the errno the
 * operation would give for it. */
static int copy_str(char *dst, size_t cap, const char *s, int too_long)
{
	size_t n = strnlen(s, cap);
	if (n == cap)
		return too_long;
	memcpy(dst, s, n + 1);
	return 0;
}

static int copy_name(char *dst, const char *s)
{
	return copy_str(dst, EM_META_NAME_MAX + 1, s, -ENAMETOOLONG);
}

static int set_value(struct em_meta_call *k, const void *value, size_t size)
{
	if (size > EM_META_XATTR_SIZE_MAX)
		return -E2BIG;
	k->req.value = value;
	k->req.vlen = (uint32_t)size;
	return 0;
}

int em_meta_client_lookup_async(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t parent, const char *name, struct em_meta_attr *out, em_meta_done_fn cb,
		void *arg)
{
	struct em_meta_call *k = em_meta_call_new(c, EM_META_LOOKUP, cr, EM_META_OUT_ATTR, cb, arg);
	if (!k)
		return -ENOMEM;
	int rc = copy_name(k->req.name, name);
	if (rc < 0)
		return em_meta_call_abort(k, rc);
	k->req.ino = parent;
	k->out = out;
	return em_meta_call_submit(k);
}

int em_meta_client_lookup(struct em_meta_client *c, const struct em_meta_cred *cr, uint64_t parent,
		const char *name, struct em_meta_attr *out)
{
	struct em_meta_waiter w;
	int rc = em_meta_waiter_init(c, &w);
	if (rc == 0)
		rc = em_meta_client_lookup_async(c, cr, parent, name, out,
						em_meta_waiter_done, &w);
	return em_meta_waiter_wait(&w, rc);
}

int em_meta_client_getattr_async(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t ino, struct em_meta_attr *out, em_meta_done_fn cb, void *arg)
{
	struct em_meta_call *k = em_meta_call_new(c, EM_META_GETATTR, cr, EM_META_OUT_ATTR, cb, arg);
	if (!k)
		return -ENOMEM;
	k->req.ino = ino;
	k->out = out;
	return em_meta_call_submit(k);
}

int em_meta_client_getattr(struct em_meta_client *c, const struct em_meta_cred *cr, uint64_t ino,
		struct em_meta_attr *out)
{
	struct em_meta_waiter w;
	int rc = em_meta_waiter_init(c, &w);
	if (rc == 0)
		rc = em_meta_client_getattr_async(c, cr, ino, out,
						em_meta_waiter_done, &w);
	return em_meta_waiter_wait(&w, rc);
}

int em_meta_client_setattr_async(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t ino, const struct em_meta_setattr *req, struct em_meta_attr *out,
		em_meta_done_fn cb, void *arg)
{
	struct em_meta_call *k = em_meta_call_new(c, EM_META_SETATTR, cr, EM_META_OUT_ATTR, cb, arg);
	if (!k)
		return -ENOMEM;
	k->req.ino = ino;
	k->req.sa = *req;
	k->out = out;
	return em_meta_call_submit(k);
}

int em_meta_client_setattr(struct em_meta_client *c, const struct em_meta_cred *cr, uint64_t ino,
		const struct em_meta_setattr *req, struct em_meta_attr *out)
{
	struct em_meta_waiter w;
	int rc = em_meta_waiter_init(c, &w);
	if (rc == 0)
		rc = em_meta_client_setattr_async(c, cr, ino, req, out,
						em_meta_waiter_done, &w);
	return em_meta_waiter_wait(&w, rc);
}

int em_meta_client_create_async(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t parent, const char *name, uint32_t mode, int flags, uint64_t client_id,
		struct em_meta_open_res *out, em_meta_done_fn cb, void *arg)
{
	struct em_meta_call *k = em_meta_call_new(c, EM_META_CREATE, cr, EM_META_OUT_OPEN, cb, arg);
	if (!k)
		return -ENOMEM;
	int rc = copy_name(k->req.name, name);
	if (rc < 0)
		return em_meta_call_abort(k, rc);
	k->req.ino = parent;
	k->req.mode = mode;
	k->req.flags = em_meta_flags_to_wire(flags);
	k->req.client = client_id ? client_id : em_meta_client_id(c);
	k->out = out;
	return em_meta_call_submit(k);
}

int em_meta_client_create(struct em_meta_client *c, const struct em_meta_cred *cr, uint64_t parent,
		const char *name, uint32_t mode, int flags, uint64_t client_id,
		struct em_meta_open_res *out)
{
	struct em_meta_waiter w;
	int rc = em_meta_waiter_init(c, &w);
	if (rc == 0)
		rc = em_meta_client_create_async(c, cr, parent, name, mode, flags, client_id, out,
						em_meta_waiter_done, &w);
	return em_meta_waiter_wait(&w, rc);
}

int em_meta_client_open_async(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t ino, int flags, uint64_t client_id, struct em_meta_open_res *out,
		em_meta_done_fn cb, void *arg)
{
	struct em_meta_call *k = em_meta_call_new(c, EM_META_OPEN, cr, EM_META_OUT_OPEN, cb, arg);
	if (!k)
		return -ENOMEM;
	k->req.ino = ino;
	k->req.flags = em_meta_flags_to_wire(flags);
	k->req.client = client_id ? client_id : em_meta_client_id(c);
	k->out = out;
	return em_meta_call_submit(k);
}

int em_meta_client_open(struct em_meta_client *c, const struct em_meta_cred *cr, uint64_t ino,
		int flags, uint64_t client_id, struct em_meta_open_res *out)
{
	struct em_meta_waiter w;
	int rc = em_meta_waiter_init(c, &w);
	if (rc == 0)
		rc = em_meta_client_open_async(c, cr, ino, flags, client_id, out,
						em_meta_waiter_done, &w);
	return em_meta_waiter_wait(&w, rc);
}

int em_meta_client_close_async(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t ino, uint64_t session, uint64_t length, em_meta_done_fn cb, void *arg)
{
	struct em_meta_call *k = em_meta_call_new(c, EM_META_CLOSE, cr, EM_META_OUT_NONE, cb, arg);
	if (!k)
		return -ENOMEM;
	k->req.ino = ino;
	k->req.session = session;
	k->req.length = length;
	return em_meta_call_submit(k);
}

int em_meta_client_close(struct em_meta_client *c, const struct em_meta_cred *cr, uint64_t ino,
		uint64_t session, uint64_t length)
{
	struct em_meta_waiter w;
	int rc = em_meta_waiter_init(c, &w);
	if (rc == 0)
		rc = em_meta_client_close_async(c, cr, ino, session, length,
						em_meta_waiter_done, &w);
	return em_meta_waiter_wait(&w, rc);
}

int em_meta_client_set_length_async(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t ino, uint64_t session, uint64_t length, em_meta_done_fn cb, void *arg)
{
	struct em_meta_call *k = em_meta_call_new(c, EM_META_SET_LENGTH, cr, EM_META_OUT_NONE, cb, arg);
	if (!k)
		return -ENOMEM;
	k->req.ino = ino;
	k->req.session = session;
	k->req.length = length;
	return em_meta_call_submit(k);
}

int em_meta_client_set_length(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t ino, uint64_t session, uint64_t length)
{
	struct em_meta_waiter w;
	int rc = em_meta_waiter_init(c, &w);
	if (rc == 0)
		rc = em_meta_client_set_length_async(c, cr, ino, session, length,
						em_meta_waiter_done, &w);
	return em_meta_waiter_wait(&w, rc);
}

int em_meta_client_mkdir_async(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t parent, const char *name, uint32_t mode, struct em_meta_attr *out,
		em_meta_done_fn cb, void *arg)
{
	struct em_meta_call *k = em_meta_call_new(c, EM_META_MKDIR, cr, EM_META_OUT_ATTR, cb, arg);
	if (!k)
		return -ENOMEM;
	int rc = copy_name(k->req.name, name);
	if (rc < 0)
		return em_meta_call_abort(k, rc);
	k->req.ino = parent;
	k->req.mode = mode;
	k->out = out;
	return em_meta_call_submit(k);
}

int em_meta_client_mkdir(struct em_meta_client *c, const struct em_meta_cred *cr, uint64_t parent,
		const char *name, uint32_t mode, struct em_meta_attr *out)
{
	struct em_meta_waiter w;
	int rc = em_meta_waiter_init(c, &w);
	if (rc == 0)
		rc = em_meta_client_mkdir_async(c, cr, parent, name, mode, out,
						em_meta_waiter_done, &w);
	return em_meta_waiter_wait(&w, rc);
}

int em_meta_client_symlink_async(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t parent, const char *name, const char *target, struct em_meta_attr *out,
		em_meta_done_fn cb, void *arg)
{
	struct em_meta_call *k = em_meta_call_new(c, EM_META_SYMLINK, cr, EM_META_OUT_ATTR, cb, arg);
	if (!k)
		return -ENOMEM;
	int rc = copy_name(k->req.name, name);
	if (rc == 0)
		rc = copy_str(k->req.name2, sizeof(k->req.name2), target, -ENAMETOOLONG);
	if (rc < 0)
		return em_meta_call_abort(k, rc);
	k->req.ino = parent;
	k->out = out;
	return em_meta_call_submit(k);
}

int em_meta_client_symlink(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t parent, const char *name, const char *target, struct em_meta_attr *out)
{
	struct em_meta_waiter w;
	int rc = em_meta_waiter_init(c, &w);
	if (rc == 0)
		rc = em_meta_client_symlink_async(c, cr, parent, name, target, out,
						em_meta_waiter_done, &w);
	return em_meta_waiter_wait(&w, rc);
}

int em_meta_client_link_async(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t ino, uint64_t new_parent, const char *new_name, struct em_meta_attr *out,
		em_meta_done_fn cb, void *arg)
{
	struct em_meta_call *k = em_meta_call_new(c, EM_META_LINK, cr, EM_META_OUT_ATTR, cb, arg);
	if (!k)
		return -ENOMEM;
	int rc = copy_name(k->req.name, new_name);
	if (rc < 0)
		return em_meta_call_abort(k, rc);
	k->req.ino = ino;
	k->req.ino2 = new_parent;
	k->out = out;
	return em_meta_call_submit(k);
}

int em_meta_client_link(struct em_meta_client *c, const struct em_meta_cred *cr, uint64_t ino,
		uint64_t new_parent, const char *new_name, struct em_meta_attr *out)
{
	struct em_meta_waiter w;
	int rc = em_meta_waiter_init(c, &w);
	if (rc == 0)
		rc = em_meta_client_link_async(c, cr, ino, new_parent, new_name, out,
						em_meta_waiter_done, &w);
	return em_meta_waiter_wait(&w, rc);
}

int em_meta_client_unlink_async(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t parent, const char *name, em_meta_done_fn cb, void *arg)
{
	struct em_meta_call *k = em_meta_call_new(c, EM_META_UNLINK, cr, EM_META_OUT_NONE, cb, arg);
	if (!k)
		return -ENOMEM;
	int rc = copy_name(k->req.name, name);
	if (rc < 0)
		return em_meta_call_abort(k, rc);
	k->req.ino = parent;
	return em_meta_call_submit(k);
}

int em_meta_client_unlink(struct em_meta_client *c, const struct em_meta_cred *cr, uint64_t parent,
		const char *name)
{
	struct em_meta_waiter w;
	int rc = em_meta_waiter_init(c, &w);
	if (rc == 0)
		rc = em_meta_client_unlink_async(c, cr, parent, name,
						em_meta_waiter_done, &w);
	return em_meta_waiter_wait(&w, rc);
}

int em_meta_client_rmdir_async(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t parent, const char *name, em_meta_done_fn cb, void *arg)
{
	struct em_meta_call *k = em_meta_call_new(c, EM_META_RMDIR, cr, EM_META_OUT_NONE, cb, arg);
	if (!k)
		return -ENOMEM;
	int rc = copy_name(k->req.name, name);
	if (rc < 0)
		return em_meta_call_abort(k, rc);
	k->req.ino = parent;
	return em_meta_call_submit(k);
}

int em_meta_client_rmdir(struct em_meta_client *c, const struct em_meta_cred *cr, uint64_t parent,
		const char *name)
{
	struct em_meta_waiter w;
	int rc = em_meta_waiter_init(c, &w);
	if (rc == 0)
		rc = em_meta_client_rmdir_async(c, cr, parent, name,
						em_meta_waiter_done, &w);
	return em_meta_waiter_wait(&w, rc);
}

int em_meta_client_rename_async(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t src_parent, const char *src_name, uint64_t dst_parent,
		const char *dst_name, unsigned flags, em_meta_done_fn cb, void *arg)
{
	struct em_meta_call *k = em_meta_call_new(c, EM_META_RENAME, cr, EM_META_OUT_NONE, cb, arg);
	if (!k)
		return -ENOMEM;
	int rc = copy_name(k->req.name, src_name);
	if (rc == 0)
		rc = copy_name(k->req.name2, dst_name);
	if (rc < 0)
		return em_meta_call_abort(k, rc);
	k->req.ino = src_parent;
	k->req.ino2 = dst_parent;
	k->req.flags = flags;
	return em_meta_call_submit(k);
}

int em_meta_client_rename(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t src_parent, const char *src_name, uint64_t dst_parent,
		const char *dst_name, unsigned flags)
{
	struct em_meta_waiter w;
	int rc = em_meta_waiter_init(c, &w);
	if (rc == 0)
		rc = em_meta_client_rename_async(c, cr, src_parent, src_name, dst_parent, dst_name, flags,
						em_meta_waiter_done, &w);
	return em_meta_waiter_wait(&w, rc);
}

int em_meta_client_readlink_async(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t ino, char *buf, size_t len, em_meta_done_fn cb, void *arg)
{
	struct em_meta_call *k = em_meta_call_new(c, EM_META_READLINK, cr, EM_META_OUT_READLINK, cb, arg);
	if (!k)
		return -ENOMEM;
	k->req.ino = ino;
	k->req.max = clamp32(len);
	k->out = buf;
	k->cap = len;
	return em_meta_call_submit(k);
}

int em_meta_client_readlink(struct em_meta_client *c, const struct em_meta_cred *cr, uint64_t ino,
		char *buf, size_t len)
{
	struct em_meta_waiter w;
	int rc = em_meta_waiter_init(c, &w);
	if (rc == 0)
		rc = em_meta_client_readlink_async(c, cr, ino, buf, len,
						em_meta_waiter_done, &w);
	return em_meta_waiter_wait(&w, rc);
}

int em_meta_client_readdir_async(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t ino, const char *after, struct em_meta_dirent *ents, size_t max,
		size_t *n, bool *eof, em_meta_done_fn cb, void *arg)
{
	struct em_meta_call *k = em_meta_call_new(c, EM_META_READDIR, cr, EM_META_OUT_READDIR, cb, arg);
	if (!k)
		return -ENOMEM;
	int rc = copy_str(k->req.name, sizeof(k->req.name), after ? after : "", -ENAMETOOLONG);
	if (rc < 0)
		return em_meta_call_abort(k, rc);
	k->req.ino = ino;
	k->req.max = clamp32(max);
	k->ents = ents;
	k->max = max;
	k->n = n;
	k->eof = eof;
	*n = 0;
	*eof = max == 0;
	return em_meta_call_submit(k);
}

int em_meta_client_readdir(struct em_meta_client *c, const struct em_meta_cred *cr, uint64_t ino,
		const char *after, struct em_meta_dirent *ents, size_t max, size_t *n, bool *eof)
{
	struct em_meta_waiter w;
	int rc = em_meta_waiter_init(c, &w);
	if (rc == 0)
		rc = em_meta_client_readdir_async(c, cr, ino, after, ents, max, n, eof,
						em_meta_waiter_done, &w);
	return em_meta_waiter_wait(&w, rc);
}

int em_meta_client_statfs_async(struct em_meta_client *c, const struct em_meta_cred *cr,
		struct em_meta_statfs *out, em_meta_done_fn cb, void *arg)
{
	struct em_meta_call *k = em_meta_call_new(c, EM_META_STATFS, cr, EM_META_OUT_STATFS, cb, arg);
	if (!k)
		return -ENOMEM;
	k->out = out;
	return em_meta_call_submit(k);
}

int em_meta_client_statfs(struct em_meta_client *c, const struct em_meta_cred *cr,
		struct em_meta_statfs *out)
{
	struct em_meta_waiter w;
	int rc = em_meta_waiter_init(c, &w);
	return em_meta_waiter_wait(
		&w, rc ? rc : em_meta_client_statfs_async(c, cr, out, em_meta_waiter_done, &w));
}

int em_meta_client_getxattr_async(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t ino, const char *name, void *buf, size_t len, em_meta_done_fn cb,
		void *arg)
{
	struct em_meta_call *k = em_meta_call_new(c, EM_META_GETXATTR, cr, EM_META_OUT_BYTES, cb, arg);
	if (!k)
		return -ENOMEM;
	int rc = copy_str(k->req.name, sizeof(k->req.name), name, -ERANGE);
	if (rc < 0)
		return em_meta_call_abort(k, rc);
	k->req.ino = ino;
	k->req.max = clamp32(len);
	k->out = buf;
	k->cap = len;
	return em_meta_call_submit(k);
}

int em_meta_client_getxattr(struct em_meta_client *c, const struct em_meta_cred *cr, uint64_t ino,
		const char *name, void *buf, size_t len)
{
	struct em_meta_waiter w;
	int rc = em_meta_waiter_init(c, &w);
	if (rc == 0)
		rc = em_meta_client_getxattr_async(c, cr, ino, name, buf, len,
						em_meta_waiter_done, &w);
	return em_meta_waiter_wait(&w, rc);
}

int em_meta_client_setxattr_async(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t ino, const char *name, const void *value, size_t size, int flags,
		em_meta_done_fn cb, void *arg)
{
	struct em_meta_call *k = em_meta_call_new(c, EM_META_SETXATTR, cr, EM_META_OUT_NONE, cb, arg);
	if (!k)
		return -ENOMEM;
	int rc = copy_str(k->req.name, sizeof(k->req.name), name, -ERANGE);
	if (rc == 0)
		rc = set_value(k, value, size);
	if (rc < 0)
		return em_meta_call_abort(k, rc);
	k->req.ino = ino;
	k->req.flags = (uint32_t)flags;
	return em_meta_call_submit(k);
}

int em_meta_client_setxattr(struct em_meta_client *c, const struct em_meta_cred *cr, uint64_t ino,
		const char *name, const void *value, size_t size, int flags)
{
	struct em_meta_waiter w;
	int rc = em_meta_waiter_init(c, &w);
	if (rc == 0)
		rc = em_meta_client_setxattr_async(c, cr, ino, name, value, size, flags,
						em_meta_waiter_done, &w);
	return em_meta_waiter_wait(&w, rc);
}

int em_meta_client_listxattr_async(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t ino, char *buf, size_t len, em_meta_done_fn cb, void *arg)
{
	struct em_meta_call *k = em_meta_call_new(c, EM_META_LISTXATTR, cr, EM_META_OUT_BYTES, cb, arg);
	if (!k)
		return -ENOMEM;
	k->req.ino = ino;
	k->req.max = clamp32(len);
	k->out = buf;
	k->cap = len;
	return em_meta_call_submit(k);
}

int em_meta_client_listxattr(struct em_meta_client *c, const struct em_meta_cred *cr, uint64_t ino,
		char *buf, size_t len)
{
	struct em_meta_waiter w;
	int rc = em_meta_waiter_init(c, &w);
	if (rc == 0)
		rc = em_meta_client_listxattr_async(c, cr, ino, buf, len,
						em_meta_waiter_done, &w);
	return em_meta_waiter_wait(&w, rc);
}

int em_meta_client_removexattr_async(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t ino, const char *name, em_meta_done_fn cb, void *arg)
{
	struct em_meta_call *k = em_meta_call_new(c, EM_META_REMOVEXATTR, cr, EM_META_OUT_NONE, cb, arg);
	if (!k)
		return -ENOMEM;
	int rc = copy_str(k->req.name, sizeof(k->req.name), name, -ERANGE);
	if (rc < 0)
		return em_meta_call_abort(k, rc);
	k->req.ino = ino;
	return em_meta_call_submit(k);
}

int em_meta_client_removexattr(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t ino, const char *name)
{
	struct em_meta_waiter w;
	int rc = em_meta_waiter_init(c, &w);
	if (rc == 0)
		rc = em_meta_client_removexattr_async(c, cr, ino, name,
						em_meta_waiter_done, &w);
	return em_meta_waiter_wait(&w, rc);
}

int em_meta_client_gc_list_async(struct em_meta_client *c, struct em_meta_gc_entry *ents,
		size_t max, size_t *n, em_meta_done_fn cb, void *arg)
{
	struct em_meta_call *k = em_meta_call_new(c, EM_META_GC_LIST, NULL, EM_META_OUT_GC, cb, arg);
	if (!k)
		return -ENOMEM;
	k->req.max = clamp32(max);
	k->gc = ents;
	k->max = max;
	k->n = n;
	*n = 0;
	return em_meta_call_submit(k);
}

int em_meta_client_gc_list(struct em_meta_client *c, struct em_meta_gc_entry *ents, size_t max,
		size_t *n)
{
	struct em_meta_waiter w;
	int rc = em_meta_waiter_init(c, &w);
	if (rc == 0)
		rc = em_meta_client_gc_list_async(c, ents, max, n,
						em_meta_waiter_done, &w);
	return em_meta_waiter_wait(&w, rc);
}

int em_meta_client_gc_done_async(struct em_meta_client *c, uint64_t ino, em_meta_done_fn cb,
		void *arg)
{
	struct em_meta_call *k = em_meta_call_new(c, EM_META_GC_DONE, NULL, EM_META_OUT_NONE, cb, arg);
	if (!k)
		return -ENOMEM;
	k->req.ino = ino;
	return em_meta_call_submit(k);
}

int em_meta_client_gc_done(struct em_meta_client *c, uint64_t ino)
{
	struct em_meta_waiter w;
	int rc = em_meta_waiter_init(c, &w);
	return em_meta_waiter_wait(
		&w, rc ? rc : em_meta_client_gc_done_async(c, ino, em_meta_waiter_done, &w));
}
