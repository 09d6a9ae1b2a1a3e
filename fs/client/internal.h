/* The session's insides, shared by session.c, io.c, file.c and native.c. */
#ifndef EMBER_FS_CLIENT_INTERNAL_H
#define EMBER_FS_CLIENT_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "block/chunk/engine.h"
#include "fs/client/client.h"

struct em_reactor;
struct em_net;
struct em_rpc;
struct em_mgmt_client;

/* What a mutation does to its chunk (write ops only): store the bytes,
 * cut the chunk to offset, or drop it. */
enum em_fs_trim {
	EM_FS_TRIM_NONE,
	EM_FS_TRIM_TRUNCATE,
	EM_FS_TRIM_REMOVE,
};

/* One chunk piece for the I/O pool. done runs on a pool thread. */
struct em_fs_op {
	bool write;
	uint8_t trim;         /* enum em_fs_trim */
	uint32_t chain;
	struct em_chunk_id id;
	uint32_t offset, len;
	void *buf;
	int result;           /* bytes read, 0 for a write, or a negative code */
	uint64_t ino;         /* for the failure message */
	uint32_t index;
	void (*done)(struct em_fs_op *op);
	void *arg;
	struct em_fs_op *next;
};

/* A file open in this mount: one per inode, shared by its open files. */
struct em_fs_inode {
	uint64_t ino;
	unsigned refs;               /* open files; under fs->itab_mu */
	struct em_fs_inode *next;    /* hash chain */
	/* Writes and reads hold it shared, truncate exclusive, so no write
	 * lands in a chunk while it is being trimmed. */
	pthread_rwlock_t io;
	pthread_mutex_t mu;          /* the fields below */
	struct em_meta_attr attr;    /* as last seen; size is this mount's view */
	uint64_t published;          /* length last reported to metadata */
	unsigned writers;            /* open files with a write session */
};

struct em_fs_file {
	struct em_fs_inode *in;
	struct em_meta_cred cred;    /* the opener's: release and sync act for it */
	uint64_t session;            /* 0: read-only */
	int flags;
	/* Under in->mu. wrote: written since the last report to metadata
	 * (EM_META_WROTE); priv_checked: the first write looked at set-id. */
	bool wrote, priv_checked;
};

#define EM_FS_ITAB 256

struct em_fs {
	struct em_meta_client *meta;
	uint32_t io_timeout_ms;

	/* Routing: only the chain list matters to the client (chain clients
	 * follow heads and states themselves). Driven under rt_mu by the
	 * thread that needs it. */
	pthread_mutex_t rt_mu;
	struct em_reactor *rt_r;
	struct em_net *rt_net;
	struct em_rpc *rt_rpc;
	struct em_mgmt_client *mgmt;
	uint32_t *chains;
	size_t nchains;
	uint64_t rt_checked_ms;

	/* The I/O pool. */
	pthread_mutex_t q_mu;
	pthread_cond_t q_cv;
	struct em_fs_op *q_head, *q_tail;
	bool q_stop;
	pthread_t *threads;
	unsigned nthreads;
	int start_rc;                /* first chain client creation failure */
	unsigned started;

	pthread_mutex_t itab_mu;
	struct em_fs_inode *itab[EM_FS_ITAB];

	/* The session keeper (keeper.c); fields under keep_mu. */
	pthread_mutex_t keep_mu;
	pthread_cond_t keep_cv;
	pthread_t keep_th;
	bool keep_init, keep_running, keep_stop;
	unsigned sessions;           /* write sessions open in this mount */
	bool keep_alive;             /* renew even without sessions (locks) */
	uint32_t lease_ms;           /* as the last renewal granted; 0: none yet */
	struct em_fs_close_retry *retries;
};

/* The keeper thread: renews while write sessions are open, redelivers
 * failed closes. stop makes one last attempt and drops the rest (they
 * expire on the server and are recovered there). */
int em_fs_keeper_start(struct em_fs *fs);
void em_fs_keeper_stop(struct em_fs *fs);
void em_fs_sessions_add(struct em_fs *fs, int delta);
/* Ends a write session; a failure other than "already gone" is queued for
 * the keeper to retry and reported as success: the length is not lost. */
int em_fs_close_session(struct em_fs *fs, const struct em_meta_cred *cr, uint64_t ino,
			uint64_t session, uint64_t length, uint32_t flags);

/* Chain of chunk index of a file, refreshing the chain list when it is
 * empty; -EAGAIN when the cluster has no chains yet. */
int em_fs_chain(struct em_fs *fs, const struct em_meta_layout *l, uint32_t index,
		uint32_t *chain);

int em_fs_io_start(struct em_fs *fs, const struct em_fs_opts *o);
void em_fs_io_stop(struct em_fs *fs);
void em_fs_io_submit(struct em_fs *fs, struct em_fs_op *op);
/* Runs ops in parallel and waits for all; 0 or the first failure (each
 * op's result says which). */
int em_fs_io_run(struct em_fs *fs, struct em_fs_op *ops, size_t n);
/* What a failed piece turns into for the caller, logged once. */
int em_fs_io_error(const struct em_fs_op *op);

/* Splits [off, off + len) of a file into ops over buf (NULL buf: a shared
 * zero buffer of zlen bytes). Returns the count or a negative errno; the
 * array is the caller's to free. */
int em_fs_make_ops(struct em_fs *fs, uint64_t ino, const struct em_meta_layout *l, bool write,
		   void *buf, uint64_t off, uint64_t len, struct em_fs_op **out);

/* The open-inode table (inode.c). get finds or adds (a new entry takes
 * *a), find only finds; both take a reference that put drops. */
struct em_fs_inode *em_fs_inode_get(struct em_fs *fs, const struct em_meta_attr *a);
struct em_fs_inode *em_fs_inode_find(struct em_fs *fs, uint64_t ino);
void em_fs_inode_put(struct em_fs *fs, struct em_fs_inode *in);
uint64_t em_fs_inode_size(struct em_fs_inode *in);


#endif
