/* Routing record layout (see record.h). */
#include <errno.h>
#include <string.h>

#include "fs/mgmt/record.h"

void em_mwr_raw(struct em_mwr *w, const void *src, size_t n)
{
	if (w->overflow)
		return;
	if (w->p) {
		if (n > w->cap - w->len) {
			w->overflow = true;
			return;
		}
		memcpy(w->p + w->len, src, n);
	}
	w->len += n;
}

void em_mwr_u8(struct em_mwr *w, uint8_t v)
{
	em_mwr_raw(w, &v, 1);
}

void em_mwr_u16(struct em_mwr *w, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
	em_mwr_raw(w, b, sizeof(b));
}

void em_mwr_u32(struct em_mwr *w, uint32_t v)
{
	uint8_t b[4];
	for (int i = 0; i < 4; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	em_mwr_raw(w, b, sizeof(b));
}

void em_mwr_u64(struct em_mwr *w, uint64_t v)
{
	em_mwr_u32(w, (uint32_t)v);
	em_mwr_u32(w, (uint32_t)(v >> 32));
}

void em_mwr_patch_u16(struct em_mwr *w, size_t off, uint16_t v)
{
	if (w->p && !w->overflow && off + 2 <= w->len) {
		w->p[off] = (uint8_t)v;
		w->p[off + 1] = (uint8_t)(v >> 8);
	}
}

const uint8_t *em_mrd_take(struct em_mrd *r, size_t n)
{
	if (r->bad || n > r->len - r->off) {
		r->bad = true;
		return NULL;
	}
	const uint8_t *p = r->p + r->off;
	r->off += n;
	return p;
}

uint8_t em_mrd_u8(struct em_mrd *r)
{
	const uint8_t *p = em_mrd_take(r, 1);
	return p ? p[0] : 0;
}

uint16_t em_mrd_u16(struct em_mrd *r)
{
	const uint8_t *p = em_mrd_take(r, 2);
	return p ? (uint16_t)(p[0] | p[1] << 8) : 0;
}

uint32_t em_mrd_u32(struct em_mrd *r)
{
	const uint8_t *p = em_mrd_take(r, 4);
	if (!p)
		return 0;
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

uint64_t em_mrd_u64(struct em_mrd *r)
{
	uint64_t lo = em_mrd_u32(r);
	return lo | (uint64_t)em_mrd_u32(r) << 32;
}

void em_rec_put_node(struct em_mwr *w, const struct em_node *n)
{
	size_t len = strnlen(n->addr, EM_NODE_ADDR_MAX - 1);
	em_mwr_u32(w, n->id);
	em_mwr_u16(w, (uint16_t)len);
	em_mwr_raw(w, n->addr, len);
}

void em_rec_put_target(struct em_mwr *w, const struct em_target *t)
{
	em_mwr_u32(w, t->id);
	em_mwr_u32(w, t->node);
	em_mwr_u32(w, t->chain);
}

void em_rec_put_chain(struct em_mwr *w, const struct em_chain *c)
{
	em_mwr_u32(w, c->id);
	em_mwr_u64(w, c->version);
	em_mwr_u8(w, (uint8_t)c->n);
	for (unsigned i = 0; i < c->n; i++) {
		em_mwr_u32(w, c->m[i].target);
		em_mwr_u8(w, c->m[i].state);
	}
}

int em_rec_get_node(struct em_mrd *r, struct em_node *n)
{
	memset(n, 0, sizeof(*n));
	n->id = em_mrd_u32(r);
	uint16_t len = em_mrd_u16(r);
	const uint8_t *addr = em_mrd_take(r, len);
	if (r->bad || n->id == 0 || len == 0 || len >= EM_NODE_ADDR_MAX ||
	    memchr(addr, '\0', len))
		return -EBADMSG;
	memcpy(n->addr, addr, len);
	return 0;
}

int em_rec_get_target(struct em_mrd *r, struct em_target *t)
{
	memset(t, 0, sizeof(*t));
	t->id = em_mrd_u32(r);
	t->node = em_mrd_u32(r);
	t->chain = em_mrd_u32(r);
	t->local = EM_LOCAL_OFFLINE;
	return r->bad || t->id == 0 || t->node == 0 ? -EBADMSG : 0;
}

int em_rec_get_chain(struct em_mrd *r, struct em_chain *c)
{
	memset(c, 0, sizeof(*c));
	c->id = em_mrd_u32(r);
	c->version = em_mrd_u64(r);
	c->n = em_mrd_u8(r);
	if (r->bad || c->id == 0 || c->n < 1 || c->n > EM_CHAIN_MAX)
		return -EBADMSG;
	for (unsigned i = 0; i < c->n; i++) {
		c->m[i].target = em_mrd_u32(r);
		c->m[i].state = em_mrd_u8(r);
	}
	return r->bad || em_chain_check(c) < 0 ? -EBADMSG : 0;
}
