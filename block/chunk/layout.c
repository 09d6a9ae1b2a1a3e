/* Encoders and bounds-checked decoders for the on-disk structures. */
#include <errno.h>
#include <string.h>

#include "block/chunk/layout.h"
#include "net/core/crc32c.h"
#include "net/serde.h" /* little-endian fields: em_put_le* / em_get_le* */

/* ---- superblock: magic 8, crc 4 over [12, SB_LEN), fields ---------------- */
#define SB_LEN 160u
#define CSUM_LEN(sb) ((uint64_t)(sb)->data_segments * (64u * 1024u))

void em_sb_encode(const struct em_superblock *sb, uint8_t *p)
{
	em_put_le64(p, EM_SB_MAGIC);
	em_put_le32(p + 12, sb->version);
	em_put_le32(p + 16, sb->block_size);
	memcpy(p + 20, sb->uuid, 16);
	em_put_le64(p + 36, sb->nonce);
	em_put_le64(p + 44, sb->dev_size);
	em_put_le64(p + 52, sb->log_off);
	em_put_le32(p + 60, sb->log_pages);
	em_put_le32(p + 64, sb->ckpt_slot);
	em_put_le64(p + 68, sb->ckpt_off[0]);
	em_put_le64(p + 76, sb->ckpt_off[1]);
	em_put_le64(p + 84, sb->ckpt_size);
	em_put_le64(p + 92, sb->data_off);
	em_put_le32(p + 100, sb->data_segments);
	em_put_le64(p + 104, sb->generation);
	em_put_le64(p + 112, sb->ckpt_seq);
	em_put_le64(p + 120, sb->created_ms);
	em_put_le64(p + 128, sb->csum_off);
	em_put_le32(p + 8, em_crc32c(0, p + 12, SB_LEN - 12));
}

static int ranges_disjoint(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a + alen <= b || b + blen <= a;
}

