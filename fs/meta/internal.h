/* Shared internals of fs/meta: the service handle and the helpers every
 * operation uses inside its KV transaction. */
#ifndef EMBER_FS_META_INTERNAL_H
#define EMBER_FS_META_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>

#include "fs/kv/kv.h"
#include "fs/meta/meta.h"
#include "fs/meta/record.h"

struct em_meta {
	struct em_kv *kv;
	struct em_meta_options opts;
	pthread_mutex_t mu;
	uint64_t next_ino, end_ino;     /* reserved, unused ids: [next, end) */
	uint32_t next_chain;            /* round-robin first chain */
	/* Usable bytes as last reported (em_meta_set_space); under mu.
	 * space_known false: statfs reports opts.capacity_bytes. */
	bool space_known;
	uint64_t space_total, space_free;
};

/* Permission bits for em_meta_may(). */
#define MAY_READ 4
#define MAY_WRITE 2
#define MAY_EXEC 1

bool em_meta_in_group(const struct em_meta_cred *cr, uint32_t gid);
int em_meta_may(const struct em_meta_cred *cr, const struct em_meta_attr *a, int mask);
/* Sticky directory: only the owner of the entry, of the directory, or root
 * may remove or rename it. */
int em_meta_may_delete(const struct em_meta_cred *cr, const struct em_meta_attr *dir,
		       const struct em_meta_attr *victim);
bool em_meta_is_owner(const struct em_meta_cred *cr, const struct em_meta_attr *a);

/* Name checks: ENOENT when empty, ENAMETOOLONG, EINVAL for '/'. */
int em_meta_check_name(const char *name, size_t *nlen);
bool em_meta_is_dot(const char *name);      /* "." or ".." */

int64_t em_meta_now_ns(void);

/* Reserves an inode id outside any transaction (ids are never reused; a
 * failed operation just leaves a gap). */
int em_meta_alloc_ino(struct em_meta *m, uint64_t *ino);
uint32_t em_meta_next_chain(struct em_meta *m);

int em_meta_inode_load(struct em_kv_txn *t, uint64_t ino, struct em_meta_inode *out);
int em_meta_inode_store(struct em_kv_txn *t, const struct em_meta_inode *in);
/* A directory to work in: ENOENT if missing or being removed, ENOTDIR. */
int em_meta_dir_load(struct em_kv_txn *t, uint64_t ino, struct em_meta_inode *out);
/* The inode is gone: remove it and its xattrs; files go to the GC queue. */
int em_meta_inode_destroy(struct em_kv_txn *t, const struct em_meta_inode *in);
/* Drops one link (after its dentry is gone): destroys the inode at zero
 * links unless write sessions hold it, in which case it becomes an orphan
 * until the last close. */
int em_meta_inode_unlink(struct em_kv_txn *t, struct em_meta_inode *in, int64_t now);
/* Removes every lock on ino (the inode is gone). */
int em_meta_locks_destroy(struct em_kv_txn *t, uint64_t ino);
/* 1 if any write session is open on ino, 0 if none. */
int em_meta_has_sessions(struct em_kv_txn *t, uint64_t ino);
/* What a write by one without CAP_FSETID does to the mode: setuid goes,
 * setgid too when group execute is set. */
void em_meta_kill_priv(struct em_meta_attr *a);

int em_meta_dentry_load(struct em_kv_txn *t, uint64_t parent, const char *name, size_t nlen,
			struct em_meta_dentry *out);
int em_meta_dentry_store(struct em_kv_txn *t, uint64_t parent, const char *name, size_t nlen,
			 const struct em_meta_dentry *d);
int em_meta_dentry_clear(struct em_kv_txn *t, uint64_t parent, const char *name, size_t nlen);
/* 1 if the directory has any entry, 0 if empty. */
int em_meta_dir_has_entries(struct em_kv_txn *t, uint64_t dir);

/* Opens an inode inside a transaction (shared by open and create). */
int em_meta_open_inode(struct em_kv_txn *t, const struct em_meta_cred *cr,
		       struct em_meta_inode *in, int flags, uint64_t client_id, uint32_t lease_ms,
		       bool created, struct em_meta_open_res *out);

#endif
