/* The checksum table's page cache: loads, pins, eviction and the batch's
 * page writes. See csum.h for the format and the ordering rules. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "block/chunk/csum.h"
#include "block/chunk/eio.h"
#include "block/chunk/internal.h"
#include "include/ember/errors.h"
#include "net/core/log.h"
#include "net/serde.h"

struct em_csum_page {
	uint64_t pno;
	uint8_t *data;                /* EM_PAGE bytes, entries little-endian */
	struct em_csum_page *hnext;
	struct em_csum_page *prev, *next; /* LRU, while evictable */
	struct em_csum_page *dnext;       /* dirty list */
	struct em_csum_wait *waiters;
	uint32_t pins;
	struct em_csum_cache *cache;
	bool loading, dirty, writing, on_lru, gone;
	int load_status;
};

static uint32_t bucket(const struct em_csum_cache *c, uint64_t pno)
{
	return (uint32_t)((pno * 0x9e3779b97f4a7c15ull) >> 32) & (c->nbuckets - 1);
}

int em_csum_init(struct em_engine *e, uint32_t cap_pages)
{
	struct em_csum_cache *c = &e->csum;
	memset(c, 0, sizeof(*c));
	c->table_pages = (uint64_t)e->sb.data_segments * EM_CSUM_SEG_BYTES / EM_PAGE;
	c->cap = cap_pages ? cap_pages : EM_CSUM_CACHE_DEFAULT;
	if (c->cap > c->table_pages)
		c->cap = (uint32_t)c->table_pages;
	c->nbuckets = 64;
	while (c->nbuckets < c->cap * 2u && c->nbuckets < (1u << 24))
		c->nbuckets <<= 1;
	c->hash = calloc(c->nbuckets, sizeof(*c->hash));
	return c->hash ? 0 : -ENOMEM;
}

static void page_free(struct em_csum_page *p)
{
	free(p->data);
	free(p);
}

void em_csum_destroy(struct em_engine *e)
{
	struct em_csum_cache *c = &e->csum;
	for (uint32_t b = 0; c->hash && b < c->nbuckets; b++) {
		struct em_csum_page *p = c->hash[b];
		while (p) {
			struct em_csum_page *next = p->hnext;
			page_free(p);
			p = next;
		}
	}
	free(c->hash);
	memset(c, 0, sizeof(*c));
}

static void unhash(struct em_csum_cache *c, struct em_csum_page *p)
{
	struct em_csum_page **pp = &c->hash[bucket(c, p->pno)];
	while (*pp != p)
		pp = &(*pp)->hnext;
	*pp = p->hnext;
	c->count--;
	p->gone = true;
}

static void lru_unlink(struct em_csum_cache *c, struct em_csum_page *p)
{
	if (!p->on_lru)
		return;
	if (p->prev)
		p->prev->next = p->next;
	else
		c->lru_head = p->next;
	if (p->next)
		p->next->prev = p->prev;
	else
		c->lru_tail = p->prev;
	p->prev = p->next = NULL;
	p->on_lru = false;
}

/* After any change of state: evictable pages sit on the LRU list, and the
 * cache gives back its oldest ones while it holds more than its cap. */
static void settle(struct em_csum_cache *c, struct em_csum_page *p)
{
	bool evictable = !p->pins && !p->loading && !p->dirty && !p->writing;
	if (evictable && !p->on_lru) {
		p->prev = c->lru_tail;
		p->next = NULL;
		if (c->lru_tail)
			c->lru_tail->next = p;
		else
			c->lru_head = p;
		c->lru_tail = p;
		p->on_lru = true;
	} else if (!evictable) {
		lru_unlink(c, p);
	}
	while (c->count > c->cap && c->lru_head) {
		struct em_csum_page *old = c->lru_head;
		lru_unlink(c, old);
		unhash(c, old);
		page_free(old);
	}
}