int em_sb_decode(const uint8_t *p, size_t len, struct em_superblock *sb)
{
	if (len < SB_LEN || em_get_le64(p) != EM_SB_MAGIC)
		return -ENODATA;
	if (em_get_le32(p + 8) != em_crc32c(0, p + 12, SB_LEN - 12))
		return -EUCLEAN;
	memset(sb, 0, sizeof(*sb));
	sb->version = em_get_le32(p + 12);
	if (sb->version != EM_SB_VERSION)
		return -EPROTONOSUPPORT;
	sb->block_size = em_get_le32(p + 16);
	memcpy(sb->uuid, p + 20, 16);
	sb->nonce = em_get_le64(p + 36);
	sb->dev_size = em_get_le64(p + 44);
	sb->log_off = em_get_le64(p + 52);
	sb->log_pages = em_get_le32(p + 60);
	sb->ckpt_slot = em_get_le32(p + 64);
	sb->ckpt_off[0] = em_get_le64(p + 68);
	sb->ckpt_off[1] = em_get_le64(p + 76);
	sb->ckpt_size = em_get_le64(p + 84);
	sb->data_off = em_get_le64(p + 92);
	sb->data_segments = em_get_le32(p + 100);
	sb->generation = em_get_le64(p + 104);
	sb->ckpt_seq = em_get_le64(p + 112);
	sb->created_ms = em_get_le64(p + 120);
	sb->csum_off = em_get_le64(p + 128);
	/* The CRC only proves the bytes are what some writer meant; check the
	 * geometry too so a buggy or hostile image cannot steer I/O anywhere. */
	uint64_t log_len = (uint64_t)sb->log_pages * EM_PAGE;
	uint64_t data_len = (uint64_t)sb->data_segments * EM_SEGMENT_SIZE;
	uint64_t csum_len = CSUM_LEN(sb);
	if (sb->block_size < 512 || sb->block_size > EM_PAGE ||
	    (sb->block_size & (sb->block_size - 1)) || sb->ckpt_slot > 1 ||
	    sb->log_pages < 64 || sb->log_pages > (1u << 24) || sb->data_segments == 0 ||
	    sb->data_segments > (1u << 24) || sb->ckpt_size < EM_PAGE ||
	    sb->ckpt_size > (1ull << 40) || sb->log_off < 2 * EM_PAGE ||
	    (sb->log_off | sb->ckpt_off[0] | sb->ckpt_off[1] | sb->ckpt_size | sb->data_off |
	     sb->csum_off) % EM_PAGE ||
	    sb->log_off > sb->dev_size || log_len > sb->dev_size - sb->log_off ||
	    sb->ckpt_off[0] > sb->dev_size || sb->ckpt_size > sb->dev_size - sb->ckpt_off[0] ||
	    sb->ckpt_off[1] > sb->dev_size || sb->ckpt_size > sb->dev_size - sb->ckpt_off[1] ||
	    sb->data_off > sb->dev_size || data_len > sb->dev_size - sb->data_off ||
	    sb->csum_off > sb->dev_size || csum_len > sb->dev_size - sb->csum_off ||
	    sb->csum_off < sb->log_off ||
	    !ranges_disjoint(sb->log_off, log_len, sb->ckpt_off[0], sb->ckpt_size) ||
	    !ranges_disjoint(sb->log_off, log_len, sb->ckpt_off[1], sb->ckpt_size) ||
	    !ranges_disjoint(sb->ckpt_off[0], sb->ckpt_size, sb->ckpt_off[1], sb->ckpt_size) ||
	    !ranges_disjoint(sb->data_off, data_len, sb->log_off, log_len) ||
	    !ranges_disjoint(sb->data_off, data_len, sb->ckpt_off[0], sb->ckpt_size) ||
	    !ranges_disjoint(sb->data_off, data_len, sb->ckpt_off[1], sb->ckpt_size) ||
	    !ranges_disjoint(sb->csum_off, csum_len, sb->log_off, log_len) ||
	    !ranges_disjoint(sb->csum_off, csum_len, sb->ckpt_off[0], sb->ckpt_size) ||
	    !ranges_disjoint(sb->csum_off, csum_len, sb->ckpt_off[1], sb->ckpt_size) ||
	    !ranges_disjoint(sb->csum_off, csum_len, sb->data_off, data_len) ||
	    sb->ckpt_seq == 0)
		return -EUCLEAN;
	return 0;
}

/* ---- records: type 1, rsv 7, meta 72 ----------------------------------- */

void em_rec_encode(const struct em_log_rec *r, uint8_t *p)
{
	const struct em_chunk_meta *m = &r->meta;
	memset(p, 0, EM_REC_SIZE);
	p[0] = r->type;
	memcpy(p + 8, m->id.b, 16);
	em_put_le32(p + 24, m->chain_ver);
	em_put_le32(p + 28, m->commit_ver);
	em_put_le32(p + 32, m->pending_ver);
	em_put_le32(p + 36, m->length);
	em_put_le32(p + 40, m->crc);
	em_put_le32(p + 44, m->pending_length);
	em_put_le32(p + 48, m->pending_crc);
	em_put_le64(p + 52, m->loc);
	em_put_le64(p + 60, m->pending_loc);
	em_put_le32(p + 68, m->tail_crc);
	em_put_le32(p + 72, m->pending_tail_crc);
}

static int loc_valid(uint64_t loc, uint32_t length)
{
	if (loc == 0)
		return length == 0;
	int cls = em_loc_class(loc);
	if (cls < 0 || cls >= EM_CHUNK_CLASSES || loc & 0xff00)
		return 0;
	/* The slot must hold the bytes and sit on a slot boundary. */
	uint64_t slot = 1ull << (EM_CLASS_MIN_SHIFT + cls);
	return length <= slot && em_loc_off(loc) % slot == 0;
}

