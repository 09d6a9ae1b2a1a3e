/* Ember metadata service logic: a POSIX namespace over the transactional KV
 * store (fs/kv/kv.h).
 *
 * Every operation is a plain function taking the caller's credentials and a
 * few arguments, running as one serializable KV transaction (retried on
 * conflict), and returning 0 (or a length) or a negative errno with POSIX
 * meaning. The metadata server holds no state of its own beyond a batch of
 * pre-allocated inode ids, so any number of servers can share one
 * PostgreSQL store; the RPC layer (ember-meta) is a thin shim over these.
 *
 * The caller applies its umask before passing a mode; names are single path
 * components (no '/'); ".." and "." are resolved by lookup only. readdir does
 * not return "." and "..": the client synthesizes them from getattr.
 */
#ifndef EMBER_FS_META_META_H
#define EMBER_FS_META_META_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct em_kv;
struct em_meta;

#define EM_META_ROOT_INO 1
#define EM_META_NAME_MAX 255
#define EM_META_SYMLINK_MAX 4095
#define EM_META_NGROUPS_MAX 32
#define EM_META_LINK_MAX 65000
#define EM_META_XATTR_NAME_MAX 255
#define EM_META_XATTR_SIZE_MAX 65536
/* The largest file: ext4's limit with 4 KiB blocks. Below every layout's
 * chunk-index limit (chunk_size * 2^32, at least 256 TiB) and it bounds
 * what removing a sparse file costs (one request per chunk of its size). */
#define EM_META_MAX_FILE_SIZE (16ULL << 40)

/* Who is asking. uid 0 is root and bypasses permission checks where POSIX
 * lets CAP_DAC_OVERRIDE / CAP_FOWNER / CAP_CHOWN do so. */
struct em_meta_cred {
	uint32_t uid, gid;
	uint32_t ngroups;
	uint32_t groups[EM_META_NGROUPS_MAX];
};

/* Where a file's chunks live: chunk i of the file is chunk id (inode, i) on
 * chain (first_chain + i % stripe) % chain_count of table
 * (table_id, table_version). Fixed at create. */
struct em_meta_layout {
	uint32_t table_id, table_version;
	uint32_t chunk_size;       /* bytes, power of two */
	uint32_t stripe;           /* chains a file spreads over */
	uint32_t first_chain;
	uint64_t seed;             /* for shuffling chains; the inode id */
};

struct em_meta_attr {
	uint64_t ino;
	uint32_t mode;             /* type and permission bits, as st_mode */
	uint32_t uid, gid, nlink;
	uint64_t size;             /* files: length; symlinks: target length */
	int64_t atime_ns, mtime_ns, ctime_ns;
	uint64_t parent;           /* directories: the containing directory */
	struct em_meta_layout layout;  /* files; directories: layout for new files */
	uint64_t rdev;             /* device nodes: the device, as dev_t; else 0 */
};

struct em_meta_options {
	struct em_meta_layout layout;  /* root directory's default; zeros: table 1, 1 MiB chunks, stripe 1 */
	uint32_t chain_count;      /* chains in the table, for round-robin first_chain; 0: 1 */
	uint32_t id_batch;         /* inode ids reserved per KV round trip; 0: 256 */
	uint64_t capacity_bytes;   /* reported by statfs until the cluster manager reports it */
	uint32_t session_lease_ms; /* a write session outlives its client's last renewal by this; 0: 60 s */
};

#define EM_META_SESSION_LEASE_MS 60000

/* Opens the namespace in kv, creating the root directory (uid 0, mode 0755)
 * when the store is empty. The kv handle stays owned by the caller. */
int em_meta_init(struct em_kv *kv, const struct em_meta_options *opts, struct em_meta **out);
void em_meta_destroy(struct em_meta *m);

int em_meta_lookup(struct em_meta *m, const struct em_meta_cred *cr, uint64_t parent,
		   const char *name, struct em_meta_attr *out);
int em_meta_getattr(struct em_meta *m, const struct em_meta_cred *cr, uint64_t ino,
		    struct em_meta_attr *out);

enum {
	EM_SETATTR_MODE = 1u << 0,
	EM_SETATTR_UID = 1u << 1,
	EM_SETATTR_GID = 1u << 2,
	EM_SETATTR_SIZE = 1u << 3,
	EM_SETATTR_ATIME = 1u << 4,      /* to atime_ns */
	EM_SETATTR_MTIME = 1u << 5,      /* to mtime_ns */
	EM_SETATTR_ATIME_NOW = 1u << 6,
	EM_SETATTR_MTIME_NOW = 1u << 7,
	/* The caller writes the file: set-id bits go as on a write (above);
	 * allowed to the owner, to whoever may write, and through session. */
	EM_SETATTR_KILL_PRIV = 1u << 8,
};

struct em_meta_setattr {
	uint32_t valid;
	uint32_t mode, uid, gid;
	uint64_t size;
	int64_t atime_ns, mtime_ns;
	/* Non-zero: the caller acts through a descriptor holding this write
	 * session on the file (ftruncate, a write), which grants the write
	 * permission its open was granted, whatever the mode says now. */
	uint64_t session;
};

