/* Per-block checksums of the data area (format version 2).
 *
 * Every 4 KiB block of the data area has a CRC32C entry in the checksum
 * table, a device area of 64 KiB per 64 MiB data segment (0.1% of the data).
 * An entry counts only for a full block of a chunk version that a durable
 * record names; the partial last block's CRC lives in the chunk's metadata
 * (tail_crc), because an in-place append rewrites that block while the
 * committed version is still being read.
 *
 * Table pages are cached, bounded, least recently used clean pages evicted
 * first. Writers set entries in the cache and the log writes every dirty page
 * before the flush that precedes a batch's records, so an entry is durable
 * before any record relying on it, and with one batch in flight a page never
 * has two writes in flight. A torn page write is harmless: entries it did not
 * change read the same from old and new sectors alike.
 *
 * Everything here runs on the engine's reactor thread.
 */
#ifndef EMBER_BLOCK_CHUNK_CSUM_H
#define EMBER_BLOCK_CHUNK_CSUM_H

#include <stdbool.h>
#include <stdint.h>

#include "block/chunk/engine.h"

struct em_engine;
struct em_csum_page;
struct em_csum_req;

#define EM_CSUM_BLOCK 4096u
#define EM_CSUM_PER_PAGE 1024u /* entries per table page: 4 MiB of data */
/* Table bytes per 64 MiB data segment. */
#define EM_CSUM_SEG_BYTES (64u * 1024u)
/* Pages one request may pin: two slots of the largest class (a copy on write
 * reads one and writes the other). */
#define EM_CSUM_REQ_PAGES 32u
/* Default cache: 64 MiB of table pages, checksums of 64 GiB of data. */
#define EM_CSUM_CACHE_DEFAULT 16384u

typedef void (*em_csum_cb)(void *arg, int status);

struct em_csum_wait {
	struct em_csum_req *req;
	struct em_csum_wait *next;
};

/* The table pages one operation uses, pinned from em_csum_add to
 * em_csum_put. Embedded in the operation; zero it before the first add. */
struct em_csum_req {
	uint32_t n, waiting;
	int status;
	em_csum_cb cb;
	void *arg;
	uint32_t hint; /* index of the page the last lookup found */
	struct em_csum_page *pg[EM_CSUM_REQ_PAGES];
	struct em_csum_wait w[EM_CSUM_REQ_PAGES];
};

struct em_csum_cache {
	struct em_csum_page **hash;
	uint32_t nbuckets;
	uint32_t count, cap;
	uint64_t table_pages;
	struct em_csum_page *lru_head, *lru_tail; /* clean and unpinned */
	struct em_csum_page *dirty;
	/* the batch's page writes */
	uint32_t writing;
	int write_status;
	em_csum_cb write_cb;
	void *write_arg;
};

int em_csum_init(struct em_engine *e, uint32_t cap_pages);
void em_csum_destroy(struct em_engine *e);

/* Pin the pages holding the entries of data-area bytes [off, off + len).
 * fresh: the caller owns every entry on pages not cached (a new slot that
 * fills whole pages), so they start zeroed instead of being read. */
int em_csum_add(struct em_engine *e, struct em_csum_req *req, uint64_t off, uint64_t len,
		bool fresh);
/* 1: every page is loaded; 0: cb(arg, status) runs once they are;
 * negative: a load already failed. */
int em_csum_ready(struct em_csum_req *req, em_csum_cb cb, void *arg);
/* The entry of the block at data-area offset off (pinned by req). */
uint32_t em_csum_get(const struct em_csum_req *req, uint64_t off);
void em_csum_set(struct em_engine *e, struct em_csum_req *req, uint64_t off, uint32_t crc);
void em_csum_put(struct em_engine *e, struct em_csum_req *req);

/* Write every dirty page; 1: none was dirty, 0: cb(arg, status) runs once
 * all writes completed, negative: nothing was started. */
int em_csum_write_dirty(struct em_engine *e, em_csum_cb cb, void *arg);

#endif
