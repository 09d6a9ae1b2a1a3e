/* Opening a target: pick the newer whole superblock, load its checkpoint,
 * replay the log up to the first page that is torn, corrupt or from an older
 * lap of the ring, and rebuild the allocator from what the chunk table
 * references (which reclaims slots of operations that never reached the
 * log). Also close and the statistics. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "block/chunk/eio.h"
#include "block/chunk/internal.h"
#include "include/ember/errors.h"
#include "net/core/log.h"

#define REPLAY_PAGES 64u

static int read_superblock(struct em_engine *e, const char *path)
{
	uint8_t *buf = e->batch_buf;
	int rc = em_eio_sync(e->dev, EM_BDEV_READ, 0, 0, 2 * EM_PAGE, buf);
	if (rc < 0)
		return rc;
	struct em_superblock sb[2];
	int r[2];
	for (int i = 0; i < 2; i++)
		r[i] = em_sb_decode(buf + i * EM_PAGE, EM_PAGE, &sb[i]);
	int pick = r[0] == 0 && (r[1] != 0 || sb[0].generation >= sb[1].generation) ? 0
		   : r[1] == 0 ? 1 : -1;
	if (pick < 0) {
		int v = r[0] == -EPROTONOSUPPORT ? 0 : r[1] == -EPROTONOSUPPORT ? 1 : -1;
		if (v >= 0 && sb[v].version > EM_SB_VERSION) {
			EM_ERR("chunk", "%s: formatted by a newer Ember (format version %u > %u)",
			       path, sb[v].version, EM_SB_VERSION);
			return -EPROTONOSUPPORT;
		}
		if (v >= 0) {
			EM_ERR("chunk", "%s: format version %u has no per-block checksums and this "
			       "Ember opens only version %u; copy its chunks off with the Ember that "
			       "wrote it (or let the chain resync them) and reformat", path,
			       sb[v].version, EM_SB_VERSION);
			return -EPROTONOSUPPORT;
		}
		if (r[0] == -ENODATA && r[1] == -ENODATA) {
			EM_ERR("chunk", "%s: not an Ember target (no superblock); "
			       "run 'ember target format %s' to make it one", path, path);
			return -ENODATA;
		}
		EM_ERR("chunk", "%s: both superblock copies are corrupt", path);
		return -EUCLEAN;
	}
	if (r[pick ^ 1] != 0)
		EM_WARN("chunk", "%s: superblock copy %c is damaged; using the other", path,
			"AB"[pick ^ 1]);
	e->sb = sb[pick];
	const struct em_bdev_info *in = em_bdev_get_info(e->dev);
	if (in->size < e->sb.dev_size || in->block_size > EM_PAGE) {
		EM_ERR("chunk", "%s: device is %llu bytes with %u-byte blocks, but the target "
		       "was formatted for %llu bytes", path, (unsigned long long)in->size,
		       in->block_size, (unsigned long long)e->sb.dev_size);
		return -EUCLEAN;
	}
	return 0;
}

static int load_checkpoint(struct em_engine *e, const char *path)
{
	uint64_t off = e->sb.ckpt_off[e->sb.ckpt_slot];
	int rc = em_eio_sync(e->dev, EM_BDEV_READ, 0, off, EM_PAGE, e->batch_buf);
	if (rc < 0)
		return rc;
	uint64_t count = em_ckpt_peek_count(e->batch_buf);
	if (count > (e->sb.ckpt_size - EM_CKPT_HDR) / EM_REC_SIZE)
		goto corrupt;
	uint64_t len = em_align_up(EM_CKPT_HDR + count * EM_REC_SIZE, EM_PAGE);
	uint8_t *buf = em_bdev_alloc_buf(e->dev, len);
	if (!buf)
		return -ENOMEM;
	rc = em_eio_sync(e->dev, EM_BDEV_READ, 0, off, len, buf);
	struct em_ckpt_hdr h;
	if (rc == 0 && (em_ckpt_check(buf, len, e->sb.nonce, &h) < 0 || h.seq != e->sb.ckpt_seq))
		rc = -EUCLEAN;
	for (uint64_t i = 0; rc == 0 && i < h.count; i++) {
		struct em_log_rec rec;
		rc = em_rec_decode(buf + EM_CKPT_HDR + i * EM_REC_SIZE, EM_REC_SIZE, &rec);
		if (rc == 0 && rec.type != EM_REC_PUT)
			rc = -EUCLEAN;
		if (rc == 0)
			rc = em_engine_apply_rec(e, &rec);
	}
	free(buf);
	if (rc != -EUCLEAN)
		return rc;
corrupt:
	EM_ERR("chunk", "%s: checkpoint %u is corrupt", path, e->sb.ckpt_slot);
	return -EUCLEAN;
}

static int replay_log(struct em_engine *e)
{
	uint64_t seq = e->sb.ckpt_seq, end = seq + e->sb.log_pages;
	uint8_t *buf = em_bdev_alloc_buf(e->dev, REPLAY_PAGES * EM_PAGE);
	if (!buf)
		return -ENOMEM;
	int rc = 0;
	bool stop = false;
	while (!stop && seq < end) {
		uint64_t slot = seq % e->sb.log_pages;
		uint64_t n = e->sb.log_pages - slot;
		if (n > REPLAY_PAGES)
			n = REPLAY_PAGES;
		if (n > end - seq)
			n = end - seq;
		rc = em_eio_sync(e->dev, EM_BDEV_READ, 0, e->sb.log_off + slot * EM_PAGE,
				 n * EM_PAGE, buf);
		if (rc < 0)
			break;
		for (uint64_t i = 0; i < n && !stop; i++) {
			const uint8_t *page = buf + i * EM_PAGE;
			struct em_log_page_hdr h;
			if (em_log_page_check(page, EM_PAGE, seq, e->sb.nonce, &h) < 0) {
				stop = true;
				break;
			}
			for (unsigned r = 0; r < h.nrec && rc == 0; r++) {
				struct em_log_rec rec;
				/* The page CRC held, so a bad record is a
				 * writer bug, not a torn write: refuse. */
				rc = em_rec_decode(page + EM_LOG_HDR + r * EM_REC_SIZE, EM_REC_SIZE, &rec);
				if (rc == 0)
					rc = em_engine_apply_rec(e, &rec);
				e->records_replayed++;
			}
			if (rc < 0)
				stop = true;
			else
				seq++;
		}
	}
	free(buf);
	e->log_tail = e->sb.ckpt_seq;
	e->log_head = seq;
	return rc;
}