static void load_done(void *arg, int status)
{
	struct em_csum_page *p = arg;
	p->loading = false;
	p->load_status = status;
	struct em_csum_wait *w = p->waiters;
	p->waiters = NULL;
	if (status < 0)
		EM_ERR("chunk", "checksum table page %llu: read failed: %s",
		       (unsigned long long)p->pno, em_strerror(status));
	while (w) {
		struct em_csum_wait *next = w->next;
		struct em_csum_req *req = w->req;
		if (status < 0 && !req->status)
			req->status = status;
		if (--req->waiting == 0 && req->cb)
			req->cb(req->arg, req->status);
		w = next;
	}
}

static struct em_csum_page *lookup(struct em_csum_cache *c, uint64_t pno)
{
	for (struct em_csum_page *p = c->hash[bucket(c, pno)]; p; p = p->hnext)
		if (p->pno == pno)
			return p;
	return NULL;
}

static int page_get(struct em_engine *e, uint64_t pno, bool fresh, struct em_csum_page **out)
{
	struct em_csum_cache *c = &e->csum;
	struct em_csum_page *p = lookup(c, pno);
	if (p && p->load_status < 0) {
		/* A failed load is retried by the next user, not kept. */
		unhash(c, p);
		lru_unlink(c, p);
		if (!p->pins)
			page_free(p);
		p = NULL;
	}
	if (p) {
		*out = p;
		return 0;
	}
	p = calloc(1, sizeof(*p));
	if (p)
		p->data = em_bdev_alloc_buf(e->dev, EM_PAGE);
	if (!p || !p->data) {
		free(p);
		return -ENOMEM;
	}
	p->pno = pno;
	p->cache = c;
	uint32_t b = bucket(c, pno);
	p->hnext = c->hash[b];
	c->hash[b] = p;
	c->count++;
	if (fresh) {
		memset(p->data, 0, EM_PAGE);
	} else {
		p->loading = true;
		int rc = em_eio(e->dev, EM_BDEV_READ, 0, e->sb.csum_off + pno * EM_PAGE, EM_PAGE,
				p->data, load_done, p);
		if (rc < 0) {
			unhash(c, p);
			page_free(p);
			return rc;
		}
	}
	*out = p;
	return 0;
}

int em_csum_add(struct em_engine *e, struct em_csum_req *req, uint64_t off, uint64_t len,
		bool fresh)
{
	struct em_csum_cache *c = &e->csum;
	if (!len)
		return 0;
	uint64_t first = off / EM_CSUM_BLOCK / EM_CSUM_PER_PAGE;
	uint64_t last = (off + len - 1) / EM_CSUM_BLOCK / EM_CSUM_PER_PAGE;
	if (last >= c->table_pages)
		return -EINVAL;
	for (uint64_t pno = first; pno <= last; pno++) {
		bool have = false;
		for (uint32_t i = 0; i < req->n && !have; i++)
			have = req->pg[i]->pno == pno;
		if (have)
			continue;
		if (req->n == EM_CSUM_REQ_PAGES)
			return -EINVAL;
		struct em_csum_page *p;
		int rc = page_get(e, pno, fresh, &p);
		if (rc < 0)
			return rc;
		p->pins++;
		settle(c, p);
		if (p->loading) {
			struct em_csum_wait *w = &req->w[req->n];
			w->req = req;
			w->next = p->waiters;
			p->waiters = w;
			req->waiting++;
		} else if (p->load_status < 0 && !req->status) {
			req->status = p->load_status;
		}
		req->pg[req->n++] = p;
	}
	return 0;
}

int em_csum_ready(struct em_csum_req *req, em_csum_cb cb, void *arg)
{
	if (req->waiting) {
		req->cb = cb;
		req->arg = arg;
		return 0;
	}
	return req->status < 0 ? req->status : 1;
}

