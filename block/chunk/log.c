/* The write-ahead metadata log: group commit and checkpoints.
 *
 * An operation's record joins the pending list once its data is written.
 * Only one log write is in flight; everything that arrives meanwhile rides
 * in the next one (group commit). A batch writes the dirty pages of the
 * checksum table, then a device flush, which makes the batch's data and
 * checksums durable, then a FUA write of fresh log pages, so a record is
 * never on media before its data. Each batch starts on a new page: a page
 * holding acknowledged records is never rewritten, so a torn write can only
 * hurt records nobody was told about.
 *
 * The log is a ring of pages numbered by an ever-growing sequence; page seq
 * lives at slot seq % log_pages. Once half the ring is used, a checkpoint
 * (the whole chunk table) goes to the spare checkpoint area, then both
 * superblocks point at it, and the pages before it become free.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "block/chunk/eio.h"
#include "block/chunk/internal.h"
#include "include/ember/errors.h"
#include "net/core/log.h"

static void fail_all(struct em_engine *e, struct em_chunk_op *list, int status)
{
	while (list) {
		struct em_chunk_op *next = list->lnext;
		em_op_finish(list, status);
		list = next;
	}
}

static void set_failed(struct em_engine *e, int status, const char *what)
{
	if (!e->failed)
		EM_ERR("chunk", "%s failed: %s; the target refuses further updates", what,
		       em_strerror(status));
	e->failed = status;
	struct em_chunk_op *pend = e->pend_head;
	e->pend_head = e->pend_tail = NULL;
	fail_all(e, pend, status);
}

static void batch_done(void *arg, int status)
{
	struct em_engine *e = arg;
	struct em_chunk_op *list = e->batch;
	e->batch = NULL;
	if (status < 0) {
		e->batch_busy = false;
		fail_all(e, list, status);
		set_failed(e, status, "metadata log write");
		return;
	}
	e->log_head += e->batch_pages;
	/* Apply every record before any callback runs, so the table matches
	 * the durable log when a checkpoint snapshots it. batch_busy stays set
	 * until then: callbacks queue new records without starting a batch. */
	for (struct em_chunk_op *op = list; op; op = op->lnext)
		em_op_apply(e, op);
	e->batch_busy = false;
	em_ckpt_maybe(e, false);
	e->batch_busy = true;
	while (list) {
		struct em_chunk_op *next = list->lnext;
		em_op_finish(list, 0);
		list = next;
	}
	e->batch_busy = false;
	em_log_kick(e);
}

static void batch_flushed(void *arg, int status);

static void batch_csum_written(void *arg, int status)
{
	struct em_engine *e = arg;
	if (status < 0) {
		batch_done(e, status);
		return;
	}
	int rc = em_eio(e->dev, EM_BDEV_FLUSH, 0, 0, 0, NULL, batch_flushed, e);
	if (rc < 0)
		batch_done(e, rc);
}

static void batch_flushed(void *arg, int status)
{
	struct em_engine *e = arg;
	if (status < 0) {
		batch_done(e, status);
		return;
	}
	uint64_t at = e->sb.log_off + (e->log_head % e->sb.log_pages) * EM_PAGE;
	int rc = em_eio(e->dev, EM_BDEV_WRITE, EM_BDEV_FUA, at, (uint64_t)e->batch_pages * EM_PAGE,
			e->batch_buf, batch_done, e);
	if (rc < 0)
		batch_done(e, rc);
}

void em_log_append(struct em_engine *e, struct em_chunk_op *op)
{
	op->lnext = NULL;
	if (e->pend_tail)
		e->pend_tail->lnext = op;
	else
		e->pend_head = op;
	e->pend_tail = op;
	em_log_kick(e);
}

