#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "block/chunk/alloc.h"
#include "block/chunk/layout.h"

int em_alloc_init(struct em_alloc *a, uint32_t nseg)
{
	memset(a, 0, sizeof(*a));
	a->segs = calloc(nseg, sizeof(*a->segs));
	if (!a->segs)
		return -ENOMEM;
	for (uint32_t i = 0; i < nseg; i++)
		a->segs[i].cls = -1;
	a->nseg = a->free_segs = nseg;
	return 0;
}

void em_alloc_destroy(struct em_alloc *a)
{
	free(a->segs);
	a->segs = NULL;
}

unsigned em_alloc_class_for(uint32_t len)
{
	unsigned c = 0;
	while (c + 1 < EM_CHUNK_CLASSES && em_alloc_slot_size(c) < len)
		c++;
	return c;
}

static int take_bit(struct em_alloc_seg *s, uint32_t nslots)
{
	for (uint32_t w = 0; w < (nslots + 63) / 64; w++) {
		uint64_t freebits = ~s->bits[w];
		if (nslots - w * 64 < 64)
			freebits &= (1ull << (nslots - w * 64)) - 1;
		if (freebits) {
			int b = __builtin_ctzll(freebits);
			s->bits[w] |= 1ull << b;
			return (int)(w * 64 + (uint32_t)b);
		}
	}
	return -1;
}

static void assign(struct em_alloc *a, uint32_t seg, unsigned cls)
{
	a->segs[seg].cls = (int8_t)cls;
	a->free_segs--;
	a->class_segs[cls]++;
}

static int get_in_class(struct em_alloc *a, unsigned cls, uint64_t *loc)
{
	uint32_t nslots = em_alloc_seg_slots(cls);
	uint32_t seg = a->nseg;
	/* The hint usually points at a segment with room; otherwise scan
	 * for one of this class, then take a free segment. */
	uint32_t h = a->hint[cls];
	if (h < a->nseg && a->segs[h].cls == (int)cls && a->segs[h].used < nslots)
		seg = h;
	for (uint32_t i = 0; seg == a->nseg && i < a->nseg; i++)
		if (a->segs[i].cls == (int)cls && a->segs[i].used < nslots)
			seg = i;
	for (uint32_t i = 0; seg == a->nseg && i < a->nseg; i++) {
		if (a->segs[i].cls < 0) {
			assign(a, i, cls);
			seg = i;
		}
	}
	if (seg == a->nseg)
		return -ENOSPC;
	struct em_alloc_seg *s = &a->segs[seg];
	int slot = take_bit(s, nslots);
	s->used++;
	a->class_used[cls]++;
	a->hint[cls] = seg;
	*loc = em_loc_make((uint64_t)seg * EM_SEGMENT_SIZE + (uint64_t)slot * em_alloc_slot_size(cls),
			   cls);
	return 0;
}

int em_alloc_get(struct em_alloc *a, unsigned cls, uint64_t *loc)
{
	int rc = get_in_class(a, cls, loc);
	/* No room in the class and no free segment: a slot of a bigger class
	 * is better than a false ENOSPC while segments handed to other classes
	 * sit mostly empty (on a small device each class holds a 64 MiB
	 * segment of its own). The chunk only wastes the rest of its slot. */
	for (unsigned c = cls + 1; rc == -ENOSPC && c < EM_CHUNK_CLASSES; c++)
		if (a->class_segs[c])
			rc = get_in_class(a, c, loc);
	return rc;
}

static int locate(const struct em_alloc *a, uint64_t loc, uint32_t *seg, uint32_t *slot)
{
	int cls = em_loc_class(loc);
	if (cls < 0 || cls >= EM_CHUNK_CLASSES)
		return -EUCLEAN;
	uint64_t off = em_loc_off(loc);
	*seg = (uint32_t)(off / EM_SEGMENT_SIZE);
	uint64_t in = off % EM_SEGMENT_SIZE;
	if (off / EM_SEGMENT_SIZE >= a->nseg || in % em_alloc_slot_size((unsigned)cls))
		return -EUCLEAN;
	*slot = (uint32_t)(in / em_alloc_slot_size((unsigned)cls));
	return cls;
}

int em_alloc_mark(struct em_alloc *a, uint64_t loc)
{
	uint32_t seg, slot;
	int cls = locate(a, loc, &seg, &slot);
	if (cls < 0)
		return cls;
	struct em_alloc_seg *s = &a->segs[seg];
	if (s->cls < 0)
		assign(a, seg, (unsigned)cls);
	else if (s->cls != cls)
		return -EUCLEAN;
	if (s->bits[slot / 64] & (1ull << (slot % 64)))
		return -EUCLEAN;
	s->bits[slot / 64] |= 1ull << (slot % 64);
	s->used++;
	a->class_used[cls]++;
	return 0;
}

void em_alloc_put(struct em_alloc *a, uint64_t loc)
{
	uint32_t seg, slot;
	int cls = locate(a, loc, &seg, &slot);
	if (cls < 0)
		return;
	struct em_alloc_seg *s = &a->segs[seg];
	if (s->cls != cls || !(s->bits[slot / 64] & (1ull << (slot % 64))))
		return;
	s->bits[slot / 64] &= ~(1ull << (slot % 64));
	s->used--;
	a->class_used[cls]--;
	if (s->used == 0) {
		s->cls = -1;
		a->free_segs++;
		a->class_segs[cls]--;
	}
}