static int rebuild_alloc(struct em_engine *e, const char *path)
{
	int rc = em_alloc_init(&e->alloc, e->sb.data_segments);
	if (rc < 0)
		return rc;
	for (struct em_chunk_entry *ent = em_index_after(&e->index, NULL); ent;
	     ent = em_index_next(ent)) {
		const struct em_chunk_meta *m = &ent->meta;
		rc = m->loc ? em_alloc_mark(&e->alloc, m->loc) : 0;
		if (rc == 0 && m->pending_loc && m->pending_loc != m->loc)
			rc = em_alloc_mark(&e->alloc, m->pending_loc);
		if (rc < 0) {
			EM_ERR("chunk", "%s: chunk metadata points outside the data area or two "
			       "chunks share a slot", path);
			return rc;
		}
	}
	return 0;
}

/* Clear the pages just past the log's end. A batch torn by the crash may
 * have left whole pages beyond its first missing one; once new batches
 * fill the gap those would look like valid continuations. */
static int clear_log_tail(struct em_engine *e)
{
	memset(e->batch_buf, 0, EM_LOG_MAX_BATCH * EM_PAGE);
	uint64_t left = EM_LOG_MAX_BATCH, seq = e->log_head;
	while (left) {
		uint64_t slot = seq % e->sb.log_pages, n = e->sb.log_pages - slot;
		if (n > left)
			n = left;
		int rc = em_eio_sync(e->dev, EM_BDEV_WRITE, EM_BDEV_FUA,
				     e->sb.log_off + slot * EM_PAGE, n * EM_PAGE, e->batch_buf);
		if (rc < 0)
			return rc;
		left -= n;
		seq += n;
	}
	return 0;
}

static void engine_free(struct em_engine *e)
{
	em_csum_destroy(e);
	em_index_destroy(&e->index);
	em_alloc_destroy(&e->alloc);
	free(e->batch_buf);
	free(e->sb_buf);
	free(e->ckpt_buf);
	free(e->deferred);
	em_bdev_close(e->dev);
	em_engine_buf_cache_free(e);
	free(e);
}

