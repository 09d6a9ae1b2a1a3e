/* Formatting a target, and writing superblocks and checkpoints. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "block/chunk/csum.h"
#include "block/chunk/eio.h"
#include "block/chunk/internal.h"
#include "include/ember/errors.h"
#include "net/core/log.h"

#define MIB (1ull << 20)

int em_super_write_sync(struct em_engine *e)
{
	memset(e->sb_buf, 0, EM_PAGE);
	em_sb_encode(&e->sb, e->sb_buf);
	int rc = em_eio_sync(e->dev, EM_BDEV_WRITE, EM_BDEV_FUA, 0, EM_PAGE, e->sb_buf);
	if (rc == 0)
		rc = em_eio_sync(e->dev, EM_BDEV_WRITE, EM_BDEV_FUA, EM_PAGE, EM_PAGE, e->sb_buf);
	return rc;
}

int em_ckpt_build(struct em_engine *e, uint64_t seq)
{
	uint64_t need = em_align_up(EM_CKPT_HDR + e->live_chunks * EM_REC_SIZE, EM_PAGE);
	if (need > e->sb.ckpt_size)
		return -ENOSPC;
	free(e->ckpt_buf);
	e->ckpt_buf = em_bdev_alloc_buf(e->dev, need);
	if (!e->ckpt_buf)
		return -ENOMEM;
	memset(e->ckpt_buf, 0, need);
	uint64_t n = 0;
	for (struct em_chunk_entry *ent = em_index_after(&e->index, NULL); ent;
	     ent = em_index_next(ent)) {
		if (!ent->live)
			continue;
		struct em_log_rec rec = { .type = EM_REC_PUT, .meta = ent->meta };
		em_rec_encode(&rec, e->ckpt_buf + EM_CKPT_HDR + n * EM_REC_SIZE);
		n++;
	}
	em_ckpt_seal(e->ckpt_buf, seq, e->sb.nonce, n);
	e->ckpt_len = need;
	return 0;
}

int em_ckpt_write_sync(struct em_engine *e)
{
	int rc = em_ckpt_build(e, e->log_head);
	if (rc < 0)
		return rc;
	rc = em_eio_sync(e->dev, EM_BDEV_WRITE, EM_BDEV_FUA, e->sb.ckpt_off[e->sb.ckpt_slot ^ 1],
			 e->ckpt_len, e->ckpt_buf);
	if (rc < 0)
		return rc;
	e->sb.generation++;
	e->sb.ckpt_slot ^= 1;
	e->sb.ckpt_seq = e->log_head;
	rc = em_super_write_sync(e);
	if (rc == 0)
		e->log_tail = e->log_head;
	return rc;
}

/* ---- format ------------------------------------------------------------- */

static int plan_layout(struct em_superblock *sb, const struct em_bdev_info *in, uint32_t log_pages)
{
	sb->version = EM_SB_VERSION;
	sb->block_size = in->block_size;
	sb->dev_size = in->size;
	sb->log_off = MIB;
	/* Default log: 1/256 of the device, between 4 MiB and 1 GiB. */
	if (!log_pages) {
		uint64_t bytes = in->size / 256;
		bytes = bytes < 4 * MIB ? 4 * MIB : bytes > 1024 * MIB ? 1024 * MIB : bytes;
		log_pages = (uint32_t)(bytes / EM_PAGE);
	}
	sb->log_pages = log_pages;
	uint64_t log_end = em_align_up(sb->log_off + (uint64_t)log_pages * EM_PAGE, MIB);
	if (log_end >= in->size)
		return -ENOSPC;
	/* A checkpoint must hold the most chunks the data area can: one per
	 * 64 KiB slot. Empty chunks have no slot; the engine caps the chunk
	 * count at the same number. */
	uint64_t max_chunks = (in->size - log_end) / (64 * 1024) + 1;
	sb->ckpt_size = em_align_up(EM_CKPT_HDR + max_chunks * EM_REC_SIZE, MIB);
	sb->ckpt_off[0] = log_end;
	sb->ckpt_off[1] = log_end + sb->ckpt_size;
	sb->csum_off = log_end + 2 * sb->ckpt_size;
	if (sb->csum_off >= in->size)
		return -ENOSPC;
	/* Each 64 MiB segment costs its 64 KiB of checksums; the table ends
	 * on a MiB boundary so the data area stays aligned. */
	uint64_t left = in->size - sb->csum_off;
	uint64_t segs = left / (EM_SEGMENT_SIZE + EM_CSUM_SEG_BYTES);
	while (segs && em_align_up(segs * EM_CSUM_SEG_BYTES, MIB) + segs * EM_SEGMENT_SIZE > left)
		segs--;
	if (segs == 0 || segs > (1u << 24))
		return -ENOSPC;
	sb->data_segments = (uint32_t)segs;
	sb->data_off = sb->csum_off + em_align_up(segs * EM_CSUM_SEG_BYTES, MIB);
	sb->ckpt_slot = 0;
	sb->ckpt_seq = 1;
	sb->generation = 1;
	return 0;
}

