/* Talking to ember-meta: one function per metadata operation, mirroring
 * fs/meta/meta.h, asynchronous or synchronous.
 *
 * A client owns a reactor thread with its connections (one per server, each
 * authenticated with the cluster secret). Every function may be called from
 * any thread:
 *   em_meta_client_<op>(c, ...)              waits and returns like em_meta_<op>
 *   em_meta_client_<op>_async(c, ..., cb, arg)
 *       returns 0 and later calls cb(arg, status) on the client's reactor
 *       thread, after filling the outputs; or returns a negative errno at
 *       once (then no callback). status is what the synchronous form returns.
 * Outputs and string arguments must stay valid until the callback (strings
 * are copied at once, outputs are written just before the callback).
 * The synchronous forms must not be called from inside a callback.
 *
 * Calls are spread round-robin over the configured servers (they share one
 * store, so any of them answers any call). A call whose server refused the
 * connection or is shutting down is resent to the next one, since it was
 * never executed; a call cut off after it was sent fails with the transport's
 * error (-ECONNRESET, -ETIMEDOUT), because it may or may not have happened.
 *
 * Arguments longer than the protocol allows fail locally with the errno the
 * operation itself would give (-ENAMETOOLONG, -ERANGE, -E2BIG).
 */
#ifndef EMBER_FS_META_CLIENT_H
#define EMBER_FS_META_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fs/meta/meta.h"
#include "net/conn.h"

#define EM_META_CLIENT_MAX_SERVERS 16

struct em_meta_client_opts {
	const char *const *servers;    /* "tcp://IP:PORT" / "rdma://IP:PORT" of ember-meta */
	size_t n_servers;              /* 1..EM_META_CLIENT_MAX_SERVERS */
	const void *secret;            /* the cluster secret */
	size_t secret_len;
	uint32_t timeout_ms;           /* per call attempt; 0: 30 s */
	uint64_t client_id;            /* names write sessions; 0: random */
	const struct em_net_config *net; /* NULL: defaults */
};

struct em_meta_client;

/* Starts the client's reactor thread; connections open on first use. */
int em_meta_connect(const struct em_meta_client_opts *o, struct em_meta_client **out);
/* Every call must have completed. */
void em_meta_disconnect(struct em_meta_client *c);
uint64_t em_meta_client_id(const struct em_meta_client *c);

typedef void (*em_meta_done_fn)(void *arg, int status);

/* One pair per operation of meta.h, same arguments and results. client_id 0
 * in create/open means the client's own id. readdir fills up to max entries,
 * fetching several pages when max is larger than one answer holds; each page
 * is its own transaction, with the cursor guarantee of em_meta_readdir.
 * gc_list and gc_done run as root (uid 0): the GC worker's calls. */

int em_meta_client_lookup(struct em_meta_client *c, const struct em_meta_cred *cr, uint64_t parent,
		const char *name, struct em_meta_attr *out);
int em_meta_client_lookup_async(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t parent, const char *name, struct em_meta_attr *out, em_meta_done_fn cb,
		void *arg);

int em_meta_client_getattr(struct em_meta_client *c, const struct em_meta_cred *cr, uint64_t ino,
		struct em_meta_attr *out);
int em_meta_client_getattr_async(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t ino, struct em_meta_attr *out, em_meta_done_fn cb, void *arg);

int em_meta_client_setattr(struct em_meta_client *c, const struct em_meta_cred *cr, uint64_t ino,
		const struct em_meta_setattr *req, struct em_meta_attr *out);
int em_meta_client_setattr_async(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t ino, const struct em_meta_setattr *req, struct em_meta_attr *out,
		em_meta_done_fn cb, void *arg);

int em_meta_client_create(struct em_meta_client *c, const struct em_meta_cred *cr, uint64_t parent,
		const char *name, uint32_t mode, int flags, uint64_t client_id,
		struct em_meta_open_res *out);
int em_meta_client_create_async(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t parent, const char *name, uint32_t mode, int flags, uint64_t client_id,
		struct em_meta_open_res *out, em_meta_done_fn cb, void *arg);

int em_meta_client_open(struct em_meta_client *c, const struct em_meta_cred *cr, uint64_t ino,
		int flags, uint64_t client_id, struct em_meta_open_res *out);
int em_meta_client_open_async(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t ino, int flags, uint64_t client_id, struct em_meta_open_res *out,
		em_meta_done_fn cb, void *arg);

/* flags: EM_META_WROTE (meta.h). */
int em_meta_client_close(struct em_meta_client *c, const struct em_meta_cred *cr, uint64_t ino,
		uint64_t session, uint64_t length, uint32_t flags);
int em_meta_client_close_async(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t ino, uint64_t session, uint64_t length, uint32_t flags, em_meta_done_fn cb,
		void *arg);

int em_meta_client_set_length(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t ino, uint64_t session, uint64_t length, uint32_t flags);
int em_meta_client_set_length_async(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t ino, uint64_t session, uint64_t length, uint32_t flags, em_meta_done_fn cb,
		void *arg);

int em_meta_client_mkdir(struct em_meta_client *c, const struct em_meta_cred *cr, uint64_t parent,
		const char *name, uint32_t mode, struct em_meta_attr *out);
int em_meta_client_mkdir_async(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t parent, const char *name, uint32_t mode, struct em_meta_attr *out,
		em_meta_done_fn cb, void *arg);

