/* The chunk engine: one per target (an SSD, a partition or a file), storing
 * chunks of up to 64 MiB identified by 16-byte ids, with CRAQ versions.
 *
 * A chunk has a committed version (what reads see) and at most one pending
 * version (written by an update, made visible by a commit). Updates copy on
 * write into a new slot, except appends, which go in place after the
 * committed bytes. Metadata lives in memory and is made durable by a
 * write-ahead log on the same device, group-committed and checkpointed; an
 * operation's callback runs only after its data and its log record are
 * durable. Recovery at open replays the log, ignores torn records and
 * reclaims slots nothing references.
 *
 * Threading: an engine belongs to the reactor given at open; every call
 * below except format/inspect is made on that reactor's thread, and every
 * callback runs there.
 */
#ifndef EMBER_BLOCK_CHUNK_ENGINE_H
#define EMBER_BLOCK_CHUNK_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "block/dev/bdev.h"

struct em_reactor;
struct em_engine;

#define EM_CHUNK_MAX_SIZE (64u << 20)
#define EM_CHUNK_CLASSES 11 /* 64 KiB << 0 .. 64 KiB << 10 = 64 MiB */

/* Ordered as bytes (memcmp): encode integers big-endian to list in order. */
struct em_chunk_id {
	uint8_t b[16];
};

struct em_chunk_meta {
	struct em_chunk_id id;
	uint32_t chain_ver;
	uint32_t commit_ver;     /* 0: never committed */
	uint32_t pending_ver;    /* 0: nothing pending */
	uint32_t length;         /* committed */
	uint32_t crc;            /* CRC32C of the committed bytes [0, length) */
	uint32_t pending_length;
	uint32_t pending_crc;
	uint64_t loc;            /* committed slot (layout.h encoding), 0: none */
	uint64_t pending_loc;
	/* CRC32C of the partial last 4 KiB block (0 when the length is a
	 * multiple of 4 KiB); full blocks have entries in the checksum table. */
	uint32_t tail_crc;
	uint32_t pending_tail_crc;
};

/* status: 0 or a negative errno / EM_E* code. meta: the chunk after the
 * operation (NULL on error or after remove). */
typedef void (*em_chunk_cb)(void *arg, int status, const struct em_chunk_meta *meta);
/* Reads: status is the number of bytes read (>= 0) or a negative error. */
typedef void (*em_chunk_read_cb)(void *arg, int status);

/* ---- target lifecycle (blocking; not on a reactor) ---------------------- */

struct em_engine_format_opts {
	enum em_bdev_kind kind;  /* backend, AUTO from the path */
	uint32_t log_pages;      /* 0: sized from the device */
	/* Called as the log area is cleared; may be NULL. */
	void (*progress)(void *arg, uint64_t done, uint64_t total);
	void *progress_arg;
};
int em_engine_format(const char *path, const struct em_engine_format_opts *opts);

struct em_engine_class_stats {
	uint32_t slot_size;
	uint32_t segments;       /* 64 MiB segments given to this class */
	uint64_t slots_used;
	uint64_t slots_total;
};
struct em_engine_stats {
	uint8_t uuid[16];
	uint32_t format_version;
	uint32_t block_size;
	uint64_t dev_size;
	uint64_t created_ms;
	uint64_t generation;
	uint64_t data_off;
	uint32_t data_segments, free_segments;
	uint64_t chunks;
	uint64_t bytes;          /* committed chunk bytes */
	uint32_t log_pages;
	uint64_t log_head, log_tail; /* page sequence numbers; used = head - tail */
	uint32_t ckpt_slot;
	uint64_t ckpt_seq;
	uint64_t records_replayed; /* by the last open */
	uint64_t csum_errors;      /* 4 KiB blocks that failed their checksum */
	struct em_engine_class_stats cls[EM_CHUNK_CLASSES];
};

/* Open a formatted target: read the superblock, load the checkpoint, replay
 * the log, then serve on reactor r. Refuses foreign or corrupt devices with
 * a log line saying why (-ENODATA: not an Ember target; -EUCLEAN: corrupt;
 * -EPROTONOSUPPORT: newer format). */
