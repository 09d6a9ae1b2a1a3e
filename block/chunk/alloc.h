/* Slot allocator of the data area.
 *
 * Eleven size classes, 64 KiB to 64 MiB in powers of two, as in 3FS. On a
 * raw device there is no file per class to grow, so the data area is cut
 * into 64 MiB segments that are handed to a class on demand: a segment of
 * class c has 1024 >> c slots, tracked by a bitmap in groups of 256 slots
 * (one 256-bit group for classes up to 256 KiB, a partial group above). A
 * segment whose last slot is freed returns to the common pool, so space
 * moves between classes as the chunk mix changes.
 *
 * Nothing here is persisted: the allocator is rebuilt at open from the
 * locations chunk metadata references, which is also how slots written by
 * an operation that never reached the log are reclaimed.
 */
#ifndef EMBER_BLOCK_CHUNK_ALLOC_H
#define EMBER_BLOCK_CHUNK_ALLOC_H

#include <stdint.h>

#include "block/chunk/engine.h"

#define EM_SEG_MAX_SLOTS 1024u

struct em_alloc_seg {
	int8_t cls;      /* -1: free */
	uint16_t used;
	uint64_t bits[EM_SEG_MAX_SLOTS / 64];
};

struct em_alloc {
	uint32_t nseg;
	uint32_t free_segs;
	struct em_alloc_seg *segs;
	uint32_t hint[EM_CHUNK_CLASSES]; /* segment to try first */
	uint32_t class_segs[EM_CHUNK_CLASSES];
	uint64_t class_used[EM_CHUNK_CLASSES];
};

int em_alloc_init(struct em_alloc *a, uint32_t nseg);
void em_alloc_destroy(struct em_alloc *a);

/* Smallest class holding len bytes (len <= 64 MiB). */
unsigned em_alloc_class_for(uint32_t len);
static inline uint32_t em_alloc_slot_size(unsigned cls)
{
	return 65536u << cls;
}
static inline uint32_t em_alloc_seg_slots(unsigned cls)
{
	return EM_SEG_MAX_SLOTS >> cls;
}

/* A free slot of class cls (or, when that class is full and no segment is
 * free, of the smallest bigger class with room): *loc gets its location,
 * which names the slot's class. -ENOSPC when nothing fits. */
int em_alloc_get(struct em_alloc *a, unsigned cls, uint64_t *loc);
/* Claim the slot at loc (rebuilding at open). -EUCLEAN if it lies outside
 * the data area, in a segment of another class, or is already claimed. */
int em_alloc_mark(struct em_alloc *a, uint64_t loc);
void em_alloc_put(struct em_alloc *a, uint64_t loc);

#endif