/* mode carries the type: S_IFIFO, S_IFSOCK, S_IFCHR, S_IFBLK or S_IFREG. */
int em_meta_client_mknod(struct em_meta_client *c, const struct em_meta_cred *cr, uint64_t parent,
		const char *name, uint32_t mode, uint64_t rdev, struct em_meta_attr *out);
int em_meta_client_mknod_async(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t parent, const char *name, uint32_t mode, uint64_t rdev,
		struct em_meta_attr *out, em_meta_done_fn cb, void *arg);

int em_meta_client_symlink(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t parent, const char *name, const char *target, struct em_meta_attr *out);
int em_meta_client_symlink_async(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t parent, const char *name, const char *target, struct em_meta_attr *out,
		em_meta_done_fn cb, void *arg);

int em_meta_client_link(struct em_meta_client *c, const struct em_meta_cred *cr, uint64_t ino,
		uint64_t new_parent, const char *new_name, struct em_meta_attr *out);
int em_meta_client_link_async(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t ino, uint64_t new_parent, const char *new_name, struct em_meta_attr *out,
		em_meta_done_fn cb, void *arg);

int em_meta_client_unlink(struct em_meta_client *c, const struct em_meta_cred *cr, uint64_t parent,
		const char *name);
int em_meta_client_unlink_async(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t parent, const char *name, em_meta_done_fn cb, void *arg);

int em_meta_client_rmdir(struct em_meta_client *c, const struct em_meta_cred *cr, uint64_t parent,
		const char *name);
int em_meta_client_rmdir_async(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t parent, const char *name, em_meta_done_fn cb, void *arg);

int em_meta_client_rename(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t src_parent, const char *src_name, uint64_t dst_parent,
		const char *dst_name, unsigned flags);
int em_meta_client_rename_async(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t src_parent, const char *src_name, uint64_t dst_parent,
		const char *dst_name, unsigned flags, em_meta_done_fn cb, void *arg);

int em_meta_client_readlink(struct em_meta_client *c, const struct em_meta_cred *cr, uint64_t ino,
		char *buf, size_t len);
int em_meta_client_readlink_async(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t ino, char *buf, size_t len, em_meta_done_fn cb, void *arg);

int em_meta_client_readdir(struct em_meta_client *c, const struct em_meta_cred *cr, uint64_t ino,
		const char *after, struct em_meta_dirent *ents, size_t max, size_t *n, bool *eof);
int em_meta_client_readdir_async(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t ino, const char *after, struct em_meta_dirent *ents, size_t max,
		size_t *n, bool *eof, em_meta_done_fn cb, void *arg);

int em_meta_client_statfs(struct em_meta_client *c, const struct em_meta_cred *cr,
		struct em_meta_statfs *out);
int em_meta_client_statfs_async(struct em_meta_client *c, const struct em_meta_cred *cr,
		struct em_meta_statfs *out, em_meta_done_fn cb, void *arg);

int em_meta_client_getxattr(struct em_meta_client *c, const struct em_meta_cred *cr, uint64_t ino,
		const char *name, void *buf, size_t len);
int em_meta_client_getxattr_async(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t ino, const char *name, void *buf, size_t len, em_meta_done_fn cb,
		void *arg);

int em_meta_client_setxattr(struct em_meta_client *c, const struct em_meta_cred *cr, uint64_t ino,
		const char *name, const void *value, size_t size, int flags);
int em_meta_client_setxattr_async(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t ino, const char *name, const void *value, size_t size, int flags,
		em_meta_done_fn cb, void *arg);

int em_meta_client_listxattr(struct em_meta_client *c, const struct em_meta_cred *cr, uint64_t ino,
		char *buf, size_t len);
int em_meta_client_listxattr_async(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t ino, char *buf, size_t len, em_meta_done_fn cb, void *arg);

int em_meta_client_removexattr(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t ino, const char *name);
int em_meta_client_removexattr_async(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t ino, const char *name, em_meta_done_fn cb, void *arg);

int em_meta_client_gc_list(struct em_meta_client *c, struct em_meta_gc_entry *ents, size_t max,
		size_t *n);
int em_meta_client_gc_list_async(struct em_meta_client *c, struct em_meta_gc_entry *ents,
		size_t max, size_t *n, em_meta_done_fn cb, void *arg);

int em_meta_client_gc_done(struct em_meta_client *c, uint64_t ino);
int em_meta_client_gc_done_async(struct em_meta_client *c, uint64_t ino, em_meta_done_fn cb,
		void *arg);

/* Keeps this client's write sessions alive (its em_meta_client_id) for
 * *lease_ms from now, as the server grants it. */
int em_meta_client_renew(struct em_meta_client *c, uint32_t *lease_ms);
int em_meta_client_renew_async(struct em_meta_client *c, uint32_t *lease_ms, em_meta_done_fn cb,
		void *arg);

/* em_meta_lock (meta.h) through the service. */
int em_meta_client_lock(struct em_meta_client *c, const struct em_meta_cred *cr, uint64_t ino,
		const struct em_meta_lock *req, struct em_meta_lock_range *conflict);
int em_meta_client_lock_async(struct em_meta_client *c, const struct em_meta_cred *cr,
		uint64_t ino, const struct em_meta_lock *req, struct em_meta_lock_range *conflict,
		em_meta_done_fn cb, void *arg);

#endif