/* chmod/chown/truncate/utimens. Shrinking only changes the length: the client
 * trims the chunks past the new length on storage first (as 3FS does), so
 * data beyond EOF never reappears. */
int em_meta_setattr(struct em_meta *m, const struct em_meta_cred *cr, uint64_t ino,
		    const struct em_meta_setattr *req, struct em_meta_attr *out);

/* Result of create/open. session is non-zero when the file was opened for
 * writing: pass it to em_meta_set_length() and em_meta_close(). */
struct em_meta_open_res {
	struct em_meta_attr attr;
	uint64_t session;
	bool created;
};

/* open(2) flags honoured: O_ACCMODE, O_CREAT (create only), O_EXCL, O_TRUNC.
 * client_id names the client holding the session, for pruning dead ones. */
int em_meta_create(struct em_meta *m, const struct em_meta_cred *cr, uint64_t parent,
		   const char *name, uint32_t mode, int flags, uint64_t client_id,
		   struct em_meta_open_res *out);
int em_meta_open(struct em_meta *m, const struct em_meta_cred *cr, uint64_t ino, int flags,
		 uint64_t client_id, struct em_meta_open_res *out);
/* flags of close and set_length. EM_META_WROTE: the session wrote since its
 * last report, so mtime and ctime become now and, as a write does on Linux,
 * the set-id bits go unless the session's opener is root (set-group-id only
 * with group execute). Data goes straight to storage, so this is how
 * metadata learns of overwrites. */
#define EM_META_WROTE 1u

/* Ends a write session, adopting length if it is larger than the file's.
 * The last close of an unlinked file queues its chunks for GC. */
int em_meta_close(struct em_meta *m, const struct em_meta_cred *cr, uint64_t ino,
		  uint64_t session, uint64_t length, uint32_t flags);
/* A write session reports how far it wrote: the length becomes the max. */
int em_meta_set_length(struct em_meta *m, const struct em_meta_cred *cr, uint64_t ino,
		       uint64_t session, uint64_t length, uint32_t flags);

int em_meta_mkdir(struct em_meta *m, const struct em_meta_cred *cr, uint64_t parent,
		  const char *name, uint32_t mode, struct em_meta_attr *out);
/* A FIFO, UNIX socket, character or block device node (mode's type; S_IFREG
 * too, as a create that opens nothing). Ember stores the node; the kernel
 * serves its I/O. Device nodes need uid 0 (CAP_MKNOD); rdev is kept only for
 * them. */
int em_meta_mknod(struct em_meta *m, const struct em_meta_cred *cr, uint64_t parent,
		  const char *name, uint32_t mode, uint64_t rdev, struct em_meta_attr *out);
int em_meta_symlink(struct em_meta *m, const struct em_meta_cred *cr, uint64_t parent,
		    const char *name, const char *target, struct em_meta_attr *out);
int em_meta_link(struct em_meta *m, const struct em_meta_cred *cr, uint64_t ino,
		 uint64_t new_parent, const char *new_name, struct em_meta_attr *out);
int em_meta_unlink(struct em_meta *m, const struct em_meta_cred *cr, uint64_t parent,
		   const char *name);
int em_meta_rmdir(struct em_meta *m, const struct em_meta_cred *cr, uint64_t parent,
		  const char *name);

/* flags: 0, RENAME_NOREPLACE or RENAME_EXCHANGE (from <stdio.h>/<linux/fs.h>). */
int em_meta_rename(struct em_meta *m, const struct em_meta_cred *cr, uint64_t src_parent,
		   const char *src_name, uint64_t dst_parent, const char *dst_name,
		   unsigned flags);

/* Copies the target (NUL-terminated, truncated to len - 1) and returns its
 * full length. */
int em_meta_readlink(struct em_meta *m, const struct em_meta_cred *cr, uint64_t ino,
		     char *buf, size_t len);

struct em_meta_dirent {
	uint64_t ino;
	uint32_t type;             /* DT_REG, DT_DIR, DT_LNK, DT_FIFO, DT_SOCK, DT_CHR, DT_BLK */
	char name[EM_META_NAME_MAX + 1];
};

/* Entries with names strictly after `after` ("" or NULL: from the start), in
 * byte order of names, at most max. Resuming from the last name returned
 * never repeats or skips an entry that exists throughout the listing,
 * whatever else changes meanwhile. *eof is true when nothing follows. */
int em_meta_readdir(struct em_meta *m, const struct em_meta_cred *cr, uint64_t ino,
		    const char *after, struct em_meta_dirent *ents, size_t max, size_t *n,
		    bool *eof);

struct em_meta_statfs {
	uint64_t bsize, blocks, bfree, bavail;
	uint64_t files, ffree;
	uint32_t namemax;
};
int em_meta_statfs(struct em_meta *m, const struct em_meta_cred *cr, struct em_meta_statfs *out);
/* Usable space statfs reports from now on: the storage targets' bytes as
 * mgmtd last heard them, divided by the replication factor (the caller's
 * job, fs/client/gc.h). Before the first call statfs reports the
 * configured capacity, all of it free. */
