/* Chunk operations: per-chunk ordering, copy-on-write and in-place appends,
 * reads, and applying durable records to the in-memory table. */
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "block/chunk/eio.h"
#include "block/chunk/internal.h"
#include "include/ember/errors.h"
#include "net/core/crc32c.h"
#include "net/core/log.h"
#include "net/core/reactor.h"

/* ---- slot release ------------------------------------------------------- */

void em_engine_free_loc(struct em_engine *e, uint64_t loc)
{
	if (!loc)
		return;
	if (e->readers == 0) {
		em_alloc_put(&e->alloc, loc);
		return;
	}
	if (e->n_deferred == e->cap_deferred) {
		size_t cap = e->cap_deferred ? e->cap_deferred * 2 : 64;
		uint64_t *d = realloc(e->deferred, cap * sizeof(*d));
		if (!d) {
			/* Leaking one slot until the next open beats
			 * handing a reader's slot to a writer. */
			EM_WARN("chunk", "out of memory deferring a slot release");
			return;
		}
		e->deferred = d;
		e->cap_deferred = cap;
	}
	e->deferred[e->n_deferred++] = loc;
}

static void reader_done(struct em_engine *e)
{
	if (--e->readers)
		return;
	for (size_t i = 0; i < e->n_deferred; i++)
		em_alloc_put(&e->alloc, e->deferred[i]);
	e->n_deferred = 0;
}

/* ---- I/O buffers ------------------------------------------------------- */

void *em_engine_buf_get(struct em_engine *e, uint64_t len)
{
	for (unsigned i = e->n_bcache; i-- > 0;) {
		if (e->bcache[i].len != len)
			continue;
		void *p = e->bcache[i].p;
		e->bcache_bytes -= len;
		e->bcache[i] = e->bcache[--e->n_bcache];
		return p;
	}
	return em_bdev_alloc_buf(e->dev, len);
}

void em_engine_buf_put(struct em_engine *e, void *buf, uint64_t len)
{
	if (!buf)
		return;
	if (len > EM_BUF_CACHE_BYTES / 4) {
		free(buf);
		return;
	}
	/* Full: the oldest entries make room, so the cache follows the
	 * sizes in use. */
	while (e->n_bcache == EM_BUF_CACHE || e->bcache_bytes + len > EM_BUF_CACHE_BYTES) {
		free(e->bcache[0].p);
		e->bcache_bytes -= e->bcache[0].len;
		memmove(&e->bcache[0], &e->bcache[1], --e->n_bcache * sizeof(e->bcache[0]));
	}
	e->bcache[e->n_bcache].p = buf;
	e->bcache[e->n_bcache].len = len;
	e->n_bcache++;
	e->bcache_bytes += len;
}

void em_engine_buf_cache_free(struct em_engine *e)
{
	for (unsigned i = 0; i < e->n_bcache; i++)
		free(e->bcache[i].p);
	e->n_bcache = 0;
	e->bcache_bytes = 0;
}

/* ---- applying records --------------------------------------------------- */

int em_engine_apply_rec(struct em_engine *e, const struct em_log_rec *rec)
{
	struct em_chunk_entry *ent = em_index_get(&e->index, &rec->meta.id);
	if (!ent)
		return -ENOMEM;
	if (ent->live) {
		e->live_chunks--;
		e->live_bytes -= ent->meta.length;
	}
	if (rec->type == EM_REC_DEL) {
		ent->live = false;
		memset(&ent->meta, 0, sizeof(ent->meta));
		ent->meta.id = rec->meta.id;
		if (!ent->q_head)
			em_index_remove(&e->index, ent);
		return 0;
	}
	ent->meta = rec->meta;
	ent->live = true;
	e->live_chunks++;
	e->live_bytes += ent->meta.length;
	return 0;
}

static bool loc_kept(uint64_t loc, const struct em_chunk_meta *m)
{
	return loc == m->loc || loc == m->pending_loc;
}

