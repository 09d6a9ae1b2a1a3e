/* The in-memory chunk table: a skip list ordered by chunk id, so lookups are
 * O(log n) and listing in id order can resume after any id (paging). */
#ifndef EMBER_BLOCK_CHUNK_INDEX_H
#define EMBER_BLOCK_CHUNK_INDEX_H

#include <stdbool.h>
#include <stdint.h>

#include "block/chunk/engine.h"

#define EM_INDEX_MAX_LEVEL 24

struct em_chunk_op;

struct em_chunk_entry {
	struct em_chunk_meta meta;
	bool live;                       /* a durable record says it exists */
	struct em_chunk_op *q_head, *q_tail; /* mutations; the head one runs */
	uint8_t level;
	struct em_chunk_entry *next[];
};

struct em_index {
	struct em_chunk_entry *head; /* sentinel with EM_INDEX_MAX_LEVEL links */
	unsigned level;
	uint64_t count;
	uint64_t rng;
};

int em_index_init(struct em_index *x);
void em_index_destroy(struct em_index *x);
struct em_chunk_entry *em_index_find(const struct em_index *x, const struct em_chunk_id *id);
/* The entry for id, created (not live, meta zero but id) if missing; NULL
 * when out of memory. */
struct em_chunk_entry *em_index_get(struct em_index *x, const struct em_chunk_id *id);
void em_index_remove(struct em_index *x, struct em_chunk_entry *e);
/* First entry with id > *after (after NULL: the first entry), or NULL. */
struct em_chunk_entry *em_index_after(const struct em_index *x, const struct em_chunk_id *after);
static inline struct em_chunk_entry *em_index_next(const struct em_chunk_entry *e)
{
	return e->next[0];
}

#endif