struct em_engine_opts {
	enum em_bdev_kind kind;
	uint32_t queue_depth;
	uint32_t csum_cache_pages; /* checksum table pages cached; 0: 16384 (64 MiB) */
	/* Reads skip the per-block check: only for measuring what the check
	 * costs (tools/bench/engine). Writes keep the table either way. */
	bool no_verify;
};
int em_engine_open(const char *path, const struct em_engine_opts *opts, struct em_reactor *r,
		   struct em_engine **out);
/* Waits for outstanding operations, writes a checkpoint, closes. On the
 * reactor thread; runs the reactor's device I/O itself. */
void em_engine_close(struct em_engine *e);

/* Read-only summary without serving: opens, recovers in memory, reports. */
int em_engine_inspect(const char *path, enum em_bdev_kind kind, struct em_engine_stats *out);
void em_engine_get_stats(const struct em_engine *e, struct em_engine_stats *out);
/* The same for one chunk: its metadata and the device offset of its
 * committed bytes (for tools that examine or, in tests, damage a replica).
 * -ENOENT when the target holds no such chunk. */
int em_engine_inspect_chunk(const char *path, enum em_bdev_kind kind,
			    const struct em_chunk_id *id, struct em_chunk_meta *meta,
			    uint64_t *dev_off);

/* ---- chunk operations (reactor thread) --------------------------------- */

#define EM_CHUNK_COMMIT 0x1u       /* update: commit in the same record */
#define EM_CHUNK_READ_PENDING 0x2u /* read: the pending version */
/* update: the data is the whole new chunk, [0, len) with offset 0, at any
 * update_ver (even one not above commit_ver): copied into a new slot and
 * switched in by one record, so a crash or an error leaves the old chunk or
 * the new one, never neither; the old slot is freed once the record is
 * durable. Without COMMIT the new bytes become the pending version and the
 * committed one stays until the commit, unless update_ver does not exceed
 * it: then the same record drops it (a pending version is always the newer),
 * and the chunk holds only the new pending version. */
#define EM_CHUNK_REPLACE 0x4u

struct em_chunk_update {
	struct em_chunk_id id;
	uint32_t offset, len;   /* bytes of data written at offset */
	const void *data;       /* NULL: zeros */
	uint32_t update_ver;    /* must exceed commit_ver; replaces any pending */
	uint32_t chain_ver;
	uint32_t flags;
};

/* Mutations on one chunk run in submission order. Each returns 0 (the
 * callback will run) or a negative errno for a request refused at once. */
int em_chunk_update(struct em_engine *e, const struct em_chunk_update *u, em_chunk_cb cb,
		    void *arg);
/* New length through a pending version like an update: shrink keeps the
 * slot, growth appends zeros. */
int em_chunk_truncate(struct em_engine *e, const struct em_chunk_id *id, uint32_t length,
		      uint32_t update_ver, uint32_t chain_ver, uint32_t flags, em_chunk_cb cb,
		      void *arg);
/* Pending version ver becomes committed. Committing the committed version
 * again succeeds (retries); anything else is -EM_EVERSION. */
int em_chunk_commit(struct em_engine *e, const struct em_chunk_id *id, uint32_t ver,
		    em_chunk_cb cb, void *arg);
int em_chunk_remove(struct em_engine *e, const struct em_chunk_id *id, em_chunk_cb cb,
		    void *arg);
/* Read [offset, offset+len) of the committed (or pending) version into buf
 * (any alignment). Every 4 KiB block the read touches is checked against its
 * CRC32C; a mismatch fails the read with -EM_ECHECKSUM, and no byte of the
 * bad block is copied to buf (blocks before it may have been). -ENOENT for an unknown chunk or one
 * without that version. */
int em_chunk_read(struct em_engine *e, const struct em_chunk_id *id, uint32_t offset,
		  uint32_t len, void *buf, uint32_t flags, em_chunk_read_cb cb, void *arg);

/* Immediate, from memory. query: 0 or -ENOENT. */
int em_chunk_query(const struct em_engine *e, const struct em_chunk_id *id,
		   struct em_chunk_meta *out);
/* Up to max chunks with id > *after (after NULL: from the start), in id
 * order. Returns the count; page by passing the last id returned. */
size_t em_chunk_list(const struct em_engine *e, const struct em_chunk_id *after,
		     struct em_chunk_meta *out, size_t max);

#endif