int em_rec_decode(const uint8_t *p, size_t len, struct em_log_rec *r)
{
	if (len < EM_REC_SIZE)
		return -EUCLEAN;
	memset(r, 0, sizeof(*r));
	r->type = p[0];
	if (r->type != EM_REC_PUT && r->type != EM_REC_DEL)
		return -EUCLEAN;
	struct em_chunk_meta *m = &r->meta;
	memcpy(m->id.b, p + 8, 16);
	m->chain_ver = em_get_le32(p + 24);
	m->commit_ver = em_get_le32(p + 28);
	m->pending_ver = em_get_le32(p + 32);
	m->length = em_get_le32(p + 36);
	m->crc = em_get_le32(p + 40);
	m->pending_length = em_get_le32(p + 44);
	m->pending_crc = em_get_le32(p + 48);
	m->loc = em_get_le64(p + 52);
	m->pending_loc = em_get_le64(p + 60);
	m->tail_crc = em_get_le32(p + 68);
	m->pending_tail_crc = em_get_le32(p + 72);
	if (r->type == EM_REC_DEL)
		return 0;
	if (m->length > EM_CHUNK_MAX_SIZE || m->pending_length > EM_CHUNK_MAX_SIZE ||
	    !loc_valid(m->loc, m->length) || (m->pending_ver && !loc_valid(m->pending_loc, m->pending_length)) ||
	    (!m->pending_ver && m->pending_loc) || (m->pending_ver && m->pending_ver <= m->commit_ver) ||
	    (m->commit_ver == 0 && m->loc))
		return -EUCLEAN;
	return 0;
}

/* ---- log pages: magic 4, crc 4 over [8, 4096), seq 8, nonce 8, nrec 2 --- */

void em_log_page_seal(uint8_t *p, uint64_t seq, uint64_t nonce, uint16_t nrec)
{
	em_put_le32(p, EM_LOG_MAGIC);
	em_put_le64(p + 8, seq);
	em_put_le64(p + 16, nonce);
	em_put_le16(p + 24, nrec);
	memset(p + 26, 0, EM_LOG_HDR - 26);
	em_put_le32(p + 4, em_crc32c(0, p + 8, EM_PAGE - 8));
}

int em_log_page_check(const uint8_t *p, size_t len, uint64_t seq, uint64_t nonce,
		      struct em_log_page_hdr *h)
{
	if (len < EM_PAGE || em_get_le32(p) != EM_LOG_MAGIC)
		return -EUCLEAN;
	h->seq = em_get_le64(p + 8);
	h->nonce = em_get_le64(p + 16);
	h->nrec = em_get_le16(p + 24);
	if (h->seq != seq || h->nonce != nonce || h->nrec > EM_LOG_RECS_PER_PAGE)
		return -EUCLEAN;
	if (em_get_le32(p + 4) != em_crc32c(0, p + 8, EM_PAGE - 8))
		return -EUCLEAN;
	return 0;
}

/* ---- checkpoints: magic 4, crc 4 over [8, 32 + count * 80), fields ------ */

void em_ckpt_seal(uint8_t *p, uint64_t seq, uint64_t nonce, uint64_t count)
{
	em_put_le32(p, EM_CKPT_MAGIC);
	em_put_le64(p + 8, seq);
	em_put_le64(p + 16, nonce);
	em_put_le64(p + 24, count);
	em_put_le32(p + 4, em_crc32c(0, p + 8, EM_CKPT_HDR - 8 + count * EM_REC_SIZE));
}

int em_ckpt_check(const uint8_t *p, size_t len, uint64_t nonce, struct em_ckpt_hdr *h)
{
	if (len < EM_CKPT_HDR || em_get_le32(p) != EM_CKPT_MAGIC)
		return -EUCLEAN;
	h->seq = em_get_le64(p + 8);
	h->nonce = em_get_le64(p + 16);
	h->count = em_get_le64(p + 24);
	if (h->nonce != nonce || h->count > (len - EM_CKPT_HDR) / EM_REC_SIZE)
		return -EUCLEAN;
	if (em_get_le32(p + 4) != em_crc32c(0, p + 8, EM_CKPT_HDR - 8 + h->count * EM_REC_SIZE))
		return -EUCLEAN;
	return 0;
}

uint64_t em_ckpt_peek_count(const uint8_t *p)
{
	return em_get_le64(p + 24);
}
