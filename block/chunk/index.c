#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "block/chunk/index.h"

static int cmp(const struct em_chunk_id *a, const struct em_chunk_id *b)
{
	return memcmp(a->b, b->b, sizeof(a->b));
}

static struct em_chunk_entry *entry_new(unsigned level)
{
	struct em_chunk_entry *e =
		calloc(1, sizeof(*e) + level * sizeof(struct em_chunk_entry *));
	if (e)
		e->level = (uint8_t)level;
	return e;
}

int em_index_init(struct em_index *x)
{
	memset(x, 0, sizeof(*x));
	x->head = entry_new(EM_INDEX_MAX_LEVEL);
	if (!x->head)
		return -ENOMEM;
	x->level = 1;
	x->rng = 0x9e3779b97f4a7c15ull;
	return 0;
}

void em_index_destroy(struct em_index *x)
{
	if (!x->head)
		return;
	struct em_chunk_entry *e = x->head->next[0];
	while (e) {
		struct em_chunk_entry *n = e->next[0];
		free(e);
		e = n;
	}
	free(x->head);
	x->head = NULL;
}

/* Fills prev[i] with the last node at level i whose id < *id. */
static struct em_chunk_entry *descend(const struct em_index *x, const struct em_chunk_id *id,
				      struct em_chunk_entry **prev)
{
	struct em_chunk_entry *p = x->head;
	for (int i = (int)x->level - 1; i >= 0; i--) {
		while (p->next[i] && cmp(&p->next[i]->meta.id, id) < 0)
			p = p->next[i];
		if (prev)
			prev[i] = p;
	}
	return p->next[0];
}

struct em_chunk_entry *em_index_find(const struct em_index *x, const struct em_chunk_id *id)
{
	struct em_chunk_entry *e = descend(x, id, NULL);
	return e && cmp(&e->meta.id, id) == 0 ? e : NULL;
}

static unsigned random_level(struct em_index *x)
{
	/* xorshift64; each level with probability 1/4 keeps the list short. */
	x->rng ^= x->rng << 13;
	x->rng ^= x->rng >> 7;
	x->rng ^= x->rng << 17;
	uint64_t r = x->rng;
	unsigned lvl = 1;
	while (lvl < EM_INDEX_MAX_LEVEL && (r & 3) == 0) {
		lvl++;
		r >>= 2;
	}
	return lvl;
}

struct em_chunk_entry *em_index_get(struct em_index *x, const struct em_chunk_id *id)
{
	struct em_chunk_entry *prev[EM_INDEX_MAX_LEVEL];
	struct em_chunk_entry *e = descend(x, id, prev);
	if (e && cmp(&e->meta.id, id) == 0)
		return e;
	unsigned lvl = random_level(x);
	e = entry_new(lvl);
	if (!e)
		return NULL;
	e->meta.id = *id;
	for (unsigned i = x->level; i < lvl; i++)
		prev[i] = x->head;
	if (lvl > x->level)
		x->level = lvl;
	for (unsigned i = 0; i < lvl; i++) {
		e->next[i] = prev[i]->next[i];
		prev[i]->next[i] = e;
	}
	x->count++;
	return e;
}

void em_index_remove(struct em_index *x, struct em_chunk_entry *e)
{
	struct em_chunk_entry *prev[EM_INDEX_MAX_LEVEL];
	descend(x, &e->meta.id, prev);
	for (unsigned i = 0; i < e->level; i++)
		if (prev[i]->next[i] == e)
			prev[i]->next[i] = e->next[i];
	while (x->level > 1 && !x->head->next[x->level - 1])
		x->level--;
	x->count--;
	free(e);
}

struct em_chunk_entry *em_index_after(const struct em_index *x, const struct em_chunk_id *after)
{
	if (!after)
		return x->head->next[0];
	struct em_chunk_entry *e = descend(x, after, NULL);
	if (e && cmp(&e->meta.id, after) == 0)
		e = e->next[0];
	return e;
}