static struct em_csum_page *req_page(const struct em_csum_req *req, uint64_t off)
{
	uint64_t pno = off / EM_CSUM_BLOCK / EM_CSUM_PER_PAGE;
	struct em_csum_req *r = (struct em_csum_req *)req;
	if (r->hint < r->n && r->pg[r->hint]->pno == pno)
		return r->pg[r->hint];
	for (uint32_t i = 0; i < r->n; i++)
		if (r->pg[i]->pno == pno) {
			r->hint = i;
			return r->pg[i];
		}
	return NULL;
}

static uint32_t entry_index(uint64_t off)
{
	return (uint32_t)(off / EM_CSUM_BLOCK % EM_CSUM_PER_PAGE);
}

uint32_t em_csum_get(const struct em_csum_req *req, uint64_t off)
{
	const struct em_csum_page *p = req_page(req, off);
	/* An unpinned entry would be a bug in the caller; a value that
	 * matches no CRC makes it a reported mismatch, never wrong data. */
	return p ? em_get_le32(p->data + 4 * entry_index(off)) : 0;
}

void em_csum_set(struct em_engine *e, struct em_csum_req *req, uint64_t off, uint32_t crc)
{
	struct em_csum_page *p = req_page(req, off);
	if (!p)
		return;
	em_put_le32(p->data + 4 * entry_index(off), crc);
	if (!p->dirty) {
		p->dirty = true;
		p->dnext = e->csum.dirty;
		e->csum.dirty = p;
	}
}

void em_csum_put(struct em_engine *e, struct em_csum_req *req)
{
	struct em_csum_cache *c = &e->csum;
	for (uint32_t i = 0; i < req->n; i++) {
		struct em_csum_page *p = req->pg[i];
		/* A request given up while a page loads stops waiting for it. */
		for (struct em_csum_wait **w = &p->waiters; *w; w = &(*w)->next)
			if (*w == &req->w[i]) {
				*w = req->w[i].next;
				break;
			}
		p->pins--;
		if (p->gone) {
			if (!p->pins)
				page_free(p);
			continue;
		}
		settle(c, p);
	}
	req->n = 0;
	req->waiting = 0;
	req->hint = 0;
}

static void page_written(void *arg, int status)
{
	struct em_csum_page *p = arg;
	struct em_csum_cache *c = p->cache;
	p->writing = false;
	if (status < 0) {
		EM_ERR("chunk", "checksum table page %llu: write failed: %s",
		       (unsigned long long)p->pno, em_strerror(status));
		if (!c->write_status)
			c->write_status = status;
		if (!p->dirty) {
			p->dirty = true;
			p->dnext = c->dirty;
			c->dirty = p;
		}
	}
	settle(c, p);
	if (--c->writing == 0)
		c->write_cb(c->write_arg, c->write_status);
}

int em_csum_write_dirty(struct em_engine *e, em_csum_cb cb, void *arg)
{
	struct em_csum_cache *c = &e->csum;
	if (!c->dirty)
		return 1;
	c->write_cb = cb;
	c->write_arg = arg;
	c->write_status = 0;
	/* Count every write before the first can complete. */
	c->writing = 1;
	struct em_csum_page *p = c->dirty;
	c->dirty = NULL;
	int rc = 0;
	while (p) {
		struct em_csum_page *next = p->dnext;
		p->dnext = NULL;
		p->dirty = false;
		p->writing = true;
		c->writing++;
		/* Entries set while the write runs leave the page dirty again
		 * for the next batch: they belong to records not yet logged. */
		int r = em_eio(e->dev, EM_BDEV_WRITE, 0, e->sb.csum_off + p->pno * EM_PAGE, EM_PAGE,
			       p->data, page_written, p);
		if (r < 0) {
			page_written(p, r); /* never the last: the extra count holds */
			rc = rc ? rc : r;
		}
		p = next;
	}
	if (--c->writing == 0) {
		/* Nothing was in flight: every submission failed. */
		return rc ? rc : c->write_status;
	}
	return 0;
}