int em_engine_format(const char *path, const struct em_engine_format_opts *opts)
{
	struct em_bdev_opts bo = { .kind = opts ? opts->kind : EM_BDEV_AUTO };
	struct em_bdev *d;
	int rc = em_bdev_open(path, &bo, &d);
	if (rc < 0)
		return rc;
	const struct em_bdev_info *in = em_bdev_get_info(d);
	struct em_superblock sb = { 0 };
	uint8_t *buf = NULL;
	if (in->block_size > EM_PAGE) {
		EM_ERR("chunk", "%s: block size %u is larger than 4 KiB", path, in->block_size);
		rc = -EINVAL;
		goto out;
	}
	rc = plan_layout(&sb, in, opts ? opts->log_pages : 0);
	if (rc < 0) {
		EM_ERR("chunk", "%s: too small for a target (%llu bytes; needs the log, two "
		       "checkpoint areas and one 64 MiB data segment)", path,
		       (unsigned long long)in->size);
		goto out;
	}
	if (getrandom(sb.uuid, sizeof(sb.uuid), 0) != sizeof(sb.uuid)) {
		rc = -EIO;
		goto out;
	}
	memcpy(&sb.nonce, sb.uuid, sizeof(sb.nonce));
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	sb.created_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;

	/* Clear the log: with a fresh nonce old pages could not replay anyway,
	 * but a clean ring makes `inspect` and debugging honest. */
	uint64_t log_len = (uint64_t)sb.log_pages * EM_PAGE, step = in->max_transfer;
	buf = em_bdev_alloc_buf(d, step);
	if (!buf) {
		rc = -ENOMEM;
		goto out;
	}
	memset(buf, 0, step);
	for (uint64_t done = 0; done < log_len; done += step) {
		uint64_t n = log_len - done < step ? log_len - done : step;
		rc = em_eio_sync(d, EM_BDEV_WRITE, 0, sb.log_off + done, n, buf);
		if (rc < 0)
			goto out;
		if (opts && opts->progress)
			opts->progress(opts->progress_arg, done + n, log_len);
	}
	/* An empty checkpoint, then the superblocks that name it. */
	memset(buf, 0, EM_PAGE);
	em_ckpt_seal(buf, sb.ckpt_seq, sb.nonce, 0);
	rc = em_eio_sync(d, EM_BDEV_WRITE, EM_BDEV_FUA, sb.ckpt_off[0], EM_PAGE, buf);
	if (rc < 0)
		goto out;
	memset(buf, 0, EM_PAGE);
	em_sb_encode(&sb, buf);
	rc = em_eio_sync(d, EM_BDEV_WRITE, EM_BDEV_FUA, 0, EM_PAGE, buf);
	if (rc == 0)
		rc = em_eio_sync(d, EM_BDEV_WRITE, EM_BDEV_FUA, EM_PAGE, EM_PAGE, buf);
out:
	if (rc < 0)
		EM_ERR("chunk", "%s: format failed: %s", path, em_strerror(rc));
	free(buf);
	em_bdev_close(d);
	return rc;
}
