/* On-disk format of a chunk target. Every structure is little-endian, has a
 * CRC32C and is decoded by a function that checks every bound, since the
 * bytes come from a device that may be corrupt, foreign or torn.
 *
 *   0       superblock copy A (4 KiB)
 *   4 KiB   superblock copy B (4 KiB)
 *   1 MiB   metadata log: log_pages 4 KiB pages, used as a ring
 *   ...     checkpoint area 0, checkpoint area 1 (ckpt_size bytes each)
 *   ...     checksum table: a CRC32C per 4 KiB data block (csum.h)
 *   ...     data area: data_segments segments of 64 MiB, 1 MiB aligned
 *
 * See docs/chunk-engine.md for the reasoning.
 */
#ifndef EMBER_BLOCK_CHUNK_LAYOUT_H
#define EMBER_BLOCK_CHUNK_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#include "block/chunk/engine.h"

#define EM_PAGE 4096u
#define EM_SB_MAGIC 0x544752424d45ull /* "EMBRGT" */
/* 2: per-block checksum table, records with the last block's CRC. */
#define EM_SB_VERSION 2u
#define EM_LOG_MAGIC 0x474f4c45u       /* "ELOG" */
#define EM_CKPT_MAGIC 0x54504b43u      /* "CKPT" */
#define EM_SEGMENT_SIZE (64ull << 20)
#define EM_CLASS_MIN_SHIFT 16          /* 64 KiB */

struct em_superblock {
	uint32_t version;
	uint32_t block_size;
	uint8_t uuid[16];
	uint64_t nonce;          /* stamps every log page: pages of an older format never replay */
	uint64_t dev_size;
	uint64_t log_off;
	uint32_t log_pages;
	uint32_t ckpt_slot;      /* which area holds the current checkpoint */
	uint64_t ckpt_off[2];
	uint64_t ckpt_size;
	uint64_t data_off;
	uint32_t data_segments;
	uint64_t generation;     /* higher wins between the two copies */
	uint64_t ckpt_seq;       /* first log page not covered by the checkpoint */
	uint64_t created_ms;     /* wall clock at format, for inspect */
	uint64_t csum_off;       /* checksum table, 64 KiB per data segment */
};

/* Encode into a zeroed EM_PAGE buffer. */
void em_sb_encode(const struct em_superblock *sb, uint8_t *page);
/* 0, -ENODATA (no Ember magic: foreign or blank), -EUCLEAN (magic but bad
 * CRC or fields), -EPROTONOSUPPORT (a format version other than
 * EM_SB_VERSION; sb->version says which). */
int em_sb_decode(const uint8_t *buf, size_t len, struct em_superblock *sb);

/* One metadata record: 8-byte header, 72-byte chunk meta. */
#define EM_REC_SIZE 80u
enum em_rec_type {
	EM_REC_PUT = 1, /* the chunk's whole metadata after an operation */
	EM_REC_DEL = 2, /* the chunk is gone */
};
struct em_log_rec {
	uint8_t type;
	struct em_chunk_meta meta; /* DEL: only id */
};
void em_rec_encode(const struct em_log_rec *r, uint8_t *out);
int em_rec_decode(const uint8_t *in, size_t len, struct em_log_rec *r);

/* Log page: 32-byte header then records. */
#define EM_LOG_HDR 32u
#define EM_LOG_RECS_PER_PAGE ((EM_PAGE - EM_LOG_HDR) / EM_REC_SIZE)
struct em_log_page_hdr {
	uint64_t seq;
	uint64_t nonce;
	uint16_t nrec;
};
/* Writes the header and CRC over a page whose records are already in place. */
void em_log_page_seal(uint8_t *page, uint64_t seq, uint64_t nonce, uint16_t nrec);
/* 0 when the page is a valid page of (seq, nonce); -EUCLEAN otherwise. */
int em_log_page_check(const uint8_t *page, size_t len, uint64_t seq, uint64_t nonce,
		      struct em_log_page_hdr *hdr);

/* Checkpoint: 32-byte header, then count records of EM_REC_SIZE (PUT). */
#define EM_CKPT_HDR 32u
struct em_ckpt_hdr {
	uint64_t seq;
	uint64_t nonce;
	uint64_t count;
};
void em_ckpt_seal(uint8_t *buf, uint64_t seq, uint64_t nonce, uint64_t count);
/* Checks header and CRC of the buffer (len bytes available). */
int em_ckpt_check(const uint8_t *buf, size_t len, uint64_t nonce, struct em_ckpt_hdr *hdr);

/* Chunk locations: data-area byte offset with the size class + 1 in the low
 * byte (offsets are 64 KiB aligned); 0 means none. */
static inline uint64_t em_loc_make(uint64_t off, unsigned cls)
{
	return off | (uint64_t)(cls + 1);
}
static inline uint64_t em_loc_off(uint64_t loc)
{
	return loc & ~0xffull;
}
static inline int em_loc_class(uint64_t loc)
{
	return (int)(loc & 0xff) - 1;
}

/* The record count a checkpoint header claims, before its CRC can be checked
 * (the caller bounds it by the area size and then calls em_ckpt_check). */
uint64_t em_ckpt_peek_count(const uint8_t *page);

#endif
