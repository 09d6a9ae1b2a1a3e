/* Engine internals shared by engine.c (operations), log.c (group commit and
 * checkpoints), super.c (format, superblocks) and recovery.c (open). */
#ifndef EMBER_BLOCK_CHUNK_INTERNAL_H
#define EMBER_BLOCK_CHUNK_INTERNAL_H

#include "block/chunk/alloc.h"
#include "block/chunk/csum.h"
#include "block/chunk/engine.h"
#include "block/chunk/index.h"
#include "block/chunk/layout.h"

/* Pages one log write may carry. Recovery clears this many pages past the
 * end of the log, so a torn batch's stray pages can never replay later. */
#define EM_LOG_MAX_BATCH 32u

/* Buffer cache of an engine: at most this many buffers and bytes. */
#define EM_BUF_CACHE 32u
#define EM_BUF_CACHE_BYTES (64ull << 20)

enum em_op_kind { EM_OP_UPDATE, EM_OP_TRUNCATE, EM_OP_COMMIT, EM_OP_REMOVE };

/* How an update builds its pending version from the committed one (the
 * base): sizes, placement, and the base bytes it reads first. */
struct em_update_plan {
	uint32_t base_len, base_crc, base_tail;
	uint64_t base_loc;
	uint32_t new_len;
	bool in_place;
	uint64_t region;     /* in-place: first byte of the slot rewritten */
	uint32_t read_from, read_to; /* base bytes read into buf, to verify */
};

/* One mutation, from submit to callback. */
struct em_chunk_op {
	struct em_engine *e;
	enum em_op_kind kind;
	bool started;
	struct em_chunk_entry *ent;
	struct em_chunk_update u;   /* TRUNCATE: offset = new length, len 0 */
	em_chunk_cb cb;
	void *arg;
	struct em_log_rec rec;      /* what the log will say */
	uint64_t new_loc;           /* slot allocated by this op, 0: none */
	uint8_t *buf;
	uint64_t buf_size;          /* allocated (em_engine_buf_get) */
	uint64_t buf_len, buf_dev_off;
	struct em_update_plan plan;
	uint32_t waits;             /* base read and table pages outstanding */
	int io_status;
	struct em_csum_req csum;    /* table pages of the base and new slots */
	struct em_chunk_op *qnext;  /* the chunk's queue */
	struct em_chunk_op *lnext;  /* the log's queue */
};

struct em_engine {
	struct em_bdev *dev;
	struct em_reactor *r;
	struct em_superblock sb;
	struct em_alloc alloc;
	struct em_index index;
	uint64_t live_chunks, live_bytes;
	uint64_t max_chunks;        /* what a checkpoint area can hold */
	int failed;                 /* a metadata write failed: refuse all */

	/* log: pages [tail, head) are needed for recovery */
	uint64_t log_head, log_tail;
	struct em_chunk_op *pend_head, *pend_tail;
	struct em_chunk_op *batch;  /* in flight */
	uint32_t batch_pages;
	bool batch_busy;
	uint8_t *batch_buf;         /* EM_LOG_MAX_BATCH pages */

	/* checkpoint */
	bool ckpt_busy;
	uint64_t ckpt_new_seq;
	uint8_t *ckpt_buf;
	uint64_t ckpt_len;
	uint8_t *sb_buf;            /* one page */

	/* Slots freed while reads were in flight wait for them to finish,
	 * so a reader never sees a slot reused under it. */
	uint32_t readers;
	uint64_t *deferred;
	size_t n_deferred, cap_deferred;

	uint64_t ops_inflight;
	uint64_t records_replayed;

	struct em_csum_cache csum;
	bool verify;                /* check reads against the table (always, but in benches) */
	uint64_t csum_errors;       /* blocks that failed their check */

	/* I/O buffers freed by finished operations, kept for the next ones:
	 * a fresh 1 MiB buffer costs 256 page faults (and zeroing) per
	 * operation, more than the I/O itself on a fast device. */
	struct { void *p; uint64_t len; } bcache[EM_BUF_CACHE];
	unsigned n_bcache;
	uint64_t bcache_bytes;
};

/* Superblocks and checkpoints (super.c). */
int em_super_write_sync(struct em_engine *e);
/* Serialize the live index; the next checkpoint area gets it. */
int em_ckpt_build(struct em_engine *e, uint64_t seq);
int em_ckpt_write_sync(struct em_engine *e);

/* Log (log.c). */
void em_log_append(struct em_engine *e, struct em_chunk_op *op);
void em_log_kick(struct em_engine *e);
/* Start a checkpoint if the log is half full (or force) and none runs. */
void em_ckpt_maybe(struct em_engine *e, bool force);

/* Operations (engine.c). */
void em_op_apply(struct em_engine *e, struct em_chunk_op *op);
void em_op_finish(struct em_chunk_op *op, int status);
void em_engine_free_loc(struct em_engine *e, uint64_t loc);
/* Device-aligned I/O buffers of len bytes, reused through a small cache;
 * put takes the length given to get (buf may be NULL). */
void *em_engine_buf_get(struct em_engine *e, uint64_t len);
void em_engine_buf_put(struct em_engine *e, void *buf, uint64_t len);
void em_engine_buf_cache_free(struct em_engine *e);
/* Account a record replayed or applied into the index. */
int em_engine_apply_rec(struct em_engine *e, const struct em_log_rec *rec);

static inline uint64_t em_align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

#endif
