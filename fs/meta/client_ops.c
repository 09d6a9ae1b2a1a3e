/* The metadata client's operations: each one's arguments into a request.
 * A synchronous form is its _async form with em_meta_sync as the callback,
 * so both forms share one body (client.h). */
#include <errno.h>
#include <string.h>

#include "fs/meta/client_int.h"

static uint32_t clamp32(size_t v)
{
	return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

/* An argument that does not fit the protocol fails the call with the errno
 * the operation would give for it. Like em_enc's, the error is sticky: the
 * first one stays in k->err and em_meta_call_submit fails with it, so each
 * operation lists its arguments without a check after each. */
static void set_str(struct em_meta_call *k, char *dst, size_t cap, const char *s, int too_long)
{
	size_t n = strnlen(s, cap);
	if (n == cap) {
		k->err = k->err ? k->err : too_long;
		return;
	}
	memcpy(dst, s, n + 1);
}

static void set_name(struct em_meta_call *k, char *dst, const char *s)
{
	set_str(k, dst, EM_META_NAME_MAX + 1, s, -ENAMETOOLONG);
}

static void set_value(struct em_meta_call *k, const void *value, size_t size)
{
	if (size > EM_META_XATTR_SIZE_MAX) {
		k->err = k->err ? k->err : -E2BIG;
		return;
	}
	k->req.value = value;
	k->req.vlen = (uint32_t)size;
}

/* An answer of bytes (readlink, getxattr, listxattr): at most len of them
 * into buf, whose full length is the status. */
static void want_bytes(struct em_meta_call *k, void *buf, size_t len)
{
	k->req.max = clamp32(len);
	k->out = buf;
	k->cap = len;
}

/* close and set_length send the same request: only the method differs. */
static int session_call(struct em_meta_client *c, const struct em_meta_cred *cr, uint16_t method,
			uint64_t ino, uint64_t session, uint64_t length, uint32_t flags,
			em_meta_done_fn cb, void *arg)
{
	struct em_meta_call *k = em_meta_call_new(c, method, cr, EM_META_OUT_NONE, cb, arg);
	if (!k)
		return -ENOMEM;
	k->req.ino = ino;
	k->req.session = session;
	k->req.length = length;
	k->req.flags = flags;
	return em_meta_call_submit(k);
}

/* unlink and rmdir: a name in a directory, nothing back. */
static int remove_call(struct em_meta_client *c, const struct em_meta_cred *cr, uint16_t method,
		       uint64_t parent, const char *name, em_meta_done_fn cb, void *arg)
{
	struct em_meta_call *k = em_meta_call_new(c, method, cr, EM_META_OUT_NONE, cb, arg);
	if (!k)
		return -ENOMEM;
	set_name(k, k->req.name, name);
	k->req.ino = parent;
	return em_meta_call_submit(k);
}

/* readlink and listxattr: an inode's bytes, no argument besides. */
static int bytes_call(struct em_meta_client *c, const struct em_meta_cred *cr, uint16_t method,
		      enum em_meta_out kind, uint64_t ino, char *buf, size_t len,
		      em_meta_done_fn cb, void *arg)
{
	struct em_meta_call *k = em_meta_call_new(c, method, cr, kind, cb, arg);
	if (!k)
		return -ENOMEM;
	k->req.ino = ino;
	want_bytes(k, buf, len);
	return em_meta_call_submit(k);
}

int em_meta_client_lookup_async(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t parent, const char *name, struct em_meta_attr *out, em_meta_done_fn cb,
		void *arg)
{
	struct em_meta_call *k = em_meta_call_new(c, EM_META_LOOKUP, cr, EM_META_OUT_ATTR, cb, arg);
	if (!k)
		return -ENOMEM;
	set_name(k, k->req.name, name);
	k->req.ino = parent;
	k->out = out;
	return em_meta_call_submit(k);
}

int em_meta_client_lookup(struct em_meta_client *c, const struct em_meta_cred *cr, uint64_t parent,
		const char *name, struct em_meta_attr *out)
{
	return em_meta_client_lookup_async(c, cr, parent, name, out, em_meta_sync, NULL);
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
	return em_meta_client_getattr_async(c, cr, ino, out, em_meta_sync, NULL);
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
	return em_meta_client_setattr_async(c, cr, ino, req, out, em_meta_sync, NULL);
}

int em_meta_client_create_async(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t parent, const char *name, uint32_t mode, int flags, uint64_t client_id,
		struct em_meta_open_res *out, em_meta_done_fn cb, void *arg)
{
	struct em_meta_call *k = em_meta_call_new(c, EM_META_CREATE, cr, EM_META_OUT_OPEN, cb, arg);
	if (!k)
		return -ENOMEM;
	set_name(k, k->req.name, name);
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
	return em_meta_client_create_async(c, cr, parent, name, mode, flags, client_id, out,
					   em_meta_sync, NULL);
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
	return em_meta_client_open_async(c, cr, ino, flags, client_id, out, em_meta_sync, NULL);
}

int em_meta_client_close_async(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t ino, uint64_t session, uint64_t length, uint32_t flags, em_meta_done_fn cb,
		void *arg)
{
	return session_call(c, cr, EM_META_CLOSE, ino, session, length, flags, cb, arg);
}

int em_meta_client_close(struct em_meta_client *c, const struct em_meta_cred *cr, uint64_t ino,
		uint64_t session, uint64_t length, uint32_t flags)
{
	return em_meta_client_close_async(c, cr, ino, session, length, flags, em_meta_sync, NULL);
}

int em_meta_client_set_length_async(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t ino, uint64_t session, uint64_t length, uint32_t flags, em_meta_done_fn cb,
		void *arg)
{
	return session_call(c, cr, EM_META_SET_LENGTH, ino, session, length, flags, cb, arg);
}

int em_meta_client_set_length(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t ino, uint64_t session, uint64_t length, uint32_t flags)
{
	return em_meta_client_set_length_async(c, cr, ino, session, length, flags, em_meta_sync,
					       NULL);
}

int em_meta_client_mkdir_async(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t parent, const char *name, uint32_t mode, struct em_meta_attr *out,
		em_meta_done_fn cb, void *arg)
{
	struct em_meta_call *k = em_meta_call_new(c, EM_META_MKDIR, cr, EM_META_OUT_ATTR, cb, arg);
	if (!k)
		return -ENOMEM;
	set_name(k, k->req.name, name);
	k->req.ino = parent;
	k->req.mode = mode;
	k->out = out;
	return em_meta_call_submit(k);
}

int em_meta_client_mkdir(struct em_meta_client *c, const struct em_meta_cred *cr, uint64_t parent,
		const char *name, uint32_t mode, struct em_meta_attr *out)
{
	return em_meta_client_mkdir_async(c, cr, parent, name, mode, out, em_meta_sync, NULL);
}

int em_meta_client_mknod_async(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t parent, const char *name, uint32_t mode, uint64_t rdev,
		struct em_meta_attr *out, em_meta_done_fn cb, void *arg)
{
	struct em_meta_call *k = em_meta_call_new(c, EM_META_MKNOD, cr, EM_META_OUT_ATTR, cb, arg);
	if (!k)
		return -ENOMEM;
	set_name(k, k->req.name, name);
	k->req.ino = parent;
	k->req.mode = mode;
	k->req.rdev = rdev;
	k->out = out;
	return em_meta_call_submit(k);
}

int em_meta_client_mknod(struct em_meta_client *c, const struct em_meta_cred *cr, uint64_t parent,
		const char *name, uint32_t mode, uint64_t rdev, struct em_meta_attr *out)
{
	return em_meta_client_mknod_async(c, cr, parent, name, mode, rdev, out, em_meta_sync, NULL);
}

int em_meta_client_symlink_async(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t parent, const char *name, const char *target, struct em_meta_attr *out,
		em_meta_done_fn cb, void *arg)
{
	struct em_meta_call *k = em_meta_call_new(c, EM_META_SYMLINK, cr, EM_META_OUT_ATTR, cb, arg);
	if (!k)
		return -ENOMEM;
	set_name(k, k->req.name, name);
	set_str(k, k->req.name2, sizeof(k->req.name2), target, -ENAMETOOLONG);
	k->req.ino = parent;
	k->out = out;
	return em_meta_call_submit(k);
}

int em_meta_client_symlink(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t parent, const char *name, const char *target, struct em_meta_attr *out)
{
	return em_meta_client_symlink_async(c, cr, parent, name, target, out, em_meta_sync, NULL);
}

int em_meta_client_link_async(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t ino, uint64_t new_parent, const char *new_name, struct em_meta_attr *out,
		em_meta_done_fn cb, void *arg)
{
	struct em_meta_call *k = em_meta_call_new(c, EM_META_LINK, cr, EM_META_OUT_ATTR, cb, arg);
	if (!k)
		return -ENOMEM;
	set_name(k, k->req.name, new_name);
	k->req.ino = ino;
	k->req.ino2 = new_parent;
	k->out = out;
	return em_meta_call_submit(k);
}

int em_meta_client_link(struct em_meta_client *c, const struct em_meta_cred *cr, uint64_t ino,
		uint64_t new_parent, const char *new_name, struct em_meta_attr *out)
{
	return em_meta_client_link_async(c, cr, ino, new_parent, new_name, out, em_meta_sync, NULL);
}

int em_meta_client_unlink_async(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t parent, const char *name, em_meta_done_fn cb, void *arg)
{
	return remove_call(c, cr, EM_META_UNLINK, parent, name, cb, arg);
}

int em_meta_client_unlink(struct em_meta_client *c, const struct em_meta_cred *cr, uint64_t parent,
		const char *name)
{
	return em_meta_client_unlink_async(c, cr, parent, name, em_meta_sync, NULL);
}

int em_meta_client_rmdir_async(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t parent, const char *name, em_meta_done_fn cb, void *arg)
{
	return remove_call(c, cr, EM_META_RMDIR, parent, name, cb, arg);
}

int em_meta_client_rmdir(struct em_meta_client *c, const struct em_meta_cred *cr, uint64_t parent,
		const char *name)
{
	return em_meta_client_rmdir_async(c, cr, parent, name, em_meta_sync, NULL);
}

int em_meta_client_rename_async(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t src_parent, const char *src_name, uint64_t dst_parent,
		const char *dst_name, unsigned flags, em_meta_done_fn cb, void *arg)
{
	struct em_meta_call *k = em_meta_call_new(c, EM_META_RENAME, cr, EM_META_OUT_NONE, cb, arg);
	if (!k)
		return -ENOMEM;
	set_name(k, k->req.name, src_name);
	set_name(k, k->req.name2, dst_name);
	k->req.ino = src_parent;
	k->req.ino2 = dst_parent;
	k->req.flags = flags;
	return em_meta_call_submit(k);
}

int em_meta_client_rename(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t src_parent, const char *src_name, uint64_t dst_parent,
		const char *dst_name, unsigned flags)
{
	return em_meta_client_rename_async(c, cr, src_parent, src_name, dst_parent, dst_name, flags,
					   em_meta_sync, NULL);
}

int em_meta_client_readlink_async(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t ino, char *buf, size_t len, em_meta_done_fn cb, void *arg)
{
	return bytes_call(c, cr, EM_META_READLINK, EM_META_OUT_READLINK, ino, buf, len, cb, arg);
}

int em_meta_client_readlink(struct em_meta_client *c, const struct em_meta_cred *cr, uint64_t ino,
		char *buf, size_t len)
{
	return em_meta_client_readlink_async(c, cr, ino, buf, len, em_meta_sync, NULL);
}

int em_meta_client_readdir_async(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t ino, const char *after, struct em_meta_dirent *ents, size_t max,
		size_t *n, bool *eof, em_meta_done_fn cb, void *arg)
{
	struct em_meta_call *k = em_meta_call_new(c, EM_META_READDIR, cr, EM_META_OUT_READDIR, cb, arg);
	if (!k)
		return -ENOMEM;
	set_str(k, k->req.name, sizeof(k->req.name), after ? after : "", -ENAMETOOLONG);
	k->req.ino = ino;
	k->req.max = clamp32(max);
	k->ents = ents;
	k->max = max;
	k->n = n;
	k->eof = eof;
	return em_meta_call_submit(k);
}

int em_meta_client_readdir(struct em_meta_client *c, const struct em_meta_cred *cr, uint64_t ino,
		const char *after, struct em_meta_dirent *ents, size_t max, size_t *n, bool *eof)
{
	return em_meta_client_readdir_async(c, cr, ino, after, ents, max, n, eof, em_meta_sync, NULL);
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
	return em_meta_client_statfs_async(c, cr, out, em_meta_sync, NULL);
}

int em_meta_client_getxattr_async(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t ino, const char *name, void *buf, size_t len, em_meta_done_fn cb,
		void *arg)
{
	struct em_meta_call *k = em_meta_call_new(c, EM_META_GETXATTR, cr, EM_META_OUT_BYTES, cb, arg);
	if (!k)
		return -ENOMEM;
	set_str(k, k->req.name, sizeof(k->req.name), name, -ERANGE);
	k->req.ino = ino;
	want_bytes(k, buf, len);
	return em_meta_call_submit(k);
}

int em_meta_client_getxattr(struct em_meta_client *c, const struct em_meta_cred *cr, uint64_t ino,
		const char *name, void *buf, size_t len)
{
	return em_meta_client_getxattr_async(c, cr, ino, name, buf, len, em_meta_sync, NULL);
}

int em_meta_client_setxattr_async(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t ino, const char *name, const void *value, size_t size, int flags,
		em_meta_done_fn cb, void *arg)
{
	struct em_meta_call *k = em_meta_call_new(c, EM_META_SETXATTR, cr, EM_META_OUT_NONE, cb, arg);
	if (!k)
		return -ENOMEM;
	set_str(k, k->req.name, sizeof(k->req.name), name, -ERANGE);
	set_value(k, value, size);
	k->req.ino = ino;
	k->req.flags = (uint32_t)flags;
	return em_meta_call_submit(k);
}

int em_meta_client_setxattr(struct em_meta_client *c, const struct em_meta_cred *cr, uint64_t ino,
		const char *name, const void *value, size_t size, int flags)
{
	return em_meta_client_setxattr_async(c, cr, ino, name, value, size, flags, em_meta_sync, NULL);
}

int em_meta_client_listxattr_async(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t ino, char *buf, size_t len, em_meta_done_fn cb, void *arg)
{
	return bytes_call(c, cr, EM_META_LISTXATTR, EM_META_OUT_BYTES, ino, buf, len, cb, arg);
}

int em_meta_client_listxattr(struct em_meta_client *c, const struct em_meta_cred *cr, uint64_t ino,
		char *buf, size_t len)
{
	return em_meta_client_listxattr_async(c, cr, ino, buf, len, em_meta_sync, NULL);
}

int em_meta_client_removexattr_async(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t ino, const char *name, em_meta_done_fn cb, void *arg)
{
	struct em_meta_call *k = em_meta_call_new(c, EM_META_REMOVEXATTR, cr, EM_META_OUT_NONE, cb, arg);
	if (!k)
		return -ENOMEM;
	set_str(k, k->req.name, sizeof(k->req.name), name, -ERANGE);
	k->req.ino = ino;
	return em_meta_call_submit(k);
}

int em_meta_client_removexattr(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t ino, const char *name)
{
	return em_meta_client_removexattr_async(c, cr, ino, name, em_meta_sync, NULL);
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
	return em_meta_call_submit(k);
}

int em_meta_client_gc_list(struct em_meta_client *c, struct em_meta_gc_entry *ents, size_t max,
		size_t *n)
{
	return em_meta_client_gc_list_async(c, ents, max, n, em_meta_sync, NULL);
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
	return em_meta_client_gc_done_async(c, ino, em_meta_sync, NULL);
}

int em_meta_client_renew_async(struct em_meta_client *c, uint32_t *lease_ms, em_meta_done_fn cb,
		void *arg)
{
	struct em_meta_call *k = em_meta_call_new(c, EM_META_RENEW, NULL, EM_META_OUT_U32, cb, arg);
	if (!k)
		return -ENOMEM;
	k->req.client = em_meta_client_id(c);
	k->out = lease_ms;
	return em_meta_call_submit(k);
}

int em_meta_client_renew(struct em_meta_client *c, uint32_t *lease_ms)
{
	return em_meta_client_renew_async(c, lease_ms, em_meta_sync, NULL);
}

int em_meta_client_lock_async(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t ino, const struct em_meta_lock *req, struct em_meta_lock_range *conflict,
		em_meta_done_fn cb, void *arg)
{
	struct em_meta_call *k = em_meta_call_new(c, EM_META_LOCK, cr, EM_META_OUT_LOCK, cb, arg);
	if (!k)
		return -ENOMEM;
	k->req.ino = ino;
	k->req.lock = *req;
	k->out = conflict;
	return em_meta_call_submit(k);
}

int em_meta_client_lock(struct em_meta_client *c, const struct em_meta_cred *cr, uint64_t ino,
		const struct em_meta_lock *req, struct em_meta_lock_range *conflict)
{
	return em_meta_client_lock_async(c, cr, ino, req, conflict, em_meta_sync, NULL);
}
