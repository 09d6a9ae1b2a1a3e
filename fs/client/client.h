/* The file-system client library: one mount session of an Ember cluster.
 *
 * A session owns a metadata client (fs/meta/client.h), a view of the routing
 * table from mgmtd (for the list of chains), and a pool of I/O threads, each
 * with its own blocking chain client (fs/chain/client.h is one-per-thread).
 * File I/O is split into chunk pieces (layout.h) that the pool runs in
 * parallel: writes go to the chain's head, reads to its serving replicas;
 * the chain client retries routing changes, stale chain versions, failed
 * targets and "not committed" answers until io_timeout_ms has passed.
 *
 * Durability: a chain write is acknowledged only after every replica
 * committed it, so data is durable when em_fs_write returns; fsync only has
 * to publish the file's length to the metadata service.
 *
 * Errors are POSIX errnos: a piece that still fails at the timeout gives
 * -ETIMEDOUT when the cause was transient (unreachable or offline targets,
 * routing churn) and -EIO otherwise, logged once with the file, chunk and
 * chain. Every function may be called from any thread.
 */
#ifndef EMBER_FS_CLIENT_CLIENT_H
#define EMBER_FS_CLIENT_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "fs/meta/client.h"
#include "fs/meta/meta.h"

struct em_fs_opts {
	const char *const *mgmtd;  /* mgmtd URLs */
	size_t n_mgmtd;
	const char *const *meta;   /* ember-meta URLs; none: a session for chunk
				    * work only (the GC), em_fs_meta() is NULL */
	size_t n_meta;
	const void *secret;        /* the cluster secret */
	size_t secret_len;
	uint32_t io_timeout_ms;    /* per chunk piece, retries included; 0: 60 s */
	uint32_t meta_timeout_ms;  /* per metadata call; 0: 30 s */
	unsigned io_threads;       /* parallel chunk pieces; 0: 8 */
};

struct em_fs;

int em_fs_open(const struct em_fs_opts *o, struct em_fs **out);
/* Every file must have been released. */
void em_fs_close(struct em_fs *fs);
struct em_meta_client *em_fs_meta(struct em_fs *fs);
/* Renew the client's lease from now on even without write sessions: it
 * holds locks, which live as long as the lease. */
void em_fs_keep_alive(struct em_fs *fs);

/* Asks mgmtd for the targets' space (em_routing_space: raw and usable). */
struct em_routing_space;
int em_fs_space(struct em_fs *fs, struct em_routing_space *out);

/* Removes every chunk of a deleted file from every replica: the chunks that
 * length covers and one stripe past it (a writer's last chunks whose length
 * never reached metadata). Idempotent; 0 or the first failure. *removed
 * gets the chunk removals done. stop (may be NULL) is asked between batches
 * of removals: true ends the work early with -ECANCELED. */
int em_fs_remove_file(struct em_fs *fs, uint64_t ino, const struct em_meta_layout *l,
		      uint64_t length, bool (*stop)(void *), void *arg, uint64_t *removed);

/* How far a file's data goes on storage, for a write session whose client
 * died: the chunks from the one holding `known` on are probed a batch of at
 * least a stripe at a time until a batch finds none, and the last chunk
 * found is read for its length. *out is never below known. A chunk written
 * more than a batch of missing chunks past the others is not found. */
int em_fs_recover_length(struct em_fs *fs, uint64_t ino, const struct em_meta_layout *l,
			 uint64_t known, uint64_t *out);

/* An open file: the inode's shared state (size as this mount knows it,
 * layout) and the opener's write session. */
struct em_fs_file;

/* open(2) on an inode. flags: O_ACCMODE, O_TRUNC (the chunks are trimmed
 * before the metadata length drops), O_APPEND. *attr gets the attributes. */
int em_fs_file_open(struct em_fs *fs, const struct em_meta_cred *cr, uint64_t ino, int flags,
		    struct em_fs_file **out, struct em_meta_attr *attr);
/* creat / open(O_CREAT [| O_EXCL]) of name in parent. */
int em_fs_file_create(struct em_fs *fs, const struct em_meta_cred *cr, uint64_t parent,
		      const char *name, uint32_t mode, int flags, struct em_fs_file **out,
		      struct em_meta_attr *attr);
/* Publishes the length (fsync, flush) then ends the write session. */
int em_fs_file_release(struct em_fs *fs, struct em_fs_file *f);
/* Publishes how far this mount wrote, so other clients' open/stat see it. */
int em_fs_file_sync(struct em_fs *fs, struct em_fs_file *f);
uint64_t em_fs_file_ino(const struct em_fs_file *f);
int em_fs_file_flags(const struct em_fs_file *f);
/* The write session the file holds (0: opened read-only). */
uint64_t em_fs_file_session(const struct em_fs_file *f);

/* Reads up to len bytes at off; short only at end of file; holes read as
 * zeros. Returns the byte count or a negative errno. */
ssize_t em_fs_read(struct em_fs *fs, struct em_fs_file *f, void *buf, size_t len, uint64_t off);
/* Writes len bytes at off (for O_APPEND files the caller passes the end of
 * file); the file grows as needed. Returns len or a negative errno (some
 * pieces may have been written). */
ssize_t em_fs_write(struct em_fs *fs, struct em_fs_file *f, const void *buf, size_t len,
		    uint64_t off);
/* Zeros [off, off + len) on storage without changing the size (punch hole):
 * chunks wholly inside are removed, giving their space back. */
int em_fs_punch(struct em_fs *fs, struct em_fs_file *f, uint64_t off, uint64_t len);

/* getattr, with this mount's unpublished writes applied to the size and
 * the cached attributes of a file that is open here but no longer exists
 * in the namespace (unlinked while open, no write session). */
int em_fs_getattr(struct em_fs *fs, const struct em_meta_cred *cr, uint64_t ino,
		  struct em_meta_attr *out);
/* setattr; a size change trims the chunks beyond the new size first. */
int em_fs_setattr(struct em_fs *fs, const struct em_meta_cred *cr, uint64_t ino,
		  const struct em_meta_setattr *req, struct em_meta_attr *out);
/* Applies this mount's view of an open inode to attributes from metadata
 * (lookup, readdirplus). */
void em_fs_fix_attr(struct em_fs *fs, struct em_meta_attr *a);

/* Metadata errors on the wire are POSIX already; chain and transport codes
 * are not. Maps any result to what a system call may return. */
int em_fs_errno(int rc);

#endif