void em_op_apply(struct em_engine *e, struct em_chunk_op *op)
{
	struct em_chunk_meta old = op->ent->meta;
	const struct em_chunk_meta *now = &op->rec.meta;
	bool del = op->rec.type == EM_REC_DEL;
	/* Keep the entry alive through apply: the op still sits in its queue. */
	em_engine_apply_rec(e, &op->rec);
	op->new_loc = 0; /* now owned by the chunk */
	if (del || !loc_kept(old.loc, now))
		em_engine_free_loc(e, old.loc);
	if (old.pending_loc != old.loc && (del || !loc_kept(old.pending_loc, now)))
		em_engine_free_loc(e, old.pending_loc);
}

/* ---- completion and per-chunk queue ------------------------------------- */

static void op_start(struct em_chunk_op *op);

struct deferred_cb {
	em_chunk_cb cb;
	void *arg;
	int status;
	bool has_meta;
	struct em_chunk_meta meta;
};

static void run_deferred_cb(void *arg)
{
	struct deferred_cb *d = arg;
	d->cb(d->arg, d->status, d->has_meta ? &d->meta : NULL);
	free(d);
}

void em_op_finish(struct em_chunk_op *op, int status)
{
	struct em_engine *e = op->e;
	struct em_chunk_entry *ent = op->ent;
	em_csum_put(e, &op->csum);
	if (op->new_loc)
		em_alloc_put(&e->alloc, op->new_loc); /* never reached the log */
	em_engine_buf_put(e, op->buf, op->buf_size);
	bool has_meta = status == 0 && ent->live;
	struct em_chunk_meta meta = ent->meta;

	ent->q_head = op->qnext;
	if (!ent->q_head)
		ent->q_tail = NULL;
	struct em_chunk_op *next = ent->q_head;
	if (!next && !ent->live)
		em_index_remove(&e->index, ent);
	e->ops_inflight--;
	em_chunk_cb cb = op->cb;
	void *arg = op->arg;
	free(op);
	if (cb)
		cb(arg, status, has_meta ? &meta : NULL);
	if (next && !next->started)
		op_start(next);
}

/* A result known without I/O still reaches the caller from the reactor, never
 * from inside the call that asked for it. */
static void finish_later(struct em_chunk_op *op, int status)
{
	struct deferred_cb *d = malloc(sizeof(*d));
	if (d) {
		d->cb = op->cb;
		d->arg = op->arg;
		d->status = status;
		d->has_meta = status == 0 && op->ent->live;
		d->meta = op->ent->meta;
		if (em_reactor_send(op->e->r, run_deferred_cb, d) == 0)
			op->cb = NULL; /* the message delivers it */
		else
			free(d);
	}
	em_op_finish(op, status);
}

static void noop_cb(void *arg, int status, const struct em_chunk_meta *meta)
{
}

/* ---- block checksums ----------------------------------------------------- */