void em_log_kick(struct em_engine *e)
{
	if (e->batch_busy || !e->pend_head)
		return;
	if (e->failed) {
		set_failed(e, e->failed, "metadata log");
		return;
	}
	uint64_t used = e->log_head - e->log_tail;
	uint64_t room = e->sb.log_pages - used;
	/* A batch never wraps the ring: one contiguous write. */
	uint64_t to_end = e->sb.log_pages - e->log_head % e->sb.log_pages;
	uint64_t max = EM_LOG_MAX_BATCH;
	if (room < max)
		max = room;
	if (to_end < max)
		max = to_end;
	if (max == 0) {
		/* Ring full: wait for a checkpoint to free pages. */
		em_ckpt_maybe(e, true);
		return;
	}
	uint32_t pages = 0, nrec = EM_LOG_RECS_PER_PAGE;
	struct em_chunk_op **tail = &e->batch;
	memset(e->batch_buf, 0, EM_LOG_MAX_BATCH * EM_PAGE);
	while (e->pend_head) {
		if (nrec == EM_LOG_RECS_PER_PAGE) {
			if (pages == max)
				break;
			if (pages)
				em_log_page_seal(e->batch_buf + (pages - 1) * EM_PAGE,
						 e->log_head + pages - 1, e->sb.nonce, (uint16_t)nrec);
			pages++;
			nrec = 0;
		}
		struct em_chunk_op *op = e->pend_head;
		e->pend_head = op->lnext;
		op->lnext = NULL;
		*tail = op;
		tail = &op->lnext;
		em_rec_encode(&op->rec, e->batch_buf + (pages - 1) * EM_PAGE + EM_LOG_HDR +
						 nrec * EM_REC_SIZE);
		nrec++;
	}
	if (!e->pend_head)
		e->pend_tail = NULL;
	em_log_page_seal(e->batch_buf + (pages - 1) * EM_PAGE, e->log_head + pages - 1,
			 e->sb.nonce, (uint16_t)nrec);
	e->batch_pages = pages;
	e->batch_busy = true;
	int rc = em_csum_write_dirty(e, batch_csum_written, e);
	if (rc != 0)
		batch_csum_written(e, rc < 0 ? rc : 0);
}

/* ---- checkpoints -------------------------------------------------------- */

static void ckpt_finished(struct em_engine *e, int status)
{
	e->ckpt_busy = false;
	if (status < 0) {
		set_failed(e, status, "checkpoint");
		return;
	}
	e->log_tail = e->sb.ckpt_seq;
	EM_DEBUG("chunk", "checkpoint at log page %llu, generation %llu",
		 (unsigned long long)e->sb.ckpt_seq, (unsigned long long)e->sb.generation);
	em_log_kick(e);
}

static void sb_b_written(void *arg, int status)
{
	ckpt_finished(arg, status);
}

static void sb_a_written(void *arg, int status)
{
	struct em_engine *e = arg;
	if (status < 0) {
		ckpt_finished(e, status);
		return;
	}
	/* Copy A already names the new checkpoint; B follows, so at every
	 * instant at least one copy is whole. */
	int rc = em_eio(e->dev, EM_BDEV_WRITE, EM_BDEV_FUA, EM_PAGE, EM_PAGE, e->sb_buf,
			sb_b_written, e);
	if (rc < 0)
		ckpt_finished(e, rc);
}

static void ckpt_written(void *arg, int status)
{
	struct em_engine *e = arg;
	if (status < 0) {
		ckpt_finished(e, status);
		return;
	}
	e->sb.generation++;
	e->sb.ckpt_slot ^= 1;
	e->sb.ckpt_seq = e->ckpt_new_seq;
	memset(e->sb_buf, 0, EM_PAGE);
	em_sb_encode(&e->sb, e->sb_buf);
	int rc = em_eio(e->dev, EM_BDEV_WRITE, EM_BDEV_FUA, 0, EM_PAGE, e->sb_buf, sb_a_written, e);
	if (rc < 0)
		ckpt_finished(e, rc);
}

void em_ckpt_maybe(struct em_engine *e, bool force)
{
	if (e->ckpt_busy || e->batch_busy || e->failed)
		return;
	uint64_t used = e->log_head - e->log_tail;
	if (used == 0 || (!force && used < e->sb.log_pages / 2))
		return;
	/* No batch is in flight, so the table is exactly what pages before
	 * log_head say: snapshot it now, write it while logging goes on. */
	int rc = em_ckpt_build(e, e->log_head);
	if (rc < 0) {
		set_failed(e, rc, "checkpoint");
		return;
	}
	e->ckpt_busy = true;
	e->ckpt_new_seq = e->log_head;
	rc = em_eio(e->dev, EM_BDEV_WRITE, EM_BDEV_FUA, e->sb.ckpt_off[e->sb.ckpt_slot ^ 1],
		    e->ckpt_len, e->ckpt_buf, ckpt_written, e);
	if (rc < 0)
		ckpt_finished(e, rc);
}