void em_meta_set_space(struct em_meta *m, uint64_t total_bytes, uint64_t free_bytes);

/* Extended attributes, namespaces user., trusted., security. ("system." is
 * EOPNOTSUPP: no ACLs). get/list return the full size; with len 0 they only
 * report it, with a smaller non-zero len they fail with ERANGE. */
int em_meta_getxattr(struct em_meta *m, const struct em_meta_cred *cr, uint64_t ino,
		     const char *name, void *buf, size_t len);
/* flags: 0, XATTR_CREATE or XATTR_REPLACE (<sys/xattr.h>). */
int em_meta_setxattr(struct em_meta *m, const struct em_meta_cred *cr, uint64_t ino,
		     const char *name, const void *value, size_t size, int flags);
int em_meta_listxattr(struct em_meta *m, const struct em_meta_cred *cr, uint64_t ino,
		      char *buf, size_t len);
int em_meta_removexattr(struct em_meta *m, const struct em_meta_cred *cr, uint64_t ino,
			const char *name);

/* File locks, exclusive across every mount (fs/meta/lock.c). POSIX record
 * locks (fcntl) and flock locks are separate kinds that never conflict with
 * each other, as on Linux. An owner is the client id and the kernel's lock
 * owner; a lock dies with its client's lease (em_meta_renew). */
enum { EM_META_LOCK_UN = 0, EM_META_LOCK_RD = 1, EM_META_LOCK_WR = 2 };
enum { EM_META_LOCK_POSIX = 'P', EM_META_LOCK_FLOCK = 'F' };

struct em_meta_lock_range {
	uint64_t start, end;       /* bytes, inclusive; end UINT64_MAX: to EOF and beyond */
	uint32_t pid;              /* the holder's, on its own host */
	uint8_t type;              /* EM_META_LOCK_RD or _WR (_UN: no conflict) */
};

struct em_meta_lock {
	uint64_t client, owner;
	uint64_t start, end;       /* flock: 0 and UINT64_MAX */
	uint32_t pid;
	uint8_t type;              /* _RD, _WR, or _UN to release [start, end] */
	uint8_t kind;              /* EM_META_LOCK_POSIX or _FLOCK */
	bool test;                 /* F_GETLK: only say what would conflict */
};

/* Takes, changes or releases the owner's lock on [start, end] at once, or
 * fails with -EAGAIN and the first conflicting lock in *conflict (may be
 * NULL). A test grants nothing and returns 0 with the conflicting lock, or
 * conflict->type _UN when nothing conflicts. No deadlock detection. -ENOLCK past 64 ranges per owner or
 * 1024 owners per file. */
int em_meta_lock(struct em_meta *m, const struct em_meta_cred *cr, uint64_t ino,
		 const struct em_meta_lock *req, struct em_meta_lock_range *conflict);

/* Garbage collection queue: files whose last name and last write session
 * are gone. A GC worker deletes every chunk (ino, *) on the layout's chains,
 * then removes the entry. */
struct em_meta_gc_entry {
	uint64_t ino;
	uint64_t length;           /* last known length: a hint; delete every chunk */
	struct em_meta_layout layout;
	int64_t queued_ns;         /* wall clock; 0 in entries written before it existed */
};
int em_meta_gc_list(struct em_meta *m, struct em_meta_gc_entry *ents, size_t max, size_t *n);
int em_meta_gc_done(struct em_meta *m, uint64_t ino);

/* Write sessions end when their client dies. A client renews every
 * session it holds at once (keyed by the client id it opened them with);
 * a session is expired once it is older than a lease and its client has not
 * renewed for a lease. Then the upkeep (fs/client/gc.h) reads how far the
 * data really goes on storage, and em_meta_session_recover() adopts that
 * length and ends the session as a close would. */
int em_meta_renew(struct em_meta *m, uint64_t client_id, uint32_t *lease_ms);

struct em_meta_session_info {
	uint64_t ino, session, client;
	int64_t expires_ns;
	struct em_meta_attr attr;  /* the file's, with the length metadata knows */
};
/* Up to max sessions expired at now_ns (wall clock), in key order. */
int em_meta_expired_sessions(struct em_meta *m, int64_t now_ns,
			     struct em_meta_session_info *out, size_t max, size_t *n);
/* Ends an expired session: length is adopted if larger, and the last
 * session of an unlinked file sends it to GC. -EBUSY when its client
 * renewed since (it lives), -EBADF when the session is already gone. */
int em_meta_session_recover(struct em_meta *m, uint64_t ino, uint64_t session,
			    uint64_t length, int64_t now_ns);
/* Removes client records lapsed for two leases. A session's expiry only
 * moves earlier without its client's record, so this never revives one. */
int em_meta_prune_clients(struct em_meta *m, int64_t now_ns);

#endif