static int engine_load(const char *path, const struct em_bdev_opts *bo, bool writable,
		       uint32_t csum_cache_pages, struct em_engine **out)
{
	struct em_engine *e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	int rc = em_bdev_open(path, bo, &e->dev);
	if (rc < 0) {
		free(e);
		return rc;
	}
	e->batch_buf = em_bdev_alloc_buf(e->dev, EM_LOG_MAX_BATCH * EM_PAGE);
	e->sb_buf = em_bdev_alloc_buf(e->dev, EM_PAGE);
	rc = e->batch_buf && e->sb_buf ? em_index_init(&e->index) : -ENOMEM;
	if (rc == 0)
		rc = read_superblock(e, path);
	if (rc == 0)
		rc = em_csum_init(e, csum_cache_pages);
	if (rc == 0) {
		e->max_chunks = (e->sb.ckpt_size - EM_CKPT_HDR) / EM_REC_SIZE;
		rc = load_checkpoint(e, path);
	}
	if (rc == 0)
		rc = replay_log(e);
	if (rc == 0)
		rc = rebuild_alloc(e, path);
	if (rc == 0 && writable) {
		/* Fold the replayed log into a checkpoint first, so clearing
		 * pages past its end can never touch pages still needed. */
		rc = em_ckpt_write_sync(e);
		if (rc == 0)
			rc = clear_log_tail(e);
	}
	if (rc < 0) {
		engine_free(e);
		return rc;
	}
	em_log(writable ? EM_LOG_INFO : EM_LOG_DEBUG, "chunk",
	       "%s: %llu chunks, %llu log records replayed", path,
		(unsigned long long)e->live_chunks, (unsigned long long)e->records_replayed);
	*out = e;
	return 0;
}

int em_engine_open(const char *path, const struct em_engine_opts *opts, struct em_reactor *r,
		   struct em_engine **out)
{
	struct em_bdev_opts bo = { .kind = opts ? opts->kind : EM_BDEV_AUTO,
				   .queue_depth = opts ? opts->queue_depth : 0 };
	struct em_engine *e;
	int rc = engine_load(path, &bo, true, opts ? opts->csum_cache_pages : 0, &e);
	if (rc < 0)
		return rc;
	e->r = r;
	e->verify = !(opts && opts->no_verify);
	rc = em_bdev_attach(e->dev, r);
	if (rc < 0) {
		engine_free(e);
		return rc;
	}
	*out = e;
	return 0;
}

void em_engine_close(struct em_engine *e)
{
	if (!e)
		return;
	/* Finish a checkpoint or batch still in flight, then fold the log
	 * into a final checkpoint so the next open replays nothing. */
	int rc = em_bdev_drain(e->dev);
	if (rc == 0 && !e->failed && e->log_head != e->log_tail)
		rc = em_ckpt_write_sync(e);
	if (rc < 0)
		EM_ERR("chunk", "close: final checkpoint: %s", em_strerror(rc));
	engine_free(e);
}

void em_engine_get_stats(const struct em_engine *e, struct em_engine_stats *s)
{
	memset(s, 0, sizeof(*s));
	memcpy(s->uuid, e->sb.uuid, sizeof(s->uuid));
	s->format_version = e->sb.version;
	s->block_size = e->sb.block_size;
	s->dev_size = e->sb.dev_size;
	s->created_ms = e->sb.created_ms;
	s->generation = e->sb.generation;
	s->data_off = e->sb.data_off;
	s->data_segments = e->sb.data_segments;
	s->free_segments = e->alloc.free_segs;
	s->chunks = e->live_chunks;
	s->bytes = e->live_bytes;
	s->log_pages = e->sb.log_pages;
	s->log_head = e->log_head;
	s->log_tail = e->log_tail;
	s->ckpt_slot = e->sb.ckpt_slot;
	s->ckpt_seq = e->sb.ckpt_seq;
	s->records_replayed = e->records_replayed;
	s->csum_errors = e->csum_errors;
	for (unsigned c = 0; c < EM_CHUNK_CLASSES; c++) {
		s->cls[c].slot_size = em_alloc_slot_size(c);
		s->cls[c].segments = e->alloc.class_segs[c];
		s->cls[c].slots_used = e->alloc.class_used[c];
		s->cls[c].slots_total = (uint64_t)e->alloc.class_segs[c] * em_alloc_seg_slots(c);
	}
}

int em_engine_inspect_chunk(const char *path, enum em_bdev_kind kind,
			    const struct em_chunk_id *id, struct em_chunk_meta *meta,
			    uint64_t *dev_off)
{
	struct em_bdev_opts bo = { .kind = kind };
	struct em_engine *e;
	int rc = engine_load(path, &bo, false, 0, &e);
	if (rc < 0)
		return rc;
	rc = em_chunk_query(e, id, meta);
	if (rc == 0 && dev_off)
		*dev_off = meta->loc ? e->sb.data_off + em_loc_off(meta->loc) : 0;
	engine_free(e);
	return rc;
}

int em_engine_inspect(const char *path, enum em_bdev_kind kind, struct em_engine_stats *out)
{
	struct em_bdev_opts bo = { .kind = kind };
	struct em_engine *e;
	int rc = engine_load(path, &bo, false, 0, &e);
	if (rc < 0)
		return rc;
	em_engine_get_stats(e, out);
	engine_free(e);
	return 0;
}