static void report_mismatch(struct em_engine *e, const struct em_chunk_id *id, uint32_t block)
{
	e->csum_errors++;
	char hex[33];
	for (int i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", id->b[i]);
	/* Readers of a bad chunk can ask again and again. */
	em_log_limited(EM_LOG_ERROR, "chunk", "checksum mismatch: chunk %s, block at %u (%llu "
		       "mismatches in all)", hex, block, (unsigned long long)e->csum_errors);
}

/* Where a read copies its bytes: chunk offsets [from, to) to p. */
struct copy_out {
	uint8_t *p;
	uint32_t from, to;
};

/* Checks blocks [from, to) of a version (length, tail, slot loc) whose bytes
 * from `from` are in buf: full blocks against the table, the partial last
 * one against tail. With co, each block's share of co's range is copied
 * right after its check, while it is in cache, and a bad block is never
 * copied. 0 or -EM_ECHECKSUM (counted and logged). */
static int verify_blocks(struct em_engine *e, struct em_csum_req *req,
			 const struct em_chunk_id *id, uint64_t loc, uint32_t length,
			 uint32_t tail, const uint8_t *buf, uint32_t from, uint32_t to, bool check,
			 const struct copy_out *co)
{
	uint64_t slot = em_loc_off(loc);
	for (uint32_t b = from; b < to; b += EM_CSUM_BLOCK) {
		const uint8_t *p = buf + (b - from);
		bool full = (uint64_t)b + EM_CSUM_BLOCK <= length;
		uint32_t n = full ? EM_CSUM_BLOCK : length - b;
		if (check && em_crc32c(0, p, n) != (full ? em_csum_get(req, slot + b) : tail)) {
			report_mismatch(e, id, b);
			return -EM_ECHECKSUM;
		}
		if (!co)
			continue;
		uint32_t lo = b > co->from ? b : co->from;
		uint32_t hi = b + n < co->to ? b + n : co->to;
		if (hi > lo)
			memcpy(co->p + (lo - co->from), p + (lo - b), hi - lo);
	}
	return 0;
}

/* Table entries for the full blocks of a version of length len in slot loc,
 * from block-aligned slot offset from (buf holds the bytes from there); the
 * partial last block's CRC is returned, 0 if there is none. */
static uint32_t set_block_crcs(struct em_chunk_op *op, uint64_t loc, const uint8_t *buf,
			       uint32_t from, uint32_t len)
{
	uint64_t slot = em_loc_off(loc);
	uint32_t b = from;
	for (; (uint64_t)b + EM_CSUM_BLOCK <= len; b += EM_CSUM_BLOCK)
		em_csum_set(op->e, &op->csum, slot + b,
			    em_crc32c(0, buf + (b - from), EM_CSUM_BLOCK));
	return len > b ? em_crc32c(0, buf + (b - from), len - b) : 0;
}

/* ---- mutations ---------------------------------------------------------- */

static void data_written(void *arg, int status)
{
	struct em_chunk_op *op = arg;
	if (status < 0) {
		EM_ERR("chunk", "data write: %s", em_strerror(status));
		em_op_finish(op, status);
		return;
	}
	em_log_append(op->e, op);
}

/* The pending version's bytes are in op->buf, crc and placement decided:
 * write them (if any) and queue the record. */
static void write_pending(struct em_chunk_op *op, uint32_t len, uint32_t crc, uint32_t tail,
			  uint64_t loc)
{
	struct em_chunk_meta *m = &op->rec.meta;
	op->rec.type = EM_REC_PUT;
	m->chain_ver = op->u.chain_ver;
	if (op->u.flags & EM_CHUNK_COMMIT) {
		m->commit_ver = op->u.update_ver;
		m->length = len;
		m->crc = crc;
		m->tail_crc = tail;
		m->loc = loc;
		m->pending_ver = m->pending_length = m->pending_crc = 0;
		m->pending_tail_crc = 0;
		m->pending_loc = 0;
	} else {
		m->pending_ver = op->u.update_ver;
		m->pending_length = len;
		m->pending_crc = crc;
		m->pending_tail_crc = tail;
		m->pending_loc = loc;
	}
	/* The entries are set: dirty pages stay cached until the log writes
	 * them, so the pins can go. */
	em_csum_put(op->e, &op->csum);
	if (!op->buf_len) {
		em_log_append(op->e, op);
		return;
	}
	int rc = em_eio(op->e->dev, EM_BDEV_WRITE, 0, op->buf_dev_off, op->buf_len, op->buf,
			data_written, op);
	if (rc < 0)
		finish_later(op, rc);
}

static void fill_and_write(struct em_chunk_op *op)
{
	struct em_engine *e = op->e;
	const struct em_update_plan *p = &op->plan;
	uint8_t *b = op->buf;
	uint32_t off = op->u.offset, len = op->u.len;
	if (op->kind == EM_OP_TRUNCATE)
		off = p->base_len, len = 0;
	if (p->in_place) {
		/* buf holds slot bytes [region, ...): keep the committed
		 * prefix of the first page, zero the rest, lay in the data. */
		uint64_t keep = p->base_len - p->region;
		memset(b + keep, 0, op->buf_len - keep);
		if (len) {
			if (op->u.data)
				memcpy(b + (off - p->region), op->u.data, len);
		}
		uint32_t crc = em_crc32c(p->base_crc, b + keep, p->new_len - p->base_len);
		uint32_t tail = set_block_crcs(op, p->base_loc, b, (uint32_t)p->region, p->new_len);
		write_pending(op, p->new_len, crc, tail, p->base_loc);
		return;
	}
	/* Copy on write: buf holds the base's first min(base, new) bytes. */
	uint32_t keep = p->base_len < p->new_len ? p->base_len : p->new_len;
	if (op->kind == EM_OP_UPDATE && off == 0 && len >= p->base_len)
		keep = 0;
	if (len && op->u.data) {
		/* Zero only what neither the base nor the data covers. */
		uint64_t end = (uint64_t)off + len, tail = end > keep ? end : keep;
		if (off > keep)
			memset(b + keep, 0, off - keep);
		if (tail < op->buf_len)
			memset(b + tail, 0, op->buf_len - tail);
		memcpy(b + off, op->u.data, len);
	} else {
		memset(b + keep, 0, op->buf_len - keep);
		if (len)
			memset(b + off, 0, len);
	}
	uint32_t crc = em_crc32c(0, b, p->new_len);
	uint32_t tail = set_block_crcs(op, op->new_loc, b, 0, p->new_len);
	op->buf_dev_off = e->sb.data_off + em_loc_off(op->new_loc);
	write_pending(op, p->new_len, crc, tail, op->new_loc);
}

/* Base bytes and table pages are in: check the base, then build. */
static void update_continue(struct em_chunk_op *op)
{
	struct em_update_plan *p = &op->plan;
	if (op->io_status < 0) {
		em_op_finish(op, op->io_status);
		return;
	}
	if (p->read_to > p->read_from) {
		/* A bad base must fail the update: copying it would give
		 * wrong bytes fresh, matching checksums. */
		int rc = verify_blocks(op->e, &op->csum, &op->u.id, p->base_loc, p->base_len,
				       p->base_tail, op->buf, p->read_from, p->read_to, true, NULL);
		if (rc < 0) {
			em_op_finish(op, rc);
			return;
		}
	}
	if (op->kind == EM_OP_TRUNCATE && p->new_len <= p->base_len) {
		/* Shrink: the slot keeps its bytes and full blocks' entries;
		 * length, CRC and the new last block's CRC move. */
		uint32_t crc = em_crc32c(0, op->buf, p->new_len);
		uint32_t last = p->new_len / EM_CSUM_BLOCK * EM_CSUM_BLOCK;
		uint32_t tail = p->new_len > last ? em_crc32c(0, op->buf + last, p->new_len - last) : 0;
		em_engine_buf_put(op->e, op->buf, op->buf_size);
		op->buf = NULL;
		op->buf_len = 0;
		write_pending(op, p->new_len, crc, tail, p->base_loc);
		return;
	}
	fill_and_write(op);
}

static void update_part_done(void *arg, int status)
{
	struct em_chunk_op *op = arg;
	if (status < 0 && !op->io_status)
		op->io_status = status;
	if (--op->waits == 0)
		update_continue(op);
}

/* Wait for the table pages and read base bytes [from, from + len) of the
 * slot (len 0: none) into op->buf, then continue. Returns 0, or a negative
 * errno when nothing was started. */
static int update_io(struct em_chunk_op *op, uint32_t from, uint32_t len)
{
	struct em_update_plan *p = &op->plan;
	op->waits = 1; /* held until everything is started */
	int rc = em_csum_ready(&op->csum, update_part_done, op);
	if (rc < 0)
		return rc;
	if (rc == 0)
		op->waits++;
	if (len) {
		p->read_from = from;
		p->read_to = from + len < p->base_len ? from + len : p->base_len;
		rc = em_eio(op->e->dev, EM_BDEV_READ, 0,
			    op->e->sb.data_off + em_loc_off(p->base_loc) + from, len, op->buf,
			    update_part_done, op);
		if (rc < 0 && op->waits == 1)
			return rc;
		if (rc < 0)
			op->io_status = rc; /* the pages' callback finishes it */
		else
			op->waits++;
	}
	update_part_done(op, 0);
	return 0;
}

static int start_update(struct em_chunk_op *op)
{
	struct em_engine *e = op->e;
	const struct em_chunk_meta *m = &op->ent->meta;
	bool replace = op->u.flags & EM_CHUNK_REPLACE;
	if (op->u.update_ver <= m->commit_ver && !replace)
		return -EM_EVERSION;
	struct em_update_plan *p = &op->plan;
	memset(p, 0, sizeof(*p));
	/* A replace has no base: with none, its bytes go to a new slot. */
	if (m->commit_ver && !replace) {
		p->base_len = m->length;
		p->base_crc = m->crc;
		p->base_tail = m->tail_crc;
		p->base_loc = m->loc;
	}
	uint64_t base_slot = em_loc_off(p->base_loc);
	uint32_t off = op->u.offset, len = op->u.len;
	if (op->kind == EM_OP_TRUNCATE) {
		p->new_len = op->u.offset;
		off = p->base_len;
		len = 0;
	} else {
		p->new_len = off + len > p->base_len ? off + len : p->base_len;
	}
	op->rec.meta = *m;
	if (replace && !(op->u.flags & EM_CHUNK_COMMIT) && op->u.update_ver <= m->commit_ver) {
		/* The format holds a pending version only above the committed
		 * one: the replaced committed version leaves in this record. */
		op->rec.meta.commit_ver = op->rec.meta.length = op->rec.meta.crc = 0;
		op->rec.meta.tail_crc = 0;
		op->rec.meta.loc = 0;
	}
	if (p->new_len == 0) {
		write_pending(op, 0, 0, 0, 0);
		return 0;
	}
	int rc;
	/* Shrink (or same length): read what stays to checksum it. */
	if (op->kind == EM_OP_TRUNCATE && p->new_len <= p->base_len) {
		if (p->new_len == p->base_len) {
			write_pending(op, p->base_len, p->base_crc, p->base_tail, p->base_loc);
			return 0;
		}
		uint32_t span = (uint32_t)em_align_up(p->new_len, EM_PAGE);
		op->buf_size = span;
		op->buf = em_engine_buf_get(e, op->buf_size);
		if (!op->buf)
			return -ENOMEM;
		rc = em_csum_add(e, &op->csum, base_slot, span, false);
		return rc < 0 ? rc : update_io(op, 0, span);
	}
	/* Appends (bytes only past the committed end) stay in the slot if it
	 * is big enough: committed bytes are never changed, so readers of
	 * the committed version are safe and no copy is needed. */
	if (p->base_loc && off >= p->base_len &&
	    p->new_len <= em_alloc_slot_size((unsigned)em_loc_class(p->base_loc))) {
		p->in_place = true;
		p->region = p->base_len / EM_PAGE * EM_PAGE;
		op->buf_len = em_align_up(p->new_len, EM_PAGE) - p->region;
		op->buf_size = op->buf_len;
		op->buf = em_engine_buf_get(e, op->buf_size);
		if (!op->buf)
			return -ENOMEM;
		op->buf_dev_off = e->sb.data_off + base_slot + p->region;
		rc = em_csum_add(e, &op->csum, base_slot + p->region, op->buf_len, false);
		if (rc < 0)
			return rc;
		return update_io(op, (uint32_t)p->region, p->base_len % EM_PAGE ? EM_PAGE : 0);
	}
	rc = em_alloc_get(&e->alloc, em_alloc_class_for(p->new_len), &op->new_loc);
	if (rc < 0)
		return rc;
	op->buf_len = em_align_up(p->new_len, EM_PAGE);
	op->buf_size = op->buf_len;
	op->buf = em_engine_buf_get(e, op->buf_size);
	if (!op->buf)
		return -ENOMEM;
	/* A slot of at least a table page's reach owns its pages whole. */
	uint32_t slot_size = em_alloc_slot_size((unsigned)em_loc_class(op->new_loc));
	rc = em_csum_add(e, &op->csum, em_loc_off(op->new_loc), op->buf_len,
			 slot_size >= EM_CSUM_BLOCK * EM_CSUM_PER_PAGE);
	if (rc < 0)
		return rc;
	uint32_t keep = p->base_len < p->new_len ? p->base_len : p->new_len;
	bool overwrites_all = op->kind == EM_OP_UPDATE && off == 0 && len >= p->base_len;
	if (!keep || overwrites_all)
		return update_io(op, 0, 0);
	uint32_t span = (uint32_t)em_align_up(keep, EM_PAGE);
	rc = em_csum_add(e, &op->csum, base_slot, span, false);
	return rc < 0 ? rc : update_io(op, 0, span);
}

static int start_commit(struct em_chunk_op *op)
{
	const struct em_chunk_meta *m = &op->ent->meta;
	uint32_t ver = op->u.update_ver;
	if (!op->ent->live)
		return -ENOENT;
	if (m->pending_ver != ver) {
		if (m->commit_ver == ver && !m->pending_ver)
			return 1; /* already committed: a retry */
		return -EM_EVERSION;
	}
	op->rec.type = EM_REC_PUT;
	op->rec.meta = *m;
	op->rec.meta.commit_ver = ver;
	op->rec.meta.length = m->pending_length;
	op->rec.meta.crc = m->pending_crc;
	op->rec.meta.tail_crc = m->pending_tail_crc;
	op->rec.meta.loc = m->pending_loc;
	op->rec.meta.pending_ver = op->rec.meta.pending_length = op->rec.meta.pending_crc = 0;
	op->rec.meta.pending_tail_crc = 0;
	op->rec.meta.pending_loc = 0;
	em_log_append(op->e, op);
	return 0;
}

static void op_start(struct em_chunk_op *op)
{
	op->started = true;
	int rc;
	if (op->e->failed) {
		rc = op->e->failed;
	} else {
		switch (op->kind) {
		case EM_OP_UPDATE:
		case EM_OP_TRUNCATE:
			rc = start_update(op);
			break;
		case EM_OP_COMMIT:
			rc = start_commit(op);
			break;
		default: /* EM_OP_REMOVE */
			if (!op->ent->live) {
				rc = -ENOENT;
				break;
			}
			op->rec.type = EM_REC_DEL;
			op->rec.meta.id = op->ent->meta.id;
			em_log_append(op->e, op);
			rc = 0;
			break;
		}
	}
	if (rc != 0)
		finish_later(op, rc > 0 ? 0 : rc);
}

static int submit_op(struct em_engine *e, enum em_op_kind kind, const struct em_chunk_update *u,
		     em_chunk_cb cb, void *arg)
{
	if (!cb)
		cb = noop_cb;
	struct em_chunk_entry *ent = em_index_find(&e->index, &u->id);
	if (!ent && (kind == EM_OP_COMMIT || kind == EM_OP_REMOVE))
		return -ENOENT;
	if (!ent && e->index.count >= e->max_chunks)
		return -ENOSPC; /* a checkpoint could not hold one more */
	struct em_chunk_op *op = calloc(1, sizeof(*op));
	if (!op)
		return -ENOMEM;
	if (!ent)
		ent = em_index_get(&e->index, &u->id);
	if (!ent) {
		free(op);
		return -ENOMEM;
	}
	op->e = e;
	op->kind = kind;
	op->ent = ent;
	op->u = *u;
	op->cb = cb;
	op->arg = arg;
	e->ops_inflight++;
	if (ent->q_tail)
		ent->q_tail->qnext = op;
	else
		ent->q_head = op;
	ent->q_tail = op;
	if (ent->q_head == op)
		op_start(op);
	return 0;
}

int em_chunk_update(struct em_engine *e, const struct em_chunk_update *u, em_chunk_cb cb,
		    void *arg)
{
	if (u->offset > EM_CHUNK_MAX_SIZE || u->len > EM_CHUNK_MAX_SIZE - u->offset ||
	    u->update_ver == 0 || (u->flags & ~(EM_CHUNK_COMMIT | EM_CHUNK_REPLACE)) ||
	    ((u->flags & EM_CHUNK_REPLACE) && u->offset))
		return -EINVAL;
	return submit_op(e, EM_OP_UPDATE, u, cb, arg);
}

int em_chunk_truncate(struct em_engine *e, const struct em_chunk_id *id, uint32_t length,
		      uint32_t update_ver, uint32_t chain_ver, uint32_t flags, em_chunk_cb cb,
		      void *arg)
{
	if (length > EM_CHUNK_MAX_SIZE || update_ver == 0 || (flags & ~EM_CHUNK_COMMIT))
		return -EINVAL;
	struct em_chunk_update u = { .id = *id, .offset = length, .update_ver = update_ver,
				     .chain_ver = chain_ver, .flags = flags };
	return submit_op(e, EM_OP_TRUNCATE, &u, cb, arg);
}

int em_chunk_commit(struct em_engine *e, const struct em_chunk_id *id, uint32_t ver,
		    em_chunk_cb cb, void *arg)
{
	struct em_chunk_update u = { .id = *id, .update_ver = ver };
	return submit_op(e, EM_OP_COMMIT, &u, cb, arg);
}

int em_chunk_remove(struct em_engine *e, const struct em_chunk_id *id, em_chunk_cb cb,
		    void *arg)
{
	struct em_chunk_update u = { .id = *id };
	return submit_op(e, EM_OP_REMOVE, &u, cb, arg);
}

/* ---- reads -------------------------------------------------------------- */

struct read_op {
	struct em_engine *e;
	em_chunk_read_cb cb;
	void *arg;
	uint8_t *out, *bounce;
	uint64_t span;
	uint32_t skip, len;
	/* what the check needs: the version and the blocks read */
	struct em_chunk_id id;
	uint64_t loc;
	uint32_t length, tail, first, vto;
	uint32_t waits;
	int status;
	bool issued;
	struct em_csum_req csum;
};

static void read_finish(struct read_op *rd)
{
	struct em_engine *e = rd->e;
	int status = rd->status;
	struct copy_out co = { rd->out, rd->first + rd->skip, rd->first + rd->skip + rd->len };
	if (status == 0 && e->verify)
		status = verify_blocks(e, &rd->csum, &rd->id, rd->loc, rd->length, rd->tail,
				       rd->bounce, rd->first, rd->vto, true, &co);
	else if (status == 0)
		memcpy(rd->out, rd->bounce + rd->skip, rd->len);
	if (status == 0)
		status = (int)rd->len;
	em_csum_put(e, &rd->csum);
	if (rd->issued)
		reader_done(e);
	em_engine_buf_put(e, rd->bounce, rd->span);
	rd->cb(rd->arg, status);
	free(rd);
}

static void read_part_done(void *arg, int status)
{
	struct read_op *rd = arg;
	if (status < 0 && !rd->status)
		rd->status = status;
	if (--rd->waits == 0)
		read_finish(rd);
}

static void read_empty(void *arg)
{
	struct read_op *rd = arg;
	rd->cb(rd->arg, 0);
	free(rd);
}

static void read_free(struct read_op *rd)
{
	em_csum_put(rd->e, &rd->csum);
	em_engine_buf_put(rd->e, rd->bounce, rd->span);
	free(rd);
}

int em_chunk_read(struct em_engine *e, const struct em_chunk_id *id, uint32_t offset,
		  uint32_t len, void *buf, uint32_t flags, em_chunk_read_cb cb, void *arg)
{
	if (flags & ~EM_CHUNK_READ_PENDING)
		return -EINVAL;
	struct em_chunk_entry *ent = em_index_find(&e->index, id);
	if (!ent || !ent->live)
		return -ENOENT;
	const struct em_chunk_meta *m = &ent->meta;
	bool pend = flags & EM_CHUNK_READ_PENDING;
	if (pend ? !m->pending_ver : !m->commit_ver)
		return -ENOENT;
	uint32_t length = pend ? m->pending_length : m->length;
	struct read_op *rd = calloc(1, sizeof(*rd));
	if (!rd)
		return -ENOMEM;
	*rd = (struct read_op){ .e = e, .cb = cb, .arg = arg, .out = buf, .id = *id,
				.loc = pend ? m->pending_loc : m->loc, .length = length,
				.tail = pend ? m->pending_tail_crc : m->tail_crc };
	if (offset >= length || len == 0) {
		if (em_reactor_send(e->r, read_empty, rd) < 0) {
			free(rd);
			return -ENOMEM;
		}
		return 0;
	}
	rd->len = len < length - offset ? len : length - offset;
	/* Whole 4 KiB blocks are read, so every byte returned is checked. */
	uint64_t first = offset / EM_PAGE * EM_PAGE;
	uint64_t span = em_align_up((uint64_t)offset + rd->len, EM_PAGE) - first;
	rd->skip = (uint32_t)(offset - first);
	rd->span = span;
	rd->first = (uint32_t)first;
	rd->vto = first + span < length ? (uint32_t)(first + span) : length;
	rd->bounce = em_engine_buf_get(e, span);
	if (!rd->bounce) {
		free(rd);
		return -ENOMEM;
	}
	rd->waits = 1; /* held until everything is started */
	if (e->verify) {
		int rc = em_csum_add(e, &rd->csum, em_loc_off(rd->loc) + first, span, false);
		if (rc == 0)
			rc = em_csum_ready(&rd->csum, read_part_done, rd);
		if (rc < 0) {
			read_free(rd);
			return rc;
		}
		if (rc == 0)
			rd->waits++;
	}
	int rc = em_eio(e->dev, EM_BDEV_READ, 0, e->sb.data_off + em_loc_off(rd->loc) + first,
			span, rd->bounce, read_part_done, rd);
	if (rc < 0 && rd->waits == 1) {
		read_free(rd);
		return rc;
	}
	if (rc < 0) {
		rd->status = rc; /* the pages' callback reports it */
	} else {
		rd->issued = true;
		rd->waits++;
		e->readers++;
	}
	read_part_done(rd, 0);
	return 0;
}

/* ---- queries ------------------------------------------------------------ */

int em_chunk_query(const struct em_engine *e, const struct em_chunk_id *id,
		   struct em_chunk_meta *out)
{
	struct em_chunk_entry *ent = em_index_find(&e->index, id);
	if (!ent || !ent->live)
		return -ENOENT;
	*out = ent->meta;
	return 0;
}

size_t em_chunk_list(const struct em_engine *e, const struct em_chunk_id *after,
		     struct em_chunk_meta *out, size_t max)
{
	size_t n = 0;
	for (struct em_chunk_entry *ent = em_index_after(&e->index, after); ent && n < max;
	     ent = em_index_next(ent))
		if (ent->live)
			out[n++] = ent->meta;
	return n;
}
